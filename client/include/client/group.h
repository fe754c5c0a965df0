// Closed groups, the client's crypto and byte formats (no I/O). A group is a
// 03 account (swarm/group.h): its control log (namespace 1) holds signed,
// hash-chained entries whose body this file encrypts; its messages
// (namespace 0) are encrypted with the generation's key and signed inside
// the encryption by the sending member. Byte formats: docs/PROTOCOL.md,
// "Closed groups"; golden vectors in tests/vectors/group.json.
//
// Control entry body:
//   keys_len(4) || keys || nonce(24) || AEAD(generation key, nonce, state, ad)
//   ad   = "onionswarm/group-state/v1" || group_ed25519 || seq(8) || generation(8) || member_auth(32)
//   keys = empty, or (when the entry rotates the key: a new generation)
//          eph_x25519(32) || count(2) || count slots of 48 bytes, sorted bytewise
//   slot = AEAD(k_i, nonce 0^24, generation key(32), ad = group_ed25519)
//   k_i  = BLAKE2b-256(key = "onionswarm/group-keys/v1",
//                      X25519(eph, member_i) || eph_x25519 || member_i_x25519 || generation(8))
//   state = JSON {"name":..., "members":[05...], "admins":[05...], "auth_seed": hex(32)}
//           (members sorted, unique, at most 100; admins a subset)
//
// Group message (stored blob):
//   version(1)=1 || generation(8) || nonce(24) || AEAD(generation key, nonce, inner, ad)
//   ad     = "onionswarm/group-msg/v1" || group_ed25519 || generation(8)
//   inner  = kind(1) || sender_ed25519(32) || timestamp_ms(8) || signature(64) || padded
//   padded = text_len(4) || text || zeros, a multiple of 256 bytes
//   signature by the sender over
//            "onionswarm/group-msg/v1" || group_ed25519 || generation(8) || kind(1) || timestamp_ms(8) || padded
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"
#include "swarm/account.h"
#include "swarm/group.h"

namespace onionswarm::client::group {

using swarm::group::kMaxMembers;
inline constexpr size_t kMaxNameBytes = 100;
inline constexpr size_t kSlotSize = crypto::kKeySize + crypto::kTagSize;

// The membership a control entry states (its encrypted body).
struct GroupState {
  std::string name;
  std::vector<swarm::AccountId> members;  // sorted, unique
  std::vector<swarm::AccountId> admins;   // sorted, unique, members only
  crypto::SecretBytes auth_seed;          // seed of this generation's member credential

  GroupState clone() const;
  bool is_member(const swarm::AccountId& a) const;
  bool is_admin(const swarm::AccountId& a) const;
};

// kInvalidArgument for an empty or too long name, more than kMaxMembers
// members, admins that are not members, or a bad seed.
Status validate(const GroupState& state);

// The member credential key pair from its seed.
Result<crypto::Ed25519KeyPair> member_auth_key(const crypto::SecretBytes& auth_seed);

// The keys block: the generation key for each recipient. eph is the
// ephemeral key (fresh when absent; given only for golden vectors).
Bytes wrap_keys(const crypto::SecretBytes& key, uint64_t generation, const crypto::Ed25519PublicKey& group,
                const std::vector<crypto::X25519PublicKey>& recipients,
                const std::optional<crypto::X25519KeyPair>& eph = std::nullopt);
// kNotFound when no slot is for me; kInvalidArgument when malformed.
Result<crypto::SecretBytes> unwrap_keys(ByteView keys, uint64_t generation, const crypto::Ed25519PublicKey& group,
                                        const crypto::X25519KeyPair& me);

// Builds a control entry (unsigned) carrying state: body encrypted with key;
// keys is the keys block (empty unless the entry starts a new generation).
// kInvalidArgument when the state does not validate.
Result<swarm::group::ControlEntry> make_entry(const crypto::Ed25519PublicKey& group, uint64_t seq,
                                              const crypto::Hash& prev, uint64_t generation,
                                              const GroupState& state, const crypto::SecretBytes& key,
                                              ByteView keys, ByteView nonce = {});

struct OpenedBody {
  Bytes keys;   // the keys block (may be empty)
  Bytes nonce;
  Bytes ciphertext;
};
Result<OpenedBody> split_body(ByteView body);
// Decrypts and validates an entry's state with the generation key.
// kUnauthorized when the key does not open it; kInvalidArgument when the
// state is malformed or claims more than kMaxMembers members.
Result<GroupState> open_state(const crypto::Ed25519PublicKey& group, const swarm::group::ControlEntry& e,
                              const crypto::SecretBytes& key);

enum class Kind : uint8_t { kText = 1, kLeave = 2, kJoin = 3 };

struct GroupMessage {
  Kind kind = Kind::kText;
  crypto::Ed25519PublicKey sender_ed25519;
  swarm::AccountId sender;
  uint64_t generation = 0;
  uint64_t timestamp_ms = 0;
  std::string text;
};

// kInvalidArgument when text is too long (client/envelope.h kMaxTextBytes).
Result<Bytes> seal_group_message(const crypto::Ed25519PublicKey& group, uint64_t generation,
                                 const crypto::SecretBytes& key, const crypto::Ed25519KeyPair& sender, Kind kind,
                                 uint64_t timestamp_ms, std::string_view text, ByteView nonce = {});
// The generation a stored group message names (to pick the key).
Result<uint64_t> message_generation(ByteView blob);
// Opens and verifies the sender's signature. Whether the sender was a
// member at that generation is the caller's check. kUnauthorized when it
// does not open or verify; kInvalidArgument when malformed.
Result<GroupMessage> open_group_message(const crypto::Ed25519PublicKey& group, const crypto::SecretBytes& key,
                                        ByteView blob);

// 1:1 control messages (sent in an ordinary envelope): the text starts with
// kControlPrefix, then a kind line, then JSON.
inline constexpr std::string_view kControlPrefix = "\x01onionswarm-control/v1\n";

struct Invite {
  swarm::AccountId group;
  std::string name;
  uint64_t generation = 0;
  crypto::SecretBytes key;        // the generation key
  crypto::SecretBytes auth_seed;  // the member credential seed
  std::string from;               // the inviting admin (set by the receiver)
};
struct AdminGrant {
  swarm::AccountId group;
  crypto::SecretBytes group_seed;  // the group's Ed25519 seed
};

std::string encode_invite(const Invite& i);
std::string encode_admin_grant(const AdminGrant& g);
bool is_control_text(std::string_view text);
// One of them, parsed strictly; kInvalidArgument otherwise.
Result<std::variant<Invite, AdminGrant>> parse_control_text(std::string_view text);

}  // namespace onionswarm::client::group
