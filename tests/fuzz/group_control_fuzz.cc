// Fuzzes every parser of the closed-group protocol with the fixed keys of
// tests/vectors/group.json (group seed 01.., members 02.. and 03..,
// generation 1, generation key 55..), so the vector's blobs are valid seeds:
// the control entry a node and a client read from the group's swarm, the
// encrypted state and keys block inside it, stored group messages, and the
// invitations that arrive in 1:1 messages from anyone.
//
// Input: mode(1) || rest
//   mode % 8 == 0: rest is a stored control entry (parse_control, then the
//                  client's whole read path: chain, body, keys, state).
//   mode % 8 == 1: rest is an entry without its signature; the harness signs
//                  it with the group key, so the read path runs past the
//                  signature check on attacker-chosen fields.
//   mode % 8 == 2: rest is the state plaintext; the harness encrypts it with
//                  the generation key inside a signed entry (open_state's JSON).
//   mode % 8 == 3: rest is a stored group message.
//   mode % 8 == 4: rest is a group message's inner plaintext; the harness
//                  encrypts it with the generation key.
//   mode % 8 == 5: rest is `padded`; the harness signs it as member 02 and
//                  encrypts it, so the part after the signature check runs.
//   mode % 8 == 6: rest is the text of a 1:1 message (invite / admin grant).
//   mode % 8 == 7: rest is a keys block, unwrapped as member 03.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "client/envelope.h"
#include "client/group.h"
#include "fuzz_keys.h"
#include "swarm/group.h"

namespace of = onionswarm::fuzz;
namespace crypto = onionswarm::crypto;
namespace cg = onionswarm::client::group;
namespace sg = onionswarm::swarm::group;
using onionswarm::Bytes;
using onionswarm::ByteView;

namespace {

constexpr uint64_t kGeneration = 1;

struct Keys {
  crypto::Ed25519KeyPair group;
  crypto::Ed25519KeyPair member2;
  crypto::X25519KeyPair member3;
  crypto::SecretBytes generation_key;
  crypto::Ed25519PublicKey member_auth;  // the credential of auth seed 44..
};

const Keys& keys() {
  static const Keys k = [] {
    crypto::init();
    auto pair = [](uint8_t tag) {
      auto kp = crypto::Ed25519KeyPair::from_seed(Bytes(32, tag));
      if (!kp.ok()) of::harness_bug("bad Ed25519 seed");
      return std::move(kp).value();
    };
    auto m3 = pair(3);
    auto auth = cg::member_auth_key(crypto::SecretBytes(ByteView(Bytes(32, 0x44))));
    if (!auth.ok()) of::harness_bug("bad auth seed");
    return Keys{pair(1), pair(2), m3.to_x25519(), crypto::SecretBytes(ByteView(Bytes(32, 0x55))),
                auth->public_key()};
  }();
  return k;
}

Bytes nonce() { return Bytes(24, 0x77); }

// What a client does with an entry it fetched: chain it, split the body,
// look for its key slot, open the state. Results are checked for what the
// parsers promise.
void read_entry(ByteView blob) {
  const Keys& k = keys();
  auto e = sg::parse_control(blob, k.group.public_key());
  if (!e.ok()) return;
  if (e->body.size() > sg::kMaxControlBody) of::harness_bug("parse_control accepted an over-long body");
  auto chain = sg::canonical_chain({*e, *e});
  if (chain.size() > 1) of::harness_bug("canonical_chain kept a duplicate entry");
  auto body = cg::split_body(e->body);
  if (!body.ok()) return;
  if (!body->keys.empty()) (void)cg::unwrap_keys(body->keys, e->generation, k.group.public_key(), k.member3);
  auto state = cg::open_state(k.group.public_key(), *e, k.generation_key);
  if (state.ok()) {
    if (state->members.size() > cg::kMaxMembers) of::harness_bug("open_state accepted more than kMaxMembers");
    if (!cg::validate(*state).ok()) of::harness_bug("open_state returned a state that does not validate");
  }
}

// An entry of generation 1 whose body carries `state` (any bytes) encrypted
// as client/group.h specifies, signed by the group key.
Bytes entry_with_state(ByteView state) {
  const Keys& k = keys();
  sg::ControlEntry e;
  e.seq = 1;
  e.prev = crypto::hash(Bytes{0});
  e.generation = kGeneration;
  e.member_auth = k.member_auth;
  Bytes ad;
  onionswarm::append(ad, onionswarm::as_bytes("onionswarm/group-state/v1"));
  onionswarm::append(ad, k.group.public_key().view());
  onionswarm::put_u64(ad, e.seq);
  onionswarm::put_u64(ad, e.generation);
  onionswarm::append(ad, e.member_auth.view());
  onionswarm::put_u32(e.body, 0);  // no keys block
  onionswarm::append(e.body, nonce());
  onionswarm::append(e.body, crypto::aead_encrypt(k.generation_key, nonce(), state, ad));
  return sg::sign_control(k.group, e);
}

// version || generation || nonce || AEAD(generation key, nonce, inner, ad).
Bytes sealed_message(ByteView inner) {
  const Keys& k = keys();
  Bytes ad;
  onionswarm::append(ad, onionswarm::as_bytes("onionswarm/group-msg/v1"));
  onionswarm::append(ad, k.group.public_key().view());
  onionswarm::put_u64(ad, kGeneration);
  Bytes blob{1};
  onionswarm::put_u64(blob, kGeneration);
  onionswarm::append(blob, Bytes(24, 0x88));
  onionswarm::append(blob, crypto::aead_encrypt(k.generation_key, Bytes(24, 0x88), inner, ad));
  return blob;
}

// kind || sender || timestamp || signature || padded, signed by member 02.
Bytes signed_inner(ByteView padded) {
  const Keys& k = keys();
  constexpr uint8_t kKind = 1;
  constexpr uint64_t kTs = 1700000000000;
  Bytes msg;
  onionswarm::append(msg, onionswarm::as_bytes("onionswarm/group-msg/v1"));
  onionswarm::append(msg, k.group.public_key().view());
  onionswarm::put_u64(msg, kGeneration);
  msg.push_back(kKind);
  onionswarm::put_u64(msg, kTs);
  onionswarm::append(msg, padded);
  const crypto::Signature sig = k.member2.sign(msg);
  Bytes inner{kKind};
  onionswarm::append(inner, k.member2.public_key().view());
  onionswarm::put_u64(inner, kTs);
  onionswarm::append(inner, sig.view());
  onionswarm::append(inner, padded);
  return inner;
}

void read_message(ByteView blob) {
  const Keys& k = keys();
  (void)cg::message_generation(blob);
  auto m = cg::open_group_message(k.group.public_key(), k.generation_key, blob);
  if (m.ok() && m->text.size() > onionswarm::client::kMaxTextBytes)
    of::harness_bug("open_group_message returned text over kMaxTextBytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Keys& k = keys();
  const ByteView rest(data + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      read_entry(rest);
      break;
    case 1: {
      Bytes msg;
      onionswarm::append(msg, onionswarm::as_bytes("onionswarm/group-control/v1"));
      onionswarm::append(msg, k.group.public_key().view());
      onionswarm::append(msg, rest);
      Bytes blob(rest.begin(), rest.end());
      onionswarm::append(blob, k.group.sign(msg).view());
      read_entry(blob);
      break;
    }
    case 2:
      read_entry(entry_with_state(rest));
      break;
    case 3:
      read_message(rest);
      break;
    case 4:
      read_message(sealed_message(rest));
      break;
    case 5:
      read_message(sealed_message(signed_inner(rest)));
      break;
    case 6: {
      const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
      (void)cg::is_control_text(text);
      (void)cg::parse_control_text(text);
      break;
    }
    default:
      (void)cg::unwrap_keys(rest, kGeneration, k.group.public_key(), k.member3);
      break;
  }
  return 0;
}
