// Leave and crash (issue 3): while a client sends 500 messages through
// onion paths to several recipients, one node of every swarm is killed with
// SIGKILL. Every acknowledged message must be retrievable afterwards by its
// recipient, and none may be stored twice. Sends that were not acknowledged
// are retried with the same sealed message (same hash), as an application
// with an outbox would.
//
// Each recipient's inbox is two retrieve pages (125 messages, 100 a page),
// so a fetch whose second page fails through a dead node is common here:
// what the first page kept must still be returned (Client::fetch).
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "client/client.h"
#include "client/identity.h"
#include "client/local_store.h"
#include "onion/encoding.h"
#include "swarm/rpc.h"
#include "swarm/swarms.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using Clock = std::chrono::steady_clock;

constexpr int kNodes = 12;
constexpr int kSwarmSize = 4;
constexpr int kMessages = 500;
constexpr size_t kRecipients = 4;

std::unique_ptr<client::Client> open_client(const std::string& home, const std::string& network_file) {
  // A relay answers at once for a killed next hop, and a killed guard is
  // seen at once; this bounds an attempt whose answer is lost otherwise
  // (e.g. the destination dies after the request reached it). Generous for
  // a loaded machine: a normal round trip takes milliseconds.
  return test::open_client(network_file, home, {4000, {}, {}});
}

// Every message hash node lists for the account's inbox, in its order (a
// hash listed twice would be a duplicate), by a signed retrieve sent
// directly to the node.
Result<std::vector<std::string>> listed_hashes(const client::Identity& id, const swarm::NodeDescriptor& node) {
  rpc::RetrieveRequest r;
  r.account = id.account_id();
  r.timestamp_ms = test::now_ms();
  r.limit = rpc::kMaxRetrieveLimit;
  rpc::Request req = r;
  rpc::sign_request(req, id.ed25519());
  test::RawClient c(node);
  auto got = c.request({node}, req);
  if (!got.ok()) return got.status();
  if ((*got)["status"] != "ok") return error(Code::kUnavailable, "retrieve refused: " + got->dump());
  if ((*got).value("more", false)) return error(Code::kInternal, "more than one page");
  std::vector<std::string> out;
  for (const auto& m : (*got)["messages"]) out.push_back(m["hash"].get<std::string>());
  return out;
}

TEST(Churn, LeaveAndCrashLosesNoAcknowledgedMessage) {
  crypto::init();
  test::Devnet net(kNodes, kSwarmSize);
  ASSERT_TRUE(net.ok()) << net.start_output();
  const auto nodes = net.nodes();  // network file order: node1..nodeN
  const auto swarms = swarm::compute_swarms(nodes, kSwarmSize);
  ASSERT_GE(swarms.size(), 2u);

  // Recipients: kRecipients accounts covering every swarm.
  test::TempDir homes;
  std::vector<std::string> recipient_homes;
  std::vector<swarm::AccountId> recipients;
  std::set<size_t> covered;
  for (int tries = 0; tries < 500 && recipients.size() < kRecipients; ++tries) {
    const std::string home = homes / ("r" + std::to_string(tries));
    ASSERT_TRUE(client::ensure_home(home).ok());
    auto id = client::Identity::create(home);
    ASSERT_TRUE(id.ok()) << id.status().to_string();
    const size_t s = swarm::swarm_index_for(swarms, id->account_id());
    const size_t left = kRecipients - recipients.size();
    const size_t uncovered = swarms.size() - covered.size();
    if (covered.count(s) && left <= uncovered) continue;  // keep room for the swarms not yet covered
    covered.insert(s);
    recipient_homes.push_back(home);
    recipients.push_back(id->account_id());
  }
  ASSERT_EQ(recipients.size(), kRecipients);
  ASSERT_EQ(covered.size(), std::min(swarms.size(), kRecipients));

  const std::string sender_home = homes / "sender";
  ASSERT_TRUE(client::ensure_home(sender_home).ok());
  ASSERT_TRUE(client::Identity::create(sender_home).ok());
  auto sender = open_client(sender_home, net.network_file());
  ASSERT_TRUE(sender);

  // Which devnet node (1-based) has this key.
  auto devnet_index = [&](const crypto::X25519PublicKey& k) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].x25519 == k) return int(i) + 1;
    return 0;
  };
  // The node of swarm s to kill: one the sender's last request went
  // through (so the kill hits a path or a destination in use), else the
  // swarm's first member.
  std::set<std::string> killed;  // x25519 hex
  auto kill_one_of = [&](size_t s) {
    swarm::NodeDescriptor victim = swarms[s].members.front();
    if (const auto& route = sender->last_route()) {
      for (const auto* n : {&route->destination, &route->path.exit, &route->path.middle, &route->path.guard}) {
        const bool member = std::any_of(swarms[s].members.begin(), swarms[s].members.end(),
                                        [&](const swarm::NodeDescriptor& m) { return m.x25519 == n->x25519; });
        if (member) {
          victim = *n;
          break;
        }
      }
    }
    const int i = devnet_index(victim.x25519);
    ASSERT_GT(i, 0);
    ASSERT_TRUE(test::stop_devnet_node(net, i, SIGKILL));
    killed.insert(to_hex(victim.x25519.view()));
  };

  // The loop: message i goes to recipient i % kRecipients; one node of
  // swarm k dies after message (k + 1) * kMessages / (swarms + 1).
  std::vector<client::OutgoingMessage> outbox;
  std::vector<std::string> texts;
  std::map<std::string, size_t> by_hash;  // hex hash -> message index
  std::vector<bool> acked(kMessages, false);
  size_t next_kill = 0, failed_first = 0;
  const auto loop_start = Clock::now();
  for (int i = 0; i < kMessages; ++i) {
    if (next_kill < swarms.size() && size_t(i) == (next_kill + 1) * kMessages / (swarms.size() + 1)) {
      kill_one_of(next_kill++);
      if (HasFatalFailure()) return;
    }
    texts.push_back("churn message " + std::to_string(i));
    auto m = sender->seal(recipients[size_t(i) % kRecipients], texts.back());
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    by_hash[to_hex(m->hash.view())] = size_t(i);
    outbox.push_back(*m);
    auto r = sender->send(outbox.back());
    if (r.ok()) {
      acked[size_t(i)] = true;
    } else {
      ++failed_first;
    }
  }
  ASSERT_EQ(next_kill, swarms.size());
  const double loop_s = std::chrono::duration<double>(Clock::now() - loop_start).count();

  // Unacknowledged sends are retried unchanged (same hash), a few passes.
  size_t retried = 0;
  for (int pass = 0; pass < 3; ++pass) {
    for (size_t i = 0; i < outbox.size(); ++i) {
      if (acked[i]) continue;
      ++retried;
      auto r = sender->send(outbox[i]);
      if (r.ok()) acked[i] = true;
    }
  }
  const size_t n_acked = size_t(std::count(acked.begin(), acked.end(), true));
  std::printf("churn: %d sends in %.1f s, %zu not acknowledged at first, %zu retries, %zu of %d acknowledged\n",
              kMessages, loop_s, failed_first, retried, n_acked, kMessages);
  // The network keeps serving with one node of each swarm down.
  EXPECT_EQ(n_acked, size_t(kMessages));

  // Every recipient fetches (through onion paths, as a client does) until it
  // holds every acknowledged message sent to it; bounded.
  for (size_t r = 0; r < kRecipients; ++r) {
    auto reader = open_client(recipient_homes[r], net.network_file());
    ASSERT_TRUE(reader);
    std::set<size_t> want;
    for (size_t i = r; i < size_t(kMessages); i += kRecipients)
      if (acked[i]) want.insert(i);
    std::map<std::string, int> text_count;  // each kept message, by text
    std::set<size_t> got;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (int attempt = 0; attempt < 60 && Clock::now() < deadline; ++attempt) {
      auto fresh = reader->fetch();
      if (fresh.ok()) {
        for (const auto& e : *fresh) {
          EXPECT_TRUE(e.verified) << e.error;
          EXPECT_EQ(e.from, sender->account_id().to_string());
          ++text_count[e.text];
          auto it = by_hash.find(to_hex(e.hash.view()));
          ASSERT_NE(it, by_hash.end()) << "a message nobody sent: " << e.text;
          EXPECT_EQ(texts[it->second], e.text);
          EXPECT_EQ(it->second % kRecipients, r) << "delivered to the wrong recipient";
          got.insert(it->second);
        }
      }
      if (std::includes(got.begin(), got.end(), want.begin(), want.end())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    std::vector<size_t> missing;
    std::set_difference(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(missing));
    EXPECT_TRUE(missing.empty()) << "recipient " << r << " lacks " << missing.size() << " acknowledged messages, e.g. "
                                 << (missing.empty() ? "" : texts[missing.front()]);
    // None duplicated: a second copy would be a different blob (different
    // hash) with the same text, which the inbox would keep separately.
    for (const auto& [text, n] : text_count) EXPECT_EQ(n, 1) << "\"" << text << "\" arrived " << n << " times";

    // Node side: every live member of the recipient's swarm lists each
    // message at most once and nothing that was not sent.
    auto id = client::Identity::load(recipient_homes[r]);
    ASSERT_TRUE(id.ok());
    const auto& members = swarms[swarm::swarm_index_for(swarms, recipients[r])].members;
    size_t live_members = 0;
    for (const auto& member : members) {
      if (killed.count(to_hex(member.x25519.view()))) continue;
      ++live_members;
      auto listed = listed_hashes(*id, member);
      ASSERT_TRUE(listed.ok()) << listed.status().to_string();
      std::set<std::string> distinct(listed->begin(), listed->end());
      EXPECT_EQ(distinct.size(), listed->size()) << "a member lists a message twice";
      for (const auto& h : distinct) EXPECT_TRUE(by_hash.count(h)) << "a member holds a message nobody sent";
    }
    EXPECT_EQ(live_members, members.size() - 1);
  }
  EXPECT_EQ(killed.size(), swarms.size());
}

}  // namespace
}  // namespace onionswarm
