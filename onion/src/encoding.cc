#include "onion/encoding.h"

#include <array>

namespace onionswarm {
namespace {

// Value of one hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The standard base64 alphabet (RFC 4648 section 4), index = 6-bit value.
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Value of each byte in the standard base64 alphabet, or -1 (also for '=').
constexpr std::array<int8_t, 256> kBase64Values = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kBase64Alphabet[i])] = int8_t(i);
  return t;
}();

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

void append_base64(std::string& out, ByteView b) {
  // A table lookup per 6 bits (libsodium's encoder is constant-time and
  // ~8x slower); like the decoder, it only ever sees public bytes.
  const size_t start = out.size();
  out.resize(start + (b.size() + 2) / 3 * 4, '=');
  char* o = out.data() + start;
  size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    const uint32_t v = uint32_t(b[i]) << 16 | uint32_t(b[i + 1]) << 8 | b[i + 2];
    *o++ = kBase64Alphabet[v >> 18];
    *o++ = kBase64Alphabet[(v >> 12) & 63];
    *o++ = kBase64Alphabet[(v >> 6) & 63];
    *o++ = kBase64Alphabet[v & 63];
  }
  if (const size_t rest = b.size() - i; rest > 0) {  // the '=' padding is already there
    const uint32_t v = uint32_t(b[i]) << 16 | (rest == 2 ? uint32_t(b[i + 1]) << 8 : 0);
    *o++ = kBase64Alphabet[v >> 18];
    *o++ = kBase64Alphabet[(v >> 12) & 63];
    if (rest == 2) *o = kBase64Alphabet[(v >> 6) & 63];
  }
}

std::string to_base64(ByteView b) {
  std::string out;
  append_base64(out, b);
  return out;
}

Result<Bytes> from_base64(std::string_view s, size_t max_len) {
  // Padded base64 always comes in groups of 4 characters; the exact decoded
  // size follows from the length and the '=' count, so oversized input is
  // rejected before anything is allocated.
  if (s.size() % 4 != 0) return error(Code::kInvalidArgument, "base64: length not a multiple of 4");
  size_t pad = 0;
  if (!s.empty() && s.back() == '=') ++pad;
  if (s.size() >= 2 && s[s.size() - 2] == '=') ++pad;
  const size_t decoded = s.size() / 4 * 3 - pad;
  if (decoded > max_len) return error(Code::kInvalidArgument, "base64: decoded value too long");
  if (s.empty()) return Bytes{};
  // A table lookup per character (libsodium's decoder is constant-time and
  // ~10x slower). Base64 here only ever carries public bytes (stored
  // ciphertext, signatures), never a secret, so timing does not matter.
  // '=' is outside the alphabet: it is accepted only as the final padding.
  const auto bad = [] { return error(Code::kInvalidArgument, "base64: invalid encoding"); };
  const size_t groups = s.size() / 4;
  const size_t full = pad ? groups - 1 : groups;
  Bytes out(decoded);
  uint8_t* o = out.data();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t g = 0; g < full; ++g, p += 4) {
    const int a = kBase64Values[p[0]], b = kBase64Values[p[1]], c = kBase64Values[p[2]], d = kBase64Values[p[3]];
    if ((a | b | c | d) < 0) return bad();
    *o++ = uint8_t(a << 2 | b >> 4);
    *o++ = uint8_t((b & 0x0f) << 4 | c >> 2);
    *o++ = uint8_t((c & 0x03) << 6 | d);
  }
  if (pad) {
    const int a = kBase64Values[p[0]], b = kBase64Values[p[1]];
    const int c = pad == 1 ? kBase64Values[p[2]] : 0;
    // Canonical only: the bits past the last byte must be zero.
    if ((a | b | c) < 0 || (pad == 2 && (b & 0x0f)) || (pad == 1 && (c & 0x03))) return bad();
    *o++ = uint8_t(a << 2 | b >> 4);
    if (pad == 1) *o++ = uint8_t((b & 0x0f) << 4 | c >> 2);
  }
  return out;
}

}  // namespace onionswarm
