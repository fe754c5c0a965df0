// Requests at the destination: store, retrieve, delete, info, get_swarm.
// No sockets here: handle() takes the request bytes and completes with the
// answer bytes, so it is tested without a network.
//
// Thread safety: handle() is thread-safe and is called from worker threads.
// done runs exactly once: on the calling thread, or for stores on the
// storage committer thread after the durable commit.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "node/limits.h"
#include "node/stats.h"
#include "node/storage.h"
#include "onion/bytes.h"
#include "onion/converted_keys.h"
#include "onion/crypto.h"
#include "swarm/directory.h"
#include "swarm/group.h"
#include "swarm/rpc.h"
#include "swarm/swarms.h"

namespace onionswarm::node {

// Milliseconds since the Unix epoch; injectable for tests.
using Clock = std::function<uint64_t()>;
uint64_t system_clock_ms();

struct HandlerOptions {
  std::string network_id;
  std::string version = ONIONSWARM_VERSION;
  size_t swarm_size = swarm::kDefaultSwarmSize;
  uint64_t max_clock_skew_ms = swarm::rpc::kMaxClockSkewMs;
  NodeStats* stats = nullptr;  // counters to update, if any (must outlive the handler)
  // Requests per second per (account, method), checked right after parsing
  // (before any signature check: forged requests count too). 0 = off.
  uint32_t account_rate_per_s = 50;
  uint32_t account_burst = 200;
};

class RequestHandler {
 public:
  using Done = std::function<void(Bytes answer)>;
  // Called for every message a client request stores (not for replicas), to
  // replicate it to the swarm: for a store into a user's inbox (05 account,
  // namespace 0) on the calling worker thread while this node's own commit
  // is still queued, so the commits overlap; for every other store on the
  // committer thread once it is committed here as new. It must call
  // `replicated` exactly once, from any thread: with the keys of the members
  // holding the message durably (this node listed first; the answer is sent
  // only once this node's commit is also done and new), or with an error when
  // too few members confirmed it. The client's answer waits for it.
  using Replicated = std::function<void(Result<std::vector<crypto::X25519PublicKey>>)>;
  using OnNewStore = std::function<void(const StoredMessage&, Replicated replicated)>;

  RequestHandler(Storage& storage, const swarm::Directory& directory, crypto::Ed25519PublicKey self_ed,
                 crypto::X25519PublicKey self_x, HandlerOptions options, Clock clock, OnNewStore on_new_store);

  void handle(ByteView request, Done done);

  // Called on a worker thread after a signed delete was applied here: a
  // client's, with the request bytes to push to the account's other swarm
  // members, or one a peer pushed, with no bytes (it is not pushed on).
  // Must not block. Set before the node serves.
  using OnDelete = std::function<void(const swarm::rpc::DeleteRequest& d, Bytes request)>;
  void set_on_delete(OnDelete on_delete) { on_delete_ = std::move(on_delete); }
  // A client's signed delete pushed by another node (the link already
  // authenticated it as a known node): refused unless this node serves the
  // account, then verified and applied as the client's own request would
  // be, and not pushed on. Answers like a delete (rpc::delete_response).
  void accept_peer_delete(ByteView request, Done done);

  // A replica pushed by a swarm peer (the link already authenticated it as
  // a member of this node's swarm). Completes with kNew/kExists/... .
  void accept_replica(StoredMessage message, std::function<void(Result<StoreResult>)> done);

  // Whether this node may still lack messages its swarm peers hold: set by
  // the catch-up thread from start (or a change of this node's swarm) until
  // a catch-up round succeeds. Retrieve answers carry it ("catching_up"), so
  // clients do not move their cursor past messages this node has yet to
  // fetch (docs/PROTOCOL.md 8.3, 12.1). Also the stats gauge catching_up.
  void set_catching_up(bool on);
  bool catching_up() const { return catching_up_.load(std::memory_order_relaxed); }

  // The swarms for the current directory (cached per directory snapshot).
  std::shared_ptr<const std::vector<swarm::Swarm>> swarms() const;
  // Is this node in the swarm of account? Sets *own to the swarm index.
  bool serves(const swarm::AccountId& account, size_t* index = nullptr) const;

 private:
  Status check_signed(const swarm::rpc::Request& req, const swarm::AccountId& account, uint64_t ts,
                      const swarm::rpc::Auth& auth, uint64_t now);
  // Who may sign for a 03 account (swarm/group.h): the group key, or a
  // member credential for namespaces 0 (current) and 1 (any of the chain).
  Status check_group_signer(const swarm::rpc::Request& req, const swarm::AccountId& account,
                            const crypto::Ed25519PublicKey& signer, uint64_t now);
  // The canonical control chain of a group, from this node's storage.
  Result<std::vector<swarm::group::ControlEntry>> group_chain(const swarm::AccountId& account, uint64_t now) const;
  // kConflict unless this node is the sequencer of the group's control log:
  // the member of the account's swarm with the smallest X25519 key. One
  // node orders all changes of a group, so two admins' changes on the same
  // head cannot both be accepted (docs/PROTOCOL.md 15.3).
  Status check_control_sequencer(const swarm::AccountId& account) const;
  // Compare-and-set for a control entry store: it must extend the head.
  Status check_control_store(const swarm::rpc::StoreRequest& r, uint64_t now);
  void handle_store(swarm::rpc::StoreRequest r, uint64_t now, Done done);
  // Signature, group and namespace checks, then the removal; the number removed.
  Result<size_t> apply_delete(const swarm::rpc::Request& req, const swarm::rpc::DeleteRequest& d, uint64_t now);

  Storage& storage_;
  const swarm::Directory& directory_;
  const crypto::Ed25519PublicKey self_ed_;
  const crypto::X25519PublicKey self_x_;
  const HandlerOptions options_;
  const Clock clock_;
  const OnNewStore on_new_store_;
  OnDelete on_delete_;
  std::atomic<bool> catching_up_{false};
  ReplayCache replays_;
  crypto::ConvertedKeys converted_keys_{100'000};  // owners' keys of signed requests
  RateLimiter account_limits_;

  struct SwarmCache {
    std::shared_ptr<const std::vector<swarm::NodeDescriptor>> nodes;
    std::shared_ptr<const std::vector<swarm::Swarm>> swarms;
  };
  // Groups with a control entry between its check and its durable commit:
  // a second one for the same group is refused (kConflict) meanwhile, so the
  // compare-and-set cannot pass twice on the same head at this node.
  std::mutex control_mu_;
  std::set<swarm::AccountId> control_pending_;  // GUARDED_BY(control_mu_)

  mutable std::mutex swarm_mu_;
  mutable SwarmCache swarm_cache_;  // GUARDED_BY(swarm_mu_)
};

}  // namespace onionswarm::node
