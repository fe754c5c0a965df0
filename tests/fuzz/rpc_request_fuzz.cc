// Fuzzes swarm::rpc::parse_request, what a destination node reads from the
// innermost onion layer. A request that parses must serialize, parse again
// and serialize to the same bytes, and have signing bytes.
#include <cstddef>
#include <cstdint>

#include "fuzz_keys.h"
#include "swarm/rpc.h"

namespace rpc = onionswarm::swarm::rpc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto req = rpc::parse_request(onionswarm::ByteView(data, size));
  if (!req.ok()) return 0;
  (void)rpc::method_name(*req);
  (void)rpc::signing_bytes(*req);
  const onionswarm::Bytes once = rpc::serialize_request(*req);
  auto again = rpc::parse_request(once);
  if (!again.ok()) onionswarm::fuzz::harness_bug("a serialized request does not parse");
  if (rpc::serialize_request(*again) != once) onionswarm::fuzz::harness_bug("request does not round-trip");
  return 0;
}
