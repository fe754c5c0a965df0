#include "client/transport.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "onion/crypto.h"
#include "onion/wire.h"

namespace onionswarm::client {
namespace {

// How the test node answers a request.
enum class Mode {
  kEcho,            // kOnionResponse, same id, body = request body reversed
  kWrongId,         // kOnionResponse with another request id only
  kWrongThenRight,  // first another id, then the right one
  kLinkError,       // kError {"code":"invalid_argument","message":"bad layer"}
  kSilent,          // never answers
};

// A node stand-in: a CURVE-server ROUTER on 127.0.0.1 (kernel-chosen port)
// plus a ZAP handler that records each client's CURVE public key. Runs on its
// own thread, which owns both sockets.
class TestNode {
 public:
  explicit TestNode(Mode mode) : mode_(mode), keys_(crypto::X25519KeyPair::generate()) {
    zap_ = zmq::socket_t(ctx_, zmq::socket_type::rep);
    zap_.bind("inproc://zeromq.zap.01");
    router_ = zmq::socket_t(ctx_, zmq::socket_type::router);
    router_.set(zmq::sockopt::curve_server, 1);
    router_.set(zmq::sockopt::curve_secretkey,
                zmq::const_buffer(keys_.secret().data(), keys_.secret().size()));
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { loop(); });
  }
  ~TestNode() {
    stop_ = true;
    thread_.join();
  }

  swarm::NodeDescriptor descriptor() const {
    swarm::NodeDescriptor d;
    d.x25519 = keys_.public_key();
    d.address = endpoint_;
    return d;
  }
  std::vector<Bytes> client_keys() const {
    std::lock_guard<std::mutex> lock(mu_);
    return client_keys_;
  }
  std::set<std::string> routing_ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return routing_ids_;
  }

 private:
  static void send_reply(zmq::socket_t& s, const zmq::message_t& id, wire::Type type,
                         uint64_t request_id, ByteView body) {
    Bytes h = wire::encode_header({wire::kVersion, type, request_id});
    s.send(zmq::buffer(id.data(), id.size()), zmq::send_flags::sndmore);
    s.send(zmq::buffer(h), zmq::send_flags::sndmore);
    s.send(zmq::buffer(body.data(), body.size()), zmq::send_flags::none);
  }

  void handle_zap() {
    std::vector<zmq::message_t> frames;
    bool more = true;
    while (more && frames.size() < 16) {
      zmq::message_t f;
      if (!zap_.recv(f)) return;
      more = f.more();
      frames.push_back(std::move(f));
    }
    if (frames.size() >= 7) {
      std::lock_guard<std::mutex> lock(mu_);
      client_keys_.emplace_back(frames[6].data<uint8_t>(), frames[6].data<uint8_t>() + frames[6].size());
    }
    zap_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    zap_.send(zmq::buffer(frames.size() > 1 ? frames[1].to_string() : std::string()),
              zmq::send_flags::sndmore);
    zap_.send(zmq::str_buffer("200"), zmq::send_flags::sndmore);
    zap_.send(zmq::str_buffer("OK"), zmq::send_flags::sndmore);
    zap_.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
    zap_.send(zmq::str_buffer(""), zmq::send_flags::none);
  }

  void handle_request() {
    std::vector<zmq::message_t> frames;
    bool more = true;
    while (more && frames.size() < 8) {
      zmq::message_t f;
      if (!router_.recv(f)) return;
      more = f.more();
      frames.push_back(std::move(f));
    }
    if (frames.size() != 3) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      routing_ids_.insert(frames[0].to_string());
    }
    auto h = wire::decode_header(ByteView(frames[1].data<uint8_t>(), frames[1].size()));
    if (!h.ok() || h->type != wire::Type::kOnionRequest) return;
    Bytes body(frames[2].data<uint8_t>(), frames[2].data<uint8_t>() + frames[2].size());
    std::reverse(body.begin(), body.end());
    switch (mode_) {
      case Mode::kEcho:
        send_reply(router_, frames[0], wire::Type::kOnionResponse, h->request_id, body);
        break;
      case Mode::kWrongId:
        send_reply(router_, frames[0], wire::Type::kOnionResponse, h->request_id + 1, body);
        break;
      case Mode::kWrongThenRight:
        send_reply(router_, frames[0], wire::Type::kOnionResponse, h->request_id ^ 0xff,
                   as_bytes("stale"));
        send_reply(router_, frames[0], wire::Type::kOnionResponse, h->request_id, body);
        break;
      case Mode::kLinkError:
        send_reply(router_, frames[0], wire::Type::kError, h->request_id,
                   as_bytes(R"({"code":"invalid_argument","message":"bad layer"})"));
        break;
      case Mode::kSilent:
        break;
    }
  }

  void loop() {
    // Bounded: stops when asked, or after 60 s at the latest.
    for (int i = 0; i < 1200 && !stop_; ++i) {
      zmq::pollitem_t items[] = {{zap_.handle(), 0, ZMQ_POLLIN, 0},
                                 {router_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(50));
      if (items[0].revents & ZMQ_POLLIN) handle_zap();
      if (items[1].revents & ZMQ_POLLIN) handle_request();
    }
  }

  Mode mode_;
  crypto::X25519KeyPair keys_;
  zmq::context_t ctx_;
  zmq::socket_t zap_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Bytes> client_keys_;   // guarded by mu_
  std::set<std::string> routing_ids_;  // guarded by mu_
  std::thread thread_;
};

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::init(); }
  zmq::context_t ctx_;
};

const Bytes kBlob = {1, 2, 3, 4, 5};
const Bytes kReversed = {5, 4, 3, 2, 1};

TEST_F(TransportTest, RoundTripReturnsMatchingAnswer) {
  TestNode node(Mode::kEcho);
  auto ch = Channel::open(ctx_, node.descriptor());
  ASSERT_TRUE(ch.ok()) << ch.status().to_string();
  auto r = ch->round_trip(kBlob, 5000);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, kReversed);
}

TEST_F(TransportTest, ChannelReusesItsConnectionAndKey) {
  TestNode node(Mode::kEcho);
  auto ch = Channel::open(ctx_, node.descriptor());
  ASSERT_TRUE(ch.ok());
  for (int i = 0; i < 3; ++i) {
    auto r = ch->round_trip(kBlob, 5000);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }
  EXPECT_EQ(node.client_keys().size(), 1u);
  EXPECT_EQ(node.routing_ids().size(), 1u);
}

TEST_F(TransportTest, EachChannelUsesFreshCurveKey) {
  TestNode node(Mode::kEcho);
  for (int i = 0; i < 2; ++i) {
    auto ch = Channel::open(ctx_, node.descriptor());
    ASSERT_TRUE(ch.ok());
    ASSERT_TRUE(ch->round_trip(kBlob, 5000).ok());
  }
  auto keys = node.client_keys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].size(), crypto::kKeySize);
  EXPECT_NE(keys[0], keys[1]);
}

TEST_F(TransportTest, MismatchedRequestIdIsIgnoredUntilTimeout) {
  TestNode node(Mode::kWrongId);
  auto ch = Channel::open(ctx_, node.descriptor());
  ASSERT_TRUE(ch.ok());
  auto r = ch->round_trip(kBlob, 500);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kTimeout);
}

TEST_F(TransportTest, StaleAnswerIsSkippedForMatchingOne) {
  TestNode node(Mode::kWrongThenRight);
  auto ch = Channel::open(ctx_, node.descriptor());
  ASSERT_TRUE(ch.ok());
  auto r = ch->round_trip(kBlob, 5000);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, kReversed);
}

TEST_F(TransportTest, SilentNodeTimesOut) {
  TestNode node(Mode::kSilent);
  auto ch = Channel::open(ctx_, node.descriptor());
  ASSERT_TRUE(ch.ok());
  auto start = std::chrono::steady_clock::now();
  auto r = ch->round_trip(kBlob, 300);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
}

TEST_F(TransportTest, LinkErrorCarriesNodesCode) {
  TestNode node(Mode::kLinkError);
  auto ch = Channel::open(ctx_, node.descriptor());
  ASSERT_TRUE(ch.ok());
  auto r = ch->round_trip(kBlob, 5000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("bad layer"), std::string::npos);
}

TEST_F(TransportTest, WrongServerKeyIsUnavailable) {
  TestNode node(Mode::kEcho);
  auto d = node.descriptor();
  d.x25519 = crypto::X25519KeyPair::generate().public_key();
  auto ch = Channel::open(ctx_, d);
  ASSERT_TRUE(ch.ok());
  auto r = ch->round_trip(kBlob, 500);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

// A node at a port that was free a moment ago and is closed now.
swarm::NodeDescriptor node_nobody_listens_at(zmq::context_t& ctx) {
  swarm::NodeDescriptor d;
  {
    zmq::socket_t s(ctx, zmq::socket_type::router);
    s.bind("tcp://127.0.0.1:*");
    d.address = s.get(zmq::sockopt::last_endpoint);
  }
  d.x25519 = crypto::X25519KeyPair::generate().public_key();
  return d;
}

TEST_F(TransportTest, NobodyListeningIsUnavailable) {
  auto ch = Channel::open(ctx_, node_nobody_listens_at(ctx_));
  ASSERT_TRUE(ch.ok());
  auto r = ch->round_trip(kBlob, 300);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

TEST_F(TransportTest, RefusedConnectionEndsTheWaitAtOnce) {
  auto ch = Channel::open(ctx_, node_nobody_listens_at(ctx_));
  ASSERT_TRUE(ch.ok());
  // Not "cannot reach ... within 5000 ms": the refused connect is reported.
  auto r = ch->round_trip(kBlob, 60'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("refused"), std::string::npos) << r.status().to_string();
}

TEST_F(TransportTest, GuardThatGoesDownWhileWaitingIsUnavailableNotTimeout) {
  auto node = std::make_unique<TestNode>(Mode::kSilent);
  auto ch = Channel::open(ctx_, node->descriptor());
  ASSERT_TRUE(ch.ok());
  // Stops the node (closing its socket) once our request has reached it.
  std::thread stopper([&node] {
    for (int i = 0; i < 1000 && node->routing_ids().empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    node.reset();
  });
  auto r = ch->round_trip(kBlob, 30'000);
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().to_string();
}

TEST_F(TransportTest, BadAddressIsInvalidArgument) {
  swarm::NodeDescriptor d;
  d.address = "nonsense://x";
  auto ch = Channel::open(ctx_, d);
  ASSERT_FALSE(ch.ok());
  EXPECT_EQ(ch.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace onionswarm::client
