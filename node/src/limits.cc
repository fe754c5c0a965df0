#include "node/limits.h"

#include <algorithm>
#include <cstring>

namespace onionswarm::node {

// ---- ReplayCache -------------------------------------------------------------

namespace {
constexpr size_t kMinSlots = 1024;
constexpr auto kLater = [](const auto& x, const auto& y) { return x.ts_ms > y.ts_ms; };  // min-heap order
}  // namespace

ReplayCache::ReplayCache(size_t capacity, uint64_t window_ms)
    : capacity_(capacity),
      max_slots_(capacity + capacity / 3 + 1),
      window_ms_(window_ms),
      seed_([] {
        uint64_t v = 0;
        crypto::random_fill(reinterpret_cast<uint8_t*>(&v), sizeof v);
        return v;
      }()),
      slots_(std::min(max_slots_, kMinSlots)) {}

ReplayCache::Fingerprint ReplayCache::fingerprint(const crypto::Hash& key) {
  Fingerprint fp;
  std::memcpy(&fp.v, key.data(), 8);
  if (fp.empty()) fp.v = 1;  // 0 marks an empty slot
  return fp;
}

size_t ReplayCache::home(const Fingerprint& fp, size_t slots) const {
  uint64_t h = (fp.v ^ seed_) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 29;
  return size_t((unsigned __int128)h * slots >> 64);  // uniform in [0, slots)
}

size_t ReplayCache::find_locked(const Fingerprint& fp) const {
  const size_t n = slots_.size();
  for (size_t i = home(fp, n);; i = i + 1 == n ? 0 : i + 1) {
    if (slots_[i].empty()) return n;
    if (slots_[i] == fp) return i;
  }
}

void ReplayCache::insert_slot_locked(std::vector<Fingerprint>& table, const Fingerprint& fp) const {
  const size_t n = table.size();
  size_t i = home(fp, n);
  while (!table[i].empty()) i = i + 1 == n ? 0 : i + 1;
  table[i] = fp;
}

void ReplayCache::erase_locked(const Fingerprint& fp) {
  const size_t n = slots_.size();
  size_t hole = find_locked(fp);
  if (hole == n) return;
  // Backward shift: move later members of the probe run into the hole when
  // their home slot does not lie cyclically in (hole, j].
  for (size_t j = hole + 1 == n ? 0 : hole + 1; !slots_[j].empty(); j = j + 1 == n ? 0 : j + 1) {
    const size_t k = home(slots_[j], n);
    const bool k_in_range = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (!k_in_range) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = Fingerprint{};
}

void ReplayCache::grow_locked() {
  std::vector<Fingerprint> bigger(std::min(max_slots_, slots_.size() * 2));
  for (const Fingerprint& fp : slots_)
    if (!fp.empty()) insert_slot_locked(bigger, fp);
  slots_.swap(bigger);
}

void ReplayCache::pop_oldest_locked() {
  erase_locked(heap_.front().fp);
  std::pop_heap(heap_.begin(), heap_.end(), kLater);
  heap_.pop_back();
}

void ReplayCache::expire_locked(uint64_t now_ms) {
  while (!heap_.empty() && heap_.front().ts_ms + window_ms_ < now_ms) pop_oldest_locked();
}

Status ReplayCache::check_and_insert(const crypto::Hash& key, uint64_t request_ts_ms, uint64_t now_ms) {
  const Fingerprint fp = fingerprint(key);
  std::lock_guard lock(mu_);
  expire_locked(now_ms);
  if (find_locked(fp) != slots_.size()) return error(Code::kReplay, "this signed request was already used");
  if (request_ts_ms + window_ms_ < now_ms) return {};  // stale: the timestamp check refuses it anyway
  if (heap_.size() >= capacity_) {
    // Full: the oldest key makes room for a newer one. A key no newer than
    // every held one is refused, so a forgotten key can never come back in:
    // while the cache stays full its oldest key is at least as new as every
    // key forgotten, and it only has room again once a key at least that
    // new has left the window, taking every forgotten one with it.
    if (request_ts_ms <= heap_.front().ts_ms)
      return error(Code::kStale, "older than this node's replay horizon; send a new one");
    pop_oldest_locked();
    ++evicted_;
  }
  if ((heap_.size() + 1) * 4 > slots_.size() * 3 && slots_.size() < max_slots_) grow_locked();
  if (heap_.size() == heap_.capacity()) heap_.reserve(std::min(capacity_, std::max<size_t>(64, heap_.size() * 2)));
  insert_slot_locked(slots_, fp);
  heap_.push_back(Expiry{request_ts_ms, fp});
  std::push_heap(heap_.begin(), heap_.end(), kLater);
  return {};
}

size_t ReplayCache::size() const {
  std::lock_guard lock(mu_);
  return heap_.size();
}

uint64_t ReplayCache::evicted() const {
  std::lock_guard lock(mu_);
  return evicted_;
}

uint64_t ReplayCache::horizon_ms(uint64_t now_ms) const {
  std::lock_guard lock(mu_);
  if (heap_.size() < capacity_ || heap_.front().ts_ms + window_ms_ < now_ms) return window_ms_;
  return now_ms > heap_.front().ts_ms ? now_ms - heap_.front().ts_ms : 0;
}

size_t ReplayCache::memory_bytes() const {
  std::lock_guard lock(mu_);
  return slots_.capacity() * sizeof(Fingerprint) + heap_.capacity() * sizeof(Expiry);
}

// ---- LayerReplayCache --------------------------------------------------------

LayerReplayCache::LayerReplayCache(size_t capacity, uint64_t window_ms)
    : capacity_(capacity), digest_key_(32), keys_(capacity, window_ms) {
  crypto::random_fill(digest_key_.data(), digest_key_.size());
}

Status LayerReplayCache::check_and_insert(ByteView key, uint64_t ts_ms, uint64_t now_ms) {
  crypto::Hash digest;
  const Bytes d = crypto::blake2b(key, digest.size(), digest_key_.view());
  std::copy(d.begin(), d.end(), digest.bytes.begin());
  Status st = keys_.check_and_insert(digest, ts_ms, now_ms);
  if (st.code() == Code::kReplay) return error(Code::kReplay, "this onion layer was seen before");
  return st;
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
