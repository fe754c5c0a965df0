// Malformed input sent over real sockets to a running node: each gets a
// clear error where an answer is due, the node keeps serving, and the data
// it stores is unchanged.
#include <gtest/gtest.h>

#include "node/identity.h"
#include "node/replica.h"
#include "onion/encoding.h"
#include "onion/layer.h"
#include "swarm/rpc.h"
#include "swarm/swarms.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using nlohmann::json;
using test::RawClient;

// Five nodes: one swarm, so every node serves every account.
class BadInput : public test::DevnetSuite<BadInput, 5, 5> {
 protected:
  void SetUp() override {
    DevnetSuite::SetUp();
    if (HasFatalFailure()) return;
    nodes_ = net_->nodes();
    ASSERT_EQ(nodes_.size(), 5u);
    target_ = nodes_[0];
    // A known message, to check that nothing changes.
    rpc::StoreRequest s;
    s.account = account_.id;
    s.timestamp_ms = test::now_ms();
    s.data = crypto::random_bytes(100);
    RawClient c(target_);
    auto r = c.request({target_}, rpc::Request(s));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok");
  }

  // The node still answers info, and account_'s messages are as before.
  void ExpectStillServing() {
    RawClient c(target_);
    auto info = c.request({target_}, rpc::InfoRequest{});
    ASSERT_TRUE(info.ok()) << "node stopped serving: " << info.status().to_string();
    EXPECT_EQ((*info)["status"], "ok");
    EXPECT_EQ(Retrieve(account_)["messages"].size(), 1u) << "stored data changed";
  }

  // A signed retrieve of account's messages at the target (first page).
  json Retrieve(const test::TestAccount& account) {
    rpc::RetrieveRequest r;
    r.account = account.id;
    r.timestamp_ms = test::now_ms();
    rpc::Request req = r;
    rpc::sign_request(req, account.ed);
    RawClient c(target_);
    auto got = c.request({target_}, req);
    EXPECT_TRUE(got.ok()) << got.status().to_string();
    return got.ok() ? *got : json();
  }

  // Sends frames on a fresh connection and returns the answer frames.
  std::optional<std::vector<Bytes>> raw(const std::vector<Bytes>& frames) {
    RawClient c(target_);
    c.send_frames(frames);
    return c.recv_frames(std::chrono::seconds(10));
  }

  // Expects a link-level kError answer whose message contains `what`.
  void ExpectLinkError(const std::optional<std::vector<Bytes>>& answer, const std::string& what) {
    ASSERT_TRUE(answer.has_value()) << "no answer";
    ASSERT_EQ(answer->size(), 2u);
    auto h = wire::decode_header((*answer)[0]);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->type, wire::Type::kError);
    std::string body(as_chars((*answer)[1]));
    EXPECT_NE(body.find(what), std::string::npos) << body;
  }

  // Sends a destination payload (any bytes) as a 1-hop onion; returns the JSON answer.
  json destination(std::string_view payload) {
    RawClient c(target_);
    auto r = c.request_raw({target_}, payload);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : json();
  }

  void ExpectInvalid(std::string_view payload, const std::string& what) {
    json j = destination(payload);
    EXPECT_EQ(j["status"], "error") << payload;
    EXPECT_EQ(j["code"], "invalid_argument") << j.dump();
    EXPECT_NE(j["message"].get<std::string>().find(what), std::string::npos) << j.dump();
    ExpectStillServing();
  }

  using Account = test::TestAccount;
  Account account_;
  std::vector<swarm::NodeDescriptor> nodes_;
  swarm::NodeDescriptor target_;
};


Bytes header(uint8_t version, uint8_t type, uint64_t id = 7) {
  Bytes h{version, type};
  put_u64(h, id);
  return h;
}

TEST_F(BadInput, GarbageSingleFrame) {
  ExpectLinkError(raw({crypto::random_bytes(50)}), "expected 2 frames");
  ExpectStillServing();
}

TEST_F(BadInput, ThreeFrames) {
  ExpectLinkError(raw({header(1, 1), Bytes{1}, Bytes{2}}), "expected 2 frames");
  ExpectStillServing();
}

TEST_F(BadInput, ZeroLengthFrames) {
  ExpectLinkError(raw({Bytes{}, Bytes{}}), "header must be 10 bytes");
  ExpectStillServing();
}

TEST_F(BadInput, UnknownProtocolVersion) {
  ExpectLinkError(raw({header(9, 1), crypto::random_bytes(200)}), "unsupported protocol version 9");
  ExpectStillServing();
}

TEST_F(BadInput, UnknownFrameType) {
  ExpectLinkError(raw({header(1, 0x7f), crypto::random_bytes(200)}), "unknown message type");
  ExpectStillServing();
}

TEST_F(BadInput, TruncatedLayer) {
  std::vector<crypto::X25519PublicKey> hops = {target_.x25519};
  auto built = onion::build(hops, as_bytes(R"({"method":"info"})"), test::now_ms());
  ASSERT_TRUE(built.ok());
  Bytes cut(built->blob.begin(), built->blob.begin() + 60);
  ExpectLinkError(raw({header(1, 1), cut}), "invalid_argument");
  Bytes cut2(built->blob.begin(), built->blob.end() - 1);
  ExpectLinkError(raw({header(1, 1), cut2}), "\"code\"");
  ExpectStillServing();
}

TEST_F(BadInput, LayerForAnotherNodesKey) {
  std::vector<crypto::X25519PublicKey> hops = {nodes_[1].x25519};  // not target_
  auto built = onion::build(hops, as_bytes(R"({"method":"info"})"), test::now_ms());
  ASSERT_TRUE(built.ok());
  ExpectLinkError(raw({header(1, 1), built->blob}), "unauthorized");
  ExpectStillServing();
}

TEST_F(BadInput, TamperedLayer) {
  std::vector<crypto::X25519PublicKey> hops = {target_.x25519};
  auto built = onion::build(hops, as_bytes(R"({"method":"info"})"), test::now_ms());
  ASSERT_TRUE(built.ok());
  built->blob[100] ^= 0x01;
  ExpectLinkError(raw({header(1, 1), built->blob}), "unauthorized");
  ExpectStillServing();
}

TEST_F(BadInput, OversizedFrameIsDroppedAndNodeKeepsServing) {
  // Beyond ZMQ_MAXMSGSIZE the node drops the connection without an answer.
  auto answer = raw({header(1, 1), Bytes(wire::kMaxBodySize + 1024, 0x41)});
  EXPECT_FALSE(answer.has_value());
  ExpectStillServing();
}

TEST_F(BadInput, RelayToUnknownNextHopGetsHopError) {
  crypto::X25519PublicKey stranger = crypto::X25519KeyPair::generate().public_key();
  std::vector<crypto::X25519PublicKey> hops = {target_.x25519, stranger};
  auto built = onion::build(hops, as_bytes(R"({"method":"info"})"), test::now_ms());
  ASSERT_TRUE(built.ok());
  RawClient c(target_);
  c.send_frames({wire::encode_header({wire::kVersion, wire::Type::kOnionRequest, 1}), built->blob});
  auto answer = c.recv_frames();
  ASSERT_TRUE(answer.has_value());
  auto un = onion::unwrap_response(built->response_keys, (*answer)[1]);
  ASSERT_TRUE(un.ok()) << un.status().to_string();
  EXPECT_EQ(un->kind, onion::ResponseKind::kHopError);
  EXPECT_EQ(un->hop, 0u);
  EXPECT_NE(std::string(as_chars(un->body)).find("not in this node's directory"), std::string::npos);
  ExpectStillServing();
}

TEST_F(BadInput, StaleLayerTimestampGetsHopError) {
  RawClient c(target_);
  const uint64_t before = test::now_ms();
  auto a = c.send_onion({target_}, as_bytes(R"({"method":"info"})"), test::now_ms() - 2 * 3600 * 1000);
  const uint64_t after = test::now_ms();
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->kind, onion::ResponseKind::kHopError);
  EXPECT_NE(std::string(as_chars(a->body)).find("stale"), std::string::npos);
  // The hop's clock rides along, for a client whose clock is far off.
  auto clock = swarm::rpc::stale_layer_clock(a->body);
  ASSERT_TRUE(clock.has_value()) << as_chars(a->body);
  EXPECT_GE(*clock, before);
  EXPECT_LE(*clock, after);
  ExpectStillServing();
}

TEST_F(BadInput, NotJson) { ExpectInvalid("this is not json", "bad JSON"); }
TEST_F(BadInput, DeeplyNestedJson) { ExpectInvalid(std::string(5000, '[') + std::string(5000, ']'), "too deep"); }
TEST_F(BadInput, DeeplyNestedParams) {
  std::string deep = R"({"method":"info","params":{"a":)" + std::string(100, '[') + std::string(100, ']') + "}}";
  ExpectInvalid(deep, "too deep");
}
TEST_F(BadInput, TopLevelArray) { ExpectInvalid("[1,2,3]", "JSON object"); }
TEST_F(BadInput, UnknownMethod) { ExpectInvalid(R"({"method":"format_disk"})", "unknown method"); }
TEST_F(BadInput, MethodWrongType) { ExpectInvalid(R"({"method":42})", "method"); }

std::string store_json(const std::string& account, const std::string& ns, const std::string& ts,
                       const std::string& ttl, const std::string& data) {
  return R"({"method":"store","params":{"account":)" + account + R"(,"namespace":)" + ns + R"(,"timestamp":)" + ts +
         R"(,"ttl":)" + ttl + R"(,"data":)" + data + "}}";
}

class BadStore : public BadInput {
 protected:
  std::string acct() { return "\"" + account_.id.to_string() + "\""; }
  std::string now() { return std::to_string(test::now_ms()); }
};

TEST_F(BadStore, WrongTypes) { ExpectInvalid(store_json(acct(), "\"0\"", now(), "1000", "\"aGk=\""), "namespace"); }
TEST_F(BadStore, NegativeTtl) { ExpectInvalid(store_json(acct(), "0", now(), "-5", "\"aGk=\""), "ttl"); }
TEST_F(BadStore, HugeNumber) {
  ExpectInvalid(store_json(acct(), "0", "1e400", "1000", "\"aGk=\""), "bad JSON");
  ExpectInvalid(store_json(acct(), "0", now(), "99999999999999999999", "\"aGk=\""), "ttl");
}
TEST_F(BadStore, NamespaceOutOfRange) { ExpectInvalid(store_json(acct(), "70000", now(), "1000", "\"aGk=\""), "namespace"); }
TEST_F(BadStore, InvalidBase64) { ExpectInvalid(store_json(acct(), "0", now(), "1000", "\"!!not base64!!\""), "data"); }
TEST_F(BadStore, BadAccountId) {
  ExpectInvalid(store_json("\"05abc\"", "0", now(), "1000", "\"aGk=\""), "account");
  ExpectInvalid(store_json("\"07" + std::string(64, 'a') + "\"", "0", now(), "1000", "\"aGk=\""), "account");
  ExpectInvalid(store_json("\"05" + std::string(64, 'g') + "\"", "0", now(), "1000", "\"aGk=\""), "account");
}
TEST_F(BadStore, UnknownField) {
  ExpectInvalid(R"({"method":"store","params":{"account":)" + acct() + R"(,"namespace":0,"timestamp":)" + now() +
                    R"(,"data":"aGk=","evil":1}})",
                "unknown field");
}
TEST_F(BadStore, OversizedData) {
  std::string big = "\"" + to_base64(Bytes(rpc::kMaxDataBytes + 1, 7)) + "\"";
  ExpectInvalid(store_json(acct(), "0", now(), "1000", big), "data");
}
TEST_F(BadStore, ForgedSignatureOnSignedNamespace) {
  Account other;
  rpc::StoreRequest s;
  s.account = account_.id;
  s.ns = 5;
  s.timestamp_ms = test::now_ms();
  s.data = crypto::random_bytes(10);
  rpc::Request req = s;
  rpc::sign_request(req, other.ed);
  RawClient c(target_);
  auto r = c.request({target_}, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["code"], "unauthorized") << r->dump();
  ExpectStillServing();
}
TEST_F(BadStore, InvalidHexHashesInDelete) {
  ExpectInvalid(R"({"method":"delete","params":{"account":)" + acct() + R"(,"namespace":0,"timestamp":)" + now() +
                    R"(,"hashes":["zz"],"pubkey_ed25519":"00","signature":"AA=="}})",
                "hashes");
}


// ---- more kinds: frames and layers --------------------------------------------

TEST_F(BadInput, HeaderTooLong) {
  ExpectLinkError(raw({Bytes(11, 1), crypto::random_bytes(100)}), "header must be 10 bytes");
  ExpectStillServing();
}

TEST_F(BadInput, EmptyOnionBody) {
  ExpectLinkError(raw({header(1, 1), Bytes{}}), "onion blob too short");
  ExpectStillServing();
}

TEST_F(BadInput, LayerWithTrailingBytes) {
  std::vector<crypto::X25519PublicKey> hops = {target_.x25519};
  auto built = onion::build(hops, as_bytes(R"({"method":"info"})"), test::now_ms());
  ASSERT_TRUE(built.ok());
  built->blob.push_back(0);
  ExpectLinkError(raw({header(1, 1), built->blob}), "unauthorized");
  ExpectStillServing();
}

TEST_F(BadInput, ReplicateFrameFromAClient) {
  ExpectLinkError(raw({header(1, 0x10), Bytes{'{', '}'}}), "replication only from known nodes");
  ExpectStillServing();
}

TEST_F(BadInput, ReplicatedDeleteFrameFromAClient) {
  ExpectLinkError(raw({header(1, 0x14), Bytes{'{', '}'}}), "replication only from known nodes");
  ExpectStillServing();
}

TEST_F(BadInput, ReplicateBatchFrameFromAClient) {
  ExpectLinkError(raw({header(1, 0x15), Bytes{0, 1}}), "replication only from known nodes");
  ExpectStillServing();
}

// A swarm member (node 2's own CURVE key, so the target knows it) pushing
// malformed replica batches: each is refused as a whole with a clear error,
// and nothing of it is stored.
TEST_F(BadInput, MalformedReplicaBatchesFromAKnownNode) {
  auto keys = node::load_or_create_node_keys(net_->node_dir(2));
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  node::StoredMessage m;
  m.account = account_.id;
  m.timestamp_ms = test::now_ms();
  m.expiry_ms = m.timestamp_ms + 3'600'000;
  m.data = crypto::random_bytes(100);
  Bytes good;
  put_u16(good, 1);
  node::append_replica_record(good, m);
  struct Case {
    const char* name;
    Bytes body;
    const char* why;
  };
  Bytes count_over = good, trailing = good, truncated = good, prefix = good, empty_data = good;
  count_over[1] = 2;
  trailing.push_back(0);
  truncated.pop_back();
  prefix[2] = 0x07;
  empty_data.resize(2 + node::kReplicaRecordHeader);
  std::fill(empty_data.end() - 4, empty_data.end(), 0);
  const std::vector<Case> cases = {
      {"empty", {}, "shorter than its count"},
      {"count 0", {0, 0}, "count must be 1..1024, got 0"},
      {"count over the records", count_over, "record 1: truncated"},
      {"trailing byte", trailing, "1 bytes after the last record"},
      {"truncated data", truncated, "record 0: data truncated"},
      {"bad account prefix", prefix, "account id must start with 05 or 03"},
      {"empty data", empty_data, "data must be 1.."},
      {"garbage", crypto::random_bytes(300), "bad replica batch"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    RawClient peer(target_, keys->x25519);
    peer.send_frames({header(1, 0x15), c.body});
    ExpectLinkError(peer.recv_frames(std::chrono::seconds(10)), c.why);
  }
  ExpectStillServing();  // account_ still holds exactly its one message
}

// A well-formed batch from a known node: one result byte per replica, in
// order; a replica already held answers "exists" and is not stored twice.
TEST_F(BadInput, ReplicaBatchFromAKnownNodeIsAnsweredPerReplica) {
  auto keys = node::load_or_create_node_keys(net_->node_dir(2));
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  test::TestAccount other;
  std::vector<node::StoredMessage> ms(3);
  for (size_t i = 0; i < ms.size(); ++i) {
    ms[i].account = other.id;
    ms[i].timestamp_ms = test::now_ms() + i;
    ms[i].expiry_ms = ms[i].timestamp_ms + 3'600'000;
    ms[i].data = crypto::random_bytes(200 + i);
  }
  auto push = [&](const std::vector<node::StoredMessage>& batch, uint64_t id) {
    Bytes body;
    put_u16(body, uint16_t(batch.size()));
    for (const auto& m : batch) node::append_replica_record(body, m);
    RawClient peer(target_, keys->x25519);
    peer.send_frames({header(1, 0x15, id), body});
    return peer.recv_frames(std::chrono::seconds(20));
  };
  auto expect_ack = [](const std::optional<std::vector<Bytes>>& answer, uint64_t id, const Bytes& results) {
    ASSERT_TRUE(answer.has_value()) << "no answer";
    ASSERT_EQ(answer->size(), 2u);
    auto h = wire::decode_header((*answer)[0]);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->type, wire::Type::kReplicateBatchAck) << std::string(as_chars((*answer)[1]));
    EXPECT_EQ(h->request_id, id);
    EXPECT_EQ((*answer)[1], results);
  };
  expect_ack(push({ms[0], ms[1]}, 41), 41, Bytes{0, 0});         // both new
  expect_ack(push({ms[1], ms[2], ms[0]}, 42), 42, Bytes{1, 0, 1});  // held, new, held

  const json got = Retrieve(other);
  ASSERT_EQ(got["messages"].size(), 3u) << got.dump();
  for (size_t i = 0; i < ms.size(); ++i) EXPECT_EQ(got["messages"][i]["data"], to_base64(ms[i].data)) << i;
  ExpectStillServing();
}

TEST_F(BadInput, SyncRequestFromAClient) {
  ExpectLinkError(raw({header(1, 0x12), Bytes{'{', '}'}}), "catch-up only between members");
  ExpectStillServing();
}

TEST_F(BadInput, ResponseTypeSentToTheNode) {
  ExpectLinkError(raw({header(1, 0x02), crypto::random_bytes(100)}), "unexpected frame type");
  ExpectStillServing();
}

TEST_F(BadInput, ReplayedLayerGetsHopError) {
  std::vector<crypto::X25519PublicKey> hops = {target_.x25519};
  auto built = onion::build(hops, as_bytes(R"({"method":"info"})"), test::now_ms());
  ASSERT_TRUE(built.ok());
  for (int round = 0; round < 2; ++round) {
    RawClient c(target_);
    c.send_frames({header(1, 1), built->blob});
    auto answer = c.recv_frames();
    ASSERT_TRUE(answer.has_value());
    auto un = onion::unwrap_response(built->response_keys, (*answer)[1]);
    ASSERT_TRUE(un.ok()) << un.status().to_string();
    if (round == 0) {
      EXPECT_EQ(un->kind, onion::ResponseKind::kFinal);
    } else {
      EXPECT_EQ(un->kind, onion::ResponseKind::kHopError);
      EXPECT_NE(std::string(as_chars(un->body)).find("\"replay\""), std::string::npos) << as_chars(un->body);
    }
  }
  ExpectStillServing();
}

TEST_F(BadInput, FutureLayerTimestampGetsHopError) {
  RawClient c(target_);
  auto a = c.send_onion({target_}, as_bytes(R"({"method":"info"})"), test::now_ms() + 2 * 3600 * 1000);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->kind, onion::ResponseKind::kHopError);
  EXPECT_NE(std::string(as_chars(a->body)).find("stale"), std::string::npos);
  ExpectStillServing();
}

// ---- more kinds: JSON and fields ----------------------------------------------

TEST_F(BadInput, ParamsNotAnObject) { ExpectInvalid(R"({"method":"info","params":[1]})", "params"); }
TEST_F(BadInput, UnknownTopLevelField) { ExpectInvalid(R"({"method":"info","extra":1})", "unknown field"); }
TEST_F(BadInput, TrailingGarbageAfterJson) { ExpectInvalid(R"({"method":"info"} trailing)", "bad JSON"); }
TEST_F(BadInput, InvalidUtf8InJson) { ExpectInvalid("{\"method\":\"\xff\xfe\"}", "bad JSON"); }

TEST_F(BadStore, ZeroTtl) { ExpectInvalid(store_json(acct(), "0", now(), "0", "\"aGk=\""), "ttl"); }
TEST_F(BadStore, EmptyData) { ExpectInvalid(store_json(acct(), "0", now(), "1000", "\"\""), "data"); }
TEST_F(BadStore, NegativeTimestamp) { ExpectInvalid(store_json(acct(), "0", "-1", "1000", "\"aGk=\""), "timestamp"); }

std::string retrieve_json(const std::string& account, const std::string& extra) {
  return R"({"method":"retrieve","params":{"account":)" + account + R"(,"namespace":0,"timestamp":)" +
         std::to_string(test::now_ms()) + extra + "}}";
}

TEST_F(BadStore, RetrieveWithoutSignature) { ExpectInvalid(retrieve_json(acct(), ""), "signature"); }
TEST_F(BadStore, RetrieveLimitOutOfRange) {
  ExpectInvalid(retrieve_json(acct(), R"(,"limit":501,"pubkey_ed25519":")" + std::string(64, 'a') +
                                          R"(","signature":"AA==")"),
                "limit");
}
TEST_F(BadStore, RetrieveUnknownAnswerFormat) {
  ExpectInvalid(retrieve_json(acct(), R"(,"format":"xml","pubkey_ed25519":")" + std::string(64, 'a') +
                                          R"(","signature":")" + to_base64(Bytes(64, 1)) + "\""),
                "format");
}
TEST_F(BadStore, SignatureOfWrongLength) {
  ExpectInvalid(retrieve_json(acct(), R"(,"pubkey_ed25519":")" + std::string(64, 'a') + R"(","signature":")" +
                                          to_base64(Bytes(10, 1)) + "\""),
                "signature");
}
TEST_F(BadStore, PubkeyNotHex) {
  ExpectInvalid(retrieve_json(acct(), R"(,"pubkey_ed25519":")" + std::string(64, 'z') + R"(","signature":")" +
                                          to_base64(Bytes(64, 1)) + "\""),
                "pubkey_ed25519");
}
TEST_F(BadStore, DeleteWithTooManyHashes) {
  std::string hashes;
  for (size_t i = 0; i <= rpc::kMaxDeleteHashes; ++i) hashes += (i ? ",\"" : "\"") + std::string(64, 'a') + "\"";
  ExpectInvalid(R"({"method":"delete","params":{"account":)" + acct() + R"(,"namespace":0,"timestamp":)" + now() +
                    R"(,"hashes":[)" + hashes + R"(],"pubkey_ed25519":")" + std::string(64, 'a') +
                    R"(","signature":"AA=="}})",
                "hashes");
}

TEST_F(BadStore, StaleSignedRetrieve) {
  rpc::RetrieveRequest r;
  r.account = account_.id;
  r.timestamp_ms = test::now_ms() - 10 * 60 * 1000;
  rpc::Request req = r;
  rpc::sign_request(req, account_.ed);
  RawClient c(target_);
  auto got = c.request({target_}, req);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ((*got)["code"], "stale") << got->dump();
  ExpectStillServing();
}

TEST_F(BadStore, ReplayedSignedDelete) {
  // A signed delete of a hash that does not exist, replayed: the second is
  // refused as a replay, and the stored message is untouched either way.
  rpc::DeleteRequest d;
  d.account = account_.id;
  d.timestamp_ms = test::now_ms() - 1000;
  d.hashes = {crypto::hash(as_bytes("not stored"))};
  rpc::Request req = d;
  rpc::sign_request(req, account_.ed);
  RawClient c(target_);
  auto first = c.request({target_}, req);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ((*first)["status"], "ok") << first->dump();
  auto second = c.request({target_}, req);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ((*second)["code"], "replay") << second->dump();
  ExpectStillServing();
}

}  // namespace
}  // namespace onionswarm
