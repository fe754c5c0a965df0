// Replicated deletes (docs/PROTOCOL.md, "Replicated deletes"): a client's
// signed delete, answered by one member of the account's swarm, reaches the
// other members too, so no member keeps serving the deleted message; each
// keeps a tombstone, so a replica pushed again afterwards is not stored.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "onion/encoding.h"
#include "swarm/rpc.h"
#include "swarm/swarms.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using test::RawClient;

constexpr int kNodes = 6;
constexpr int kSwarmSize = 3;

class ReplicatedDelete : public test::DevnetSuite<ReplicatedDelete, kNodes, kSwarmSize> {
 protected:
  // The members of the account's swarm, as every node computes them.
  std::vector<swarm::NodeDescriptor> members_of(const swarm::AccountId& account) {
    const auto swarms = swarm::compute_swarms(net_->nodes(), kSwarmSize);
    return swarms.at(swarm::swarm_index_for(swarms, account)).members;
  }

  // Picks an account whose swarm has at least `min_members` members (swarm
  // sizes vary around the target with the nodes' keys).
  test::TestAccount account_with(size_t min_members) {
    test::TestAccount a;
    for (int i = 0; i < 200 && members_of(a.id).size() < min_members; ++i) a = test::TestAccount();
    return a;
  }

  // Stores s at node directly (a one-hop onion); the hash, or "" after a
  // failed assertion.
  static std::string store_at(const swarm::NodeDescriptor& node, const rpc::StoreRequest& s) {
    RawClient c(node);
    auto r = c.request({node}, rpc::Request(s));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) return "";
    EXPECT_EQ((*r)["status"], "ok") << r->dump();
    return r->value("hash", "");
  }

  // A delete of hash in the owner's inbox, signed by `signer`.
  static rpc::Request signed_delete(const test::TestAccount& owner, const std::string& hash,
                                    const crypto::Ed25519KeyPair& signer) {
    rpc::DeleteRequest d;
    d.account = owner.id;
    d.timestamp_ms = test::now_ms();
    auto h = from_hex(hash, crypto::kHashSize);
    EXPECT_TRUE(h.ok()) << hash;
    if (h.ok()) d.hashes = {*crypto::Hash::from(*h)};
    rpc::Request req = d;
    rpc::sign_request(req, signer);
    return req;
  }

  static rpc::StoreRequest store_for(const test::TestAccount& owner, size_t size) {
    rpc::StoreRequest s;
    s.account = owner.id;
    s.timestamp_ms = test::now_ms();
    s.data = crypto::random_bytes(size);
    return s;
  }

  // Polls (bounded) until every member's holding of hash equals `held`.
  // Returns the members that still disagree at the deadline.
  std::vector<std::string> wait_until_all(const test::TestAccount& a, const std::vector<swarm::NodeDescriptor>& members,
                                          const std::string& hash, bool held) {
    std::vector<std::string> wrong;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    do {
      wrong.clear();
      for (const auto& m : members) {
        auto got = test::retrieve_hashes(a, m);
        if (!got.ok() || (got->count(hash) > 0) != held) wrong.push_back(m.address);
      }
      if (wrong.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < deadline);
    return wrong;
  }
};

TEST_F(ReplicatedDelete, ReachesEveryMemberAndKeepsAReplicaFromComingBack) {
  const test::TestAccount owner = account_with(3);
  const auto members = members_of(owner.id);
  ASSERT_GE(members.size(), 3u);

  const rpc::StoreRequest s = store_for(owner, 300);
  const std::string hash = store_at(members[0], s);
  ASSERT_FALSE(hash.empty());
  // A second message that is not deleted: it must stay everywhere.
  const std::string kept = store_at(members[1], store_for(owner, 300));
  ASSERT_FALSE(kept.empty());
  ASSERT_EQ(wait_until_all(owner, members, hash, true), std::vector<std::string>{})
      << "the message did not reach every member";

  // The owner deletes it at one member only.
  {
    RawClient c(members[2]);
    auto r = c.request({members[2]}, signed_delete(owner, hash, owner.ed));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    EXPECT_EQ((*r)["deleted"], 1) << r->dump();
  }
  EXPECT_EQ(wait_until_all(owner, members, hash, false), std::vector<std::string>{})
      << "members still serve the deleted message";
  EXPECT_EQ(wait_until_all(owner, members, kept, true), std::vector<std::string>{})
      << "a message that was not deleted went missing";

  // The same message stored again at another member is not brought back:
  // the tombstone answers "exists" there, and nobody holds it to push.
  EXPECT_EQ(store_at(members[0], s), hash);
  EXPECT_EQ(wait_until_all(owner, members, hash, false), std::vector<std::string>{})
      << "a deleted message came back after it was stored again";
}

TEST_F(ReplicatedDelete, AForgedDeleteChangesNoMember) {
  const test::TestAccount owner = account_with(2), forger;
  const auto members = members_of(owner.id);
  ASSERT_GE(members.size(), 2u);
  const std::string hash = store_at(members[0], store_for(owner, 200));
  ASSERT_FALSE(hash.empty());
  ASSERT_EQ(wait_until_all(owner, members, hash, true), std::vector<std::string>{});
  RawClient c(members[1]);
  auto r = c.request({members[1]}, signed_delete(owner, hash, forger.ed));  // not the owner's key
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)["code"], "unauthorized") << r->dump();
  EXPECT_EQ(wait_until_all(owner, members, hash, true), std::vector<std::string>{})
      << "a refused delete removed the message somewhere";
}

}  // namespace
}  // namespace onionswarm
