#include "swarm/directory.h"

#include <atomic>

namespace onionswarm::swarm {

std::optional<NodeDescriptor> Directory::find(const crypto::X25519PublicKey& pk) const {
  auto nodes = snapshot();
  for (const auto& n : *nodes)
    if (n.x25519 == pk) return n;
  return std::nullopt;
}

StaticDirectory::StaticDirectory(std::vector<NodeDescriptor> nodes)
    : nodes_(std::make_shared<const std::vector<NodeDescriptor>>(std::move(nodes))) {}

std::shared_ptr<const std::vector<NodeDescriptor>> StaticDirectory::snapshot() const {
  return std::atomic_load(&nodes_);
}

void StaticDirectory::replace(std::vector<NodeDescriptor> nodes) {
  std::atomic_store(&nodes_, std::shared_ptr<const std::vector<NodeDescriptor>>(
                                 std::make_shared<const std::vector<NodeDescriptor>>(std::move(nodes))));
}

}  // namespace onionswarm::swarm
