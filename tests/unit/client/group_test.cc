#include "client/group.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "onion/encoding.h"
#include "test_support.h"

namespace onionswarm::client::group {
namespace {

crypto::Ed25519KeyPair key(uint8_t tag) {
  crypto::init();
  return std::move(crypto::Ed25519KeyPair::from_seed(Bytes(32, tag))).value();
}
crypto::SecretBytes secret(uint8_t tag) { return crypto::SecretBytes(Bytes(32, tag)); }
swarm::AccountId user(const crypto::Ed25519KeyPair& k) { return swarm::AccountId::user(k.to_x25519().public_key()); }

GroupState state_of(std::vector<swarm::AccountId> members, std::vector<swarm::AccountId> admins) {
  std::sort(members.begin(), members.end());
  std::sort(admins.begin(), admins.end());
  GroupState s;
  s.name = "team";
  s.members = std::move(members);
  s.admins = std::move(admins);
  s.auth_seed = secret(0x44);
  return s;
}

TEST(GroupKeys, EachRecipientUnwrapsAndOthersDoNot) {
  auto g = key(1);
  auto a = key(2), b = key(3), outsider = key(4);
  const auto k = secret(0x55);
  Bytes block = wrap_keys(k, 7, g.public_key(), {a.to_x25519().public_key(), b.to_x25519().public_key()});
  EXPECT_EQ(block.size(), 34 + 2 * kSlotSize);
  for (const auto* m : {&a, &b}) {
    auto got = unwrap_keys(block, 7, g.public_key(), m->to_x25519());
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(crypto::equal_ct(got->view(), k.view()));
  }
  EXPECT_EQ(unwrap_keys(block, 7, g.public_key(), outsider.to_x25519()).status().code(), Code::kNotFound);
  EXPECT_EQ(unwrap_keys(block, 8, g.public_key(), a.to_x25519()).status().code(), Code::kNotFound);  // bound to the generation
  Bytes truncated(block.begin(), block.end() - 1);
  EXPECT_EQ(unwrap_keys(truncated, 7, g.public_key(), a.to_x25519()).status().code(), Code::kInvalidArgument);
}

TEST(GroupState, EntryStateOpensOnlyWithTheKeyAndValidates) {
  auto g = key(1);
  auto a = key(2), b = key(3);
  auto st = state_of({user(a), user(b)}, {user(a)});
  auto e = make_entry(g.public_key(), 0, {}, 0, st, secret(0x55), {});
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  swarm::group::sign_control(g, *e);
  auto opened = open_state(g.public_key(), *e, secret(0x55));
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  EXPECT_EQ(opened->name, "team");
  EXPECT_EQ(opened->members, st.members);
  EXPECT_TRUE(opened->is_admin(user(a)));
  EXPECT_FALSE(opened->is_admin(user(b)));
  EXPECT_EQ(open_state(g.public_key(), *e, secret(0x56)).status().code(), Code::kUnauthorized);
  auto moved = *e;
  moved.seq = 1;  // the state is bound to its entry's header
  EXPECT_EQ(open_state(g.public_key(), moved, secret(0x55)).status().code(), Code::kUnauthorized);
}

TEST(GroupState, MoreThanAHundredMembersIsRefused) {
  std::vector<swarm::AccountId> members;
  for (int i = 0; i < 101; ++i) members.push_back(user(key(uint8_t(10 + i))));
  auto st = state_of(members, {members[0]});
  auto v = validate(st);
  EXPECT_EQ(v.code(), Code::kInvalidArgument);
  EXPECT_NE(v.message().find("at most 100"), std::string::npos);
  EXPECT_FALSE(make_entry(key(1).public_key(), 0, {}, 0, st, secret(1), {}).ok());
  members.pop_back();
  EXPECT_TRUE(validate(state_of(members, {members[0]})).ok());
  EXPECT_FALSE(validate(state_of(members, {user(key(250))})).ok());  // admin not a member
}

TEST(GroupMessage, SealOpenAndTamper) {
  auto g = key(1);
  auto sender = key(2);
  auto blob = seal_group_message(g.public_key(), 3, secret(0x55), sender, Kind::kText, 1234, "hi all");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*message_generation(*blob), 3u);
  auto m = open_group_message(g.public_key(), secret(0x55), *blob);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->text, "hi all");
  EXPECT_EQ(m->sender, user(sender));
  EXPECT_EQ(m->timestamp_ms, 1234u);
  EXPECT_EQ(open_group_message(g.public_key(), secret(0x56), *blob).status().code(), Code::kUnauthorized);
  EXPECT_EQ(open_group_message(key(9).public_key(), secret(0x55), *blob).status().code(), Code::kUnauthorized);
  Bytes t = *blob;
  t[1 + 7] ^= 1;  // another generation
  EXPECT_FALSE(open_group_message(g.public_key(), secret(0x55), t).ok());
  EXPECT_EQ(open_group_message(g.public_key(), secret(0x55), Bytes{1, 2}).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(seal_group_message(g.public_key(), 0, secret(1), sender, Kind::kText, 0, std::string(20000, 'x')).ok());
}

TEST(GroupControlText, InviteAndGrantRoundTripAndBadOnesAreRefused) {
  auto g = key(1);
  Invite i;
  i.group = swarm::AccountId::group(g.public_key());
  i.name = "n";
  i.generation = 2;
  i.key = secret(5);
  i.auth_seed = secret(6);
  auto text = encode_invite(i);
  EXPECT_TRUE(is_control_text(text));
  auto p = parse_control_text(text);
  ASSERT_TRUE(p.ok());
  auto& back = std::get<Invite>(*p);
  EXPECT_EQ(back.group, i.group);
  EXPECT_EQ(back.generation, 2u);
  AdminGrant grant;
  grant.group = i.group;
  grant.group_seed = crypto::SecretBytes(g.seed());
  ASSERT_TRUE(parse_control_text(encode_admin_grant(grant)).ok());
  grant.group_seed = secret(7);  // not the group's key
  EXPECT_FALSE(parse_control_text(encode_admin_grant(grant)).ok());
  EXPECT_FALSE(parse_control_text(std::string(kControlPrefix) + "invite\n{").ok());
  EXPECT_FALSE(parse_control_text("hello").ok());
}

// Golden vectors (tests/vectors/group.json): fixed keys and nonces.
nlohmann::json compute_vectors() {
  auto g = key(1);
  auto a = key(2), b = key(3);
  auto eph = std::move(crypto::X25519KeyPair::from_secret(Bytes(32, 0x66))).value();
  auto st = state_of({user(a), user(b)}, {user(a)});
  Bytes keys = wrap_keys(secret(0x55), 1, g.public_key(), {a.to_x25519().public_key(), b.to_x25519().public_key()},
                         std::optional<crypto::X25519KeyPair>(std::move(eph)));
  auto e = make_entry(g.public_key(), 1, crypto::hash(Bytes{0}), 1, st, secret(0x55), keys, Bytes(24, 0x77));
  Bytes control = swarm::group::sign_control(g, *e);
  auto msg = seal_group_message(g.public_key(), 1, secret(0x55), a, Kind::kText, 1700000000000, "hello group",
                                Bytes(24, 0x88));
  return {{"group_seed", to_hex(Bytes(32, 1))},
          {"member_seeds", {to_hex(Bytes(32, 2)), to_hex(Bytes(32, 3))}},
          {"generation_key", to_hex(Bytes(32, 0x55))},
          {"auth_seed", to_hex(Bytes(32, 0x44))},
          {"keys_eph_secret", to_hex(Bytes(32, 0x66))},
          {"state_nonce", to_hex(Bytes(24, 0x77))},
          {"control_entry", to_hex(control)},
          {"control_hash", to_hex(e->hash.view())},
          {"message_nonce", to_hex(Bytes(24, 0x88))},
          {"message", to_hex(*msg)}};
}

TEST(GroupVectors, MatchTheGoldenFile) {
  const std::string path = std::string(ONIONSWARM_VECTORS_DIR) + "/group.json";
  const auto computed = compute_vectors();
  if (std::getenv("ONIONSWARM_WRITE_VECTORS")) {
    std::ofstream(path) << computed.dump(2) << "\n";
  }
  auto golden = nlohmann::json::parse(test::read_file(path));
  EXPECT_EQ(golden, computed);
  // The golden entry parses and opens.
  auto g = key(1);
  auto blob = from_hex(golden["control_entry"].get<std::string>());
  ASSERT_TRUE(blob.ok());
  auto e = swarm::group::parse_control(*blob, g.public_key());
  ASSERT_TRUE(e.ok());
  auto body = split_body(e->body);
  ASSERT_TRUE(body.ok());
  auto k = unwrap_keys(body->keys, 1, g.public_key(), key(3).to_x25519());
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(open_state(g.public_key(), *e, *k).ok());
}

}  // namespace
}  // namespace onionswarm::client::group
