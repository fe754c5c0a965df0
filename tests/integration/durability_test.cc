// Nothing acknowledged is lost: a node killed with SIGKILL right after
// acknowledging stores still has every one of them when it comes back; a
// node stopped with SIGTERM exits cleanly and keeps its data and keys.
#include <gtest/gtest.h>

#include <signal.h>

#include <optional>
#include <set>
#include <thread>

#include "onion/encoding.h"
#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using test::RawClient;

using Account = test::TestAccount;

// Signed retrieve of everything for account at node (bounded retries while
// the node starts up).
std::set<std::string> stored_hashes(const Account& a, const swarm::NodeDescriptor& node) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto got = test::retrieve_hashes(a, node);
    if (got.ok()) return *got;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "node did not answer after restart";
  return {};
}

// Stops a devnet node by SIGKILL and waits (bounded) until it is gone.
void kill_node(const test::Devnet& net, int i) { ASSERT_TRUE(test::stop_devnet_node(net, i, SIGKILL)); }

// Stores n messages of `bytes` random bytes for a at node (a one-hop
// onion), each acknowledged ok; adds their hashes to acked.
void store_acked(const Account& a, const swarm::NodeDescriptor& node, int n, size_t bytes,
                 std::set<std::string>& acked) {
  RawClient c(node);
  for (int i = 0; i < n; ++i) {
    rpc::StoreRequest s;
    s.account = a.id;
    s.timestamp_ms = test::now_ms();
    s.data = crypto::random_bytes(bytes);
    auto r = c.request({node}, rpc::Request(s));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    acked.insert((*r)["hash"].get<std::string>());
  }
}

TEST(Durability, AcknowledgedStoresSurviveKillMinusNine) {
  crypto::init();
  test::Devnet net(5, 5);  // one swarm
  ASSERT_TRUE(net.ok()) << net.start_output();
  auto nodes = net.nodes();
  // nodes() follows the network file order, which is node1..node5.
  const auto& target = nodes[0];
  Account a;
  std::set<std::string> acked;
  ASSERT_NO_FATAL_FAILURE(store_acked(a, target, 200, 256, acked));
  ASSERT_NO_FATAL_FAILURE(kill_node(net, 1));

  pid_t again = test::restart_devnet_node(net, 1);
  ASSERT_GT(again, 0);
  auto have = stored_hashes(a, target);
  EXPECT_EQ(have, acked) << "acknowledged messages lost after SIGKILL";
  ::kill(again, SIGTERM);
  EXPECT_EQ(test::reap(again), 0);
}

TEST(Durability, StoreIsNotAcknowledgedWhenNoOtherSwarmMemberHoldsIt) {
  crypto::init();
  test::Devnet net(5, 5);  // one swarm of five
  ASSERT_TRUE(net.ok()) << net.start_output();
  auto nodes = net.nodes();
  for (int i = 2; i <= 5; ++i) ASSERT_EQ(::kill(test::devnet_pid(net, i), SIGKILL), 0);
  Account a;
  rpc::StoreRequest s;
  s.account = a.id;
  s.timestamp_ms = test::now_ms();
  s.data = crypto::random_bytes(64);
  RawClient c(nodes[0]);
  auto r = c.request({nodes[0]}, rpc::Request(s));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)["status"], "error") << r->dump();
  EXPECT_EQ((*r)["code"], "unavailable") << r->dump();
}

TEST(Durability, RestartedNodeCatchesUpFromItsSwarmPeers) {
  crypto::init();
  test::Devnet net(5, 5);  // one swarm of five
  ASSERT_TRUE(net.ok()) << net.start_output();
  auto nodes = net.nodes();
  ASSERT_NO_FATAL_FAILURE(kill_node(net, 2));

  // Stored while node2 is down: it misses every replication push.
  Account a;
  std::set<std::string> acked;
  ASSERT_NO_FATAL_FAILURE(store_acked(a, nodes[0], 60, 200, acked));

  pid_t again = test::restart_devnet_node(net, 2);
  ASSERT_GT(again, 0);
  // Anti-entropy runs shortly after start; wait (bounded) for it.
  std::set<std::string> have;
  for (int attempt = 0; attempt < 150 && have != acked; ++attempt) {
    have = stored_hashes(a, nodes[1]);
    if (have != acked) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(have, acked) << "the restarted node did not catch up from its peers";
  ::kill(again, SIGTERM);
  EXPECT_EQ(test::reap(again), 0);
}

// replication.catching_up of the node's `status --json`; nullopt when the
// node does not answer.
std::optional<bool> status_catching_up(const std::string& data_dir) {
  const auto j = test::node_status(data_dir);
  if (!j.is_object() || !j.contains("replication") || !j["replication"].contains("catching_up")) return std::nullopt;
  return j["replication"]["catching_up"].get<bool>();
}

// A node restarted while it missed stores lacks them until catch-up brings
// them; meanwhile its retrieve answers say "catching_up" (so clients keep
// their cursors, PROTOCOL.md 12.1), and only once a catch-up round with a
// peer has succeeded do they stop saying so, holding what the peer holds.
TEST(Durability, ARestartedNodeSaysItIsCatchingUpUntilAPeerHasAnswered) {
  crypto::init();
  test::Devnet net(3, 3);  // one swarm of three
  ASSERT_TRUE(net.ok()) << net.start_output();
  auto nodes = net.nodes();
  ASSERT_NO_FATAL_FAILURE(kill_node(net, 2));

  // Stored while node2 is down (node3 confirms each replica).
  Account a;
  std::set<std::string> acked;
  ASSERT_NO_FATAL_FAILURE(store_acked(a, nodes[0], 20, 200, acked));
  // Its peers go down; node2 comes back with no one to catch up from.
  ASSERT_NO_FATAL_FAILURE(kill_node(net, 1));
  ASSERT_NO_FATAL_FAILURE(kill_node(net, 3));
  pid_t node2 = test::restart_devnet_node(net, 2);
  ASSERT_GT(node2, 0);
  bool catching_up = false;
  std::optional<std::set<std::string>> have;
  for (int attempt = 0; attempt < 100 && !have; ++attempt) {
    auto got = test::retrieve_hashes(a, nodes[1], &catching_up);
    if (got.ok()) have = *got;
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(have) << "node2 did not answer after its restart";
  EXPECT_TRUE(have->empty()) << "node2 holds messages stored while it was down, with no peer up";
  EXPECT_TRUE(catching_up) << "a node that could not catch up answered as if it had";
  EXPECT_EQ(status_catching_up(net.node_dir(2)), std::optional<bool>(true));

  // node1 comes back: node2's next round (soon, while it is catching up)
  // brings the messages, and then its answers stop saying catching_up.
  pid_t node1 = test::restart_devnet_node(net, 1);
  ASSERT_GT(node1, 0);
  for (int attempt = 0; attempt < 300 && catching_up; ++attempt) {  // up to ~60 s and more
    auto got = test::retrieve_hashes(a, nodes[1], &catching_up);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    have = *got;
    if (catching_up) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_FALSE(catching_up) << "node2 still says catching_up with a peer up";
  EXPECT_EQ(*have, acked) << "node2 stopped saying catching_up before it held what its peer holds";
  EXPECT_EQ(status_catching_up(net.node_dir(2)), std::optional<bool>(false));
  for (pid_t p : {node1, node2}) {
    ::kill(p, SIGTERM);
    EXPECT_EQ(test::reap(p), 0);
  }
}

TEST(Durability, SigtermStopsCleanlyAndKeepsKeysAndData) {
  crypto::init();
  test::Devnet net(5, 5);
  ASSERT_TRUE(net.ok()) << net.start_output();
  auto nodes = net.nodes();
  const auto& target = nodes[0];
  Account a;
  rpc::StoreRequest s;
  s.account = a.id;
  s.timestamp_ms = test::now_ms();
  s.data = crypto::random_bytes(64);
  RawClient c(target);
  auto r = c.request({target}, rpc::Request(s));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)["status"], "ok");
  const std::string key_before = test::read_file(net.node_dir(1) + "/node.key");

  // Stop node1 ourselves (it is not our child: wait via kill -0).
  ASSERT_TRUE(test::stop_devnet_node(net, 1)) << "node did not stop on SIGTERM";
  EXPECT_NE(test::read_file(net.node_dir(1) + "/node.log").find("stopping"), std::string::npos);

  pid_t again = test::restart_devnet_node(net, 1);
  EXPECT_EQ(stored_hashes(a, target).size(), 1u);
  EXPECT_EQ(test::read_file(net.node_dir(1) + "/node.key"), key_before) << "keys must be reused";
  ::kill(again, SIGTERM);
  EXPECT_EQ(test::reap(again), 0);
}

}  // namespace
}  // namespace onionswarm
