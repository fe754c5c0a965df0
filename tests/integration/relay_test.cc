// Relays' answers. Towards a node that is down (killed with SIGKILL): the relay
// answers at once with a hop error `unavailable` "next hop is unreachable"
// (PROTOCOL.md 5.7), not with `timeout` after relay_timeout_ms (10 s), so a
// client replaces exactly that node and retries without waiting. Both for a
// link that was up when the node died and for one first made afterwards.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <string>
#include <thread>

#include "client/transport.h"
#include "onion/encoding.h"
#include "onion/layer.h"
#include "swarm/json.h"
#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

// The hop error's code and message, or the final answer's "status".
std::string describe(const test::RawClient::OnionAnswer& a) {
  auto j = swarm::parse_json(as_chars(a.body));
  if (!j.ok()) return "unparsable answer";
  if (a.kind != onion::ResponseKind::kHopError) return "final answer " + j->dump();
  return "hop error from hop " + std::to_string(a.hop) + ": " + j->dump();
}

// The first hop's own answer: hop error `unavailable` "next hop is unreachable".
void expect_next_hop_unreachable(const Result<test::RawClient::OnionAnswer>& a) {
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_EQ(a->type, wire::Type::kOnionResponse);
  ASSERT_EQ(a->kind, onion::ResponseKind::kHopError) << describe(*a);
  EXPECT_EQ(a->hop, 0u);
  auto j = swarm::parse_json(as_chars(a->body));
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["code"], "unavailable") << describe(*a);
  EXPECT_EQ((*j)["message"], "next hop is unreachable") << describe(*a);
}

TEST(Relay, NextHopThatIsDownIsUnavailableAtOnce) {
  crypto::init();
  test::Devnet net(3, 3);
  ASSERT_TRUE(net.ok()) << net.start_output();
  const auto nodes = net.nodes();
  ASSERT_EQ(nodes.size(), 3u);
  const auto& first = nodes[0];
  const auto& second = nodes[1];
  const auto& victim = nodes[2];
  const ByteView info = as_bytes(R"({"method":"info","params":{}})");

  // node1 relays to node3 (so node1 has a link to it that is up).
  {
    test::RawClient c(first);
    auto a = c.send_onion({first, victim}, info);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ASSERT_EQ(a->kind, onion::ResponseKind::kFinal) << describe(*a);
  }

  ASSERT_TRUE(test::stop_devnet_node(net, 3, SIGKILL));

  // The link that was up, and a link node2 makes only now: both refuse.
  for (const auto* relay : {&first, &second}) {
    test::RawClient c(*relay);
    ASSERT_NO_FATAL_FAILURE(expect_next_hop_unreachable(c.send_onion({*relay, victim}, info)));
  }

  // The relays still serve.
  for (const auto* relay : {&first, &second}) {
    test::RawClient c(*relay);
    auto a = c.send_onion({*relay}, info);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    EXPECT_EQ(a->kind, onion::ResponseKind::kFinal) << describe(*a);
  }
}

// Lets a stopped (SIGSTOP) node run again when the test ends, however it
// ends, so that the devnet can stop it.
struct Resume {
  pid_t pid;
  ~Resume() { ::kill(pid, SIGCONT); }
};

// Two nodes: node 1 relays to node 2 (the next hop), and the link between
// them is up (an info through both was answered).
class RelayToNext : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypto::init(); }
  void SetUp() override {
    ASSERT_TRUE(net_.ok()) << net_.start_output();
    nodes_ = net_.nodes();
    ASSERT_EQ(nodes_.size(), 2u);
    relay_pid_ = test::devnet_pid(net_, 1);
    next_pid_ = test::devnet_pid(net_, 2);
    ASSERT_GT(relay_pid_, 0);
    ASSERT_GT(next_pid_, 0);
    auto a = through();
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ASSERT_EQ(a->kind, onion::ResponseKind::kFinal) << describe(*a);
  }
  const swarm::NodeDescriptor& relay() const { return nodes_.at(0); }
  const swarm::NodeDescriptor& next() const { return nodes_.at(1); }
  // An info through the relay to the next hop, from a fresh client.
  Result<test::RawClient::OnionAnswer> through() {
    test::RawClient c(relay());
    return c.send_onion({relay(), next()}, as_bytes(R"({"method":"info","params":{}})"));
  }

  test::Devnet net_{2, 2};
  std::vector<swarm::NodeDescriptor> nodes_;
  pid_t relay_pid_ = -1, next_pid_ = -1;
};

// A next hop that hangs (SIGSTOP: its TCP connections stay open, nothing
// answers) is found out by the link's heartbeats: the relay answers the
// request it forwarded, and the next one, "next hop is unreachable" rather
// than "timeout" after its 10 s relay timeout. Once the node runs again the
// link comes back up.
TEST_F(RelayToNext, AHungNextHopIsUnavailableBeforeTheRelayTimeout) {
  const pid_t pid = next_pid_;
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  const Resume resume{pid};

  for (int i = 0; i < 2; ++i) {  // the request the heartbeats catch, then one on the link down
    SCOPED_TRACE(i == 0 ? "the request in flight" : "the next request");
    ASSERT_NO_FATAL_FAILURE(expect_next_hop_unreachable(through()));
  }

  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  bool served = false;
  for (int i = 0; i < 60 && !served; ++i) {  // bounded: the link reconnects by itself
    auto a = through();
    served = a.ok() && a->kind == onion::ResponseKind::kFinal;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_TRUE(served) << "the relay never reached the node again";
}

// A relay told to stop (SIGTERM) while a request it forwarded waits for the
// next hop reads no new request but passes that answer back before it
// exits (Server::finish_in_flight, at most 3 s). The next hop hangs
// (SIGSTOP) until the relay says it is finishing, then runs again.
// Before, the relay left at once and the client got no answer at all.
TEST_F(RelayToNext, AStoppingRelayPassesBackTheAnswerItWasWaitingFor) {
  ASSERT_EQ(::kill(next_pid_, SIGSTOP), 0);
  const auto stopped_at = std::chrono::steady_clock::now();
  const Resume resume{next_pid_};
  Result<test::RawClient::OnionAnswer> answer = error(Code::kInternal, "no answer yet");
  std::thread client([&] { answer = through(); });
  const std::string stopped = test::stop_while_waiting(net_, 1, next_pid_, "/relay/in_flight");
  const auto hung_for = std::chrono::steady_clock::now() - stopped_at;
  client.join();
  ASSERT_EQ(stopped, "");
  const std::string log_path = net_.node_dir(1) + "/node.log";

  ASSERT_TRUE(answer.ok()) << "the stopping relay sent no answer: " << answer.status().to_string();
  ASSERT_EQ(answer->type, wire::Type::kOnionResponse);
  // The link's heartbeats drop a peer only after 4 s without a sound
  // (wire::kHeartbeatTimeoutMs); a longer hang (a very slow machine) may
  // end the request with the relay's own `unavailable` instead, which is
  // still an answer from the stopping relay.
  if (hung_for < std::chrono::milliseconds(3500)) {
    EXPECT_EQ(answer->kind, onion::ResponseKind::kFinal) << describe(*answer);
  } else if (answer->kind != onion::ResponseKind::kFinal) {
    ASSERT_NO_FATAL_FAILURE(expect_next_hop_unreachable(answer));
  }
  ASSERT_TRUE(test::wait_gone(relay_pid_));
  EXPECT_NE(test::read_file(log_path).find("stopping: finished the requests taken before the stop"),
            std::string::npos)
      << test::read_file(log_path);
}

// A second SIGTERM (an operator's second Ctrl-C) ends that wait at once:
// the request still waiting for the hung next hop is answered `unavailable`
// by the relay itself, which then exits. The next hop runs again only after
// the relay said it stopped at once, so its late answer cannot be the one
// the client gets.
TEST_F(RelayToNext, ASecondStopSignalAnswersTheWaitingRequestAtOnce) {
  ASSERT_EQ(::kill(next_pid_, SIGSTOP), 0);
  const Resume resume{next_pid_};
  Result<test::RawClient::OnionAnswer> answer = error(Code::kInternal, "no answer yet");
  std::thread client([&] { answer = through(); });
  const std::string stopped = test::stop_while_waiting(net_, 1, next_pid_, "/relay/in_flight", /*second_signal=*/true);
  client.join();
  ASSERT_EQ(stopped, "");

  ASSERT_TRUE(answer.ok()) << "the stopping relay sent no answer: " << answer.status().to_string();
  ASSERT_EQ(answer->type, wire::Type::kOnionResponse);
  ASSERT_EQ(answer->kind, onion::ResponseKind::kHopError) << describe(*answer);
  EXPECT_EQ(answer->hop, 0u) << "the relay, not the next hop, answered";
  auto j = swarm::parse_json(as_chars(answer->body));
  ASSERT_TRUE(j.ok()) << describe(*answer);
  EXPECT_EQ((*j)["code"], "unavailable") << describe(*answer);
  EXPECT_EQ((*j)["message"], "this node is stopping; try another path") << describe(*answer);

  ASSERT_TRUE(test::wait_gone(relay_pid_));
  const std::string log = test::read_file(net_.node_dir(1) + "/node.log");
  EXPECT_NE(log.find("stopping at once (a second stop signal): 1 relayed request(s) and 0 store(s)"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("still unanswered after"), std::string::npos) << "the wait ran out before the second signal";
}

// The same for a client's guard: a request waiting on a guard that hangs
// ends with `unavailable` "lost the connection" (so the client takes a new
// guard) rather than `timeout` after the whole request timeout.
TEST(Relay, AClientLosesAHungGuardBeforeItsTimeout) {
  crypto::init();
  test::Devnet net(1, 1);
  ASSERT_TRUE(net.ok()) << net.start_output();
  const auto guard = net.nodes().at(0);
  zmq::context_t ctx;
  auto channel = client::Channel::open(ctx, guard);
  ASSERT_TRUE(channel.ok()) << channel.status().to_string();
  auto onion = [&] {
    const std::vector<crypto::X25519PublicKey> hops = {guard.x25519};
    auto built = onion::build(hops, as_bytes(R"({"method":"info","params":{}})"), test::now_ms());
    EXPECT_TRUE(built.ok());
    return built->blob;
  };
  auto up = channel->round_trip(onion(), 20'000);
  ASSERT_TRUE(up.ok()) << up.status().to_string();

  const pid_t pid = test::devnet_pid(net, 1);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  const Resume resume{pid};
  auto hung = channel->round_trip(onion(), 60'000);
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status().code(), Code::kUnavailable) << hung.status().to_string();
  EXPECT_NE(hung.status().message().find("lost the connection"), std::string::npos) << hung.status().to_string();
}

// An answer of more than 16 KiB waits for a relay's worker, so it counts
// against max_queued_bytes like a request: a relay with the smallest bound
// (16 KiB) answers busy instead of queueing it, and still relays a small
// answer (PROTOCOL.md 5.7; docs/SECURITY.md, "Floods and limits").
TEST(Relay, AnAnswerOverTheQueuedBytesBoundIsRefusedBusy) {
  crypto::init();
  test::Devnet net(2, 2);
  ASSERT_TRUE(net.ok()) << net.start_output();
  const auto nodes = net.nodes();
  ASSERT_EQ(nodes.size(), 2u);
  const auto& small = nodes[0];  // restarted with the smallest bound
  const auto& other = nodes[1];
  ASSERT_TRUE(test::stop_devnet_node(net, 1));
  const std::string config = net.dir() + "/small-queue.json";
  std::ofstream(config) << nlohmann::json{{"data_dir", net.node_dir(1)},
                                          {"network", net.network_file()},
                                          {"max_queued_bytes", 16384}}
                               .dump();
  test::RunningNode running(test::restart_devnet_node(net, 1, {"--config", config}));
  ASSERT_GT(running.pid, 0);
  ASSERT_TRUE(test::wait_answering(small)) << test::read_file(net.node_dir(1) + "/node.log");

  // 24 messages of 1 KiB: a retrieve answer of more than 24 KiB, padded to 32 KiB.
  test::TestAccount a;
  for (int i = 0; i < 24; ++i) {
    swarm::rpc::StoreRequest s;
    s.account = a.id;
    s.timestamp_ms = test::now_ms();
    s.data = crypto::random_bytes(1024);
    test::RawClient c(other);
    auto r = c.request({other}, swarm::rpc::Request(s));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
  }
  auto retrieve = [&] {
    swarm::rpc::RetrieveRequest r;
    r.account = a.id;
    r.timestamp_ms = test::now_ms();
    r.limit = swarm::rpc::kMaxRetrieveLimit;
    swarm::rpc::Request req = r;
    swarm::rpc::sign_request(req, a.ed);
    return swarm::rpc::serialize_request(req);
  };

  // Relayed by the node with the default bound: the whole answer.
  {
    test::RawClient c(other);
    auto got = c.request_raw({other, small}, as_chars(retrieve()));
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_EQ((*got)["messages"].size(), 24u) << got->dump();
  }
  // Relayed by the node with the 16 KiB bound: busy from that hop.
  {
    test::RawClient c(small);
    auto got = c.send_onion({small, other}, retrieve());
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_EQ(got->kind, onion::ResponseKind::kHopError) << describe(*got);
    EXPECT_EQ(got->hop, 0u);
    auto j = swarm::parse_json(as_chars(got->body));
    ASSERT_TRUE(j.ok());
    EXPECT_EQ((*j)["code"], "busy") << describe(*got);
  }
  // A small answer still goes through it.
  {
    test::RawClient c(small);
    auto got = c.send_onion({small, other}, as_bytes(R"({"method":"info","params":{}})"));
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_EQ(got->kind, onion::ResponseKind::kFinal) << describe(*got);
  }
  EXPECT_EQ(running.stop(), 0) << "node did not stop cleanly";
}

}  // namespace
}  // namespace onionswarm
