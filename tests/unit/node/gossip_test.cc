#include "node/gossip.h"

#include <gtest/gtest.h>

#include "onion/encoding.h"

namespace onionswarm::node {
namespace {

using swarm::SignedDescriptor;

constexpr uint64_t kHour = 3'600'000;

struct Node {
  crypto::Ed25519KeyPair ed = crypto::Ed25519KeyPair::generate();
  crypto::X25519PublicKey x = ed.to_x25519().public_key();
  NodeKeys keys() const { return NodeKeys{ed.clone(), ed.to_x25519()}; }
  swarm::NodeDescriptor seed(const std::string& address) const { return {ed.public_key(), x, address, std::nullopt}; }
};

SignedDescriptor make(const Node& n, uint64_t now, const std::string& address = "tcp://127.0.0.1:4500",
                      uint64_t lifetime = kHour, const std::string& network = "net-a") {
  SignedDescriptor d;
  d.network_id = network;
  d.node = n.seed(address);
  d.version = "0.1.0";
  d.issued_at_ms = now;
  d.expires_at_ms = now + lifetime;
  swarm::sign_descriptor(d, n.ed);
  return d;
}

class GossipTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypto::init(); }
  uint64_t now_ = 1'800'000'000'000;
  Clock clock() {
    return [this] { return now_; };
  }
};

TEST_F(GossipTest, SeedsAreInTheViewUntilTheirDescriptorGovernsThem) {
  Node a, b;
  GossipDirectory dir({a.seed("tcp://127.0.0.1:4501"), b.seed("tcp://127.0.0.1:4502")}, 100);
  auto first = dir.snapshot();
  EXPECT_EQ(first->size(), 2u);
  SignedDescriptor da = make(a, now_, "tcp://127.0.0.1:4501");
  auto decision = dir.decide(da);
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(*decision, GossipDirectory::Decision::kAdmit);  // the network file vouches for the address
  EXPECT_TRUE(dir.admit(da));
  EXPECT_EQ(dir.snapshot(), first) << "same set, same snapshot pointer";
  EXPECT_EQ(dir.expire(now_ + kHour), 1u);
  auto after = dir.snapshot();
  EXPECT_NE(after, first);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].x25519, b.x) << "a seed whose descriptor expired drops out";
}

TEST_F(GossipTest, NewNodesAndNewAddressesNeedAnAddressCheck) {
  Node a;
  GossipDirectory dir({}, 100);
  SignedDescriptor d1 = make(a, now_);
  EXPECT_EQ(*dir.decide(d1), GossipDirectory::Decision::kProbe);
  ASSERT_TRUE(dir.admit(d1));
  EXPECT_EQ(*dir.decide(d1), GossipDirectory::Decision::kIgnore);
  EXPECT_EQ(*dir.decide(make(a, now_ + 1)), GossipDirectory::Decision::kAdmit);  // refresh, same address
  EXPECT_EQ(*dir.decide(make(a, now_ + 1, "tcp://127.0.0.1:4599")), GossipDirectory::Decision::kProbe);
  EXPECT_FALSE(dir.admit(make(a, now_ - 1))) << "an older copy never replaces a newer one";
}

TEST_F(GossipTest, DirectoryIsBounded) {
  Node a, b;
  GossipDirectory dir({}, 1);
  ASSERT_TRUE(dir.admit(make(a, now_)));
  EXPECT_EQ(dir.decide(make(b, now_)).status().code(), Code::kFull);
  EXPECT_FALSE(dir.admit(make(b, now_)));
}

TEST_F(GossipTest, SelfIsAlwaysInTheViewAndRefreshedBeforeExpiry) {
  Node self;
  auto dir = std::make_shared<GossipDirectory>(std::vector<swarm::NodeDescriptor>{}, 100);
  GossipOptions o;
  o.network_id = "net-a";
  o.interval_ms = 60'000;
  Gossip g(o, self.keys(), dir, clock());
  ASSERT_TRUE(g.start("tcp://198.18.0.1:4500").ok());
  auto s = dir->self();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->node.address, "tcp://198.18.0.1:4500");
  EXPECT_TRUE(swarm::verify_descriptor(*s, g.rules(now_)).ok());
  ASSERT_EQ(dir->snapshot()->size(), 1u);
  EXPECT_EQ(dir->expire(now_ + 10 * kHour), 0u);
  EXPECT_EQ(dir->snapshot()->size(), 1u);
}

TEST_F(GossipTest, StartRefusesAPermissionedNetworkWithoutEndorsement) {
  Node self;
  auto dir = std::make_shared<GossipDirectory>(std::vector<swarm::NodeDescriptor>{}, 100);
  GossipOptions o;
  o.network_id = "net-a";
  o.operators = {crypto::Ed25519KeyPair::generate().public_key()};
  Gossip g(o, self.keys(), dir, clock());
  EXPECT_EQ(g.start("tcp://127.0.0.1:4500").code(), Code::kUnauthorized);
  EXPECT_EQ(g.start("udp://x").code(), Code::kInvalidArgument);
}

class GossipAnswer : public GossipTest {
 protected:
  void SetUp() override {
    GossipOptions o;
    o.network_id = "net-a";
    o.interval_ms = 600'000;  // no rounds during the test
    o.unknown_announces_per_minute = 5;
    dir_ = std::make_shared<GossipDirectory>(std::vector<swarm::NodeDescriptor>{peer_.seed("tcp://127.0.0.1:1")}, 1000);
    gossip_ = std::make_unique<Gossip>(o, self_.keys(), dir_, clock());
  }
  Result<nlohmann::json> push(const crypto::X25519PublicKey& link, const SignedDescriptor& self,
                              std::vector<SignedDescriptor> others = {}) {
    nlohmann::json body{{"op", "push"}, {"self", swarm::descriptor_to_json(self)}};
    body["descriptors"] = nlohmann::json::array();
    for (const auto& d : others) body["descriptors"].push_back(swarm::descriptor_to_json(d));
    auto text = body.dump();
    auto r = gossip_->answer(link, as_bytes(text));
    if (!r.ok()) return r.status();
    return nlohmann::json::parse(*r);
  }
  Node self_, peer_;
  std::shared_ptr<GossipDirectory> dir_;
  std::unique_ptr<Gossip> gossip_;
};

TEST_F(GossipAnswer, RefusalsAreListedWithTheirReason) {
  Node n;
  SignedDescriptor forged = make(n, now_);
  forged.version = "6.6.6";
  auto a = push(n.x, forged);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_EQ((*a)["refused"].size(), 1u);
  EXPECT_NE((*a)["refused"][0]["reason"].get<std::string>().find("signature"), std::string::npos);

  auto wrong_net = push(n.x, make(n, now_, "tcp://127.0.0.1:4500", kHour, "net-b"));
  ASSERT_TRUE(wrong_net.ok());
  EXPECT_NE((*wrong_net)["refused"][0]["reason"].get<std::string>().find("network id"), std::string::npos);

  auto too_long = push(n.x, make(n, now_, "tcp://127.0.0.1:4500", 48 * kHour));
  ASSERT_TRUE(too_long.ok());
  EXPECT_NE((*too_long)["refused"][0]["reason"].get<std::string>().find("too far ahead"), std::string::npos);
  EXPECT_EQ(gossip_->refused(), 3u);
  EXPECT_EQ(gossip_->counters().refused_invalid, 3u);
  EXPECT_EQ(gossip_->counters().refused_unreachable, 0u);
  EXPECT_EQ(gossip_->counters().admitted, 0u);
  EXPECT_EQ(dir_->snapshot()->size(), 1u) << "only the seed";
}

TEST_F(GossipAnswer, SenderMustOwnItsLinkKeyAndUnknownSendersOnlyAnnounceThemselves) {
  Node n, other;
  auto wrong_link = push(other.x, make(n, now_));
  EXPECT_EQ(wrong_link.status().code(), Code::kUnauthorized);

  // Unknown sender: its own descriptor waits for the address check; what it
  // says about others is ignored (nothing refused, nothing queued).
  Node third;
  SignedDescriptor forged_third = make(third, now_);
  forged_third.signature.bytes[1] ^= 1;
  auto a = push(n.x, make(n, now_), {forged_third});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE((*a)["refused"].empty());
  // A known node's list is checked.
  auto b = push(peer_.x, make(peer_, now_, "tcp://127.0.0.1:1"), {forged_third});
  ASSERT_TRUE(b.ok());
  ASSERT_EQ((*b)["refused"].size(), 1u);
  EXPECT_EQ((*b)["refused"][0]["x25519"], to_hex(third.x.view()));
  // The answer carries what this node holds: the seed's descriptor, admitted
  // at once because the network file vouches for its address.
  ASSERT_EQ((*b)["descriptors"].size(), 1u);
  EXPECT_EQ((*b)["descriptors"][0]["x25519"], to_hex(peer_.x.view()));
}

TEST_F(GossipAnswer, CopiesTheDirectoryWouldIgnoreAreNotVerified) {
  const SignedDescriptor held = make(peer_, now_, "tcp://127.0.0.1:1");
  ASSERT_TRUE(dir_->admit(held));
  const SignedDescriptor our_own = make(self_, now_);
  dir_->set_self(our_own);  // as start() does
  // Forged copies (signature broken) of what is held, no newer, and of this
  // node itself: ignored before any signature check, so neither refused
  // nor admitted.
  SignedDescriptor same = held, older = make(peer_, now_ - 1000, "tcp://127.0.0.1:1"), ours = make(self_, now_);
  for (SignedDescriptor* d : {&same, &older, &ours}) d->signature.bytes[0] ^= 1;
  auto a = push(peer_.x, held, {same, older, ours});
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE((*a)["refused"].empty()) << a->dump();
  EXPECT_EQ(gossip_->counters().refused_invalid, 0u);
  // A forged newer copy is checked, and refused.
  SignedDescriptor newer = make(peer_, now_ + 1000, "tcp://127.0.0.1:1");
  newer.signature.bytes[0] ^= 1;
  auto b = push(peer_.x, held, {newer});
  ASSERT_TRUE(b.ok());
  ASSERT_EQ((*b)["refused"].size(), 1u) << b->dump();
  EXPECT_EQ(gossip_->counters().refused_invalid, 1u);
  const auto now_held = dir_->descriptors();
  ASSERT_EQ(now_held.size(), 2u) << "ours and the peer's";
  for (const auto& d : now_held) EXPECT_EQ(d.signature, d.node.x25519 == peer_.x ? held.signature : our_own.signature);
}

TEST_F(GossipAnswer, ANodesKeyPairIsConvertedOnceForAllItsDescriptors) {
  const crypto::ConvertedKeys* cache = gossip_->rules(now_).converted_keys;
  ASSERT_NE(cache, nullptr);
  auto first = push(peer_.x, make(peer_, now_, "tcp://127.0.0.1:1"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(gossip_->admitted(), 1u);
  EXPECT_EQ(cache->size(), 1u);
  for (uint64_t i = 1; i <= 3; ++i) {
    auto again = push(peer_.x, make(peer_, now_ + i * 1000, "tcp://127.0.0.1:1"));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(gossip_->admitted(), 1 + i) << "each re-issued descriptor is admitted";
  }
  EXPECT_EQ(cache->size(), 1u) << "and its keys were converted once";
  // Another identity key claiming the same x25519 key is checked on its own.
  Node other;
  SignedDescriptor mispaired = make(other, now_ + 10'000);  // newer than what is held for peer_.x
  mispaired.node.x25519 = peer_.x;
  swarm::sign_descriptor(mispaired, other.ed);
  auto c = push(peer_.x, make(peer_, now_ + 5000, "tcp://127.0.0.1:1"), {mispaired});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)["refused"].size(), 1u) << c->dump();
}

TEST_F(GossipAnswer, UnknownAnnouncementsAreRateLimited) {
  Code last = Code::kOk;
  for (int i = 0; i < 6; ++i) {
    Node n;
    last = push(n.x, make(n, now_)).status().code();
  }
  EXPECT_EQ(last, Code::kBusy);
  now_ += 61'000;
  Node n;
  EXPECT_TRUE(push(n.x, make(n, now_)).ok());
}

TEST_F(GossipAnswer, MalformedRequestsAreRefused) {
  for (std::string bad : {"", "[]", R"({"op":1})", R"({"op":"dance"})", R"({"op":"push"})",
                          R"({"op":"push","self":{},"x":1})"}) {
    EXPECT_FALSE(gossip_->answer(peer_.x, as_bytes(bad)).ok()) << bad;
  }
  auto probe = gossip_->answer(peer_.x, as_bytes(R"({"op":"probe"})"));
  ASSERT_TRUE(probe.ok());
  nlohmann::json many{{"op", "push"}, {"self", swarm::descriptor_to_json(make(peer_, now_))}};
  many["descriptors"] = nlohmann::json::array();
  for (size_t i = 0; i <= kMaxGossipDescriptors; ++i) many["descriptors"].push_back(1);
  auto text = many.dump();
  EXPECT_EQ(gossip_->answer(peer_.x, as_bytes(text)).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace onionswarm::node

namespace onionswarm::node {
namespace {

TEST_F(GossipAnswer, ListPagesThroughHeldDescriptorsInKeyOrder) {
  // The seed plus 300 admitted descriptors: two pages.
  ASSERT_TRUE(dir_->admit(make(peer_, now_, "tcp://127.0.0.1:1")));
  for (int i = 0; i < 300; ++i) {
    Node n;
    ASSERT_TRUE(dir_->admit(make(n, now_)));
  }
  auto first = gossip_->answer(self_.x, as_bytes(std::string(R"({"op":"list"})")));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  auto j1 = nlohmann::json::parse(*first);
  ASSERT_EQ(j1["descriptors"].size(), kMaxGossipDescriptors);
  EXPECT_TRUE(j1["more"].get<bool>());
  const std::string last = j1["descriptors"].back()["x25519"];
  auto second = gossip_->answer(self_.x, as_bytes(R"({"op":"list","after":")" + last + R"("})"));
  ASSERT_TRUE(second.ok());
  auto j2 = nlohmann::json::parse(*second);
  EXPECT_EQ(j2["descriptors"].size(), 301 - kMaxGossipDescriptors);
  EXPECT_FALSE(j2["more"].get<bool>());
  EXPECT_LT(last, j2["descriptors"][0]["x25519"].get<std::string>());
  EXPECT_FALSE(gossip_->answer(self_.x, as_bytes(std::string(R"({"op":"list","after":"xyz"})"))).ok());
  EXPECT_FALSE(gossip_->answer(self_.x, as_bytes(std::string(R"({"op":"list","limit":1})"))).ok());
}

}  // namespace
}  // namespace onionswarm::node
