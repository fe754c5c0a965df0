// Client parts that need no network of nodes: the cursor rule, opening,
// the guard kept across runs (path() only connects in the background), and
// what a guard that never answers does to the path (a CURVE ROUTER here).
#include "client/client.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "client/envelope.h"
#include "fake_network.h"
#include "test_support.h"
#include "onion/encoding.h"
#include "onion/wire.h"
#include "swarm/rpc.h"

namespace onionswarm::client {
namespace {

namespace fs = std::filesystem;
namespace rpc = swarm::rpc;

constexpr uint64_t kLag = 2 * rpc::kMaxClockSkewMs;

TEST(NextCursor, KeepsPreviousWhenNothingSeen) {
  RetrieveCursor prev{12345, {}};
  prev.hash.bytes.fill(7);
  auto c = next_cursor(prev, std::nullopt, 10'000'000, false);
  EXPECT_EQ(c.timestamp_ms, 12345u);
  EXPECT_EQ(c.hash, prev.hash);
}

TEST(NextCursor, LagsNodeClockByTwiceTheSkew) {
  const uint64_t now = 10'000'000;
  auto c = next_cursor({}, now - 1000, now, false);
  EXPECT_EQ(c.timestamp_ms, now - kLag);
  EXPECT_EQ(c.hash, crypto::Hash{});
}

TEST(NextCursor, UsesLastSeenWhenOlderThanWindow) {
  const uint64_t now = 10'000'000;
  auto c = next_cursor({}, now - kLag - 5000, now, false);
  EXPECT_EQ(c.timestamp_ms, now - kLag - 5000);
}

// A node still catching up may lack messages older than any cursor it
// would give: whatever was seen, the previous cursor stays.
TEST(NextCursor, KeepsPreviousWhenTheNodeIsCatchingUp) {
  const uint64_t now = 10'000'000;
  RetrieveCursor prev{12345, {}};
  prev.hash.bytes.fill(7);
  for (uint64_t seen : {uint64_t(1), now - kLag - 5000, now - 1000}) {
    auto c = next_cursor(prev, seen, now, true);
    EXPECT_EQ(c.timestamp_ms, 12345u) << seen;
    EXPECT_EQ(c.hash, prev.hash) << seen;
    EXPECT_NE(next_cursor(prev, seen, now, false).timestamp_ms, 12345u) << seen;
  }
}

TEST(NextCursor, NeverUnderflows) {
  auto c = next_cursor({}, 50, 1000, false);
  EXPECT_EQ(c.timestamp_ms, 0u);
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    char tmpl[] = "/tmp/client_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    home_ = tmpl;
    for (uint8_t i = 0; i < 10; ++i) {
      swarm::NodeDescriptor n;
      n.ed25519.bytes.fill(i);
      n.x25519 = crypto::X25519KeyPair::generate().public_key();
      n.address = "tcp://127.0.0.1:" + std::to_string(1 + i);  // nothing listens
      nodes_.push_back(n);
    }
  }
  void TearDown() override { fs::remove_all(home_); }

  ClientOptions options(uint64_t seed) {
    ClientOptions o;
    o.home = home_;
    o.nodes = nodes_;
    o.network_id = "test";
    auto engine = std::make_shared<std::mt19937_64>(seed);
    o.random = [engine] { return (*engine)(); };
    return o;
  }

  std::string home_;
  std::vector<swarm::NodeDescriptor> nodes_;
};

TEST_F(ClientTest, OpenWithoutIdentityIsNotFound) {
  auto c = Client::open(options(1));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kNotFound);
}

TEST_F(ClientTest, OpenWithoutNodesIsInvalid) {
  ASSERT_TRUE(Identity::create(home_).ok());
  auto o = options(1);
  o.nodes.clear();
  EXPECT_EQ(Client::open(std::move(o)).status().code(), Code::kInvalidArgument);
}

TEST_F(ClientTest, GuardIsKeptAcrossRuns) {
  auto id = Identity::create(home_);
  ASSERT_TRUE(id.ok());
  crypto::X25519PublicKey guard;
  {
    auto c = Client::open(options(1));
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_EQ((*c)->account_id(), id->account_id());
    auto p = (*c)->path();
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    guard = p->guard.x25519;
    auto stored = (*c)->store().get_setting("guard");
    ASSERT_TRUE(stored.ok());
    ASSERT_TRUE(stored->has_value());
    EXPECT_EQ(**stored, to_hex(guard.view()));
  }
  for (uint64_t seed = 2; seed < 6; ++seed) {
    auto c = Client::open(options(seed));
    ASSERT_TRUE(c.ok());
    auto p = (*c)->path();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->guard.x25519, guard);
    EXPECT_NE(p->middle.x25519, guard);
    EXPECT_NE(p->exit.x25519, guard);
  }
}

TEST_F(ClientTest, SendToGroupAccountIsRefused) {
  ASSERT_TRUE(Identity::create(home_).ok());
  auto c = Client::open(options(1));
  ASSERT_TRUE(c.ok());
  auto group = swarm::AccountId::group(crypto::Ed25519KeyPair::generate().public_key());
  EXPECT_EQ((*c)->send(group, "hi").status().code(), Code::kInvalidArgument);
  EXPECT_EQ((*c)->seal(group, "hi").status().code(), Code::kInvalidArgument);
}

TEST_F(ClientTest, SealedMessageKeepsItsHashAndATamperedOneIsRefused) {
  ASSERT_TRUE(Identity::create(home_).ok());
  auto c = Client::open(options(1));
  ASSERT_TRUE(c.ok());
  auto to = swarm::AccountId::user(crypto::X25519KeyPair::generate().public_key());
  auto m = (*c)->seal(to, "hello");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->recipient, to);
  EXPECT_EQ(m->hash, crypto::hash(m->sealed));
  auto tampered = *m;
  tampered.sealed.back() ^= 1;
  EXPECT_EQ((*c)->send(tampered).status().code(), Code::kInvalidArgument);  // refused before any I/O
  EXPECT_EQ((*c)->seal(to, std::string(200'000, 'x')).status().code(), Code::kInvalidArgument);
}

TEST_F(ClientTest, NodesThatFailedAreAvoidedByLaterRequests) {
  // Nothing listens: every guard is unreachable. A request tries its guard,
  // then one new guard; the next request must not go back to either.
  ASSERT_TRUE(Identity::create(home_).ok());
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    auto o = options(seed);
    o.timeout_ms = 100;  // the wait for the guard's handshake
    auto c = Client::open(std::move(o));
    ASSERT_TRUE(c.ok());
    auto first = (*c)->path();
    ASSERT_TRUE(first.ok());
    const auto target = (*c)->account_id();
    EXPECT_FALSE((*c)->request(target, swarm::rpc::InfoRequest{}).ok());
    auto second = (*c)->path();
    ASSERT_TRUE(second.ok());
    EXPECT_NE(second->guard.x25519, first->guard.x25519);
    EXPECT_FALSE((*c)->request(target, swarm::rpc::InfoRequest{}).ok());
    auto third = (*c)->path();
    ASSERT_TRUE(third.ok());
    EXPECT_NE(third->guard.x25519, first->guard.x25519) << "seed " << seed;
    EXPECT_NE(third->guard.x25519, second->guard.x25519) << "seed " << seed;
  }
}

// A CURVE ROUTER with a node's key that completes the handshake and then
// answers nothing, as a hung guard does; counts the requests it was sent.
class SilentGuard {
 public:
  SilentGuard() : key_(crypto::X25519KeyPair::generate()), router_(ctx_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    router_.set(zmq::sockopt::curve_server, 1);
    router_.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(key_.secret().data(), 32));
    router_.bind("tcp://127.0.0.1:*");
  }
  swarm::NodeDescriptor descriptor(swarm::NodeDescriptor n) {
    n.x25519 = key_.public_key();
    n.address = router_.get(zmq::sockopt::last_endpoint);
    return n;
  }
  // Requests received so far (reads what is queued, waits for nothing).
  size_t requests() {
    std::vector<zmq::message_t> frames;
    while (zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      ++requests_;
      frames.clear();
    }
    return requests_;
  }

 private:
  crypto::X25519KeyPair key_;
  zmq::context_t ctx_;
  zmq::socket_t router_;
  size_t requests_ = 0;
};

// The kept guard is the silent one, and every other node is unreachable.
class SilentGuardTest : public ClientTest {
 protected:
  void SetUp() override {
    ClientTest::SetUp();
    nodes_[0] = silent_.descriptor(nodes_[0]);
    ASSERT_TRUE(Identity::create(home_).ok());
    auto store = LocalStore::open(home_);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->set_guard(nodes_[0].x25519).ok());
  }
  SilentGuard silent_;
};

// With a wait shorter than the relays' own, silence may come from any node
// of the path: the retry keeps the guard (new middle, exit, destination),
// and the second silence suspects the guard too, so the next request does
// not go through it again.
TEST_F(SilentGuardTest, ASecondSilenceThroughTheSameGuardReplacesIt) {
  auto o = options(1);
  o.timeout_ms = 300;
  ASSERT_LT(o.timeout_ms, wire::kDefaultRelayTimeoutMs);
  auto c = Client::open(std::move(o));
  ASSERT_TRUE(c.ok());
  auto before = (*c)->path();
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->guard.x25519, nodes_[0].x25519);
  auto r = (*c)->request((*c)->account_id(), swarm::rpc::InfoRequest{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kTimeout) << r.status().to_string();
  EXPECT_EQ(silent_.requests(), 2u) << "the retry should have gone through the same guard";
  // The next request builds its path with a new guard (unreachable here).
  auto next = (*c)->request((*c)->account_id(), swarm::rpc::InfoRequest{});
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), Code::kUnavailable) << next.status().to_string();
  EXPECT_EQ(silent_.requests(), 2u) << "a guard silent twice in a row was asked again";
  auto after = (*c)->path();
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->guard.x25519, nodes_[0].x25519);
}

// Every relay answers a hop error once it has waited the relay timeout, so
// a longer silence is the guard's own: the retry of the same request
// already goes through a new guard.
TEST_F(SilentGuardTest, SilenceLongerThanTheRelayTimeoutReplacesTheGuardAtOnce) {
  auto o = options(1);
  o.timeout_ms = wire::kDefaultRelayTimeoutMs + 500;
  auto c = Client::open(std::move(o));
  ASSERT_TRUE(c.ok());
  auto r = (*c)->request((*c)->account_id(), swarm::rpc::InfoRequest{});
  ASSERT_FALSE(r.ok());  // the new guard is unreachable as well
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().to_string();
  EXPECT_EQ(silent_.requests(), 1u) << "the retry went through the silent guard again";
  auto after = (*c)->path();
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->guard.x25519, nodes_[0].x25519);
}

uint64_t wall_now_ms() {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// A retrieve answer (now_ms = now) of n messages sealed to `to` by a new
// sender, timestamped from `first_ms` one ms apart; their texts go to *texts.
swarm::rpc::RetrieveAnswer sealed_inbox(const Identity& to, uint64_t now, uint64_t first_ms, int n,
                                        std::set<std::string>* texts) {
  const auto sender = crypto::Ed25519KeyPair::generate();
  swarm::rpc::RetrieveAnswer inbox;
  inbox.now_ms = now;
  for (int i = 0; i < n; ++i) {
    const std::string text = "message " + std::to_string(i);
    auto sealed = seal_message(sender, to.x25519().public_key(), first_ms + i, text);
    EXPECT_TRUE(sealed.ok()) << sealed.status().to_string();
    if (!sealed.ok()) break;
    inbox.messages.push_back({crypto::hash(*sealed), first_ms + i, now + 3'600'000, *sealed});
    texts->insert(text);
  }
  return inbox;
}

// Nodes built before the binary retrieve answer refuse its "format" field,
// as every node refuses a field it does not know. Client::fetch asks such a
// node again in JSON and gets every message.
TEST_F(ClientTest, FetchFromANodeThatRefusesTheBinaryFormatAsksAgainInJson) {
  auto id = Identity::create(home_);
  ASSERT_TRUE(id.ok());
  const uint64_t now = wall_now_ms();
  std::set<std::string> sent;
  const swarm::rpc::RetrieveAnswer inbox = sealed_inbox(*id, now, now - 1000, 3, &sent);
  std::atomic<int> refused{0};
  test::FakeNetwork old_nodes(4, [&](const nlohmann::json& request, const swarm::NodeDescriptor&) -> Bytes {
    if (!request.is_object() || request.value("method", "") != "retrieve")
      return swarm::rpc::error_response(error(Code::kInvalidArgument, "unexpected request"));
    if (request["params"].contains("format")) {
      ++refused;
      return swarm::rpc::error_response(error(Code::kInvalidArgument, "format: unknown field"));
    }
    return swarm::rpc::retrieve_response(inbox);
  });
  auto o = options(1);
  o.nodes = old_nodes.nodes();
  auto c = Client::open(std::move(o));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto got = (*c)->fetch();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(test::verified_texts(*got), sent);
  EXPECT_GE(refused.load(), 1) << "the fetch never asked for the binary format";
  EXPECT_EQ(old_nodes.requests(), size_t(refused.load()) * 2) << "each refusal is followed by one JSON retrieve";
}

// Client::fetch keeps its stored cursor when a page comes from a node that
// says it is still catching up (PROTOCOL.md 12.1), and moves it otherwise.
TEST_F(ClientTest, FetchKeepsTheCursorOnAnswersOfANodeCatchingUp) {
  auto id = Identity::create(home_);
  ASSERT_TRUE(id.ok());
  const uint64_t now = wall_now_ms();
  const uint64_t old_ms = now - 10 * 60'000;  // older than the cursor's two-minute overlap
  std::set<std::string> sent;
  swarm::rpc::RetrieveAnswer inbox = sealed_inbox(*id, now, old_ms, 3, &sent);
  std::atomic<bool> catching_up{true};
  test::FakeNetwork nodes(4, [&](const nlohmann::json&, const swarm::NodeDescriptor&) -> Bytes {
    swarm::rpc::RetrieveAnswer a = inbox;
    a.catching_up = catching_up.load();
    return swarm::rpc::retrieve_response_binary(a);
  });
  auto o = options(1);
  o.nodes = nodes.nodes();
  auto c = Client::open(std::move(o));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  const std::string me = (*c)->account_id().to_string();

  auto got = (*c)->fetch();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(test::verified_texts(*got), sent);
  auto cursor = (*c)->store().cursor(me, 0);
  ASSERT_TRUE(cursor.ok());
  EXPECT_EQ(cursor->timestamp_ms, 0u) << "the cursor moved on an answer that said catching_up";

  catching_up = false;
  got = (*c)->fetch();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_TRUE(got->empty()) << "messages already kept were returned again";
  cursor = (*c)->store().cursor(me, 0);
  ASSERT_TRUE(cursor.ok());
  EXPECT_EQ(cursor->timestamp_ms, old_ms + 2) << "the cursor should follow the last message seen";
}

}  // namespace
}  // namespace onionswarm::client
