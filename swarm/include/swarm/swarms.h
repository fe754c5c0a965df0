// The account -> swarm mapping: a pure, deterministic function of the node
// list that nodes and clients compute alike (docs/PROTOCOL.md, "Swarms").
//
// Swarm count. n distinct nodes (by Ed25519 key) form k = max(1, n / target)
// swarms, indexed 0..k-1. Swarm j's id is its anchor on the 64-bit ring: j
// with its 64 bits reversed (0, 2^63, 2^62, 3*2^62, ...). An id depends on j
// only, so growing k by one adds one anchor, which halves one of the longest
// arcs between anchors, and leaves every other id where it was. (Random
// anchors were measured too: their uneven arcs made the cuts below drift
// and moved ~3x as many nodes per join.)
//
// Accounts. An account belongs to swarm jump_bucket(ring_position(account), k)
// (jump consistent hashing, Lamping & Veach 2014; the exact arithmetic is in
// docs/PROTOCOL.md). Each swarm serves 1/k of the ring positions, and
// when k grows to k+1 only the accounts the new swarm takes (1/(k+1) of them)
// change swarm; when k shrinks only the removed swarm's accounts move.
//
// Nodes. Each node has a ring position: the first 8 bytes (big-endian) of
// BLAKE2b-256(ed25519 public key). Nodes sorted by position are cut into k
// contiguous runs, one per anchor in ring order: the run of the lowest
// anchor starts at the first node at or after it; each later run starts at
// the first node at or after its anchor, moved as little as needed to keep
// every run within [max(1, q-1), q+1] nodes, q = n / k (so [4, 6] for the
// default target once n >= 10). Cuts follow anchors, not node counts, so a
// node joining or leaving moves the few cuts near it, not all of them.
//
// Measured (bench/swarm_sim_tool, 10,000 nodes, 1,000,000 accounts; see
// docs/PERFORMANCE.md): sizes 4..6; with 1% of nodes joining, 0.99% of
// accounts change swarm (ideal 0.99%) and ~9% of account copies land on a
// node that lacked them (the old equal-runs mapping: 99% and 55%); with 1%
// leaving, 1.0% and ~11% (old: 99% and 78%). A window of [q-1, q+2] would
// cut copies moved to ~6% at the cost of more 4-node swarms.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "swarm/account.h"
#include "swarm/directory.h"

namespace onionswarm::swarm {

inline constexpr size_t kDefaultSwarmSize = 5;

struct Swarm {
  uint64_t id = 0;                      // swarm_anchor(index)
  std::vector<NodeDescriptor> members;  // sorted by ring position
};

uint64_t node_ring_position(const crypto::Ed25519PublicKey& pk);

// The ring position of swarm number index (its id).
uint64_t swarm_anchor(uint64_t index);

// Jump consistent hash: a bucket in [0, buckets) for key; buckets must be > 0.
size_t jump_bucket(uint64_t key, size_t buckets);

// Order of nodes does not matter; duplicates (same ed25519) count once.
// swarms[j] is swarm number j; members sorted by ring position.
std::vector<Swarm> compute_swarms(const std::vector<NodeDescriptor>& nodes,
                                  size_t target_size = kDefaultSwarmSize);

// Index into swarms of the swarm that serves account; swarms must be non-empty.
size_t swarm_index_for(const std::vector<Swarm>& swarms, const AccountId& account);

// The swarm containing the node with this X25519 key, if any.
std::optional<size_t> swarm_index_of_node(const std::vector<Swarm>& swarms,
                                          const crypto::X25519PublicKey& node);

}  // namespace onionswarm::swarm
