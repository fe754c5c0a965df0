#include "client/groups.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "onion/encoding.h"
#include "swarm/json.h"

namespace onionswarm::client {
namespace {

using nlohmann::json;
namespace sg = swarm::group;

constexpr const char* kGroupsIndex = "groups";
constexpr const char* kInvitesIndex = "group-invites";
constexpr size_t kMaxLocalJson = 4 << 20;

std::string record_key(const swarm::AccountId& g) { return "group/" + g.to_string(); }
std::string invite_key(const swarm::AccountId& g) { return "group-invite/" + g.to_string(); }

// Sends and polls of a group go to a random member of its swarm, so that
// the requests of a large group do not all count against one node's
// account_rate. When that member refuses the credential, either it does
// not hold the newest control entry yet (the sequencer pushes each entry to
// every member at once, PROTOCOL.md 15.3, but the push may still be on its
// way, or was missed while that member was down) or this client does not
// (it read the log at a member that lacked it): resync reads the log at the
// sequencer, which took every entry while it was up, and send(pinned) goes
// once more, to the sequencer (Client::request's pinned member), with the
// credential that read gave.
template <typename Send, typename Resync>
auto at_any_member(Send&& send, Resync&& resync) {
  auto result = send(/*pinned=*/false);
  if (!result.ok() && result.status().code() == Code::kUnauthorized) {
    if (Status s = resync(); !s.ok()) return decltype(result)(std::move(s));
    result = send(/*pinned=*/true);
  }
  return result;
}

crypto::Ed25519PublicKey group_pk(const swarm::AccountId& g) {
  crypto::Ed25519PublicKey pk;
  pk.bytes = g.key;
  return pk;
}

json ids_json(const std::vector<swarm::AccountId>& ids) {
  json a = json::array();
  for (const auto& id : ids) a.push_back(id.to_string());
  return a;
}

Result<std::vector<swarm::AccountId>> ids_of(const json& j) {
  std::vector<swarm::AccountId> out;
  if (!j.is_array()) return error(Code::kIo, "corrupt local group state");
  for (const auto& v : j) {
    if (!v.is_string()) return error(Code::kIo, "corrupt local group state");
    auto id = swarm::AccountId::parse(v.get_ref<const std::string&>());
    if (!id.ok()) return error(Code::kIo, "corrupt local group state");
    out.push_back(*id);
  }
  return out;
}

Result<crypto::SecretBytes> secret_of(const json& j) {
  if (!j.is_string()) return error(Code::kIo, "corrupt local group state");
  auto b = from_hex(j.get_ref<const std::string&>(), crypto::kKeySize);
  if (!b.ok() || b->size() != crypto::kKeySize) return error(Code::kIo, "corrupt local group state");
  crypto::SecretBytes s(*b);
  std::fill(b->begin(), b->end(), 0);
  return s;
}

crypto::SecretBytes random_secret() {
  Bytes b = crypto::random_bytes(crypto::kKeySize);
  crypto::SecretBytes s(b);
  std::fill(b.begin(), b.end(), 0);
  return s;
}

void sorted_insert(std::vector<swarm::AccountId>& v, const swarm::AccountId& a) {
  auto it = std::lower_bound(v.begin(), v.end(), a);
  if (it == v.end() || *it != a) v.insert(it, a);
}

}  // namespace

struct Groups::Record {
  swarm::AccountId id;
  std::string name;
  std::vector<swarm::AccountId> members, admins;
  uint64_t generation = 0;
  std::map<uint64_t, crypto::SecretBytes> keys;  // generation -> encryption key
  std::map<uint64_t, crypto::SecretBytes> auth;  // generation -> member credential seed
  std::optional<crypto::SecretBytes> group_seed;
  bool has_head = false;
  uint64_t head_seq = 0;
  crypto::Hash head_hash;
  uint64_t head_stored_ms = 0;  // the head's timestamp as stored; 0: unknown (read the whole log)
  uint64_t whole_read_ms = 0;   // network time of the last read of the whole log; 0: unknown
  std::map<uint64_t, std::set<swarm::AccountId>> members_by_gen;
  std::set<swarm::AccountId> joined;
  bool removed = false;

  bool is_member(const swarm::AccountId& a) const { return std::binary_search(members.begin(), members.end(), a); }
  group::GroupState state() const {
    group::GroupState s;
    s.name = name;
    s.members = members;
    s.admins = admins;
    auto it = auth.find(generation);
    if (it != auth.end()) s.auth_seed = it->second.clone();
    return s;
  }
  GroupInfo info() const {
    GroupInfo i;
    i.id = id;
    i.name = name;
    i.members = members;
    i.admins = admins;
    i.joined = joined;
    for (const auto& a : admins) i.joined.insert(a);
    i.generation = generation;
    i.head_seq = head_seq;
    i.head_hash = head_hash;
    i.holds_group_key = group_seed.has_value();
    i.removed = removed;
    return i;
  }
};

// ---- local state ----------------------------------------------------------

Result<Groups::Record> Groups::load(const swarm::AccountId& g) const {
  auto v = client_.store().get_setting(record_key(g));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return error(Code::kNotFound, "not a member of group " + g.to_string() + " (see `group invites`)");
  auto j = swarm::parse_json(**v, 8, kMaxLocalJson);
  if (!j.ok() || !j->is_object()) return error(Code::kIo, "corrupt local group state");
  Record r;
  r.id = g;
  try {
    r.name = (*j)["name"].get<std::string>();
    auto m = ids_of((*j)["members"]);
    auto a = ids_of((*j)["admins"]);
    if (!m.ok()) return m.status();
    if (!a.ok()) return a.status();
    r.members = *m;
    r.admins = *a;
    r.generation = (*j)["generation"].get<uint64_t>();
    for (const char* field : {"keys", "auth"}) {
      for (auto it = (*j)[field].begin(); it != (*j)[field].end(); ++it) {
        auto s = secret_of(it.value());
        if (!s.ok()) return s.status();
        (field[0] == 'k' ? r.keys : r.auth)[std::stoull(it.key())] = std::move(*s);
      }
    }
    if (j->contains("group_seed")) {
      auto s = secret_of((*j)["group_seed"]);
      if (!s.ok()) return s.status();
      r.group_seed = std::move(*s);
    }
    r.has_head = (*j)["has_head"].get<bool>();
    r.head_seq = (*j)["head_seq"].get<uint64_t>();
    auto hh = from_hex((*j)["head_hash"].get<std::string>(), crypto::kHashSize);
    if (!hh.ok() || hh->size() != crypto::kHashSize) return error(Code::kIo, "corrupt local group state");
    r.head_hash = *crypto::Hash::from(*hh);
    r.head_stored_ms = j->value("head_stored_ms", uint64_t(0));  // absent in records of older clients
    r.whole_read_ms = j->value("whole_read_ms", uint64_t(0));    // likewise
    for (auto it = (*j)["members_by_gen"].begin(); it != (*j)["members_by_gen"].end(); ++it) {
      auto ids = ids_of(it.value());
      if (!ids.ok()) return ids.status();
      r.members_by_gen[std::stoull(it.key())] = std::set<swarm::AccountId>(ids->begin(), ids->end());
    }
    auto joined = ids_of((*j)["joined"]);
    if (!joined.ok()) return joined.status();
    r.joined = std::set<swarm::AccountId>(joined->begin(), joined->end());
    r.removed = (*j)["removed"].get<bool>();
  } catch (const std::exception&) {
    return error(Code::kIo, "corrupt local group state");
  }
  return r;
}

Status Groups::save(const Record& r) {
  json j = {{"name", r.name},
            {"members", ids_json(r.members)},
            {"admins", ids_json(r.admins)},
            {"generation", r.generation},
            {"has_head", r.has_head},
            {"head_seq", r.head_seq},
            {"head_hash", to_hex(r.head_hash.view())},
            {"head_stored_ms", r.head_stored_ms},
            {"whole_read_ms", r.whole_read_ms},
            {"removed", r.removed}};
  json keys = json::object(), auth = json::object(), by_gen = json::object();
  for (const auto& [g, k] : r.keys) keys[std::to_string(g)] = to_hex(k.view());
  for (const auto& [g, k] : r.auth) auth[std::to_string(g)] = to_hex(k.view());
  for (const auto& [g, ids] : r.members_by_gen)
    by_gen[std::to_string(g)] = ids_json(std::vector<swarm::AccountId>(ids.begin(), ids.end()));
  j["keys"] = keys;
  j["auth"] = auth;
  j["members_by_gen"] = by_gen;
  j["joined"] = ids_json(std::vector<swarm::AccountId>(r.joined.begin(), r.joined.end()));
  if (r.group_seed) j["group_seed"] = to_hex(r.group_seed->view());
  if (Status s = client_.store().set_setting(record_key(r.id), j.dump()); !s.ok()) return s;
  // The index of joined groups.
  auto idx = client_.store().get_setting(kGroupsIndex);
  if (!idx.ok()) return idx.status();
  json list = json::array();
  if (idx->has_value()) {
    auto p = swarm::parse_json(**idx, 4, kMaxLocalJson);
    if (p.ok() && p->is_array()) list = *p;
  }
  const std::string id = r.id.to_string();
  if (std::find(list.begin(), list.end(), json(id)) == list.end()) {
    list.push_back(id);
    return client_.store().set_setting(kGroupsIndex, list.dump());
  }
  return {};
}

namespace {
Result<json> read_index(const LocalStore& store, const char* key) {
  auto idx = store.get_setting(key);
  if (!idx.ok()) return idx.status();
  if (!idx->has_value()) return json::array();
  auto p = swarm::parse_json(**idx, 4, kMaxLocalJson);
  if (!p.ok() || !p->is_array()) return error(Code::kIo, "corrupt local group index");
  return *p;
}
Status drop_from_index(LocalStore& store, const char* key, const std::string& id) {
  auto list = read_index(store, key);
  if (!list.ok()) return list.status();
  json out = json::array();
  for (const auto& v : *list)
    if (v != id) out.push_back(v);
  return store.set_setting(key, out.dump());
}
}  // namespace

Status Groups::forget(const swarm::AccountId& g) {
  if (Status s = client_.store().delete_setting(record_key(g)); !s.ok()) return s;
  return drop_from_index(client_.store(), kGroupsIndex, g.to_string());
}

// ---- control log ----------------------------------------------------------

namespace {
// The group's control log as one member holds it (pinned: the sequencer):
// its entries stored after after_ms (0: all) and when each was stored.
struct LogRead {
  std::vector<sg::ControlEntry> entries;
  std::map<crypto::Hash, uint64_t> stored_ms;
};

Result<LogRead> read_log(Client& client, const swarm::AccountId& g, const crypto::Ed25519KeyPair& signer, bool pinned,
                         uint64_t after_ms) {
  const crypto::Ed25519PublicKey pk = group_pk(g);
  LogRead out;
  RetrieveCursor cursor{after_ms, crypto::Hash{}};
  // Bounded: at most kMaxControlEntries items read, valid or not (a node
  // could answer page after page of items that do not parse).
  for (size_t items = 0; items < sg::kMaxControlEntries;) {
    swarm::rpc::RetrieveRequest req;
    req.account = g;
    req.ns = sg::kControlNamespace;
    req.after_timestamp_ms = cursor.timestamp_ms;
    req.after_hash = cursor.hash;
    req.limit = swarm::rpc::kMaxRetrieveLimit;
    auto answer = client.retrieve(g, std::move(req), signer, pinned);
    if (!answer.ok()) return answer.status();
    items += answer->messages.size();
    for (const auto& m : answer->messages) {
      cursor = RetrieveCursor{m.timestamp_ms, m.hash};
      auto e = sg::parse_control(m.data, pk);
      if (!e.ok()) continue;
      out.stored_ms[e->hash] = m.timestamp_ms;
      out.entries.push_back(std::move(*e));
    }
    if (!answer->more || answer->messages.empty()) break;
  }
  return out;
}

// The canonical chain of the whole log as one member holds it; kNotFound
// when it holds none.
Result<std::vector<sg::ControlEntry>> read_chain(Client& client, const swarm::AccountId& g,
                                                 const crypto::Ed25519KeyPair& signer, bool pinned,
                                                 std::map<crypto::Hash, uint64_t>* stored_ms) {
  auto log = read_log(client, g, signer, pinned, 0);
  if (!log.ok()) return log.status();
  *stored_ms = std::move(log->stored_ms);
  auto chain = sg::canonical_chain(std::move(log->entries));
  if (chain.empty()) return error(Code::kNotFound, "the group has no control log");
  return chain;
}
}  // namespace

Status Groups::sync_control(Record& r, bool keep, ReadAt at) {
  std::optional<crypto::Ed25519KeyPair> signer;
  if (r.group_seed) {
    auto kp = crypto::Ed25519KeyPair::from_seed(r.group_seed->view());
    if (!kp.ok()) return kp.status();
    signer = std::move(*kp);
  } else if (!r.auth.empty()) {
    auto kp = group::member_auth_key(r.auth.rbegin()->second);
    if (!kp.ok()) return kp.status();
    signer = std::move(*kp);
  } else {
    return error(Code::kUnauthorized, "no credential for this group");
  }
  std::map<crypto::Hash, uint64_t> stored_ms;
  const bool any_member = at == ReadAt::kAnyMember;
  // A poll whose last whole read is old reads the whole log again: an
  // entry a window missed and nothing else brought in is taken then.
  const bool whole_due = any_member && client_.network_now() - r.whole_read_ms >= whole_log_every_ms_;
  if (at != ReadAt::kSequencerWholeLog && !whole_due && r.has_head && r.head_stored_ms > 0 && !r.removed) {
    // Only the entries stored since shortly before the head this client
    // knew, and the head again, from which they continue. An entry's
    // timestamp is its admin's clock, within kMaxClockSkewMs of the node
    // that took it, and it is stored only after the entry before it: so it
    // is at most twice that before its predecessor's, plus how far apart
    // two nodes' clocks are when the sequencer changes. An entry the window
    // misses all the same is not lost for good: the entry after it is off
    // the chain this client can extend, which makes it read the whole log;
    // a message of a newer generation or from an unknown sender makes a
    // poll read it; and a message sealed with the key of a generation a
    // missed removal ended is signed with a credential the members refuse,
    // which makes the sender read it (resync) and seal it again.
    const uint64_t after = r.head_stored_ms > log_lookback_ms_ ? r.head_stored_ms - log_lookback_ms_ : 0;
    auto window = read_log(client_, r.id, *signer, /*pinned=*/!any_member, after);
    if (window.ok()) {
      auto next = sg::extend_chain(window->entries, r.head_seq, r.head_hash);
      if (next.ok()) {
        std::vector<sg::ControlEntry> chain;
        auto head = std::find_if(window->entries.begin(), window->entries.end(),
                                 [&](const sg::ControlEntry& e) { return e.hash == r.head_hash; });
        chain.push_back(std::move(*head));  // extend_chain found it
        for (auto& e : *next) chain.push_back(std::move(e));
        return take_chain(r, chain, window->stored_ms[chain.back().hash], /*from_genesis=*/false, keep);
      }
    }
    // The member refused, lacks the head (has not taken it yet), or holds a
    // fork, or the window holds an entry whose predecessor it missed: the
    // whole log, at the sequencer.
    auto chain = read_chain(client_, r.id, *signer, /*pinned=*/true, &stored_ms);
    if (!chain.ok()) return chain.status();
    return take_chain(r, *chain, stored_ms[chain->back().hash], /*from_genesis=*/true, keep);
  }
  auto read = read_chain(client_, r.id, *signer, /*pinned=*/!any_member, &stored_ms);
  // A member other than the sequencer may not hold the newest entries yet:
  // it refuses the newest credential, has no log yet, or its log lacks the
  // head this client knew. The sequencer's log is never behind this way,
  // and this client's record never goes back to an older head because of
  // such a member.
  if (any_member && (read.ok() ? r.has_head && !sg::chain_holds(*read, r.head_seq, r.head_hash)
                               : read.status().code() == Code::kUnauthorized ||
                                     read.status().code() == Code::kNotFound))
    read = read_chain(client_, r.id, *signer, /*pinned=*/true, &stored_ms);
  if (!read.ok()) return read.status();
  return take_chain(r, *read, stored_ms[read->back().hash], /*from_genesis=*/true, keep);
}

Status Groups::take_chain(Record& r, const std::vector<swarm::group::ControlEntry>& chain, uint64_t head_stored_ms,
                          bool from_genesis, bool keep) {
  const crypto::Ed25519PublicKey pk = group_pk(r.id);
  const auto& me = client_.identity();
  std::optional<group::GroupState> last;
  const sg::ControlEntry* last_entry = nullptr;
  if (from_genesis) r.members_by_gen.clear();
  for (const auto& e : chain) {
    auto body = group::split_body(e.body);
    if (!body.ok()) break;
    if (!body->keys.empty()) {
      auto k = group::unwrap_keys(body->keys, e.generation, pk, me.x25519());
      if (k.ok()) r.keys[e.generation] = std::move(*k);
    }
    auto key = r.keys.find(e.generation);
    if (key == r.keys.end()) continue;  // before we joined, or after we were removed
    auto st = group::open_state(pk, e, key->second);
    if (!st.ok()) {
      // Refused (e.g. more than kMaxMembers members): the state stays where it was.
      if (st.status().code() == Code::kInvalidArgument) break;
      continue;
    }
    r.auth[e.generation] = st->auth_seed.clone();
    r.members_by_gen[e.generation].insert(st->members.begin(), st->members.end());
    last = std::move(*st);
    last_entry = &e;
  }
  if (from_genesis) r.whole_read_ms = client_.network_now();
  r.has_head = true;
  r.head_seq = chain.back().seq;
  r.head_hash = chain.back().hash;
  r.head_stored_ms = head_stored_ms;
  if (!last || last_entry->hash != chain.back().hash || !last->is_member(me.account_id())) {
    r.removed = true;
    if (last) {
      r.name = last->name;
    }
    return keep ? save(r) : Status();
  }
  r.removed = false;
  r.name = last->name;
  r.members = last->members;
  r.admins = last->admins;
  r.generation = last_entry->generation;
  return keep ? save(r) : Status();
}

Status Groups::resync(Record& r, bool keep) {
  if (Status s = sync_control(r, keep, ReadAt::kSequencerWholeLog); !s.ok()) return s;
  if (r.removed) return error(Code::kUnauthorized, "this account is no longer in the group's roster");
  return {};
}

Status Groups::store_control(Record& r, const crypto::Ed25519KeyPair& group_key, uint64_t seq,
                             const crypto::Hash& prev, uint64_t generation, const group::GroupState& state,
                             const crypto::SecretBytes& key, ByteView keys) {
  auto entry = group::make_entry(group_key.public_key(), seq, prev, generation, state, key, keys);
  if (!entry.ok()) return entry.status();
  Bytes blob = sg::sign_control(group_key, *entry);
  if (blob.size() > swarm::rpc::kMaxDataBytes) return error(Code::kInvalidArgument, "control entry too large");
  swarm::rpc::StoreRequest req;
  req.account = r.id;
  req.ns = sg::kControlNamespace;
  req.ttl_ms = swarm::rpc::kMaxTtlMs;  // the node keeps control entries for good
  req.data = std::move(blob);
  auto j = client_.request(r.id, std::move(req), group_key, /*pinned=*/true);
  if (!j.ok()) return j.status();
  auto answer = swarm::rpc::parse_store_answer(*j);
  if (!answer.ok()) return answer.status();
  if (answer->hash != entry->hash) return error(Code::kInternal, "the swarm acknowledged a different entry");
  // Acknowledged by the group's sequencer, the only node that takes control
  // stores: the entry extends the one head there and no other entry can
  // take its place (docs/PROTOCOL.md 15.3).
  return {};
}

Status Groups::send_invite(const Record& r, const swarm::AccountId& to) {
  group::Invite inv;
  inv.group = r.id;
  inv.name = r.name;
  inv.generation = r.generation;
  auto k = r.keys.find(r.generation);
  auto a = r.auth.find(r.generation);
  if (k == r.keys.end() || a == r.auth.end()) return error(Code::kInternal, "no key for the current generation");
  inv.key = k->second.clone();
  inv.auth_seed = a->second.clone();
  auto sent = client_.send(to, group::encode_invite(inv));
  if (!sent.ok()) return error(sent.status().code(), "invitation to " + to.to_string() + " not sent: " + sent.status().message());
  return {};
}

Result<swarm::AccountId> Groups::create(const std::string& name, const std::vector<swarm::AccountId>& invitees) {
  const auto& me = client_.identity().account_id();
  group::GroupState st;
  st.name = name;
  st.members = {me};
  st.admins = {me};
  for (const auto& i : invitees) {
    if (!i.is_user()) return error(Code::kInvalidArgument, "only 05 accounts can be invited: " + i.to_string());
    sorted_insert(st.members, i);
  }
  st.auth_seed = random_secret();
  if (Status s = group::validate(st); !s.ok()) return s;  // before anything is sent
  const crypto::Ed25519KeyPair group_key = crypto::Ed25519KeyPair::generate();
  Record r;
  r.id = swarm::AccountId::group(group_key.public_key());
  r.name = name;
  r.members = st.members;
  r.admins = st.admins;
  r.generation = 0;
  r.keys[0] = random_secret();
  r.auth[0] = st.auth_seed.clone();
  r.group_seed = crypto::SecretBytes(group_key.seed());
  if (Status s = store_control(r, group_key, 0, crypto::Hash{}, 0, st, r.keys[0], {}); !s.ok()) return s;
  if (Status s = sync_control(r, /*keep=*/true, ReadAt::kSequencer); !s.ok()) return s;
  for (const auto& i : invitees)
    if (i != me)
      if (Status s = send_invite(r, i); !s.ok()) return s;
  return r.id;
}

// ---- invitations ------------------------------------------------------------

Status Groups::fetch_direct(std::vector<InboxEntry>* fresh_direct) {
  std::vector<InboxEntry> control;
  auto fresh = client_.fetch(&control);
  if (!fresh.ok()) return fresh.status();
  if (fresh_direct) *fresh_direct = std::move(*fresh);
  return handle_control(control);
}

Status Groups::handle_control(const std::vector<InboxEntry>& control) {
  for (const auto& e : control) {
    auto parsed = group::parse_control_text(e.text);
    if (!parsed.ok()) continue;  // malformed control messages are dropped
    if (auto* inv = std::get_if<group::Invite>(&*parsed)) {
      auto joined = client_.store().get_setting(record_key(inv->group));
      if (joined.ok() && joined->has_value()) continue;  // already joined
      json j = {{"text", e.text}, {"from", e.from}};
      if (Status s = client_.store().set_setting(invite_key(inv->group), j.dump()); !s.ok()) return s;
      auto list = read_index(client_.store(), kInvitesIndex);
      if (!list.ok()) return list.status();
      const std::string id = inv->group.to_string();
      if (std::find(list->begin(), list->end(), json(id)) == list->end()) {
        list->push_back(id);
        if (Status s = client_.store().set_setting(kInvitesIndex, list->dump()); !s.ok()) return s;
      }
    } else {
      auto& grant = std::get<group::AdminGrant>(*parsed);
      auto r = load(grant.group);
      if (!r.ok()) continue;  // only for groups this account joined
      r->group_seed = grant.group_seed.clone();
      if (Status s = save(*r); !s.ok()) return s;
    }
  }
  return {};
}

Result<std::vector<PendingInvite>> Groups::invites() const {
  auto list = read_index(client_.store(), kInvitesIndex);
  if (!list.ok()) return list.status();
  std::vector<PendingInvite> out;
  for (const auto& v : *list) {
    auto id = swarm::AccountId::parse(v.get<std::string>());
    if (!id.ok()) continue;
    auto raw = client_.store().get_setting(invite_key(*id));
    if (!raw.ok() || !raw->has_value()) continue;
    auto j = swarm::parse_json(**raw, 4, 1 << 20);
    if (!j.ok() || !j->is_object()) continue;
    auto parsed = group::parse_control_text((*j)["text"].get<std::string>());
    if (!parsed.ok()) continue;
    auto& inv = std::get<group::Invite>(*parsed);
    out.push_back({inv.group, inv.name, (*j)["from"].get<std::string>()});
  }
  return out;
}

Result<Groups::Record> Groups::invited_record(const swarm::AccountId& g) const {
  auto raw = client_.store().get_setting(invite_key(g));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return error(Code::kNotFound, "no invitation to group " + g.to_string());
  auto j = swarm::parse_json(**raw, 4, 1 << 20);
  if (!j.ok() || !j->is_object()) return error(Code::kIo, "corrupt invitation");
  auto parsed = group::parse_control_text((*j)["text"].get<std::string>());
  if (!parsed.ok()) return parsed.status();
  auto& inv = std::get<group::Invite>(*parsed);
  Record r;
  r.id = g;
  r.name = inv.name;
  r.generation = inv.generation;
  r.keys[inv.generation] = inv.key.clone();
  r.auth[inv.generation] = inv.auth_seed.clone();
  return r;
}

Status Groups::drop_invite(const swarm::AccountId& g) {
  if (Status s = client_.store().delete_setting(invite_key(g)); !s.ok()) return s;
  return drop_from_index(client_.store(), kInvitesIndex, g.to_string());
}

Status Groups::accept(const swarm::AccountId& g) {
  auto r = invited_record(g);
  if (!r.ok()) return r.status();
  if (Status s = sync_control(*r, /*keep=*/true, ReadAt::kSequencer); !s.ok())
    return error(s.code(), "cannot read the group: " + s.message());
  if (r->removed) {
    (void)forget(g);
    return error(Code::kUnauthorized, "this account is no longer in the group's roster");
  }
  if (Status s = store_group_message(*r, group::Kind::kJoin, "", nullptr, /*keep=*/true); !s.ok()) return s;
  r->joined.insert(client_.identity().account_id());
  if (Status s = save(*r); !s.ok()) return s;
  return drop_invite(g);  // the invitation is used up
}

Status Groups::decline(const swarm::AccountId& g, Status* notice) {
  auto r = invited_record(g);
  if (!r.ok() && r.status().code() == Code::kNotFound) return r.status();
  // A leave notice in the group's log: an admin's next fetch takes this
  // account out of the roster and rotates the key it was given. Without
  // it the admins would list it as invited for good. Nothing is kept
  // locally, and a group this account is in already is left alone.
  Status told = r.status();
  auto mine = load(g);
  const bool member = mine.ok() && !mine->removed;
  if (told.ok() && !member) told = sync_control(*r, /*keep=*/false, ReadAt::kSequencer);
  if (told.ok() && !member && !r->removed)
    told = store_group_message(*r, group::Kind::kLeave, "", nullptr, /*keep=*/false);
  if (notice) *notice = told;
  return drop_invite(g);  // whether or not the group was told
}

// ---- messages ---------------------------------------------------------------

// Whatever a member stores (a message, a join or leave notice) follows a
// read of the log at the sequencer, not at a random member: one that has not
// taken a removal yet would have the client seal it with the key of the
// generation before, which the removed member holds, and would take it.
// That read is a window (sync_control); should it miss a removal all the
// same, the members, which take every control entry at once, refuse the
// old generation's credential, and the message is sealed again after a
// read of the whole log.
Status Groups::store_group_message(Record& r, group::Kind kind, std::string_view text, SendResult* out, bool keep) {
  if (r.removed) return error(Code::kUnauthorized, "this account is not a member of the group");
  crypto::Hash hash;
  // Sealed with the key, and signed with the credential, of r's generation
  // when sent: the resync after a refusal may have moved it on.
  auto store = [&](bool pinned) -> Result<nlohmann::json> {
    auto key = r.keys.find(r.generation);
    auto seed = r.auth.find(r.generation);
    if (key == r.keys.end() || seed == r.auth.end())
      return error(Code::kUnauthorized, "no key for the group's current generation");
    auto auth = group::member_auth_key(seed->second);
    if (!auth.ok()) return auth.status();
    auto blob = group::seal_group_message(group_pk(r.id), r.generation, key->second, client_.identity().ed25519(),
                                          kind, client_.network_now(), text);
    if (!blob.ok()) return blob.status();
    if (blob->size() > swarm::rpc::kMaxDataBytes) return error(Code::kInvalidArgument, "message too large");
    hash = crypto::hash(*blob);
    swarm::rpc::StoreRequest req;
    req.account = r.id;
    req.ns = sg::kMessagesNamespace;
    req.data = std::move(*blob);
    return client_.request(r.id, std::move(req), *auth, pinned);
  };
  auto j = at_any_member(store, [&] { return resync(r, keep); });
  if (!j.ok()) return j.status();
  auto answer = swarm::rpc::parse_store_answer(*j);
  if (!answer.ok()) return answer.status();
  if (answer->hash != hash) return error(Code::kInternal, "the swarm acknowledged a different message hash");
  if (out) {
    out->hash = hash;
    out->existed = answer->existed;
    if (client_.last_route()) out->route = *client_.last_route();
  }
  return {};
}

Result<SendResult> Groups::send(const swarm::AccountId& g, std::string_view text) {
  auto r = load(g);
  if (!r.ok()) return r.status();
  if (Status s = sync_control(*r, /*keep=*/true, ReadAt::kSequencer); !s.ok()) return s;
  SendResult out;
  if (Status s = store_group_message(*r, group::Kind::kText, text, &out, /*keep=*/true); !s.ok()) return s;
  return out;
}

Result<std::vector<InboxEntry>> Groups::fetch() {
  auto list = read_index(client_.store(), kGroupsIndex);
  if (!list.ok()) return list.status();
  // As in Client::fetch: a page is kept (marked seen) before the next one is
  // asked for, so whatever was kept is returned, and a failure after that
  // ends the fetch early without an error. Join and leave notices read
  // before a failure still update the record (saved) and the roster.
  std::vector<InboxEntry> all;
  Status stopped;  // why the fetch ended early
  for (const auto& v : *list) {
    auto id = swarm::AccountId::parse(v.get<std::string>());
    if (!id.ok()) continue;
    auto r = load(*id);
    if (!r.ok()) continue;
    if (Status s = sync_control(*r, /*keep=*/true, ReadAt::kAnyMember); !s.ok()) {
      stopped = s;
      break;
    }
    if (r->removed) continue;
    const std::string gid = id->to_string();
    auto stored = client_.store().cursor(gid, sg::kMessagesNamespace);
    if (!stored.ok()) {
      stopped = stored.status();
      break;
    }
    RetrieveCursor page = *stored;
    std::optional<uint64_t> last_seen;  // of the last page kept
    uint64_t node_now = 0;
    bool catching_up = false;  // a page kept came from a node still catching up
    std::vector<swarm::AccountId> leavers;
    // The log was read at a random member, which may not have taken the
    // newest entries: a message of a newer generation, or from a sender
    // this client does not know in its generation (just added), makes it
    // read the log again at the sequencer, once per group and fetch, before
    // it drops the message as not meant for it. True when that read ended
    // with this account in the roster.
    bool refreshed = false;
    auto refresh = [&] {
      if (refreshed) return false;
      refreshed = true;
      if (Status s = sync_control(*r, /*keep=*/true, ReadAt::kSequencerWholeLog); !s.ok()) {
        stopped = s;
        return false;
      }
      return !r->removed;
    };
    for (int n = 0; n < kMaxFetchPages; ++n) {
      swarm::rpc::RetrieveRequest req;
      req.account = *id;
      req.ns = sg::kMessagesNamespace;
      req.after_timestamp_ms = page.timestamp_ms;
      req.after_hash = page.hash;
      req.limit = swarm::rpc::kDefaultRetrieveLimit;
      // Signed with the credential of r's generation when sent: the resync
      // after a refusal may have moved it on.
      auto answer = at_any_member(
          [&](bool pinned) -> Result<swarm::rpc::RetrieveAnswer> {
            auto auth = group::member_auth_key(r->auth[r->generation]);
            if (!auth.ok()) return auth.status();
            return client_.retrieve(*id, req, *auth, pinned);
          },
          [&] {
            refreshed = true;
            return resync(*r, /*keep=*/true);
          });
      if (!answer.ok()) {
        // Out of the roster, as the sequencer's log says: as when the first
        // read of the log finds so, the group is skipped, not an error.
        if (!r->removed) stopped = answer.status();
        break;
      }
      std::optional<uint64_t> page_last_seen;
      RetrieveCursor next_page = page;
      std::vector<InboxEntry> entries;
      std::vector<crypto::Hash> other;  // seen, not shown
      for (const auto& item : answer->messages) {
        page_last_seen = item.timestamp_ms;
        next_page = RetrieveCursor{item.timestamp_ms, item.hash};
        const crypto::Hash hash = crypto::hash(item.data);
        auto seen = client_.store().seen(hash);
        if (!seen.ok()) {
          stopped = seen.status();
          break;
        }
        if (*seen) continue;
        auto gen = group::message_generation(item.data);
        auto key = gen.ok() ? r->keys.find(*gen) : r->keys.end();
        if (key == r->keys.end() && gen.ok() && *gen > r->generation && refresh()) key = r->keys.find(*gen);
        if (!stopped.ok()) break;
        if (key == r->keys.end()) {
          other.push_back(hash);
          continue;
        }
        auto m = group::open_group_message(group_pk(*id), key->second, item.data);
        // Only messages signed by a member of that generation are accepted.
        auto known = [&] { return r->members_by_gen[m->generation].count(m->sender) > 0; };
        if (m.ok() && !known()) (void)refresh();
        if (!stopped.ok()) break;
        if (!m.ok() || !known()) {
          other.push_back(hash);
          continue;
        }
        if (m->kind == group::Kind::kJoin) {
          r->joined.insert(m->sender);
          other.push_back(hash);
        } else if (m->kind == group::Kind::kLeave) {
          r->joined.erase(m->sender);
          leavers.push_back(m->sender);
          other.push_back(hash);
        } else {
          InboxEntry e;
          e.hash = hash;
          e.timestamp_ms = m->timestamp_ms;
          e.received_ms = client_.network_now();
          e.from = m->sender.to_string();
          e.text = std::move(m->text);
          e.verified = true;
          e.group = gid;
          entries.push_back(std::move(e));
        }
      }
      if (!stopped.ok()) break;
      if (Status s = client_.store().mark_seen(other); !s.ok()) {
        stopped = s;
        break;
      }
      auto added = client_.store().add_all(entries);
      if (!added.ok()) {
        stopped = added.status();
        break;
      }
      for (size_t i = 0; i < entries.size(); ++i)
        if ((*added)[i]) all.push_back(std::move(entries[i]));
      page = next_page;
      if (page_last_seen) last_seen = page_last_seen;
      node_now = answer->now_ms;
      catching_up = catching_up || answer->catching_up;
      if (!answer->more || answer->messages.empty()) break;
    }
    auto keep = [&](Status s) {
      if (stopped.ok()) stopped = std::move(s);
    };
    keep(save(*r));
    keep(client_.store().set_cursor(gid, sg::kMessagesNamespace, next_cursor(*stored, last_seen, node_now, catching_up)));
    // An admin acts on leave notices of members still in the roster.
    if (r->group_seed) {
      std::vector<swarm::AccountId> to_remove;
      for (const auto& l : leavers)
        if (std::binary_search(r->members.begin(), r->members.end(), l) &&
            !std::binary_search(r->admins.begin(), r->admins.end(), l))
          to_remove.push_back(l);
      if (!to_remove.empty()) keep(remove(*id, to_remove));
    }
    if (!stopped.ok()) break;
  }
  if (!all.empty()) return all;  // a later fetch resumes where this one stopped
  if (!stopped.ok()) return stopped;
  return all;
}

// ---- info -------------------------------------------------------------------

Result<std::vector<GroupInfo>> Groups::list() const {
  auto list = read_index(client_.store(), kGroupsIndex);
  if (!list.ok()) return list.status();
  std::vector<GroupInfo> out;
  for (const auto& v : *list) {
    auto id = swarm::AccountId::parse(v.get<std::string>());
    if (!id.ok()) continue;
    auto r = load(*id);
    if (r.ok()) out.push_back(r->info());
  }
  return out;
}

Result<GroupInfo> Groups::info(const swarm::AccountId& g, bool sync) {
  auto r = load(g);
  if (!r.ok()) return r.status();
  if (sync)
    if (Status s = sync_control(*r, /*keep=*/true, ReadAt::kAnyMember); !s.ok()) return s;
  return r->info();
}

std::optional<std::string> Groups::name_of(const std::string& group_id) const {
  auto id = swarm::AccountId::parse(group_id);
  if (!id.ok()) return std::nullopt;
  auto r = load(*id);
  if (!r.ok()) return std::nullopt;
  return r->name;
}

Result<std::vector<crypto::SecretBytes>> Groups::held_keys(const swarm::AccountId& g) const {
  auto r = load(g);
  if (!r.ok()) return r.status();
  std::vector<crypto::SecretBytes> out;
  for (const auto& [gen, k] : r->keys) out.push_back(k.clone());
  return out;
}

Result<crypto::Ed25519KeyPair> Groups::credential(const swarm::AccountId& g) const {
  auto r = load(g);
  if (!r.ok()) return r.status();
  if (r->auth.empty()) return error(Code::kNotFound, "no credential");
  return group::member_auth_key(r->auth.rbegin()->second);
}

// ---- admin changes ----------------------------------------------------------

Status Groups::change(const swarm::AccountId& g,
                      const std::function<Status(group::GroupState&, bool& rotate)>& mutate,
                      std::vector<swarm::AccountId>* members_before, const std::string& what) {
  auto loaded = load(g);
  if (!loaded.ok()) return loaded.status();
  Record r = std::move(*loaded);
  if (!r.group_seed) return error(Code::kUnauthorized, "only admins can " + what + " (this account is not an admin of the group)");
  auto group_key = crypto::Ed25519KeyPair::from_seed(r.group_seed->view());
  if (!group_key.ok()) return group_key.status();
  Status last = error(Code::kConflict, "the group kept changing; try again");
  bool sent_once = false;        // an earlier attempt's entry may have landed (its answer was lost)
  int sequencer_refusals = 0;
  std::mt19937_64 rng(std::random_device{}());
  // Bounded: a conflict means another admin's change landed first (or our
  // own did and its answer was lost); re-read and re-apply.
  for (int attempt = 0; attempt < kMaxGroupChangeAttempts; ++attempt) {
    if (attempt > 0) {
      // Back off a random while, so that two admins retrying do not meet
      // at the sequencer's lock again and again.
      std::uniform_int_distribution<int> jitter(50, 150 * std::min(attempt, 4));
      std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
    }
    // After a conflict the whole log: the window may have missed the entry
    // the sequencer's head is.
    if (Status s = sync_control(r, /*keep=*/true, attempt == 0 ? ReadAt::kSequencer : ReadAt::kSequencerWholeLog);
        !s.ok())
      return s;
    if (r.removed) return error(Code::kUnauthorized, "this account is no longer in the group's roster");
    if (members_before && attempt == 0) *members_before = r.members;
    group::GroupState next = r.state();
    bool rotate = false;
    if (Status s = mutate(next, rotate); !s.ok()) {
      // Our earlier attempt landed after all (only its answer was lost), or
      // another admin made the same change: nothing left to do.
      if (s.code() == Code::kNotFound && sent_once) return {};
      return s;
    }
    if (!rotate && next.members == r.members && next.admins == r.admins && next.name == r.name) return {};
    if (Status s = group::validate(next); !s.ok()) return s;  // before anything is sent
    uint64_t generation = r.generation;
    crypto::SecretBytes key = r.keys[generation].clone();
    Bytes keys;
    if (rotate) {
      ++generation;
      key = random_secret();
      next.auth_seed = random_secret();
      std::vector<crypto::X25519PublicKey> recipients;
      for (const auto& m : next.members) recipients.push_back(m.x25519());
      keys = group::wrap_keys(key, generation, group_key->public_key(), recipients);
    }
    sent_once = true;
    Status s = store_control(r, *group_key, r.head_seq + 1, r.head_hash, generation, next, key, keys);
    if (s.code() == Code::kConflict) {
      last = s;
      // A member other than the sequencer answered: the sequencer failed
      // during this request (timeout) and the client moved on.
      if (s.message().find("sequencer") != std::string::npos && ++sequencer_refusals >= 2)
        return error(Code::kUnavailable, "the group's sequencer node (the member of its swarm with the smallest "
                                         "X25519 key) does not answer; try again later");
      continue;
    }
    if (!s.ok()) return s;
    if (rotate) {
      r.keys[generation] = key.clone();
    }
    return sync_control(r, /*keep=*/true, ReadAt::kSequencer);
  }
  return last;
}

Status Groups::add(const swarm::AccountId& g, const std::vector<swarm::AccountId>& accounts) {
  std::vector<swarm::AccountId> before;
  Status s = change(
      g,
      [&](group::GroupState& st, bool&) {
        for (const auto& a : accounts) {
          if (!a.is_user()) return error(Code::kInvalidArgument, "only 05 accounts can be added: " + a.to_string());
          sorted_insert(st.members, a);
        }
        return Status();
      },
      &before, "add members");
  if (!s.ok()) return s;
  auto r = load(g);
  if (!r.ok()) return r.status();
  // Everyone asked for who is in the roster now and was not before the
  // change (also when an attempt whose answer was lost added them).
  std::set<swarm::AccountId> invited;
  for (const auto& a : accounts)
    if (r->is_member(a) && !std::binary_search(before.begin(), before.end(), a) && invited.insert(a).second)
      if (Status s2 = send_invite(*r, a); !s2.ok()) return s2;
  return {};
}

Status Groups::remove(const swarm::AccountId& g, const std::vector<swarm::AccountId>& accounts) {
  return change(
      g,
      [&](group::GroupState& st, bool& rotate) {
        for (const auto& a : accounts) {
          if (st.is_admin(a) && a != client_.identity().account_id())
            return error(Code::kInvalidArgument,
                         "an admin holds the group key for good and cannot be removed: create a successor group "
                         "without them (docs/PROTOCOL.md, \"Closed groups\")");
          auto it = std::lower_bound(st.members.begin(), st.members.end(), a);
          if (it == st.members.end() || *it != a) continue;  // already gone: nothing to do for it
          st.members.erase(it);
          auto ad = std::lower_bound(st.admins.begin(), st.admins.end(), a);
          if (ad != st.admins.end() && *ad == a) st.admins.erase(ad);
          rotate = true;
        }
        if (!rotate) return error(Code::kNotFound, "none of these accounts is a member");
        // Checked on the synced state, not the local one: another admin may
        // have left or been promoted since. A group whose members remain
        // needs an admin, or nobody could ever add, remove or rotate again.
        if (st.admins.empty() && !st.members.empty())
          return error(Code::kInvalidArgument, "the last admin cannot leave: promote another member first");
        return Status();
      },
      nullptr, "remove members");
}

Status Groups::promote(const swarm::AccountId& g, const swarm::AccountId& account,
                       std::vector<InboxEntry>* fetched) {
  // Only a member who has joined: one still invited could decline after the
  // grant and keep the group key, and admins cannot be removed. Joins are
  // learnt from the group's log, so read it first when this one is unknown.
  auto has_joined = [&]() -> Result<bool> {
    auto r = load(g);
    if (!r.ok()) return r.status();
    return r->joined.count(account) > 0 || std::binary_search(r->admins.begin(), r->admins.end(), account);
  };
  auto joined = has_joined();
  if (!joined.ok()) return joined.status();
  if (!*joined) {
    auto fresh = fetch();
    if (!fresh.ok()) return fresh.status();
    if (fetched)
      for (auto& e : *fresh) fetched->push_back(std::move(e));
    joined = has_joined();
    if (!joined.ok()) return joined.status();
    if (!*joined) {
      auto r = load(g);
      if (r.ok() && !r->is_member(account)) return error(Code::kInvalidArgument, "only a member can become an admin");
      return error(Code::kInvalidArgument, account.to_string() +
                                               " has not accepted the invitation yet: only a member who joined can "
                                               "become an admin (one still invited could decline and keep the key)");
    }
  }
  Status s = change(
      g,
      [&](group::GroupState& st, bool&) {
        if (!st.is_member(account)) return error(Code::kInvalidArgument, "only a member can become an admin");
        sorted_insert(st.admins, account);
        return Status();
      },
      nullptr, "promote members");
  if (!s.ok()) return s;
  auto r = load(g);
  if (!r.ok()) return r.status();
  group::AdminGrant grant;
  grant.group = g;
  grant.group_seed = r->group_seed->clone();
  auto sent = client_.send(account, group::encode_admin_grant(grant));
  if (!sent.ok()) return error(sent.status().code(), "the group key was not sent: " + sent.status().message());
  return {};
}

Status Groups::rename(const swarm::AccountId& g, const std::string& name) {
  return change(
      g,
      [&](group::GroupState& st, bool&) {
        st.name = name;
        return Status();
      },
      nullptr, "rename the group");
}

Status Groups::leave(const swarm::AccountId& g) {
  auto r = load(g);
  if (!r.ok()) return r.status();
  if (Status s = sync_control(*r, /*keep=*/true, ReadAt::kSequencer); !s.ok()) return s;
  // Already out of the roster (an admin too): only the local state is left.
  if (!r->removed) {
    if (r->group_seed) {
      Status s = remove(g, {client_.identity().account_id()});
      if (!s.ok() && s.code() != Code::kNotFound) return s;
    } else if (Status s = store_group_message(*r, group::Kind::kLeave, "", nullptr, /*keep=*/true);
               !s.ok() && !r->removed) {  // removed: the notice was refused, the whole log read says so
      return s;
    }
  }
  return forget(g);
}

}  // namespace onionswarm::client
