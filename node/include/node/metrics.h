// What `onionswarm-node status` and the metrics dump report: a snapshot of
// the node's counters, storage and swarm, and its two renderings (the status
// JSON and the Prometheus text exposition format, version 0.0.4).
//
// take_snapshot reads only thread-safe state (NodeStats atomics, a read-only
// storage transaction, the directory snapshot, the handler's swarm cache),
// so any thread may call it while the reactor runs. The renderers are pure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/stats.h"

namespace onionswarm::node {

class Server;

// Request methods in NodeStats order (the rpc::Request variant order).
inline constexpr std::array<const char*, NodeStats::kMethods> kMethodNames = {"store", "retrieve", "delete", "info",
                                                                              "get_swarm"};

struct NodeSnapshot {
  std::string version;
  std::string network_id;
  std::string address;  // bound public endpoint
  std::string ed25519;  // public keys, hex
  std::string x25519;
  uint64_t uptime_s = 0;
  uint64_t nodes_known = 0;
  bool in_swarm = false;            // this node is a member of some swarm
  uint64_t swarm_id = 0;            // valid when in_swarm
  std::vector<std::string> peers;   // other members' addresses, when in_swarm
  uint64_t swarms = 0;              // number of swarms in the network
  GossipCounters gossip;            // set by the caller of take_snapshot (AdminOptions::gossip)

  bool storage_ok = false;  // false: the stats read failed (storage_error says why)
  std::string storage_error;
  uint64_t messages = 0;
  uint64_t data_bytes = 0;
  uint32_t schema_version = 0;
  uint64_t commits = 0;  // durable write transactions since start

  std::array<uint64_t, NodeStats::kMethods> served_ok{};
  std::array<uint64_t, NodeStats::kMethods> served_error{};
  uint64_t malformed_requests = 0;
  uint64_t layers_peeled = 0;
  uint64_t layers_refused = 0;
  uint64_t relayed = 0;
  uint64_t relay_timeouts = 0;
  uint64_t relay_refused = 0;
  uint64_t link_errors = 0;
  uint64_t replicas_sent = 0;
  uint64_t replica_batches_sent = 0;
  uint64_t replicas_deferred = 0;
  uint64_t replicas_received = 0;
  uint64_t replicas_refused = 0;
  uint64_t in_flight = 0;
  uint64_t caught_up = 0;
  uint64_t handed_over = 0;      // rebalancing: messages moved to their new swarm and dropped here
  uint64_t handoff_pending = 0;  // rebalancing: messages not served here any more, not yet confirmed elsewhere
  uint64_t sync_rounds = 0;
  uint64_t replication_backlog = 0;
  uint64_t peers_reachable = 0;
  uint64_t catching_up = 0;
  uint64_t layers_replayed = 0;
  uint64_t layers_stale = 0;
  uint64_t queued_requests = 0;
  uint64_t replay_cache_keys = 0;
  uint64_t replay_cache_bytes = 0;
  uint64_t replay_cache_capacity = 0;
  uint64_t replay_cache_evicted = 0;
  uint64_t replay_horizon_ms = 0;
  uint64_t storage_full_refusals = 0;
  std::array<uint64_t, size_t(BusyReason::kCount)> busy{};
  struct Histogram {
    std::array<uint64_t, LatencyHistogram::kBoundsUs.size() + 1> counts{};
    uint64_t sum_us = 0;
  };
  Histogram store_latency, retrieve_latency;
};

// Reads the server's state. now_ms: wall clock (for the uptime).
NodeSnapshot take_snapshot(Server& server, const std::string& network_id, uint64_t now_ms);

// {version, network_id, uptime_s, node {ed25519, x25519, address},
//  nodes_known, swarm {id, peers[]} (null when not a member), storage
//  {messages, bytes, schema_version}, messages, bytes, requests {METHOD:
//  {served, refused}}, malformed_requests, relay {...}, replication {sent,
//  received, refused, caught_up, handed_over, handoff_pending},
//  gossip {admitted, refused {invalid, unreachable}, expired}}.
// The swarm id is a 16-digit hex string (a u64 does not fit a JSON double).
nlohmann::json status_json(const NodeSnapshot& s);

// Prometheus text format: every metric with # HELP and # TYPE lines, names
// prefixed "onionswarm_", counters suffixed "_total".
std::string prometheus_text(const NodeSnapshot& s);

// A human summary of status_json's output (for `onionswarm-node status`).
// Tolerates missing fields (an older node's answer).
std::string status_summary(const nlohmann::json& status);

}  // namespace onionswarm::node
