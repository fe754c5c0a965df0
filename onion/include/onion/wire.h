// ZeroMQ message framing shared by clients and nodes. Byte formats:
// docs/PROTOCOL.md, "Frames".
//
// Every message is two frames (the ROUTER routing-id frame not counted):
//   frame 0: header, exactly 10 bytes: version(1) || type(1) || request_id(8, big-endian)
//   frame 1: body, 0..kMaxBodySize bytes, meaning given by type
#pragma once

#include <cstdint>

#include "onion/bytes.h"
#include "onion/status.h"

namespace onionswarm::wire {

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 10;
inline constexpr size_t kMaxBodySize = 256 * 1024;
// ZMQ_MAXMSGSIZE for every socket: one frame never exceeds this.
inline constexpr int64_t kMaxFrameSize = kMaxBodySize;
// How long a relay waits for the next hop's answer before it answers a hop
// error `timeout` itself (the node config's relay_timeout_ms, by default,
// and the most it may be). A client that hears nothing at all for longer
// knows its guard did not answer (docs/PROTOCOL.md 12.2).
inline constexpr uint64_t kDefaultRelayTimeoutMs = 10'000;

// ZMTP 3.1 heartbeats on node-to-node links and on a client's connection to
// its guard: a ping every kHeartbeatIntervalMs, and a connection from which
// nothing at all came for kHeartbeatTimeoutMs after a ping is dropped. The
// peer's ZeroMQ I/O thread answers, however busy the peer's own threads
// are, so only a peer that hangs, or whose host vanished without closing
// TCP, is dropped: within about 6 s, before the relay timeout.
inline constexpr int kHeartbeatIntervalMs = 2'000;
inline constexpr int kHeartbeatTimeoutMs = 4'000;

enum class Type : uint8_t {
  kOnionRequest = 0x01,   // body: onion blob (onion/layer.h)
  kOnionResponse = 0x02,  // body: response blob
  kError = 0x03,          // body: UTF-8 JSON {"code":..,"message":..}, unencrypted link-level error
  kReplicate = 0x10,      // node to node: body is JSON (docs/PROTOCOL.md, "Replication")
  kReplicateAck = 0x11,   // node to node: body is JSON
  kSyncRequest = 0x12,    // node to node, anti-entropy: body is JSON (docs/PROTOCOL.md, "Catch-up")
  kSyncResponse = 0x13,   // node to node: body is JSON
  kReplicateDelete = 0x14,  // node to node: body is a client's signed delete request (docs/PROTOCOL.md, "Replicated deletes")
  kReplicateBatch = 0x15,     // node to node: new stores' replicas, binary (node/replica.h; docs/PROTOCOL.md 8.2)
  kReplicateBatchAck = 0x16,  // node to node: one result byte per replica of the batch
  kGossip = 0x20,         // node to node, directory gossip: body is JSON (docs/PROTOCOL.md, "Gossip")
  kGossipResponse = 0x21, // node to node: body is JSON
};

struct Header {
  uint8_t version = kVersion;
  Type type = Type::kOnionRequest;
  uint64_t request_id = 0;
};

Bytes encode_header(const Header& h);
// kInvalidArgument for a wrong size or unknown type; a version other than
// kVersion is reported as kInvalidArgument with message "unsupported protocol version N".
Result<Header> decode_header(ByteView b);

}  // namespace onionswarm::wire
