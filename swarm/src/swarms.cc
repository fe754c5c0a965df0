#include "swarm/swarms.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace onionswarm::swarm {

uint64_t node_ring_position(const crypto::Ed25519PublicKey& pk) {
  auto h = crypto::hash(pk.view());
  return get_u64(h.data());
}

uint64_t swarm_anchor(uint64_t index) {
  // Bit reversal: the first k anchors cut the ring into arcs of 2^-p and
  // 2^-(p+1) for 2^p <= k < 2^(p+1), and anchor k halves one of the longest
  // arcs, so node counts between anchors vary little and stay put as k grows.
  uint64_t r = 0;
  for (int i = 0; i < 64; ++i)
    if ((index >> i) & 1) r |= uint64_t(1) << (63 - i);
  return r;
}

size_t jump_bucket(uint64_t key, size_t buckets) {
  // Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm"
  // (2014): a linear congruential walk that jumps forward over buckets; the
  // key stays in bucket b while the bucket count grows unless the walk lands
  // on a new bucket, which happens with probability exactly 1/(count).
  int64_t b = -1, j = 0;
  while (j < int64_t(buckets)) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = int64_t(double(b + 1) * (double(uint64_t(1) << 31) / double((key >> 33) + 1)));
  }
  return size_t(b);
}

std::vector<Swarm> compute_swarms(const std::vector<NodeDescriptor>& nodes, size_t target_size) {
  if (target_size == 0) target_size = 1;
  std::vector<std::pair<uint64_t, const NodeDescriptor*>> ring;
  ring.reserve(nodes.size());
  for (const auto& n : nodes) ring.emplace_back(node_ring_position(n.ed25519), &n);
  // The order is total over whole descriptors, so when two descriptors share
  // an Ed25519 key, the one kept (the smallest) does not depend on input order.
  std::sort(ring.begin(), ring.end(), [](const auto& a, const auto& b) {
    const NodeDescriptor &x = *a.second, &y = *b.second;
    return std::tie(a.first, x.ed25519, x.x25519, x.address) < std::tie(b.first, y.ed25519, y.x25519, y.address);
  });
  ring.erase(std::unique(ring.begin(), ring.end(),
                         [](const auto& a, const auto& b) { return a.second->ed25519 == b.second->ed25519; }),
             ring.end());
  std::vector<Swarm> swarms;
  if (ring.empty()) return swarms;
  const size_t n = ring.size();
  const size_t k = std::max<size_t>(1, n / target_size);
  swarms.resize(k);
  for (size_t j = 0; j < k; ++j) swarms[j].id = swarm_anchor(j);
  if (k == 1) {
    for (const auto& r : ring) swarms[0].members.push_back(*r.second);
    return swarms;
  }
  // Anchors in ring order (ties, astronomically rare, by index).
  std::vector<size_t> order(k);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return std::tie(swarms[a].id, a) < std::tie(swarms[b].id, b); });
  // Rotate the node ring to start at the first node at or after the lowest
  // anchor; node r (rotated) is ring[(start + r) % n].
  auto first_at_or_after = [&](uint64_t p) {
    return size_t(std::lower_bound(ring.begin(), ring.end(), p,
                                   [](const auto& e, uint64_t v) { return e.first < v; }) -
                  ring.begin());
  };
  const size_t start = first_at_or_after(swarms[order[0]].id);
  const size_t q = n / k;
  const size_t lo = std::max<size_t>(1, q - 1), hi = q + 1;
  // Run m (the m-th anchor in ring order) holds rotated nodes [cut[m], cut[m+1]).
  // Each cut is the rotated index of the anchor, clamped so that this run and
  // every later one can stay within [lo, hi] nodes.
  std::vector<size_t> cut(k + 1, 0);
  cut[k] = n;
  for (size_t m = 1; m < k; ++m) {
    size_t ideal = first_at_or_after(swarms[order[m]].id);
    ideal = ideal >= start ? ideal - start : ideal + n - start;
    const size_t left = k - m;  // runs m..k-1 still to fill
    size_t low = std::max(cut[m - 1] + lo, n > left * hi ? n - left * hi : 0);
    size_t high = std::min(cut[m - 1] + hi, n - left * lo);
    cut[m] = std::clamp(ideal, low, std::max(low, high));
  }
  for (size_t m = 0; m < k; ++m) {
    auto& members = swarms[order[m]].members;
    std::vector<std::pair<uint64_t, const NodeDescriptor*>> run;
    for (size_t r = cut[m]; r < cut[m + 1]; ++r) run.push_back(ring[(start + r) % n]);
    std::sort(run.begin(), run.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& e : run) members.push_back(*e.second);
  }
  return swarms;
}

size_t swarm_index_for(const std::vector<Swarm>& swarms, const AccountId& account) {
  return jump_bucket(ring_position(account), swarms.size());
}

std::optional<size_t> swarm_index_of_node(const std::vector<Swarm>& swarms,
                                          const crypto::X25519PublicKey& node) {
  for (size_t i = 0; i < swarms.size(); ++i)
    for (const auto& m : swarms[i].members)
      if (m.x25519 == node) return i;
  return std::nullopt;
}

}  // namespace onionswarm::swarm
