#include "onion/converted_keys.h"

#include <gtest/gtest.h>

#include <vector>

namespace onionswarm::crypto {
namespace {

TEST(ConvertedKeys, DerivesOnlyTheKeysOwnX25519Form) {
  init();
  auto owner = Ed25519KeyPair::generate(), other = Ed25519KeyPair::generate();
  const X25519PublicKey owner_x = owner.to_x25519().public_key(), other_x = other.to_x25519().public_key();
  ConvertedKeys c(100);
  EXPECT_TRUE(c.derives(owner.public_key(), owner_x));
  EXPECT_TRUE(c.derives(owner.public_key(), owner_x));  // the remembered answer is the same
  EXPECT_FALSE(c.derives(owner.public_key(), other_x));
  EXPECT_FALSE(c.derives(other.public_key(), owner_x));
  EXPECT_FALSE(c.derives(other.public_key(), owner_x));
  EXPECT_TRUE(c.derives(other.public_key(), other_x));
  EXPECT_EQ(c.size(), 2u);
}

TEST(ConvertedKeys, AnInvalidPointNeverDerivesAndIsNotRemembered) {
  Ed25519PublicKey bad;
  bad.bytes.fill(0xff);  // not a valid curve point
  X25519PublicKey x;
  ConvertedKeys c(100);
  EXPECT_FALSE(c.derives(bad, x));
  EXPECT_FALSE(c.derives(bad, x));
  EXPECT_EQ(c.size(), 0u);
}

TEST(ConvertedKeys, HoldsAtMostItsCapacityAndStaysRight) {
  std::vector<Ed25519KeyPair> keys;
  for (int i = 0; i < 10; ++i) keys.push_back(Ed25519KeyPair::generate());
  ConvertedKeys c(3);
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const X25519PublicKey x = keys[i].to_x25519().public_key();
      EXPECT_TRUE(c.derives(keys[i].public_key(), x)) << i;
      EXPECT_FALSE(c.derives(keys[(i + 1) % keys.size()].public_key(), x)) << i;
      EXPECT_LE(c.size(), 3u);
    }
  }
}

}  // namespace
}  // namespace onionswarm::crypto
