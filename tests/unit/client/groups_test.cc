// Groups (client/groups.h) without a network: the checks that must refuse
// before anything is sent (more than 100 members, bad names and IDs,
// non-admins), the local state it keeps (records, invitations, admin
// grants) and how it refuses corrupt state. Real LMDB in a temp home, real
// libsodium; the directory names loopback ports where nothing listens, with
// a short timeout, so anything that did reach for the network would fail
// with a network error (kTimeout/kUnavailable), never with the codes
// asserted here. One test gives the client a FakeNetwork instead, whose
// nodes answer a read of the control log with junk.
#include "client/groups.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "client/identity.h"
#include "fake_network.h"
#include "onion/encoding.h"
#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm::client {
namespace {

using nlohmann::json;

crypto::SecretBytes secret(uint8_t fill) {
  const Bytes b(crypto::kKeySize, fill);
  return crypto::SecretBytes(ByteView(b));
}

// A distinct 05 account per i (random keys; only distinctness matters).
swarm::AccountId user(uint32_t i) {
  crypto::init();
  static std::map<uint32_t, swarm::AccountId> made;
  auto it = made.find(i);
  if (it == made.end()) it = made.emplace(i, swarm::AccountId::user(crypto::X25519KeyPair::generate().public_key())).first;
  return it->second;
}

class GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    ASSERT_TRUE(ensure_home(home_.path()).ok());
    auto id = Identity::create(home_.path());
    ASSERT_TRUE(id.ok());
    me_ = id->account_id();
    ClientOptions o;
    o.home = home_.path();
    for (uint8_t i = 0; i < 6; ++i) {
      swarm::NodeDescriptor n;
      n.ed25519.bytes.fill(uint8_t(i + 1));
      n.x25519 = crypto::X25519KeyPair::generate().public_key();
      n.address = "tcp://127.0.0.1:" + std::to_string(1 + i);  // nothing listens
      o.nodes.push_back(n);
    }
    o.network_id = "groups-unit";
    o.swarm_size = 3;
    o.timeout_ms = 300;
    auto c = Client::open(std::move(o));
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    client_ = std::move(*c);
    groups_ = std::make_unique<Groups>(*client_);
    group_ = swarm::AccountId::group(group_key_.public_key());
  }

  // A joined group's local record, in the format Groups saves
  // (client/groups.h, "Local state").
  json record(bool admin) const {
    json j = {{"name", "family"},
              {"members", json::array({me_.to_string(), other_.to_string()})},
              {"admins", json::array({admin ? me_.to_string() : other_.to_string()})},
              {"generation", 1},
              {"has_head", true},
              {"head_seq", 3},
              {"head_hash", std::string(64, 'a')},
              {"removed", false},
              {"keys", {{"0", to_hex(secret(1).view())}, {"1", to_hex(secret(2).view())}}},
              {"auth", {{"0", to_hex(secret(3).view())}, {"1", to_hex(secret(4).view())}}},
              {"members_by_gen", {{"1", json::array({me_.to_string(), other_.to_string()})}}},
              {"joined", json::array({me_.to_string()})}};
    if (admin) j["group_seed"] = to_hex(group_key_.seed());
    return j;
  }
  void write_record(const json& j) {
    ASSERT_TRUE(client_->store().set_setting("group/" + group_.to_string(), j.dump()).ok());
    ASSERT_TRUE(client_->store().set_setting("groups", json::array({group_.to_string()}).dump()).ok());
  }
  InboxEntry control(const std::string& text, const std::string& from) const {
    InboxEntry e;
    e.text = text;
    e.from = from;
    e.verified = true;
    return e;
  }
  group::Invite invite() const {
    group::Invite inv;
    inv.group = group_;
    inv.name = "family";
    inv.generation = 1;
    inv.key = secret(2);
    inv.auth_seed = secret(4);
    return inv;
  }

  test::TempDir home_;
  swarm::AccountId me_;
  swarm::AccountId other_ = user(1);
  std::unique_ptr<Client> client_;
  std::unique_ptr<Groups> groups_;
  crypto::Ed25519KeyPair group_key_ = crypto::Ed25519KeyPair::generate();
  swarm::AccountId group_;
};

TEST_F(GroupsTest, CreateWithMoreThanHundredMembersIsRefusedBeforeSending) {
  std::vector<swarm::AccountId> invitees;
  for (uint32_t i = 0; i < 100; ++i) invitees.push_back(user(i));  // with the creator: 101
  auto r = groups_->create("too many", invitees);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().to_string();
  EXPECT_NE(r.status().message().find("at most 100"), std::string::npos) << r.status().message();
  auto list = groups_->list();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(GroupsTest, CreateCountsTheCreatorAndDuplicatesOnce) {
  // 99 others, one of them twice, plus the creator named again: exactly 100,
  // which passes the check and then needs the network (none here).
  std::vector<swarm::AccountId> invitees;
  for (uint32_t i = 0; i < 99; ++i) invitees.push_back(user(i));
  invitees.push_back(user(5));
  invitees.push_back(me_);
  auto r = groups_->create("exactly a hundred", invitees);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().code(), Code::kInvalidArgument) << r.status().to_string();
}

TEST_F(GroupsTest, CreateWithBadNameOrNonUserInviteeIsRefused) {
  for (const std::string& name : {std::string(), std::string(group::kMaxNameBytes + 1, 'n')}) {
    auto r = groups_->create(name, {other_});
    ASSERT_FALSE(r.ok()) << name.size();
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().to_string();
  }
  auto r = groups_->create("ok name", {group_});  // a 03 group cannot be invited
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("only 05 accounts"), std::string::npos);
}

TEST_F(GroupsTest, NonAdminChangesAreRefusedBeforeSending) {
  write_record(record(/*admin=*/false));
  const std::vector<Status> refused = {groups_->add(group_, {user(7)}), groups_->remove(group_, {other_}),
                                       groups_->rename(group_, "mine"), groups_->promote(group_, me_)};
  for (const auto& s : refused) {
    EXPECT_EQ(s.code(), Code::kUnauthorized) << s.to_string();
    EXPECT_NE(s.message().find("only admins"), std::string::npos) << s.message();
  }
  auto info = groups_->info(group_, /*sync=*/false);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->role(), "member");
  EXPECT_EQ(info->name, "family");  // nothing changed
  EXPECT_EQ(info->members.size(), 2u);
}

TEST_F(GroupsTest, UnknownGroupIsNotFound) {
  EXPECT_EQ(groups_->add(group_, {other_}).code(), Code::kNotFound);
  EXPECT_EQ(groups_->rename(group_, "x").code(), Code::kNotFound);
  EXPECT_EQ(groups_->send(group_, "hello").status().code(), Code::kNotFound);
  EXPECT_EQ(groups_->info(group_, false).status().code(), Code::kNotFound);
  EXPECT_EQ(groups_->leave(group_).code(), Code::kNotFound);
  EXPECT_EQ(groups_->accept(group_).code(), Code::kNotFound);
  EXPECT_EQ(groups_->decline(group_).code(), Code::kNotFound);
  EXPECT_EQ(groups_->credential(group_).status().code(), Code::kNotFound);
  EXPECT_FALSE(groups_->name_of(group_.to_string()));
  EXPECT_FALSE(groups_->name_of("not an id"));
}

TEST_F(GroupsTest, RecordRoundTripsThroughInfoListAndKeys) {
  write_record(record(/*admin=*/true));
  auto info = groups_->info(group_, false);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->role(), "admin");
  EXPECT_EQ(info->generation, 1u);
  EXPECT_EQ(info->head_seq, 3u);
  EXPECT_TRUE(info->joined.count(me_));
  auto list = groups_->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, group_);
  EXPECT_EQ(groups_->name_of(group_.to_string()), "family");
  auto keys = groups_->held_keys(group_);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ(to_hex((*keys)[1].view()), to_hex(secret(2).view()));
  // The credential is the newest generation's.
  auto cred = groups_->credential(group_);
  ASSERT_TRUE(cred.ok());
  EXPECT_EQ(cred->public_key(), group::member_auth_key(secret(4))->public_key());
}

TEST_F(GroupsTest, CorruptLocalStateIsRefused) {
  const std::vector<std::pair<std::string, std::function<void(json&)>>> corruptions = {
      {"member not an account", [](json& j) { j["members"][0] = "05zz"; }},
      {"members not an array", [](json& j) { j["members"] = "05"; }},
      {"key too short", [](json& j) { j["keys"]["1"] = "abcd"; }},
      {"key not hex", [](json& j) { j["auth"]["0"] = std::string(64, 'g'); }},
      {"missing generation", [](json& j) { j.erase("generation"); }},
      {"generation a string", [](json& j) { j["generation"] = "1"; }},
      {"bad head hash", [](json& j) { j["head_hash"] = "00"; }},
      {"bad group seed", [](json& j) { j["group_seed"] = 7; }},
      {"generation key not a number", [](json& j) { j["keys"]["x"] = to_hex(secret(9).view()); }},
  };
  for (const auto& [what, corrupt] : corruptions) {
    json j = record(true);
    corrupt(j);
    write_record(j);
    auto info = groups_->info(group_, false);
    ASSERT_FALSE(info.ok()) << what;
    EXPECT_EQ(info.status().code(), Code::kIo) << what << ": " << info.status().to_string();
    // Changes and sends refuse it before sending too.
    EXPECT_EQ(groups_->rename(group_, "x").code(), Code::kIo) << what;
    EXPECT_EQ(groups_->send(group_, "x").status().code(), Code::kIo) << what;
    auto list = groups_->list();  // the listing skips what it cannot read
    ASSERT_TRUE(list.ok()) << what;
    EXPECT_TRUE(list->empty()) << what;
  }
  ASSERT_TRUE(client_->store().set_setting("group/" + group_.to_string(), "{not json").ok());
  EXPECT_EQ(groups_->info(group_, false).status().code(), Code::kIo);
  ASSERT_TRUE(client_->store().set_setting("group/" + group_.to_string(), "[1,2]").ok());
  EXPECT_EQ(groups_->info(group_, false).status().code(), Code::kIo);
}

TEST_F(GroupsTest, InvitationsAreRecordedListedAndDeclined) {
  const std::string from = other_.to_string();
  ASSERT_TRUE(groups_->handle_control({control(group::encode_invite(invite()), from)}).ok());
  // The same invitation again is listed once.
  ASSERT_TRUE(groups_->handle_control({control(group::encode_invite(invite()), from)}).ok());
  auto inv = groups_->invites();
  ASSERT_TRUE(inv.ok());
  ASSERT_EQ(inv->size(), 1u);
  EXPECT_EQ((*inv)[0].group, group_);
  EXPECT_EQ((*inv)[0].name, "family");
  EXPECT_EQ((*inv)[0].from, from);
  // Not a member before accepting.
  EXPECT_EQ(groups_->send(group_, "too early").status().code(), Code::kNotFound);
  // No swarm answers here: the group cannot be told, the invitation is
  // dropped all the same.
  Status notice;
  ASSERT_TRUE(groups_->decline(group_, &notice).ok());
  EXPECT_FALSE(notice.ok());
  inv = groups_->invites();
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->empty());
  EXPECT_EQ(groups_->decline(group_).code(), Code::kNotFound);
}

TEST_F(GroupsTest, MalformedControlMessagesAreDroppedAndChangeNothing) {
  std::string good = group::encode_invite(invite());
  const std::vector<std::string> bad = {
      std::string(group::kControlPrefix) + "invite\n{",                          // truncated JSON
      std::string(group::kControlPrefix) + "invite\n{\"group\":\"05\"}",         // fields missing
      std::string(group::kControlPrefix) + "unknown\n{}",                        // unknown kind
      good.substr(0, good.size() - 5),                                           // cut short
      std::string(group::kControlPrefix) + "admin\n{\"group\":\"" + group_.to_string() +
          "\",\"group_seed\":\"" + std::string(64, '0') + "\"}",                 // seed of another key
  };
  std::vector<InboxEntry> entries;
  for (const auto& t : bad) entries.push_back(control(t, other_.to_string()));
  ASSERT_TRUE(groups_->handle_control(entries).ok());
  auto inv = groups_->invites();
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->empty());
  auto list = groups_->list();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(GroupsTest, AdminGrantMakesAJoinedMemberAnAdminAndIsIgnoredOtherwise) {
  group::AdminGrant grant;
  grant.group = group_;
  grant.group_seed = crypto::SecretBytes(group_key_.seed());
  // Not joined: nothing recorded.
  ASSERT_TRUE(groups_->handle_control({control(group::encode_admin_grant(grant), other_.to_string())}).ok());
  EXPECT_EQ(groups_->info(group_, false).status().code(), Code::kNotFound);
  write_record(record(/*admin=*/false));
  ASSERT_TRUE(groups_->handle_control({control(group::encode_admin_grant(grant), other_.to_string())}).ok());
  auto info = groups_->info(group_, false);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->role(), "admin");
  EXPECT_TRUE(info->holds_group_key);
  // An invitation to a group already joined is not listed.
  ASSERT_TRUE(groups_->handle_control({control(group::encode_invite(invite()), other_.to_string())}).ok());
  auto inv = groups_->invites();
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->empty());
}

// A node may answer a read of the control log with page after page of
// items that do not parse, each page saying there is more. The client stops
// after kMaxControlEntries items (it counted only entries that parsed, and
// read on for as long as the node answered); so it does when that read is
// a window from the head it knew (a send's). Nodes of a FakeNetwork
// (tests/support/fake_network.h): the client's real path and transport.
TEST_F(GroupsTest, AReadOfTheLogStopsAtItsBoundWhateverANodeAnswers) {
  std::atomic<uint64_t> pages{0};
  test::FakeNetwork junk(6, [&](const json&, const swarm::NodeDescriptor&) -> Bytes {
    const uint64_t page = ++pages;
    const uint64_t now =
        uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                     .count());
    swarm::rpc::RetrieveAnswer a;
    for (uint32_t i = 0; i < swarm::rpc::kMaxRetrieveLimit; ++i) {
      swarm::rpc::StoredItem item;
      item.data = Bytes{uint8_t(page), uint8_t(i), uint8_t(i >> 8)};  // not a control entry
      item.hash = crypto::hash(item.data);
      item.timestamp_ms = page * 1000 + i;
      item.expiry_ms = now + 60'000;
      a.messages.push_back(std::move(item));
    }
    a.more = true;
    a.now_ms = now;
    return swarm::rpc::retrieve_response_binary(a);
  });
  groups_.reset();
  client_.reset();
  ClientOptions o;
  o.home = home_.path();
  o.nodes = junk.nodes();
  o.network_id = "groups-unit";
  o.swarm_size = 3;
  auto c = Client::open(std::move(o));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  client_ = std::move(*c);
  write_record(record(/*admin=*/false));
  Groups groups(*client_);
  auto info = groups.info(group_, /*sync=*/true);
  // Nothing parsed: no log, at the random member and then at the sequencer.
  EXPECT_EQ(info.status().code(), Code::kNotFound) << info.status().to_string();
  const uint64_t per_read = swarm::group::kMaxControlEntries / swarm::rpc::kMaxRetrieveLimit;
  EXPECT_EQ(pages.load(), 2 * per_read) << "pages answered for two reads of the log";
  // A send, with the head's stamp known: the window at the sequencer, then
  // the whole log there; both bounded the same way.
  json known = record(/*admin=*/false);
  known["head_stored_ms"] = uint64_t(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  write_record(known);
  pages = 0;
  auto sent = groups.send(group_, "hello");
  EXPECT_EQ(sent.status().code(), Code::kNotFound) << sent.status().to_string();
  EXPECT_EQ(pages.load(), 2 * per_read) << "pages answered for the window and the whole log";
}

}  // namespace
}  // namespace onionswarm::client
