// Requests at real onionswarm-node processes on loopback, through real
// onion paths: signatures, staleness, replays, redirects, idempotent stores,
// the retrieve cursor across replicas, TTL.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "node/identity.h"
#include "node/replica.h"
#include "onion/encoding.h"
#include "swarm/rpc.h"
#include "swarm/swarms.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using nlohmann::json;
using test::Devnet;
using test::RawClient;

using Account = test::TestAccount;

class NodeProtocol : public test::DevnetSuite<NodeProtocol, 10, 5> {
 protected:
  void SetUp() override {
    DevnetSuite::SetUp();
    if (HasFatalFailure()) return;
    nodes_ = net_->nodes();
    ASSERT_EQ(nodes_.size(), 10u);
    swarms_ = swarm::compute_swarms(nodes_, 5);
    ASSERT_EQ(swarms_.size(), 2u);
  }

  const swarm::Swarm& swarm_of(const swarm::AccountId& a) { return swarms_[swarm::swarm_index_for(swarms_, a)]; }
  const swarm::Swarm& other_swarm(const swarm::AccountId& a) {
    return swarms_[1 - swarm::swarm_index_for(swarms_, a)];
  }
  // Three relays outside the account's swarm, then the destination.
  std::vector<swarm::NodeDescriptor> path_to(const swarm::AccountId& a, const swarm::NodeDescriptor& dest) {
    const auto& relays = other_swarm(a).members;
    return {relays[0], relays[1], relays[2], dest};
  }

  static rpc::Request store_req(const swarm::AccountId& a, Bytes data, uint64_t ttl = rpc::kDefaultTtlMs,
                                uint64_t ts = test::now_ms()) {
    rpc::StoreRequest r;
    r.account = a;
    r.ns = 0;
    r.timestamp_ms = ts;
    r.ttl_ms = ttl;
    r.data = std::move(data);
    return r;
  }
  static rpc::Request retrieve_req(const Account& a, uint64_t ts = test::now_ms(), rpc::RetrieveRequest base = {}) {
    base.account = a.id;
    base.ns = 0;
    base.timestamp_ms = ts;
    rpc::Request r = base;
    rpc::sign_request(r, a.ed);
    return r;
  }
  // Sends through a fresh client connection to path[0].
  static Result<json> send(const std::vector<swarm::NodeDescriptor>& path, const rpc::Request& req) {
    RawClient c(path[0]);
    return c.request(path, req);
  }

  std::vector<swarm::NodeDescriptor> nodes_;
  std::vector<swarm::Swarm> swarms_;
};


// A path keeps its middle and exit out of the target swarm. A client
// writing to accounts of both swarms of this network keeps a path for each
// (Client's spare paths) instead of building a new one, with a new
// connection and CURVE handshake, on every other request.
TEST_F(NodeProtocol, ClientWritingToBothSwarmsBuildsOnePathForEach) {
  std::vector<Account> to(2);
  while (swarm::swarm_index_for(swarms_, to[1].id) == swarm::swarm_index_for(swarms_, to[0].id)) to[1] = Account{};
  test::TempDir home;
  size_t built = 0;
  auto c = test::open_client(net_->network_file(), home.path(), {0, {}, [&](std::string_view line) {
                                                                 if (line == "building path…") ++built;
                                                               }});
  ASSERT_TRUE(c);
  constexpr int kSends = 12;
  for (int i = 0; i < kSends; ++i) {
    auto r = c->send(to[i % 2].id, "to both swarms " + std::to_string(i));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().to_string();
    const auto& route = c->last_route();
    ASSERT_TRUE(route.has_value());
    // The relays are never members of the target swarm.
    for (const auto* relay : {&route->path.middle, &route->path.exit})
      for (const auto& m : swarm_of(to[i % 2].id).members) EXPECT_NE(relay->x25519, m.x25519) << i;
  }
  EXPECT_LE(built, 2u) << "paths built for " << kSends << " sends alternating between two swarms";
}

TEST_F(NodeProtocol, InfoAnswersThroughFourHops) {
  Account a;
  const auto& dest = swarm_of(a.id).members[0];
  auto r = send(path_to(a.id, dest), rpc::InfoRequest{});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)["status"], "ok");
  EXPECT_EQ((*r)["nodes"], 10);
  EXPECT_EQ((*r)["x25519"], to_hex(dest.x25519.view()));
}

TEST_F(NodeProtocol, StoreThenSignedRetrieveReturnsTheMessage) {
  Account a;
  const auto& s = swarm_of(a.id).members;
  Bytes data = crypto::random_bytes(300);
  auto stored = send(path_to(a.id, s[0]), store_req(a.id, data));
  ASSERT_TRUE(stored.ok()) << stored.status().to_string();
  ASSERT_EQ((*stored)["status"], "ok") << stored->dump();
  EXPECT_EQ((*stored)["result"], "new");
  EXPECT_EQ((*stored)["hash"], to_hex(crypto::hash(data).view()));
  // Acknowledged only once another swarm member holds it too.
  ASSERT_GE((*stored)["holders"].size(), 2u) << stored->dump();
  EXPECT_EQ((*stored)["holders"][0], to_hex(s[0].x25519.view()));
  for (const auto& h : (*stored)["holders"]) {
    bool member = false;
    for (const auto& m : s) member |= h == to_hex(m.x25519.view());
    EXPECT_TRUE(member) << h;
  }

  auto got = send(path_to(a.id, s[0]), retrieve_req(a));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ((*got)["status"], "ok") << got->dump();
  ASSERT_EQ((*got)["messages"].size(), 1u);
  EXPECT_EQ((*got)["messages"][0]["data"], to_base64(data));
}

TEST_F(NodeProtocol, RetrieveWithWrongSignatureIsRefused) {
  Account a, mallory;
  const auto& dest = swarm_of(a.id).members[1];
  // Signed by mallory's key but for a's account.
  rpc::RetrieveRequest base;
  base.account = a.id;
  base.timestamp_ms = test::now_ms();
  rpc::Request r = base;
  rpc::sign_request(r, mallory.ed);
  auto got = send(path_to(a.id, dest), r);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ((*got)["code"], "unauthorized") << got->dump();

  // Right key, signature over different bytes.
  rpc::Request r2 = retrieve_req(a);
  std::get<rpc::RetrieveRequest>(r2).limit = 7;  // changes the signed bytes after signing
  auto got2 = send(path_to(a.id, dest), r2);
  ASSERT_TRUE(got2.ok());
  EXPECT_EQ((*got2)["code"], "unauthorized") << got2->dump();
  EXPECT_EQ((*got2)["message"], "bad signature");
}

TEST_F(NodeProtocol, RetrieveWithStaleTimestampIsRefused) {
  Account a;
  const auto& dest = swarm_of(a.id).members[2];
  auto got = send(path_to(a.id, dest), retrieve_req(a, test::now_ms() - 5 * 60 * 1000));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ((*got)["code"], "stale") << got->dump();
  auto future = send(path_to(a.id, dest), retrieve_req(a, test::now_ms() + 5 * 60 * 1000));
  ASSERT_TRUE(future.ok());
  EXPECT_EQ((*future)["code"], "stale") << future->dump();
}

TEST_F(NodeProtocol, ReplayedSignedRequestIsRefused) {
  Account a;
  const auto& dest = swarm_of(a.id).members[0];
  auto req = retrieve_req(a);
  auto first = send(path_to(a.id, dest), req);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["status"], "ok") << first->dump();
  // The same signed bytes again, on a fresh path (new onion layers).
  auto second = send(path_to(a.id, dest), req);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)["code"], "replay") << second->dump();
}

TEST_F(NodeProtocol, StoreAtNodeOutsideSwarmIsRedirectedAndSucceeds) {
  Account a;
  const auto& wrong = other_swarm(a.id).members.back();  // swarms hold 4 to 6 nodes
  Bytes data = crypto::random_bytes(200);
  std::vector<swarm::NodeDescriptor> path = {swarm_of(a.id).members[0], swarm_of(a.id).members[1],
                                             other_swarm(a.id).members[0], wrong};
  auto r = send(path, store_req(a.id, data));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ((*r)["code"], "wrong_swarm") << r->dump();
  auto s = rpc::swarm_from_json((*r)["swarm"]);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->members, swarm_of(a.id).members);
  // Follow the answer: store at a member of the named swarm.
  auto again = send(path_to(a.id, s->members[3]), store_req(a.id, data));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)["status"], "ok") << again->dump();
  EXPECT_EQ((*again)["result"], "new");
}

TEST_F(NodeProtocol, StoreSentTwiceAnswersExistsAndIsKeptOnce) {
  Account a;
  const auto& dest = swarm_of(a.id).members[1];
  Bytes data = crypto::random_bytes(500);
  const uint64_t ts = test::now_ms();
  auto first = send(path_to(a.id, dest), store_req(a.id, data, rpc::kDefaultTtlMs, ts));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["result"], "new") << first->dump();
  auto second = send(path_to(a.id, dest), store_req(a.id, data, rpc::kDefaultTtlMs, ts));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)["result"], "exists") << second->dump();
  EXPECT_EQ((*second)["hash"], (*first)["hash"]);
  auto got = send(path_to(a.id, dest), retrieve_req(a));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["messages"].size(), 1u) << got->dump();
}

TEST_F(NodeProtocol, AlternatingSwarmMembersNeitherSkipsNorRepeats) {
  Account a;
  const auto& members = swarm_of(a.id).members;
  constexpr int kMessages = 20;
  std::set<std::string> sent;
  // Each message enters at a different member, so replicas receive them in
  // different orders.
  for (int i = 0; i < kMessages; ++i) {
    Bytes data = crypto::random_bytes(64 + size_t(i));
    auto r = send(path_to(a.id, members[size_t(i) % members.size()]), store_req(a.id, data));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    sent.insert((*r)["hash"].get<std::string>());
  }
  // Replication is pushed after each commit: wait (bounded) until every
  // member holds all of them.
  for (const auto& m : members) {
    size_t have = 0;
    for (int attempt = 0; attempt < 100 && have != sent.size(); ++attempt) {
      rpc::RetrieveRequest base;
      base.limit = 100;
      auto got = send(path_to(a.id, m), retrieve_req(a, test::now_ms(), base));
      ASSERT_TRUE(got.ok());
      have = (*got)["messages"].size();
      if (have != sent.size()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(have, sent.size()) << "a swarm member did not receive every replica";
  }
  // Page through with limit 3, asking a different member for every page.
  std::vector<std::string> seen;
  uint64_t after_ts = 0;
  std::string after_hash(64, '0');
  for (int page = 0; page < 50; ++page) {
    rpc::RetrieveRequest base;
    base.limit = 3;
    base.after_timestamp_ms = after_ts;
    base.after_hash = *crypto::Hash::from(*from_hex(after_hash));
    auto got = send(path_to(a.id, members[size_t(page) % members.size()]), retrieve_req(a, test::now_ms(), base));
    ASSERT_TRUE(got.ok());
    ASSERT_EQ((*got)["status"], "ok") << got->dump();
    for (const auto& m : (*got)["messages"]) {
      seen.push_back(m["hash"].get<std::string>());
      after_ts = m["timestamp"].get<uint64_t>();
      after_hash = m["hash"].get<std::string>();
    }
    if (!(*got)["more"].get<bool>()) break;
  }
  EXPECT_EQ(seen.size(), sent.size()) << "skipped or repeated messages";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), sent);
}

TEST_F(NodeProtocol, MessagePastItsTtlIsGone) {
  Account a;
  const auto& dest = swarm_of(a.id).members[3];
  auto r = send(path_to(a.id, dest), store_req(a.id, crypto::random_bytes(100), /*ttl=*/1500));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)["status"], "ok") << r->dump();
  auto before = send(path_to(a.id, dest), retrieve_req(a));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ((*before)["messages"].size(), 1u);
  size_t left = 1;
  for (int attempt = 0; attempt < 100 && left != 0; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto after = send(path_to(a.id, dest), retrieve_req(a));
    ASSERT_TRUE(after.ok());
    left = (*after)["messages"].size();
  }
  EXPECT_EQ(left, 0u) << "message still served after its TTL";
}

// A replica batch from another member of the swarm (spoken with that
// node's own key) holding one message for an account of this swarm and one
// for an account of the other swarm: one result byte each, in order; only
// the first is stored.
TEST_F(NodeProtocol, ReplicaBatchRefusesAccountsOutsideTheReceiversSwarm) {
  Account mine, theirs;
  const auto& members = swarm_of(mine.id).members;
  while (swarm::swarm_index_for(swarms_, theirs.id) == swarm::swarm_index_for(swarms_, mine.id)) theirs = Account();
  const auto& receiver = members[0];
  std::optional<node::NodeKeys> sender;
  for (int i = 1; i <= 10 && !sender; ++i) {
    auto k = node::load_or_create_node_keys(net_->node_dir(i));
    ASSERT_TRUE(k.ok()) << k.status().to_string();
    if (k->x25519.public_key() == members[1].x25519) sender = std::move(*k);
  }
  ASSERT_TRUE(sender.has_value()) << "no node directory holds members[1]'s key";

  Bytes body;
  put_u16(body, 2);
  std::vector<Bytes> data;
  for (const Account* a : {&mine, &theirs}) {
    node::StoredMessage m;
    m.account = a->id;
    m.timestamp_ms = test::now_ms();
    m.expiry_ms = m.timestamp_ms + 3'600'000;
    m.data = crypto::random_bytes(64);
    data.push_back(m.data);
    node::append_replica_record(body, m);
  }
  RawClient peer(receiver, sender->x25519);
  Bytes header{wire::kVersion, uint8_t(wire::Type::kReplicateBatch)};
  put_u64(header, 99);
  peer.send_frames({header, body});
  auto answer = peer.recv_frames(std::chrono::seconds(20));
  ASSERT_TRUE(answer.has_value()) << "no answer";
  ASSERT_EQ(answer->size(), 2u);
  auto h = wire::decode_header((*answer)[0]);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->type, wire::Type::kReplicateBatchAck) << std::string(as_chars((*answer)[1]));
  EXPECT_EQ(h->request_id, 99u);
  EXPECT_EQ((*answer)[1], (Bytes{uint8_t(node::ReplicaResult::kNew), uint8_t(node::ReplicaResult::kRefused)}));

  auto got = send({receiver}, retrieve_req(mine));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ((*got)["messages"].size(), 1u);
  EXPECT_EQ((*got)["messages"][0]["data"], to_base64(data[0]));
}

}  // namespace
}  // namespace onionswarm
