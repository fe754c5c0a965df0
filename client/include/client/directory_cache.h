// The client's cached directory: verified node descriptors in
// HOME/directory.json, fetched from one node (the directory guard: a seed
// of the network file on the first run, then the same node while it stays
// in the verified view), so no other node sees the client's address.
// Format and rules: docs/PROTOCOL.md, "Client directory cache".
//
// Parsing and verification are pure; fetch_directory does the network I/O
// (one DEALER, direct to the guard, with a fresh CURVE key).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "onion/status.h"
#include "swarm/descriptor.h"

namespace onionswarm::client {

inline constexpr size_t kMaxCachedDescriptors = 2'000;
inline constexpr size_t kMaxDirectoryPages = 16;  // of 256 descriptors each
inline constexpr size_t kMaxCacheFileBytes = 8 * 1024 * 1024;

struct CachedDirectory {
  uint64_t fetched_at_ms = 0;
  crypto::X25519PublicKey guard;                   // the node it was fetched from
  std::vector<swarm::SignedDescriptor> descriptors;  // each verified, distinct x25519
};

// Keeps the descriptors of `list` (JSON array) that parse and verify under
// rules; *refused counts the others. At most kMaxCachedDescriptors kept.
std::vector<swarm::SignedDescriptor> verified_descriptors(const nlohmann::json& list, const swarm::VerifyRules& rules,
                                                          size_t* refused);

std::string directory_cache_to_json(const CachedDirectory& c);
// Parses a cache file and re-verifies every descriptor at rules.now_ms
// (expired ones are dropped). kInvalidArgument when the file is malformed.
Result<CachedDirectory> parse_directory_cache(std::string_view text, const swarm::VerifyRules& rules);

// Fetches the guard's whole view (paged gossip "list" requests, direct to
// guard.address with CURVE server key guard.x25519) and verifies it.
// kTimeout / kUnavailable when the guard does not answer.
Result<CachedDirectory> fetch_directory(const swarm::NodeDescriptor& guard, const swarm::VerifyRules& rules,
                                        uint64_t timeout_ms, size_t* refused);

}  // namespace onionswarm::client
