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

TEST(ComputeSwarms, SizesStayWithinOneOfTheMean) {
  auto all = nodes(200);
  for (size_t target : {size_t(5), size_t(3), size_t(7)}) {
    for (uint32_t n = uint32_t(target); n <= 200; ++n) {
      std::vector<NodeDescriptor> v(all.begin(), all.begin() + n);
      auto swarms = compute_swarms(v, target);
      ASSERT_EQ(swarms.size(), n / target) << "n=" << n;
      const size_t q = n / swarms.size();
      for (const auto& s : swarms) {
        if (swarms.size() > 1) {
          EXPECT_GE(s.members.size(), std::max<size_t>(1, q - 1)) << "n=" << n;
        }
        EXPECT_LE(s.members.size(), swarms.size() > 1 ? q + 1 : n) << "n=" << n;
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

TEST(ComputeSwarms, MembersAreSortedAndSwarmsAreContiguousArcsOfTheNodeRing) {
  auto v = nodes(97);
  auto swarms = compute_swarms(v);
  ASSERT_EQ(swarms.size(), 19u);
  std::vector<std::pair<uint64_t, size_t>> ring;  // (node position, swarm index)
  for (size_t i = 0; i < swarms.size(); ++i) {
    for (size_t j = 1; j < swarms[i].members.size(); ++j)
      EXPECT_LT(node_ring_position(swarms[i].members[j - 1].ed25519), node_ring_position(swarms[i].members[j].ed25519));
    for (const auto& m : swarms[i].members) ring.emplace_back(node_ring_position(m.ed25519), i);
  }
  std::sort(ring.begin(), ring.end());
  // Walking round the ring, the swarm changes exactly once per swarm.
  size_t changes = 0;
  for (size_t i = 0; i < ring.size(); ++i)
    if (ring[i].second != ring[(i + 1) % ring.size()].second) ++changes;
  EXPECT_EQ(changes, swarms.size());
}

TEST(ComputeSwarms, SwarmIdsAreBitReversedIndicesIndependentOfNodeCount) {
  EXPECT_EQ(swarm_anchor(0), 0u);
  EXPECT_EQ(swarm_anchor(1), 0x8000000000000000ULL);
  EXPECT_EQ(swarm_anchor(2), 0x4000000000000000ULL);
  EXPECT_EQ(swarm_anchor(3), 0xC000000000000000ULL);
  EXPECT_EQ(swarm_anchor(6), 0x6000000000000000ULL);
  auto small = compute_swarms(nodes(40)), large = compute_swarms(nodes(63));
  ASSERT_EQ(small.size(), 8u);
  ASSERT_EQ(large.size(), 12u);
  for (size_t i = 0; i < large.size(); ++i) {
    EXPECT_EQ(large[i].id, swarm_anchor(i));
    if (i < small.size()) {
      EXPECT_EQ(small[i].id, large[i].id);
    }
  }
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

TEST(SwarmIndexFor, IsJumpBucketOfTheAccountRingPosition) {
  auto swarms = compute_swarms(nodes(30));
  for (uint64_t i = 0; i < 500; ++i)
    EXPECT_EQ(swarm_index_for(swarms, account(i)), jump_bucket(ring_position(account(i)), swarms.size()));
}

TEST(JumpBucket, MatchesReferenceVectors) {
  // Computed independently (Python, IEEE doubles) from the formula in docs/PROTOCOL.md.
  EXPECT_EQ(jump_bucket(0, 1), 0u);
  EXPECT_EQ(jump_bucket(0, 10), 0u);
  EXPECT_EQ(jump_bucket(1, 10), 6u);
  EXPECT_EQ(jump_bucket(0xdeadbeefcafebabeULL, 100), 89u);
  EXPECT_EQ(jump_bucket(0xffffffffffffffffULL, 2000), 1921u);
  EXPECT_EQ(jump_bucket(12345678901234567ULL, 7), 5u);
  EXPECT_EQ(jump_bucket(0x0123456789abcdefULL, 1000000), 352229u);
}

TEST(JumpBucket, GrowingByOneBucketMovesKeysOnlyIntoTheNewBucket) {
  std::mt19937_64 rng(3);
  for (size_t k = 1; k < 60; ++k) {
    size_t moved = 0;
    for (int i = 0; i < 2000; ++i) {
      uint64_t key = rng();
      size_t before = jump_bucket(key, k), after = jump_bucket(key, k + 1);
      ASSERT_LT(before, k);
      if (before != after) {
        EXPECT_EQ(after, k);
        ++moved;
      }
    }
    // Expected 2000/(k+1); allow a wide margin (binomial spread).
    EXPECT_LE(moved, 2 * 2000 / (k + 1) + 40) << k;
  }
}

// Share of accounts whose swarm (by id) changes, and share of existing nodes
// whose swarm (by id) changes, between two node lists.
struct Movement {
  double accounts = 0, nodes = 0;
};
Movement movement(const std::vector<NodeDescriptor>& before, const std::vector<NodeDescriptor>& after) {
  auto a = compute_swarms(before), b = compute_swarms(after);
  Movement m;
  constexpr uint64_t kAccounts = 20000;
  uint64_t moved = 0;
  for (uint64_t i = 0; i < kAccounts; ++i)
    if (a[swarm_index_for(a, account(i))].id != b[swarm_index_for(b, account(i))].id) ++moved;
  m.accounts = double(moved) / kAccounts;
  std::map<std::string, uint64_t> old_id;
  for (const auto& s : a)
    for (const auto& n : s.members) old_id[n.address] = s.id;
  size_t common = 0, changed = 0;
  for (const auto& s : b)
    for (const auto& n : s.members)
      if (auto it = old_id.find(n.address); it != old_id.end()) {
        ++common;
        if (it->second != s.id) ++changed;
      }
  m.nodes = double(changed) / double(common);
  return m;
}

TEST(ComputeSwarms, TwoPercentJoiningMovesFewAccountsAndFewNodes) {
  auto all = nodes(1020);
  std::vector<NodeDescriptor> before(all.begin(), all.begin() + 1000);
  auto m = movement(before, all);
  // Ideal: the 4 new swarms take 4/204 = 2% of accounts. The old equal-runs
  // mapping moved ~99% of accounts and most nodes.
  EXPECT_LE(m.accounts, 0.04);
  EXPECT_LE(m.nodes, 0.25);
}

TEST(ComputeSwarms, TwoPercentLeavingMovesFewAccountsAndFewNodes) {
  auto all = nodes(1000);
  std::vector<NodeDescriptor> after;
  for (size_t i = 0; i < all.size(); ++i)
    if (i % 50 != 7) after.push_back(all[i]);
  ASSERT_EQ(after.size(), 980u);
  auto m = movement(all, after);
  EXPECT_LE(m.accounts, 0.04);  // ideal 4/200
  EXPECT_LE(m.nodes, 0.25);
}

TEST(ComputeSwarms, OneNodeJoiningWithoutNewSwarmMovesNoAccount) {
  auto all = nodes(503);
  std::vector<NodeDescriptor> before(all.begin(), all.begin() + 502);
  auto m = movement(before, all);  // 100 swarms before and after
  EXPECT_EQ(m.accounts, 0.0);
  EXPECT_LE(m.nodes, 0.05);
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
