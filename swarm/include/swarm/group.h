// Closed groups: the parts of the group protocol a swarm node needs. A group
// is a 03 account whose key is the group's Ed25519 key (held by admins).
// Byte formats: docs/PROTOCOL.md, "Closed groups".
//
// Namespaces of a 03 account:
//   kMessagesNamespace (0)  group messages; store and retrieve need a
//                           signature by the group key or by the member
//                           credential (member_auth) of the head entry
//   kControlNamespace  (1)  the control log; store needs the group key and
//                           must extend the current head (compare-and-set);
//                           retrieve needs the group key or any member
//                           credential named by an entry of the chain
//   any other namespace      group key only
// Nothing in a 03 account is open to the public.
//
// Control entry (the stored blob):
//   version(1)=1 || seq(8) || prev(32) || generation(8) || member_auth(32)
//   || body_len(4) || body || signature(64)
// signature = Ed25519 by the group key over
//   "onionswarm/group-control/v1" || group_ed25519(32) || every byte before it
// prev is the hash (BLAKE2b-256) of the previous entry's blob, all zero for
// seq 0. body is opaque here (the client encrypts it).
//
// The canonical chain of a set of entries (the same on every node and
// client, whatever order they arrived in): start at the seq-0 entry with the
// smallest hash; repeatedly take, among the valid entries whose prev is the
// current entry's hash, whose seq is one more and whose generation is not
// smaller, the one with the smallest hash. Entries off the chain are ignored.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::swarm::group {

inline constexpr uint16_t kMessagesNamespace = 0;
inline constexpr uint16_t kControlNamespace = 1;
inline constexpr size_t kMaxMembers = 100;
// A node reads at most this many control entries of one group.
inline constexpr size_t kMaxControlEntries = 2000;
inline constexpr uint8_t kControlVersion = 1;
inline constexpr size_t kControlHeaderSize = 1 + 8 + 32 + 8 + 32 + 4;
inline constexpr size_t kMaxControlBody = 48 * 1024;

struct ControlEntry {
  uint64_t seq = 0;
  crypto::Hash prev;                 // all zero for seq 0
  uint64_t generation = 0;           // encryption key generation in force from this entry
  crypto::Ed25519PublicKey member_auth;  // the member credential of this generation
  Bytes body;                        // opaque (encrypted by the client)
  crypto::Signature signature;
  crypto::Hash hash;                 // BLAKE2b-256 of the encoded blob
};

// The bytes the group key signs (everything before the signature, prefixed).
Bytes control_signing_bytes(const crypto::Ed25519PublicKey& group, const ControlEntry& e);
// Signs e with the group key, and sets e.signature and e.hash; returns the blob.
Bytes sign_control(const crypto::Ed25519KeyPair& group_key, ControlEntry& e);
// Strict parse and signature check. kInvalidArgument when malformed,
// kUnauthorized when the signature is not the group's.
Result<ControlEntry> parse_control(ByteView blob, const crypto::Ed25519PublicKey& group);

// The canonical chain (see above), genesis first. Entries are given in any order.
std::vector<ControlEntry> canonical_chain(std::vector<ControlEntry> entries);

// Whether a canonical chain holds the entry `hash` at `seq`. A log read from
// a swarm member that lacks an entry the reader already knew (the member
// has not taken it yet) does not: the reader then asks the sequencer.
bool chain_holds(const std::vector<ControlEntry>& chain, uint64_t seq, const crypto::Hash& hash);

// The entries that follow a known head on the canonical chain, from a
// window of the log (its entries stored since shortly before the head):
// from the head, repeatedly the child the canonical rule picks. kNotFound
// when the window lacks the head; kConflict when it holds an entry that is
// neither an ancestor of the head nor on that extension (a fork, which only
// the whole log can settle). Empty when nothing follows the head.
Result<std::vector<ControlEntry>> extend_chain(std::vector<ControlEntry> window, uint64_t head_seq,
                                               const crypto::Hash& head_hash);

}  // namespace onionswarm::swarm::group
