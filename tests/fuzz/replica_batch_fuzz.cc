// Fuzzes node::parse_replica_batch (the body of a kReplicateBatch frame that
// a swarm member pushes). A batch that parses must encode back to the same
// bytes, and every record's hash must be the hash of its data.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_keys.h"
#include "node/replica.h"

namespace node = onionswarm::node;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const onionswarm::ByteView in(data, size);
  auto batch = node::parse_replica_batch(in);
  if (!batch.ok()) return 0;
  if (batch->empty() || batch->size() > node::kMaxReplicaBatch)
    onionswarm::fuzz::harness_bug("parse_replica_batch returned a count out of range");
  onionswarm::Bytes again;
  onionswarm::put_u16(again, uint16_t(batch->size()));
  for (const auto& m : *batch) {
    if (m.hash != onionswarm::crypto::hash(m.data)) onionswarm::fuzz::harness_bug("record hash is not the data's");
    node::append_replica_record(again, m);
  }
  if (!std::equal(again.begin(), again.end(), in.begin(), in.end()))
    onionswarm::fuzz::harness_bug("parse_replica_batch/append_replica_record do not round-trip");
  return 0;
}
