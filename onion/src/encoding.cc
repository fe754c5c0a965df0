#include "onion/encoding.h"

#include <sodium.h>

#include "onion/crypto.h"

namespace onionswarm {
namespace {

// Value of one hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string to_hex(ByteView b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (uint8_t v : b) {
    out.push_back(kDigits[v >> 4]);
    out.push_back(kDigits[v & 0x0f]);
  }
  return out;
}

Result<Bytes> from_hex(std::string_view s, size_t max_len) {
  if (s.size() % 2 != 0) return error(Code::kInvalidArgument, "hex: odd length");
  if (s.size() / 2 > max_len) return error(Code::kInvalidArgument, "hex: decoded value too long");
  Bytes out;
  out.reserve(s.size() / 2);
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = hex_value(s[i]);
    int lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0) return error(Code::kInvalidArgument, "hex: invalid character");
    out.push_back(uint8_t((hi << 4) | lo));
  }
  return out;
}

std::string to_base64(ByteView b) {
  crypto::init();
  const size_t len = sodium_base64_ENCODED_LEN(b.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(len, '\0');  // len includes the terminating NUL
  sodium_bin2base64(out.data(), len, b.data(), b.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(len - 1);
  return out;
}

Result<Bytes> from_base64(std::string_view s, size_t max_len) {
  crypto::init();
  // Padded base64 always comes in groups of 4 characters; the exact decoded
  // size follows from the length and the '=' count, so oversized input is
  // rejected before anything is allocated.
  if (s.size() % 4 != 0) return error(Code::kInvalidArgument, "base64: length not a multiple of 4");
  size_t pad = 0;
  if (!s.empty() && s.back() == '=') ++pad;
  if (s.size() >= 2 && s[s.size() - 2] == '=') ++pad;
  const size_t decoded = s.size() / 4 * 3 - pad;
  if (decoded > max_len) return error(Code::kInvalidArgument, "base64: decoded value too long");
  // sodium_base642bin's output pointer is declared nonnull; an empty vector
  // has none.
  if (s.empty()) return Bytes{};
  // libsodium 1.0.18 decodes bytes >= 0x80 as if they were '/' instead of
  // rejecting them, so the alphabet is checked here.
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || c == '=';
    if (!ok) return error(Code::kInvalidArgument, "base64: invalid encoding");
  }
  Bytes out(decoded);
  size_t out_len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), s.data(), s.size(), /*ignore=*/nullptr, &out_len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != s.data() + s.size() || out_len != decoded)
    return error(Code::kInvalidArgument, "base64: invalid encoding");
  return out;
}

}  // namespace onionswarm
