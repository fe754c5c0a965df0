// Closed groups against a devnet of real node processes: create/accept/
// exchange through the CLI, removal (the removed member can neither decrypt
// new messages nor use the swarm), non-members and non-admins refused,
// concurrent admins converge, the storing node never sees the poster, a
// 100-member group, offline catch-up, and a group's polls: spread over its
// swarm, reading only the log's new part (sends too), and reading the whole
// log at the sequencer when that part missed an entry (a send: when its
// credential is refused), or when the last whole read is an hour old.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "client/client.h"
#include "client/group.h"
#include "client/groups.h"
#include "client/identity.h"
#include "onion/encoding.h"
#include "swarm/group.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace fs = std::filesystem;
using test::cli;
using test::TempDir;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A namespace-0 retrieve of group gid signed with cred, asked of swarm
// member m directly (a one-hop onion): m's answer.
Result<nlohmann::json> retrieve_signed_with(test::RawClient& raw, const swarm::NodeDescriptor& m,
                                            const swarm::AccountId& gid, const crypto::Ed25519KeyPair& cred) {
  swarm::rpc::RetrieveRequest rt;
  rt.account = gid;
  rt.ns = swarm::group::kMessagesNamespace;
  rt.timestamp_ms = test::now_ms();
  swarm::rpc::Request retrieve = rt;
  swarm::rpc::sign_request(retrieve, cred);
  return raw.request({m}, retrieve);
}

class Group : public test::DevnetSuite<Group, 8, 4> {
 protected:
  std::string init(const std::string& home) {
    auto r = cli(home, {"init", "--network", net_->network_file()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return trim(cli(home, {"id"}).out);
  }

  // A client on home through the library (no CLI process).
  std::unique_ptr<client::Client> open(const std::string& home) { return test::open_client(net_->network_file(), home); }

  // A fresh identity in home, made by the library; returns its ID.
  std::string make_home(const std::string& home) {
    EXPECT_TRUE(client::ensure_home(home).ok());
    auto id = client::Identity::create(home);
    EXPECT_TRUE(id.ok());
    return id->account_id().to_string();
  }

  // Groups::fetch_direct + accept through the library.
  static void accept(client::Groups& g, const swarm::AccountId& gid) {
    ASSERT_TRUE(g.fetch_direct().ok());
    Status accepted = g.accept(gid);
    ASSERT_TRUE(accepted.ok()) << accepted.to_string();
  }

  // A client on home whose clock runs 50 s ahead (the nodes take stamps up
  // to 60 s off): the control entries it stores are stamped late.
  std::unique_ptr<client::Client> open_clock_ahead(const std::string& home) {
    test::ClientHooks hooks;
    hooks.clock_skew_ms = 50'000;
    return test::open_client(net_->network_file(), home, hooks);
  }

  // A group that home a created from a clock 50 s ahead, inviting b and c,
  // and b's client, which accepted and polled with a look-back of 0: b
  // knows the head, stamped 50 s late, and its window starts there.
  struct LateHead {
    std::string ha, hb, hc;
    swarm::AccountId b, c, gid;
    std::unique_ptr<client::Client> cb;
    std::unique_ptr<client::Groups> gb;
  };
  void make_late_head(const std::string& prefix, LateHead* out) {
    out->ha = homes_ / (prefix + "-a");
    out->hb = homes_ / (prefix + "-b");
    out->hc = homes_ / (prefix + "-c");
    make_home(out->ha);
    out->b = *swarm::AccountId::parse(make_home(out->hb));
    out->c = *swarm::AccountId::parse(make_home(out->hc));
    {
      auto ahead = open_clock_ahead(out->ha);
      ASSERT_TRUE(ahead);
      auto created = client::Groups(*ahead).create(prefix, {out->b, out->c});
      ASSERT_TRUE(created.ok()) << created.status().to_string();
      out->gid = *created;
    }
    out->cb = open(out->hb);
    ASSERT_TRUE(out->cb);
    out->gb = std::make_unique<client::Groups>(*out->cb, /*log_lookback_ms=*/0);
    accept(*out->gb, out->gid);
    ASSERT_TRUE(out->gb->fetch().ok());
  }

  // group invites + accept through the CLI.
  void accept(const std::string& home, const std::string& gid) {
    auto inv = cli(home, {"group", "invites"});
    ASSERT_EQ(inv.exit_code, 0) << inv.err;
    ASSERT_NE(inv.out.find(gid), std::string::npos) << inv.out;
    auto a = cli(home, {"group", "accept", gid});
    ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  }

  std::vector<nlohmann::json> inbox(const std::string& home) {
    auto r = cli(home, {"inbox", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<nlohmann::json> out;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  nlohmann::json info(const std::string& home, const std::string& gid) {
    auto r = cli(home, {"group", "info", gid, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(trim(r.out)) : nlohmann::json();
  }

  // Groups::remove of home's own account through the library (the CLI
  // points to `group leave` instead).
  Status remove_self(const std::string& home, const std::string& gid) {
    auto c = open(home);
    if (!c) return error(Code::kInternal, "cannot open " + home);
    client::Groups groups(*c);
    return groups.remove(*swarm::AccountId::parse(gid), {c->identity().account_id()});
  }

  // The state every member must agree on.
  static nlohmann::json agreed(nlohmann::json j) {
    j.erase("role");
    for (auto& m : j["members"]) m.erase("joined");
    return j;
  }

  TempDir homes_;
};

std::set<std::string> texts_in(const std::vector<nlohmann::json>& lines, const std::string& gid) {
  std::set<std::string> out;
  for (const auto& l : lines)
    if (l.contains("group") && l["group"]["id"] == gid) out.insert(l["text"].get<std::string>());
  return out;
}

TEST_F(Group, ThreeAccountsCreateAcceptAndAllSeeAll) {
  const std::string a = homes_ / "a", b = homes_ / "b", c = homes_ / "c";
  const std::string ida = init(a), idb = init(b), idc = init(c);
  auto created = cli(a, {"group", "create", "friends", idb, idc});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string gid = trim(created.out);
  ASSERT_EQ(gid.substr(0, 2), "03");
  ASSERT_EQ(gid.size(), 66u);
  // Not a member before accepting: sending is refused.
  auto early = cli(b, {"group", "send", gid, "too early"});
  EXPECT_NE(early.exit_code, 0);
  accept(b, gid);
  accept(c, gid);
  ASSERT_EQ(cli(a, {"group", "send", gid, "from a"}).exit_code, 0);
  ASSERT_EQ(cli(b, {"group", "send", gid, "from b"}).exit_code, 0);
  ASSERT_EQ(cli(c, {"group", "send", gid, "from c"}).exit_code, 0);
  const std::set<std::string> all = {"from a", "from b", "from c"};
  for (const auto& h : {a, b, c}) {
    auto lines = inbox(h);
    EXPECT_EQ(texts_in(lines, gid), all) << h;
    for (const auto& l : lines) {
      if (!l.contains("group")) continue;
      EXPECT_EQ(l["group"]["name"], "friends");
      if (l["text"] == "from b") {
        EXPECT_EQ(l["from"], idb);
      }
    }
  }
  auto i = info(c, gid);
  EXPECT_EQ(i["name"], "friends");
  EXPECT_EQ(i["role"], "member");
  EXPECT_EQ(i["members"].size(), 3u);
  EXPECT_EQ(i["admins"], nlohmann::json::array({ida}));
  auto text = cli(a, {"inbox"});
  EXPECT_EQ(text.exit_code, 0);
}

TEST_F(Group, RemovedMemberCannotDecryptNorUseTheSwarm) {
  const std::string a = homes_ / "ra", b = homes_ / "rb", c = homes_ / "rc";
  init(a);
  const std::string idb = init(b), idc = init(c);
  const std::string gid = trim(cli(a, {"group", "create", "team", idb, idc}).out);
  accept(b, gid);
  accept(c, gid);
  ASSERT_EQ(cli(a, {"group", "send", gid, "before removal"}).exit_code, 0);
  EXPECT_EQ(texts_in(inbox(c), gid), std::set<std::string>{"before removal"});
  auto removed = cli(a, {"group", "remove", gid, idc});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  ASSERT_EQ(cli(a, {"group", "send", gid, "after removal"}).exit_code, 0);
  EXPECT_EQ(texts_in(inbox(b), gid), (std::set<std::string>{"before removal", "after removal"}));

  auto group = swarm::AccountId::parse(gid);
  ASSERT_TRUE(group.ok());
  crypto::Ed25519PublicKey gpk;
  gpk.bytes = group->key;
  // The new message, read with a remaining member's credential.
  std::vector<Bytes> blobs;
  {
    auto cb = open(b);
    ASSERT_TRUE(cb);
    client::Groups gb(*cb);
    auto cred = gb.credential(*group);
    ASSERT_TRUE(cred.ok());
    swarm::rpc::RetrieveRequest r;
    r.account = *group;
    r.ns = swarm::group::kMessagesNamespace;
    auto j = cb->request(*group, r, *cred);
    ASSERT_TRUE(j.ok()) << j.status().to_string();
    auto ans = swarm::rpc::parse_retrieve_answer(*j);
    ASSERT_TRUE(ans.ok());
    for (auto& m : ans->messages) blobs.push_back(m.data);
  }
  // Everything the removed member's client holds: no key opens the new message.
  auto cc = open(c);
  ASSERT_TRUE(cc);
  client::Groups gc(*cc);
  auto fetched = gc.fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().to_string();
  EXPECT_TRUE(fetched->empty());
  auto held = gc.held_keys(*group);
  ASSERT_TRUE(held.ok());
  ASSERT_FALSE(held->empty());
  size_t opened_after = 0, opened_before = 0;
  for (const auto& blob : blobs)
    for (const auto& k : *held) {
      auto m = client::group::open_group_message(gpk, k, blob);
      if (m.ok() && m->text == "after removal") ++opened_after;
      if (m.ok() && m->text == "before removal") ++opened_before;
    }
  EXPECT_EQ(opened_after, 0u);
  EXPECT_EQ(opened_before, 1u);  // the check itself can open what it should
  auto info_c = gc.info(*group);
  ASSERT_TRUE(info_c.ok());
  EXPECT_TRUE(info_c->removed);
  // The swarm refuses the removed member's credential for retrieve and store.
  auto old = gc.credential(*group);
  ASSERT_TRUE(old.ok());
  swarm::rpc::RetrieveRequest r;
  r.account = *group;
  r.ns = swarm::group::kMessagesNamespace;
  auto refused = cc->request(*group, r, *old);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnauthorized) << refused.status().to_string();
  swarm::rpc::StoreRequest st;
  st.account = *group;
  st.ns = swarm::group::kMessagesNamespace;
  st.data = crypto::random_bytes(200);
  auto refused_store = cc->request(*group, st, *old);
  ASSERT_FALSE(refused_store.ok());
  EXPECT_EQ(refused_store.status().code(), Code::kUnauthorized);
  auto send = cli(c, {"group", "send", gid, "still here?"});
  EXPECT_NE(send.exit_code, 0);

  // The control log stays readable with any credential the chain names, so
  // that a member who missed rotations can fetch its keys; the node cannot
  // tell that member from a removed one (docs/SECURITY.md). What the removed
  // member reads there is ciphertext it cannot open: neither the new state
  // nor a slot of the keys message is for it.
  swarm::rpc::RetrieveRequest log;
  log.account = *group;
  log.ns = swarm::group::kControlNamespace;
  auto log_read = cc->request(*group, log, *old);
  ASSERT_TRUE(log_read.ok()) << log_read.status().to_string();
  auto log_answer = swarm::rpc::parse_retrieve_answer(*log_read);
  ASSERT_TRUE(log_answer.ok());
  std::vector<swarm::group::ControlEntry> entries;
  for (const auto& m : log_answer->messages) {
    auto e = swarm::group::parse_control(m.data, gpk);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    entries.push_back(std::move(*e));
  }
  const auto chain = swarm::group::canonical_chain(entries);
  ASSERT_FALSE(chain.empty());
  const auto& head = chain.back();
  ASSERT_EQ(head.generation, 1u);  // the removal started a new generation
  auto body = client::group::split_body(head.body);
  ASSERT_TRUE(body.ok());
  ASSERT_FALSE(body->keys.empty());
  auto slot = client::group::unwrap_keys(body->keys, head.generation, gpk, cc->identity().x25519());
  EXPECT_EQ(slot.status().code(), Code::kNotFound);
  for (const auto& k : *held) EXPECT_FALSE(client::group::open_state(gpk, head, k).ok());
  // A remaining member opens the same entry (the check can succeed).
  auto cb = open(b);
  ASSERT_TRUE(cb);
  EXPECT_TRUE(client::group::unwrap_keys(body->keys, head.generation, gpk, cb->identity().x25519()).ok());
}

TEST_F(Group, NonMemberCannotReadOrPostAndNonAdminChangesAreRefused) {
  const std::string a = homes_ / "na", b = homes_ / "nb", x = homes_ / "nx";
  const std::string ida = init(a), idb = init(b), idx = init(x);
  const std::string gid = trim(cli(a, {"group", "create", "closed", idb}).out);
  accept(b, gid);
  ASSERT_EQ(cli(a, {"group", "send", gid, "members only"}).exit_code, 0);
  auto group = swarm::AccountId::parse(gid);
  ASSERT_TRUE(group.ok());
  {
    auto cx = open(x);
    ASSERT_TRUE(cx);
    const auto& own = cx->identity().ed25519();
    for (uint16_t ns : {uint16_t(0), uint16_t(1), uint16_t(2)}) {
      swarm::rpc::RetrieveRequest r;
      r.account = *group;
      r.ns = ns;
      auto got = cx->request(*group, r, own);
      ASSERT_FALSE(got.ok()) << ns;
      EXPECT_EQ(got.status().code(), Code::kUnauthorized) << ns;
      swarm::rpc::StoreRequest st;
      st.account = *group;
      st.ns = ns;
      st.data = crypto::random_bytes(100);
      auto put = cx->request(*group, st, own);  // signed by a stranger
      ASSERT_FALSE(put.ok());
      EXPECT_EQ(put.status().code(), Code::kUnauthorized);
      swarm::rpc::StoreRequest unsigned_store = st;
      auto put2 = cx->request(*group, unsigned_store);  // no signature at all
      ASSERT_FALSE(put2.ok());
      EXPECT_EQ(put2.status().code(), Code::kUnauthorized);
    }
  }
  EXPECT_NE(cli(x, {"group", "send", gid, "let me in"}).exit_code, 0);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"group", "add", gid, idx}, {"group", "remove", gid, ida}, {"group", "rename", gid, "mine"}}) {
    auto r = cli(b, args);
    EXPECT_EQ(r.exit_code, 1) << args[1];
    EXPECT_NE(r.err.find("only admins"), std::string::npos) << r.err;
  }
  EXPECT_EQ(info(b, gid)["name"], "closed");
  EXPECT_EQ(info(b, gid)["members"].size(), 2u);
}

// `group accept` and `group decline` fetch the invitation themselves when
// no `group invites` (or `inbox`) has fetched it yet.
TEST_F(Group, AcceptAndDeclineFetchTheInvitationThemselves) {
  const std::string a = homes_ / "ia", b = homes_ / "ib", c = homes_ / "ic";
  init(a);
  const std::string idb = init(b), idc = init(c);
  const std::string gid = trim(cli(a, {"group", "create", "fetched", idb, idc}).out);
  auto joined = cli(b, {"group", "accept", gid});
  ASSERT_EQ(joined.exit_code, 0) << joined.err;
  EXPECT_EQ(info(b, gid)["role"], "member");
  auto declined = cli(c, {"group", "decline", gid});
  ASSERT_EQ(declined.exit_code, 0) << declined.err;
  EXPECT_EQ(declined.err.find("warning"), std::string::npos) << declined.err;  // the group was told
  auto late = cli(c, {"group", "accept", gid});
  EXPECT_EQ(late.exit_code, 1);
  EXPECT_NE(late.err.find("no invitation"), std::string::npos) << late.err;
  EXPECT_EQ(cli(c, {"group", "list"}).out.find(gid), std::string::npos);
}

// A decline is a leave notice: the admin's next fetch takes the invitee out
// of the roster and rotates the key it was sent, which a declined invitee
// would otherwise keep (and be listed as invited) for good.
TEST_F(Group, ADeclinedInviteeLeavesTheRosterAndTheKeyMoves) {
  const std::string a = homes_ / "da", b = homes_ / "db", c = homes_ / "dc";
  const std::string ida = init(a), idb = init(b), idc = init(c);
  const std::string gid = trim(cli(a, {"group", "create", "declined", idb, idc}).out);
  accept(b, gid);
  EXPECT_EQ(info(a, gid)["members"].size(), 3u);
  ASSERT_EQ(cli(c, {"group", "invites"}).exit_code, 0);
  auto declined = cli(c, {"group", "decline", gid});
  ASSERT_EQ(declined.exit_code, 0) << declined.err;
  EXPECT_EQ(declined.err.find("warning"), std::string::npos) << declined.err;
  ASSERT_EQ(cli(a, {"inbox"}).exit_code, 0);  // the admin's fetch acts on the notice
  auto after = info(a, gid);
  std::vector<std::string> left = {ida, idb};
  std::sort(left.begin(), left.end());
  std::vector<std::string> ids;
  for (const auto& m : after["members"]) ids.push_back(m["id"].get<std::string>());
  EXPECT_EQ(ids, left);
  EXPECT_EQ(after["generation"], 1u);  // the key c was sent is no longer in use
  EXPECT_EQ(agreed(info(b, gid)), agreed(after));
  // The group goes on without c.
  ASSERT_EQ(cli(b, {"group", "send", gid, "after the decline"}).exit_code, 0);
  EXPECT_EQ(texts_in(inbox(a), gid), std::set<std::string>{"after the decline"});
}

TEST_F(Group, TheLastAdminCanLeaveOnlyAfterPromotingAnother) {
  const std::string a = homes_ / "la", b = homes_ / "lb";
  const std::string ida = init(a), idb = init(b);
  const std::string gid = trim(cli(a, {"group", "create", "one admin", idb}).out);
  accept(b, gid);
  auto self = cli(a, {"group", "remove", gid, ida});
  EXPECT_EQ(self.exit_code, 1);
  EXPECT_NE(self.err.find("group leave"), std::string::npos) << self.err;
  auto leave = cli(a, {"group", "leave", gid});
  EXPECT_EQ(leave.exit_code, 1);
  EXPECT_NE(leave.err.find("last admin"), std::string::npos) << leave.err;
  // The library's remove, which leave uses, refuses it on the synced state.
  Status s = remove_self(a, gid);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find("last admin"), std::string::npos) << s.to_string();
  auto before = info(b, gid);
  EXPECT_EQ(before["admins"], nlohmann::json::array({ida}));
  EXPECT_EQ(before["members"].size(), 2u);
  EXPECT_EQ(before["head_seq"], 0u);  // nothing was stored
  ASSERT_EQ(cli(a, {"group", "promote", gid, idb}).exit_code, 0);
  ASSERT_EQ(cli(b, {"group", "invites"}).exit_code, 0);  // receives the group key
  leave = cli(a, {"group", "leave", gid});
  ASSERT_EQ(leave.exit_code, 0) << leave.err;
  auto after = info(b, gid);
  EXPECT_EQ(after["role"], "admin");
  EXPECT_EQ(after["admins"], nlohmann::json::array({idb}));
  EXPECT_EQ(after["members"].size(), 1u);
  EXPECT_EQ(cli(a, {"group", "list"}).out.find(gid), std::string::npos);
}

// An admin already out of the roster (here it removed itself through the
// library while another admin remained) can still leave: the group is
// forgotten locally, and nothing changes for the others.
TEST_F(Group, AnAdminOutOfTheRosterCanStillLeave) {
  const std::string a = homes_ / "oa", b = homes_ / "ob";
  init(a);
  const std::string idb = init(b);
  const std::string gid = trim(cli(a, {"group", "create", "two admins", idb}).out);
  accept(b, gid);
  ASSERT_EQ(cli(a, {"group", "promote", gid, idb}).exit_code, 0);
  ASSERT_EQ(cli(b, {"group", "invites"}).exit_code, 0);  // receives the group key
  Status s = remove_self(a, gid);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(info(a, gid)["role"], "removed");
  const auto before = info(b, gid);
  EXPECT_EQ(before["admins"], nlohmann::json::array({idb}));
  auto leave = cli(a, {"group", "leave", gid});
  ASSERT_EQ(leave.exit_code, 0) << leave.err;
  EXPECT_EQ(cli(a, {"group", "list"}).out.find(gid), std::string::npos);
  EXPECT_EQ(info(b, gid)["head_seq"], before["head_seq"]);
}

// Admins cannot be removed, so only a member who joined can be promoted: one
// still invited could decline after the grant and keep the group key. The
// admin's client reads the group's log for joins it has not seen yet.
TEST_F(Group, OnlyAMemberWhoJoinedCanBePromoted) {
  const std::string a = homes_ / "pa", b = homes_ / "pb", c = homes_ / "pc", d = homes_ / "pd";
  const std::string ida = init(a), idb = init(b), idc = init(c), idd = init(d);
  const std::string gid = trim(cli(a, {"group", "create", "promotions", idb, idc}).out);
  auto invited = cli(a, {"group", "promote", gid, idb});
  EXPECT_EQ(invited.exit_code, 1);
  EXPECT_NE(invited.err.find("has not accepted the invitation"), std::string::npos) << invited.err;
  auto stranger = cli(a, {"group", "promote", gid, idd});
  EXPECT_EQ(stranger.exit_code, 1);
  EXPECT_NE(stranger.err.find("only a member"), std::string::npos) << stranger.err;
  EXPECT_EQ(info(a, gid)["head_seq"], 0u);  // nothing was stored
  // c joins and posts; a has not fetched anything since.
  accept(c, gid);
  ASSERT_EQ(cli(c, {"group", "send", gid, "hello admins"}).exit_code, 0);
  auto joined = cli(a, {"group", "promote", gid, idc});
  ASSERT_EQ(joined.exit_code, 0) << joined.err;
  EXPECT_NE(joined.err.find("1 new group message(s) kept"), std::string::npos) << joined.err;
  auto all = cli(a, {"inbox", "--all"});
  EXPECT_NE(all.out.find("hello admins"), std::string::npos) << all.out;
  // b declines: still not promotable, by either admin.
  ASSERT_EQ(cli(b, {"group", "invites"}).exit_code, 0);
  ASSERT_EQ(cli(b, {"group", "decline", gid}).exit_code, 0);
  EXPECT_EQ(cli(a, {"group", "promote", gid, idb}).exit_code, 1);
  ASSERT_EQ(cli(c, {"group", "invites"}).exit_code, 0);  // receives the group key
  EXPECT_EQ(cli(c, {"group", "promote", gid, idb}).exit_code, 1);
  auto after = info(a, gid);
  std::vector<std::string> admins = {ida, idc};
  std::sort(admins.begin(), admins.end());
  EXPECT_EQ(after["admins"], nlohmann::json(admins));
  // genesis, c's promotion, then b's removal (a's fetch read b's decline)
  EXPECT_EQ(after["head_seq"], 2u);
  EXPECT_EQ(after["members"].size(), 2u);
}

TEST_F(Group, TwoAdminsChangingAtOnceConverge) {
  const std::string a = homes_ / "ca", b = homes_ / "cb", c = homes_ / "cc", d = homes_ / "cd", e = homes_ / "ce";
  init(a);
  const std::string idb = init(b), idc = init(c), idd = init(d), ide = init(e);
  const std::string gid = trim(cli(a, {"group", "create", "two admins", idb, idc}).out);
  accept(b, gid);
  accept(c, gid);
  ASSERT_EQ(cli(a, {"group", "promote", gid, idb}).exit_code, 0);
  ASSERT_EQ(cli(b, {"group", "invites"}).exit_code, 0);  // receives the group key
  ASSERT_EQ(info(b, gid)["role"], "admin");
  // Both admins change the group at the same moment, several times.
  for (int round = 0; round < 2; ++round) {
    auto fa = std::async(std::launch::async, [&] {
      return cli(a, {"group", round == 0 ? "add" : "rename", gid, round == 0 ? idd : "renamed by a"});
    });
    auto fb = std::async(std::launch::async, [&] {
      return cli(b, {"group", round == 0 ? "add" : "rename", gid, round == 0 ? ide : "renamed by b"});
    });
    auto ra = fa.get(), rb = fb.get();
    EXPECT_EQ(ra.exit_code, 0) << ra.err;
    EXPECT_EQ(rb.exit_code, 0) << rb.err;
  }
  auto ia = agreed(info(a, gid)), ib = agreed(info(b, gid)), ic = agreed(info(c, gid));
  EXPECT_EQ(ia, ib);
  EXPECT_EQ(ia, ic);
  EXPECT_EQ(ia["members"].size(), 5u) << ia.dump();  // both adds landed
  EXPECT_TRUE(ia["name"] == "renamed by a" || ia["name"] == "renamed by b");
  EXPECT_EQ(ia["head_seq"], 5u);  // genesis, promote, two adds, two renames
  // Both adds sent their invitations.
  for (const auto& h : {d, e}) {
    auto inv = cli(h, {"group", "invites"});
    EXPECT_EQ(inv.exit_code, 0) << inv.err;
    EXPECT_NE(inv.out.find(gid), std::string::npos) << h << ": " << inv.out;
  }
}

// Every member signs control-log reads with the same member credential,
// and Ed25519 is deterministic: members reading the log at the same moment
// must still never be refused as a replay of one another.
TEST_F(Group, MembersReadingTheLogAtOnceAreNeverTakenForReplays) {
  const std::string a = homes_ / "ra", b = homes_ / "rb", c = homes_ / "rc", d = homes_ / "rd";
  init(a);
  const std::string idb = init(b), idc = init(c), idd = init(d);
  const std::string gid = trim(cli(a, {"group", "create", "readers", idb, idc, idd}).out);
  accept(b, gid);
  accept(c, gid);
  accept(d, gid);
  auto group = swarm::AccountId::parse(gid);
  ASSERT_TRUE(group.ok());
  // 3 readers x 20 reads stay under the node's per-account burst (4 x 50).
  constexpr int kReads = 20;
  std::vector<std::future<std::vector<std::string>>> readers;
  for (const auto& h : {b, c, d}) {
    readers.push_back(std::async(std::launch::async, [&, h] {
      std::vector<std::string> errors;
      auto cx = open(h);
      if (!cx) return std::vector<std::string>{"could not open the client"};
      client::Groups groups(*cx);
      for (int i = 0; i < kReads; ++i) {
        auto got = groups.info(*group, /*sync=*/true);
        if (!got.ok()) errors.push_back(got.status().message());
      }
      return errors;
    }));
  }
  for (auto& f : readers) {
    const auto errors = f.get();
    EXPECT_TRUE(errors.empty()) << errors.size() << " of " << kReads << " reads failed, first: " << errors.front();
  }
}

TEST_F(Group, StoringNodesNeverSeeWhichMemberPosted) {
  const std::string a = homes_ / "sa", b = homes_ / "sb";
  init(a);
  const std::string idb = init(b);
  const std::string gid = trim(cli(a, {"group", "create", "sealed", idb}).out);
  accept(b, gid);
  ASSERT_EQ(cli(b, {"group", "send", gid, "who wrote this"}).exit_code, 0);
  EXPECT_EQ(texts_in(inbox(a), gid), std::set<std::string>{"who wrote this"});
  // b's identifiers in every form a node could store or log. b's raw X25519
  // key is also b's own inbox key (the invitation was stored there as a 1:1
  // message, under its recipient), so it is checked in the group's stored
  // blobs and in logs, not in the whole database.
  auto cb = open(b);
  ASSERT_TRUE(cb);
  const auto& ed = cb->identity().ed25519().public_key();
  const auto& x = cb->identity().x25519().public_key();
  const std::vector<std::string> needles = {idb, to_hex(ed.view()), to_hex(x.view()), to_base64(ed.view()),
                                            std::string(as_chars(ed.view())), "who wrote this"};
  const std::string raw_x(as_chars(x.view()));
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(net_->dir())) {
    if (!entry.is_regular_file() || entry.path().filename() == "network.json") continue;
    ++files;
    const std::string content = test::read_file(entry.path().string());
    for (size_t n = 0; n < needles.size(); ++n)
      EXPECT_EQ(content.find(needles[n]), std::string::npos) << entry.path() << " needle " << n;
    if (entry.path().extension() != ".mdb") {
      EXPECT_EQ(content.find(raw_x), std::string::npos) << entry.path();
    }
  }
  // What the storing node saw: the blob, and a credential every member shares.
  auto group = swarm::AccountId::parse(gid);
  ASSERT_TRUE(group.ok());
  client::Groups gb(*cb);
  auto cred_b = gb.credential(*group);
  ASSERT_TRUE(cred_b.ok());
  {
    auto ca = open(a);
    client::Groups ga(*ca);
    auto cred_a = ga.credential(*group);
    ASSERT_TRUE(cred_a.ok());
    EXPECT_EQ(cred_a->public_key(), cred_b->public_key());
  }
  swarm::rpc::RetrieveRequest r;
  r.account = *group;
  r.ns = swarm::group::kMessagesNamespace;
  auto j = cb->request(*group, r, *cred_b);
  ASSERT_TRUE(j.ok());
  auto ans = swarm::rpc::parse_retrieve_answer(*j);
  ASSERT_TRUE(ans.ok());
  ASSERT_FALSE(ans->messages.empty());
  for (const auto& m : ans->messages) {
    const std::string blob(as_chars(m.data));
    EXPECT_EQ(blob.find(raw_x), std::string::npos);
    EXPECT_EQ(blob.find(std::string(as_chars(ed.view()))), std::string::npos);
  }
  EXPECT_GT(files, 8u);
}

TEST_F(Group, OfflineMemberCatchesUp) {
  const std::string a = homes_ / "oa", b = homes_ / "ob", c = homes_ / "oc", d = homes_ / "od", e = homes_ / "oe";
  init(a);
  const std::string idb = init(b), idc = init(c), idd = init(d), ide = init(e);
  const std::string gid = trim(cli(a, {"group", "create", "before", idb, idc, idd}).out);
  accept(b, gid);
  accept(c, gid);
  accept(d, gid);
  ASSERT_EQ(info(c, gid)["name"], "before");
  // c is offline for: a removal (key rotation), an add, a rename.
  ASSERT_EQ(cli(a, {"group", "remove", gid, idd}).exit_code, 0);
  ASSERT_EQ(cli(a, {"group", "add", gid, ide}).exit_code, 0);
  ASSERT_EQ(cli(a, {"group", "rename", gid, "after"}).exit_code, 0);
  ASSERT_EQ(cli(a, {"group", "send", gid, "while you were away"}).exit_code, 0);
  EXPECT_EQ(texts_in(inbox(c), gid), std::set<std::string>{"while you were away"});
  auto ia = agreed(info(a, gid)), ib = agreed(info(b, gid)), ic = agreed(info(c, gid));
  EXPECT_EQ(ic, ia);
  EXPECT_EQ(ib, ia);
  EXPECT_EQ(ic["name"], "after");
  EXPECT_EQ(ic["generation"], 1u);
}

TEST_F(Group, HundredMembersAllReceiveAndTheHundredAndFirstIsRefused) {
  // Homes and keys through the library (fast); the nodes are real.
  const std::string admin = homes_ / "h0";
  init(admin);
  std::vector<std::string> homes;
  std::vector<swarm::AccountId> ids;
  for (int i = 1; i < 100; ++i) {
    homes.push_back(homes_ / ("h" + std::to_string(i)));
    ids.push_back(*swarm::AccountId::parse(make_home(homes.back())));
  }
  swarm::AccountId gid;
  {
    auto ca = open(admin);
    ASSERT_TRUE(ca);
    client::Groups ga(*ca);
    auto created = ga.create("hundred", ids);
    ASSERT_TRUE(created.ok()) << created.status().to_string();
    gid = *created;
  }
  for (const auto& h : homes) {
    auto c = open(h);
    ASSERT_TRUE(c);
    client::Groups g(*c);
    ASSERT_TRUE(g.fetch_direct().ok());
    ASSERT_TRUE(g.accept(gid).ok()) << h;
  }
  {
    auto ca = open(admin);
    client::Groups ga(*ca);
    auto sent = ga.send(gid, "hello hundred");
    ASSERT_TRUE(sent.ok()) << sent.status().to_string();
    // The 101st is refused before anything is stored or sent.
    const std::string extra = make_home(homes_ / "h100");
    auto more = ga.add(gid, {*swarm::AccountId::parse(extra)});
    ASSERT_FALSE(more.ok());
    EXPECT_EQ(more.code(), Code::kInvalidArgument);
    EXPECT_NE(more.message().find("at most 100"), std::string::npos) << more.message();
    auto i = ga.info(gid);
    ASSERT_TRUE(i.ok());
    EXPECT_EQ(i->members.size(), 100u);
  }
  for (const auto& h : homes) {
    auto c = open(h);
    client::Groups g(*c);
    auto got = g.fetch();
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_EQ(got->size(), 1u) << h;
    EXPECT_EQ((*got)[0].text, "hello hundred");
  }
  auto cli_add = cli(admin, {"group", "add", gid.to_string(), trim(cli(homes_ / "h100", {"id"}).out)});
  EXPECT_EQ(cli_add.exit_code, 1);
  EXPECT_NE(cli_add.err.find("at most 100"), std::string::npos) << cli_add.err;
}

// Every poll reads the group's control log as well as its messages. Both
// reads go to a random member of the group's swarm, not the log's to the
// sequencer: 100 members polling once a second would exceed one node's
// account_rate (50 per second per account and method). Counted at each
// member by its status: with the log read at the sequencer, it served at
// least half of the group's reads.
TEST_F(Group, PollsOfAGroupSpreadOverItsSwarm) {
  const std::string ha = homes_ / "spread-a", hb = homes_ / "spread-b";
  make_home(ha);
  const auto b = *swarm::AccountId::parse(make_home(hb));
  auto ca = open(ha), cb = open(hb);
  ASSERT_TRUE(ca && cb);
  // A group whose swarm has four or five members: a path (three of the other
  // nodes) then leaves every member to ask. Bounded: 20 groups.
  std::optional<swarm::AccountId> gid;
  std::vector<swarm::NodeDescriptor> members;
  const size_t nodes = net_->nodes().size();
  for (int i = 0; i < 20 && !gid; ++i) {
    auto created = client::Groups(*ca).create("spread", {b});
    ASSERT_TRUE(created.ok()) << created.status().to_string();
    members = test::swarm_members(*net_, 4, *created);
    if (members.size() >= 4 && nodes - members.size() >= 3) gid = *created;
  }
  ASSERT_TRUE(gid) << "no group of 20 had a swarm of four or five";
  client::Groups gb(*cb);
  accept(gb, *gid);
  ASSERT_TRUE(client::Groups(*ca).send(*gid, "spread").ok());

  // Retrieves each member answered (served or refused), by address.
  auto retrieves = [&] {
    std::map<std::string, uint64_t> out;
    for (int i = 1; i <= int(nodes); ++i) {
      auto st = test::node_status(net_->node_dir(i));
      if (!st.is_object()) continue;
      const auto& r = st["requests"]["retrieve"];
      out[st["node"]["address"].get<std::string>()] = r["served"].get<uint64_t>() + r["refused"].get<uint64_t>();
    }
    return out;
  };
  const auto before = retrieves();
  constexpr int kPolls = 100;
  std::set<std::string> texts;
  for (int i = 0; i < kPolls; ++i) {
    auto got = gb.fetch();
    ASSERT_TRUE(got.ok()) << "poll " << i << ": " << got.status().to_string();
    for (const auto& e : *got) texts.insert(e.text);
  }
  EXPECT_EQ(texts, std::set<std::string>{"spread"});
  const auto after = retrieves();
  const auto sequencer = std::min_element(members.begin(), members.end(),
                                          [](const auto& x, const auto& y) { return x.x25519 < y.x25519; });
  uint64_t total = 0, at_sequencer = 0;
  std::string counts;
  for (const auto& m : members) {
    ASSERT_TRUE(before.count(m.address) && after.count(m.address)) << m.address << " did not answer status";
    const uint64_t n = after.at(m.address) - before.at(m.address);
    total += n;
    if (m.address == sequencer->address) at_sequencer = n;
    counts += " " + m.address + (m.address == sequencer->address ? " (sequencer)" : "") + ": " + std::to_string(n);
  }
  // Each poll reads the log and the messages, one page each.
  EXPECT_GE(total, uint64_t(2 * kPolls)) << counts;
  // Spread over the members off the client's path (at least three of the
  // four or five), the sequencer's share is a third at most, and half is
  // five standard deviations away. Read at the sequencer, the log alone
  // is half.
  EXPECT_LT(2 * at_sequencer, total) << counts;
}

// A poll reads only the control entries stored since shortly before the
// head the client knew, not the whole log, and so does a send (at the
// sequencer). A roster of 100 makes each entry about 7 KB, and 26 entries
// fill more than one retrieve page, so a poll that read the whole log would
// make at least three retrieves (two log pages and the messages); one that
// reads from the head on makes two. A send makes two, or one. The
// look-back before the head is 0 here: all the entries are minutes newer
// than the default's five.
TEST_F(Group, APollOrASendReadsOnlyTheLogFromTheHeadItKnew) {
  const std::string admin = homes_ / "window-admin";
  make_home(admin);
  std::vector<swarm::AccountId> ids;
  for (int i = 1; i < 100; ++i)
    ids.push_back(*swarm::AccountId::parse(make_home(homes_ / ("window-" + std::to_string(i)))));
  auto ca = open(admin);
  ASSERT_TRUE(ca);
  client::Groups ga(*ca, /*log_lookback_ms=*/0);
  auto created = ga.create("window", ids);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  const swarm::AccountId gid = *created;
  constexpr int kRenames = 25;
  for (int i = 0; i < kRenames; ++i) {
    Status s = ga.rename(gid, "window " + std::to_string(i));
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  const auto members = test::swarm_members(*net_, 4, gid);
  auto retrieves = [&] {
    uint64_t n = 0;
    for (int i = 1; i <= int(net_->nodes().size()); ++i) {
      auto st = test::node_status(net_->node_dir(i));
      if (!st.is_object()) continue;
      const std::string address = st["node"]["address"].get<std::string>();
      if (std::none_of(members.begin(), members.end(), [&](const auto& m) { return m.address == address; })) continue;
      n += st["requests"]["retrieve"]["served"].get<uint64_t>() + st["requests"]["retrieve"]["refused"].get<uint64_t>();
    }
    return n;
  };
  // The first poll after the changes takes the newest head.
  ASSERT_TRUE(ga.fetch().ok());
  const uint64_t before = retrieves();
  constexpr int kPolls = 10;
  for (int i = 0; i < kPolls; ++i) {
    auto got = ga.fetch();
    ASSERT_TRUE(got.ok()) << got.status().to_string();
  }
  const uint64_t polled = retrieves() - before;
  EXPECT_GE(polled, uint64_t(2 * kPolls));
  EXPECT_LT(polled, uint64_t(3 * kPolls)) << "a poll read the whole log";
  // A send reads the log at the sequencer, from the head too: one retrieve
  // each, where the whole log takes two.
  const uint64_t before_sends = retrieves();
  constexpr int kSends = 10;
  for (int i = 0; i < kSends; ++i) {
    auto sent = ga.send(gid, "send " + std::to_string(i));
    ASSERT_TRUE(sent.ok()) << sent.status().to_string();
  }
  const uint64_t sent = retrieves() - before_sends;
  EXPECT_GE(sent, uint64_t(kSends));
  EXPECT_LT(sent, uint64_t(2 * kSends)) << "a send read the whole log";
  // A member who knew the head takes what follows it from the window: a
  // rename and a removal (a new generation), and then reads a message of
  // that generation. Five polls, two retrieves each (the window and the
  // messages); reading the whole log would make three each.
  auto cb = open(homes_ / "window-1");
  ASSERT_TRUE(cb);
  client::Groups gb(*cb, /*log_lookback_ms=*/0);
  accept(gb, gid);
  ASSERT_TRUE(gb.fetch().ok());
  ASSERT_TRUE(ga.rename(gid, "renamed").ok());
  ASSERT_TRUE(ga.remove(gid, {ids[1]}).ok());
  ASSERT_TRUE(ga.send(gid, "after the head").ok());
  const uint64_t before_member = retrieves();
  auto got = gb.fetch();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(test::verified_texts(*got), std::set<std::string>{"after the head"});
  for (int i = 1; i < 5; ++i) ASSERT_TRUE(gb.fetch().ok());
  EXPECT_LT(retrieves() - before_member, 15u) << "the member read the whole log";
  auto info = gb.info(gid, /*sync=*/false);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->name, "renamed");
  EXPECT_EQ(info->generation, 1u);
  EXPECT_EQ(info->members.size(), 99u);
}

// An entry a poll's window misses is not lost for good. An admin whose
// clock runs 50 s ahead stores entries stamped 50 s late; a member's poll
// (look-back 0 here) reads from the head's stamp on, so it misses an
// entry the admin then stores from a right clock. The member still shows a
// message of the generation a missed removal started (its old credential
// is refused: the poll reads the log at the sequencer and retrieves there
// once more) and one from a member a missed addition added (an unknown
// sender: the poll reads the log at the sequencer before it would drop the
// message as not meant for it).
TEST_F(Group, APollThatMissedAnEntryReadsTheLogAtTheSequencer) {
  LateHead late;
  ASSERT_NO_FATAL_FAILURE(make_late_head("miss", &late));
  const std::string& ha = late.ha;
  const std::string hd = homes_ / "miss-d";
  const auto d = *swarm::AccountId::parse(make_home(hd));
  const swarm::AccountId gid = late.gid, c = late.c;
  client::Groups& gb = *late.gb;

  // A removal (a new generation) stamped before the head b knows, then a
  // message of that generation.
  {
    auto ca = open(ha);
    ASSERT_TRUE(ca);
    client::Groups ga(*ca);
    ASSERT_TRUE(ga.remove(gid, {c}).ok());
    ASSERT_TRUE(ga.send(gid, "after the removal").ok());
  }
  auto before = gb.info(gid, /*sync=*/false);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->generation, 0u);
  auto got = gb.fetch();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(test::verified_texts(*got), std::set<std::string>{"after the removal"});
  auto after = gb.info(gid, /*sync=*/false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->generation, 1u);

  // A rename stamped late again (b takes it as head), then an addition
  // stamped before it, and a message from the added member.
  {
    auto ahead = open_clock_ahead(ha);
    ASSERT_TRUE(ahead);
    ASSERT_TRUE(client::Groups(*ahead).rename(gid, "late").ok());
  }
  ASSERT_TRUE(gb.fetch().ok());
  {
    auto ca = open(ha);
    ASSERT_TRUE(ca);
    ASSERT_TRUE(client::Groups(*ca).add(gid, {d}).ok());
  }
  {
    auto cd = open(hd);
    ASSERT_TRUE(cd);
    client::Groups gd(*cd);
    accept(gd, gid);
    ASSERT_TRUE(gd.send(gid, "from the added member").ok());
  }
  got = gb.fetch();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(test::verified_texts(*got), std::set<std::string>{"from the added member"});
  auto added = gb.info(gid, /*sync=*/false);
  ASSERT_TRUE(added.ok());
  EXPECT_TRUE(std::find(added->members.begin(), added->members.end(), d) != added->members.end());
}

// A send's read of the log at the sequencer is a window too, and can miss a
// removal the same way: an admin whose clock runs 50 s ahead stamps the
// head the sender knows late, and the removal an admin then stores from a
// right clock is stamped before it (look-back 0 here). The message is not
// sealed with the key of the generation the removal ended, which the
// removed member holds: every member has taken the removal and refuses
// that generation's credential, so the sender reads the whole log and
// seals the message again. The removed member, whose window missed the
// removal as well, can still leave.
TEST_F(Group, ASendWhoseWindowMissedARemovalIsSealedWithTheNewKey) {
  LateHead late;
  ASSERT_NO_FATAL_FAILURE(make_late_head("send-miss", &late));
  const std::string& ha = late.ha;
  const swarm::AccountId gid = late.gid, c = late.c;
  client::Groups& gb = *late.gb;
  auto old_cred = gb.credential(gid);
  ASSERT_TRUE(old_cred.ok());
  // c, about to be removed, knows the same head.
  auto cc = open(late.hc);
  ASSERT_TRUE(cc);
  client::Groups gc(*cc, /*log_lookback_ms=*/0);
  accept(gc, gid);
  ASSERT_TRUE(gc.fetch().ok());

  auto ca = open(ha);
  ASSERT_TRUE(ca);
  client::Groups ga(*ca);
  ASSERT_TRUE(ga.remove(gid, {c}).ok());
  // Every member takes the removal at once; wait until each refuses the
  // old credential (bounded: 50 tries, 100 ms apart), so that whichever
  // member takes b's store refuses it.
  const auto members = test::swarm_members(*net_, 4, gid);
  ASSERT_GE(members.size(), 3u);
  for (const auto& m : members) {
    test::RawClient raw(m);
    std::string answer;
    for (int attempt = 0; attempt < 50 && answer != "unauthorized"; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto r = retrieve_signed_with(raw, m, gid, *old_cred);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      answer = r->value("code", r->value("status", ""));
    }
    ASSERT_EQ(answer, "unauthorized") << m.address;
  }

  // b's window misses the removal: a read of it shows the old generation.
  auto missed = gb.info(gid, /*sync=*/true);
  ASSERT_TRUE(missed.ok()) << missed.status().to_string();
  ASSERT_EQ(missed->generation, 0u) << "the window did not miss the removal; the test shows nothing";
  auto sent = gb.send(gid, "after the removal");
  ASSERT_TRUE(sent.ok()) << sent.status().to_string();
  auto after = gb.info(gid, /*sync=*/false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->generation, 1u) << "sealed with the removed generation's key";
  EXPECT_EQ(after->members.size(), 2u);
  auto got = ga.fetch();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(test::verified_texts(*got), std::set<std::string>{"after the removal"});

  // c's window misses its own removal too. Leaving, its leave notice
  // (signed with the old credential) is refused, and the whole log read
  // then says c is out: the leave ends with the group forgotten, not with
  // an error.
  Status left = gc.leave(gid);
  EXPECT_TRUE(left.ok()) << left.to_string();
  EXPECT_EQ(gc.info(gid, /*sync=*/false).status().code(), Code::kNotFound);
}

// An entry that every window misses and nothing else brings in (a rename
// stamped before the head the member knows) is taken by the first poll
// after the member's last read of the whole log is kDefaultWholeLogEveryMs
// old (an hour; 1 ms here): that poll reads the whole log.
TEST_F(Group, APollReadsTheWholeLogOnceTheLastWholeReadIsOld) {
  LateHead late;
  ASSERT_NO_FATAL_FAILURE(make_late_head("stale", &late));
  auto ca = open(late.ha);
  ASSERT_TRUE(ca);
  ASSERT_TRUE(client::Groups(*ca).rename(late.gid, "renamed").ok());
  // Within the hour: the window misses the rename.
  ASSERT_TRUE(late.gb->fetch().ok());
  auto missed = late.gb->info(late.gid, /*sync=*/false);
  ASSERT_TRUE(missed.ok());
  ASSERT_EQ(missed->name, "stale") << "the window did not miss the rename; the test shows nothing";
  client::Groups due(*late.cb, /*log_lookback_ms=*/0, /*whole_log_every_ms=*/1);
  ASSERT_TRUE(due.fetch().ok());
  auto taken = due.info(late.gid, /*sync=*/false);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->name, "renamed");
}

// A new store reaches two of its swarm's five members at once and the others
// in a deferred batch (docs/PROTOCOL.md 8.2), here 10 s later. A group's
// control entries are the exception: every member checks a member's
// credential against the control log it holds, so they go to every member
// at once, and a removed member's credential is refused, and a new one
// taken, at every member right after the change. Before, two members lagged
// by the batch and a send or poll there failed with `unauthorized: the group
// has no control log` or `not the group's current member credential`.
// Messages still reach those two later: a poll there misses them until then,
// and the next poll gets them (the cursor looks two minutes back).
class GroupWithLaggingMembers : public test::DevnetSuite<GroupWithLaggingMembers, 6, 5> {
 public:
  static std::string node_config_json() { return R"({"replica_defer_ms":10000})"; }

 protected:
  std::unique_ptr<client::Client> open(const std::string& home) { return test::open_client(net_->network_file(), home); }
  TempDir homes_;
};

TEST_F(GroupWithLaggingMembers, EveryMemberTakesAControlChangeAtOnce) {
  constexpr int kMembers = 4;
  std::vector<std::string> homes;
  std::vector<swarm::AccountId> ids;
  for (int i = 0; i < kMembers; ++i) {
    homes.push_back(homes_ / ("m" + std::to_string(i)));
    ASSERT_TRUE(client::ensure_home(homes.back()).ok());
    auto id = client::Identity::create(homes.back());
    ASSERT_TRUE(id.ok());
    ids.push_back(id->account_id());
  }
  std::vector<std::unique_ptr<client::Client>> clients;
  for (const auto& h : homes) {
    clients.push_back(open(h));
    ASSERT_TRUE(clients.back());
  }
  auto created = client::Groups(*clients[0]).create("lagging", {ids.begin() + 1, ids.end()});
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  const swarm::AccountId gid = *created;
  // The invitation is a 1:1 message: the invitee's path may leave it only
  // the two members the batch has not reached yet to ask, so an invitee may
  // have to look again until the batch is out (bounded: 30 s).
  for (int i = 1; i < kMembers; ++i) {
    client::Groups g(*clients[size_t(i)]);
    Status accepted = error(Code::kNotFound, "not tried");
    for (int attempt = 0; attempt < 300 && accepted.code() == Code::kNotFound; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ASSERT_TRUE(g.fetch_direct().ok());
      accepted = g.accept(gid);
    }
    ASSERT_TRUE(accepted.ok()) << "member " << i << ": " << accepted.to_string();
  }

  // Every member sends, then polls until it has every message of the round
  // (bounded: 300 polls, 100 ms apart); no send or poll may fail.
  auto round = [&](const std::string& label, const std::vector<int>& members) {
    std::set<std::string> sent;
    for (int i : members) {
      const std::string text = label + " from " + std::to_string(i);
      auto r = client::Groups(*clients[size_t(i)]).send(gid, text);
      EXPECT_TRUE(r.ok()) << label << ", member " << i << " sending: " << r.status().to_string();
      sent.insert(text);
    }
    for (int i : members) {
      std::set<std::string> texts;
      for (int poll = 0; poll < 300 && texts != sent; ++poll) {
        if (poll > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto got = client::Groups(*clients[size_t(i)]).fetch();
        ASSERT_TRUE(got.ok()) << label << ", member " << i << " polling: " << got.status().to_string();
        for (const auto& e : *got)
          if (e.text.rfind(label + " ", 0) == 0) texts.insert(e.text);
      }
      EXPECT_EQ(texts, sent) << label << ", member " << i;
    }
  };
  round("round-1", {0, 1, 2, 3});

  // A removal starts a new key generation. Right after it, each of the five
  // members refuses the removed member's credential and takes the admin's
  // new one, asked directly (a one-hop onion). The deferred batch would
  // reach two of them only 10 s later; 5 s allows for a slow commit.
  auto removed_cred = client::Groups(*clients[3]).credential(gid);
  ASSERT_TRUE(removed_cred.ok());
  ASSERT_TRUE(client::Groups(*clients[0]).remove(gid, {ids[3]}).ok());
  auto new_cred = client::Groups(*clients[0]).credential(gid);
  ASSERT_TRUE(new_cred.ok());
  ASSERT_FALSE(new_cred->public_key() == removed_cred->public_key());
  const auto members = test::swarm_members(*net_, 5, gid);
  ASSERT_GE(members.size(), 3u);
  for (const auto& m : members) {
    test::RawClient raw(m);
    std::string store_answer, retrieve_answer;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      swarm::rpc::StoreRequest st;
      st.account = gid;
      st.ns = swarm::group::kMessagesNamespace;
      st.timestamp_ms = test::now_ms();
      st.data = crypto::random_bytes(200);
      swarm::rpc::Request store = st;
      swarm::rpc::sign_request(store, *removed_cred);
      auto s = raw.request({m}, store);
      ASSERT_TRUE(s.ok()) << s.status().to_string();
      store_answer = s->value("code", s->value("status", "")) + ": " + s->value("message", "");
      auto r = retrieve_signed_with(raw, m, gid, *new_cred);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      retrieve_answer = r->value("status", "");
      if (s->value("code", "") == "unauthorized" && retrieve_answer == "ok") break;
      if (std::chrono::steady_clock::now() > deadline) break;
    }
    EXPECT_EQ(store_answer.substr(0, store_answer.find(':')), "unauthorized") << m.address << ": " << store_answer;
    EXPECT_EQ(retrieve_answer, "ok") << m.address;
  }
  round("round-2", {0, 1, 2});
}

}  // namespace
}  // namespace onionswarm
