#include "onion/crypto.h"

#include <gtest/gtest.h>

#include <vector>

#include "onion/encoding.h"

namespace onionswarm::crypto {
namespace {

Bytes hex(std::string_view s) {
  auto r = from_hex(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : Bytes{};
}

TEST(Crypto, InitIsIdempotent) {
  init();
  init();
  SUCCEED();
}

TEST(Crypto, SignatureVerifiesForSignedMessage) {
  auto kp = Ed25519KeyPair::generate();
  Bytes msg = {1, 2, 3, 4};
  Signature sig = kp.sign(msg);
  EXPECT_TRUE(verify(kp.public_key(), msg, sig));
  EXPECT_TRUE(verify(kp.public_key(), {}, kp.sign({})));
}

TEST(Crypto, SignatureRejectedWhenMessageKeyOrSignatureChanges) {
  auto kp = Ed25519KeyPair::generate();
  auto other = Ed25519KeyPair::generate();
  Bytes msg = {1, 2, 3, 4};
  Signature sig = kp.sign(msg);
  Bytes changed = msg;
  changed[0] ^= 1;
  EXPECT_FALSE(verify(kp.public_key(), changed, sig));
  EXPECT_FALSE(verify(other.public_key(), msg, sig));
  for (size_t i = 0; i < sig.size(); ++i) {
    Signature bad = sig;
    bad.bytes[i] ^= 0x01;
    EXPECT_FALSE(verify(kp.public_key(), msg, bad)) << "byte " << i;
  }
}

TEST(Crypto, Ed25519MatchesRfc8032TestVector1) {
  auto kp = Ed25519KeyPair::from_seed(
      hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(kp.ok());
  EXPECT_EQ(to_hex(kp->public_key().view()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(to_hex(kp->sign({}).view()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
            "d25bf5f0595bbe24655141438e7a100b");
  EXPECT_EQ(to_hex(kp->seed()), "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
}

TEST(Crypto, FromSeedRejectsWrongLength) {
  EXPECT_EQ(Ed25519KeyPair::from_seed(Bytes(31)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(X25519KeyPair::from_secret(Bytes(33)).status().code(), Code::kInvalidArgument);
}

TEST(Crypto, Ed25519ToX25519ConsistentWithKeyPairConversion) {
  for (int i = 0; i < 8; ++i) {
    auto kp = Ed25519KeyPair::generate();
    auto x = kp.to_x25519();
    auto pk = ed25519_to_x25519(kp.public_key());
    ASSERT_TRUE(pk.ok());
    EXPECT_EQ(*pk, x.public_key());
    EXPECT_EQ(x.secret().size(), kKeySize);
  }
}

TEST(Crypto, Ed25519ToX25519RejectsInvalidPoint) {
  Ed25519PublicKey bad;  // the all-zero encoding is a small-order point
  EXPECT_EQ(ed25519_to_x25519(bad).status().code(), Code::kInvalidArgument);
}

TEST(Crypto, X25519BothSidesAgree) {
  auto a = X25519KeyPair::generate();
  auto b = X25519KeyPair::generate();
  auto ab = x25519(a.secret(), b.public_key());
  auto ba = x25519(b.secret(), a.public_key());
  ASSERT_TRUE(ab.ok());
  ASSERT_TRUE(ba.ok());
  EXPECT_TRUE(equal_ct(ab->view(), ba->view()));
  EXPECT_EQ(ab->size(), kKeySize);
}

TEST(Crypto, X25519MatchesRfc7748Vector) {
  auto alice = X25519KeyPair::from_secret(
      hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob = X25519KeyPair::from_secret(
      hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  ASSERT_TRUE(alice.ok());
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(to_hex(alice->public_key().view()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  auto shared = x25519(alice->secret(), bob->public_key());
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(to_hex(shared->view()), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

TEST(Crypto, X25519RejectsLowOrderPeer) {
  auto a = X25519KeyPair::generate();
  X25519PublicKey zero;
  EXPECT_EQ(x25519(a.secret(), zero).status().code(), Code::kInvalidArgument);
}

TEST(Crypto, KeyPairCloneIsIndependentCopy) {
  auto a = X25519KeyPair::generate();
  auto c = a.clone();
  EXPECT_EQ(a.public_key(), c.public_key());
  EXPECT_TRUE(equal_ct(a.secret().view(), c.secret().view()));
  EXPECT_NE(a.secret().data(), c.secret().data());
  auto e = Ed25519KeyPair::generate();
  auto ec = e.clone();
  EXPECT_EQ(e.public_key(), ec.public_key());
  EXPECT_TRUE(verify(e.public_key(), {}, ec.sign({})));
}

TEST(Crypto, Blake2bMatchesKnownValuesAndSizes) {
  // BLAKE2b-512 of the empty string (RFC 7693 reference implementation).
  EXPECT_EQ(to_hex(blake2b({}, 64)),
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b"
            "903a685b1448b755d56f701afe9be2ce");
  EXPECT_EQ(to_hex(hash({}).view()), to_hex(blake2b({}, 32)));
  EXPECT_EQ(to_hex(hash({}).view()), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  Bytes key(32, 7);
  EXPECT_NE(blake2b(Bytes{1}, 32, key), blake2b(Bytes{1}, 32));
  EXPECT_EQ(blake2b(Bytes{1}, 16).size(), 16u);
}

TEST(Crypto, AeadRoundTrips) {
  SecretBytes key(random_bytes(kKeySize));
  Bytes nonce = random_bytes(kNonceSize);
  Bytes pt = random_bytes(1024);
  Bytes ad = {9, 9, 9};
  Bytes ct = aead_encrypt(key, nonce, pt, ad);
  EXPECT_EQ(ct.size(), pt.size() + kTagSize);
  auto back = aead_decrypt(key, nonce, ct, ad);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, pt);
  auto empty = aead_decrypt(key, nonce, aead_encrypt(key, nonce, {}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Crypto, AeadDetectsTamperingWrongKeyNonceOrAd) {
  SecretBytes key(random_bytes(kKeySize));
  Bytes nonce = random_bytes(kNonceSize);
  Bytes pt = {1, 2, 3, 4, 5};
  Bytes ad = {7};
  Bytes ct = aead_encrypt(key, nonce, pt, ad);
  for (size_t i = 0; i < ct.size(); ++i) {
    Bytes bad = ct;
    bad[i] ^= 0x80;
    EXPECT_EQ(aead_decrypt(key, nonce, bad, ad).status().code(), Code::kUnauthorized) << i;
  }
  SecretBytes other(random_bytes(kKeySize));
  EXPECT_EQ(aead_decrypt(other, nonce, ct, ad).status().code(), Code::kUnauthorized);
  Bytes nonce2 = nonce;
  nonce2[0] ^= 1;
  EXPECT_EQ(aead_decrypt(key, nonce2, ct, ad).status().code(), Code::kUnauthorized);
  EXPECT_EQ(aead_decrypt(key, nonce, ct, {}).status().code(), Code::kUnauthorized);
}

TEST(Crypto, AeadRejectsMalformedInputs) {
  SecretBytes key(random_bytes(kKeySize));
  Bytes nonce = random_bytes(kNonceSize);
  EXPECT_EQ(aead_decrypt(key, nonce, Bytes(kTagSize - 1)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(aead_decrypt(key, Bytes(12), Bytes(32)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(aead_decrypt(SecretBytes(16), nonce, Bytes(32)).status().code(), Code::kInvalidArgument);
}

TEST(Crypto, SealedBoxOpensOnlyForRecipient) {
  auto recipient = X25519KeyPair::generate();
  auto other = X25519KeyPair::generate();
  Bytes pt = {'h', 'i'};
  Bytes sealed = seal(recipient.public_key(), pt);
  EXPECT_EQ(sealed.size(), pt.size() + kSealOverhead);
  auto opened = seal_open(recipient, sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, pt);
  EXPECT_EQ(seal_open(other, sealed).status().code(), Code::kUnauthorized);
  Bytes bad = sealed;
  bad.back() ^= 1;
  EXPECT_EQ(seal_open(recipient, bad).status().code(), Code::kUnauthorized);
  EXPECT_EQ(seal_open(recipient, Bytes(kSealOverhead - 1)).status().code(), Code::kInvalidArgument);
}

TEST(Crypto, SecretBytesMoveLeavesSourceEmpty) {
  SecretBytes a(Bytes{1, 2, 3, 4});
  const uint8_t* buf = a.data();
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), buf);  // the buffer moved; no copy of the secret stayed behind
  EXPECT_EQ(b.view()[3], 4);

  SecretBytes c(Bytes{9, 9});
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c.view()[0], 1);
}

TEST(Crypto, SecretBytesCloneCopiesContent) {
  SecretBytes a(Bytes{5, 6});
  SecretBytes b = a.clone();
  EXPECT_TRUE(equal_ct(a.view(), b.view()));
  EXPECT_NE(a.data(), b.data());
  SecretBytes z(3);
  EXPECT_EQ(z.size(), 3u);
  EXPECT_TRUE(equal_ct(z.view(), Bytes(3, 0)));
}

TEST(Crypto, EqualCtComparesContentAndLength) {
  EXPECT_TRUE(equal_ct(Bytes{1, 2}, Bytes{1, 2}));
  EXPECT_FALSE(equal_ct(Bytes{1, 2}, Bytes{1, 3}));
  EXPECT_FALSE(equal_ct(Bytes{1, 2}, Bytes{1, 2, 3}));
  EXPECT_TRUE(equal_ct(Bytes{}, Bytes{}));
}

TEST(Crypto, RandomBytesDiffer) {
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(32), random_bytes(32));
  EXPECT_TRUE(random_bytes(0).empty());
}

TEST(Crypto, FixedBytesFromChecksLength) {
  EXPECT_TRUE(X25519PublicKey::from(Bytes(32, 1)).ok());
  EXPECT_EQ(X25519PublicKey::from(Bytes(31)).status().code(), Code::kInvalidArgument);
}

TEST(Crypto, RandomBelowStaysInRangeAndReachesEveryValue) {
  EXPECT_EQ(random_below(0), 0u);
  EXPECT_EQ(random_below(1), 0u);
  std::vector<int> seen(7, 0);
  for (int i = 0; i < 2000; ++i) {
    const uint32_t v = random_below(7);
    ASSERT_LT(v, 7u);
    ++seen[v];
  }
  // Each value has probability 1/7: in 2000 draws every one appears
  // (the chance that one is missing is below 1e-130).
  for (int count : seen) EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace onionswarm::crypto
