// Signed node descriptors: what a node publishes about itself in a living
// network (docs/PROTOCOL.md, "Node descriptors"), and operator endorsements
// for permissioned networks.
//
// A descriptor names the network, the node's Ed25519 identity and X25519
// (CURVE / onion layer) key, the address it is reached at, its software
// version, when it was issued and when it expires, optionally an operator
// endorsement, and an Ed25519 signature by the node's identity key over the
// canonical signing bytes (descriptor_signing_bytes).
//
// Parsing is strict and bounded; verification is a pure function of the
// descriptor, the network's rules and the time: no I/O. Checking that the
// address answers is the caller's job (node/gossip.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "onion/bytes.h"
#include "onion/converted_keys.h"
#include "onion/crypto.h"
#include "onion/status.h"
#include "swarm/directory.h"

namespace onionswarm::swarm {

inline constexpr size_t kMaxDescriptorNetworkId = 64;
inline constexpr size_t kMaxDescriptorAddress = 300;
inline constexpr size_t kMaxDescriptorVersion = 32;
// A descriptor's JSON text never needs more than this.
inline constexpr size_t kMaxDescriptorJsonBytes = 2048;

// Domain-separation prefixes of the signed byte strings.
inline constexpr std::string_view kDescriptorDomain = "onionswarm-node-descriptor-v1";
inline constexpr std::string_view kEndorsementDomain = "onionswarm-operator-endorsement-v1";

// An operator's statement "this node (both keys) may serve in this network
// until valid_until_ms". Signed over endorsement_signing_bytes.
struct Endorsement {
  crypto::Ed25519PublicKey operator_key;
  uint64_t valid_until_ms = 0;
  crypto::Signature signature;

  friend bool operator==(const Endorsement&, const Endorsement&) = default;
};

struct SignedDescriptor {
  std::string network_id;
  NodeDescriptor node;  // ed25519, x25519, address
  std::string version;  // software version, e.g. "0.1.0"
  uint64_t issued_at_ms = 0;
  uint64_t expires_at_ms = 0;
  std::optional<Endorsement> endorsement;
  crypto::Signature signature;  // by node.ed25519 over descriptor_signing_bytes

  friend bool operator==(const SignedDescriptor&, const SignedDescriptor&) = default;
};

// Canonical bytes: the domain prefix, then every field (strings as u16
// big-endian length || bytes, integers u64 big-endian, keys raw), in the
// order of docs/PROTOCOL.md. Injective: two different descriptors never give
// the same bytes.
Bytes descriptor_signing_bytes(const SignedDescriptor& d);
Bytes endorsement_signing_bytes(std::string_view network_id, const crypto::Ed25519PublicKey& node_ed25519,
                                const crypto::X25519PublicKey& node_x25519, uint64_t valid_until_ms);

// Signs d (every field but signature set) with the node's identity key,
// whose public key must be d.node.ed25519.
void sign_descriptor(SignedDescriptor& d, const crypto::Ed25519KeyPair& node_key);
Endorsement endorse(const crypto::Ed25519KeyPair& operator_key, std::string_view network_id,
                    const crypto::Ed25519PublicKey& node_ed25519, const crypto::X25519PublicKey& node_x25519,
                    uint64_t valid_until_ms);

// JSON form (docs/PROTOCOL.md). parse_descriptor is strict: unknown keys,
// missing keys, wrong types, oversize strings and malformed keys are
// kInvalidArgument. It does not verify the signature.
nlohmann::json descriptor_to_json(const SignedDescriptor& d);
Result<SignedDescriptor> parse_descriptor(const nlohmann::json& j);
Result<SignedDescriptor> parse_descriptor_text(std::string_view text);

// The endorsement file `onionswarm-node endorse` writes: the endorsement
// plus whom it is for, so a node can check it was given the right one.
struct EndorsementFile {
  std::string network_id;
  crypto::Ed25519PublicKey node_ed25519;
  crypto::X25519PublicKey node_x25519;
  Endorsement endorsement;
};
nlohmann::json endorsement_file_to_json(const EndorsementFile& f);
Result<EndorsementFile> parse_endorsement_file(std::string_view text);

struct VerifyRules {
  std::string network_id;
  uint64_t now_ms = 0;
  // expires_at may be at most this far after now.
  uint64_t max_lifetime_ms = 24ull * 3600 * 1000;
  // issued_at may be at most this far ahead of now (clock skew).
  uint64_t max_skew_ms = 5ull * 60 * 1000;
  // Non-empty: the network is permissioned and only descriptors endorsed
  // by one of these keys (endorsement not yet expired) are admitted.
  std::vector<crypto::Ed25519PublicKey> operators;
  // If set, the x25519-from-ed25519 check asks (and fills) this cache: a
  // node's re-issued descriptors then cost no conversion. Not owned.
  crypto::ConvertedKeys* converted_keys = nullptr;
};

// Everything that can be checked without the network. Errors (the message
// is the logged reason):
//   kInvalidArgument  wrong network id, expires_at not after issued_at,
//                     x25519 not derived from ed25519, address not tcp://HOST:PORT
//   kUnauthorized     bad signature; missing, unknown-operator or forged endorsement
//   kStale            expired, issued in the future, expiry too far ahead,
//                     endorsement expired
[[nodiscard]] Status verify_descriptor(const SignedDescriptor& d, const VerifyRules& rules);
// verify_descriptor without its public-key checks (the two signatures and
// the key derivation): for descriptors whose signatures this process has
// verified before and kept unchanged (a client's MAC'd directory cache).
// What depends on the time and on the network's rules is checked again.
[[nodiscard]] Status check_descriptor_terms(const SignedDescriptor& d, const VerifyRules& rules);

// The operator key of d's endorsement when its signature verifies for d's
// network id and node keys, else nullopt (no endorsement, or a forged one).
// The endorsement's validity time is not checked: an expired endorsement
// still shows which operator runs the node, which is what path diversity
// needs (admission, with times, is verify_descriptor's job).
std::optional<crypto::Ed25519PublicKey> verified_operator(const SignedDescriptor& d);

// d.node with operator_key = verified_operator(d).
NodeDescriptor node_with_operator(const SignedDescriptor& d);

// Whether address is a ZeroMQ TCP endpoint "tcp://HOST:PORT" that a node
// can be reached at: HOST a DNS name, IPv4 address or bracketed IPv6
// address; PORT 1..65535. With for_bind, HOST may also be "*" and PORT may be
// 0 or "*" (the kernel picks a free port).
bool is_valid_tcp_endpoint(std::string_view address, bool for_bind = false);

}  // namespace onionswarm::swarm
