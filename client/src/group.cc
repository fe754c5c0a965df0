#include "client/group.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "client/envelope.h"
#include "onion/encoding.h"
#include "swarm/json.h"

namespace onionswarm::client::group {
namespace {

using nlohmann::json;

constexpr std::string_view kStateDomain = "onionswarm/group-state/v1";
constexpr std::string_view kKeysDomain = "onionswarm/group-keys/v1";
constexpr std::string_view kMsgDomain = "onionswarm/group-msg/v1";
constexpr uint8_t kMessageVersion = 1;
constexpr size_t kPadBlock = 256;
constexpr size_t kMaxStateBytes = 16 * 1024;
constexpr std::string_view kInviteKind = "invite\n";
constexpr std::string_view kAdminKind = "admin\n";

Status bad(const std::string& what) { return error(Code::kInvalidArgument, what); }

Bytes domain(std::string_view d) { return Bytes(d.begin(), d.end()); }

Bytes state_ad(const crypto::Ed25519PublicKey& group, const swarm::group::ControlEntry& e) {
  Bytes ad = domain(kStateDomain);
  append(ad, group.view());
  put_u64(ad, e.seq);
  put_u64(ad, e.generation);
  append(ad, e.member_auth.view());
  return ad;
}

Bytes msg_ad(const crypto::Ed25519PublicKey& group, uint64_t generation) {
  Bytes ad = domain(kMsgDomain);
  append(ad, group.view());
  put_u64(ad, generation);
  return ad;
}

crypto::SecretBytes slot_key(const crypto::SecretBytes& shared, const crypto::X25519PublicKey& eph,
                             const crypto::X25519PublicKey& member, uint64_t generation) {
  crypto::SecretBytes input(shared.size() + 64 + 8);
  uint8_t* p = input.data();
  std::memcpy(p, shared.data(), shared.size());
  p += shared.size();
  std::memcpy(p, eph.data(), 32);
  std::memcpy(p + 32, member.data(), 32);
  Bytes g;
  put_u64(g, generation);
  std::memcpy(p + 64, g.data(), 8);
  Bytes k = crypto::blake2b(input.view(), crypto::kKeySize, as_bytes(kKeysDomain));
  crypto::SecretBytes out(k);
  std::fill(k.begin(), k.end(), 0);
  return out;
}

Result<std::vector<swarm::AccountId>> ids_from_json(const json& j, const char* field) {
  if (!j.is_array() || j.size() > kMaxMembers)
    return bad(std::string(field) + ": expected an array of at most " + std::to_string(kMaxMembers) + " account IDs");
  std::vector<swarm::AccountId> out;
  for (const auto& v : j) {
    if (!v.is_string()) return bad(std::string(field) + ": expected strings");
    auto id = swarm::AccountId::parse(v.get_ref<const std::string&>());
    if (!id.ok() || !id->is_user()) return bad(std::string(field) + ": expected 05 account IDs");
    out.push_back(*id);
  }
  return out;
}

json ids_to_json(const std::vector<swarm::AccountId>& ids) {
  json a = json::array();
  for (const auto& id : ids) a.push_back(id.to_string());
  return a;
}

bool sorted_unique(const std::vector<swarm::AccountId>& v) {
  for (size_t i = 1; i < v.size(); ++i)
    if (!(v[i - 1] < v[i])) return false;
  return true;
}

Bytes pad_text(std::string_view text) {
  Bytes padded;
  put_u32(padded, uint32_t(text.size()));
  append(padded, as_bytes(text));
  padded.resize((padded.size() + kPadBlock - 1) / kPadBlock * kPadBlock, 0);
  return padded;
}

Bytes message_signing_bytes(const crypto::Ed25519PublicKey& group, uint64_t generation, Kind kind,
                            uint64_t timestamp_ms, ByteView padded) {
  Bytes s = msg_ad(group, generation);
  s.push_back(uint8_t(kind));
  put_u64(s, timestamp_ms);
  append(s, padded);
  return s;
}

Result<crypto::SecretBytes> secret_from_hex(const json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_string()) return bad(std::string(field) + ": missing");
  auto b = from_hex(j[field].get_ref<const std::string&>(), crypto::kKeySize);
  if (!b.ok() || b->size() != crypto::kKeySize) return bad(std::string(field) + ": expected 64 hex characters");
  crypto::SecretBytes s(*b);
  std::fill(b->begin(), b->end(), 0);
  return s;
}

}  // namespace

GroupState GroupState::clone() const {
  GroupState s;
  s.name = name;
  s.members = members;
  s.admins = admins;
  s.auth_seed = auth_seed.clone();
  return s;
}

bool GroupState::is_member(const swarm::AccountId& a) const {
  return std::binary_search(members.begin(), members.end(), a);
}
bool GroupState::is_admin(const swarm::AccountId& a) const {
  return std::binary_search(admins.begin(), admins.end(), a);
}

Status validate(const GroupState& s) {
  if (s.name.empty() || s.name.size() > kMaxNameBytes)
    return bad("group name must be 1.." + std::to_string(kMaxNameBytes) + " bytes");
  if (s.members.size() > kMaxMembers)
    return bad("a group has at most " + std::to_string(kMaxMembers) + " members (this would have " +
               std::to_string(s.members.size()) + ")");
  if (!sorted_unique(s.members) || !sorted_unique(s.admins)) return bad("members and admins must be sorted and unique");
  for (const auto& m : s.members)
    if (!m.is_user()) return bad("members must be 05 accounts");
  for (const auto& a : s.admins)
    if (!s.is_member(a)) return bad("every admin must be a member");
  if (s.auth_seed.size() != crypto::kSeedSize) return bad("member credential seed must be 32 bytes");
  return {};
}

Result<crypto::Ed25519KeyPair> member_auth_key(const crypto::SecretBytes& auth_seed) {
  return crypto::Ed25519KeyPair::from_seed(auth_seed.view());
}

Bytes wrap_keys(const crypto::SecretBytes& key, uint64_t generation, const crypto::Ed25519PublicKey& group,
                const std::vector<crypto::X25519PublicKey>& recipients,
                const std::optional<crypto::X25519KeyPair>& eph_in) {
  const crypto::X25519KeyPair eph = eph_in ? eph_in->clone() : crypto::X25519KeyPair::generate();
  std::vector<Bytes> slots;
  const Bytes zero_nonce(crypto::kNonceSize, 0);
  for (const auto& r : recipients) {
    auto shared = crypto::x25519(eph.secret(), r);
    if (!shared.ok()) continue;  // a low-order key cannot be a member's
    const crypto::SecretBytes k = slot_key(*shared, eph.public_key(), r, generation);
    slots.push_back(crypto::aead_encrypt(k, zero_nonce, key.view(), group.view()));
  }
  std::sort(slots.begin(), slots.end());  // the order says nothing about who is who
  Bytes out;
  append(out, eph.public_key().view());
  out.push_back(uint8_t(slots.size() >> 8));
  out.push_back(uint8_t(slots.size()));
  for (const auto& s : slots) append(out, s);
  return out;
}

Result<crypto::SecretBytes> unwrap_keys(ByteView keys, uint64_t generation, const crypto::Ed25519PublicKey& group,
                                        const crypto::X25519KeyPair& me) {
  if (keys.size() < 34) return bad("keys block: truncated");
  auto eph = crypto::X25519PublicKey::from(keys.subspan(0, 32));
  const size_t count = size_t(keys[32]) << 8 | keys[33];
  if (count > kMaxMembers || keys.size() != 34 + count * kSlotSize) return bad("keys block: bad slot count");
  auto shared = crypto::x25519(me.secret(), *eph);
  if (!shared.ok()) return bad("keys block: bad ephemeral key");
  const crypto::SecretBytes k = slot_key(*shared, *eph, me.public_key(), generation);
  const Bytes zero_nonce(crypto::kNonceSize, 0);
  for (size_t i = 0; i < count; ++i) {
    auto opened = crypto::aead_decrypt(k, zero_nonce, keys.subspan(34 + i * kSlotSize, kSlotSize), group.view());
    if (opened.ok()) {
      crypto::SecretBytes out(*opened);
      std::fill(opened->begin(), opened->end(), 0);
      return out;
    }
  }
  return error(Code::kNotFound, "no key in this keys block is for this account");
}

Result<swarm::group::ControlEntry> make_entry(const crypto::Ed25519PublicKey& group, uint64_t seq,
                                              const crypto::Hash& prev, uint64_t generation,
                                              const GroupState& state, const crypto::SecretBytes& key,
                                              ByteView keys, ByteView nonce_in) {
  if (auto st = validate(state); !st.ok()) return st;
  auto auth = member_auth_key(state.auth_seed);
  if (!auth.ok()) return auth.status();
  swarm::group::ControlEntry e;
  e.seq = seq;
  e.prev = prev;
  e.generation = generation;
  e.member_auth = auth->public_key();
  json j = {{"name", state.name},
            {"members", ids_to_json(state.members)},
            {"admins", ids_to_json(state.admins)},
            {"auth_seed", to_hex(state.auth_seed.view())}};
  std::string text = j.dump();
  crypto::SecretBytes plain(as_bytes(text));
  std::fill(text.begin(), text.end(), '\0');
  const Bytes nonce = nonce_in.empty() ? crypto::random_bytes(crypto::kNonceSize) : Bytes(nonce_in.begin(), nonce_in.end());
  if (nonce.size() != crypto::kNonceSize) return bad("nonce must be 24 bytes");
  const Bytes ct = crypto::aead_encrypt(key, nonce, plain.view(), state_ad(group, e));
  put_u32(e.body, uint32_t(keys.size()));
  append(e.body, keys);
  append(e.body, nonce);
  append(e.body, ct);
  if (e.body.size() > swarm::group::kMaxControlBody) return bad("control entry too large");
  return e;
}

Result<OpenedBody> split_body(ByteView body) {
  if (body.size() < 4) return bad("control body: truncated");
  const uint32_t keys_len = get_u32(body.data());
  if (body.size() < 4 + size_t(keys_len) + crypto::kNonceSize + crypto::kTagSize) return bad("control body: truncated");
  OpenedBody o;
  o.keys.assign(body.begin() + 4, body.begin() + 4 + keys_len);
  auto rest = body.subspan(4 + keys_len);
  o.nonce.assign(rest.begin(), rest.begin() + crypto::kNonceSize);
  o.ciphertext.assign(rest.begin() + crypto::kNonceSize, rest.end());
  return o;
}

Result<GroupState> open_state(const crypto::Ed25519PublicKey& group, const swarm::group::ControlEntry& e,
                              const crypto::SecretBytes& key) {
  auto body = split_body(e.body);
  if (!body.ok()) return body.status();
  auto plain = crypto::aead_decrypt(key, body->nonce, body->ciphertext, state_ad(group, e));
  if (!plain.ok()) return error(Code::kUnauthorized, "the group state does not open with this key");
  crypto::SecretBytes guard(*plain);  // wiped on return
  std::fill(plain->begin(), plain->end(), 0);
  if (guard.size() > kMaxStateBytes) return bad("group state too large");
  auto j = swarm::parse_json(as_chars(guard.view()), 4, kMaxStateBytes);
  if (!j.ok()) return bad("group state: " + j.status().message());
  if (!j->is_object() || j->size() != 4 || !j->contains("name") || !(*j)["name"].is_string() ||
      !j->contains("members") || !j->contains("admins"))
    return bad("group state: expected name, members, admins, auth_seed");
  GroupState s;
  s.name = (*j)["name"].get<std::string>();
  auto members = ids_from_json((*j)["members"], "members");
  if (!members.ok()) return members.status();
  auto admins = ids_from_json((*j)["admins"], "admins");
  if (!admins.ok()) return admins.status();
  s.members = std::move(*members);
  s.admins = std::move(*admins);
  auto seed = secret_from_hex(*j, "auth_seed");
  if (!seed.ok()) return seed.status();
  s.auth_seed = std::move(*seed);
  (*j)["auth_seed"] = "";
  if (auto st = validate(s); !st.ok()) return st;
  auto auth = member_auth_key(s.auth_seed);
  if (!auth.ok() || auth->public_key() != e.member_auth)
    return bad("group state: the credential seed does not match the entry's member_auth");
  return s;
}

Result<Bytes> seal_group_message(const crypto::Ed25519PublicKey& group, uint64_t generation,
                                 const crypto::SecretBytes& key, const crypto::Ed25519KeyPair& sender, Kind kind,
                                 uint64_t timestamp_ms, std::string_view text, ByteView nonce_in) {
  if (text.size() > kMaxTextBytes) return bad("message text is longer than " + std::to_string(kMaxTextBytes) + " bytes");
  const Bytes padded = pad_text(text);
  const crypto::Signature sig = sender.sign(message_signing_bytes(group, generation, kind, timestamp_ms, padded));
  Bytes inner_bytes;
  inner_bytes.push_back(uint8_t(kind));
  append(inner_bytes, sender.public_key().view());
  put_u64(inner_bytes, timestamp_ms);
  append(inner_bytes, sig.view());
  append(inner_bytes, padded);
  crypto::SecretBytes inner(inner_bytes);
  std::fill(inner_bytes.begin(), inner_bytes.end(), 0);
  const Bytes nonce = nonce_in.empty() ? crypto::random_bytes(crypto::kNonceSize) : Bytes(nonce_in.begin(), nonce_in.end());
  if (nonce.size() != crypto::kNonceSize) return bad("nonce must be 24 bytes");
  Bytes out;
  out.push_back(kMessageVersion);
  put_u64(out, generation);
  append(out, nonce);
  append(out, crypto::aead_encrypt(key, nonce, inner.view(), msg_ad(group, generation)));
  return out;
}

Result<uint64_t> message_generation(ByteView blob) {
  if (blob.size() < 1 + 8 + crypto::kNonceSize + crypto::kTagSize) return bad("group message: truncated");
  if (blob[0] != kMessageVersion) return bad("group message: unknown version");
  return get_u64(blob.data() + 1);
}

Result<GroupMessage> open_group_message(const crypto::Ed25519PublicKey& group, const crypto::SecretBytes& key,
                                        ByteView blob) {
  auto gen = message_generation(blob);
  if (!gen.ok()) return gen.status();
  auto plain = crypto::aead_decrypt(key, blob.subspan(9, crypto::kNonceSize), blob.subspan(9 + crypto::kNonceSize),
                                    msg_ad(group, *gen));
  if (!plain.ok()) return error(Code::kUnauthorized, "group message does not open with this generation's key");
  crypto::SecretBytes inner(*plain);
  std::fill(plain->begin(), plain->end(), 0);
  ByteView v = inner.view();
  constexpr size_t kFixed = 1 + 32 + 8 + 64;
  if (v.size() < kFixed + 4 || (v.size() - kFixed) % kPadBlock != 0) return bad("group message: bad inner length");
  GroupMessage m;
  if (v[0] < uint8_t(Kind::kText) || v[0] > uint8_t(Kind::kJoin)) return bad("group message: unknown kind");
  m.kind = Kind(v[0]);
  m.sender_ed25519 = *crypto::Ed25519PublicKey::from(v.subspan(1, 32));
  m.timestamp_ms = get_u64(v.data() + 33);
  const crypto::Signature sig = *crypto::Signature::from(v.subspan(41, 64));
  ByteView padded = v.subspan(kFixed);
  const uint32_t len = get_u32(padded.data());
  if (len > padded.size() - 4 || len > kMaxTextBytes) return bad("group message: bad text length");
  for (size_t i = 4 + len; i < padded.size(); ++i)
    if (padded[i] != 0) return bad("group message: non-zero padding");
  if (!crypto::verify(m.sender_ed25519, message_signing_bytes(group, *gen, m.kind, m.timestamp_ms, padded), sig))
    return error(Code::kUnauthorized, "group message: bad sender signature");
  auto x = crypto::ed25519_to_x25519(m.sender_ed25519);
  if (!x.ok()) return error(Code::kUnauthorized, "group message: bad sender key");
  m.sender = swarm::AccountId::user(*x);
  m.generation = *gen;
  m.text.assign(as_chars(padded.subspan(4, len)));
  return m;
}

std::string encode_invite(const Invite& i) {
  json j = {{"group", i.group.to_string()},
            {"name", i.name},
            {"generation", i.generation},
            {"key", to_hex(i.key.view())},
            {"auth_seed", to_hex(i.auth_seed.view())}};
  return std::string(kControlPrefix) + std::string(kInviteKind) + j.dump();
}

std::string encode_admin_grant(const AdminGrant& g) {
  json j = {{"group", g.group.to_string()}, {"group_seed", to_hex(g.group_seed.view())}};
  return std::string(kControlPrefix) + std::string(kAdminKind) + j.dump();
}

bool is_control_text(std::string_view text) { return text.substr(0, kControlPrefix.size()) == kControlPrefix; }

Result<std::variant<Invite, AdminGrant>> parse_control_text(std::string_view text) {
  if (!is_control_text(text)) return bad("not a control message");
  text.remove_prefix(kControlPrefix.size());
  const bool invite = text.substr(0, kInviteKind.size()) == kInviteKind;
  const bool admin = text.substr(0, kAdminKind.size()) == kAdminKind;
  if (!invite && !admin) return bad("unknown control message kind");
  text.remove_prefix(invite ? kInviteKind.size() : kAdminKind.size());
  auto j = swarm::parse_json(text, 4, 4096);
  if (!j.ok()) return bad("control message: " + j.status().message());
  if (!j->is_object() || !j->contains("group") || !(*j)["group"].is_string()) return bad("control message: no group");
  auto group = swarm::AccountId::parse((*j)["group"].get_ref<const std::string&>());
  if (!group.ok() || !group->is_group()) return bad("control message: group must be a 03 ID");
  if (admin) {
    if (j->size() != 2) return bad("admin grant: unexpected fields");
    AdminGrant g;
    g.group = *group;
    auto seed = secret_from_hex(*j, "group_seed");
    if (!seed.ok()) return seed.status();
    g.group_seed = std::move(*seed);
    auto kp = crypto::Ed25519KeyPair::from_seed(g.group_seed.view());
    if (!kp.ok() || kp->public_key().bytes != group->key) return bad("admin grant: the seed is not the group's key");
    return std::variant<Invite, AdminGrant>(std::move(g));
  }
  if (j->size() != 5 || !(*j)["name"].is_string() || !(*j)["generation"].is_number_unsigned())
    return bad("invite: expected group, name, generation, key, auth_seed");
  Invite i;
  i.group = *group;
  i.name = (*j)["name"].get<std::string>();
  if (i.name.empty() || i.name.size() > kMaxNameBytes) return bad("invite: bad name");
  i.generation = (*j)["generation"].get<uint64_t>();
  auto key = secret_from_hex(*j, "key");
  if (!key.ok()) return key.status();
  auto seed = secret_from_hex(*j, "auth_seed");
  if (!seed.ok()) return seed.status();
  i.key = std::move(*key);
  i.auth_seed = std::move(*seed);
  return std::variant<Invite, AdminGrant>(std::move(i));
}

}  // namespace onionswarm::client::group
