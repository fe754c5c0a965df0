// Recovery phrase: 32-byte seed + 2-byte checksum as 17 proquint words.
// Format: client/include/client/mnemonic.h and docs/protocol/envelope.md.
#include "client/mnemonic.h"

#include <sodium.h>

#include <cstring>

namespace onionswarm::client {
namespace {

constexpr std::string_view kChecksumDomain = "onionswarm/phrase/v1";
constexpr std::string_view kConsonants = "bdfghjklmnprstvz";
constexpr std::string_view kVowels = "aiou";
constexpr size_t kChecksumSize = 2;
constexpr size_t kEncodedSize = crypto::kSeedSize + kChecksumSize;  // 34 = 17 * 2
constexpr size_t kWordLetters = 5;
static_assert(kEncodedSize == 2 * kPhraseWords);

// First two bytes of BLAKE2b-256(domain || seed).
std::array<uint8_t, kChecksumSize> checksum(ByteView seed) {
  crypto::SecretBytes input(kChecksumDomain.size() + seed.size());
  std::memcpy(input.data(), kChecksumDomain.data(), kChecksumDomain.size());
  std::memcpy(input.data() + kChecksumDomain.size(), seed.data(), seed.size());
  Bytes digest = crypto::blake2b(input.view(), crypto::kHashSize);
  std::array<uint8_t, kChecksumSize> out{digest[0], digest[1]};
  sodium_memzero(digest.data(), digest.size());
  return out;
}

// 16 bits -> consonant(4 bits) vowel(2) consonant(4) vowel(2) consonant(4),
// most significant bits first.
void append_word(std::string& out, uint16_t v) {
  out.push_back(kConsonants[(v >> 12) & 0xF]);
  out.push_back(kVowels[(v >> 10) & 0x3]);
  out.push_back(kConsonants[(v >> 6) & 0xF]);
  out.push_back(kVowels[(v >> 4) & 0x3]);
  out.push_back(kConsonants[v & 0xF]);
}

int index_of(std::string_view alphabet, char c) {
  if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  const size_t i = alphabet.find(c);
  return i == std::string_view::npos ? -1 : int(i);
}

// False when word is not a 5-letter proquint.
bool parse_word(std::string_view word, uint16_t& out) {
  if (word.size() != kWordLetters) return false;
  const int c0 = index_of(kConsonants, word[0]);
  const int v0 = index_of(kVowels, word[1]);
  const int c1 = index_of(kConsonants, word[2]);
  const int v1 = index_of(kVowels, word[3]);
  const int c2 = index_of(kConsonants, word[4]);
  if (c0 < 0 || v0 < 0 || c1 < 0 || v1 < 0 || c2 < 0) return false;
  out = uint16_t((c0 << 12) | (v0 << 10) | (c1 << 6) | (v1 << 4) | c2);
  return true;
}

bool is_separator(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '-';
}

}  // namespace

std::string seed_to_phrase(ByteView seed32) {
  if (seed32.size() != crypto::kSeedSize) return {};
  crypto::SecretBytes encoded(kEncodedSize);
  std::memcpy(encoded.data(), seed32.data(), crypto::kSeedSize);
  const auto sum = checksum(seed32);
  std::memcpy(encoded.data() + crypto::kSeedSize, sum.data(), kChecksumSize);

  std::string phrase;
  phrase.reserve(kPhraseWords * (kWordLetters + 1));
  for (size_t i = 0; i < kPhraseWords; ++i) {
    if (i != 0) phrase.push_back(' ');
    append_word(phrase, get_u16(encoded.data() + 2 * i));
  }
  return phrase;
}

Result<crypto::SecretBytes> phrase_to_seed(std::string_view phrase) {
  // Word boundaries first, so the count is reported before any word check.
  std::array<std::string_view, kPhraseWords> words;
  size_t count = 0;
  size_t i = 0;
  while (i < phrase.size()) {
    while (i < phrase.size() && is_separator(phrase[i])) ++i;
    if (i == phrase.size()) break;
    const size_t start = i;
    while (i < phrase.size() && !is_separator(phrase[i])) ++i;
    if (count < kPhraseWords) words[count] = phrase.substr(start, i - start);
    ++count;
  }
  if (count != kPhraseWords) {
    return error(Code::kInvalidArgument, "recovery phrase has " + std::to_string(count) +
                                             " words; expected " + std::to_string(kPhraseWords));
  }

  crypto::SecretBytes encoded(kEncodedSize);
  for (size_t w = 0; w < kPhraseWords; ++w) {
    uint16_t v = 0;
    // The message names the position only: the word itself is part of the secret.
    if (!parse_word(words[w], v)) {
      return error(Code::kInvalidArgument,
                   "recovery phrase word " + std::to_string(w + 1) +
                       " is not a valid word (5 letters: consonant, vowel, consonant, vowel, "
                       "consonant)");
    }
    encoded.data()[2 * w] = uint8_t(v >> 8);
    encoded.data()[2 * w + 1] = uint8_t(v);
  }

  crypto::SecretBytes seed(encoded.view().first(crypto::kSeedSize));
  const auto expected = checksum(seed.view());
  if (!crypto::equal_ct(expected, encoded.view().subspan(crypto::kSeedSize))) {
    return error(Code::kInvalidArgument,
                 "recovery phrase checksum does not match: a word is wrong or out of order");
  }
  return seed;
}

}  // namespace onionswarm::client
