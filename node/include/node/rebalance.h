// Rebalancing: when the swarms change, a node hands the messages of accounts
// it no longer serves to the account's new swarm, and drops its own copy only
// after a member of that swarm confirmed a durable copy.
//
// plan_handoff is pure: which stored messages leave this node, grouped by
// the swarm they go to. hand_over does the I/O: it pushes each message as a
// kReplicate (docs/PROTOCOL.md 8.1) to every member of the new swarm,
// pipelined in batches over one CURVE DEALER socket per member, and drops
// (without tombstone) the messages that at least one member acknowledged
// ("new" or "exists"). Unconfirmed messages stay and are retried later.
//
// Threading: hand_over runs on the sync thread (SyncThread) with its own
// ZeroMQ context and sockets; it uses Storage only through its thread-safe
// methods.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "node/identity.h"
#include "node/storage.h"
#include "onion/status.h"
#include "swarm/swarms.h"

namespace onionswarm::node {

struct HandoffOptions {
  size_t max_messages = 10'000;         // handed over per call; the rest waits for the next
  size_t batch = 100;                   // replica pushes in flight per member
  uint64_t request_timeout_ms = 5'000;  // for a batch's acknowledgements
};

struct HandoffResult {
  size_t moved = 0;    // confirmed by the new swarm and dropped here
  size_t pending = 0;  // still held here, not (yet) confirmed elsewhere
};

// Messages held in storage whose account is not served by the node `self`,
// keyed by the index of the account's swarm; at most max_messages in all.
// Expired messages are skipped. Empty when swarms is empty. Reads only the
// messages that leave: accounts staying here cost one account record each.
Result<std::map<size_t, std::vector<StoredMessage>>> plan_handoff(const Storage& storage,
                                                                  const std::vector<swarm::Swarm>& swarms,
                                                                  const crypto::X25519PublicKey& self,
                                                                  size_t max_messages, uint64_t now_ms);

// Plans and performs one hand-over pass. stopping() is polled between
// batches; when it returns true the pass ends early (nothing half-done:
// a message is dropped only after its confirmation).
Result<HandoffResult> hand_over(const HandoffOptions& options, const NodeKeys& keys,
                                const std::vector<swarm::Swarm>& swarms, Storage& storage, uint64_t now_ms,
                                const std::function<bool()>& stopping);

}  // namespace onionswarm::node
