// Fuzzes wire::decode_header (frame 0 of every message a socket receives).
// A header that decodes must encode back to the same 10 bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_keys.h"
#include "onion/wire.h"

namespace wire = onionswarm::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const onionswarm::ByteView in(data, size);
  auto h = wire::decode_header(in);
  if (h.ok()) {
    const onionswarm::Bytes again = wire::encode_header(*h);
    if (!std::equal(again.begin(), again.end(), in.begin(), in.end()))
      onionswarm::fuzz::harness_bug("decode_header/encode_header do not round-trip");
  }
  return 0;
}
