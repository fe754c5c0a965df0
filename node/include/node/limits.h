// Limits a node enforces on what peers send: a replay cache for onion layers
// and token-bucket rate limits. Pure logic, no sockets; time is passed in
// (milliseconds, any monotonic-enough epoch the caller uses consistently).
//
// What each is for (docs/SECURITY.md, "Replays" and "Floods and limits"):
//   LayerReplayCache  every hop remembers the ephemeral key of each layer it
//                     opened until the layer's timestamp leaves the accepted
//                     window, and refuses the same layer again.
//   RateLimiter       requests per second per key (a client connection at the
//                     reactor, an account at the destination).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::node {

// Keys (onion-layer ephemeral public keys) seen recently.
//
// A layer with timestamp ts is accepted while |now - ts| <= window_ms, so a
// key must be remembered until now > ts + window_ms; after that the timestamp
// check alone refuses the layer. Entries are grouped by that forget time into
// generations of window_ms/16; a whole generation is dropped once all its
// entries may be forgotten. Keys are stored as 64-bit keyed BLAKE2b digests
// (key random per process), so a sender cannot aim collisions at another
// sender's keys or at the hash table.
//
// Bounded: at most `capacity` keys. When full of unexpired keys a new key is
// refused with kBusy rather than remembered by forgetting a live one (which
// would let that one be replayed). Memory: about 40 bytes per key.
//
// Thread-safe (one mutex).
class LayerReplayCache {
 public:
  LayerReplayCache(size_t capacity, uint64_t window_ms);

  // kReplay when key was seen within the window; kBusy when the cache is
  // full; otherwise ok and the key is remembered until ts_ms + window_ms.
  [[nodiscard]] Status check_and_insert(ByteView key, uint64_t ts_ms, uint64_t now_ms);
  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  uint64_t digest(ByteView key) const;
  void expire_locked(uint64_t now_ms);

  const size_t capacity_;
  const uint64_t window_ms_;
  const uint64_t slot_ms_;
  crypto::SecretBytes digest_key_;
  mutable std::mutex mu_;
  // generation index (forget_ms / slot_ms_) -> digests. GUARDED_BY(mu_)
  std::map<uint64_t, std::unordered_set<uint64_t>> generations_;
  size_t size_ = 0;  // GUARDED_BY(mu_)
};

// Token buckets by key: each key may make `rate_per_s` requests per second
// on average and `burst` at once. A rate of 0 turns the limiter off.
//
// Bounded: at most max_keys buckets. When full, buckets that have refilled
// completely (idle keys) are dropped; if none is idle, a request from a new
// key is refused (the caller answers busy) rather than growing the table.
// The scan for idle buckets runs at most once a second.
//
// Thread-safe (one mutex).
class RateLimiter {
 public:
  RateLimiter(uint32_t rate_per_s, uint32_t burst, size_t max_keys = 100'000);

  // true: admitted (one token taken). false: over the limit, answer busy.
  bool admit(std::string_view key, uint64_t now_ms);
  size_t keys() const;
  bool enabled() const { return rate_per_s_ > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    uint64_t last_ms = 0;
  };
  void refill(Bucket& b, uint64_t now_ms) const;
  void drop_idle_locked(uint64_t now_ms);

  const uint32_t rate_per_s_;
  const uint32_t burst_;
  const size_t max_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // GUARDED_BY(mu_)
  uint64_t last_purge_ms_ = 0;                       // GUARDED_BY(mu_)
};

}  // namespace onionswarm::node
