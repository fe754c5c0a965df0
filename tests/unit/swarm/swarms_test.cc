#include "swarm/swarms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace onionswarm::swarm {
namespace {

// Node i: Ed25519 key from the seed (i, i>>8, 0...), its X25519 form, a fixed address.
NodeDescriptor node(uint32_t i) {
  crypto::init();
  Bytes seed(crypto::kSeedSize, 0);
  seed[0] = uint8_t(i);
  seed[1] = uint8_t(i >> 8);
  seed[2] = 0x5a;
  auto ed = crypto::Ed25519KeyPair::from_seed(seed);
  EXPECT_TRUE(ed.ok());
  NodeDescriptor d;
  d.ed25519 = ed->public_key();
  d.x25519 = ed->to_x25519().public_key();
  d.address = "tcp://127.0.0.1:" + std::to_string(20000 + i);
  return d;
}

std::vector<NodeDescriptor> nodes(uint32_t n) {
  std::vector<NodeDescriptor> v;
  for (uint32_t i = 0; i < n; ++i) v.push_back(node(i));
  return v;
}

// Account number i: a 05 account whose key is BLAKE2b-256 of i (deterministic, spread).
AccountId account(uint64_t i) {
  Bytes b;
  put_u64(b, i);
  return AccountId::user(*crypto::X25519PublicKey::from(crypto::hash(b).view()));
}

std::vector<std::string> addresses(const Swarm& s) {
  std::vector<std::string> out;
  for (const auto& m : s.members) out.push_back(m.address);
  return out;
}

void expect_same_swarms(const std::vector<Swarm>& a, const std::vector<Swarm>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id) << "swarm " << i;
    EXPECT_EQ(a[i].members, b[i].members) << "swarm " << i;
  }
}

TEST(ComputeSwarms, EmptyDirectoryGivesNoSwarms) { EXPECT_TRUE(compute_swarms({}).empty()); }

TEST(ComputeSwarms, SameResultWhateverTheInputOrder) {
  auto v = nodes(53);
  auto want = compute_swarms(v);
  std::mt19937 rng(12345);
  for (int round = 0; round < 10; ++round) {
    std::shuffle(v.begin(), v.end(), rng);
    expect_same_swarms(compute_swarms(v), want);
  }
}

TEST(ComputeSwarms, DuplicatesCountOnce) {
  auto v = nodes(23);
  auto want = compute_swarms(v);
  auto doubled = v;
  doubled.insert(doubled.end(), v.begin(), v.end());
  doubled.push_back(v[3]);
  std::mt19937 rng(7);
  std::shuffle(doubled.begin(), doubled.end(), rng);
  expect_same_swarms(compute_swarms(doubled), want);
}

TEST(ComputeSwarms, DuplicateKeysWithDifferentAddressesResolveIndependentlyOfOrder) {
  // Two descriptors claim the same Ed25519 key; which one is kept must not
  // depend on the order the directory lists them in.
  auto v = nodes(12);
  NodeDescriptor other = v[4];
  other.address = "tcp://127.0.0.1:1";
  auto a = v;
  a.push_back(other);
  auto b = v;
  b.insert(b.begin(), other);
  auto sa = compute_swarms(a), sb = compute_swarms(b);
  expect_same_swarms(sa, sb);
  size_t total = 0;
  for (const auto& s : sa) total += s.members.size();
  EXPECT_EQ(total, 12u);
  std::mt19937 rng(99);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(a.begin(), a.end(), rng);
    expect_same_swarms(compute_swarms(a), sa);
  }
}

TEST(ComputeSwarms, FewerNodesThanTargetGiveOneSwarm) {
  for (uint32_t n = 1; n < kDefaultSwarmSize; ++n) {
    auto s = compute_swarms(nodes(n));
    ASSERT_EQ(s.size(), 1u) << n;
    EXPECT_EQ(s[0].members.size(), n);
  }
}

TEST(ComputeSwarms, SizesStayWithinTargetAndTwiceTargetMinusOne) {
  auto all = nodes(200);
  for (size_t target : {size_t(5), size_t(3), size_t(7)}) {
    for (uint32_t n = uint32_t(target); n <= 200; ++n) {
      std::vector<NodeDescriptor> v(all.begin(), all.begin() + n);
      auto swarms = compute_swarms(v, target);
      ASSERT_FALSE(swarms.empty());
      EXPECT_EQ(swarms.size(), n / target) << "n=" << n;
      for (const auto& s : swarms) {
        EXPECT_GE(s.members.size(), target) << "n=" << n;
        EXPECT_LE(s.members.size(), 2 * target - 1) << "n=" << n;
      }
    }
  }
}

TEST(ComputeSwarms, EveryNodeIsInExactlyOneSwarm) {
  for (uint32_t n : {1u, 5u, 9u, 10u, 11u, 57u, 120u}) {
    auto v = nodes(n);
    auto swarms = compute_swarms(v);
    std::map<std::string, int> seen;
    for (const auto& s : swarms)
      for (const auto& m : s.members) ++seen[m.address];
    ASSERT_EQ(seen.size(), n);
    for (const auto& [addr, count] : seen) EXPECT_EQ(count, 1) << addr;
  }
}

TEST(ComputeSwarms, MembersAreContiguousRunsInRingOrder) {
  auto swarms = compute_swarms(nodes(40));
  uint64_t prev = 0;
  bool first = true;
  for (const auto& s : swarms) {
    ASSERT_FALSE(s.members.empty());
    for (const auto& m : s.members) {
      uint64_t p = node_ring_position(m.ed25519);
      if (!first) {
        EXPECT_GT(p, prev);
      }
      prev = p;
      first = false;
    }
  }
}

TEST(ComputeSwarms, SwarmIdsCutTheRingIntoEqualArcs) {
  auto swarms = compute_swarms(nodes(40));
  ASSERT_EQ(swarms.size(), 8u);
  for (size_t i = 0; i < swarms.size(); ++i) EXPECT_EQ(swarms[i].id, uint64_t(i) << 61) << i;
  auto three = compute_swarms(nodes(15));
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].id, 0u);
  EXPECT_EQ(three[1].id, 0x5555555555555555ULL);
  EXPECT_EQ(three[2].id, 0xAAAAAAAAAAAAAAAAULL);
}

TEST(ComputeSwarms, ZeroTargetIsTreatedAsOne) {
  auto swarms = compute_swarms(nodes(4), 0);
  EXPECT_EQ(swarms.size(), 4u);
}

TEST(SwarmIndexFor, AccountsSpreadEvenlyOverOneHundredSwarms) {
  auto swarms = compute_swarms(nodes(100 * kDefaultSwarmSize));
  ASSERT_EQ(swarms.size(), 100u);
  constexpr uint64_t kAccounts = 100'000;
  std::vector<uint64_t> counts(swarms.size(), 0);
  for (uint64_t i = 0; i < kAccounts; ++i) ++counts[swarm_index_for(swarms, account(i))];
  const double mean = double(kAccounts) / double(swarms.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    EXPECT_GE(double(counts[i]), 0.3 * mean) << "swarm " << i;
    EXPECT_LE(double(counts[i]), 3.0 * mean) << "swarm " << i;
  }
}

TEST(SwarmIndexFor, IsStableAcrossCalls) {
  auto swarms = compute_swarms(nodes(30));
  for (uint64_t i = 0; i < 200; ++i) {
    size_t a = swarm_index_for(swarms, account(i));
    size_t b = swarm_index_for(swarms, account(i));
    EXPECT_EQ(a, b);
    ASSERT_LT(a, swarms.size());
  }
}

TEST(SwarmIndexFor, PicksLastSwarmWhoseIdIsAtOrBelowPositionAndWraps) {
  auto swarms = compute_swarms(nodes(30));
  ASSERT_GE(swarms.size(), 2u);
  for (uint64_t i = 0; i < 500; ++i) {
    const AccountId a = account(i);
    const uint64_t pos = ring_position(a);
    size_t want = swarms.size() - 1;  // before the first id: wraps to the last swarm
    for (size_t j = 0; j < swarms.size(); ++j)
      if (swarms[j].id <= pos) want = j;
    EXPECT_EQ(swarm_index_for(swarms, a), want);
  }
}

TEST(SwarmIndexFor, SingleSwarmServesEveryAccount) {
  auto swarms = compute_swarms(nodes(3));
  for (uint64_t i = 0; i < 50; ++i) EXPECT_EQ(swarm_index_for(swarms, account(i)), 0u);
}

TEST(SwarmIndexOfNode, FindsTheSwarmHoldingTheNode) {
  auto v = nodes(27);
  auto swarms = compute_swarms(v);
  for (const auto& n : v) {
    auto i = swarm_index_of_node(swarms, n.x25519);
    ASSERT_TRUE(i.has_value());
    auto addrs = addresses(swarms[*i]);
    EXPECT_NE(std::find(addrs.begin(), addrs.end(), n.address), addrs.end());
  }
  EXPECT_FALSE(swarm_index_of_node(swarms, node(999).x25519).has_value());
  EXPECT_FALSE(swarm_index_of_node({}, v[0].x25519).has_value());
}

TEST(NodeRingPosition, IsFirstEightBytesOfKeyHash) {
  auto n = node(1);
  auto h = crypto::hash(n.ed25519.view());
  EXPECT_EQ(node_ring_position(n.ed25519), get_u64(h.data()));
}

}  // namespace
}  // namespace onionswarm::swarm
