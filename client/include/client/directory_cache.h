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

#include "client/local_store.h"
#include "onion/status.h"
#include "swarm/descriptor.h"

namespace onionswarm::client {

inline constexpr size_t kMaxCachedDescriptors = 2'000;
inline constexpr size_t kMaxDirectoryPages = 16;  // of 256 descriptors each
inline constexpr size_t kMaxCacheFileBytes = 8 * 1024 * 1024;
// Bounds of the automatic refresh age (see directory_refresh_after_ms).
inline constexpr uint64_t kMaxDirectoryAgeMs = 5 * 60'000;
inline constexpr uint64_t kMinDirectoryAgeMs = 1'000;
// Timeout of an automatic refresh (a command waits at most this long for it).
inline constexpr uint64_t kAutoRefreshTimeoutMs = 5'000;

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

// How old `c` may be before send/inbox/path refresh it: half the shortest
// lifetime (expires_at - issued_at) of its descriptors, within
// [kMinDirectoryAgeMs, kMaxDirectoryAgeMs]; kMaxDirectoryAgeMs when empty.
uint64_t directory_refresh_after_ms(const CachedDirectory& c);

// The nodes the client builds guards, paths and swarms from: the cached
// directory when it holds at least three nodes (each with operator_key set
// from its verified endorsement, swarm::node_with_operator), else the seeds
// (the network file's nodes).
std::vector<swarm::NodeDescriptor> directory_view(const std::optional<CachedDirectory>& cached,
                                                  const std::vector<swarm::NodeDescriptor>& seeds);

// HOME/directory.json.
std::string directory_cache_path(const std::string& home);
// The cache in HOME, every descriptor re-verified; nullopt when absent or
// malformed.
std::optional<CachedDirectory> load_directory_cache(const std::string& home, const swarm::VerifyRules& rules);
// Writes it atomically (temporary file, rename). kIo on failure.
Status save_directory_cache(const std::string& home, const CachedDirectory& c);

enum class RefreshWhen { kAlways, kWhenStale };

struct DirectoryRefresh {
  std::optional<CachedDirectory> directory;  // fresh, or the cached one when not refreshed
  bool fetched = false;                      // a fetch succeeded and was saved
  Status fetch_error;                        // why an attempted fetch failed (ok otherwise)
  size_t refused = 0;                        // descriptors of the fetch that did not verify
};

// Loads the cache and fetches a new one when `when` is kAlways, or
// kWhenStale and a cache exists that is older than
// directory_refresh_after_ms (without a cache kWhenStale does nothing:
// `onionswarm nodes` bootstraps). The fetch goes to the client's guard
// (store.guard(), the first hop of its paths) chosen by choose_guard over
// directory_view: the kept guard while it is in the view, else a random
// node of the view (on the first run, a seed), which becomes the kept guard.
// A failed fetch keeps the cache (fetch_error says why); only writing the
// cache or the guard setting is an error.
Result<DirectoryRefresh> refresh_directory(const std::string& home, LocalStore& store,
                                           const std::vector<swarm::NodeDescriptor>& seeds,
                                           const swarm::VerifyRules& rules, RefreshWhen when, uint64_t timeout_ms);

}  // namespace onionswarm::client
