#include "swarm/swarms.h"

#include <algorithm>
#include <tuple>

namespace onionswarm::swarm {

uint64_t node_ring_position(const crypto::Ed25519PublicKey& pk) {
  auto h = crypto::hash(pk.view());
  return get_u64(h.data());
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
  // Run i holds nodes [i*n/k, (i+1)*n/k): sizes differ by at most one.
  // Swarm i serves the i-th of k equal arcs of the ring, starting at
  // floor(i * 2^64 / k). (Arcs between node positions would make a swarm's
  // share of accounts vary like a sum of ~target_size exponential gaps: with
  // 100 swarms of 5, several serve under a third of the mean.)
  swarms.resize(k);
  for (size_t i = 0; i < k; ++i) {
    size_t begin = i * n / k, end = (i + 1) * n / k;
    swarms[i].id = uint64_t((static_cast<unsigned __int128>(i) << 64) / k);
    for (size_t j = begin; j < end; ++j) swarms[i].members.push_back(*ring[j].second);
  }
  return swarms;
}

size_t swarm_index_for(const std::vector<Swarm>& swarms, const AccountId& account) {
  const uint64_t pos = ring_position(account);
  // The last swarm whose id <= pos; positions before the first id wrap to the last swarm.
  auto it = std::upper_bound(swarms.begin(), swarms.end(), pos,
                             [](uint64_t p, const Swarm& s) { return p < s.id; });
  if (it == swarms.begin()) return swarms.size() - 1;
  return size_t(std::distance(swarms.begin(), it) - 1);
}

std::optional<size_t> swarm_index_of_node(const std::vector<Swarm>& swarms,
                                          const crypto::X25519PublicKey& node) {
  for (size_t i = 0; i < swarms.size(); ++i)
    for (const auto& m : swarms[i].members)
      if (m.x25519 == node) return i;
  return std::nullopt;
}

}  // namespace onionswarm::swarm
