#include "client/paths.h"

#include <algorithm>
#include <random>
#include <set>

#include <gtest/gtest.h>

namespace onionswarm::client {
namespace {

using swarm::NodeDescriptor;

NodeDescriptor node(uint8_t i) {
  NodeDescriptor n;
  n.ed25519.bytes.fill(i);
  n.x25519.bytes.fill(uint8_t(i + 100));
  n.address = "tcp://127.0.0.1:" + std::to_string(4500 + i);
  return n;
}

std::vector<NodeDescriptor> nodes(uint8_t count) {
  std::vector<NodeDescriptor> out;
  for (uint8_t i = 0; i < count; ++i) out.push_back(node(i));
  return out;
}

Random seeded(uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine] { return (*engine)(); };
}

swarm::Swarm swarm_of(std::vector<NodeDescriptor> members) {
  swarm::Swarm s;
  s.members = std::move(members);
  return s;
}

TEST(Paths, RandomIndexStaysInRange) {
  auto rng = seeded(1);
  for (size_t n : {1u, 2u, 3u, 7u, 1000u}) {
    for (int i = 0; i < 200; ++i) EXPECT_LT(random_index(rng, n), n);
  }
  Random max = [] { return ~uint64_t(0); };
  EXPECT_EQ(random_index(max, 10), 9u);
  Random zero = [] { return uint64_t(0); };
  EXPECT_EQ(random_index(zero, 10), 0u);
}

TEST(Paths, GuardIsKeptWhileInDirectory) {
  auto all = nodes(10);
  auto rng = seeded(2);
  for (int i = 0; i < 20; ++i) {
    auto g = choose_guard(all, all[7].x25519, false, rng);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->x25519, all[7].x25519);
  }
}

TEST(Paths, GuardIsReplacedWhenFailedOrGone) {
  auto all = nodes(10);
  auto rng = seeded(3);
  for (int i = 0; i < 50; ++i) {
    auto g = choose_guard(all, all[7].x25519, true, rng);
    ASSERT_TRUE(g.ok());
    EXPECT_NE(g->x25519, all[7].x25519);
  }
  auto gone = node(42).x25519;
  auto g = choose_guard(all, gone, false, rng);
  ASSERT_TRUE(g.ok());
  EXPECT_NE(g->x25519, gone);
}

TEST(Paths, FailedGuardIsReusedOnlyWhenItIsTheOnlyNode) {
  auto one = nodes(1);
  auto rng = seeded(4);
  auto g = choose_guard(one, one[0].x25519, true, rng);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->x25519, one[0].x25519);
  EXPECT_EQ(choose_guard({}, std::nullopt, false, rng).status().code(), Code::kUnavailable);
}

TEST(Paths, NewGuardAvoidsOtherFailedNodesWhenPossible) {
  auto all = nodes(5);
  const std::vector<crypto::X25519PublicKey> failed = {all[1].x25519, all[2].x25519, all[3].x25519};
  for (uint64_t seed = 0; seed < 30; ++seed) {
    auto rng = seeded(seed);
    auto g = choose_guard(all, all[0].x25519, true, rng, failed);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->x25519, all[4].x25519) << "seed " << seed;
  }
  // A kept guard that did not fail stays, whatever else failed.
  auto rng = seeded(1);
  EXPECT_EQ(choose_guard(all, all[1].x25519, false, rng, failed)->x25519, all[1].x25519);
  // Everything failed: still a guard other than the failed kept one.
  auto g = choose_guard(all, all[0].x25519, true, rng, {all[1].x25519, all[2].x25519, all[3].x25519, all[4].x25519});
  ASSERT_TRUE(g.ok());
  EXPECT_NE(g->x25519, all[0].x25519);
}

TEST(Paths, GuardChoiceIsDeterministicForSeed) {
  auto all = nodes(20);
  auto a = seeded(99), b = seeded(99);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(choose_guard(all, std::nullopt, false, a)->x25519,
              choose_guard(all, std::nullopt, false, b)->x25519);
  }
}

TEST(Paths, RelaysAreDistinctAndNotInTargetSwarm) {
  auto all = nodes(10);
  std::vector<crypto::X25519PublicKey> avoid;
  for (int i = 5; i < 10; ++i) avoid.push_back(all[i].x25519);
  auto rng = seeded(5);
  std::set<crypto::X25519PublicKey> middles;
  for (int i = 0; i < 100; ++i) {
    auto p = choose_path(all, all[0], avoid, {}, rng);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->guard, all[0]);
    EXPECT_NE(p->middle.x25519, p->guard.x25519);
    EXPECT_NE(p->exit.x25519, p->guard.x25519);
    EXPECT_NE(p->middle.x25519, p->exit.x25519);
    EXPECT_EQ(std::count(avoid.begin(), avoid.end(), p->middle.x25519), 0);
    EXPECT_EQ(std::count(avoid.begin(), avoid.end(), p->exit.x25519), 0);
    middles.insert(p->middle.x25519);
    EXPECT_FALSE(path_should_avoid(*p, all, avoid));
  }
  EXPECT_EQ(middles.size(), 4u);  // every allowed node gets picked (random, not fixed)
}

TEST(Paths, TargetSwarmIsUsedWhenUnavoidable) {
  auto all = nodes(4);
  std::vector<crypto::X25519PublicKey> avoid = {all[1].x25519, all[2].x25519, all[3].x25519};
  auto rng = seeded(6);
  auto p = choose_path(all, all[0], avoid, {}, rng);
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->middle.x25519, p->exit.x25519);
  EXPECT_FALSE(path_should_avoid(*p, all, avoid));
}

TEST(Paths, PathShouldAvoidWhenAlternativesExist) {
  auto all = nodes(10);
  Path p{all[0], all[6], all[1]};
  EXPECT_TRUE(path_should_avoid(p, all, {all[6].x25519}));
  EXPECT_FALSE(path_should_avoid(p, all, {all[9].x25519}));
}

TEST(Paths, FailedNodesAreAvoidedWhenPossible) {
  auto all = nodes(6);
  std::vector<crypto::X25519PublicKey> failed = {all[1].x25519, all[2].x25519, all[3].x25519};
  auto rng = seeded(7);
  for (int i = 0; i < 50; ++i) {
    auto p = choose_path(all, all[0], {}, failed, rng);
    ASSERT_TRUE(p.ok());
    std::set<crypto::X25519PublicKey> got = {p->middle.x25519, p->exit.x25519};
    EXPECT_EQ(got, (std::set<crypto::X25519PublicKey>{all[4].x25519, all[5].x25519}));
  }
}

TEST(Paths, FailedNodesAreAvoidedBeforeTargetSwarm) {
  auto all = nodes(6);
  // Outside the swarm only failed nodes remain: take swarm members instead.
  std::vector<crypto::X25519PublicKey> avoid = {all[3].x25519, all[4].x25519, all[5].x25519};
  std::vector<crypto::X25519PublicKey> failed = {all[1].x25519, all[2].x25519};
  auto rng = seeded(11);
  for (int i = 0; i < 50; ++i) {
    auto p = choose_path(all, all[0], avoid, failed, rng);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(std::count(failed.begin(), failed.end(), p->middle.x25519), 0);
    EXPECT_EQ(std::count(failed.begin(), failed.end(), p->exit.x25519), 0);
  }
}

TEST(Paths, PathNeedsThreeDistinctNodes) {
  auto rng = seeded(8);
  auto two = nodes(2);
  EXPECT_EQ(choose_path(two, two[0], {}, {}, rng).status().code(), Code::kUnavailable);
  auto dup = nodes(3);
  dup[2] = dup[1];
  EXPECT_EQ(choose_path(dup, dup[0], {}, {}, rng).status().code(), Code::kUnavailable);
  EXPECT_TRUE(choose_path(nodes(3), node(0), {}, {}, rng).ok());
}

TEST(Paths, DestinationIsSwarmMemberOffPath) {
  auto all = nodes(10);
  auto target = swarm_of({all[3], all[4], all[5]});
  Path p{all[3], all[4], all[7]};
  auto rng = seeded(9);
  for (int i = 0; i < 30; ++i) {
    auto d = choose_destination(target, p, {}, rng);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->x25519, all[5].x25519);
  }
}

TEST(Paths, DestinationAvoidsFailedAndCoversSwarm) {
  auto all = nodes(10);
  auto target = swarm_of({all[5], all[6], all[7], all[8], all[9]});
  auto rng = seeded(10);
  std::set<crypto::X25519PublicKey> seen;
  for (int i = 0; i < 200; ++i) {
    auto d = choose_destination(target, std::nullopt, {all[9].x25519}, rng);
    ASSERT_TRUE(d.ok());
    EXPECT_NE(d->x25519, all[9].x25519);
    seen.insert(d->x25519);
  }
  EXPECT_EQ(seen.size(), 4u);
  // Only failed members left: still answers (a retry may work).
  auto lone = swarm_of({all[9]});
  EXPECT_TRUE(choose_destination(lone, std::nullopt, {all[9].x25519}, rng).ok());
  EXPECT_EQ(choose_destination(swarm_of({}), std::nullopt, {}, rng).status().code(),
            Code::kUnavailable);
}

}  // namespace
}  // namespace onionswarm::client

namespace onionswarm::client {
namespace {

TEST(PathFamilies, NetworkFamilyIsTheIpv4Slash16OrIpv6Slash32) {
  EXPECT_EQ(network_family("tcp://198.18.7.9:4500"), "4:198.18");
  EXPECT_EQ(network_family("tcp://198.18.200.1:1"), network_family("tcp://198.18.7.9:4500"));
  EXPECT_NE(network_family("tcp://198.19.7.9:4500"), network_family("tcp://198.18.7.9:4500"));
  EXPECT_EQ(network_family("tcp://[2001:db8::1]:4500"), "6:20010db8");
  EXPECT_EQ(network_family("tcp://[2001:db8:ffff::2]:1"), network_family("tcp://[2001:db8::1]:4500"));
  EXPECT_NE(network_family("tcp://[2001:db9::1]:1"), network_family("tcp://[2001:db8::1]:4500"));
  EXPECT_EQ(network_family("tcp://node.example.org:4500"), "name:node.example.org");
}

NodeDescriptor at(uint8_t i, const std::string& host) {
  NodeDescriptor n = node(i);
  n.address = "tcp://" + host + ":4500";
  return n;
}

TEST(PathFamilies, RelaysComeFromThreeFamiliesWhenAvoidable) {
  // Two /16s crowded with nodes, one more /16 and one IPv6 /32 with one node each.
  std::vector<NodeDescriptor> all;
  for (uint8_t i = 0; i < 8; ++i) all.push_back(at(i, "198.18.0." + std::to_string(i + 1)));
  for (uint8_t i = 8; i < 16; ++i) all.push_back(at(i, "198.19.0." + std::to_string(i + 1)));
  all.push_back(at(16, "10.1.0.1"));
  all.push_back(at(17, "[2001:db8::1]"));
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto rng = seeded(seed);
    auto p = choose_path(all, all[0], {}, {}, rng);
    ASSERT_TRUE(p.ok());
    std::set<std::string> families = {network_family(p->guard.address), network_family(p->middle.address),
                                      network_family(p->exit.address)};
    EXPECT_EQ(families.size(), 3u) << "seed " << seed;
  }
}

TEST(PathFamilies, OneFamilyRelaxesTheRule) {
  auto all = nodes(5);  // all on 127.0.0.1
  auto rng = seeded(3);
  auto p = choose_path(all, all[0], {}, {}, rng);
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->middle.x25519, p->exit.x25519);
  EXPECT_NE(p->middle.x25519, p->guard.x25519);
}

TEST(PathFamilies, FailedNodesAreAvoidedBeforeFamilies) {
  std::vector<NodeDescriptor> all = {at(0, "198.18.0.1"), at(1, "198.18.0.2"), at(2, "198.18.0.3"),
                                     at(3, "198.19.0.1")};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto rng = seeded(seed);
    auto p = choose_path(all, all[0], {}, {all[3].x25519}, rng);
    ASSERT_TRUE(p.ok());
    EXPECT_NE(p->middle.x25519, all[3].x25519);
    EXPECT_NE(p->exit.x25519, all[3].x25519);
  }
}

NodeDescriptor run_by(NodeDescriptor n, uint8_t op) {
  crypto::Ed25519PublicKey k;
  k.bytes.fill(uint8_t(200 + op));
  n.operator_key = k;
  return n;
}

TEST(PathOperators, NoTwoRelaysUnderOneOperatorWhenAvoidable) {
  // Operator A runs eight nodes, B and C one each; all on loopback (one
  // family), so only the operator rule separates them.
  std::vector<NodeDescriptor> all;
  for (uint8_t i = 0; i < 8; ++i) all.push_back(run_by(node(i), 0));
  all.push_back(run_by(node(8), 1));
  all.push_back(run_by(node(9), 2));
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto rng = seeded(seed);
    auto p = choose_path(all, all[0], {}, {}, rng);
    ASSERT_TRUE(p.ok());
    std::set<crypto::Ed25519PublicKey> ops = {*p->guard.operator_key, *p->middle.operator_key,
                                              *p->exit.operator_key};
    EXPECT_EQ(ops.size(), 3u) << "seed " << seed;
  }
}

TEST(PathOperators, NodesWithoutAnOperatorCountAsDistinct) {
  // The guard and four others run by operator A, two nodes with no endorsement.
  std::vector<NodeDescriptor> all;
  for (uint8_t i = 0; i < 5; ++i) all.push_back(run_by(node(i), 0));
  all.push_back(node(5));
  all.push_back(node(6));
  for (uint64_t seed = 0; seed < 100; ++seed) {
    auto rng = seeded(seed);
    auto p = choose_path(all, all[0], {}, {}, rng);
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->middle.operator_key) << "seed " << seed;
    EXPECT_FALSE(p->exit.operator_key) << "seed " << seed;
  }
}

TEST(PathOperators, OneOperatorRelaxesTheRule) {
  std::vector<NodeDescriptor> all;
  for (uint8_t i = 0; i < 4; ++i) all.push_back(run_by(node(i), 0));
  auto rng = seeded(5);
  auto p = choose_path(all, all[0], {}, {}, rng);
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->middle.x25519, p->exit.x25519);
  EXPECT_NE(p->middle.x25519, p->guard.x25519);
}

TEST(PathOperators, OperatorRuleOutranksTheFamilyRule) {
  // B's node shares the guard's /16; A's other nodes are in other /16s.
  // Operator diversity wins over family diversity: the middle or exit is B's.
  std::vector<NodeDescriptor> all = {run_by(at(0, "198.18.0.1"), 0), run_by(at(1, "198.19.0.1"), 0),
                                     run_by(at(2, "198.20.0.1"), 0), run_by(at(3, "198.18.0.2"), 1)};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto rng = seeded(seed);
    auto p = choose_path(all, all[0], {}, {}, rng);
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(p->middle.x25519 == all[3].x25519 || p->exit.x25519 == all[3].x25519) << "seed " << seed;
  }
}

TEST(PathOperators, OperatorRuleGivesWayToTheTargetSwarmRule) {
  // The only node of another operator is in the target swarm: avoided.
  std::vector<NodeDescriptor> all;
  for (uint8_t i = 0; i < 5; ++i) all.push_back(run_by(node(i), 0));
  all.push_back(run_by(node(5), 1));
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto rng = seeded(seed);
    auto p = choose_path(all, all[0], {all[5].x25519}, {}, rng);
    ASSERT_TRUE(p.ok());
    EXPECT_NE(p->middle.x25519, all[5].x25519);
    EXPECT_NE(p->exit.x25519, all[5].x25519);
  }
}

}  // namespace
}  // namespace onionswarm::client
