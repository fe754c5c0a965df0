// Replays and tagging against real node processes (docs/SECURITY.md,
// "Replays"): every hop of a path (guard, middle, exit, destination) refuses
// a layer it has opened before, and a layer with flipped bits fails cleanly
// at the real next hop (authenticated encryption), never turning into a
// different valid request.
//
// The test plays the part a hostile relay or an eavesdropper would: it builds
// the onion with fixed ephemeral keys and nonces, so the layer that hop k
// received is exactly the onion built for the path suffix hops[k..].
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "onion/encoding.h"
#include "onion/layer.h"
#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using nlohmann::json;
using test::RawClient;

// Five nodes in one swarm: every node stores every account.
class Replay : public test::DevnetSuite<Replay, 5, 5> {
 protected:
  void SetUp() override {
    DevnetSuite::SetUp();
    if (HasFatalFailure()) return;
    nodes_ = net_->nodes();
    ASSERT_EQ(nodes_.size(), 5u);
    // guard, middle, exit, destination
    path_ = {nodes_[1], nodes_[2], nodes_[3], nodes_[0]};
    for (size_t i = 0; i < path_.size(); ++i) {
      ephemerals_.push_back(crypto::X25519KeyPair::generate());
      nonces_.push_back(crypto::random_bytes(crypto::kNonceSize));
    }
  }

  // The onion hop `from` receives, built exactly as the full onion's inner layer.
  onion::BuiltOnion suffix(size_t from, ByteView payload, uint64_t ts) {
    std::vector<crypto::X25519PublicKey> keys;
    for (size_t i = from; i < path_.size(); ++i) keys.push_back(path_[i].x25519);
    auto built = onion::build_with(keys, payload, ts, std::span(ephemerals_).subspan(from),
                                   std::span(nonces_).subspan(from));
    EXPECT_TRUE(built.ok()) << built.status().to_string();
    return built.ok() ? std::move(*built) : onion::BuiltOnion{};
  }

  struct Answer {
    wire::Type type = wire::Type::kError;
    std::string link_error;              // kError: the JSON body
    onion::UnwrappedResponse response;   // kOnionResponse, unwrapped
  };
  // Sends blob to node and waits for its answer.
  static Answer send(const swarm::NodeDescriptor& node, const onion::BuiltOnion& built, ByteView blob) {
    RawClient c(node);
    c.send_frames({wire::encode_header({wire::kVersion, wire::Type::kOnionRequest, 1}), Bytes(blob.begin(), blob.end())});
    auto frames = c.recv_frames(std::chrono::seconds(30));
    Answer a;
    EXPECT_TRUE(frames.has_value()) << "no answer";
    if (!frames || frames->size() != 2) return a;
    auto h = wire::decode_header((*frames)[0]);
    EXPECT_TRUE(h.ok());
    if (!h.ok()) return a;
    a.type = h->type;
    if (a.type == wire::Type::kError) {
      a.link_error = std::string(as_chars((*frames)[1]));
      return a;
    }
    auto un = onion::unwrap_response(built.response_keys, (*frames)[1]);
    EXPECT_TRUE(un.ok()) << un.status().to_string();
    if (un.ok()) a.response = std::move(*un);
    return a;
  }

  Bytes store_payload(const test::TestAccount& a, const Bytes& data) {
    rpc::StoreRequest s;
    s.account = a.id;
    s.timestamp_ms = test::now_ms();
    s.data = data;
    return rpc::serialize_request(rpc::Request(s));
  }

  std::vector<swarm::NodeDescriptor> nodes_;
  std::vector<swarm::NodeDescriptor> path_;
  std::vector<crypto::X25519KeyPair> ephemerals_;
  std::vector<Bytes> nonces_;
};

json body_json(const onion::UnwrappedResponse& r) { return json::parse(as_chars(r.body), nullptr, false); }

TEST_F(Replay, EveryHopRefusesALayerItHasSeen) {
  test::TestAccount account;
  const Bytes payload = store_payload(account, crypto::random_bytes(64));
  const uint64_t ts = test::now_ms();

  // The genuine request goes through and is stored.
  auto full = suffix(0, payload, ts);
  Answer first = send(path_[0], full, full.blob);
  ASSERT_EQ(first.type, wire::Type::kOnionResponse) << first.link_error;
  ASSERT_EQ(first.response.kind, onion::ResponseKind::kFinal);
  ASSERT_EQ(body_json(first.response)["status"], "ok") << as_chars(first.response.body);

  // The same layer again, at each hop in turn: guard (the whole onion),
  // then middle, exit and destination (what the previous hop forwarded).
  for (size_t hop = 0; hop < path_.size(); ++hop) {
    SCOPED_TRACE("hop " + std::to_string(hop));
    auto again = suffix(hop, payload, ts);
    if (hop == 0) {
      ASSERT_EQ(again.blob, full.blob) << "fixed keys must rebuild the same onion";
    }
    Answer a = send(path_[hop], again, again.blob);
    ASSERT_EQ(a.type, wire::Type::kOnionResponse) << a.link_error;
    EXPECT_EQ(a.response.kind, onion::ResponseKind::kHopError);
    EXPECT_EQ(a.response.hop, 0u) << "the hop that received the replay refuses it itself";
    json j = body_json(a.response);
    EXPECT_EQ(j["code"], "replay") << j.dump();
  }

  // A fresh onion (new ephemeral keys) with the same request still passes:
  // the cache is per layer, not per request.
  RawClient c(path_[0]);
  auto fresh = c.send_onion(path_, payload);
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
  EXPECT_EQ(fresh->kind, onion::ResponseKind::kFinal);
  EXPECT_EQ(json::parse(as_chars(fresh->body))["status"], "ok");

  // Exactly one message stored, however often it was replayed.
  auto held = test::retrieve_hashes(account, path_.back());
  ASSERT_TRUE(held.ok()) << held.status().to_string();
  EXPECT_EQ(held->size(), 1u);
}

// relay.replay_cache of every node's `status --json`, by the node's x25519
// key (hex); a node that does not answer is missing.
std::map<std::string, json> replay_caches(const test::Devnet& net, int nodes) {
  std::map<std::string, json> out;
  for (int i = 1; i <= nodes; ++i) {
    json j = test::node_status(net.node_dir(i));
    if (j.is_object() && j["relay"].contains("replay_cache"))
      out[j["node"]["x25519"].get<std::string>()] = j["relay"]["replay_cache"];
  }
  return out;
}

TEST_F(Replay, StatusCountsTheKeysEveryHopRemembers) {
  // Operators watch the cache fill against its bound (at the bound the
  // oldest keys are forgotten and the horizon shrinks): each onion adds one
  // key at each of its four hops and none elsewhere.
  // The gauges follow the caches every 100 ms: start from counts that held
  // still for 300 ms (the devnet's own readiness pings may still show).
  std::map<std::string, json> before = replay_caches(*net_, 5);
  for (int i = 0; i < 60; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto again = replay_caches(*net_, 5);
    if (again == before) break;
    before = std::move(again);
  }
  ASSERT_EQ(before.size(), 5u);
  constexpr uint64_t kOnions = 3;
  test::TestAccount account;
  RawClient c(path_[0]);
  for (uint64_t i = 0; i < kOnions; ++i) {
    auto a = c.send_onion(path_, store_payload(account, crypto::random_bytes(64)));
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ASSERT_EQ(a->kind, onion::ResponseKind::kFinal) << as_chars(a->body);
  }
  auto keys_added = [&](const std::map<std::string, json>& after, const swarm::NodeDescriptor& n) -> int64_t {
    const std::string x = to_hex(n.x25519.view());
    if (!after.count(x) || !before.count(x)) return -1;
    return after.at(x)["keys"].get<int64_t>() - before.at(x)["keys"].get<int64_t>();
  };
  // Wait (bounded) until the hops' gauges show the onions.
  std::map<std::string, json> after;
  test::wait_until(
      [&] {
        after = replay_caches(*net_, 5);
        bool all = true;
        for (const auto& hop : path_) all = all && keys_added(after, hop) >= int64_t(kOnions);
        return all;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(100));
  for (const auto& hop : path_) EXPECT_EQ(keys_added(after, hop), int64_t(kOnions)) << hop.address;
  EXPECT_EQ(keys_added(after, nodes_[4]), 0) << "a node off the path remembered a layer";
  for (const auto& [x, cache] : after) {
    EXPECT_EQ(cache["capacity"], 1'000'000) << "the default replay_cache_entries";
    EXPECT_GT(cache["bytes"].get<uint64_t>(), 0u);
  }
}

TEST_F(Replay, FlippedBitsFailCleanlyAtTheRealNextHop) {
  test::TestAccount account;
  const Bytes payload = store_payload(account, crypto::random_bytes(64));
  const uint64_t ts = test::now_ms();
  // This test is a hostile guard: it forwards the middle's layer with bits
  // flipped in each part of it (ephemeral key, nonce, ciphertext, tag), and
  // a hostile exit flipping bits in the destination's layer.
  for (size_t hop : {size_t(1), size_t(3)}) {
    auto layer = suffix(hop, payload, ts);
    const size_t n = layer.blob.size();
    for (size_t pos : {size_t(5), crypto::kKeySize + 3, crypto::kKeySize + crypto::kNonceSize + 10, n / 2, n - 1}) {
      SCOPED_TRACE("hop " + std::to_string(hop) + ", byte " + std::to_string(pos));
      Bytes flipped = layer.blob;
      flipped[pos] ^= 0x04;
      Answer a = send(path_[hop], layer, flipped);
      ASSERT_EQ(a.type, wire::Type::kError) << "a tampered layer must not open";
      json j = json::parse(a.link_error, nullptr, false);
      EXPECT_EQ(j["code"], "unauthorized") << a.link_error;
    }
  }
  // Nothing reached storage.
  auto held = test::retrieve_hashes(account, path_.back());
  ASSERT_TRUE(held.ok()) << held.status().to_string();
  EXPECT_TRUE(held->empty()) << "a tampered layer became a stored request";

  // The untouched layers were never recorded as seen: the genuine onion
  // still goes through, once.
  auto full = suffix(0, payload, ts);
  Answer ok = send(path_[0], full, full.blob);
  ASSERT_EQ(ok.type, wire::Type::kOnionResponse) << ok.link_error;
  EXPECT_EQ(ok.response.kind, onion::ResponseKind::kFinal);
  EXPECT_EQ(body_json(ok.response)["status"], "ok");
  held = test::retrieve_hashes(account, path_.back());
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->size(), 1u);
}

// One node restarted with the smallest replay cache, and layers for it built
// with a chosen timestamp and fixed keys, so a test can send one again byte
// for byte.
class ReplayHorizon : public ::testing::Test {
 protected:
  static constexpr uint64_t kEntries = 1000;  // the smallest replay_cache_entries

  void SetUp() override {
    crypto::init();
    net_ = std::make_unique<test::Devnet>(1, 1);
    ASSERT_TRUE(net_->ok()) << net_->start_output();
    node_ = net_->nodes().at(0);
    ASSERT_TRUE(test::stop_devnet_node(*net_, 1));
    const std::string config = net_->dir() + "/small-replay-cache.json";
    std::ofstream(config) << json{{"data_dir", net_->node_dir(1)},
                                  {"network", net_->network_file()},
                                  {"replay_cache_entries", kEntries},
                                  {"connection_rate", 0}}
                                 .dump();
    running_.pid = test::restart_devnet_node(*net_, 1, {"--config", config});
    ASSERT_GT(running_.pid, 0);
    ASSERT_TRUE(test::wait_answering(node_)) << test::read_file(net_->node_dir(1) + "/node.log");
  }

  onion::BuiltOnion layer(uint64_t ts) const {
    std::vector<crypto::X25519KeyPair> eph;
    eph.push_back(crypto::X25519KeyPair::generate());
    const std::vector<Bytes> nonce = {crypto::random_bytes(crypto::kNonceSize)};
    const std::vector<crypto::X25519PublicKey> hop = {node_.x25519};
    auto built = onion::build_with(hop, info_, ts, eph, nonce);
    EXPECT_TRUE(built.ok()) << built.status().to_string();
    return built.ok() ? std::move(*built) : onion::BuiltOnion{};
  }

  Result<onion::UnwrappedResponse> send(const onion::BuiltOnion& built) const {
    RawClient c(node_);
    c.send_frames({wire::encode_header({wire::kVersion, wire::Type::kOnionRequest, 1}), built.blob});
    auto frames = c.recv_frames(std::chrono::seconds(30));
    if (!frames || frames->size() != 2) return error(Code::kTimeout, "no answer");
    auto h = wire::decode_header((*frames)[0]);
    if (!h.ok() || h->type != wire::Type::kOnionResponse)
      return error(Code::kInvalidArgument, "not an onion answer: " + std::string(as_chars((*frames)[1])));
    return onion::unwrap_response(built.response_keys, (*frames)[1]);
  }

  // The answer's kind, or its hop error's code ("final" when it was served).
  std::string outcome(uint64_t ts) const {
    auto a = send(layer(ts));
    if (!a.ok()) return "no answer: " + a.status().to_string();
    if (a->kind == onion::ResponseKind::kFinal) return "final";
    const json j = body_json(*a);
    return j.is_object() && j["code"].is_string() ? j["code"].get<std::string>() : std::string(as_chars(a->body));
  }

  const Bytes info_ = rpc::serialize_request(rpc::Request(rpc::InfoRequest{}));
  std::unique_ptr<test::Devnet> net_;
  swarm::NodeDescriptor node_;
  test::RunningNode running_;
};

// A layer is accepted from 30 min in the past to 60 s ahead of the hop's
// clock; outside, the hop answers stale with its clock.
TEST_F(ReplayHorizon, ALayerMoreThanAMinuteAheadOrHalfAnHourOldIsStale) {
  const uint64_t now = test::now_ms();
  EXPECT_EQ(outcome(now + 40'000), "final");
  EXPECT_EQ(outcome(now - 29 * 60'000), "final");
  EXPECT_EQ(outcome(now - 31 * 60'000), "stale");
  auto ahead = send(layer(test::now_ms() + 2 * 60'000));
  ASSERT_TRUE(ahead.ok()) << ahead.status().to_string();
  ASSERT_EQ(ahead->kind, onion::ResponseKind::kHopError);
  EXPECT_EQ(body_json(*ahead)["code"], "stale") << as_chars(ahead->body);
  auto clock = rpc::stale_layer_clock(ahead->body);
  ASSERT_TRUE(clock.has_value()) << "a stale answer carries the node's clock";
  EXPECT_LE(*clock, test::now_ms());
  EXPECT_GE(*clock + 60'000, test::now_ms()) << "the node's clock, not the layer's";
  EXPECT_EQ(running_.stop(), 0) << "node did not stop cleanly";
}

// A flood that fills the cache with layers stamped ahead holds honest
// layers back only until the clock passes the flood's stamp, which the
// bound ahead keeps within a minute (docs/SECURITY.md, "Replays").
TEST_F(ReplayHorizon, AFloodStampedAheadHoldsHonestLayersBackOnlyUntilItsStamp) {
  // 20 s ahead (inside the minute a hop accepts): the 1,000 layers take
  // about 1 s on a quiet machine and took 5 s on a loaded one.
  const uint64_t flood_ts = test::now_ms() + 20'000;
  for (uint64_t i = 0; i < kEntries; ++i) ASSERT_EQ(outcome(flood_ts), "final") << "flood layer " << i;
  // A layer stamped before every key the full cache holds may be one it
  // forgot: refused as stale.
  ASSERT_LT(test::now_ms(), flood_ts) << "the flood took longer than its head start; nothing was checked";
  EXPECT_EQ(outcome(flood_ts - 1'000), "stale");
  // Once the node's clock passes the flood's stamp, layers stamped now go
  // through again (bounded wait: the stamp is 20 s ahead).
  std::string last;
  test::wait_until([&] { return test::now_ms() > flood_ts + 100 && (last = outcome(test::now_ms())) == "final"; },
                   std::chrono::seconds(60), std::chrono::milliseconds(100));
  EXPECT_EQ(last, "final");
  EXPECT_EQ(running_.stop(), 0) << "node did not stop cleanly";
}

// A node whose replay cache is full forgets its oldest layer keys instead of
// answering busy, and from then on refuses layers as old as those as stale:
// a forgotten layer cannot be replayed, and new layers keep going through.
TEST_F(ReplayHorizon, AFullCacheKeepsAnsweringAndRefusesTheLayersItForgot) {
  // Ten minutes old: inside the 30-min window, and the oldest key the cache will hold.
  const auto old = layer(test::now_ms() - 10 * 60 * 1000);
  auto first = send(old);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_EQ(first->kind, onion::ResponseKind::kFinal) << as_chars(first->body);

  // More fresh layers than the cache holds: every one is served.
  size_t not_final = 0;
  std::string last_refusal;
  RawClient c(node_);
  for (uint64_t i = 0; i < kEntries + 200; ++i) {
    auto a = c.send_onion({node_}, info_);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    if (a->kind != onion::ResponseKind::kFinal) {
      ++not_final;
      last_refusal = std::string(as_chars(a->body));
    }
  }
  EXPECT_EQ(not_final, 0u) << "last refusal: " << last_refusal;

  // The old layer's key was the first to go; its age now refuses it.
  auto replayed = send(old);
  ASSERT_TRUE(replayed.ok()) << replayed.status().to_string();
  EXPECT_EQ(replayed->kind, onion::ResponseKind::kHopError);
  json j = body_json(*replayed);
  EXPECT_EQ(j["code"], "stale") << j.dump();
  EXPECT_TRUE(rpc::stale_layer_clock(replayed->body).has_value()) << "a stale answer carries the node's clock";

  // A fresh layer still goes through once, and its replay is refused as one.
  const auto fresh = layer(test::now_ms());
  auto ok = send(fresh);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->kind, onion::ResponseKind::kFinal) << as_chars(ok->body);
  auto again = send(fresh);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(body_json(*again)["code"], "replay") << as_chars(again->body);

  // Operators see the bound, the evictions and the narrowed horizon (the
  // gauges follow the cache every 100 ms).
  json cache;
  test::wait_until(
      [&] {
        json st = test::node_status(net_->node_dir(1));
        if (st.is_object() && st["relay"].is_object()) cache = st["relay"]["replay_cache"];
        return cache.is_object() && cache["evicted"].get<uint64_t>() >= 200;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(100));
  ASSERT_TRUE(cache.is_object()) << cache.dump();
  EXPECT_EQ(cache["keys"], kEntries);
  EXPECT_EQ(cache["capacity"], kEntries);
  EXPECT_GE(cache["evicted"].get<uint64_t>(), 200u);
  EXPECT_LT(cache["horizon_ms"].get<uint64_t>(), 5u * 60 * 1000) << "the floor rose past the old layer";
  auto m = test::node_command({"metrics", "--data-dir", net_->node_dir(1)});
  EXPECT_NE(m.out.find("onionswarm_layers_stale_total "), std::string::npos) << m.out;
  EXPECT_EQ(m.out.find("onionswarm_layers_stale_total 0\n"), std::string::npos) << "the replay was counted";
  EXPECT_EQ(m.out.find("replay_cache_full"), std::string::npos) << "no busy reason for a full cache any more";
  EXPECT_EQ(running_.stop(), 0) << "node did not stop cleanly";
}

}  // namespace
}  // namespace onionswarm
