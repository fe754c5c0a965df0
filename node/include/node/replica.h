// How a stored message travels between swarm members.
//
// JSON (replication hand-over while rebalancing, and catch-up fetches):
//   {"account": hex, "namespace": n, "timestamp": ms, "expiry": ms, "data": base64}
//
// Binary batch (kReplicateBatch, the push of new stores; docs/PROTOCOL.md
// 8.2), all integers big-endian:
//   count u16 (1..kMaxReplicaBatch), then count records of
//   account (33 raw bytes) || namespace u16 || timestamp u64 || expiry u64 ||
//   length u32 (1..rpc::kMaxDataBytes) || data
// and its answer (kReplicateBatchAck) is one ReplicaResult byte per record,
// in the same order.
//
// The hash is never sent: the receiver computes it from the data.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "node/storage.h"
#include "onion/status.h"

namespace onionswarm::node {

nlohmann::json replica_to_json(const StoredMessage& m);
// Strict: kInvalidArgument for a missing or mistyped field, a bad account,
// a namespace over 65535, bad or oversized base64.
Result<StoredMessage> replica_from_json(const nlohmann::json& j);

inline constexpr size_t kMaxReplicaBatch = 1024;
// Fixed part of one record: account, namespace, timestamp, expiry, length.
inline constexpr size_t kReplicaRecordHeader = 33 + 2 + 8 + 8 + 4;

// Appends one record of a batch body (the sender writes the count, put_u16,
// in front of the records).
void append_replica_record(Bytes& out, const StoredMessage& m);
// Strict: kInvalidArgument for a count of 0 or over kMaxReplicaBatch, a bad
// account prefix, a length of 0 or over rpc::kMaxDataBytes, a truncated
// record, or bytes after the last record. Nothing is returned on error.
Result<std::vector<StoredMessage>> parse_replica_batch(ByteView body);

enum class ReplicaResult : uint8_t {
  kNew = 0,       // stored now
  kExists = 1,    // was already held
  kRefused = 2,   // this member does not serve the account
  kFull = 3,      // the account's quota or the disk is full here
  kFailed = 4,    // storage error
};
inline bool replica_held(uint8_t r) { return r == uint8_t(ReplicaResult::kNew) || r == uint8_t(ReplicaResult::kExists); }

}  // namespace onionswarm::node
