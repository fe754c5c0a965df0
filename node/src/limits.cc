#include "node/limits.h"

#include <algorithm>
#include <cstring>

namespace onionswarm::node {

// ---- LayerReplayCache --------------------------------------------------------

LayerReplayCache::LayerReplayCache(size_t capacity, uint64_t window_ms)
    : capacity_(capacity),
      window_ms_(window_ms),
      slot_ms_(std::max<uint64_t>(1, window_ms / 16)),
      digest_key_(32) {
  crypto::random_fill(digest_key_.data(), digest_key_.size());
}

uint64_t LayerReplayCache::digest(ByteView key) const {
  Bytes d = crypto::blake2b(key, 16, digest_key_.view());  // 16: BLAKE2b's shortest output
  uint64_t v;
  std::memcpy(&v, d.data(), sizeof v);
  return v;
}

void LayerReplayCache::expire_locked(uint64_t now_ms) {
  // Generation g holds forget times in [g*slot, (g+1)*slot): all of them are
  // below now once (g+1)*slot <= now.
  while (!generations_.empty() && (generations_.begin()->first + 1) * slot_ms_ <= now_ms) {
    size_ -= generations_.begin()->second.size();
    generations_.erase(generations_.begin());
  }
}

Status LayerReplayCache::check_and_insert(ByteView key, uint64_t ts_ms, uint64_t now_ms) {
  const uint64_t d = digest(key);
  const uint64_t forget_ms = ts_ms + window_ms_;
  std::lock_guard lock(mu_);
  expire_locked(now_ms);
  for (const auto& [g, set] : generations_)
    if (set.count(d)) return error(Code::kReplay, "this onion layer was seen before");
  if (forget_ms < now_ms) return {};  // stale: the timestamp check refuses it anyway
  if (size_ >= capacity_) return error(Code::kBusy, "replay cache is full; try again later");
  generations_[forget_ms / slot_ms_].insert(d);
  ++size_;
  return {};
}

size_t LayerReplayCache::size() const {
  std::lock_guard lock(mu_);
  return size_;
}

// ---- RateLimiter -------------------------------------------------------------

RateLimiter::RateLimiter(uint32_t rate_per_s, uint32_t burst, size_t max_keys)
    : rate_per_s_(rate_per_s), burst_(std::max<uint32_t>(1, burst)), max_keys_(std::max<size_t>(1, max_keys)) {}

void RateLimiter::refill(Bucket& b, uint64_t now_ms) const {
  if (now_ms > b.last_ms) {
    b.tokens = std::min<double>(burst_, b.tokens + double(now_ms - b.last_ms) * rate_per_s_ / 1000.0);
    b.last_ms = now_ms;
  }
}

void RateLimiter::drop_idle_locked(uint64_t now_ms) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now_ms);
    if (it->second.tokens >= burst_) it = buckets_.erase(it);
    else ++it;
  }
}

bool RateLimiter::admit(std::string_view key, uint64_t now_ms) {
  if (!enabled()) return true;
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    // A full scan is O(keys): at most once a second, so new keys cannot
    // make every request pay for it.
    if (buckets_.size() >= max_keys_ && now_ms >= last_purge_ms_ + 1000) {
      last_purge_ms_ = now_ms;
      drop_idle_locked(now_ms);
    }
    if (buckets_.size() >= max_keys_) {
      return false;
    }
    it = buckets_.emplace(std::string(key), Bucket{double(burst_), now_ms}).first;
  }
  refill(it->second, now_ms);
  if (it->second.tokens < 1.0) return false;
  it->second.tokens -= 1.0;
  return true;
}

size_t RateLimiter::keys() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace onionswarm::node
