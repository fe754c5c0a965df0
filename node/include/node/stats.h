// Counters a node keeps about itself, for `onionswarm-node status` and the
// metrics dump. Plain relaxed atomics: written by the reactor, workers and
// the committer; read by the admin thread. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace onionswarm::node {

// A latency histogram with fixed bucket bounds (microseconds), Prometheus
// style: counts[i] counts observations <= kBoundsUs[i]; the last slot is +Inf.
struct LatencyHistogram {
  static constexpr std::array<uint64_t, 11> kBoundsUs = {250,    500,    1'000,   2'500,   5'000,    10'000,
                                                         25'000, 50'000, 100'000, 250'000, 1'000'000};
  std::array<std::atomic<uint64_t>, kBoundsUs.size() + 1> counts{};
  std::atomic<uint64_t> sum_us{0};

  void observe(uint64_t us) {
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    counts[i].fetch_add(1, std::memory_order_relaxed);
    sum_us.fetch_add(us, std::memory_order_relaxed);
  }
};

// The living directory's counters (node/gossip.h, Gossip::counters()).
struct GossipCounters {
  uint64_t admitted = 0;             // descriptors put in the view (new nodes and newer copies)
  uint64_t refused_invalid = 0;      // did not verify: signature, network id, times, endorsement
  uint64_t refused_unreachable = 0;  // verified, but the address check got no answer
  uint64_t expired = 0;              // dropped from the view unrefreshed
};

// Why a request was refused as busy (kBusy) instead of being queued.
enum class BusyReason : size_t {
  kConnectionRate = 0,  // a client connection over its request rate
  kAccountRate,         // an account over its request rate at the destination
  kQueueFull,           // too many onion requests (or bytes) in progress on this node
  kRelayInFlight,       // too many relayed requests awaiting the next hop
  kCount,
};
inline constexpr std::array<const char*, size_t(BusyReason::kCount)> kBusyReasonNames = {
    "connection_rate", "account_rate", "queue_full", "relay_in_flight"};

struct NodeStats {
  // Requests handled at this node as the destination, by method
  // (store, retrieve, delete, info, get_swarm) and outcome.
  static constexpr size_t kMethods = 5;
  std::array<std::atomic<uint64_t>, kMethods> served_ok{};
  std::array<std::atomic<uint64_t>, kMethods> served_error{};
  std::atomic<uint64_t> malformed_requests{0};  // destination payloads that did not parse

  std::atomic<uint64_t> layers_peeled{0};       // onion layers opened by this node
  std::atomic<uint64_t> layers_refused{0};      // blobs that failed to peel
  std::atomic<uint64_t> relayed{0};             // layers forwarded to a next hop
  std::atomic<uint64_t> relay_timeouts{0};      // next hop did not answer in time
  std::atomic<uint64_t> relay_refused{0};       // unknown or unreachable next hop, busy, congested
  std::atomic<uint64_t> link_errors{0};         // malformed frames on the public socket
  std::atomic<uint64_t> replicas_sent{0};        // one per replica per peer
  std::atomic<uint64_t> replicas_deferred{0};     // queued for a member's deferred push (sent later: replicas_sent)
  std::atomic<uint64_t> replica_batches_sent{0};  // kReplicateBatch frames: replicas_sent / this = replicas per frame
  std::atomic<uint64_t> replicas_received{0};
  std::atomic<uint64_t> replicas_refused{0};
  std::atomic<uint64_t> caught_up{0};           // messages fetched from peers by anti-entropy
  std::atomic<uint64_t> handed_over{0};         // messages moved to their new swarm and dropped here (rebalancing)
  std::atomic<uint64_t> handoff_pending{0};     // messages this node no longer serves, not yet confirmed elsewhere (gauge)
  std::atomic<uint64_t> replication_backlog{0}; // new stores waiting for a peer's replica ack (gauge)
  std::atomic<uint64_t> peers_reachable{0};     // swarm peers that answered in the last catch-up round (gauge)
  std::atomic<uint64_t> catching_up{0};         // 1 until a catch-up round succeeds after start or a swarm change (gauge)
  LatencyHistogram store_latency;               // destination store: request parsed -> answer ready
  LatencyHistogram retrieve_latency;            // destination retrieve
  std::atomic<uint64_t> sync_rounds{0};         // catch-up rounds completed
  std::atomic<uint64_t> in_flight{0};           // relayed requests awaiting an answer (gauge)
  std::atomic<uint64_t> started_ms{0};          // wall clock at start
  std::atomic<uint64_t> layers_replayed{0};     // layers refused because their ephemeral key was seen before
  std::atomic<uint64_t> layers_stale{0};        // layers refused for their timestamp: outside the window or the replay horizon
  std::array<std::atomic<uint64_t>, size_t(BusyReason::kCount)> busy{};  // refusals as busy, by reason
  std::atomic<uint64_t> queued_requests{0};     // onion requests in progress (gauge)
  std::atomic<uint64_t> replay_cache_keys{0};   // onion-layer keys the replay cache holds (gauge, every 100 ms)
  std::atomic<uint64_t> replay_cache_bytes{0};  // bytes its tables hold (gauge, every 100 ms)
  std::atomic<uint64_t> replay_cache_capacity{0};  // replay_cache_entries: when full, the oldest key goes
  std::atomic<uint64_t> replay_cache_evicted{0};   // keys forgotten early because the cache was full (every 100 ms)
  std::atomic<uint64_t> replay_horizon_ms{0};      // how old a layer may be and still be accepted (gauge, every 100 ms)
  std::atomic<uint64_t> storage_full_refusals{0};  // stores and replicas refused: disk or LMDB map (nearly) full

  void busy_refusal(BusyReason r) { inc(busy[size_t(r)]); }

  static void inc(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
};

}  // namespace onionswarm::node
