// RequestHandler against a real LMDB Storage in a fresh temp dir, a static
// directory of 10 nodes (2 swarms of 5) and an injected clock.
#include "node/handler.h"

#include <gtest/gtest.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "onion/encoding.h"
#include "onion/layer.h"
#include "test_support.h"

namespace onionswarm::node {
namespace {

namespace rpc = swarm::rpc;
using nlohmann::json;

constexpr uint64_t kNow = 1'700'000'000'000;
constexpr auto kWait = std::chrono::seconds(10);

crypto::Ed25519KeyPair key_from(uint8_t tag, uint32_t i) {
  crypto::init();
  Bytes seed(crypto::kSeedSize, tag);
  seed[0] = uint8_t(i);
  seed[1] = uint8_t(i >> 8);
  return std::move(crypto::Ed25519KeyPair::from_seed(seed)).value();
}

swarm::NodeDescriptor node_descriptor(uint32_t i) {
  auto ed = key_from(0xA5, i);
  swarm::NodeDescriptor d;
  d.ed25519 = ed.public_key();
  d.x25519 = ed.to_x25519().public_key();
  d.address = "tcp://127.0.0.1:" + std::to_string(4500 + i);
  return d;
}

swarm::AccountId user_of(const crypto::Ed25519KeyPair& k) {
  return swarm::AccountId::user(k.to_x25519().public_key());
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A parsed answer: the ok object, or the error's code, message and swarm.
struct Answer {
  bool ok = false;
  json body;
  Code code = Code::kOk;
  std::string message;
  std::optional<swarm::Swarm> swarm;
};

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    for (uint32_t i = 0; i < 10; ++i) nodes_.push_back(node_descriptor(i));
    directory_ = std::make_unique<swarm::StaticDirectory>(nodes_);
    swarms_ = swarm::compute_swarms(nodes_, 5);
    ASSERT_EQ(swarms_.size(), 2u);
    own_index_ = swarm::swarm_index_for(swarms_, account_);
    storage_ = open_storage(storage_options());
    ASSERT_NE(storage_, nullptr);
    handler_ = make_handler(swarms_[own_index_].members[0]);
  }

  StorageOptions storage_options() const {
    StorageOptions o;
    o.path = dir_ / "db";
    o.map_size = size_t(64) << 20;
    return o;
  }
  static std::unique_ptr<Storage> open_storage(const StorageOptions& o) {
    auto s = Storage::open(o);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::unique_ptr<RequestHandler> make_handler(const swarm::NodeDescriptor& self, HandlerOptions o = {},
                                               RequestHandler::OnNewStore on_new = nullptr) {
    o.network_id = "unit";
    o.swarm_size = 5;
    return std::make_unique<RequestHandler>(*storage_, *directory_, self.ed25519, self.x25519, o,
                                            [this] { return now_.load(); }, std::move(on_new));
  }

  const swarm::Swarm& own_swarm() const { return swarms_[own_index_]; }
  const swarm::Swarm& other_swarm() const { return swarms_[1 - own_index_]; }

  static Answer call(RequestHandler& h, const Bytes& request) {
    return answer_of([&](RequestHandler::Done done) { h.handle(request, std::move(done)); });
  }
  // What accept_peer_delete answers a delete another node pushed.
  static Answer peer_delete(RequestHandler& h, const Bytes& request) {
    return answer_of([&](RequestHandler::Done done) { h.accept_peer_delete(request, std::move(done)); });
  }
  static Answer answer_of(const std::function<void(RequestHandler::Done)>& start) {
    auto promise = std::make_shared<std::promise<Bytes>>();
    auto future = promise->get_future();
    start([promise](Bytes answer) { promise->set_value(std::move(answer)); });
    Answer a;
    if (future.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "handler did not answer within 10 s";
      a.code = Code::kTimeout;
      return a;
    }
    Bytes raw = future.get();
    auto parsed = rpc::parse_response(raw);
    EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
    if (!parsed.ok()) {
      a.code = Code::kInternal;
      return a;
    }
    if (auto* j = std::get_if<json>(&*parsed)) {
      a.ok = true;
      a.body = *j;
    } else {
      auto& e = std::get<rpc::ErrorAnswer>(*parsed);
      a.code = e.status.code();
      a.message = e.status.message();
      a.swarm = e.swarm;
    }
    return a;
  }
  Answer call(const rpc::Request& r) { return call(*handler_, rpc::serialize_request(r)); }

  rpc::StoreRequest store_req(std::string_view data, uint16_t ns = 0, uint64_t ts = kNow,
                              uint64_t ttl = rpc::kDefaultTtlMs) const {
    return rpc::StoreRequest{account_, ns, ts, ttl, bytes_of(data), std::nullopt};
  }
  rpc::Request signed_retrieve(uint64_t ts = kNow, uint16_t ns = 0,
                               const crypto::Ed25519KeyPair* key = nullptr) const {
    rpc::RetrieveRequest q;
    q.account = account_;
    q.ns = ns;
    q.timestamp_ms = ts;
    rpc::Request r(q);
    rpc::sign_request(r, key ? *key : owner_);
    return r;
  }
  // A delete of the messages with these data, signed by key.
  rpc::Request signed_delete(std::initializer_list<std::string_view> data, const crypto::Ed25519KeyPair& key) const {
    rpc::DeleteRequest d;
    d.account = account_;
    d.timestamp_ms = kNow;
    for (auto x : data) d.hashes.push_back(crypto::hash(bytes_of(x)));
    rpc::Request r(d);
    rpc::sign_request(r, key);
    return r;
  }
  // The handler's raw answer to the owner's retrieve of namespace 0, signed
  // at ts, in the JSON or the binary format.
  Bytes raw_retrieve(bool binary, uint64_t ts = kNow) {
    rpc::RetrieveRequest q;
    q.account = account_;
    q.timestamp_ms = ts;
    q.binary = binary;
    rpc::Request r(q);
    rpc::sign_request(r, owner_);
    auto promise = std::make_shared<std::promise<Bytes>>();
    auto future = promise->get_future();
    handler_->handle(rpc::serialize_request(r), [promise](Bytes b) { promise->set_value(std::move(b)); });
    if (future.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "no answer to the retrieve";
      return {};
    }
    return future.get();
  }
  std::vector<std::string> retrieve_all(uint64_t ts = kNow, uint16_t ns = 0) {
    auto a = call(signed_retrieve(ts, ns));
    EXPECT_TRUE(a.ok) << a.message;
    std::vector<std::string> out;
    if (!a.ok) return out;
    auto parsed = rpc::parse_retrieve_answer(a.body);
    EXPECT_TRUE(parsed.ok());
    if (!parsed.ok()) return out;
    for (const auto& m : parsed->messages) out.emplace_back(m.data.begin(), m.data.end());
    return out;
  }

  test::TempDir dir_;
  std::atomic<uint64_t> now_{kNow};
  std::vector<swarm::NodeDescriptor> nodes_;
  std::unique_ptr<swarm::StaticDirectory> directory_;
  std::vector<swarm::Swarm> swarms_;
  crypto::Ed25519KeyPair owner_ = key_from(0x0B, 1);
  crypto::Ed25519KeyPair stranger_ = key_from(0x0B, 2);
  swarm::AccountId account_ = user_of(owner_);
  size_t own_index_ = 0;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<RequestHandler> handler_;
};

// ---- store ----------------------------------------------------------------

TEST_F(HandlerTest, UnsignedStoreToOpenInboxIsNewThenExists) {
  auto first = call(store_req("hello"));
  ASSERT_TRUE(first.ok) << first.message;
  EXPECT_EQ(first.body["result"], "new");
  EXPECT_EQ(first.body["hash"], to_hex(crypto::hash(bytes_of("hello")).view()));
  auto second = call(store_req("hello"));
  ASSERT_TRUE(second.ok) << second.message;
  EXPECT_EQ(second.body["result"], "exists");
  EXPECT_EQ(retrieve_all(), std::vector<std::string>{"hello"});
}

TEST_F(HandlerTest, UnsignedStoreToOtherNamespaceOfUserIsUnauthorized) {
  auto a = call(store_req("x", 1));
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.code, Code::kUnauthorized);
  EXPECT_TRUE(retrieve_all(kNow, 1).empty());
}

TEST_F(HandlerTest, SignedStoreToOwnNamespaceIsAccepted) {
  rpc::Request r(store_req("private", 5));
  rpc::sign_request(r, owner_);
  auto a = call(r);
  ASSERT_TRUE(a.ok) << a.message;
  EXPECT_EQ(a.body["result"], "new");
  now_ += 1;
  EXPECT_EQ(retrieve_all(kNow + 1, 5), std::vector<std::string>{"private"});
}

TEST_F(HandlerTest, StoreSignedByAnotherKeyIsUnauthorized) {
  rpc::Request r(store_req("forged", 5));
  rpc::sign_request(r, stranger_);
  auto a = call(r);
  EXPECT_EQ(a.code, Code::kUnauthorized);
}

TEST_F(HandlerTest, StoreWithTimestampTwoMinutesOffIsStale) {
  for (uint64_t ts : {kNow - 120'000, kNow + 120'000}) {
    auto a = call(store_req("late", 0, ts));
    EXPECT_FALSE(a.ok);
    EXPECT_EQ(a.code, Code::kStale) << ts;
  }
  now_ = kNow + 60'000;
  EXPECT_TRUE(call(store_req("edge", 0, kNow)).ok);  // exactly 60 s old is still accepted
}

TEST_F(HandlerTest, GroupNamespaceZeroNeedsTheGroupKey) {
  const auto group_key = key_from(0x0C, 0);
  // Pick a group key whose account lands in this handler's swarm.
  crypto::Ed25519KeyPair chosen = group_key.clone();
  for (uint32_t i = 0; i < 64; ++i) {
    auto k = key_from(0x0C, i);
    if (swarm::swarm_index_for(swarms_, swarm::AccountId::group(k.public_key())) == own_index_) {
      chosen = std::move(k);
      break;
    }
  }
  const auto group = swarm::AccountId::group(chosen.public_key());
  ASSERT_EQ(swarm::swarm_index_for(swarms_, group), own_index_);
  rpc::StoreRequest s{group, 0, kNow, rpc::kDefaultTtlMs, bytes_of("to group"), std::nullopt};
  EXPECT_EQ(call(rpc::Request(s)).code, Code::kUnauthorized);
  rpc::Request by_member(s);
  rpc::sign_request(by_member, owner_);
  EXPECT_EQ(call(by_member).code, Code::kUnauthorized);
  rpc::Request by_group(s);
  rpc::sign_request(by_group, chosen);
  auto a = call(by_group);
  ASSERT_TRUE(a.ok) << a.message;
  EXPECT_EQ(a.body["result"], "new");
}

TEST_F(HandlerTest, NewStoreIsReportedForReplicationOnceOnly) {
  std::atomic<int> reported{0};
  auto h = make_handler(own_swarm().members[1], {}, [&](const StoredMessage& m, RequestHandler::Replicated done) {
    EXPECT_EQ(m.data, bytes_of("replicate me"));
    ++reported;
    done(std::vector<crypto::X25519PublicKey>{own_swarm().members[1].x25519, own_swarm().members[2].x25519});
  });
  EXPECT_TRUE(call(*h, rpc::serialize_request(store_req("replicate me"))).ok);
  EXPECT_TRUE(call(*h, rpc::serialize_request(store_req("replicate me"))).ok);
  EXPECT_EQ(reported.load(), 1);
}

TEST_F(HandlerTest, NewStoreAnswerListsTheHoldersReplicationConfirmed) {
  auto h = make_handler(own_swarm().members[1], {}, [&](const StoredMessage&, RequestHandler::Replicated done) {
    done(std::vector<crypto::X25519PublicKey>{own_swarm().members[1].x25519, own_swarm().members[3].x25519});
  });
  auto a = call(*h, rpc::serialize_request(store_req("held twice")));
  ASSERT_TRUE(a.ok) << a.message;
  ASSERT_EQ(a.body["holders"].size(), 2u);
  EXPECT_EQ(a.body["holders"][1], to_hex(own_swarm().members[3].x25519.view()));
}

TEST_F(HandlerTest, NewStoreIsNotAcknowledgedWhenReplicationFails) {
  auto h = make_handler(own_swarm().members[1], {}, [&](const StoredMessage&, RequestHandler::Replicated done) {
    done(error(Code::kUnavailable, "no other swarm member confirmed the message"));
  });
  auto a = call(*h, rpc::serialize_request(store_req("lonely")));
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.code, Code::kUnavailable);
  // Stored locally all the same: a retry is idempotent and answers "exists".
  auto again = call(*h, rpc::serialize_request(store_req("lonely")));
  ASSERT_TRUE(again.ok) << again.message;
  EXPECT_EQ(again.body["result"], "exists");
}

TEST_F(HandlerTest, InboxStoreIsAnsweredOnlyOnceReplicasAndOwnCommitAreBothDone) {
  auto replicated = std::make_shared<std::promise<RequestHandler::Replicated>>();
  auto reported = replicated->get_future();
  auto h = make_handler(own_swarm().members[1], {}, [replicated](const StoredMessage&, RequestHandler::Replicated done) {
    replicated->set_value(std::move(done));
  });
  std::promise<Bytes> answered;
  auto answer = answered.get_future();
  h->handle(rpc::serialize_request(store_req("overlapped")), [&answered](Bytes a) { answered.set_value(std::move(a)); });
  ASSERT_EQ(reported.wait_for(kWait), std::future_status::ready) << "the store was never pushed to the swarm";
  // Bounded wait for this node's own durable commit.
  const crypto::Hash hash = crypto::hash(bytes_of("overlapped"));
  bool committed = false;
  for (int i = 0; i < 1000 && !committed; ++i) {
    auto g = storage_->get(hash, kNow);
    committed = g.ok() && g->has_value();
    if (!committed) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(committed);
  // Committed here, but no member confirmed yet: not acknowledged.
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  reported.get()(std::vector<crypto::X25519PublicKey>{own_swarm().members[1].x25519, own_swarm().members[2].x25519});
  ASSERT_EQ(answer.wait_for(kWait), std::future_status::ready);
  auto parsed = rpc::parse_response(answer.get());
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(std::holds_alternative<json>(*parsed));
  const json& body = std::get<json>(*parsed);
  EXPECT_EQ(body["result"], "new");
  ASSERT_EQ(body["holders"].size(), 2u);
  EXPECT_EQ(body["holders"][1], to_hex(own_swarm().members[2].x25519.view()));
}

TEST_F(HandlerTest, InboxStoreRefusedHereIsNotAcknowledgedThoughAMemberConfirmed) {
  handler_.reset();
  storage_.reset();
  auto o = storage_options();
  o.quota_messages = 1;
  storage_ = open_storage(o);
  ASSERT_NE(storage_, nullptr);
  auto h = make_handler(own_swarm().members[1], {}, [&](const StoredMessage&, RequestHandler::Replicated done) {
    done(std::vector<crypto::X25519PublicKey>{own_swarm().members[1].x25519, own_swarm().members[2].x25519});
  });
  EXPECT_TRUE(call(*h, rpc::serialize_request(store_req("one"))).ok);
  auto a = call(*h, rpc::serialize_request(store_req("two")));
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.code, Code::kFull);
}

TEST_F(HandlerTest, SignedStoreIsPushedOnlyAfterItsOwnCommit) {
  std::atomic<bool> held_when_pushed{false};
  std::atomic<int> pushes{0};
  auto h = make_handler(own_swarm().members[1], {}, [&](const StoredMessage& m, RequestHandler::Replicated done) {
    auto g = storage_->get(m.hash, kNow);
    held_when_pushed = g.ok() && g->has_value();
    ++pushes;
    done(std::vector<crypto::X25519PublicKey>{own_swarm().members[1].x25519, own_swarm().members[2].x25519});
  });
  rpc::Request r(store_req("private", 5));
  rpc::sign_request(r, owner_);
  auto a = call(*h, rpc::serialize_request(r));
  ASSERT_TRUE(a.ok) << a.message;
  EXPECT_EQ(pushes.load(), 1);
  EXPECT_TRUE(held_when_pushed.load());
}

TEST_F(HandlerTest, FullQuotaAnswersFullWithInboxFullMessage) {
  handler_.reset();
  storage_.reset();
  auto o = storage_options();
  o.quota_messages = 2;
  storage_ = open_storage(o);
  ASSERT_NE(storage_, nullptr);
  handler_ = make_handler(own_swarm().members[0]);
  EXPECT_TRUE(call(store_req("one")).ok);
  EXPECT_TRUE(call(store_req("two")).ok);
  auto a = call(store_req("three"));
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.code, Code::kFull);
  EXPECT_NE(a.message.find("inbox full"), std::string::npos) << a.message;
}

// ---- retrieve ---------------------------------------------------------------

TEST_F(HandlerTest, SignedRetrieveReturnsStoredMessage) {
  ASSERT_TRUE(call(store_req("for you", 0, kNow - 10, 3'600'000)).ok);
  auto a = call(signed_retrieve());
  ASSERT_TRUE(a.ok) << a.message;
  auto r = rpc::parse_retrieve_answer(a.body);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0].data, bytes_of("for you"));
  EXPECT_EQ(r->messages[0].timestamp_ms, kNow - 10);
  EXPECT_EQ(r->messages[0].expiry_ms, kNow - 10 + 3'600'000);
  EXPECT_EQ(r->messages[0].hash, crypto::hash(bytes_of("for you")));
  EXPECT_FALSE(r->more);
  EXPECT_EQ(r->now_ms, kNow);
}

TEST_F(HandlerTest, RetrieveWithWrongSignatureIsUnauthorized) {
  rpc::Request r = signed_retrieve();
  std::get<rpc::RetrieveRequest>(r).auth.signature.bytes[10] ^= 0x01;
  auto a = call(r);
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.code, Code::kUnauthorized);
  // A request altered after signing is refused too.
  rpc::Request altered = signed_retrieve(kNow + 1);
  std::get<rpc::RetrieveRequest>(altered).limit = 7;
  EXPECT_EQ(call(altered).code, Code::kUnauthorized);
}

TEST_F(HandlerTest, RetrieveSignedWithKeyOfAnotherAccountIsUnauthorized) {
  auto a = call(signed_retrieve(kNow, 0, &stranger_));
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.code, Code::kUnauthorized);
  EXPECT_NE(a.message.find("pubkey_ed25519"), std::string::npos) << a.message;
}

TEST_F(HandlerTest, RetrieveWithTimestamp61SecondsOffIsStale) {
  EXPECT_EQ(call(signed_retrieve(kNow - 61'000)).code, Code::kStale);
  EXPECT_EQ(call(signed_retrieve(kNow + 61'000)).code, Code::kStale);
  EXPECT_TRUE(call(signed_retrieve(kNow - 60'000)).ok);
  EXPECT_TRUE(call(signed_retrieve(kNow + 60'000)).ok);
}

TEST_F(HandlerTest, SameSignedRetrieveTwiceIsReplay) {
  rpc::Request r = signed_retrieve();
  auto first = call(r);
  EXPECT_TRUE(first.ok) << first.message;
  auto second = call(r);
  EXPECT_FALSE(second.ok);
  EXPECT_EQ(second.code, Code::kReplay);
  // A fresh signature (new timestamp) is fine.
  EXPECT_TRUE(call(signed_retrieve(kNow + 1)).ok);
}

TEST_F(HandlerTest, ReplayIsRefusedForTheWholeConfiguredSkewWindow) {
  HandlerOptions o;
  o.max_clock_skew_ms = 120'000;
  auto h = make_handler(own_swarm().members[2], o);
  const Bytes r = rpc::serialize_request(signed_retrieve());
  EXPECT_TRUE(call(*h, r).ok);
  now_ = kNow + 90'000;  // past the default 60 s, inside the configured 120 s
  EXPECT_EQ(call(*h, r).code, Code::kReplay);
  now_ = kNow + 121'000;
  EXPECT_EQ(call(*h, r).code, Code::kStale);
}

TEST_F(HandlerTest, MessagePastItsTtlIsNotRetrieved) {
  ASSERT_TRUE(call(store_req("short", 0, kNow, 1'000)).ok);
  ASSERT_TRUE(call(store_req("long", 0, kNow, 3'600'000)).ok);
  EXPECT_EQ(retrieve_all(kNow).size(), 2u);
  now_ = kNow + 1'000;  // expiry_ms = kNow + 1000: gone at now >= expiry
  EXPECT_EQ(retrieve_all(kNow + 1'000), std::vector<std::string>{"long"});
}

TEST_F(HandlerTest, RetrievePagesWithExclusiveCursor) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(call(store_req("m" + std::to_string(i), 0, kNow - 100 + i)).ok);
  std::vector<std::string> got;
  uint64_t after_ts = 0;
  crypto::Hash after_hash;
  for (int page = 0; page < 10; ++page) {
    rpc::RetrieveRequest q;
    q.account = account_;
    q.timestamp_ms = kNow + uint64_t(page);  // distinct signatures
    q.after_timestamp_ms = after_ts;
    q.after_hash = after_hash;
    q.limit = 1;
    rpc::Request r(q);
    rpc::sign_request(r, owner_);
    auto a = call(r);
    ASSERT_TRUE(a.ok) << a.message;
    auto ans = rpc::parse_retrieve_answer(a.body);
    ASSERT_TRUE(ans.ok());
    for (const auto& m : ans->messages) {
      got.emplace_back(m.data.begin(), m.data.end());
      after_ts = m.timestamp_ms;
      after_hash = m.hash;
    }
    if (!ans->more) break;
  }
  EXPECT_EQ(got, (std::vector<std::string>{"m0", "m1", "m2"}));
}

TEST_F(HandlerTest, RetrieveAnswerOfLargeMessagesFitsOneOnionResponse) {
  for (int i = 0; i < 4; ++i) {
    std::string big(60 * 1024, char('a' + i));
    ASSERT_TRUE(call(store_req(big, 0, kNow - 10 + i)).ok);
  }
  const Bytes raw = raw_retrieve(false);
  EXPECT_LE(raw.size(), 128u * 1024 - 5);  // largest padding bucket minus the response header
  auto parsed = rpc::parse_response(raw);
  ASSERT_TRUE(parsed.ok());
  auto ans = rpc::parse_retrieve_answer(std::get<json>(*parsed));
  ASSERT_TRUE(ans.ok());
  EXPECT_GE(ans->messages.size(), 1u);
  EXPECT_LT(ans->messages.size(), 4u);
  EXPECT_TRUE(ans->more);
}

// The binary answer format carries a default page of 1 KiB messages (sealed:
// 1,433 bytes each) in one answer where JSON needs two; both stay within the
// largest bucket they may use.
TEST_F(HandlerTest, BinaryRetrieveAnswerCarriesAFullPageOfOneKibMessages) {
  for (int i = 0; i < int(rpc::kDefaultRetrieveLimit); ++i) {
    std::string data(1433, char('a' + i % 26));
    data.replace(0, 3, std::to_string(100 + i));
    ASSERT_TRUE(call(store_req(data, 0, kNow - 1000 + i)).ok) << i;
  }
  const Bytes bin = raw_retrieve(true, kNow + 1);  // distinct signing times: not replays
  EXPECT_LE(bin.size(), onion::kMaxAnswerBody);
  auto page = rpc::parse_retrieve_answer_binary(bin);
  ASSERT_TRUE(page.ok()) << page.status().to_string();
  ASSERT_EQ(page->messages.size(), size_t(rpc::kDefaultRetrieveLimit));
  EXPECT_FALSE(page->more);
  EXPECT_EQ(std::string(page->messages[42].data.begin(), page->messages[42].data.begin() + 3), "142");

  const Bytes text = raw_retrieve(false, kNow + 2);
  EXPECT_LE(text.size(), 128u * 1024 - 5);
  auto parsed = rpc::parse_response(text);
  ASSERT_TRUE(parsed.ok());
  auto json_page = rpc::parse_retrieve_answer(std::get<json>(*parsed));
  ASSERT_TRUE(json_page.ok());
  EXPECT_LT(json_page->messages.size(), size_t(rpc::kDefaultRetrieveLimit));
  EXPECT_TRUE(json_page->more);
  for (size_t i = 0; i < json_page->messages.size(); ++i) EXPECT_EQ(json_page->messages[i].data, page->messages[i].data);
}

TEST_F(HandlerTest, BinaryRetrieveAnswerOfLargeMessagesFitsTheLargestBucket) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(call(store_req(std::string(60 * 1024, char('a' + i)), 0, kNow - 10 + i)).ok);
  const Bytes raw = raw_retrieve(true);
  EXPECT_LE(raw.size(), onion::kMaxAnswerBody);
  auto ans = rpc::parse_retrieve_answer_binary(raw);
  ASSERT_TRUE(ans.ok()) << ans.status().to_string();
  EXPECT_EQ(ans->messages.size(), 2u);
  EXPECT_TRUE(ans->more);
}

// ---- delete -----------------------------------------------------------------

TEST_F(HandlerTest, SignedDeleteRemovesTheMessage) {
  ASSERT_TRUE(call(store_req("keep")).ok);
  ASSERT_TRUE(call(store_req("drop")).ok);
  auto a = call(signed_delete({"drop", "never stored"}, owner_));
  ASSERT_TRUE(a.ok) << a.message;
  EXPECT_EQ(a.body["deleted"], 1);
  EXPECT_EQ(retrieve_all(kNow + 1), std::vector<std::string>{"keep"});
}

TEST_F(HandlerTest, DeleteSignedByStrangerIsUnauthorizedAndDeletesNothing) {
  ASSERT_TRUE(call(store_req("keep")).ok);
  EXPECT_EQ(call(signed_delete({"keep"}, stranger_)).code, Code::kUnauthorized);
  EXPECT_EQ(retrieve_all(), std::vector<std::string>{"keep"});
}

// ---- replicated deletes -------------------------------------------------------

TEST_F(HandlerTest, ClientDeleteIsHandedOnForTheOtherMembersOnlyWhenApplied) {
  std::vector<std::pair<rpc::DeleteRequest, Bytes>> pushed;
  handler_->set_on_delete([&](const rpc::DeleteRequest& d, Bytes request) { pushed.emplace_back(d, std::move(request)); });
  ASSERT_TRUE(call(store_req("drop")).ok);
  const rpc::Request forged = signed_delete({"drop"}, stranger_);
  EXPECT_EQ(call(forged).code, Code::kUnauthorized);
  EXPECT_TRUE(pushed.empty()) << "a refused delete was pushed";
  const rpc::Request r = signed_delete({"drop"}, owner_);
  ASSERT_TRUE(call(r).ok);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].first.account, account_);
  EXPECT_EQ(pushed[0].first.hashes, std::get<rpc::DeleteRequest>(r).hashes);
  EXPECT_EQ(pushed[0].second, rpc::serialize_request(r)) << "the signed request is pushed as the client sent it";
}

TEST_F(HandlerTest, PeerDeleteIsVerifiedAppliedWithATombstoneAndNotPushedOn) {
  // Reported (the server drops the hashes from its deferred pushes) but
  // without the request bytes: nothing to push on.
  bool pushed = false;
  std::vector<crypto::Hash> reported;
  handler_->set_on_delete([&](const rpc::DeleteRequest& d, Bytes request) {
    pushed = pushed || !request.empty();
    reported.insert(reported.end(), d.hashes.begin(), d.hashes.end());
  });
  ASSERT_TRUE(call(store_req("keep")).ok);
  ASSERT_TRUE(call(store_req("drop")).ok);
  const rpc::Request forged = signed_delete({"drop"}, stranger_);
  EXPECT_EQ(peer_delete(*handler_, rpc::serialize_request(forged)).code, Code::kUnauthorized);
  EXPECT_EQ(retrieve_all(kNow + 1), (std::vector<std::string>{"drop", "keep"}));

  const rpc::Request r = signed_delete({"drop"}, owner_);
  auto a = peer_delete(*handler_, rpc::serialize_request(r));
  ASSERT_TRUE(a.ok) << a.message;
  EXPECT_EQ(a.body["deleted"], 1);
  EXPECT_FALSE(pushed) << "a pushed delete must not be pushed on";
  EXPECT_EQ(reported, std::get<rpc::DeleteRequest>(r).hashes);
  EXPECT_EQ(retrieve_all(kNow + 2), std::vector<std::string>{"keep"});
  // The tombstone: the same message arriving again is not stored.
  ASSERT_TRUE(call(store_req("drop")).ok);
  EXPECT_EQ(retrieve_all(kNow + 3), std::vector<std::string>{"keep"});
  // The same signed delete again is a replay.
  EXPECT_EQ(peer_delete(*handler_, rpc::serialize_request(r)).code, Code::kReplay);
}

TEST_F(HandlerTest, PeerDeleteOfAnotherSwarmOrNotADeleteIsRefused) {
  ASSERT_TRUE(call(store_req("keep")).ok);
  const rpc::Request r = signed_delete({"keep"}, owner_);
  auto outsider = make_handler(other_swarm().members[0]);
  EXPECT_EQ(peer_delete(*outsider, rpc::serialize_request(r)).code, Code::kUnauthorized);
  EXPECT_EQ(peer_delete(*handler_, rpc::serialize_request(store_req("x"))).code, Code::kInvalidArgument);
  EXPECT_EQ(peer_delete(*handler_, bytes_of("{not json")).code, Code::kInvalidArgument);
  EXPECT_EQ(retrieve_all(), std::vector<std::string>{"keep"});
}

// ---- info, get_swarm, wrong swarm ----------------------------------------------

TEST_F(HandlerTest, InfoReportsNodeCountAndOwnSwarmId) {
  auto a = call(rpc::Request(rpc::InfoRequest{}));
  ASSERT_TRUE(a.ok) << a.message;
  auto info = rpc::parse_info_answer(a.body);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->nodes, 10u);
  EXPECT_EQ(info->network_id, "unit");
  EXPECT_EQ(info->now_ms, kNow);
  ASSERT_TRUE(info->swarm_id.has_value());
  EXPECT_EQ(*info->swarm_id, own_swarm().id);
  EXPECT_EQ(info->ed25519, own_swarm().members[0].ed25519);
  EXPECT_EQ(info->x25519, own_swarm().members[0].x25519);
}

TEST_F(HandlerTest, GetSwarmReturnsTheAccountsSwarmFromAnyNode) {
  auto outsider = make_handler(other_swarm().members[0]);
  for (RequestHandler* h : {handler_.get(), outsider.get()}) {
    auto a = call(*h, rpc::serialize_request(rpc::GetSwarmRequest{account_}));
    ASSERT_TRUE(a.ok) << a.message;
    auto s = rpc::parse_get_swarm_answer(a.body);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->id, own_swarm().id);
    EXPECT_EQ(s->members, own_swarm().members);
  }
}

TEST_F(HandlerTest, NodeOutsideTheAccountsSwarmAnswersWrongSwarmWithItsMembers) {
  auto outsider = make_handler(other_swarm().members[2]);
  rpc::DeleteRequest d;
  d.account = account_;
  d.timestamp_ms = kNow;
  d.hashes = {crypto::hash(bytes_of("x"))};
  rpc::Request del(d);
  rpc::sign_request(del, owner_);
  for (const rpc::Request& r : {rpc::Request(store_req("misrouted")), signed_retrieve(), del}) {
    auto a = call(*outsider, rpc::serialize_request(r));
    EXPECT_FALSE(a.ok) << rpc::method_name(r);
    EXPECT_EQ(a.code, Code::kWrongSwarm) << rpc::method_name(r);
    ASSERT_TRUE(a.swarm.has_value()) << rpc::method_name(r);
    EXPECT_EQ(a.swarm->id, own_swarm().id);
    EXPECT_EQ(a.swarm->members, own_swarm().members);
  }
  EXPECT_TRUE(retrieve_all().empty());
}

TEST_F(HandlerTest, EmptyDirectoryAnswersUnavailable) {
  directory_->replace({});
  auto a = call(store_req("nowhere"));
  EXPECT_EQ(a.code, Code::kUnavailable);
  EXPECT_EQ(call(rpc::Request(rpc::GetSwarmRequest{account_})).code, Code::kUnavailable);
}

TEST_F(HandlerTest, DirectoryReplacementIsSeenByTheNextRequest) {
  // Only the other swarm's nodes remain: this node no longer serves anyone.
  directory_->replace(other_swarm().members);
  auto a = call(store_req("moved"));
  EXPECT_EQ(a.code, Code::kWrongSwarm);
  ASSERT_TRUE(a.swarm.has_value());
  EXPECT_EQ(a.swarm->members, other_swarm().members);
  EXPECT_FALSE(handler_->serves(account_));
}

TEST_F(HandlerTest, MalformedRequestAnswersInvalidArgument) {
  auto a = call(*handler_, bytes_of(R"({"method":"store","params":{"account":"05"}})"));
  EXPECT_EQ(a.code, Code::kInvalidArgument);
  EXPECT_NE(a.message.find("account"), std::string::npos);
  EXPECT_EQ(call(*handler_, bytes_of("not json")).code, Code::kInvalidArgument);
}

TEST_F(HandlerTest, ReplicaForAccountOutsideOwnSwarmIsRefused) {
  auto outsider = make_handler(other_swarm().members[0]);
  StoredMessage m;
  m.account = account_;
  m.timestamp_ms = kNow;
  m.expiry_ms = kNow + 1000;
  m.data = bytes_of("replica");
  m.hash = crypto::hash(m.data);
  std::promise<Result<StoreResult>> refused;
  outsider->accept_replica(m, [&](Result<StoreResult> r) { refused.set_value(std::move(r)); });
  auto f = refused.get_future();
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(f.get().status().code(), Code::kWrongSwarm);

  auto accepted = std::make_shared<std::promise<Result<StoreResult>>>();
  auto g = accepted->get_future();
  handler_->accept_replica(m, [accepted](Result<StoreResult> r) { accepted->set_value(std::move(r)); });
  ASSERT_EQ(g.wait_for(kWait), std::future_status::ready);
  auto r = g.get();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, StoreResult::kNew);
}

TEST_F(HandlerTest, ServesOnlyTheAccountsSwarm) {
  size_t index = 99;
  EXPECT_TRUE(handler_->serves(account_, &index));
  EXPECT_EQ(index, own_index_);
  EXPECT_FALSE(make_handler(other_swarm().members[0])->serves(account_));
  EXPECT_EQ(handler_->swarms()->size(), 2u);
  EXPECT_EQ(handler_->swarms(), handler_->swarms());  // cached per directory snapshot
}

// ---- ReplayCache ----------------------------------------------------------------

crypto::Hash key_n(uint8_t n) {
  crypto::Hash h;
  h.bytes.fill(n);
  return h;
}

crypto::Hash random_key(std::mt19937_64& rng) {
  crypto::Hash key;
  for (size_t j = 0; j < key.bytes.size(); j += 8) {
    const uint64_t v = rng();
    std::memcpy(key.bytes.data() + j, &v, 8);
  }
  return key;
}

// Keys for the random-traffic tests: each step a new key stamped by
// stamp(), or, one time in replay_one_in, a key sent before with its own
// timestamp again (a key is the hash of a message that holds its
// timestamp, so a replay carries the same one). The last `keep` keys are
// the ones replayed.
struct Traffic {
  explicit Traffic(uint64_t seed) : rng(seed) {}
  template <typename Stamp>
  std::pair<crypto::Hash, uint64_t> next(uint64_t replay_one_in, size_t keep, Stamp stamp) {
    if (!sent.empty() && rng() % replay_one_in == 0) return sent[rng() % sent.size()];
    sent.emplace_back(random_key(rng), stamp());
    if (sent.size() > 2 * keep) sent.erase(sent.begin(), sent.begin() + keep);
    return sent.back();
  }
  std::mt19937_64 rng;
  std::vector<std::pair<crypto::Hash, uint64_t>> sent;
};

TEST(ReplayCache, SecondUseOfSameKeyIsReplay) {
  ReplayCache c(10, 60'000);
  EXPECT_TRUE(c.check_and_insert(key_n(1), kNow, kNow).ok());
  EXPECT_EQ(c.check_and_insert(key_n(1), kNow, kNow + 5).code(), Code::kReplay);
  EXPECT_TRUE(c.check_and_insert(key_n(2), kNow, kNow + 5).ok());
  EXPECT_EQ(c.size(), 2u);
}

TEST(ReplayCache, FullCacheForgetsTheOldestAndRefusesWhatItMayHaveForgotten) {
  ReplayCache c(2, 60'000);
  EXPECT_TRUE(c.check_and_insert(key_n(1), kNow + 100, kNow + 300).ok());
  EXPECT_EQ(c.horizon_ms(kNow + 300), 60'000u) << "not full: the whole window";
  EXPECT_TRUE(c.check_and_insert(key_n(2), kNow + 200, kNow + 300).ok());
  EXPECT_EQ(c.horizon_ms(kNow + 300), 200u) << "full: only layers newer than key 1";
  // Full: key 3 takes the place of key 1, the oldest.
  EXPECT_TRUE(c.check_and_insert(key_n(3), kNow + 300, kNow + 300).ok());
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.evicted(), 1u);
  EXPECT_EQ(c.horizon_ms(kNow + 300), 100u) << "layers stamped after kNow + 200 only";
  // Key 1 is forgotten, but its timestamp alone refuses it: no replay gets through.
  EXPECT_EQ(c.check_and_insert(key_n(1), kNow + 100, kNow + 300).code(), Code::kStale);
  EXPECT_EQ(c.check_and_insert(key_n(2), kNow + 200, kNow + 300).code(), Code::kReplay);
  EXPECT_EQ(c.check_and_insert(key_n(3), kNow + 300, kNow + 300).code(), Code::kReplay);
  // A new key no newer than every held one would be the next to go: refused, nothing evicted.
  EXPECT_EQ(c.check_and_insert(key_n(4), kNow + 150, kNow + 300).code(), Code::kStale);
  EXPECT_EQ(c.check_and_insert(key_n(4), kNow + 200, kNow + 300).code(), Code::kStale);
  EXPECT_EQ(c.evicted(), 1u);
  EXPECT_EQ(c.check_and_insert(key_n(2), kNow + 200, kNow + 300).code(), Code::kReplay) << "still held";
  // Once the oldest key has left the window, the whole window is accepted again.
  EXPECT_EQ(c.horizon_ms(kNow + 200 + 60'000), 60'000u);
  EXPECT_EQ(c.horizon_ms(kNow + 200 + 60'001), 60'000u);
  EXPECT_EQ(c.horizon_ms(kNow + 150), 0u) << "an oldest key newer than now: nothing older than now gets in";
  EXPECT_TRUE(c.check_and_insert(key_n(5), kNow + 300, kNow + 200 + 60'001).ok()) << "key 2 expired: room again";
  EXPECT_EQ(c.check_and_insert(key_n(1), kNow + 100, kNow + 200 + 60'001).code(), Code::kOk)
      << "key 1 is outside the window now: not remembered, and the timestamp check refuses it";
  EXPECT_EQ(c.size(), 2u);
}

TEST(ReplayCache, EntriesExpireAfterTheWindow) {
  ReplayCache c(10, 60'000);
  EXPECT_TRUE(c.check_and_insert(key_n(1), kNow, kNow).ok());
  EXPECT_TRUE(c.check_and_insert(key_n(2), kNow + 30'000, kNow).ok());
  EXPECT_EQ(c.check_and_insert(key_n(1), kNow, kNow + 60'000).code(), Code::kReplay);  // not yet expired
  EXPECT_TRUE(c.check_and_insert(key_n(3), kNow + 1, kNow + 60'001).ok());             // key 1 expired
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.check_and_insert(key_n(2), kNow + 30'000, kNow + 60'001).code(), Code::kReplay);
  EXPECT_TRUE(c.check_and_insert(key_n(1), kNow + 100'000, kNow + 100'000).ok());  // 2 and 3 expired
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.evicted(), 0u) << "expiry is not eviction";
  EXPECT_EQ(c.horizon_ms(kNow + 100'000), 60'000u);
}

TEST(ReplayCache, NoAcceptedKeyIsAcceptedAgainWhileItsTimestampIsInTheWindow) {
  // The property a replay cache exists for, under traffic ten times its
  // size: each key always comes with its own timestamp (it is a hash of a
  // signed or sealed message that holds it), as a replay would.
  constexpr size_t kCapacity = 64;
  constexpr uint64_t kWindow = 10'000;
  ReplayCache c(kCapacity, kWindow);
  Traffic traffic(3);
  std::map<crypto::Hash, uint64_t> accepted;  // key -> its timestamp
  uint64_t now = kNow;
  size_t stale = 0, replays = 0;
  for (int i = 0; i < 40'000; ++i) {
    now += traffic.rng() % 3;
    const auto [key, ts] = traffic.next(2, 2'000, [&] { return now - kWindow + traffic.rng() % (2 * kWindow); });
    const Status st = c.check_and_insert(key, ts, now);
    ASSERT_LE(c.size(), kCapacity);
    const bool in_window = ts + kWindow >= now;
    if (st.ok() && in_window) {
      ASSERT_FALSE(accepted.count(key)) << "step " << i << ": a key accepted twice";
      accepted.emplace(key, ts);
    }
    stale += st.code() == Code::kStale;
    replays += st.code() == Code::kReplay;
    ASSERT_TRUE(st.ok() || st.code() == Code::kStale || st.code() == Code::kReplay) << st.to_string();
  }
  EXPECT_GT(c.evicted(), 1'000u) << "the test must run the cache full";
  EXPECT_GT(stale, 1'000u);
  EXPECT_GT(replays, 100u);
}

TEST(ReplayCache, MatchesAMapModelUnderRandomTraffic) {
  // The same answers as a plain map, with expiries, evictions
  // when full and key reuse interleaved. Timestamps are distinct (a
  // microsecond scale), so which key is the oldest is never a tie.
  constexpr uint64_t kWindow = 1'000'000;
  constexpr size_t kCapacity = 150;  // about half the keys live at once
  ReplayCache c(kCapacity, kWindow);
  std::map<crypto::Hash, uint64_t> model;
  size_t stale = 0;
  Traffic traffic(7);
  std::set<uint64_t> stamps;
  uint64_t now = kNow * 1000;
  for (int i = 0; i < 60'000; ++i) {
    now += (traffic.rng() % 7) * 1000;
    const auto [key, ts] = traffic.next(3, 1'000, [&] {
      uint64_t t = 0;
      do t = now - kWindow + traffic.rng() % (2 * kWindow); while (!stamps.insert(t).second);
      return t;
    });
    std::erase_if(model, [&](const auto& kv) { return kv.second + kWindow < now; });
    Code want = Code::kOk;
    if (model.count(key)) {
      want = Code::kReplay;
    } else if (ts + kWindow < now) {
      // not remembered: the timestamp check refuses it
    } else if (model.size() >= kCapacity) {
      auto oldest = std::min_element(model.begin(), model.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
      if (ts <= oldest->second) {
        want = Code::kStale;
      } else {
        model.erase(oldest);
        model.emplace(key, ts);
      }
    } else {
      model.emplace(key, ts);
    }
    ASSERT_EQ(c.check_and_insert(key, ts, now).code(), want) << "step " << i;
    ASSERT_EQ(c.size(), model.size()) << "step " << i;
    stale += want == Code::kStale;
  }
  EXPECT_GT(c.evicted(), 1'000u) << "the test must run the cache full";
  EXPECT_GT(stale, 1'000u);
}

TEST(ReplayCache, FullCacheMemoryIsBounded) {
  constexpr size_t kEntries = 1'000'000;  // the node's default capacity
  const size_t heap_before = mallinfo2().uordblks + mallinfo2().hblkhd;
  ReplayCache c(kEntries, 60'000);
  std::mt19937_64 rng(11);
  std::vector<crypto::Hash> sample;
  for (size_t i = 0; i < kEntries; ++i) {
    const crypto::Hash key = random_key(rng);
    if (i % 10'000 == 0) sample.push_back(key);
    ASSERT_TRUE(c.check_and_insert(key, kNow + i % 60'000, kNow).ok());
  }
  EXPECT_EQ(c.size(), kEntries);
  for (const auto& key : sample) EXPECT_EQ(c.check_and_insert(key, kNow, kNow).code(), Code::kReplay);
  // Full: newer keys keep coming in, each in place of the oldest, and the
  // tables do not grow.
  const size_t full_bytes = c.memory_bytes();
  for (size_t i = 0; i < 100'000; ++i) {
    ASSERT_TRUE(c.check_and_insert(random_key(rng), kNow + 60'000 + i, kNow).ok());
  }
  EXPECT_EQ(c.size(), kEntries);
  EXPECT_EQ(c.evicted(), 100'000u);
  const size_t bytes = c.memory_bytes();
  EXPECT_EQ(bytes, full_bytes);
  const size_t heap_after = mallinfo2().uordblks + mallinfo2().hblkhd;
  EXPECT_LE(bytes, ReplayCache::kMaxBytesPerEntry * kEntries + 64);
  std::cout << "[replay cache] " << kEntries << " entries: tables " << bytes / 1e6 << " MB ("
            << double(bytes) / kEntries << " bytes/entry), malloc heap grew " << (heap_after - heap_before) / 1e6
            << " MB; the map + multimap it replaced took about 160 MB\n";
}

}  // namespace
}  // namespace onionswarm::node

// ---- closed groups (03 accounts) --------------------------------------------

namespace onionswarm::node {
namespace {

class HandlerGroupTest : public HandlerTest {
 protected:
  void SetUp() override {
    HandlerTest::SetUp();
    for (uint32_t i = 0; i < 1000; ++i) {
      auto k = key_from(0x0D, i);
      if (swarm::swarm_index_for(swarms_, swarm::AccountId::group(k.public_key())) == own_index_) {
        group_key_ = std::move(k);
        break;
      }
    }
    ASSERT_TRUE(group_key_);
    group_ = swarm::AccountId::group(group_key_->public_key());
    // The group's control log is ordered by its sequencer: the swarm member
    // with the smallest X25519 key.
    const auto& members = own_swarm().members;
    sequencer_ = *std::min_element(members.begin(), members.end(),
                                   [](const auto& a, const auto& b) { return a.x25519 < b.x25519; });
    for (const auto& m : members)
      if (m.x25519 != sequencer_.x25519) follower_ = m;
    handler_ = make_handler(sequencer_);
  }

  Bytes entry(uint64_t seq, const crypto::Hash& prev, uint64_t gen, const crypto::Ed25519KeyPair& cred,
              crypto::Hash* hash = nullptr) {
    swarm::group::ControlEntry e;
    e.seq = seq;
    e.prev = prev;
    e.generation = gen;
    e.member_auth = cred.public_key();
    e.body = bytes_of("opaque body " + std::to_string(seq) + "/" + std::to_string(gen));
    Bytes blob = swarm::group::sign_control(*group_key_, e);
    if (hash) *hash = e.hash;
    return blob;
  }
  Answer store(uint16_t ns, Bytes data, const crypto::Ed25519KeyPair& signer) {
    now_ += 1;
    rpc::Request r(rpc::StoreRequest{group_, ns, now_.load(), rpc::kDefaultTtlMs, std::move(data), std::nullopt});
    rpc::sign_request(r, signer);
    return call(r);
  }
  Answer retrieve(uint16_t ns, const crypto::Ed25519KeyPair& signer) {
    now_ += 1;
    rpc::RetrieveRequest q;
    q.account = group_;
    q.ns = ns;
    q.timestamp_ms = now_.load();
    rpc::Request r(q);
    rpc::sign_request(r, signer);
    return call(r);
  }

  std::optional<crypto::Ed25519KeyPair> group_key_;
  swarm::AccountId group_;
  swarm::NodeDescriptor sequencer_, follower_;
  crypto::Ed25519KeyPair cred0_ = key_from(0x0E, 0);
  crypto::Ed25519KeyPair cred1_ = key_from(0x0E, 1);
};

TEST_F(HandlerGroupTest, ControlStoreMustExtendTheHead) {
  crypto::Hash h0, h1;
  ASSERT_TRUE(store(1, entry(0, {}, 0, cred0_, &h0), *group_key_).ok);
  auto second_genesis = store(1, entry(0, {}, 0, cred1_), *group_key_);
  EXPECT_EQ(second_genesis.code, Code::kConflict) << second_genesis.message;
  ASSERT_TRUE(store(1, entry(1, h0, 1, cred1_, &h1), *group_key_).ok);
  auto on_old_head = store(1, entry(1, h0, 1, cred0_), *group_key_);
  EXPECT_EQ(on_old_head.code, Code::kConflict);
  auto skips = store(1, entry(3, h1, 1, cred1_), *group_key_);
  EXPECT_EQ(skips.code, Code::kConflict);
  auto older_generation = store(1, entry(2, h1, 0, cred1_), *group_key_);
  EXPECT_EQ(older_generation.code, Code::kConflict);
  // A retry of a stored entry is "exists", not a conflict.
  auto retry = store(1, entry(1, h0, 1, cred1_), *group_key_);
  ASSERT_TRUE(retry.ok) << retry.message;
  EXPECT_EQ(retry.body["result"], "exists");
}

TEST_F(HandlerGroupTest, ControlStoreAtAMemberOtherThanTheSequencerIsRefused) {
  // Two admins writing on the same head to two different members could both
  // pass a per-node compare-and-set; only the sequencer takes changes.
  handler_ = make_handler(follower_);
  auto at_follower = store(1, entry(0, {}, 0, cred0_), *group_key_);
  EXPECT_EQ(at_follower.code, Code::kConflict) << at_follower.message;
  EXPECT_NE(at_follower.message.find("sequencer"), std::string::npos) << at_follower.message;
  auto got = retrieve(1, *group_key_);  // reading is fine at any member
  ASSERT_TRUE(got.ok) << got.message;
  EXPECT_TRUE(got.body["messages"].empty()) << got.body.dump();  // nothing was stored
  // Messages (namespace 0) are not ordered: any member takes them.
  handler_ = make_handler(sequencer_);
  ASSERT_TRUE(store(1, entry(0, {}, 0, cred0_), *group_key_).ok);
  handler_ = make_handler(follower_);
  EXPECT_TRUE(store(0, bytes_of("a group message"), cred0_).ok);
}

TEST_F(HandlerGroupTest, ControlEntryNotSignedByTheGroupIsRefused) {
  swarm::group::ControlEntry e;
  e.member_auth = cred0_.public_key();
  Bytes blob = swarm::group::sign_control(stranger_, e);  // wrong key inside
  auto a = store(1, blob, *group_key_);
  EXPECT_EQ(a.code, Code::kUnauthorized) << a.message;
  auto garbage = store(1, bytes_of("not an entry"), *group_key_);
  EXPECT_EQ(garbage.code, Code::kInvalidArgument);
}

TEST_F(HandlerGroupTest, MemberCredentialIsCheckedPerNamespaceAndRotates) {
  // Before any control entry only the group key may sign.
  EXPECT_EQ(store(0, bytes_of("m"), cred0_).code, Code::kUnauthorized);
  crypto::Hash h0;
  ASSERT_TRUE(store(1, entry(0, {}, 0, cred0_, &h0), *group_key_).ok);
  EXPECT_TRUE(store(0, bytes_of("from a member"), cred0_).ok);
  EXPECT_TRUE(retrieve(0, cred0_).ok);
  EXPECT_EQ(store(0, bytes_of("x"), stranger_).code, Code::kUnauthorized);
  EXPECT_EQ(retrieve(0, stranger_).code, Code::kUnauthorized);
  EXPECT_EQ(retrieve(1, stranger_).code, Code::kUnauthorized);
  EXPECT_EQ(store(1, entry(1, h0, 0, cred0_), cred0_).code, Code::kUnauthorized);  // credential cannot change the log
  EXPECT_EQ(store(2, bytes_of("x"), cred0_).code, Code::kUnauthorized);
  // Rotation: the old credential stops working for messages.
  ASSERT_TRUE(store(1, entry(1, h0, 1, cred1_), *group_key_).ok);
  EXPECT_EQ(store(0, bytes_of("after rotation"), cred0_).code, Code::kUnauthorized);
  EXPECT_EQ(retrieve(0, cred0_).code, Code::kUnauthorized);
  EXPECT_TRUE(store(0, bytes_of("new credential"), cred1_).ok);
  // The control log stays readable with an earlier credential (its content
  // is encrypted), so a member who missed a rotation can catch up.
  EXPECT_TRUE(retrieve(1, cred0_).ok);
  // Nothing in a 03 account is open to the public.
  now_ += 1;
  auto open_store = call(rpc::Request(rpc::StoreRequest{group_, 0, now_.load(), rpc::kDefaultTtlMs, bytes_of("anon"), std::nullopt}));
  EXPECT_EQ(open_store.code, Code::kUnauthorized);
}

TEST_F(HandlerGroupTest, ControlLogCannotBeDeletedAndDoesNotExpire) {
  crypto::Hash h0;
  ASSERT_TRUE(store(1, entry(0, {}, 0, cred0_, &h0), *group_key_).ok);
  now_ += 1;
  rpc::DeleteRequest d;
  d.account = group_;
  d.ns = 1;
  d.timestamp_ms = now_.load();
  d.hashes = {h0};
  rpc::Request r(d);
  rpc::sign_request(r, *group_key_);
  EXPECT_EQ(call(r).code, Code::kUnauthorized);
  now_ += rpc::kMaxTtlMs * 2;
  auto a = retrieve(1, *group_key_);
  ASSERT_TRUE(a.ok) << a.message;
  EXPECT_EQ(a.body["messages"].size(), 1u);
  // Messages (namespace 0) still need the credential named by the head.
  EXPECT_TRUE(store(0, bytes_of("later"), cred0_).ok);
}

}  // namespace
}  // namespace onionswarm::node
