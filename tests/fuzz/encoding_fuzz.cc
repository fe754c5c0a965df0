// Fuzzes the strict hex and base64 decoders (every key, hash and blob in a
// request or config passes through them). What decodes must re-encode to
// the same text (hex: case-insensitively), and max_len must hold.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_keys.h"
#include "onion/encoding.h"

namespace of = onionswarm::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto b = onionswarm::from_hex(text); b.ok()) {
    const std::string again = onionswarm::to_hex(*b);
    if (!std::equal(again.begin(), again.end(), text.begin(), text.end(),
                    [](char a, char c) { return a == std::tolower(static_cast<unsigned char>(c)); }))
      of::harness_bug("from_hex/to_hex do not round-trip");
  }
  if (auto b = onionswarm::from_hex(text, 4); b.ok() && b->size() > 4) of::harness_bug("from_hex ignored max_len");

  if (auto b = onionswarm::from_base64(text); b.ok()) {
    if (onionswarm::to_base64(*b) != text) of::harness_bug("from_base64/to_base64 do not round-trip");
  }
  if (auto b = onionswarm::from_base64(text, 4); b.ok() && b->size() > 4)
    of::harness_bug("from_base64 ignored max_len");
  return 0;
}
