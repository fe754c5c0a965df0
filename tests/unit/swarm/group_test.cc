#include "swarm/group.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace onionswarm::swarm::group {
namespace {

crypto::Ed25519KeyPair key(uint8_t tag) {
  crypto::init();
  return std::move(crypto::Ed25519KeyPair::from_seed(Bytes(32, tag))).value();
}

ControlEntry make(const crypto::Ed25519KeyPair& g, uint64_t seq, const crypto::Hash& prev, uint64_t gen,
                  std::string body, Bytes* blob = nullptr) {
  ControlEntry e;
  e.seq = seq;
  e.prev = prev;
  e.generation = gen;
  e.member_auth = key(9).public_key();
  e.body.assign(body.begin(), body.end());
  Bytes b = sign_control(g, e);
  if (blob) *blob = b;
  return e;
}

// A log with a fork: genesis, two entries at seq 1 (`win` has the smaller
// hash, so the canonical chain takes it), and c2 on the winner.
struct ForkedLog {
  crypto::Ed25519KeyPair g = key(1);
  ControlEntry e0 = make(g, 0, {}, 0, "genesis");
  ControlEntry a1 = make(g, 1, e0.hash, 0, "admin a");
  ControlEntry b1 = make(g, 1, e0.hash, 0, "admin b");
  ControlEntry win = a1.hash < b1.hash ? a1 : b1;
  ControlEntry lose = a1.hash < b1.hash ? b1 : a1;
  ControlEntry c2 = make(g, 2, win.hash, 1, "on the winner");
};

TEST(GroupControl, RoundTripsAndChecksTheSignature) {
  auto g = key(1);
  Bytes blob;
  auto e = make(g, 3, crypto::hash(Bytes{1}), 2, "body", &blob);
  auto p = parse_control(blob, g.public_key());
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->seq, 3u);
  EXPECT_EQ(p->generation, 2u);
  EXPECT_EQ(p->hash, crypto::hash(blob));
  EXPECT_EQ(p->hash, e.hash);
  EXPECT_EQ(std::string(p->body.begin(), p->body.end()), "body");
  auto other = parse_control(blob, key(2).public_key());
  EXPECT_EQ(other.status().code(), Code::kUnauthorized);
  Bytes tampered = blob;
  tampered[5] ^= 1;
  EXPECT_EQ(parse_control(tampered, g.public_key()).status().code(), Code::kUnauthorized);
}

TEST(GroupControl, MalformedEntriesAreInvalidArgument) {
  auto g = key(1);
  Bytes blob;
  make(g, 0, {}, 0, "x", &blob);
  for (size_t n : {size_t(0), size_t(10), blob.size() - 1}) {
    EXPECT_EQ(parse_control(ByteView(blob.data(), n), g.public_key()).status().code(), Code::kInvalidArgument) << n;
  }
  Bytes longer = blob;
  longer.push_back(0);
  EXPECT_EQ(parse_control(longer, g.public_key()).status().code(), Code::kInvalidArgument);
  Bytes version = blob;
  version[0] = 2;
  EXPECT_EQ(parse_control(version, g.public_key()).status().code(), Code::kInvalidArgument);
}

TEST(GroupControl, CanonicalChainIsTheSameInAnyOrderAndPicksTheSmallestHashAtAFork) {
  const ForkedLog l;
  const auto& [g, e0, a1, b1, win, lose, c2] = l;
  auto lose2 = make(g, 2, lose.hash, 1, "on the loser");
  auto bad_gen = make(g, 3, c2.hash, 0, "generation goes back");
  auto skip = make(g, 4, c2.hash, 1, "skips a seq");
  std::vector<ControlEntry> all = {e0, a1, b1, c2, lose2, bad_gen, skip};
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(all.begin(), all.end(), rng);
    auto chain = canonical_chain(all);
    ASSERT_EQ(chain.size(), 3u);
    EXPECT_EQ(chain[0].hash, e0.hash);
    EXPECT_EQ(chain[1].hash, win.hash);
    EXPECT_EQ(chain[2].hash, c2.hash);
  }
  EXPECT_TRUE(canonical_chain({a1, c2}).empty());  // no genesis, no chain
}

TEST(GroupControl, AChainHoldsAHeadOnlyWhenItHasThatEntryAtThatSeq) {
  const ForkedLog l;
  const auto& [g, e0, a1, b1, win, lose, c2] = l;
  const auto full = canonical_chain({e0, a1, b1, c2});
  ASSERT_EQ(full.size(), 3u);
  EXPECT_TRUE(chain_holds(full, 0, e0.hash));
  EXPECT_TRUE(chain_holds(full, 1, win.hash));
  EXPECT_TRUE(chain_holds(full, 2, c2.hash));
  EXPECT_FALSE(chain_holds(full, 1, lose.hash));  // the losing side of the fork
  EXPECT_FALSE(chain_holds(full, 2, win.hash));   // a known entry at another seq
  EXPECT_FALSE(chain_holds(full, 3, c2.hash));    // beyond the head
  // A member that has not taken c2 yet: behind a reader that knew c2, not
  // behind one that knew only the winner.
  const auto behind = canonical_chain({e0, a1, b1});
  EXPECT_FALSE(chain_holds(behind, 2, c2.hash));
  EXPECT_TRUE(chain_holds(behind, 1, win.hash));
  EXPECT_FALSE(chain_holds({}, 0, e0.hash));
}

TEST(GroupControl, ExtendingAKnownHeadTakesWhatFollowsItAndRefusesAFork) {
  const ForkedLog l;
  const auto& [g, e0, a1, b1, win, lose, c2] = l;
  auto d3 = make(g, 3, c2.hash, 1, "next");
  auto hashes = [](const Result<std::vector<ControlEntry>>& r) {
    std::vector<crypto::Hash> out;
    if (r.ok())
      for (const auto& e : *r) out.push_back(e.hash);
    return out;
  };
  // A window that starts after genesis, in any order, with a duplicate.
  auto ext = extend_chain({d3, c2, win, c2}, 1, win.hash);
  ASSERT_TRUE(ext.ok()) << ext.status().to_string();
  EXPECT_EQ(hashes(ext), (std::vector<crypto::Hash>{c2.hash, d3.hash}));
  // The same as the canonical chain of the whole log past the head.
  const auto full = canonical_chain({e0, win, c2, d3});
  EXPECT_EQ(hashes(ext), (std::vector<crypto::Hash>{full[2].hash, full[3].hash}));
  // Nothing after the head; the head's ancestors are fine.
  auto none = extend_chain({e0, win, c2, d3}, 3, d3.hash);
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_TRUE(none->empty());
  // A window without the head (a member that has not taken it), or with it
  // at another seq.
  EXPECT_EQ(extend_chain({e0, win}, 2, c2.hash).status().code(), Code::kNotFound);
  EXPECT_EQ(extend_chain({e0, win, c2}, 1, c2.hash).status().code(), Code::kNotFound);
  // The losing side of a fork behind the head, or two children ahead of it:
  // only the whole log settles which chain is canonical.
  EXPECT_EQ(extend_chain({e0, a1, b1, c2}, 2, c2.hash).status().code(), Code::kConflict);
  EXPECT_EQ(extend_chain({e0, a1, b1}, 0, e0.hash).status().code(), Code::kConflict);
  EXPECT_EQ(extend_chain({lose, win, c2}, 1, win.hash).status().code(), Code::kConflict);
}

// On random logs: extending any entry of the canonical chain through the
// whole log gives the rest of that chain when the log is one path, and
// kConflict when it forks; a window that starts after the head lacks it.
TEST(GroupControl, ExtendingAgreesWithTheCanonicalChainOnRandomLogs) {
  auto g = key(1);
  std::mt19937 rng(11);
  int paths = 0, forks = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<ControlEntry> log = {make(g, 0, {}, 0, "genesis " + std::to_string(round))};
    const size_t n = 1 + rng() % 8;
    const bool one_path = rng() % 2 == 0;
    for (size_t i = 1; i < n; ++i) {
      const ControlEntry& parent = one_path ? log.back() : log[rng() % log.size()];
      log.push_back(make(g, parent.seq + 1, parent.hash, parent.generation + rng() % 2, "entry " + std::to_string(i)));
    }
    const auto chain = canonical_chain(log);
    const bool is_path = chain.size() == log.size();
    (is_path ? paths : forks)++;
    for (size_t k = 0; k < chain.size(); ++k) {
      std::vector<ControlEntry> shuffled = log;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      auto ext = extend_chain(shuffled, chain[k].seq, chain[k].hash);
      if (!is_path) {
        EXPECT_EQ(ext.status().code(), Code::kConflict) << "round " << round << ", head " << k;
        continue;
      }
      ASSERT_TRUE(ext.ok()) << ext.status().to_string();
      ASSERT_EQ(ext->size(), chain.size() - k - 1);
      for (size_t i = 0; i < ext->size(); ++i) EXPECT_EQ((*ext)[i].hash, chain[k + 1 + i].hash);
      // A window from the head's parent on holds it; one from its child on does not.
      const std::vector<ControlEntry> from_parent(chain.begin() + long(k == 0 ? 0 : k - 1), chain.end());
      EXPECT_TRUE(extend_chain(from_parent, chain[k].seq, chain[k].hash).ok());
      const std::vector<ControlEntry> from_child(chain.begin() + long(k + 1), chain.end());
      EXPECT_EQ(extend_chain(from_child, chain[k].seq, chain[k].hash).status().code(), Code::kNotFound);
    }
  }
  EXPECT_GT(paths, 50);  // both kinds were tried
  EXPECT_GT(forks, 30);
}

}  // namespace
}  // namespace onionswarm::swarm::group
