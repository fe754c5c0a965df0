// Anti-entropy: a node catches up from its swarm peers, so a member that was
// down (or is new) ends up holding what its peers hold.
//
// One round against one peer: ask for the peer's 256 bucket digests
// (Storage::digest), compare with our own, list only the buckets that
// differ (bounded pages of hashes), and fetch only the hashes we lack
// (bounded batches), storing them as replicas. A round stops after
// max_messages_per_round messages; the next round follows at once.
//
// Rebalancing: when the directory changes (a new snapshot), the thread wakes
// up at once, hands over the messages of accounts this node no longer
// serves (node/rebalance.h), then runs a catch-up round with its (new) swarm
// peers. The hand-over also runs on the first round after start and is
// retried every handoff_retry_ms while messages are pending; a pass that
// stopped at max_messages_per_round is followed by the next one at once.
//
// Threading: SyncThread runs on its own thread and owns its own ZeroMQ
// context and DEALER sockets (CURVE with the node's key, so the peer's ZAP
// handler knows it is this node). It touches Storage and RequestHandler only
// through their thread-safe methods.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/handler.h"
#include "node/identity.h"
#include "node/stats.h"
#include "node/storage.h"
#include "swarm/directory.h"

namespace onionswarm::node {

struct SyncOptions {
  uint64_t first_round_delay_ms = 1'000;  // after start: catch up soon after a restart
  uint64_t interval_ms = 60'000;          // between later rounds
  uint64_t request_timeout_ms = 5'000;    // per request to a peer
  size_t max_messages_per_round = 10'000;
  size_t list_page = 1'000;               // hashes per list request (<= 1000)
  size_t fetch_batch = 100;               // hashes per fetch request (<= 100)
  uint64_t view_check_ms = 250;           // how often to look for a changed directory (swarms)
  uint64_t handoff_retry_ms = 2'000;      // next round this soon while hand-overs are pending
                                          // (a peer could not take them) or while the node is
                                          // still catching up (no peer answered)
};

// How long the sync thread waits before its next round. A round (or a
// hand-over pass) that stopped at max_messages_per_round made progress and
// left more behind: the next one starts at once. The peers see no more load
// than from one longer round, since the thread asks one peer at a time and
// waits for each answer. Hand-overs that a peer could not take, or a node
// that no peer has answered yet, retry after handoff_retry_ms; otherwise
// the next round is interval_ms away.
uint64_t next_round_wait_ms(const SyncOptions& options, bool cut_short, bool retry);

// Limits of the peer side (Server answers kSyncRequest).
inline constexpr size_t kMaxSyncListPage = 1'000;
inline constexpr size_t kMaxSyncFetch = 100;
inline constexpr size_t kMaxSyncAnswerBytes = 200 * 1024;

// Answers one catch-up request from a swarm peer (the server calls it on a
// worker thread): {"op":"digest"} | {"op":"list","bucket":n,"after":hex?,"limit":k}
// | {"op":"fetch","hashes":[hex...]}. kInvalidArgument for anything else.
Result<nlohmann::json> answer_sync_request(const Storage& storage, const nlohmann::json& request, uint64_t now_ms);

class SyncThread {
 public:
  SyncThread(SyncOptions options, const NodeKeys& keys, std::shared_ptr<swarm::Directory> directory,
             RequestHandler& handler, Storage& storage, NodeStats& stats, Clock clock);
  ~SyncThread();  // stops and joins
  SyncThread(const SyncThread&) = delete;
  SyncThread& operator=(const SyncThread&) = delete;

  // Marks the handler as catching up (RequestHandler::set_catching_up) and
  // starts the thread, which clears the mark after its first successful
  // round and sets it again whenever this node's swarm changes.
  void start();

 private:
  void loop();
  struct RoundOutcome {
    bool more = false;       // stopped at max_messages_per_round: more may be missing
    bool caught_up = false;  // not cut short, and some peer answered (or there are none)
  };
  // One catch-up round with every other member of this node's swarm.
  RoundOutcome round();
  struct HandoffOutcome {
    bool done = false;       // nothing is left to hand over
    bool cut_short = false;  // the pass stopped at max_messages_per_round
  };
  // Hands over messages of accounts this node no longer serves
  // (node/rebalance.h).
  HandoffOutcome handoff(const std::vector<swarm::Swarm>& swarms);
  Status sync_with(const swarm::NodeDescriptor& peer, size_t* fetched);

  const SyncOptions options_;
  const NodeKeys& keys_;
  std::shared_ptr<swarm::Directory> directory_;
  RequestHandler& handler_;
  Storage& storage_;
  NodeStats& stats_;
  const Clock clock_;
  size_t next_peer_ = 0;  // sync thread only: round-robin over peers
  std::vector<crypto::X25519PublicKey> members_;  // sync thread only: this node's swarm at the last round, sorted

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace onionswarm::node
