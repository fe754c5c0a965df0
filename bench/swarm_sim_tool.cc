// swarm_sim_tool: simulates the account -> swarm mapping (swarm/swarms.h) on a
// large synthetic network and reports swarm sizes and how much moves when
// nodes join or leave.
//
//   swarm_sim_tool [--nodes N=10000] [--accounts A=1000000] [--target T=5]
//                  [--churn PERCENT=1] [--seed S=1] [--json]
//
// Scenarios: the base network of N nodes; `join` adds N*PERCENT/100 new nodes;
// `leave` removes that many existing nodes. For each change it reports
//   - swarm sizes (min, median, max) after the change;
//   - account_swarm_moved: share of accounts whose swarm number changes;
//   - replicas_moved: share of account copies after the change held by a
//     node that did not hold that account before (data that must move);
//   - ideal: the least any mapping could move (the share of data that the
//     joining nodes must take over, or that the leaving nodes held);
// for the current mapping and, as a baseline, the previous one (nodes cut
// into n/target equal runs, each serving one of n/target equal ring arcs).
// Node keys and accounts are random from the seed; only positions matter.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "swarm/swarms.h"

namespace {

using namespace onionswarm;
using swarm::NodeDescriptor;
using swarm::Swarm;

struct Mapping {
  const char* name;
  std::vector<Swarm> (*compute)(const std::vector<NodeDescriptor>&, size_t);
  size_t (*index_for)(const std::vector<Swarm>&, uint64_t account_position);
};

// The previous mapping (before the rebalance change), kept here as a baseline.
std::vector<Swarm> baseline_swarms(const std::vector<NodeDescriptor>& nodes, size_t target) {
  std::vector<std::pair<uint64_t, const NodeDescriptor*>> ring;
  for (const auto& n : nodes) ring.emplace_back(swarm::node_ring_position(n.ed25519), &n);
  std::sort(ring.begin(), ring.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const size_t n = ring.size(), k = std::max<size_t>(1, n / target);
  std::vector<Swarm> swarms(k);
  for (size_t i = 0; i < k; ++i) {
    swarms[i].id = uint64_t((static_cast<unsigned __int128>(i) << 64) / k);
    for (size_t j = i * n / k; j < (i + 1) * n / k; ++j) swarms[i].members.push_back(*ring[j].second);
  }
  return swarms;
}
size_t baseline_index(const std::vector<Swarm>& swarms, uint64_t pos) {
  auto it = std::upper_bound(swarms.begin(), swarms.end(), pos, [](uint64_t p, const Swarm& s) { return p < s.id; });
  return it == swarms.begin() ? swarms.size() - 1 : size_t(it - swarms.begin() - 1);
}
std::vector<Swarm> current_swarms(const std::vector<NodeDescriptor>& nodes, size_t target) {
  return swarm::compute_swarms(nodes, target);
}
// swarm_index_for(swarms, account) is jump_bucket(ring_position(account), k);
// the simulation draws ring positions directly instead of account keys.
size_t current_index(const std::vector<Swarm>& swarms, uint64_t pos) { return swarm::jump_bucket(pos, swarms.size()); }

struct Sizes {
  size_t swarms = 0, min = 0, median = 0, max = 0;
};

struct Change {
  std::string scenario;
  Sizes sizes;
  double account_swarm_moved = 0, replicas_moved = 0, ideal = 0;
};

// Per-swarm member node numbers (node number = index in the universe list).
using Layout = std::vector<std::vector<uint32_t>>;

Layout layout_of(const std::vector<Swarm>& swarms, const std::unordered_map<uint64_t, uint32_t>& number) {
  Layout out(swarms.size());
  for (size_t i = 0; i < swarms.size(); ++i)
    for (const auto& m : swarms[i].members) out[i].push_back(number.at(swarm::node_ring_position(m.ed25519)));
  return out;
}

Sizes sizes_of(const Layout& l) {
  std::vector<size_t> s;
  for (const auto& m : l) s.push_back(m.size());
  std::sort(s.begin(), s.end());
  return {s.size(), s.front(), s[s.size() / 2], s.back()};
}

Change compare(const char* scenario, const Mapping& map, const std::vector<Swarm>& before_s, const Layout& before,
               const std::vector<Swarm>& after_s, const Layout& after, const std::vector<uint64_t>& accounts,
               double ideal) {
  Change c;
  c.scenario = scenario;
  c.sizes = sizes_of(after);
  c.ideal = ideal;
  uint64_t moved = 0, copies = 0, new_copies = 0;
  for (uint64_t pos : accounts) {
    size_t a = map.index_for(before_s, pos), b = map.index_for(after_s, pos);
    if (before_s[a].id != after_s[b].id) ++moved;
    for (uint32_t node : after[b]) {
      ++copies;
      if (std::find(before[a].begin(), before[a].end(), node) == before[a].end()) ++new_copies;
    }
  }
  c.account_swarm_moved = double(moved) / double(accounts.size());
  c.replicas_moved = double(new_copies) / double(copies);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  size_t nodes = 10000, accounts = 1000000, target = 5;
  double churn = 1.0;
  uint64_t seed = 1;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--nodes") nodes = std::strtoull(next(), nullptr, 10);
    else if (a == "--accounts") accounts = std::strtoull(next(), nullptr, 10);
    else if (a == "--target") target = std::strtoull(next(), nullptr, 10);
    else if (a == "--churn") churn = std::strtod(next(), nullptr);
    else if (a == "--seed") seed = std::strtoull(next(), nullptr, 10);
    else if (a == "--json") json = true;
    else {
      std::fprintf(stderr,
                   "usage: swarm_sim_tool [--nodes N=10000] [--accounts A=1000000] [--target T=5] "
                   "[--churn PERCENT=1] [--seed S=1] [--json]\n");
      return 2;
    }
  }
  const size_t delta = size_t(double(nodes) * churn / 100.0);
  if (nodes < 2 || nodes > 10'000'000 || accounts == 0 || accounts > 100'000'000 || target == 0 || delta == 0 ||
      delta >= nodes) {
    std::fprintf(stderr, "swarm_sim_tool: need 2 <= nodes <= 1e7, 0 < accounts <= 1e8, target > 0, "
                         "0 < nodes*churn/100 < nodes\n");
    return 2;
  }
  crypto::init();
  std::mt19937_64 rng(seed);
  // Universe: nodes + delta nodes; the base network is the first `nodes`.
  std::vector<NodeDescriptor> universe(nodes + delta);
  std::unordered_map<uint64_t, uint32_t> number;
  for (size_t i = 0; i < universe.size(); ++i) {
    Bytes key(32);
    for (auto& b : key) b = uint8_t(rng());
    universe[i].ed25519 = *crypto::Ed25519PublicKey::from(key);
    universe[i].x25519 = *crypto::X25519PublicKey::from(key);
    number[swarm::node_ring_position(universe[i].ed25519)] = uint32_t(i);
  }
  std::vector<uint64_t> acct(accounts);
  for (auto& a : acct) a = rng();
  std::vector<NodeDescriptor> base(universe.begin(), universe.begin() + long(nodes));
  std::vector<NodeDescriptor> joined = universe;
  std::vector<NodeDescriptor> left = base;
  std::shuffle(left.begin(), left.end(), rng);
  left.resize(nodes - delta);
  const double ideal_join = double(delta) / double(nodes + delta), ideal_leave = double(delta) / double(nodes);

  const Mapping maps[] = {{"current", current_swarms, current_index}, {"baseline", baseline_swarms, baseline_index}};
  std::vector<std::pair<const char*, std::vector<Change>>> results;
  for (const auto& m : maps) {
    auto s0 = m.compute(base, target), s1 = m.compute(joined, target), s2 = m.compute(left, target);
    auto l0 = layout_of(s0, number), l1 = layout_of(s1, number), l2 = layout_of(s2, number);
    Change b;
    b.scenario = "base";
    b.sizes = sizes_of(l0);
    results.push_back({m.name,
                       {b, compare("join", m, s0, l0, s1, l1, acct, ideal_join),
                        compare("leave", m, s0, l0, s2, l2, acct, ideal_leave)}});
  }
  if (json) {
    std::printf("{\"nodes\":%zu,\"accounts\":%zu,\"target\":%zu,\"churn_percent\":%g,\"changed_nodes\":%zu,"
                "\"seed\":%llu,\"mappings\":{",
                nodes, accounts, target, churn, delta, (unsigned long long)seed);
    for (size_t i = 0; i < results.size(); ++i) {
      std::printf("%s\"%s\":[", i ? "," : "", results[i].first);
      for (size_t j = 0; j < results[i].second.size(); ++j) {
        const auto& c = results[i].second[j];
        std::printf("%s{\"scenario\":\"%s\",\"swarms\":%zu,\"size_min\":%zu,\"size_median\":%zu,\"size_max\":%zu",
                    j ? "," : "", c.scenario.c_str(), c.sizes.swarms, c.sizes.min, c.sizes.median, c.sizes.max);
        if (c.scenario != "base")
          std::printf(",\"account_swarm_moved\":%.6f,\"replicas_moved\":%.6f,\"ideal\":%.6f", c.account_swarm_moved,
                      c.replicas_moved, c.ideal);
        std::printf("}");
      }
      std::printf("]");
    }
    std::printf("}}\n");
    return 0;
  }
  std::printf("%zu nodes, %zu accounts, target %zu, churn %g%% (%zu nodes), seed %llu\n\n", nodes, accounts, target,
              churn, delta, (unsigned long long)seed);
  std::printf("%-9s %-6s %7s %4s %6s %4s %14s %14s %8s\n", "mapping", "change", "swarms", "min", "median", "max",
              "accounts_moved", "replicas_moved", "ideal");
  for (const auto& [name, changes] : results)
    for (const auto& c : changes) {
      if (c.scenario == "base")
        std::printf("%-9s %-6s %7zu %4zu %6zu %4zu %14s %14s %8s\n", name, "none", c.sizes.swarms, c.sizes.min,
                    c.sizes.median, c.sizes.max, "-", "-", "-");
      else
        std::printf("%-9s %-6s %7zu %4zu %6zu %4zu %13.2f%% %13.2f%% %7.2f%%\n", name, c.scenario.c_str(),
                    c.sizes.swarms, c.sizes.min, c.sizes.median, c.sizes.max, 100 * c.account_swarm_moved,
                    100 * c.replicas_moved, 100 * c.ideal);
    }
  return 0;
}
