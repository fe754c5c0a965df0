#include "swarm/descriptor.h"

#include <gtest/gtest.h>

#include "onion/encoding.h"

namespace onionswarm::swarm {
namespace {

constexpr uint64_t kNow = 1'800'000'000'000;
constexpr uint64_t kHour = 3'600'000;

struct Node {
  crypto::Ed25519KeyPair ed = crypto::Ed25519KeyPair::generate();
  crypto::X25519PublicKey x = ed.to_x25519().public_key();
};

SignedDescriptor make(const Node& n, const std::string& network = "net-a", uint64_t lifetime = kHour) {
  SignedDescriptor d;
  d.network_id = network;
  d.node.ed25519 = n.ed.public_key();
  d.node.x25519 = n.x;
  d.node.address = "tcp://127.0.0.1:4500";
  d.version = "0.1.0";
  d.issued_at_ms = kNow;
  d.expires_at_ms = kNow + lifetime;
  sign_descriptor(d, n.ed);
  return d;
}

VerifyRules rules() {
  VerifyRules r;
  r.network_id = "net-a";
  r.now_ms = kNow;
  r.max_lifetime_ms = 24 * kHour;
  return r;
}

class Descriptor : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypto::init(); }
};

TEST_F(Descriptor, ValidDescriptorVerifiesAndRoundTripsThroughJson) {
  Node n;
  SignedDescriptor d = make(n);
  EXPECT_TRUE(verify_descriptor(d, rules()).ok());
  auto back = parse_descriptor_text(descriptor_to_json(d).dump());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, d);
  EXPECT_TRUE(verify_descriptor(*back, rules()).ok());
}

TEST_F(Descriptor, ForgedSignatureIsRefused) {
  Node n;
  SignedDescriptor d = make(n);
  d.node.address = "tcp://127.0.0.1:4501";  // changed after signing
  Status st = verify_descriptor(d, rules());
  EXPECT_EQ(st.code(), Code::kUnauthorized);
  EXPECT_NE(st.message().find("signature"), std::string::npos);

  SignedDescriptor other = make(n);
  other.signature.bytes[0] ^= 1;
  EXPECT_EQ(verify_descriptor(other, rules()).code(), Code::kUnauthorized);

  // Signed by someone else's key.
  Node mallory;
  SignedDescriptor stolen = make(n);
  sign_descriptor(stolen, mallory.ed);
  EXPECT_EQ(verify_descriptor(stolen, rules()).code(), Code::kUnauthorized);
}

TEST_F(Descriptor, WrongNetworkIdIsRefused) {
  Node n;
  Status st = verify_descriptor(make(n, "net-b"), rules());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("network id"), std::string::npos);
}

TEST_F(Descriptor, ExpiryTooFarAheadIsRefused) {
  Node n;
  Status st = verify_descriptor(make(n, "net-a", 25 * kHour), rules());
  EXPECT_EQ(st.code(), Code::kStale);
  EXPECT_NE(st.message().find("too far ahead"), std::string::npos);
  EXPECT_TRUE(verify_descriptor(make(n, "net-a", 24 * kHour), rules()).ok());
}

TEST_F(Descriptor, ExpiredOrFutureDescriptorIsRefused) {
  Node n;
  VerifyRules later = rules();
  later.now_ms = kNow + kHour;
  EXPECT_EQ(verify_descriptor(make(n), later).code(), Code::kStale);
  VerifyRules earlier = rules();
  earlier.now_ms = kNow - 10 * 60 * 1000;
  EXPECT_EQ(verify_descriptor(make(n), earlier).code(), Code::kStale);
}

TEST_F(Descriptor, X25519KeyMustBeDerivedFromTheIdentityKey) {
  Node n, other;
  SignedDescriptor d = make(n);
  d.node.x25519 = other.x;
  sign_descriptor(d, n.ed);
  EXPECT_EQ(verify_descriptor(d, rules()).code(), Code::kInvalidArgument);
}

TEST_F(Descriptor, AKeyCacheGivesTheSameVerdictsAsConvertingEachTime) {
  Node n, other;
  crypto::ConvertedKeys cache(16);
  VerifyRules r = rules();
  r.converted_keys = &cache;
  SignedDescriptor good = make(n);
  ASSERT_TRUE(verify_descriptor(good, r).ok());
  EXPECT_EQ(cache.size(), 1u);
  // The identity key's conversion is remembered now: a descriptor pairing
  // it with another x25519 key is still refused, and the good one still passes.
  SignedDescriptor mispaired = make(n);
  mispaired.node.x25519 = other.x;
  sign_descriptor(mispaired, n.ed);
  EXPECT_EQ(verify_descriptor(mispaired, r).code(), Code::kInvalidArgument);
  EXPECT_TRUE(verify_descriptor(good, r).ok());
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(Descriptor, PermissionedNetworkNeedsAnEndorsementByAListedOperator) {
  Node n;
  crypto::Ed25519KeyPair op = crypto::Ed25519KeyPair::generate();
  crypto::Ed25519KeyPair stranger = crypto::Ed25519KeyPair::generate();
  VerifyRules r = rules();
  r.operators = {op.public_key()};

  Status none = verify_descriptor(make(n), r);
  EXPECT_EQ(none.code(), Code::kUnauthorized);
  EXPECT_NE(none.message().find("endorsement"), std::string::npos);

  auto endorsed = [&](const crypto::Ed25519KeyPair& by, uint64_t until, const std::string& net = "net-a") {
    SignedDescriptor d = make(n);
    d.endorsement = endorse(by, net, n.ed.public_key(), n.x, until);
    sign_descriptor(d, n.ed);
    return d;
  };
  EXPECT_TRUE(verify_descriptor(endorsed(op, kNow + 48 * kHour), r).ok());
  EXPECT_EQ(verify_descriptor(endorsed(stranger, kNow + 48 * kHour), r).code(), Code::kUnauthorized);
  EXPECT_EQ(verify_descriptor(endorsed(op, kNow - 1), r).code(), Code::kStale);
  // An endorsement for another network does not verify here.
  EXPECT_EQ(verify_descriptor(endorsed(op, kNow + kHour, "net-b"), r).code(), Code::kUnauthorized);
  // An open network ignores endorsements.
  EXPECT_TRUE(verify_descriptor(endorsed(stranger, kNow + kHour), rules()).ok());

  // Tampering with the endorsement breaks the node's signature too.
  SignedDescriptor d = endorsed(op, kNow + 48 * kHour);
  d.endorsement->valid_until_ms += 1;
  EXPECT_EQ(verify_descriptor(d, r).code(), Code::kUnauthorized);
}

// check_descriptor_terms is verify_descriptor without the public-key checks:
// the same verdict wherever no signature or key derivation is at fault.
TEST_F(Descriptor, TermsAreEverythingButTheSignaturesAndTheKeyDerivation) {
  Node n, other;
  const auto op = crypto::Ed25519KeyPair::generate();
  SignedDescriptor forged = make(n);
  forged.node.address = "tcp://127.0.0.1:4501";
  SignedDescriptor underived = make(n);
  underived.node.x25519 = other.x;
  sign_descriptor(underived, n.ed);
  SignedDescriptor bad_endorsement = make(n);
  bad_endorsement.endorsement = endorse(op, "net-a", n.ed.public_key(), n.x, kNow + kHour);
  bad_endorsement.endorsement->signature = endorse(op, "net-b", n.ed.public_key(), n.x, kNow + kHour).signature;
  sign_descriptor(bad_endorsement, n.ed);
  VerifyRules permissioned = rules();
  permissioned.operators = {op.public_key()};
  for (const auto& [d, r] : std::vector<std::pair<SignedDescriptor, VerifyRules>>{
           {forged, rules()}, {underived, rules()}, {bad_endorsement, permissioned}}) {
    EXPECT_FALSE(verify_descriptor(d, r).ok());
    EXPECT_TRUE(check_descriptor_terms(d, r).ok()) << check_descriptor_terms(d, r).to_string();
  }
  VerifyRules later = rules();
  later.now_ms = kNow + 2 * kHour;
  VerifyRules other_net = rules();
  other_net.network_id = "net-b";
  VerifyRules unlisted = permissioned;
  unlisted.operators = {crypto::Ed25519KeyPair::generate().public_key()};
  for (const auto& [d, r] : std::vector<std::pair<SignedDescriptor, VerifyRules>>{
           {forged, later}, {forged, other_net}, {bad_endorsement, unlisted}, {make(n), permissioned}}) {
    EXPECT_FALSE(verify_descriptor(d, r).ok());
    EXPECT_FALSE(check_descriptor_terms(d, r).ok());
  }
  EXPECT_EQ(check_descriptor_terms(make(n), later).code(), Code::kStale);
  EXPECT_EQ(check_descriptor_terms(make(n), other_net).code(), Code::kInvalidArgument);
  EXPECT_EQ(check_descriptor_terms(make(n), permissioned).code(), Code::kUnauthorized);
}

TEST_F(Descriptor, VerifiedOperatorIsTheEndorserOnlyWhenItsSignatureHolds) {
  Node n;
  const auto op = crypto::Ed25519KeyPair::generate();
  SignedDescriptor d = make(n);
  EXPECT_FALSE(verified_operator(d));
  EXPECT_FALSE(node_with_operator(d).operator_key);
  d.endorsement = endorse(op, "net-a", n.ed.public_key(), n.x, kNow - 1);  // expired: still names the operator
  ASSERT_TRUE(verified_operator(d));
  EXPECT_EQ(*verified_operator(d), op.public_key());
  const NodeDescriptor with = node_with_operator(d);
  EXPECT_EQ(with.operator_key, op.public_key());
  EXPECT_EQ(with.x25519, d.node.x25519);
  EXPECT_EQ(with.address, d.node.address);
  // Claiming someone else's operator key without their signature names nobody.
  SignedDescriptor forged = d;
  forged.endorsement->operator_key = crypto::Ed25519KeyPair::generate().public_key();
  EXPECT_FALSE(verified_operator(forged));
  // An endorsement of another node or for another network names nobody either.
  Node other;
  SignedDescriptor moved = make(other);
  moved.endorsement = d.endorsement;
  EXPECT_FALSE(verified_operator(moved));
  SignedDescriptor elsewhere = make(n, "net-b");
  elsewhere.endorsement = d.endorsement;
  EXPECT_FALSE(verified_operator(elsewhere));
}

TEST_F(Descriptor, SigningBytesStartWithTheDomainAndSeparateFields) {
  Node n;
  SignedDescriptor a = make(n);
  Bytes bytes = descriptor_signing_bytes(a);
  ASSERT_GT(bytes.size(), kDescriptorDomain.size());
  EXPECT_EQ(as_chars(ByteView(bytes).first(kDescriptorDomain.size())), kDescriptorDomain);
  // Moving a character between two strings changes the bytes.
  SignedDescriptor b = a;
  b.network_id = "net-a0";
  b.version = ".1.0";
  EXPECT_NE(descriptor_signing_bytes(b), bytes);
  Bytes e = endorsement_signing_bytes("net-a", n.ed.public_key(), n.x, 1);
  EXPECT_EQ(as_chars(ByteView(e).first(kEndorsementDomain.size())), kEndorsementDomain);
}

TEST_F(Descriptor, ParserRejectsMalformedInput) {
  Node n;
  const nlohmann::json good = descriptor_to_json(make(n));
  auto expect_bad = [](const nlohmann::json& j, const std::string& what) {
    auto r = parse_descriptor(j);
    ASSERT_FALSE(r.ok()) << j.dump();
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  auto with = [&](const std::string& key, const nlohmann::json& v) {
    nlohmann::json j = good;
    j[key] = v;
    return j;
  };
  nlohmann::json missing = good;
  missing.erase("signature");
  expect_bad(missing, "signature");
  expect_bad(with("extra", 1), "unknown key");
  expect_bad(with("ed25519", "abcd"), "ed25519");
  expect_bad(with("x25519", std::string(64, 'z')), "x25519");
  expect_bad(with("address", "udp://1.2.3.4:5"), "address");
  expect_bad(with("address", "tcp://" + std::string(400, 'a') + ":1"), "address");
  expect_bad(with("network_id", std::string(65, 'a')), "network_id");
  expect_bad(with("version", "1 0"), "version");
  expect_bad(with("issued_at", -1), "issued_at");
  expect_bad(with("expires_at", 1.5), "expires_at");
  expect_bad(with("endorsement", nlohmann::json::object()), "endorsement");
  expect_bad(nlohmann::json::array(), "object");
  EXPECT_FALSE(parse_descriptor_text(std::string(kMaxDescriptorJsonBytes + 1, ' ')).ok());
  EXPECT_FALSE(parse_descriptor_text("[[[[[[[[[[1]]]]]]]]]]").ok());
}

TEST_F(Descriptor, EndorsementFileRoundTripsAndChecksTheOperatorSignature) {
  Node n;
  crypto::Ed25519KeyPair op = crypto::Ed25519KeyPair::generate();
  EndorsementFile f{"net-a", n.ed.public_key(), n.x, endorse(op, "net-a", n.ed.public_key(), n.x, kNow)};
  auto back = parse_endorsement_file(endorsement_file_to_json(f).dump());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->endorsement, f.endorsement);
  f.network_id = "net-b";  // no longer what the operator signed
  auto bad = parse_endorsement_file(endorsement_file_to_json(f).dump());
  EXPECT_EQ(bad.status().code(), Code::kUnauthorized);
}

TEST_F(Descriptor, TcpEndpointValidation) {
  EXPECT_TRUE(is_valid_tcp_endpoint("tcp://127.0.0.1:1"));
  EXPECT_TRUE(is_valid_tcp_endpoint("tcp://[::1]:65535"));
  EXPECT_TRUE(is_valid_tcp_endpoint("tcp://node.example.org:4500"));
  EXPECT_FALSE(is_valid_tcp_endpoint("tcp://127.0.0.1:0"));
  EXPECT_TRUE(is_valid_tcp_endpoint("tcp://*:0", true));
  EXPECT_FALSE(is_valid_tcp_endpoint("tcp://*:4500"));
  EXPECT_FALSE(is_valid_tcp_endpoint("tcp://host:65536"));
  EXPECT_FALSE(is_valid_tcp_endpoint("ipc:///tmp/x"));
}

}  // namespace
}  // namespace onionswarm::swarm

#include <fstream>
#include <sstream>

namespace onionswarm::swarm {
namespace {

TEST(DescriptorVectors, SigningBytesSignaturesAndJsonMatchTheGoldenFile) {
  crypto::init();
  std::ifstream in(std::string(ONIONSWARM_VECTORS_DIR) + "/descriptor.json");
  ASSERT_TRUE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  auto file = nlohmann::json::parse(text.str());
  auto node_seed = from_hex(file["node_seed"].get<std::string>());
  auto op_seed = from_hex(file["operator_seed"].get<std::string>());
  ASSERT_TRUE(node_seed.ok() && op_seed.ok());
  auto node = crypto::Ed25519KeyPair::from_seed(*node_seed);
  auto op = crypto::Ed25519KeyPair::from_seed(*op_seed);
  ASSERT_TRUE(node.ok() && op.ok());
  ASSERT_EQ(file["vectors"].size(), 2u);
  for (const auto& v : file["vectors"]) {
    auto parsed = parse_descriptor(v["descriptor"]);
    ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
    EXPECT_EQ(to_hex(descriptor_signing_bytes(*parsed)), v["signing_bytes"].get<std::string>());
    // Rebuild from the seeds: same keys, same (deterministic) signatures.
    SignedDescriptor rebuilt = *parsed;
    EXPECT_EQ(rebuilt.node.ed25519, node->public_key());
    EXPECT_EQ(rebuilt.node.x25519, node->to_x25519().public_key());
    if (parsed->endorsement) {
      EXPECT_EQ(to_hex(endorsement_signing_bytes(parsed->network_id, parsed->node.ed25519, parsed->node.x25519,
                                                 parsed->endorsement->valid_until_ms)),
                v["endorsement_signing_bytes"].get<std::string>());
      rebuilt.endorsement = endorse(*op, parsed->network_id, parsed->node.ed25519, parsed->node.x25519,
                                    parsed->endorsement->valid_until_ms);
      EXPECT_EQ(rebuilt.endorsement, parsed->endorsement);
    }
    sign_descriptor(rebuilt, *node);
    EXPECT_EQ(rebuilt.signature, parsed->signature);
    EXPECT_EQ(descriptor_to_json(rebuilt), v["descriptor"]);
    VerifyRules r;
    r.network_id = "vector-net";
    r.now_ms = parsed->issued_at_ms;
    if (parsed->endorsement) r.operators = {op->public_key()};
    EXPECT_TRUE(verify_descriptor(*parsed, r).ok());
  }
}

}  // namespace
}  // namespace onionswarm::swarm
