// Path selection: which nodes carry a request. Pure policy: no I/O, no
// clocks; randomness comes from the caller so tests are deterministic.
//
// A path is three relays: the guard (the only node that sees the client's
// address; kept across runs and replaced only when it leaves the directory
// or fails), a middle and an exit. A request then goes
// guard -> middle -> exit -> destination, the destination being a member of
// the target account's swarm, chosen per request.
//
// Rules (each "when avoidable" means: relaxed only if the directory is too
// small to satisfy it):
//   - guard, middle and exit are three distinct nodes (required);
//   - middle and exit avoid nodes the caller lists as failed, when avoidable;
//   - middle and exit are not members of the target swarm, when avoidable
//     (this rule gives way before the failed-node rule: a failed node is worse);
//   - no two of guard, middle and exit are endorsed by the same operator
//     key (NodeDescriptor::operator_key; nodes without one count as
//     distinct), when avoidable; this rule gives way before the two above;
//   - no two of guard, middle and exit share a network family (IPv4 /16,
//     IPv6 /32, see network_family), when avoidable; this rule gives way
//     first (on loopback every node is in 127.0 and it always relaxes);
//   - the destination is not one of the three relays, when avoidable, and
//     not a node listed as failed, when avoidable.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "onion/crypto.h"
#include "onion/status.h"
#include "swarm/directory.h"
#include "swarm/swarms.h"

namespace onionswarm::client {

// Returns uniformly random 64-bit values. Production code uses
// secure_random(); tests pass a seeded generator.
using Random = std::function<uint64_t()>;

// Random values from libsodium.
Random secure_random();

// A value in [0, n) from rng (n > 0).
size_t random_index(const Random& rng, size_t n);

struct Path {
  swarm::NodeDescriptor guard;
  swarm::NodeDescriptor middle;
  swarm::NodeDescriptor exit;

  friend bool operator==(const Path&, const Path&) = default;
};

// The guard to use. Keeps `kept` when it is still in `nodes` and the caller
// did not report it failed; otherwise picks a random node, when avoidable
// neither the failed one nor one of `failed` (other nodes that recently
// did not answer). kUnavailable when nodes is empty.
Result<swarm::NodeDescriptor> choose_guard(const std::vector<swarm::NodeDescriptor>& nodes,
                                           const std::optional<crypto::X25519PublicKey>& kept,
                                           bool kept_failed, const Random& rng,
                                           const std::vector<crypto::X25519PublicKey>& failed = {});

// Middle and exit for `guard`. `avoid` are the target swarm's members,
// `failed` nodes that recently did not answer. kUnavailable when there are
// fewer than three distinct nodes.
Result<Path> choose_path(const std::vector<swarm::NodeDescriptor>& nodes,
                         const swarm::NodeDescriptor& guard,
                         const std::vector<crypto::X25519PublicKey>& avoid,
                         const std::vector<crypto::X25519PublicKey>& failed, const Random& rng);

// Whether `path` breaks the "not in the target swarm" rule although the
// directory has enough other nodes to keep it (then rebuild middle/exit).
bool path_should_avoid(const Path& path, const std::vector<swarm::NodeDescriptor>& nodes,
                       const std::vector<crypto::X25519PublicKey>& avoid);

// A random member of `target` that is not on `path` and not in `failed`,
// both when avoidable. kUnavailable when the swarm has no members.
Result<swarm::NodeDescriptor> choose_destination(const swarm::Swarm& target,
                                                 const std::optional<Path>& path,
                                                 const std::vector<crypto::X25519PublicKey>& failed,
                                                 const Random& rng);

// The network family of a node address "tcp://HOST:PORT": "4:A.B" for an
// IPv4 host (its /16), "6:<8 hex>" for a bracketed IPv6 host (its /32),
// "name:HOST" for a DNS name (not resolved: each name is its own family).
std::string network_family(std::string_view address);

// The X25519 keys of a swarm's members (the `avoid` list for choose_path).
std::vector<crypto::X25519PublicKey> member_keys(const swarm::Swarm& swarm);

}  // namespace onionswarm::client
