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
  // Swarm sizes vary around the target with the nodes' keys: take an
  // account whose swarm has at least three members.
  test::TestAccount owner;
  for (int i = 0; i < 200 && members_of(owner.id).size() < 3; ++i) owner = test::TestAccount();
  const auto members = members_of(owner.id);
  ASSERT_GE(members.size(), 3u);

  rpc::StoreRequest s;
  s.account = owner.id;
  s.timestamp_ms = test::now_ms();
  s.data = crypto::random_bytes(300);
  std::string hash;
  {
    RawClient c(members[0]);
    auto r = c.request({members[0]}, rpc::Request(s));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    hash = (*r)["hash"].get<std::string>();
  }
  // A second message that is not deleted: it must stay everywhere.
  rpc::StoreRequest keep = s;
  keep.data = crypto::random_bytes(300);
  std::string kept;
  {
    RawClient c(members[1]);
    auto r = c.request({members[1]}, rpc::Request(keep));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    kept = (*r)["hash"].get<std::string>();
  }
  ASSERT_EQ(wait_until_all(owner, members, hash, true), std::vector<std::string>{})
      << "the message did not reach every member";

  // The owner deletes it at one member only.
  rpc::DeleteRequest d;
  d.account = owner.id;
  d.timestamp_ms = test::now_ms();
  auto h = from_hex(hash, crypto::kHashSize);
  ASSERT_TRUE(h.ok());
  d.hashes = {*crypto::Hash::from(*h)};
  rpc::Request req = d;
  rpc::sign_request(req, owner.ed);
  {
    RawClient c(members[2]);
    auto r = c.request({members[2]}, req);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    EXPECT_EQ((*r)["deleted"], 1) << r->dump();
  }
  EXPECT_EQ(wait_until_all(owner, members, hash, false), std::vector<std::string>{})
      << "members still serve the deleted message";
  EXPECT_EQ(wait_until_all(owner, members, kept, true), std::vector<std::string>{})
      << "a message that was not deleted went missing";

  // The same message stored again at another member is not brought back
  // (the tombstone answers "exists"), and a second member's copy is not
  // revived by catch-up either: nobody holds it.
  {
    RawClient c(members[0]);
    auto r = c.request({members[0]}, rpc::Request(s));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ((*r)["status"], "ok") << r->dump();
  }
  EXPECT_EQ(wait_until_all(owner, members, hash, false), std::vector<std::string>{})
      << "a deleted message came back after it was stored again";
}

TEST_F(ReplicatedDelete, AForgedDeleteChangesNoMember) {
  test::TestAccount owner, forger;
  for (int i = 0; i < 200 && members_of(owner.id).size() < 2; ++i) owner = test::TestAccount();
  const auto members = members_of(owner.id);
  ASSERT_GE(members.size(), 2u);
  rpc::StoreRequest s;
  s.account = owner.id;
  s.timestamp_ms = test::now_ms();
  s.data = crypto::random_bytes(200);
  std::string hash;
  {
    RawClient c(members[0]);
    auto r = c.request({members[0]}, rpc::Request(s));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    hash = (*r)["hash"].get<std::string>();
  }
  ASSERT_EQ(wait_until_all(owner, members, hash, true), std::vector<std::string>{});
  rpc::DeleteRequest d;
  d.account = owner.id;
  d.timestamp_ms = test::now_ms();
  d.hashes = {*crypto::Hash::from(*from_hex(hash, crypto::kHashSize))};
  rpc::Request req = d;
  rpc::sign_request(req, forger.ed);  // not the owner's key
  RawClient c(members[1]);
  auto r = c.request({members[1]}, req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)["code"], "unauthorized") << r->dump();
  EXPECT_EQ(wait_until_all(owner, members, hash, true), std::vector<std::string>{})
      << "a refused delete removed the message somewhere";
}

}  // namespace
}  // namespace onionswarm
