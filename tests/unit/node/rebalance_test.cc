// Rebalancing decisions (node/rebalance.h) against a real LMDB store:
// which messages leave (plan_handoff), and that hand_over drops a message
// only after a member of its new swarm acknowledged it. The members are
// ROUTER sockets on loopback with CURVE (the node's real transport), which
// acknowledge, refuse or ignore each push as the test says.
#include "node/rebalance.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <thread>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "node/replica.h"
#include "onion/wire.h"
#include "swarm/json.h"
#include "test_support.h"

namespace onionswarm::node {
namespace {

constexpr uint64_t kNow = 1'700'000'000'000;  // ms
constexpr uint64_t kLater = kNow + 3'600'000;

swarm::NodeDescriptor descriptor_of(const crypto::Ed25519KeyPair& ed, std::string address = "tcp://127.0.0.1:1") {
  swarm::NodeDescriptor d;
  d.ed25519 = ed.public_key();
  d.x25519 = ed.to_x25519().public_key();
  d.address = std::move(address);
  return d;
}

// An account that swarm_index_for maps to swarm `want` of `swarms`.
swarm::AccountId account_in(const std::vector<swarm::Swarm>& swarms, size_t want) {
  for (int i = 0; i < 10'000; ++i) {
    auto a = swarm::AccountId::user(crypto::X25519KeyPair::generate().public_key());
    if (swarm::swarm_index_for(swarms, a) == want) return a;
  }
  ADD_FAILURE() << "no account for swarm " << want;
  return {};
}

// A swarm member on loopback: a CURVE ROUTER that answers every kReplicate
// with decide(message): kReplicateAck, kError, or (nullopt) nothing. It
// records the hashes it was offered.
class FakeMember {
 public:
  using Decide = std::function<std::optional<wire::Type>(const StoredMessage&)>;

  explicit FakeMember(Decide decide) : decide_(std::move(decide)), router_(ctx_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::curve_server, 1);
    router_.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(x_.secret().data(), 32));
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:0");
    node_ = descriptor_of(ed_, router_.get(zmq::sockopt::last_endpoint));
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeMember() {
    stop_ = true;
    thread_.join();
  }
  const swarm::NodeDescriptor& node() const { return node_; }
  std::set<crypto::Hash> offered() const {
    std::lock_guard lock(mu_);
    return offered_;
  }

 private:
  void serve() {
    while (!stop_) {  // bounded by the destructor
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(router_, std::back_inserter(frames)) || frames.size() != 3) continue;
      auto h = wire::decode_header({frames[1].data<uint8_t>(), frames[1].size()});
      if (!h.ok() || h->type != wire::Type::kReplicate) continue;
      auto j = swarm::parse_json(frames[2].to_string_view());
      if (!j.ok()) continue;
      auto m = replica_from_json(*j);
      if (!m.ok()) continue;
      {
        std::lock_guard lock(mu_);
        offered_.insert(m->hash);
      }
      auto answer = decide_(*m);
      if (!answer) continue;
      const Bytes header = wire::encode_header({wire::kVersion, *answer, h->request_id});
      const std::string body = *answer == wire::Type::kReplicateAck ? "new" : R"({"code":"unavailable"})";
      std::array<zmq::const_buffer, 3> out = {zmq::buffer(frames[0].data(), frames[0].size()), zmq::buffer(header),
                                              zmq::buffer(body)};
      zmq::send_multipart(router_, out);
    }
  }

  Decide decide_;
  crypto::Ed25519KeyPair ed_ = crypto::Ed25519KeyPair::generate();
  crypto::X25519KeyPair x_ = ed_.to_x25519();
  zmq::context_t ctx_;
  zmq::socket_t router_;
  swarm::NodeDescriptor node_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::set<crypto::Hash> offered_;  // GUARDED_BY(mu_)
  std::thread thread_;
};

class Rebalance : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    StorageOptions o;
    o.path = dir_.path() + "/db";
    o.map_size = size_t(64) << 20;
    auto s = Storage::open(o);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    storage_ = std::move(*s);
  }

  // A new message for account, expiring at expiry.
  static StoredMessage message_for(const swarm::AccountId& account, uint64_t expiry = kLater) {
    StoredMessage m;
    m.account = account;
    m.timestamp_ms = kNow - 1000;
    m.expiry_ms = expiry;
    m.data = crypto::random_bytes(64);
    m.hash = crypto::hash(m.data);
    return m;
  }
  // Stores one message for account, expiring at expiry.
  StoredMessage put(const swarm::AccountId& account, uint64_t expiry = kLater) {
    StoredMessage m = message_for(account, expiry);
    EXPECT_EQ(storage_->store(m).value(), StoreResult::kNew);
    return m;
  }
  bool held(const crypto::Hash& h) { return storage_->get(h, kNow).value().has_value(); }

  // This node's keys; swarm 0 is {self}, swarm 1 the given members.
  std::vector<swarm::Swarm> two_swarms(std::vector<swarm::NodeDescriptor> others) {
    std::vector<swarm::Swarm> s(2);
    s[0].id = swarm::swarm_anchor(0);
    s[0].members = {descriptor_of(keys_.ed25519)};
    s[1].id = swarm::swarm_anchor(1);
    s[1].members = std::move(others);
    return s;
  }

  test::TempDir dir_;
  std::unique_ptr<Storage> storage_;
  static NodeKeys make_keys() {
    crypto::init();
    auto ed = crypto::Ed25519KeyPair::generate();
    auto x = ed.to_x25519();
    return NodeKeys{std::move(ed), std::move(x)};
  }
  NodeKeys keys_ = make_keys();
  HandoffOptions fast() {
    HandoffOptions o;
    o.batch = 4;
    o.request_timeout_ms = 1'500;
    return o;
  }
  static bool never() { return false; }
};

TEST_F(Rebalance, PlanIsEmptyWithoutSwarms) {
  put(swarm::AccountId::user(crypto::X25519KeyPair::generate().public_key()));
  auto plan = plan_handoff(*storage_, {}, keys_.x25519.public_key(), 100, kNow);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->empty());
}

TEST_F(Rebalance, PlanListsOnlyAccountsOfOtherSwarms) {
  const auto swarms = two_swarms({descriptor_of(crypto::Ed25519KeyPair::generate())});
  const auto mine = account_in(swarms, 0), theirs = account_in(swarms, 1);
  std::set<crypto::Hash> leaving;
  for (int i = 0; i < 3; ++i) put(mine);
  for (int i = 0; i < 4; ++i) leaving.insert(put(theirs).hash);
  auto plan = plan_handoff(*storage_, swarms, keys_.x25519.public_key(), 100, kNow);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_EQ(plan->size(), 1u);
  ASSERT_TRUE(plan->count(1));
  std::set<crypto::Hash> planned;
  for (const auto& m : plan->at(1)) {
    EXPECT_EQ(m.account, theirs);
    planned.insert(m.hash);
  }
  EXPECT_EQ(planned, leaving);
}

TEST_F(Rebalance, PlanHandsEverythingOverWhenThisNodeLeftEverySwarm) {
  auto swarms = two_swarms({descriptor_of(crypto::Ed25519KeyPair::generate())});
  const auto a0 = account_in(swarms, 0), a1 = account_in(swarms, 1);
  swarms[0].members = {descriptor_of(crypto::Ed25519KeyPair::generate())};  // we are no member any more
  put(a0);
  put(a1);
  auto plan = plan_handoff(*storage_, swarms, keys_.x25519.public_key(), 100, kNow);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->at(0).size(), 1u);
  EXPECT_EQ(plan->at(1).size(), 1u);
}

TEST_F(Rebalance, PlanSkipsExpiredMessagesAndStopsAtMaxMessages) {
  const auto swarms = two_swarms({descriptor_of(crypto::Ed25519KeyPair::generate())});
  const auto theirs = account_in(swarms, 1);
  put(theirs, kNow - 1);  // expired: not worth moving
  for (int i = 0; i < 5; ++i) put(theirs);
  auto all = plan_handoff(*storage_, swarms, keys_.x25519.public_key(), 100, kNow);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->at(1).size(), 5u);
  auto capped = plan_handoff(*storage_, swarms, keys_.x25519.public_key(), 3, kNow);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->at(1).size(), 3u);
}

TEST_F(Rebalance, PlanPagesThroughMoreAccountsThanOneListHolds) {
  // plan_handoff lists accounts 1,000 at a time: 2,500 accounts of which
  // about half leave, each with one message.
  const auto swarms = two_swarms({descriptor_of(crypto::Ed25519KeyPair::generate())});
  std::set<crypto::Hash> leaving;
  std::vector<std::future<Result<StoreResult>>> done;
  for (int i = 0; i < 2'500; ++i) {
    const auto account = swarm::AccountId::user(crypto::X25519KeyPair::generate().public_key());
    StoredMessage m = message_for(account);
    if (swarm::swarm_index_for(swarms, account) == 1) leaving.insert(m.hash);
    auto p = std::make_shared<std::promise<Result<StoreResult>>>();
    done.push_back(p->get_future());
    storage_->store_async(std::move(m), [p](Result<StoreResult> r) { p->set_value(std::move(r)); });
  }
  for (auto& f : done) ASSERT_EQ(f.get().value(), StoreResult::kNew);
  ASSERT_GT(leaving.size(), 1'000u);
  auto plan = plan_handoff(*storage_, swarms, keys_.x25519.public_key(), 10'000, kNow);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_EQ(plan->size(), 1u);
  std::set<crypto::Hash> planned;
  for (const auto& m : plan->at(1)) planned.insert(m.hash);
  EXPECT_EQ(planned, leaving);
}

TEST_F(Rebalance, DropsOnlyWhatAMemberAcknowledged) {
  // Acknowledges messages whose hash starts with an even byte, refuses the others.
  FakeMember member([](const StoredMessage& m) {
    return m.hash.bytes[0] % 2 == 0 ? wire::Type::kReplicateAck : wire::Type::kError;
  });
  const auto swarms = two_swarms({member.node()});
  const auto mine = account_in(swarms, 0), theirs = account_in(swarms, 1);
  const auto kept_mine = put(mine);
  std::vector<StoredMessage> leaving;
  for (int i = 0; i < 12; ++i) leaving.push_back(put(theirs));
  size_t even = 0;
  for (const auto& m : leaving) even += m.hash.bytes[0] % 2 == 0;

  auto r = hand_over(fast(), keys_, swarms, *storage_, kNow, never);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->moved, even);
  EXPECT_EQ(r->pending, leaving.size() - even);
  for (const auto& m : leaving) EXPECT_EQ(held(m.hash), m.hash.bytes[0] % 2 != 0);
  EXPECT_TRUE(held(kept_mine.hash));                 // our own account never leaves
  EXPECT_FALSE(member.offered().count(kept_mine.hash));
  // Dropped without a tombstone: it may come back if the swarms change again.
  for (const auto& m : leaving)
    if (m.hash.bytes[0] % 2 == 0) {
      EXPECT_EQ(storage_->store(m).value(), StoreResult::kNew);
      break;
    }
}

TEST_F(Rebalance, SilentMemberMeansNothingIsDropped) {
  FakeMember silent([](const StoredMessage&) { return std::nullopt; });
  const auto swarms = two_swarms({silent.node()});
  const auto theirs = account_in(swarms, 1);
  std::vector<StoredMessage> leaving;
  for (int i = 0; i < 3; ++i) leaving.push_back(put(theirs));
  auto r = hand_over(fast(), keys_, swarms, *storage_, kNow, never);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->moved, 0u);
  EXPECT_EQ(r->pending, 3u);
  for (const auto& m : leaving) EXPECT_TRUE(held(m.hash));
  EXPECT_EQ(silent.offered().size(), 3u);  // it was asked, it did not answer
}

TEST_F(Rebalance, EveryMemberIsOfferedEveryMessageAndOneAckSuffices) {
  FakeMember acks([](const StoredMessage&) { return wire::Type::kReplicateAck; });
  FakeMember refuses([](const StoredMessage&) { return wire::Type::kError; });
  const auto swarms = two_swarms({refuses.node(), acks.node()});
  const auto theirs = account_in(swarms, 1);
  std::set<crypto::Hash> leaving;
  for (int i = 0; i < 9; ++i) leaving.insert(put(theirs).hash);  // more than one batch
  auto r = hand_over(fast(), keys_, swarms, *storage_, kNow, never);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->moved, 9u);
  EXPECT_EQ(r->pending, 0u);
  EXPECT_EQ(acks.offered(), leaving);
  EXPECT_EQ(refuses.offered(), leaving);
  for (const auto& h : leaving) EXPECT_FALSE(held(h));
}

TEST_F(Rebalance, StoppingEndsThePassWithoutDroppingUnconfirmedMessages) {
  FakeMember acks([](const StoredMessage&) { return wire::Type::kReplicateAck; });
  const auto swarms = two_swarms({acks.node()});
  const auto theirs = account_in(swarms, 1);
  std::vector<StoredMessage> leaving;
  for (int i = 0; i < 10; ++i) leaving.push_back(put(theirs));
  auto r = hand_over(fast(), keys_, swarms, *storage_, kNow, [] { return true; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->moved, 0u);  // stopped before the first batch: nothing pushed, nothing dropped
  EXPECT_EQ(r->pending, 10u);
  for (const auto& m : leaving) EXPECT_TRUE(held(m.hash));
}

}  // namespace
}  // namespace onionswarm::node
