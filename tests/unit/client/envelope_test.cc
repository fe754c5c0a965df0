#include "client/envelope.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "onion/encoding.h"
#include "onion/layer.h"
#include "swarm/rpc.h"

namespace onionswarm::client {
namespace {

constexpr size_t kHeader = 1 + 32 + 8 + 64;  // version, sender, timestamp, signature

class Envelope : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypto::init(); }

  crypto::Ed25519KeyPair alice_ = crypto::Ed25519KeyPair::generate();
  crypto::Ed25519KeyPair mallory_ = crypto::Ed25519KeyPair::generate();
  crypto::X25519KeyPair bob_ = crypto::Ed25519KeyPair::generate().to_x25519();
  crypto::X25519KeyPair carol_ = crypto::Ed25519KeyPair::generate().to_x25519();
};

Bytes to_bytes(const crypto::SecretBytes& s) { return Bytes(s.view().begin(), s.view().end()); }

swarm::AccountId account_of(const crypto::Ed25519KeyPair& k) {
  return swarm::AccountId::user(k.to_x25519().public_key());
}

// open_messages splits the work over threads; every result must land at
// its own index, good and bad ones mixed, for every count around the split.
TEST_F(Envelope, OpenManyKeepsEachResultInItsPlace) {
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(17), size_t(33), size_t(64)}) {
    std::vector<Bytes> sealed;
    for (size_t i = 0; i < n; ++i) {
      if (i % 5 == 3) {  // sealed to someone else: does not open for bob
        sealed.push_back(*seal_message(alice_, carol_.public_key(), 1000 + i, "not for bob"));
      } else {
        sealed.push_back(*seal_message(alice_, bob_.public_key(), 1000 + i, "message " + std::to_string(i)));
      }
    }
    std::vector<ByteView> views(sealed.begin(), sealed.end());
    auto opened = open_messages(bob_, views);
    ASSERT_EQ(opened.size(), n);
    for (size_t i = 0; i < n; ++i) {
      if (i % 5 == 3) {
        ASSERT_FALSE(opened[i].ok()) << n << "/" << i;
        EXPECT_EQ(opened[i].status().code(), Code::kUnauthorized);
      } else {
        ASSERT_TRUE(opened[i].ok()) << n << "/" << i << ": " << opened[i].status().to_string();
        EXPECT_EQ(opened[i]->text, "message " + std::to_string(i));
        EXPECT_EQ(opened[i]->timestamp_ms, 1000 + i);
      }
    }
  }
}

TEST_F(Envelope, RoundTrip) {
  for (const std::string& text :
       {std::string(), std::string("hi"), std::string(252, 'a'), std::string(253, 'b'),
        std::string("\0\xff binary", 9), std::string(kMaxTextBytes, 'z')}) {
    auto sealed = seal_message(alice_, bob_.public_key(), 1700000000123, text);
    ASSERT_TRUE(sealed.ok()) << sealed.status().to_string();
    const size_t padded = (4 + text.size() + 255) / 256 * 256;
    EXPECT_EQ(sealed->size(), crypto::kSealOverhead + kHeader + padded);
    auto opened = open_message(bob_, *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    EXPECT_EQ(opened->text, text);
    EXPECT_EQ(opened->timestamp_ms, 1700000000123u);
    EXPECT_EQ(opened->sender_ed25519, alice_.public_key());
    EXPECT_EQ(opened->sender, account_of(alice_));
    EXPECT_TRUE(opened->sender.is_user());
  }
}

TEST_F(Envelope, SealIsRandomizedButOpensToSameMessage) {
  auto a = seal_message(alice_, bob_.public_key(), 5, "same");
  auto b = seal_message(alice_, bob_.public_key(), 5, "same");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(open_message(bob_, *a)->text, open_message(bob_, *b)->text);
}

TEST_F(Envelope, RejectsTooLongText) {
  auto r = seal_message(alice_, bob_.public_key(), 1, std::string(kMaxTextBytes + 1, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(build_inner(alice_, bob_.public_key(), 1, std::string(kMaxTextBytes + 1, 'x'))
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST_F(Envelope, ForgedSignatureClaimingAnotherSenderIsRejected) {
  // Mallory signs with her own key but writes Alice's key as the sender.
  auto inner = build_inner(mallory_, bob_.public_key(), 42, "send money");
  ASSERT_TRUE(inner.ok());
  Bytes forged = to_bytes(*inner);
  std::copy(alice_.public_key().bytes.begin(), alice_.public_key().bytes.end(), forged.begin() + 1);
  auto r = open_message(bob_, crypto::seal(bob_.public_key(), forged));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthorized);
}

TEST_F(Envelope, TamperedFieldsAreRejected) {
  auto inner = build_inner(alice_, bob_.public_key(), 42, "hello");
  ASSERT_TRUE(inner.ok());
  const Bytes good = to_bytes(*inner);
  ASSERT_TRUE(open_message(bob_, crypto::seal(bob_.public_key(), good)).ok());
  // Timestamp, signature and text are each covered.
  for (size_t pos : {size_t(1 + 32 + 7), size_t(1 + 32 + 8 + 10), size_t(kHeader + 4)}) {
    Bytes bad = good;
    bad[pos] ^= 0x01;
    auto r = open_message(bob_, crypto::seal(bob_.public_key(), bad));
    ASSERT_FALSE(r.ok()) << pos;
    EXPECT_EQ(r.status().code(), Code::kUnauthorized) << pos;
  }
}

TEST_F(Envelope, DoesNotOpenForAnotherRecipient) {
  auto sealed = seal_message(alice_, bob_.public_key(), 1, "for bob");
  ASSERT_TRUE(sealed.ok());
  auto r = open_message(carol_, *sealed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthorized);
}

TEST_F(Envelope, ForwardedMessageSignedForAnotherRecipientIsRejected) {
  // Alice wrote to Carol; Carol re-seals the same signed inner to Bob,
  // hoping Bob believes Alice wrote to him.
  auto inner = build_inner(alice_, carol_.public_key(), 7, "for carol only");
  ASSERT_TRUE(inner.ok());
  auto sealed_for_carol = crypto::seal(carol_.public_key(), inner->view());
  ASSERT_TRUE(open_message(carol_, sealed_for_carol).ok());
  auto r = open_message(bob_, crypto::seal(bob_.public_key(), inner->view()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthorized);
}

TEST_F(Envelope, TruncatedOrGarbageIsRejected) {
  auto sealed = seal_message(alice_, bob_.public_key(), 1, "hello");
  ASSERT_TRUE(sealed.ok());
  for (size_t n : {size_t(0), size_t(1), size_t(47), size_t(48), sealed->size() - 1}) {
    Bytes cut(sealed->begin(), sealed->begin() + long(n));
    auto r = open_message(bob_, cut);
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), Code::kUnauthorized) << n;
  }
  Bytes flipped = *sealed;
  flipped[60] ^= 0x80;
  EXPECT_EQ(open_message(bob_, flipped).status().code(), Code::kUnauthorized);
  EXPECT_EQ(open_message(bob_, crypto::random_bytes(500)).status().code(), Code::kUnauthorized);
}

// Malformed inner plaintexts that do open: each is kInvalidArgument.
TEST_F(Envelope, MalformedInnerIsInvalidArgument) {
  auto inner = build_inner(alice_, bob_.public_key(), 42, "hello");
  ASSERT_TRUE(inner.ok());
  const Bytes good = to_bytes(*inner);
  ASSERT_EQ(good.size(), kHeader + 256);

  auto expect_invalid = [&](const Bytes& bad, const char* what) {
    auto r = open_message(bob_, crypto::seal(bob_.public_key(), bad));
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << what << ": " << r.status().message();
  };
  Bytes b = good;
  b[0] = 2;
  expect_invalid(b, "version");
  expect_invalid(Bytes(good.begin(), good.end() - 1), "truncated padding");
  expect_invalid(Bytes(good.begin(), good.begin() + kHeader), "no padded part");
  expect_invalid(Bytes(), "empty");
  b = good;
  b.insert(b.end(), 256, 0);
  expect_invalid(b, "padding longer than needed");
  b = good;
  b.back() = 1;
  expect_invalid(b, "non-zero padding");
  b = good;
  b[kHeader + 3] = 253;  // 4 + 253 > 256
  expect_invalid(b, "text_len beyond padded");
  b = good;
  b[kHeader + 0] = 0xff;
  expect_invalid(b, "text_len beyond maximum");
  // A padded part larger than the maximum, with text_len within bounds.
  b = good;
  b.resize(kHeader + 256 * 66, 0);
  expect_invalid(b, "padded too large");
}

// Golden vectors: tests/vectors/envelope.json (generated independently).
TEST_F(Envelope, GoldenVectors) {
  std::ifstream in(std::string(ONIONSWARM_VECTORS_DIR) + "/envelope.json");
  ASSERT_TRUE(in.good());
  const auto v = nlohmann::json::parse(in);
  auto hex = [](const nlohmann::json& j) {
    auto b = from_hex(j.get<std::string>());
    EXPECT_TRUE(b.ok());
    return b.ok() ? *b : Bytes();
  };
  auto sender = crypto::Ed25519KeyPair::from_seed(hex(v["sender_ed25519_seed"]));
  ASSERT_TRUE(sender.ok());
  EXPECT_EQ(to_hex(sender->public_key().view()), v["sender_ed25519_public"].get<std::string>());
  auto recipient = crypto::X25519KeyPair::from_secret(hex(v["recipient_x25519_secret"]));
  ASSERT_TRUE(recipient.ok());
  EXPECT_EQ(to_hex(recipient->public_key().view()),
            v["recipient_x25519_public"].get<std::string>());

  ASSERT_EQ(v["cases"].size(), 4u);
  for (const auto& c : v["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto ts = c["timestamp_ms"].get<uint64_t>();
    const auto text = c["text"].get<std::string>();
    auto inner = build_inner(*sender, recipient->public_key(), ts, text);
    ASSERT_TRUE(inner.ok());
    EXPECT_EQ(to_hex(inner->view()), c["inner"].get<std::string>());
    EXPECT_EQ(to_hex(inner->view().subspan(1 + 32 + 8, 64)), c["signature"].get<std::string>());

    const Bytes expected_inner = hex(c["inner"]);
    auto opened = open_message(*recipient, crypto::seal(recipient->public_key(), expected_inner));
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    EXPECT_EQ(opened->text, text);
    EXPECT_EQ(opened->timestamp_ms, ts);
    EXPECT_EQ(opened->sender.to_string(), v["sender_account"].get<std::string>());
    EXPECT_EQ(opened->sender_ed25519, sender->public_key());
  }
}

// The onion's destination layer of a store as Client::send builds it (namespace
// 0, default TTL, a current timestamp, no signature): a 1 KiB text (the size
// of issue 6's benchmarks, a 1,433-byte sealed blob, about 2,100 bytes of
// JSON with its base64) travels in the 4096 bucket, not the 8192 one; texts
// of at most 1,020 bytes stay in 2048. The edges are in docs/PROTOCOL.md 5.4.
TEST_F(Envelope, StoreOfAKibTextTravelsInThe4096Bucket) {
  const std::vector<crypto::X25519PublicKey> hops{crypto::X25519KeyPair::generate().public_key()};
  const uint64_t now_ms = 1'796'000'000'000;
  const std::pair<size_t, size_t> cases[] = {{0, 2048},    {1020, 2048}, {1021, 4096},
                                              {1024, 4096}, {2556, 4096}, {2557, 8192}};
  for (auto [text_size, bucket] : cases) {
    auto sealed = seal_message(alice_, bob_.public_key(), now_ms, std::string(text_size, 'x'));
    ASSERT_TRUE(sealed.ok());
    swarm::rpc::StoreRequest store;
    store.account = swarm::AccountId::user(bob_.public_key());
    store.timestamp_ms = now_ms;
    store.data = *sealed;
    auto built = onion::build(hops, swarm::rpc::serialize_request(store), now_ms);
    ASSERT_TRUE(built.ok()) << text_size;
    EXPECT_EQ(built->blob.size(), onion::kLayerHeaderOverhead + bucket) << text_size;
  }
}

}  // namespace
}  // namespace onionswarm::client
