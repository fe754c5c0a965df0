// The network file: the static description of a network that nodes and
// clients start from (network id, target swarm size, the known nodes with
// their address and public keys).
//
// Format (JSON, strict: unknown keys and wrong types are errors):
//
//   {
//     "network_id": "devnet-1a2b",       // 1..64 chars of [A-Za-z0-9._-]
//     "swarm_size": 5,                   // optional, 1..100, default 5
//     "nodes": [                         // may be empty
//       {"address": "tcp://127.0.0.1:4500",   // tcp://HOST:PORT, PORT 1..65535
//        "ed25519": "<64 hex>",               // identity key
//        "x25519":  "<64 hex>"}               // CURVE server / onion layer key
//     ],
//     "operators": ["<64 hex>", ...]      // optional, at most 64 Ed25519 keys
//   }
//
// "nodes" are the seeds: a node or client starts from them and learns the
// rest of the network by gossip (swarm/descriptor.h, node/gossip.h). A
// non-empty "operators" list makes the network permissioned: only nodes whose
// descriptor carries an endorsement by one of these keys are admitted.
//
// No two nodes may share an ed25519 key, an x25519 key or an address.
//
// Errors: every parse error is kInvalidArgument and its message starts with
// the JSON pointer of the offending value, e.g.
// "/nodes/3/x25519: expected 64 hex characters". Nothing here throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "onion/status.h"
#include "swarm/directory.h"

namespace onionswarm::config {

inline constexpr size_t kMaxNetworkFileBytes = 16 * 1024 * 1024;
inline constexpr size_t kMaxNetworkIdLength = 64;
inline constexpr size_t kMinSwarmSize = 1;
inline constexpr size_t kMaxSwarmSize = 100;
inline constexpr size_t kDefaultSwarmSize = 5;
inline constexpr size_t kMaxOperators = 64;

struct NetworkFile {
  std::string network_id;
  size_t swarm_size = kDefaultSwarmSize;
  std::vector<swarm::NodeDescriptor> nodes;         // the seeds
  std::vector<crypto::Ed25519PublicKey> operators;  // empty: open network
};

// Parses and validates the JSON text of a network file. kInvalidArgument
// (message starts with a JSON pointer, "/" for the document) on any error.
[[nodiscard]] Result<NetworkFile> parse_network_file(std::string_view json);

// Reads and parses the file at path. kIo if it cannot be read;
// kInvalidArgument if it is larger than kMaxNetworkFileBytes or does not
// parse. Messages start with the path: "net.json: /nodes/0/address: ...".
[[nodiscard]] Result<NetworkFile> load_network_file(const std::string& path);

// Canonical JSON text of the file (keys in the order above, two-space
// indent, lower-case hex, trailing newline). parse_network_file of the result
// gives back an equal NetworkFile.
std::string network_file_to_json(const NetworkFile& file);

// Writes network_file_to_json(file) to a temporary file in the same
// directory, fsyncs it, renames it over path and fsyncs the directory, so a
// reader sees the old or the new file, never a partial one. kIo on failure
// (the temporary file is removed).
[[nodiscard]] Status write_network_file_atomic(const std::string& path, const NetworkFile& file);

// Whether address is a ZeroMQ TCP endpoint "tcp://HOST:PORT" that a node
// can be reached at: HOST a DNS name, IPv4 address or bracketed IPv6
// address; PORT 1..65535. With for_bind, HOST may also be "*" and PORT may be
// 0 or "*" (the kernel picks a free port).
bool is_valid_tcp_endpoint(std::string_view address, bool for_bind = false);

}  // namespace onionswarm::config
