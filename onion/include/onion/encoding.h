// Text encodings of binary values. Decoders are strict: they reject bad
// characters, wrong padding and (where given) a wrong decoded length.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "onion/bytes.h"
#include "onion/status.h"

namespace onionswarm {

std::string to_hex(ByteView b);
// Lower- or upper-case hex, even length. max_len bounds the decoded size.
Result<Bytes> from_hex(std::string_view s, size_t max_len = 1 << 20);

// Standard base64 (RFC 4648 section 4) with padding.
std::string to_base64(ByteView b);
// Appends to_base64(b) to out.
void append_base64(std::string& out, ByteView b);
Result<Bytes> from_base64(std::string_view s, size_t max_len = 1 << 20);

}  // namespace onionswarm
