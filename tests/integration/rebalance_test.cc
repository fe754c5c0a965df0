// Rebalancing with real node processes: when nodes join a running devnet
// (a rewritten network file and SIGHUP), accounts move to their new swarms
// and every acknowledged message is retrievable from the new swarm.
#include <gtest/gtest.h>

#include <signal.h>

#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "config/network_file.h"
#include "onion/encoding.h"
#include "swarm/rpc.h"
#include "swarm/swarms.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using test::RawClient;

// Stores one message for account at a member of `swarm`, following
// wrong_swarm answers and retrying errors as a client would (bounded).
// Returns the acknowledged hash, or "" when no node acknowledged it.
std::string store_following(const test::TestAccount& a, swarm::Swarm swarm) {
  rpc::StoreRequest s;
  s.account = a.id;
  s.timestamp_ms = test::now_ms();
  s.data = crypto::random_bytes(200);
  for (int attempt = 0; attempt < 60; ++attempt) {
    const auto& dest = swarm.members[size_t(attempt) % swarm.members.size()];
    RawClient c(dest);
    auto r = c.request({dest}, rpc::Request(s));
    if (r.ok() && (*r)["status"] == "ok") return (*r)["hash"].get<std::string>();
    if (r.ok() && r->value("code", "") == "wrong_swarm") {
      auto parsed = rpc::swarm_from_json((*r)["swarm"]);
      if (parsed.ok() && !parsed->members.empty()) swarm = *parsed;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

TEST(Rebalance, NodesJoiningARunningNetworkLoseNoMessage) {
  crypto::init();
  test::Devnet net(15, 5);
  ASSERT_TRUE(net.ok()) << net.start_output();
  const auto old_nodes = net.nodes();
  const auto old_swarms = swarm::compute_swarms(old_nodes, 5);
  ASSERT_EQ(old_swarms.size(), 3u);

  // Twelve accounts, four of which the fourth swarm (20 nodes) will take
  // over: jump_bucket depends only on the swarm count.
  std::vector<test::TestAccount> accounts;
  size_t moving = 0;
  for (int tries = 0; tries < 10'000 && accounts.size() < 12; ++tries) {
    test::TestAccount a;
    const bool moves = swarm::jump_bucket(swarm::ring_position(a.id), 4) == 3;
    if (moves && moving == 4) continue;
    if (!moves && accounts.size() - moving == 8) continue;
    moving += moves;
    accounts.push_back(std::move(a));
  }
  ASSERT_EQ(accounts.size(), 12u);
  std::map<size_t, std::set<std::string>> acked;  // account index -> hashes
  for (size_t i = 0; i < accounts.size(); ++i)
    for (int m = 0; m < 3; ++m) {
      auto h = store_following(accounts[i], old_swarms[swarm::swarm_index_for(old_swarms, accounts[i].id)]);
      ASSERT_FALSE(h.empty());
      acked[i].insert(h);
    }

  // Five more nodes, then the network file with all twenty and SIGHUP.
  test::TempDir more;
  std::vector<pid_t> new_pids;
  auto stop_new = [&] {
    for (pid_t p : new_pids) ::kill(p, SIGTERM);
    for (pid_t p : new_pids) test::reap(p);
    new_pids.clear();
  };
  for (int i = 0; i < 5; ++i) {
    const std::string dir = more / ("n" + std::to_string(i));
    new_pids.push_back(test::spawn({test::node_bin(), "run", "--data-dir", dir, "--listen", "tcp://127.0.0.1:0",
                                    "--network", net.network_file()},
                                   more / ("n" + std::to_string(i) + ".log")));
  }
  auto network = config::load_network_file(net.network_file());
  ASSERT_TRUE(network.ok()) << network.status().to_string();
  for (int i = 0; i < 5; ++i) {
    const std::string path = more / ("n" + std::to_string(i)) + "/node.json";
    bool seen = false;
    for (int t = 0; t < 600 && !seen; ++t) {  // up to 60 s
      auto j = nlohmann::json::parse(test::read_file(path), nullptr, false);
      if (!j.is_discarded() && j.contains("address")) {
        swarm::NodeDescriptor d;
        d.address = j["address"].get<std::string>();
        d.ed25519 = *crypto::Ed25519PublicKey::from(*from_hex(j["ed25519"].get<std::string>()));
        d.x25519 = *crypto::X25519PublicKey::from(*from_hex(j["x25519"].get<std::string>()));
        network->nodes.push_back(d);
        seen = true;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    if (!seen) stop_new();
    ASSERT_TRUE(seen) << "new node " << i << " did not start";
  }
  const auto new_swarms = swarm::compute_swarms(network->nodes, 5);
  ASSERT_EQ(new_swarms.size(), 4u);
  ASSERT_TRUE(config::write_network_file_atomic(net.network_file(), *network).ok());
  for (int i = 1; i <= 15; ++i) ::kill(test::devnet_pid(net, i), SIGHUP);
  for (pid_t p : new_pids) ::kill(p, SIGHUP);

  // While the nodes switch views: more stores, sent where the client last
  // believed the account lives (the old swarm), following wrong_swarm.
  for (size_t i = 0; i < accounts.size(); ++i) {
    auto h = store_following(accounts[i], old_swarms[swarm::swarm_index_for(old_swarms, accounts[i].id)]);
    EXPECT_FALSE(h.empty()) << "account " << i;
    if (!h.empty()) acked[i].insert(h);
  }

  // Every member of each account's new swarm ends up with every message.
  size_t moved_accounts = 0;
  for (size_t i = 0; i < accounts.size(); ++i) {
    const auto& now = new_swarms[swarm::swarm_index_for(new_swarms, accounts[i].id)];
    if (now.id != old_swarms[swarm::swarm_index_for(old_swarms, accounts[i].id)].id) ++moved_accounts;
    for (const auto& member : now.members) {
      std::set<std::string> have;
      for (int t = 0; t < 300; ++t) {  // up to ~60 s
        auto got = test::retrieve_hashes(accounts[i], member);
        if (got.ok()) have = *got;
        if (got.ok() && std::includes(have.begin(), have.end(), acked[i].begin(), acked[i].end())) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      EXPECT_TRUE(std::includes(have.begin(), have.end(), acked[i].begin(), acked[i].end()))
          << "account " << i << " member " << member.address << " holds " << have.size() << " of "
          << acked[i].size();
      EXPECT_EQ(have.size(), acked[i].size()) << "account " << i;  // nothing duplicated or invented
    }
  }
  EXPECT_EQ(moved_accounts, 4u);
  stop_new();
}

}  // namespace
}  // namespace onionswarm
