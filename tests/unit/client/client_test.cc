// Client parts that need no network: the cursor rule, opening, and the
// guard kept across runs (path() only connects in the background).
#include "client/client.h"

#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "onion/encoding.h"

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

}  // namespace
}  // namespace onionswarm::client
