#include "onion/layer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

#include "onion/encoding.h"
#include "onion/padding.h"

namespace onionswarm::onion {
namespace {

using crypto::SecretBytes;
using crypto::X25519KeyPair;
using crypto::X25519PublicKey;

constexpr uint64_t kTs = 1700000000123ull;
constexpr size_t kMinBlob = kLayerHeaderOverhead + 13;

struct Path {
  std::vector<X25519KeyPair> keys;
  std::vector<X25519PublicKey> pks;
};

Path make_path(size_t n) {
  Path p;
  for (size_t i = 0; i < n; ++i) {
    p.keys.push_back(X25519KeyPair::generate());
    p.pks.push_back(p.keys.back().public_key());
  }
  return p;
}

Bytes payload_of(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * 7 + 3);
  return b;
}

// Independent implementation of the layer key schedule (docs/protocol/onion.md),
// so tests can check the KDF and craft layers with arbitrary plaintexts.
struct Keys {
  SecretBytes shared, request, response;
};
Keys layer_keys(const X25519KeyPair& eph, const X25519PublicKey& hop_pk) {
  auto shared = crypto::x25519(eph.secret(), hop_pk);
  EXPECT_TRUE(shared.ok());
  std::string_view domain = "onionswarm/layer/v1";
  Bytes msg(domain.begin(), domain.end());
  append(msg, eph.public_key().view());
  append(msg, hop_pk.view());
  Bytes okm = crypto::blake2b(msg, 64, shared->view());
  return {std::move(*shared), SecretBytes(ByteView(okm).first(32)), SecretBytes(ByteView(okm).subspan(32))};
}

Bytes craft_layer(const X25519PublicKey& hop_pk, ByteView plaintext) {
  auto eph = X25519KeyPair::generate();
  Bytes nonce = crypto::random_bytes(crypto::kNonceSize);
  Keys k = layer_keys(eph, hop_pk);
  Bytes blob;
  append(blob, eph.public_key().view());
  append(blob, nonce);
  append(blob, crypto::aead_encrypt(k.request, nonce, plaintext, eph.public_key().view()));
  return blob;
}

Bytes dest_plaintext(ByteView payload, size_t padded, uint32_t len_field) {
  Bytes pt;
  pt.push_back(2);
  put_u64(pt, kTs);
  put_u32(pt, len_field);
  append(pt, payload);
  pt.resize(padded, 0);
  return pt;
}

Bytes relay_plaintext(const X25519PublicKey& next, ByteView inner, uint32_t len_field) {
  Bytes pt;
  pt.push_back(1);
  put_u64(pt, kTs);
  append(pt, next.view());
  put_u32(pt, len_field);
  append(pt, inner);
  return pt;
}

// --- build / peel ------------------------------------------------------------

class LayerHops : public ::testing::TestWithParam<size_t> {};

TEST_P(LayerHops, PeelEachLayerYieldsNextHopTimestampAndPayload) {
  const size_t n = GetParam();
  Path path = make_path(n);
  Bytes payload = payload_of(100);
  auto built = build(path.pks, payload, kTs);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  ASSERT_EQ(built->response_keys.size(), n);

  Bytes blob = built->blob;
  std::vector<X25519PublicKey> ephemerals;
  for (size_t i = 0; i < n; ++i) {
    auto layer = peel(path.keys[i], blob);
    ASSERT_TRUE(layer.ok()) << "hop " << i << ": " << layer.status().to_string();
    EXPECT_EQ(layer->timestamp_ms, kTs);
    EXPECT_TRUE(crypto::equal_ct(layer->response_key.view(), built->response_keys[i].view()));
    EXPECT_EQ(layer->ephemeral, X25519PublicKey::from(ByteView(blob).first(32)).value());
    for (const auto& e : ephemerals) EXPECT_NE(e, layer->ephemeral);
    ephemerals.push_back(layer->ephemeral);
    if (i + 1 < n) {
      EXPECT_EQ(layer->kind, LayerKind::kRelay);
      EXPECT_EQ(layer->next_hop, path.pks[i + 1]);
      // Relay layers are not padded: each one adds exactly 72 + 45 bytes.
      EXPECT_EQ(blob.size(), layer->payload.size() + kLayerHeaderOverhead + 45);
    } else {
      EXPECT_EQ(layer->kind, LayerKind::kDestination);
      EXPECT_EQ(layer->payload, payload);
      EXPECT_EQ(blob.size(), kLayerHeaderOverhead + 512);
    }
    blob = layer->payload;
  }
}

INSTANTIATE_TEST_SUITE_P(Layer, LayerHops, ::testing::Values(1, 2, 3, 4, kMaxHops));

TEST(Layer, DestinationLayerPaddedToBucket) {
  Path path = make_path(1);
  struct Case {
    size_t payload, bucket;
  };
  for (Case c : {Case{0, 512}, Case{499, 512}, Case{500, 2048}, Case{2035, 2048}, Case{2036, 4096},
                 Case{4083, 4096}, Case{4084, 8192},
                 Case{kMaxPayload, 131072}}) {
    Bytes payload = payload_of(c.payload);
    auto built = build(path.pks, payload, kTs);
    ASSERT_TRUE(built.ok()) << c.payload;
    EXPECT_EQ(built->blob.size(), kLayerHeaderOverhead + c.bucket) << c.payload;
    auto layer = peel(path.keys[0], built->blob);
    ASSERT_TRUE(layer.ok()) << c.payload << ": " << layer.status().to_string();
    EXPECT_EQ(layer->payload, payload);
  }
}

// A client of the first release padded requests on the answer ladder (no
// 4096 bucket): a destination still reads its 1 KiB store, padded to 8192.
// Any other size is refused, as before.
TEST(Layer, DestinationAcceptsTheFirstReleasesPaddingAndNoOther) {
  auto hop = X25519KeyPair::generate();
  const Bytes payload = payload_of(2100);
  for (size_t padded : {size_t(4096), size_t(8192)}) {
    auto layer = peel(hop, craft_layer(hop.public_key(), dest_plaintext(payload, padded, 2100)));
    ASSERT_TRUE(layer.ok()) << padded << ": " << layer.status().to_string();
    EXPECT_EQ(layer->payload, payload);
  }
  for (size_t padded : {size_t(2113), size_t(16384), size_t(32768)}) {
    auto layer = peel(hop, craft_layer(hop.public_key(), dest_plaintext(payload, padded, 2100)));
    EXPECT_EQ(layer.status().code(), Code::kInvalidArgument) << padded;
  }
  // 2035 bytes (2048 with the header) fit 2048 on both ladders: only 2048 is
  // right for them.
  const Bytes fits = payload_of(2035);
  EXPECT_TRUE(peel(hop, craft_layer(hop.public_key(), dest_plaintext(fits, 2048, 2035))).ok());
  for (size_t padded : {size_t(4096), size_t(8192)}) {
    auto layer = peel(hop, craft_layer(hop.public_key(), dest_plaintext(fits, padded, 2035)));
    EXPECT_EQ(layer.status().code(), Code::kInvalidArgument) << padded;
  }
}

TEST(Layer, BuildRejectsBadPathOrPayload) {
  Path path = make_path(kMaxHops + 1);
  EXPECT_EQ(build({}, {}, kTs).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(build(path.pks, {}, kTs).status().code(), Code::kInvalidArgument);
  std::span<const X25519PublicKey> one(path.pks.data(), 1);
  EXPECT_EQ(build(one, payload_of(kMaxPayload + 1), kTs).status().code(), Code::kInvalidArgument);
  X25519PublicKey low_order;  // all zero
  std::vector<X25519PublicKey> bad = {path.pks[0], low_order};
  EXPECT_EQ(build(bad, {}, kTs).status().code(), Code::kInvalidArgument);
}

TEST(Layer, BuildWithRejectsMismatchedEphemeralsOrNonces) {
  Path path = make_path(2);
  std::vector<X25519KeyPair> eph;
  eph.push_back(X25519KeyPair::generate());
  eph.push_back(X25519KeyPair::generate());
  std::vector<Bytes> nonces = {Bytes(24, 1), Bytes(24, 2)};
  EXPECT_TRUE(build_with(path.pks, {}, kTs, eph, nonces).ok());
  EXPECT_EQ(build_with(path.pks, {}, kTs, std::span(eph).first(1), nonces).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(build_with(path.pks, {}, kTs, eph, std::span(nonces).first(1)).status().code(),
            Code::kInvalidArgument);
  nonces[1] = Bytes(12, 2);
  EXPECT_EQ(build_with(path.pks, {}, kTs, eph, nonces).status().code(), Code::kInvalidArgument);
}

TEST(Layer, BuildWithIsDeterministic) {
  Path path = make_path(3);
  std::vector<X25519KeyPair> eph;
  for (int i = 0; i < 3; ++i) eph.push_back(X25519KeyPair::generate());
  std::vector<Bytes> nonces = {Bytes(24, 1), Bytes(24, 2), Bytes(24, 3)};
  auto a = build_with(path.pks, payload_of(10), kTs, eph, nonces);
  auto b = build_with(path.pks, payload_of(10), kTs, eph, nonces);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->blob, b->blob);
}

TEST(Layer, TamperingAnyByteOfOuterBlobIsDetected) {
  Path path = make_path(2);
  auto built = build(path.pks, payload_of(20), kTs);
  ASSERT_TRUE(built.ok());
  ASSERT_TRUE(peel(path.keys[0], built->blob).ok());
  for (size_t pos = 0; pos < built->blob.size(); ++pos) {
    Bytes bad = built->blob;
    bad[pos] ^= uint8_t(1u << (pos % 8));
    auto first = peel(path.keys[0], bad);
    if (first.ok()) {
      // Only acceptable if the change sits in the inner blob and the next hop catches it.
      ASSERT_EQ(first->kind, LayerKind::kRelay) << pos;
      EXPECT_FALSE(peel(path.keys[1], first->payload).ok()) << "undetected flip at byte " << pos;
    }
  }
}

TEST(Layer, TamperingInnerBlobIsDetectedByNextHop) {
  Path path = make_path(2);
  auto built = build(path.pks, payload_of(20), kTs);
  ASSERT_TRUE(built.ok());
  auto outer = peel(path.keys[0], built->blob);
  ASSERT_TRUE(outer.ok());
  for (size_t pos = 0; pos < outer->payload.size(); ++pos) {
    Bytes bad = outer->payload;
    bad[pos] ^= 0x40;
    EXPECT_FALSE(peel(path.keys[1], bad).ok()) << pos;
  }
}

TEST(Layer, PeelWithWrongHopKeyIsUnauthorized) {
  Path path = make_path(2);
  auto built = build(path.pks, payload_of(20), kTs);
  ASSERT_TRUE(built.ok());
  auto stranger = X25519KeyPair::generate();
  EXPECT_EQ(peel(stranger, built->blob).status().code(), Code::kUnauthorized);
  // The second hop cannot peel the first hop's layer either.
  EXPECT_EQ(peel(path.keys[1], built->blob).status().code(), Code::kUnauthorized);
}

TEST(Layer, PeelRejectsTruncatedBlob) {
  Path path = make_path(1);
  auto built = build(path.pks, {}, kTs);
  ASSERT_TRUE(built.ok());
  ByteView blob(built->blob);
  for (size_t n : {size_t(0), size_t(31), size_t(56), kMinBlob - 1}) {
    EXPECT_EQ(peel(path.keys[0], blob.first(n)).status().code(), Code::kInvalidArgument) << n;
  }
  EXPECT_EQ(peel(path.keys[0], blob.first(blob.size() - 1)).status().code(), Code::kUnauthorized);
  EXPECT_EQ(peel(path.keys[0], blob.first(kMinBlob)).status().code(), Code::kUnauthorized);
}

TEST(Layer, PeelRejectsOversizedBlob) {
  auto hop = X25519KeyPair::generate();
  Bytes big(kMaxBlobSize + 1, 0x55);
  EXPECT_EQ(peel(hop, big).status().code(), Code::kInvalidArgument);
}

TEST(Layer, PeelAcceptsWellFormedCraftedLayers) {
  auto hop = X25519KeyPair::generate();
  auto next = X25519KeyPair::generate();
  Bytes payload = payload_of(5);
  auto dest = peel(hop, craft_layer(hop.public_key(), dest_plaintext(payload, 512, 5)));
  ASSERT_TRUE(dest.ok()) << dest.status().to_string();
  EXPECT_EQ(dest->payload, payload);
  Bytes inner(kMinBlob, 0xaa);
  auto relay = peel(hop, craft_layer(hop.public_key(), relay_plaintext(next.public_key(), inner, kMinBlob)));
  ASSERT_TRUE(relay.ok()) << relay.status().to_string();
  EXPECT_EQ(relay->next_hop, next.public_key());
  EXPECT_EQ(relay->payload, inner);
}

TEST(Layer, PeelRejectsMalformedPlaintexts) {
  auto hop = X25519KeyPair::generate();
  auto next = X25519KeyPair::generate();
  Bytes payload = payload_of(5);
  Bytes inner(kMinBlob, 0xaa);
  struct Case {
    const char* what;
    Bytes plaintext;
  };
  std::vector<Case> cases;
  {
    Bytes pt = dest_plaintext(payload, 512, 5);
    pt[0] = 3;
    cases.push_back({"unknown kind 3", pt});
    pt[0] = 0;
    cases.push_back({"unknown kind 0", pt});
  }
  cases.push_back({"destination length beyond plaintext", dest_plaintext(payload, 512, 500)});
  cases.push_back({"destination length huge", dest_plaintext(payload, 512, 0xffffffffu)});
  {
    Bytes pt = dest_plaintext(payload, 512, 5);
    pt[511] = 1;
    cases.push_back({"non-zero padding at end", pt});
    pt[511] = 0;
    pt[13 + 5] = 0x80;
    cases.push_back({"non-zero padding right after payload", pt});
  }
  cases.push_back({"destination not padded to a bucket", dest_plaintext(payload, 100, 5)});
  cases.push_back({"destination padded to a larger bucket", dest_plaintext(payload, 2048, 5)});
  {
    // The largest bucket carries answers only: a request payload over
    // kMaxPayload is refused even when padded to that bucket.
    Bytes big = payload_of(kMaxPayload + 1);
    cases.push_back({"destination payload over kMaxPayload", dest_plaintext(big, kBuckets.back(), big.size())});
  }
  {
    Bytes pt = relay_plaintext(next.public_key(), inner, kMinBlob);
    pt.push_back(0);
    cases.push_back({"relay trailing byte after inner blob", pt});
  }
  cases.push_back({"relay length beyond plaintext", relay_plaintext(next.public_key(), inner, kMinBlob + 1)});
  cases.push_back({"relay length shorter than inner", relay_plaintext(next.public_key(), inner, kMinBlob - 1)});
  cases.push_back({"relay inner blob too short",
                   relay_plaintext(next.public_key(), ByteView(inner).first(kMinBlob - 1), kMinBlob - 1)});
  {
    Bytes pt = relay_plaintext(next.public_key(), {}, 0);
    pt.resize(30);
    cases.push_back({"relay plaintext shorter than its header", pt});
  }
  for (const Case& c : cases) {
    auto r = peel(hop, craft_layer(hop.public_key(), c.plaintext));
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.what << ": " << r.status().to_string();
  }
}

TEST(Layer, PeelUsesEphemeralKeyAsAssociatedData) {
  // A layer encrypted without ad = eph_pk must not open.
  auto hop = X25519KeyPair::generate();
  auto eph = X25519KeyPair::generate();
  Keys k = layer_keys(eph, hop.public_key());
  Bytes nonce(24, 9);
  Bytes blob;
  append(blob, eph.public_key().view());
  append(blob, nonce);
  append(blob, crypto::aead_encrypt(k.request, nonce, dest_plaintext({}, 512, 0)));
  EXPECT_EQ(peel(hop, blob).status().code(), Code::kUnauthorized);
}

// --- responses ---------------------------------------------------------------

// Runs the path: every hop peels, the destination answers `answer`; each relay
// wraps what comes back. error_hop, if < n, answers with a hop error instead.
Bytes respond(const Path& path, const BuiltOnion& built, ByteView answer, size_t error_hop, ByteView error_body) {
  const size_t n = path.keys.size();
  std::vector<PeeledLayer> layers;
  Bytes blob = built.blob;
  for (size_t i = 0; i < n; ++i) {
    auto layer = peel(path.keys[i], blob);
    EXPECT_TRUE(layer.ok());
    blob = layer->payload;
    layers.push_back(std::move(*layer));
    if (i == error_hop) break;
  }
  Bytes response;
  for (size_t i = layers.size(); i-- > 0;) {
    if (i == error_hop)
      response = wrap_response(layers[i].response_key, ResponseKind::kHopError, error_body);
    else if (i == n - 1)
      response = wrap_response(layers[i].response_key, ResponseKind::kFinal, answer);
    else
      response = wrap_response(layers[i].response_key, ResponseKind::kForwarded, response);
  }
  return response;
}

TEST(Response, FinalAnswerUnwrapsOverThreeHops) {
  Path path = make_path(3);
  auto built = build(path.pks, payload_of(10), kTs);
  ASSERT_TRUE(built.ok());
  Bytes answer = payload_of(300);
  Bytes response = respond(path, *built, answer, size_t(-1), {});
  // Destination answer padded to 512, plus 40 bytes per hop (nonce + tag) and 5 per relay.
  EXPECT_EQ(response.size(), 512 + 3 * 40 + 2 * 5);
  auto r = unwrap_response(built->response_keys, response);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->kind, ResponseKind::kFinal);
  EXPECT_EQ(r->hop, 2u);
  EXPECT_EQ(r->body, answer);
}

TEST(Response, FinalAnswerUnwrapsForOneHopAndEmptyBody) {
  Path path = make_path(1);
  auto built = build(path.pks, {}, kTs);
  ASSERT_TRUE(built.ok());
  Bytes response = respond(path, *built, {}, size_t(-1), {});
  auto r = unwrap_response(built->response_keys, response);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->hop, 0u);
  EXPECT_TRUE(r->body.empty());
}

TEST(Response, HopErrorFromMiddleHopReportsThatHop) {
  Path path = make_path(3);
  auto built = build(path.pks, payload_of(10), kTs);
  ASSERT_TRUE(built.ok());
  std::string err = R"({"code":"unavailable","message":"next hop unreachable"})";
  Bytes response = respond(path, *built, {}, 1, as_bytes(err));
  auto r = unwrap_response(built->response_keys, response);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->kind, ResponseKind::kHopError);
  EXPECT_EQ(r->hop, 1u);
  EXPECT_EQ(as_chars(r->body), err);
  // Hop errors are not padded.
  EXPECT_EQ(response.size(), err.size() + 5 + 40 + 5 + 40);
}

TEST(Response, HopErrorFromFirstAndLastHop) {
  Path path = make_path(3);
  auto built = build(path.pks, payload_of(10), kTs);
  ASSERT_TRUE(built.ok());
  for (size_t hop : {size_t(0), size_t(2)}) {
    auto r = unwrap_response(built->response_keys, respond(path, *built, {}, hop, as_bytes("{}")));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, ResponseKind::kHopError);
    EXPECT_EQ(r->hop, hop);
  }
}

TEST(Response, TamperedResponseIsUnauthorized) {
  Path path = make_path(3);
  auto built = build(path.pks, payload_of(10), kTs);
  ASSERT_TRUE(built.ok());
  Bytes response = respond(path, *built, payload_of(50), size_t(-1), {});
  for (size_t pos = 0; pos < response.size(); ++pos) {
    Bytes bad = response;
    bad[pos] ^= 0x01;
    EXPECT_EQ(unwrap_response(built->response_keys, bad).status().code(), Code::kUnauthorized) << pos;
  }
}

TEST(Response, WrongKeysAreUnauthorized) {
  Path path = make_path(2);
  auto built = build(path.pks, payload_of(10), kTs);
  ASSERT_TRUE(built.ok());
  Bytes response = respond(path, *built, payload_of(50), size_t(-1), {});
  std::vector<SecretBytes> swapped;
  swapped.push_back(built->response_keys[1].clone());
  swapped.push_back(built->response_keys[0].clone());
  EXPECT_EQ(unwrap_response(swapped, response).status().code(), Code::kUnauthorized);
}

TEST(Response, ForwardedFromLastHopIsInvalid) {
  std::vector<SecretBytes> keys;
  keys.emplace_back(crypto::random_bytes(32));
  keys.emplace_back(crypto::random_bytes(32));
  Bytes inner = wrap_response(keys[1], ResponseKind::kForwarded, Bytes(60, 0));
  Bytes outer = wrap_response(keys[0], ResponseKind::kForwarded, inner);
  EXPECT_EQ(unwrap_response(keys, outer).status().code(), Code::kInvalidArgument);
}

TEST(Response, FinalFromRelayIsInvalid) {
  std::vector<SecretBytes> keys;
  keys.emplace_back(crypto::random_bytes(32));
  keys.emplace_back(crypto::random_bytes(32));
  Bytes outer = wrap_response(keys[0], ResponseKind::kFinal, as_bytes("answer"));
  EXPECT_EQ(unwrap_response(keys, outer).status().code(), Code::kInvalidArgument);
}

TEST(Response, MalformedLayersAreInvalid) {
  SecretBytes key(crypto::random_bytes(32));
  std::vector<SecretBytes> keys;
  keys.push_back(key.clone());
  Bytes nonce(24, 4);
  auto seal_pt = [&](Bytes pt) {
    Bytes out = nonce;
    append(out, crypto::aead_encrypt(key, nonce, pt));
    return out;
  };
  // Unknown kind.
  EXPECT_EQ(unwrap_response(keys, seal_pt(Bytes{3, 0, 0, 0, 0})).status().code(), Code::kInvalidArgument);
  // Length beyond plaintext.
  EXPECT_EQ(unwrap_response(keys, seal_pt(Bytes{2, 0, 0, 0, 1})).status().code(), Code::kInvalidArgument);
  // Hop error with trailing bytes.
  EXPECT_EQ(unwrap_response(keys, seal_pt(Bytes{2, 0, 0, 0, 0, 0})).status().code(), Code::kInvalidArgument);
  // Final answer not padded to a bucket.
  EXPECT_EQ(unwrap_response(keys, seal_pt(Bytes{1, 0, 0, 0, 0})).status().code(), Code::kInvalidArgument);
  // Final answer with non-zero padding.
  Bytes pt(512, 0);
  pt[0] = 1;
  pt[511] = 1;
  EXPECT_EQ(unwrap_response(keys, seal_pt(pt)).status().code(), Code::kInvalidArgument);
  pt[511] = 0;
  EXPECT_TRUE(unwrap_response(keys, seal_pt(pt)).ok());
  // Too short to hold a layer, no keys, oversized.
  EXPECT_EQ(unwrap_response(keys, Bytes(44, 0)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(unwrap_response({}, seal_pt(pt)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(unwrap_response(keys, Bytes(kMaxBlobSize + 1, 0)).status().code(), Code::kInvalidArgument);
}

TEST(Response, LargestAnswerUsesTheAnswerOnlyBucketAndUnwrapsThroughEveryHop) {
  std::vector<SecretBytes> keys;
  for (size_t i = 0; i < kMaxHops; ++i) keys.emplace_back(crypto::random_bytes(32));
  // The smallest answer body that needs the largest bucket, and the largest.
  const size_t just_over = kBuckets[kBuckets.size() - 2] - 5 + 1;
  for (size_t size : {just_over, kMaxAnswerBody}) {
    const Bytes answer = payload_of(size);
    Bytes blob = wrap_response(keys.back(), ResponseKind::kFinal, answer);
    EXPECT_EQ(blob.size(), 24 + 16 + kBuckets.back()) << size;
    for (size_t i = keys.size() - 1; i-- > 0;) blob = wrap_response(keys[i], ResponseKind::kForwarded, blob);
    EXPECT_LE(blob.size(), kMaxBlobSize);
    auto got = unwrap_response(keys, blob);
    ASSERT_TRUE(got.ok()) << size << ": " << got.status().to_string();
    EXPECT_EQ(got->kind, ResponseKind::kFinal);
    EXPECT_EQ(got->body, answer);
  }
}

TEST(Response, WrapWithNonceIsDeterministicAndPadsFinalOnly) {
  SecretBytes key(Bytes(32, 1));
  Bytes nonce(24, 2);
  Bytes a = wrap_response_with_nonce(key, ResponseKind::kFinal, as_bytes("x"), nonce);
  EXPECT_EQ(a, wrap_response_with_nonce(key, ResponseKind::kFinal, as_bytes("x"), nonce));
  EXPECT_EQ(ByteView(a).first(24).size(), 24u);
  EXPECT_TRUE(std::equal(nonce.begin(), nonce.end(), a.begin()));
  EXPECT_EQ(a.size(), 24 + 512 + 16);
  EXPECT_EQ(wrap_response_with_nonce(key, ResponseKind::kFinal, Bytes(507), nonce).size(), 24 + 512 + 16);
  EXPECT_EQ(wrap_response_with_nonce(key, ResponseKind::kFinal, Bytes(507 + 1), nonce).size(), 24 + 2048 + 16);
  // Answers stay on the first release's ladder: 4096 is for requests only.
  EXPECT_EQ(wrap_response_with_nonce(key, ResponseKind::kFinal, Bytes(2100), nonce).size(), 24 + 8192 + 16);
  EXPECT_EQ(wrap_response_with_nonce(key, ResponseKind::kForwarded, as_bytes("x"), nonce).size(), 24 + 6 + 16);
  EXPECT_EQ(wrap_response_with_nonce(key, ResponseKind::kHopError, as_bytes("x"), nonce).size(), 24 + 6 + 16);
}

// --- golden vectors ----------------------------------------------------------

const std::string kVectorFile = std::string(ONIONSWARM_VECTORS_DIR) + "/onion_layers.json";

SecretBytes fixed_secret(const std::string& label, size_t len = 32) {
  return SecretBytes(crypto::blake2b(as_bytes("onionswarm test vector " + label), len));
}
Bytes fixed_bytes(const std::string& label, size_t len) {
  return crypto::blake2b(as_bytes("onionswarm test vector " + label), len);
}

// Writes tests/vectors/onion_layers.json from fixed inputs. Run only with
// ONIONSWARM_REGENERATE_VECTORS=1; the file is committed and must not change
// unless the format changes on purpose.
void regenerate_vectors() {
  constexpr size_t n = 3;
  const uint64_t ts = 1700000000000ull;
  const std::string payload_text = R"({"method":"info","params":{}})";
  const Bytes payload(payload_text.begin(), payload_text.end());

  std::vector<X25519KeyPair> hops, ephs;
  std::vector<X25519PublicKey> pks;
  std::vector<Bytes> nonces;
  for (size_t i = 0; i < n; ++i) {
    hops.push_back(X25519KeyPair::from_secret(fixed_secret("hop " + std::to_string(i)).view()).value());
    pks.push_back(hops.back().public_key());
    ephs.push_back(X25519KeyPair::from_secret(fixed_secret("ephemeral " + std::to_string(i)).view()).value());
    nonces.push_back(fixed_bytes("nonce " + std::to_string(i), 24));
  }
  auto built = build_with(pks, payload, ts, ephs, nonces).value();

  nlohmann::ordered_json doc;
  doc["description"] =
      "Onion layer golden vector: a 3-hop path (2 relays + destination). All byte strings are lowercase hex. "
      "hops[i].layer_blob is the blob hops[i] receives (hops[0].layer_blob == onion_blob); layer_plaintext is "
      "the AEAD plaintext of that layer. See docs/protocol/onion.md.";
  doc["kdf_domain"] = "onionswarm/layer/v1";
  doc["timestamp_ms"] = ts;
  doc["payload"] = to_hex(payload);
  nlohmann::ordered_json jhops = nlohmann::ordered_json::array();
  Bytes blob = built.blob;
  for (size_t i = 0; i < n; ++i) {
    Keys k = layer_keys(ephs[i], pks[i]);
    auto layer = peel(hops[i], blob).value();
    auto pt = crypto::aead_decrypt(k.request, ByteView(blob).subspan(32, 24), ByteView(blob).subspan(56),
                                   ephs[i].public_key().view())
                  .value();
    nlohmann::ordered_json h;
    h["secret_key"] = to_hex(hops[i].secret().view());
    h["public_key"] = to_hex(pks[i].view());
    h["ephemeral_secret_key"] = to_hex(ephs[i].secret().view());
    h["ephemeral_public_key"] = to_hex(ephs[i].public_key().view());
    h["nonce"] = to_hex(nonces[i]);
    h["shared_secret"] = to_hex(k.shared.view());
    h["request_key"] = to_hex(k.request.view());
    h["response_key"] = to_hex(k.response.view());
    h["layer_plaintext"] = to_hex(pt);
    h["layer_blob"] = to_hex(blob);
    jhops.push_back(h);
    blob = layer.payload;
  }
  doc["hops"] = jhops;
  doc["onion_blob"] = to_hex(built.blob);

  // Final answer: destination wraps kFinal, relays wrap kForwarded.
  const std::string answer_text = R"({"version":"0.1.0"})";
  nlohmann::ordered_json resp;
  resp["body"] = to_hex(as_bytes(answer_text));
  std::vector<Bytes> rnonces;
  for (size_t i = 0; i < n; ++i) rnonces.push_back(fixed_bytes("response nonce " + std::to_string(i), 24));
  std::vector<Bytes> wrapped(n);
  for (size_t i = n; i-- > 0;) {
    wrapped[i] = i == n - 1 ? wrap_response_with_nonce(built.response_keys[i], ResponseKind::kFinal,
                                                       as_bytes(answer_text), rnonces[i])
                            : wrap_response_with_nonce(built.response_keys[i], ResponseKind::kForwarded,
                                                       wrapped[i + 1], rnonces[i]);
  }
  nlohmann::ordered_json jn = nlohmann::ordered_json::array(), jw = nlohmann::ordered_json::array();
  for (size_t i = 0; i < n; ++i) {
    jn.push_back(to_hex(rnonces[i]));
    jw.push_back(to_hex(wrapped[i]));
  }
  resp["nonces"] = jn;
  resp["wrapped"] = jw;
  resp["blob"] = to_hex(wrapped[0]);
  doc["response"] = resp;

  // Hop error written by hops[1]; hops[0] forwards it.
  const std::string err_text = R"({"code":"unavailable","message":"next hop unreachable"})";
  Bytes e1 = wrap_response_with_nonce(built.response_keys[1], ResponseKind::kHopError, as_bytes(err_text),
                                      fixed_bytes("error nonce 1", 24));
  Bytes e0 = wrap_response_with_nonce(built.response_keys[0], ResponseKind::kForwarded, e1,
                                      fixed_bytes("error nonce 0", 24));
  nlohmann::ordered_json herr;
  herr["hop"] = 1;
  herr["body"] = to_hex(as_bytes(err_text));
  herr["nonces"] = {to_hex(fixed_bytes("error nonce 0", 24)), to_hex(fixed_bytes("error nonce 1", 24))};
  herr["wrapped"] = {to_hex(e0), to_hex(e1)};
  herr["blob"] = to_hex(e0);
  doc["hop_error_response"] = herr;

  std::ofstream out(kVectorFile);
  out << doc.dump(2) << "\n";
  ASSERT_TRUE(out.good()) << "cannot write " << kVectorFile;
}

Bytes jhex(const nlohmann::json& v) {
  auto r = from_hex(v.get<std::string>(), kMaxBlobSize);
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : Bytes{};
}

TEST(LayerVectors, GoldenVectorsRebuildAndPeelByteForByte) {
  const char* regen = std::getenv("ONIONSWARM_REGENERATE_VECTORS");
  if (regen != nullptr && std::string(regen) == "1") regenerate_vectors();

  std::ifstream in(kVectorFile);
  ASSERT_TRUE(in.good()) << kVectorFile;
  auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc.at("kdf_domain").get<std::string>(), "onionswarm/layer/v1");
  const uint64_t ts = doc.at("timestamp_ms").get<uint64_t>();
  const Bytes payload = jhex(doc.at("payload"));
  const auto& jhops = doc.at("hops");
  const size_t n = jhops.size();
  ASSERT_EQ(n, 3u);

  std::vector<X25519KeyPair> hops, ephs;
  std::vector<X25519PublicKey> pks;
  std::vector<Bytes> nonces;
  for (const auto& h : jhops) {
    hops.push_back(X25519KeyPair::from_secret(jhex(h.at("secret_key"))).value());
    pks.push_back(hops.back().public_key());
    EXPECT_EQ(to_hex(pks.back().view()), h.at("public_key").get<std::string>());
    ephs.push_back(X25519KeyPair::from_secret(jhex(h.at("ephemeral_secret_key"))).value());
    EXPECT_EQ(to_hex(ephs.back().public_key().view()), h.at("ephemeral_public_key").get<std::string>());
    nonces.push_back(jhex(h.at("nonce")));
  }

  auto built = build_with(pks, payload, ts, ephs, nonces);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  EXPECT_EQ(to_hex(built->blob), doc.at("onion_blob").get<std::string>());

  Bytes blob = jhex(doc.at("onion_blob"));
  for (size_t i = 0; i < n; ++i) {
    const auto& h = jhops[i];
    Keys k = layer_keys(ephs[i], pks[i]);
    EXPECT_EQ(to_hex(k.shared.view()), h.at("shared_secret").get<std::string>()) << i;
    EXPECT_EQ(to_hex(k.request.view()), h.at("request_key").get<std::string>()) << i;
    EXPECT_EQ(to_hex(k.response.view()), h.at("response_key").get<std::string>()) << i;
    EXPECT_EQ(to_hex(built->response_keys[i].view()), h.at("response_key").get<std::string>()) << i;
    EXPECT_EQ(to_hex(blob), h.at("layer_blob").get<std::string>()) << i;
    auto pt = crypto::aead_decrypt(k.request, ByteView(blob).subspan(32, 24), ByteView(blob).subspan(56),
                                   ephs[i].public_key().view());
    ASSERT_TRUE(pt.ok());
    EXPECT_EQ(to_hex(*pt), h.at("layer_plaintext").get<std::string>()) << i;

    auto layer = peel(hops[i], blob);
    ASSERT_TRUE(layer.ok()) << i << ": " << layer.status().to_string();
    EXPECT_EQ(layer->timestamp_ms, ts);
    if (i + 1 < n) {
      EXPECT_EQ(layer->kind, LayerKind::kRelay);
      EXPECT_EQ(layer->next_hop, pks[i + 1]);
    } else {
      EXPECT_EQ(layer->kind, LayerKind::kDestination);
      EXPECT_EQ(layer->payload, payload);
    }
    blob = layer->payload;
  }

  const auto& resp = doc.at("response");
  const Bytes answer = jhex(resp.at("body"));
  Bytes wrapped;
  for (size_t i = n; i-- > 0;) {
    Bytes nonce = jhex(resp.at("nonces")[i]);
    wrapped = i == n - 1
                  ? wrap_response_with_nonce(built->response_keys[i], ResponseKind::kFinal, answer, nonce)
                  : wrap_response_with_nonce(built->response_keys[i], ResponseKind::kForwarded, wrapped, nonce);
    EXPECT_EQ(to_hex(wrapped), resp.at("wrapped")[i].get<std::string>()) << i;
  }
  auto un = unwrap_response(built->response_keys, jhex(resp.at("blob")));
  ASSERT_TRUE(un.ok()) << un.status().to_string();
  EXPECT_EQ(un->kind, ResponseKind::kFinal);
  EXPECT_EQ(un->hop, n - 1);
  EXPECT_EQ(un->body, answer);

  const auto& herr = doc.at("hop_error_response");
  const Bytes err_body = jhex(herr.at("body"));
  Bytes e1 = wrap_response_with_nonce(built->response_keys[1], ResponseKind::kHopError, err_body,
                                      jhex(herr.at("nonces")[1]));
  Bytes e0 = wrap_response_with_nonce(built->response_keys[0], ResponseKind::kForwarded, e1,
                                      jhex(herr.at("nonces")[0]));
  EXPECT_EQ(to_hex(e0), herr.at("blob").get<std::string>());
  auto uerr = unwrap_response(built->response_keys, jhex(herr.at("blob")));
  ASSERT_TRUE(uerr.ok()) << uerr.status().to_string();
  EXPECT_EQ(uerr->kind, ResponseKind::kHopError);
  EXPECT_EQ(uerr->hop, herr.at("hop").get<size_t>());
  EXPECT_EQ(uerr->body, err_body);
}

}  // namespace
}  // namespace onionswarm::onion
