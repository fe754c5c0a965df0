// Replicated deletes (docs/PROTOCOL.md, "Replicated deletes"): a client's
// signed delete, answered by one member of the account's swarm, reaches the
// other members too, so no member keeps serving the deleted message; each
// keeps a tombstone, so a replica pushed again afterwards is not stored.
#include <gtest/gtest.h>

#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using test::RawClient;

constexpr int kNodes = 6;
constexpr int kSwarmSize = 3;

class ReplicatedDelete : public test::DevnetSuite<ReplicatedDelete, kNodes, kSwarmSize> {
 protected:
  std::vector<swarm::NodeDescriptor> members_of(const swarm::AccountId& account) {
    return test::swarm_members(*net_, kSwarmSize, account);
  }
  test::TestAccount account_with(size_t min_members) { return test::account_with_members(*net_, kSwarmSize, min_members); }
  static std::string store_at(const swarm::NodeDescriptor& node, const rpc::StoreRequest& s) {
    return test::store_at(node, s).value("hash", "");
  }
};

TEST_F(ReplicatedDelete, ReachesEveryMemberAndKeepsAReplicaFromComingBack) {
  const test::TestAccount owner = account_with(3);
  const auto members = members_of(owner.id);
  ASSERT_GE(members.size(), 3u);

  const rpc::StoreRequest s = test::random_store(owner, 300);
  const std::string hash = store_at(members[0], s);
  ASSERT_FALSE(hash.empty());
  // A second message that is not deleted: it must stay everywhere.
  const std::string kept = store_at(members[1], test::random_store(owner, 300));
  ASSERT_FALSE(kept.empty());
  ASSERT_EQ(test::members_disagreeing(owner, members, hash, true), std::vector<std::string>{})
      << "the message did not reach every member";

  // The owner deletes it at one member only.
  {
    RawClient c(members[2]);
    auto r = c.request({members[2]}, test::signed_delete(owner, hash, owner.ed));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    EXPECT_EQ((*r)["deleted"], 1) << r->dump();
  }
  EXPECT_EQ(test::members_disagreeing(owner, members, hash, false), std::vector<std::string>{})
      << "members still serve the deleted message";
  EXPECT_EQ(test::members_disagreeing(owner, members, kept, true), std::vector<std::string>{})
      << "a message that was not deleted went missing";

  // The same message stored again at another member is not brought back:
  // the tombstone answers "exists" there, and nobody holds it to push.
  EXPECT_EQ(store_at(members[0], s), hash);
  EXPECT_EQ(test::members_disagreeing(owner, members, hash, false), std::vector<std::string>{})
      << "a deleted message came back after it was stored again";
}

TEST_F(ReplicatedDelete, AForgedDeleteChangesNoMember) {
  const test::TestAccount owner = account_with(2), forger;
  const auto members = members_of(owner.id);
  ASSERT_GE(members.size(), 2u);
  const std::string hash = store_at(members[0], test::random_store(owner, 200));
  ASSERT_FALSE(hash.empty());
  ASSERT_EQ(test::members_disagreeing(owner, members, hash, true), std::vector<std::string>{});
  RawClient c(members[1]);
  auto r = c.request({members[1]}, test::signed_delete(owner, hash, forger.ed));  // not the owner's key
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)["code"], "unauthorized") << r->dump();
  EXPECT_EQ(test::members_disagreeing(owner, members, hash, true), std::vector<std::string>{})
      << "a refused delete removed the message somewhere";
}

}  // namespace
}  // namespace onionswarm
