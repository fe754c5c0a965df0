#include "client/paths.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace onionswarm::client {
namespace {

using swarm::NodeDescriptor;
using Keys = std::vector<crypto::X25519PublicKey>;

bool contains(const Keys& keys, const crypto::X25519PublicKey& k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

// Nodes with distinct x25519 keys (a directory may list a node twice).
std::vector<NodeDescriptor> distinct(const std::vector<NodeDescriptor>& nodes) {
  std::vector<NodeDescriptor> out;
  out.reserve(nodes.size());
  for (const auto& n : nodes) {
    bool dup = std::any_of(out.begin(), out.end(),
                           [&](const NodeDescriptor& o) { return o.x25519 == n.x25519; });
    if (!dup) out.push_back(n);
  }
  return out;
}

// Picks from the first non-empty candidate set, in order of preference.
// Each set is `pool` filtered by a predicate; the last set is the
// must-have rule alone.
template <typename... Preds>
std::optional<NodeDescriptor> pick_preferring(const std::vector<NodeDescriptor>& pool,
                                              const Random& rng, Preds... preds) {
  std::optional<NodeDescriptor> chosen;
  auto try_one = [&](const auto& pred) {
    if (chosen) return;
    std::vector<const NodeDescriptor*> candidates;
    for (const auto& n : pool) {
      if (pred(n)) candidates.push_back(&n);
    }
    if (!candidates.empty()) chosen = *candidates[random_index(rng, candidates.size())];
  };
  (try_one(preds), ...);
  return chosen;
}

}  // namespace

std::string network_family(std::string_view address) {
  constexpr std::string_view kScheme = "tcp://";
  std::string_view rest = address.starts_with(kScheme) ? address.substr(kScheme.size()) : address;
  size_t colon = rest.rfind(':');
  std::string host(colon == std::string_view::npos ? rest : rest.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr a6{};
    if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6) == 1) {
      char out[16];
      std::snprintf(out, sizeof out, "6:%02x%02x%02x%02x", a6.s6_addr[0], a6.s6_addr[1], a6.s6_addr[2], a6.s6_addr[3]);
      return out;
    }
  }
  in_addr a4{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    const auto* b = reinterpret_cast<const uint8_t*>(&a4.s_addr);
    return "4:" + std::to_string(b[0]) + "." + std::to_string(b[1]);
  }
  return "name:" + host;  // unresolved: its own family
}

Random secure_random() {
  return [] {
    uint8_t b[8];
    crypto::random_fill(b, sizeof b);
    return get_u64(b);
  };
}

size_t random_index(const Random& rng, size_t n) {
  // Multiply-shift maps 64 random bits onto [0, n); the bias is below
  // n / 2^64, negligible for any directory size.
  unsigned __int128 wide = static_cast<unsigned __int128>(rng()) * n;
  return static_cast<size_t>(wide >> 64);
}

Result<NodeDescriptor> choose_guard(const std::vector<NodeDescriptor>& nodes,
                                    const std::optional<crypto::X25519PublicKey>& kept,
                                    bool kept_failed, const Random& rng, const Keys& failed) {
  const auto pool = distinct(nodes);
  if (pool.empty()) return error(Code::kUnavailable, "the directory has no nodes");
  if (kept && !kept_failed) {
    for (const auto& n : pool) {
      if (n.x25519 == *kept) return n;
    }
  }
  auto not_kept = [&](const NodeDescriptor& n) { return !kept || n.x25519 != *kept; };
  auto chosen = pick_preferring(
      pool, rng, [&](const NodeDescriptor& n) { return not_kept(n) && !contains(failed, n.x25519); }, not_kept,
      [](const NodeDescriptor&) { return true; });
  return *chosen;
}

Result<Path> choose_path(const std::vector<NodeDescriptor>& nodes, const NodeDescriptor& guard,
                         const Keys& avoid, const Keys& failed, const Random& rng) {
  auto pool = distinct(nodes);
  std::erase_if(pool, [&](const NodeDescriptor& n) { return n.x25519 == guard.x25519; });
  if (pool.size() < 2) {
    return error(Code::kUnavailable, "a path needs at least three nodes in the directory");
  }
  auto clean = [&](const NodeDescriptor& n) {
    return !contains(avoid, n.x25519) && !contains(failed, n.x25519);
  };
  // A node that just failed is worse than one in the target swarm.
  auto not_failed = [&](const NodeDescriptor& n) { return !contains(failed, n.x25519); };
  auto not_in_swarm = [&](const NodeDescriptor& n) { return !contains(avoid, n.x25519); };
  auto any = [](const NodeDescriptor&) { return true; };
  // No two relays under one operator key, then none in one network family
  // (/16, /32), when avoidable; the family rule gives way first, then the
  // operator rule, then the others.
  std::vector<std::string> families = {network_family(guard.address)};
  std::vector<crypto::Ed25519PublicKey> operators;
  auto note_operator = [&](const NodeDescriptor& n) {
    if (n.operator_key) operators.push_back(*n.operator_key);
  };
  note_operator(guard);
  auto other_operator = [&](const NodeDescriptor& n) {
    return !n.operator_key || std::find(operators.begin(), operators.end(), *n.operator_key) == operators.end();
  };
  auto other_family = [&](const NodeDescriptor& n) {
    return std::find(families.begin(), families.end(), network_family(n.address)) == families.end();
  };
  auto diverse_clean = [&](const NodeDescriptor& n) { return clean(n) && other_operator(n) && other_family(n); };
  auto operator_clean = [&](const NodeDescriptor& n) { return clean(n) && other_operator(n); };

  Path path;
  path.guard = guard;
  path.middle = *pick_preferring(pool, rng, diverse_clean, operator_clean, clean, not_failed, not_in_swarm, any);
  families.push_back(network_family(path.middle.address));
  note_operator(path.middle);
  std::erase_if(pool, [&](const NodeDescriptor& n) { return n.x25519 == path.middle.x25519; });
  path.exit = *pick_preferring(pool, rng, diverse_clean, operator_clean, clean, not_failed, not_in_swarm, any);
  return path;
}

bool path_should_avoid(const Path& path, const std::vector<NodeDescriptor>& nodes,
                       const Keys& avoid) {
  bool in_swarm = contains(avoid, path.middle.x25519) || contains(avoid, path.exit.x25519);
  if (!in_swarm) return false;
  size_t outside = 0;
  for (const auto& n : distinct(nodes)) {
    if (n.x25519 != path.guard.x25519 && !contains(avoid, n.x25519)) ++outside;
  }
  return outside >= 2;
}

Result<NodeDescriptor> choose_destination(const swarm::Swarm& target,
                                          const std::optional<Path>& path, const Keys& failed,
                                          const Random& rng) {
  const auto pool = distinct(target.members);
  if (pool.empty()) return error(Code::kUnavailable, "the target swarm has no members");
  auto on_path = [&](const NodeDescriptor& n) {
    return path && (n.x25519 == path->guard.x25519 || n.x25519 == path->middle.x25519 ||
                    n.x25519 == path->exit.x25519);
  };
  auto off_path = [&](const NodeDescriptor& n) { return !on_path(n); };
  auto clean = [&](const NodeDescriptor& n) { return !on_path(n) && !contains(failed, n.x25519); };
  auto not_failed = [&](const NodeDescriptor& n) { return !contains(failed, n.x25519); };
  auto any = [](const NodeDescriptor&) { return true; };
  return *pick_preferring(pool, rng, clean, off_path, not_failed, any);
}

Keys member_keys(const swarm::Swarm& swarm) {
  Keys keys;
  keys.reserve(swarm.members.size());
  for (const auto& m : swarm.members) keys.push_back(m.x25519);
  return keys;
}

}  // namespace onionswarm::client
