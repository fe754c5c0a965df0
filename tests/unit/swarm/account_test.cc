#include "swarm/account.h"

#include <gtest/gtest.h>

#include <string>

#include "onion/encoding.h"

namespace onionswarm::swarm {
namespace {

const std::string kKeyHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(AccountId, ParsesUserIdWhenPrefixIs05) {
  auto a = AccountId::parse("05" + kKeyHex);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE(a->is_user());
  EXPECT_FALSE(a->is_group());
  EXPECT_EQ(a->prefix, kUserPrefix);
  EXPECT_EQ(to_hex({a->key.data(), a->key.size()}), kKeyHex);
  EXPECT_EQ(to_hex(a->x25519().view()), kKeyHex);
}

TEST(AccountId, ParsesGroupIdWhenPrefixIs03) {
  auto a = AccountId::parse("03" + kKeyHex);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE(a->is_group());
  EXPECT_FALSE(a->is_user());
  EXPECT_EQ(a->prefix, kGroupPrefix);
}

TEST(AccountId, RefusesWrongLength) {
  for (const std::string& s : {std::string(), "05" + kKeyHex.substr(2), "05" + kKeyHex + "00",
                               "05" + kKeyHex.substr(1), std::string("05")}) {
    auto a = AccountId::parse(s);
    ASSERT_FALSE(a.ok()) << s;
    EXPECT_EQ(a.status().code(), Code::kInvalidArgument);
  }
}

TEST(AccountId, RefusesNonHex) {
  std::string s = "05" + kKeyHex;
  s[40] = 'g';
  auto a = AccountId::parse(s);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), Code::kInvalidArgument);
  s[40] = ' ';
  EXPECT_FALSE(AccountId::parse(s).ok());
}

TEST(AccountId, RefusesUnknownPrefix) {
  for (const char* prefix : {"00", "04", "06", "15", "ff"}) {
    auto a = AccountId::parse(prefix + kKeyHex);
    ASSERT_FALSE(a.ok()) << prefix;
    EXPECT_EQ(a.status().code(), Code::kInvalidArgument);
    EXPECT_NE(a.status().message().find("05 or 03"), std::string::npos);
  }
}

TEST(AccountId, ToStringRoundTripsThroughParse) {
  crypto::init();
  for (int i = 0; i < 20; ++i) {
    auto ed = crypto::Ed25519KeyPair::generate();
    for (AccountId a : {AccountId::user(ed.to_x25519().public_key()), AccountId::group(ed.public_key())}) {
      const std::string s = a.to_string();
      EXPECT_EQ(s.size(), kAccountIdHexSize);
      EXPECT_EQ(s.substr(0, 2), a.is_user() ? "05" : "03");
      auto back = AccountId::parse(s);
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, a);
      EXPECT_EQ(back->to_string(), s);
    }
  }
}

TEST(AccountId, ToStringIsLowerCase) {
  auto a = AccountId::parse("05ABCDEF" + kKeyHex.substr(6));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->to_string(), "05abcdef" + kKeyHex.substr(6));
}

TEST(AccountId, FromRawAcceptsPrefixAndKey) {
  auto want = AccountId::parse("03" + kKeyHex);
  ASSERT_TRUE(want.ok());
  auto raw = want->raw();
  EXPECT_EQ(raw[0], 0x03);
  auto a = AccountId::from_raw({raw.data(), raw.size()});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, *want);
}

TEST(AccountId, FromRawRefusesWrongSizeOrPrefix) {
  Bytes raw(kAccountIdRawSize, 0x11);
  raw[0] = 0x05;
  EXPECT_TRUE(AccountId::from_raw(raw).ok());
  raw[0] = 0x07;
  EXPECT_EQ(AccountId::from_raw(raw).status().code(), Code::kInvalidArgument);
  raw[0] = 0x05;
  raw.pop_back();
  EXPECT_EQ(AccountId::from_raw(raw).status().code(), Code::kInvalidArgument);
  raw.push_back(1);
  raw.push_back(2);
  EXPECT_EQ(AccountId::from_raw(raw).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AccountId::from_raw({}).status().code(), Code::kInvalidArgument);
}

TEST(AccountId, UserAndGroupOfSameKeyDiffer) {
  crypto::Ed25519PublicKey ed;
  ed.bytes.fill(7);
  crypto::X25519PublicKey x;
  x.bytes.fill(7);
  AccountId u = AccountId::user(x), g = AccountId::group(ed);
  EXPECT_NE(u, g);
  EXPECT_EQ(u.key, g.key);
  EXPECT_NE(ring_position(u), ring_position(g));
}

TEST(RingPosition, IsFirstEightBytesOfHashBigEndian) {
  crypto::init();
  auto a = AccountId::parse("05" + kKeyHex);
  ASSERT_TRUE(a.ok());
  auto raw = a->raw();
  auto h = crypto::hash({raw.data(), raw.size()});
  uint64_t want = 0;
  for (int i = 0; i < 8; ++i) want = (want << 8) | h.bytes[size_t(i)];
  EXPECT_EQ(ring_position(*a), want);
}

}  // namespace
}  // namespace onionswarm::swarm
