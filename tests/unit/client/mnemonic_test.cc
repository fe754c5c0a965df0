#include "client/mnemonic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

namespace onionswarm::client {
namespace {

class Mnemonic : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypto::init(); }
};

std::vector<std::string> split(const std::string& phrase) {
  std::istringstream in(phrase);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string join(const std::vector<std::string>& words, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) out += (i ? sep : "") + words[i];
  return out;
}

TEST_F(Mnemonic, RoundTripsRandomSeeds) {
  for (int i = 0; i < 500; ++i) {
    const Bytes seed = crypto::random_bytes(32);
    const std::string phrase = seed_to_phrase(seed);
    const auto words = split(phrase);
    ASSERT_EQ(words.size(), kPhraseWords);
    for (const auto& w : words) ASSERT_EQ(w.size(), 5u) << phrase;
    EXPECT_EQ(join(words, " "), phrase);  // single spaces, no leading/trailing
    auto back = phrase_to_seed(phrase);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_TRUE(std::equal(seed.begin(), seed.end(), back->view().begin(), back->view().end()));
  }
}

TEST_F(Mnemonic, EncodesKnownSeed) {
  // Seed 00 01 02 ... 1f: first word is 0x0001 = b a b a d, second 0x0203.
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = uint8_t(i);
  const auto words = split(seed_to_phrase(seed));
  ASSERT_EQ(words.size(), kPhraseWords);
  EXPECT_EQ(words[0], "babad");
  // 0x0203 = 0000 00 1000 00 0011 -> b a m a g
  EXPECT_EQ(words[1], "bamag");
  // Word 16 is bytes 30..31, 0x1e1f = 0001 11 1000 01 1111 -> d u m i z
  EXPECT_EQ(words[15], "dumiz");
}

TEST_F(Mnemonic, WrongSeedSizeGivesEmptyPhrase) {
  EXPECT_EQ(seed_to_phrase(Bytes(31)), "");
  EXPECT_EQ(seed_to_phrase(Bytes(33)), "");
}

TEST_F(Mnemonic, ParsingIsCaseInsensitiveAndToleratesSeparators) {
  const Bytes seed = crypto::random_bytes(32);
  const std::string phrase = seed_to_phrase(seed);
  std::string upper = phrase;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return char(std::toupper(c)); });
  const auto words = split(phrase);
  const std::string dashed = join(words, "-");
  const std::string messy = "  \n" + join(words, " \t - ") + "\n ";
  std::string mixed = phrase;
  for (size_t i = 0; i < mixed.size(); i += 2) {
    mixed[i] = char(std::toupper(static_cast<unsigned char>(mixed[i])));
  }
  for (const std::string& p : {upper, dashed, messy, mixed}) {
    auto back = phrase_to_seed(p);
    ASSERT_TRUE(back.ok()) << p << ": " << back.status().to_string();
    EXPECT_TRUE(std::equal(seed.begin(), seed.end(), back->view().begin(), back->view().end()));
  }
}

Bytes fixed_seed() {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = uint8_t(0xa0 + i);
  return seed;
}

// Fixed seeds below: with a random seed a changed word would match the
// 16-bit checksum once in 65536 runs.
TEST_F(Mnemonic, RejectsBadChecksumWhenOneWordChanged) {
  const Bytes seed = fixed_seed();
  auto words = split(seed_to_phrase(seed));
  // Change the last consonant of word 3 to another valid consonant: still a
  // valid word, so only the checksum can catch it.
  char& c = words[2][4];
  c = (c == 'b') ? 'd' : 'b';
  auto r = phrase_to_seed(join(words, " "));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos) << r.status().message();
}

TEST_F(Mnemonic, RejectsSwappedWords) {
  Bytes seed = fixed_seed();
  seed[0] = 0x00;
  seed[1] = 0x01;
  seed[2] = 0x02;
  seed[3] = 0x03;  // first two words differ
  auto words = split(seed_to_phrase(seed));
  std::swap(words[0], words[1]);
  auto r = phrase_to_seed(join(words, " "));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos);
}

TEST_F(Mnemonic, RejectsWrongWordCount) {
  auto words = split(seed_to_phrase(crypto::random_bytes(32)));
  auto fewer = words;
  fewer.pop_back();
  auto more = words;
  more.push_back("babab");
  for (const auto& [p, n] : {std::pair{join(fewer, " "), 16}, std::pair{join(more, " "), 18},
                             std::pair{std::string(""), 0}, std::pair{std::string(" - "), 0}}) {
    auto r = phrase_to_seed(p);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("has " + std::to_string(n) + " words; expected 17"),
              std::string::npos)
        << r.status().message();
  }
}

TEST_F(Mnemonic, RejectsInvalidWordNamingItsPosition) {
  const auto words = split(seed_to_phrase(crypto::random_bytes(32)));
  const std::vector<std::string> bad = {
      "abab",    // too short
      "bababa",  // too long
      "aabab",   // vowel where a consonant belongs
      "bbbab",   // consonant where a vowel belongs
      "cabab",   // 'c' is not in the consonant set
      "babeb",   // 'e' is not in the vowel set
      "bab4b",   // not a letter
  };
  for (const auto& w : bad) {
    auto changed = words;
    changed[4] = w;
    auto r = phrase_to_seed(join(changed, " "));
    ASSERT_FALSE(r.ok()) << w;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("word 5 is not a valid word"), std::string::npos)
        << r.status().message();
    // The message must not echo the (secret) word.
    EXPECT_EQ(r.status().message().find(w), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace onionswarm::client
