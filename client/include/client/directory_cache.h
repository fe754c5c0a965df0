// The client's cached directory: verified node descriptors in
// HOME/directory.json, fetched from one node (the directory guard: a seed
// of the network file on the first run, then the same node while it stays
// in the verified view), so no other node sees the client's address.
// Format and rules: docs/PROTOCOL.md, "Client directory cache".
//
// Parsing and verification are pure; fetch_directory does the network I/O
// (one DEALER, direct to the guard, with a fresh CURVE key).
//
// A client with an identity writes the cache with a MAC under a key derived
// from its identity (directory_cache_key). Loading a cache whose MAC holds
// skips the signature checks, which cost about 0.1 ms per descriptor (0.2 s
// for 2,000 nodes on every command); what depends on the time and the
// network file is checked again. Without a key, or when the MAC does not
// hold, every descriptor is verified as it was when fetched.
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
  // Each verified (signature, key derivation, and its endorsement when it
  // has one), distinct x25519.
  std::vector<swarm::SignedDescriptor> descriptors;
};

// Keeps the descriptors of `list` (JSON array) that parse and verify under
// rules, including the endorsement of those that carry one (which only a
// permissioned network's rules require); *refused counts the others. At
// most kMaxCachedDescriptors kept.
std::vector<swarm::SignedDescriptor> verified_descriptors(const nlohmann::json& list, const swarm::VerifyRules& rules,
                                                          size_t* refused);

// The key of the cache's MAC: BLAKE2b-256 keyed with the identity's seed,
// so only the holder of the identity can write a cache it will trust.
crypto::SecretBytes directory_cache_key(const crypto::Ed25519KeyPair& identity);

// With a key, the file carries "mac": keyed BLAKE2b-256 of the document
// without it (nlohmann's dump: keys sorted, no spaces).
std::string directory_cache_to_json(const CachedDirectory& c, const crypto::SecretBytes* key = nullptr);
// Parses a cache file and checks every descriptor at rules.now_ms (expired
// ones are dropped): only its terms (check_descriptor_terms) when key is
// given and the file's MAC holds under it, else verify_descriptor as a
// fetch does. kInvalidArgument when the file is malformed.
Result<CachedDirectory> parse_directory_cache(std::string_view text, const swarm::VerifyRules& rules,
                                              const crypto::SecretBytes* key = nullptr);

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
// from its endorsement, which CachedDirectory holds verified), else the
// seeds (the network file's nodes).
std::vector<swarm::NodeDescriptor> directory_view(const std::optional<CachedDirectory>& cached,
                                                  const std::vector<swarm::NodeDescriptor>& seeds);

// HOME/directory.json.
std::string directory_cache_path(const std::string& home);
// The cache in HOME, checked as parse_directory_cache does; nullopt when
// absent or malformed.
std::optional<CachedDirectory> load_directory_cache(const std::string& home, const swarm::VerifyRules& rules,
                                                    const crypto::SecretBytes* key = nullptr);
// Writes it atomically (temporary file, rename), with a MAC under key when
// given. kIo on failure.
Status save_directory_cache(const std::string& home, const CachedDirectory& c,
                            const crypto::SecretBytes* key = nullptr);

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
// cache or the guard setting is an error. key: directory_cache_key of the
// client's identity, or nullptr before it has one.
Result<DirectoryRefresh> refresh_directory(const std::string& home, LocalStore& store,
                                           const std::vector<swarm::NodeDescriptor>& seeds,
                                           const swarm::VerifyRules& rules, RefreshWhen when, uint64_t timeout_ms,
                                           const crypto::SecretBytes* key = nullptr);

}  // namespace onionswarm::client
