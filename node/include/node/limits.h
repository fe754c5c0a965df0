// Limits a node enforces on what peers send: a replay cache for onion layers
// and token-bucket rate limits. Pure logic, no sockets; time is passed in
// (milliseconds, any monotonic-enough epoch the caller uses consistently).
//
// What each is for (docs/SECURITY.md, "Replays" and "Floods and limits"):
//   ReplayCache       keys remembered until their timestamp leaves a window:
//                     the destination's signed requests, refused twice.
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
#include <vector>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::node {

// Keys seen recently, to refuse replays: the destination's signed requests
// (the key is the BLAKE2b hash of the signature) and, inside
// LayerReplayCache, every hop's onion layers. An entry is kept until its
// request timestamp is older than the allowed skew (ts + window < now;
// after that the timestamp check alone refuses it), and a key already that
// old is not remembered at all.
//
// Bounded, without letting a forgotten key back in: when full, a new key
// takes the place of the entry with the oldest timestamp, and a new key no
// newer than every held one is refused as stale (the sender re-stamps and
// sends again). So a full cache narrows the accepted window from below
// (horizon_ms) instead of refusing everything as busy; at a steady rate of
// r new keys per second it holds the last capacity / r seconds of them.
//
// Layout (fixed-size entries, no per-entry allocation):
//   slots_  open-addressing table (linear probing, backward-shift deletion)
//           of 8-byte fingerprints: the first 64 bits of the key, which
//           must be a hash nobody can aim collisions at (of a valid
//           signature; of a layer key under a secret key). A new key
//           matches one of n held by chance with odds n / 2^64 (5e-14 at a
//           million): a false "replay" that the client retries. The home
//           slot mixes in a random per-process seed. At most 3/4 full;
//           grows by doubling up to capacity * 4/3 + 1 slots.
//   heap_   a min-heap of (request ts, fingerprint): the expiry order.
// Memory when full: at most kMaxBytesPerEntry bytes per entry (8 * 4/3 for
// the table + 16 for the heap, about 27 MB for the default million), where
// a std::map + std::multimap pair took about 160 bytes per entry.
//
// Thread-safe (one mutex).
class ReplayCache {
 public:
  static constexpr size_t kMaxBytesPerEntry = 27;  // plus a constant (table rounding)

  ReplayCache(size_t capacity, uint64_t window_ms);
  // kReplay when key was seen; kStale when the cache is full and holds no
  // key older than request_ts_ms; ok otherwise (remembered unless
  // request_ts_ms + window < now_ms).
  Status check_and_insert(const crypto::Hash& key, uint64_t request_ts_ms, uint64_t now_ms);
  size_t size() const;
  // Bytes the tables hold (allocated, used or not).
  size_t memory_bytes() const;
  // Keys forgotten before their time because the cache was full.
  uint64_t evicted() const;
  // How far before now_ms a timestamp must lie at most to be accepted: the
  // window, or less while the cache is full (0 if its oldest key is newer
  // than now_ms).
  uint64_t horizon_ms(uint64_t now_ms) const;

 private:
  struct Fingerprint {
    uint64_t v = 0;  // 0: an empty slot
    bool empty() const { return v == 0; }
    friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
  };
  struct Expiry {
    uint64_t ts_ms = 0;
    Fingerprint fp;
  };
  static Fingerprint fingerprint(const crypto::Hash& key);
  size_t home(const Fingerprint& fp, size_t slots) const;
  size_t find_locked(const Fingerprint& fp) const;  // slots_.size() when absent
  void insert_slot_locked(std::vector<Fingerprint>& table, const Fingerprint& fp) const;
  void erase_locked(const Fingerprint& fp);
  void pop_oldest_locked();
  void grow_locked();
  void expire_locked(uint64_t now_ms);

  const size_t capacity_;
  const size_t max_slots_;
  const uint64_t window_ms_;
  const uint64_t seed_;
  mutable std::mutex mu_;
  std::vector<Fingerprint> slots_;  // GUARDED_BY(mu_)
  std::vector<Expiry> heap_;        // GUARDED_BY(mu_): min-heap by ts_ms; size() is the entry count
  uint64_t evicted_ = 0;            // GUARDED_BY(mu_)
};

// Onion-layer ephemeral public keys seen recently: a ReplayCache of their
// keyed BLAKE2b-256 digests (key random per process), so a sender cannot aim
// collisions at another sender's keys or at the hash table.
//
// A layer with timestamp ts is accepted while |now - ts| <= window_ms, so a
// key is remembered until now > ts + window_ms; after that the timestamp
// check alone refuses the layer. Bounded: at most `capacity` keys
// (ReplayCache::kMaxBytesPerEntry bytes each). When full, the oldest key is
// forgotten to make room, and a layer no newer than every key held is
// refused as stale: a forgotten layer cannot be replayed, and a client
// re-stamps its layers and sends again.
//
// Thread-safe.
class LayerReplayCache {
 public:
  LayerReplayCache(size_t capacity, uint64_t window_ms);

  // kReplay when key was seen within the window; kStale when ts_ms is older
  // than what the full cache still remembers; otherwise ok and the key is
  // remembered until ts_ms + window_ms.
  [[nodiscard]] Status check_and_insert(ByteView key, uint64_t ts_ms, uint64_t now_ms);
  size_t size() const { return keys_.size(); }
  size_t capacity() const { return capacity_; }
  size_t memory_bytes() const { return keys_.memory_bytes(); }
  uint64_t evicted() const { return keys_.evicted(); }
  uint64_t horizon_ms(uint64_t now_ms) const { return keys_.horizon_ms(now_ms); }

 private:
  const size_t capacity_;
  crypto::SecretBytes digest_key_;
  ReplayCache keys_;
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
