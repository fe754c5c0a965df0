// Inputs the fuzz targets (tests/fuzz/) found to misbehave, kept as unit
// tests so the normal and the sanitizer suites (scripts/sanitize) replay
// them. Each test names the target and what went wrong.
#include <gtest/gtest.h>

#include <string>

#include "onion/encoding.h"

namespace onionswarm {
namespace {

// fuzz_encoding: from_base64("") passed the null data() of an empty vector
// to sodium_base642bin, whose output argument is declared nonnull (UBSan:
// "null pointer passed as argument 1"). Empty text is the empty value.
TEST(FuzzRegressions, Base64DecodesEmptyTextWithoutNullOutput) {
  auto r = from_base64("");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->empty());
  auto bounded = from_base64("", 0);
  ASSERT_TRUE(bounded.ok()) << bounded.status().to_string();
  EXPECT_TRUE(bounded->empty());
}

// fuzz_encoding: libsodium 1.0.18's sodium_base642bin decodes any byte
// >= 0x80 as if it were '/', so "qaGGVsl\xc3\x9cG8=" decoded to 8 bytes and
// one value had many encodings. Every non-alphabet byte is refused now.
TEST(FuzzRegressions, Base64RejectsBytesAboveAscii) {
  const std::string found = "qaGGVsl\xc3\x9cG8=";
  auto r = from_base64(found);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  for (int c = 0x80; c <= 0xff; ++c) {
    const std::string s = std::string("AAA") + char(c);
    EXPECT_FALSE(from_base64(s).ok()) << "byte " << c;
  }
  auto slash = from_base64("AAA/");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ(*slash, (Bytes{0x00, 0x00, 0x3f}));
}

}  // namespace
}  // namespace onionswarm
