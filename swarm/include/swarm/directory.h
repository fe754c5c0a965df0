// Node descriptors and the directory: the set of nodes a node or client
// currently believes in. The directory is an interface so the static devnet
// (a network file) and the living network (gossip) can both stand behind it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "onion/crypto.h"

namespace onionswarm::swarm {

struct NodeDescriptor {
  crypto::Ed25519PublicKey ed25519;  // identity
  crypto::X25519PublicKey x25519;    // CURVE server key and onion layer key
  std::string address;               // ZeroMQ endpoint, e.g. "tcp://127.0.0.1:4500"
  // The operator whose endorsement of this node was verified
  // (swarm::verified_operator), for path diversity; set only by code that
  // verified it (the client's directory view), nullopt otherwise, including
  // in SignedDescriptor::node (the endorsement itself lives there).
  std::optional<crypto::Ed25519PublicKey> operator_key;

  friend bool operator==(const NodeDescriptor&, const NodeDescriptor&) = default;
};

// Thread safety: implementations are thread-safe; snapshot() returns an
// immutable copy that stays valid while the directory changes.
class Directory {
 public:
  virtual ~Directory() = default;
  // All nodes currently known, in no particular order.
  virtual std::shared_ptr<const std::vector<NodeDescriptor>> snapshot() const = 0;
  // The node whose X25519 key is pk, if known.
  virtual std::optional<NodeDescriptor> find(const crypto::X25519PublicKey& pk) const;
};

// A directory fixed at construction, replaceable as a whole (reload).
class StaticDirectory final : public Directory {
 public:
  explicit StaticDirectory(std::vector<NodeDescriptor> nodes);
  std::shared_ptr<const std::vector<NodeDescriptor>> snapshot() const override;
  void replace(std::vector<NodeDescriptor> nodes);

 private:
  mutable std::shared_ptr<const std::vector<NodeDescriptor>> nodes_;  // atomic load/store
};

}  // namespace onionswarm::swarm
