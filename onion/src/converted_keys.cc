#include "onion/converted_keys.h"

namespace onionswarm::crypto {

bool ConvertedKeys::derives(const Ed25519PublicKey& ed, const X25519PublicKey& x) {
  {
    std::lock_guard lock(mu_);
    if (auto it = converted_.find(ed); it != converted_.end()) return it->second == x;
  }
  auto derived = ed25519_to_x25519(ed);  // the slow part, outside the lock
  if (!derived.ok()) return false;
  std::lock_guard lock(mu_);
  if (converted_.size() >= capacity_) converted_.clear();
  converted_.emplace(ed, *derived);
  return *derived == x;
}

size_t ConvertedKeys::size() const {
  std::lock_guard lock(mu_);
  return converted_.size();
}

}  // namespace onionswarm::crypto
