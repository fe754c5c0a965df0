#include "onion/encoding.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>

#include "onion/crypto.h"

namespace onionswarm {
namespace {

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(Hex, EncodesLowerCase) {
  EXPECT_EQ(to_hex(Bytes{}), "");
  EXPECT_EQ(to_hex(Bytes{0x00, 0x01, 0xab, 0xff}), "0001abff");
}

TEST(Hex, DecodesLowerAndUpperCase) {
  auto r = from_hex("0001abFF");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, (Bytes{0x00, 0x01, 0xab, 0xff}));
  auto empty = from_hex("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Hex, RoundTripsEveryByteValue) {
  Bytes all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = uint8_t(i);
  auto r = from_hex(to_hex(all));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, all);
}

TEST(Hex, RejectsOddLength) {
  auto r = from_hex("abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(Hex, RejectsNonHexCharacters) {
  for (const char* s : {"0g", "g0", "  ", "0x12", "12 3", "ab\n", "+1", "zz"}) {
    auto r = from_hex(s);
    EXPECT_FALSE(r.ok()) << s;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    }
  }
  std::string with_nul("ab\0c", 4);
  EXPECT_FALSE(from_hex(with_nul).ok());
}

TEST(Hex, RejectsDecodedSizeAboveMaxLen) {
  EXPECT_TRUE(from_hex("aabb", 2).ok());
  auto r = from_hex("aabbcc", 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  // A huge input is refused by its length alone.
  std::string big(4 << 20, 'a');
  EXPECT_FALSE(from_hex(big).ok());
}

TEST(Base64, EncodesRfc4648TestVectors) {
  EXPECT_EQ(to_base64(bytes_of("")), "");
  EXPECT_EQ(to_base64(bytes_of("f")), "Zg==");
  EXPECT_EQ(to_base64(bytes_of("fo")), "Zm8=");
  EXPECT_EQ(to_base64(bytes_of("foo")), "Zm9v");
  EXPECT_EQ(to_base64(bytes_of("foob")), "Zm9vYg==");
  EXPECT_EQ(to_base64(bytes_of("fooba")), "Zm9vYmE=");
  EXPECT_EQ(to_base64(bytes_of("foobar")), "Zm9vYmFy");
  EXPECT_EQ(to_base64(Bytes{0xfb, 0xff}), "+/8=");
}

TEST(Base64, DecodesRfc4648TestVectors) {
  for (const char* s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto r = from_base64(to_base64(bytes_of(s)));
    ASSERT_TRUE(r.ok()) << s << ": " << r.status().to_string();
    EXPECT_EQ(*r, bytes_of(s));
  }
  auto r = from_base64("+/8=");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (Bytes{0xfb, 0xff}));
}

TEST(Base64, RoundTripsEveryLength) {
  for (size_t n = 0; n < 70; ++n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * 37 + n);
    auto r = from_base64(to_base64(b));
    ASSERT_TRUE(r.ok()) << n;
    EXPECT_EQ(*r, b);
  }
}

// The encoder is table-driven; libsodium's (constant-time) one is the oracle.
TEST(Base64, EncodesAsLibsodiumDoes) {
  for (size_t n = 0; n < 200; ++n) {
    const Bytes b = crypto::random_bytes(n);
    std::string expected(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(expected.data(), expected.size(), b.data(), b.size(), sodium_base64_VARIANT_ORIGINAL);
    expected.resize(expected.size() - 1);  // the terminating NUL
    EXPECT_EQ(to_base64(b), expected) << n;
    std::string appended = "x";
    append_base64(appended, b);
    EXPECT_EQ(appended, "x" + expected) << n;
  }
}

TEST(Base64, RejectsMissingPadding) {
  EXPECT_FALSE(from_base64("Zg").ok());
  EXPECT_FALSE(from_base64("Zm8").ok());
}

TEST(Base64, RejectsUrlSafeAlphabet) {
  EXPECT_FALSE(from_base64("-_8=").ok());
}

TEST(Base64, RejectsWhitespaceAndTrailingGarbage) {
  for (const char* s : {"Zm9v ", " Zm9v", "Zm 9v", "Zm9v\n", "Zm9vYg==Zg==", "Zg==Zg==", "Zg===",
                        "Zm9v!", "Zg=a", "====", "Z===", "Zm9v=", "Zm9vY==="}) {
    auto r = from_base64(s);
    EXPECT_FALSE(r.ok()) << '"' << s << '"';
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    }
  }
}

TEST(Base64, RejectsNonZeroTrailingBits) {
  // "Zh==" decodes to 'f' with non-zero unused bits: not canonical.
  EXPECT_FALSE(from_base64("Zh==").ok());
  EXPECT_FALSE(from_base64("Zm9=").ok());
}

TEST(Base64, RejectsDecodedSizeAboveMaxLen) {
  EXPECT_TRUE(from_base64("Zm9v", 3).ok());
  EXPECT_TRUE(from_base64("Zm8=", 2).ok());
  auto r = from_base64("Zm9vYg==", 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  std::string big(4 << 20, 'A');
  EXPECT_FALSE(from_base64(big).ok());
}

TEST(Base64, AgreesWithLibsodiumsStrictDecoderOnMixedInput) {
  // Strings of 4 or 8 characters drawn from alphabet edges, '=' and
  // characters outside the alphabet: from_base64 must accept exactly what
  // libsodium's decoder accepts whole (no ignored characters) and decode it
  // to the same bytes.
  crypto::init();
  const std::string pool = "AQgwZh9+/=-_ \x80";
  uint32_t state = 12345;
  auto next = [&state] { return state = state * 1664525u + 1013904223u; };
  for (int n = 0; n < 200'000; ++n) {
    std::string s((next() >> 16) % 2 ? 8 : 4, 'A');
    for (char& c : s) c = pool[(next() >> 16) % pool.size()];
    auto mine = from_base64(s);
    Bytes ref(s.size());
    size_t len = 0;
    const char* end = nullptr;
    bool alphabet_ok = true;
    for (unsigned char c : s) alphabet_ok = alphabet_ok && c < 0x80;
    const bool theirs = alphabet_ok &&
                        sodium_base642bin(ref.data(), ref.size(), s.data(), s.size(), nullptr, &len, &end,
                                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
                        end == s.data() + s.size();
    ASSERT_EQ(mine.ok(), theirs) << '"' << s << '"';
    if (theirs) {
      ref.resize(len);
      EXPECT_EQ(*mine, ref) << '"' << s << '"';
    }
  }
}

}  // namespace
}  // namespace onionswarm
