// The account -> swarm mapping: a pure, deterministic function of the node
// list that nodes and clients compute alike.
//
// Each node has a ring position: the first 8 bytes (big-endian) of
// BLAKE2b-256(ed25519 public key). Nodes are sorted by position and cut into
// k = max(1, n / target_size) contiguous runs whose sizes differ by at most
// one; run i is swarm i. The 64-bit ring is cut into k equal arcs: swarm i's
// id is floor(i * 2^64 / k) and it covers the ring from its id up to
// (excluding) the id of swarm i+1 (the last swarm up to 2^64). An account
// belongs to the swarm covering ring_position(account), so every swarm
// serves the same share of the ring.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "swarm/account.h"
#include "swarm/directory.h"

namespace onionswarm::swarm {

inline constexpr size_t kDefaultSwarmSize = 5;

struct Swarm {
  uint64_t id = 0;
  std::vector<NodeDescriptor> members;  // sorted by ring position
};

uint64_t node_ring_position(const crypto::Ed25519PublicKey& pk);

// Order of nodes does not matter; duplicates (same ed25519) count once.
std::vector<Swarm> compute_swarms(const std::vector<NodeDescriptor>& nodes,
                                  size_t target_size = kDefaultSwarmSize);

// Index into swarms of the swarm that serves account; swarms must be non-empty.
size_t swarm_index_for(const std::vector<Swarm>& swarms, const AccountId& account);

// The swarm containing the node with this X25519 key, if any.
std::optional<size_t> swarm_index_of_node(const std::vector<Swarm>& swarms,
                                          const crypto::X25519PublicKey& node);

}  // namespace onionswarm::swarm
