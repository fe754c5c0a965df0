#include "node/metrics.h"

#include <cinttypes>
#include <cstdio>

#include "node/server.h"
#include "onion/encoding.h"
#include "swarm/swarms.h"

namespace onionswarm::node {
namespace {

uint64_t load(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// Label values are escaped as the text format requires (\\, \", \n).
std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

class Exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP onionswarm_";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE onionswarm_";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const char* name, uint64_t value, const std::string& labels = {}) {
    out_ += "onionswarm_";
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }
  void counter(const char* name, const char* help, uint64_t value) {
    family(name, "counter", help);
    sample(name, value);
  }
  void gauge(const char* name, const char* help, uint64_t value) {
    family(name, "gauge", help);
    sample(name, value);
  }
  // Cumulative buckets le=<bound in us>, then +Inf, _sum and _count.
  void histogram(const char* name, const char* help, const NodeSnapshot::Histogram& h) {
    family(name, "histogram", help);
    const std::string base = name;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      const std::string le =
          i < LatencyHistogram::kBoundsUs.size() ? std::to_string(LatencyHistogram::kBoundsUs[i]) : "+Inf";
      sample((base + "_bucket").c_str(), cumulative, "le=\"" + le + "\"");
    }
    sample((base + "_sum").c_str(), h.sum_us);
    sample((base + "_count").c_str(), cumulative);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

NodeSnapshot take_snapshot(Server& server, const std::string& network_id, uint64_t now_ms) {
  NodeSnapshot s;
  s.version = ONIONSWARM_VERSION;
  s.network_id = network_id;
  s.address = server.endpoint();
  s.ed25519 = to_hex(server.keys().ed25519.public_key().view());
  s.x25519 = to_hex(server.keys().x25519.public_key().view());

  const NodeStats& st = server.stats();
  const uint64_t started = load(st.started_ms);
  s.uptime_s = started && now_ms > started ? (now_ms - started) / 1000 : 0;
  for (size_t i = 0; i < NodeStats::kMethods; ++i) {
    s.served_ok[i] = load(st.served_ok[i]);
    s.served_error[i] = load(st.served_error[i]);
  }
  s.malformed_requests = load(st.malformed_requests);
  s.layers_peeled = load(st.layers_peeled);
  s.layers_refused = load(st.layers_refused);
  s.relayed = load(st.relayed);
  s.relay_timeouts = load(st.relay_timeouts);
  s.relay_refused = load(st.relay_refused);
  s.link_errors = load(st.link_errors);
  s.replicas_sent = load(st.replicas_sent);
  s.replica_batches_sent = load(st.replica_batches_sent);
  s.replicas_deferred = load(st.replicas_deferred);
  s.replicas_received = load(st.replicas_received);
  s.replicas_refused = load(st.replicas_refused);
  s.in_flight = load(st.in_flight);
  s.caught_up = load(st.caught_up);
  s.handed_over = load(st.handed_over);
  s.handoff_pending = load(st.handoff_pending);
  s.sync_rounds = load(st.sync_rounds);
  s.replication_backlog = load(st.replication_backlog);
  s.peers_reachable = load(st.peers_reachable);
  s.catching_up = load(st.catching_up);
  s.layers_replayed = load(st.layers_replayed);
  s.layers_stale = load(st.layers_stale);
  s.queued_requests = load(st.queued_requests);
  s.replay_cache_keys = load(st.replay_cache_keys);
  s.replay_cache_bytes = load(st.replay_cache_bytes);
  s.replay_cache_capacity = load(st.replay_cache_capacity);
  s.replay_cache_evicted = load(st.replay_cache_evicted);
  s.replay_horizon_ms = load(st.replay_horizon_ms);
  s.storage_full_refusals = load(st.storage_full_refusals);
  for (size_t i = 0; i < s.busy.size(); ++i) s.busy[i] = load(st.busy[i]);
  auto copy_histogram = [](const LatencyHistogram& from, NodeSnapshot::Histogram& to) {
    for (size_t i = 0; i < to.counts.size(); ++i) to.counts[i] = load(from.counts[i]);
    to.sum_us = load(from.sum_us);
  };
  copy_histogram(st.store_latency, s.store_latency);
  copy_histogram(st.retrieve_latency, s.retrieve_latency);

  auto nodes = server.directory().snapshot();
  s.nodes_known = nodes ? nodes->size() : 0;
  auto swarms = server.handler().swarms();
  if (swarms) {
    s.swarms = swarms->size();
    const auto& self = server.keys().x25519.public_key();
    if (auto i = swarm::swarm_index_of_node(*swarms, self)) {
      s.in_swarm = true;
      s.swarm_id = (*swarms)[*i].id;
      for (const auto& m : (*swarms)[*i].members)
        if (!(m.x25519 == self)) s.peers.push_back(m.address);
    }
  }

  auto stats = server.storage().stats();
  if (stats.ok()) {
    s.storage_ok = true;
    s.messages = stats->messages;
    s.data_bytes = stats->data_bytes;
  } else {
    s.storage_error = stats.status().message();
  }
  s.schema_version = server.storage().schema_version();
  s.commits = server.storage().commits();
  return s;
}

nlohmann::json status_json(const NodeSnapshot& s) {
  using nlohmann::json;
  json requests = json::object();
  for (size_t i = 0; i < NodeStats::kMethods; ++i)
    requests[kMethodNames[i]] = {{"served", s.served_ok[i]}, {"refused", s.served_error[i]}};
  json swarm = nullptr;
  if (s.in_swarm) swarm = {{"id", hex64(s.swarm_id)}, {"peers", s.peers}};
  json storage = {{"ok", s.storage_ok}, {"messages", s.messages}, {"bytes", s.data_bytes},
                  {"schema_version", s.schema_version}, {"full_refusals", s.storage_full_refusals},
                  {"commits", s.commits}};
  if (!s.storage_ok) storage["error"] = s.storage_error;
  return {
      {"version", s.version},
      {"network_id", s.network_id},
      {"uptime_s", s.uptime_s},
      {"node", {{"ed25519", s.ed25519}, {"x25519", s.x25519}, {"address", s.address}}},
      {"nodes_known", s.nodes_known},
      {"swarms", s.swarms},
      {"swarm", swarm},
      {"messages", s.messages},
      {"bytes", s.data_bytes},
      {"storage", storage},
      {"requests", requests},
      {"malformed_requests", s.malformed_requests},
      {"relay",
       {{"layers_peeled", s.layers_peeled},
        {"layers_refused", s.layers_refused},
        {"relayed", s.relayed},
        {"timeouts", s.relay_timeouts},
        {"refused", s.relay_refused},
        {"in_flight", s.in_flight},
        {"link_errors", s.link_errors},
        {"replayed", s.layers_replayed},
        {"stale", s.layers_stale},
        {"queued", s.queued_requests},
        {"replay_cache",
         {{"keys", s.replay_cache_keys},
          {"capacity", s.replay_cache_capacity},
          {"bytes", s.replay_cache_bytes},
          {"evicted", s.replay_cache_evicted},
          {"horizon_ms", s.replay_horizon_ms}}}}},
      {"replication",
       {{"sent", s.replicas_sent},
        {"batches_sent", s.replica_batches_sent},
        {"deferred", s.replicas_deferred},
        {"received", s.replicas_received},
        {"refused", s.replicas_refused},
        {"caught_up", s.caught_up},
        {"handed_over", s.handed_over},
        {"handoff_pending", s.handoff_pending},
        {"catching_up", s.catching_up != 0}}},
      {"gossip",
       {{"admitted", s.gossip.admitted},
        {"refused", {{"invalid", s.gossip.refused_invalid}, {"unreachable", s.gossip.refused_unreachable}}},
        {"expired", s.gossip.expired}}},
  };
}

std::string prometheus_text(const NodeSnapshot& s) {
  Exposition e;
  e.family("build_info", "gauge", "Always 1; the labels name the build and the network.");
  e.sample("build_info", 1,
           "version=\"" + label_value(s.version) + "\",network_id=\"" + label_value(s.network_id) + "\"");
  e.gauge("uptime_seconds", "Seconds since the node started.", s.uptime_s);
  e.family("requests_total", "counter", "Destination requests answered, by method and outcome (ok or error).");
  for (size_t i = 0; i < NodeStats::kMethods; ++i) {
    e.sample("requests_total", s.served_ok[i], std::string("method=\"") + kMethodNames[i] + "\",outcome=\"ok\"");
    e.sample("requests_total", s.served_error[i],
             std::string("method=\"") + kMethodNames[i] + "\",outcome=\"error\"");
  }
  e.counter("malformed_requests_total", "Destination payloads that did not parse as a request.",
            s.malformed_requests);
  e.counter("layers_peeled_total", "Onion layers opened by this node.", s.layers_peeled);
  e.counter("layers_refused_total", "Blobs that failed to peel.", s.layers_refused);
  e.counter("relayed_total", "Layers forwarded to a next hop.", s.relayed);
  e.counter("relay_timeouts_total", "Relayed requests whose next hop did not answer in time.", s.relay_timeouts);
  e.counter("relay_refused_total", "Relays refused: unknown or unreachable next hop, busy or congested (rate limiting).",
            s.relay_refused);
  e.counter("link_errors_total", "Malformed frames on the public socket.", s.link_errors);
  e.gauge("relay_in_flight", "Relayed requests awaiting an answer.", s.in_flight);
  e.counter("layers_replayed_total", "Onion layers refused because their ephemeral key was seen before.",
            s.layers_replayed);
  e.counter("layers_stale_total",
            "Onion layers refused for their timestamp: outside the clock window or older than the replay horizon.",
            s.layers_stale);
  e.gauge("queued_requests", "Onion requests in progress on this node (bounded by max_queued_requests).",
          s.queued_requests);
  e.gauge("replay_cache_keys",
          "Onion-layer keys remembered against replays; at replay_cache_capacity the oldest is forgotten.",
          s.replay_cache_keys);
  e.gauge("replay_cache_capacity", "The replay cache's bound (replay_cache_entries).", s.replay_cache_capacity);
  e.gauge("replay_cache_bytes", "Bytes the replay cache's tables hold.", s.replay_cache_bytes);
  e.counter("replay_cache_evicted_total",
            "Layer keys forgotten before their time because the replay cache was full; each narrows the horizon.",
            s.replay_cache_evicted);
  e.gauge("replay_horizon_seconds",
          "How old a layer's timestamp may be and still be accepted: layer_max_skew, less while the cache is full.",
          s.replay_horizon_ms / 1000);
  e.family("busy_refusals_total", "counter",
           "Requests refused as busy (rate limit or resource bound) instead of queued, by reason.");
  for (size_t i = 0; i < s.busy.size(); ++i)
    e.sample("busy_refusals_total", s.busy[i], std::string("reason=\"") + kBusyReasonNames[i] + "\"");
  e.counter("storage_full_refusals_total",
            "Stores and replicas refused because the disk or the LMDB map is (nearly) full (storage_full).",
            s.storage_full_refusals);
  e.counter("replicas_sent_total", "Replica pushes sent to swarm peers.", s.replicas_sent);
  e.counter("replica_batches_sent_total",
            "Replica batch frames sent to swarm peers (replicas_sent_total / this = replicas per frame).",
            s.replica_batches_sent);
  e.counter("replicas_deferred_total",
            "Replicas queued for a swarm peer's deferred push (counted in replicas_sent_total once sent).",
            s.replicas_deferred);
  e.counter("replicas_received_total", "Replicas received from swarm peers.", s.replicas_received);
  e.counter("replicas_refused_total", "Replicas refused (not a member of the account's swarm, invalid).",
            s.replicas_refused);
  e.gauge("messages_stored", "Messages in the store.", s.messages);
  e.gauge("message_bytes_stored", "Bytes of message data in the store.", s.data_bytes);
  e.gauge("storage_ok", "1 if the last storage read succeeded.", s.storage_ok ? 1 : 0);
  e.gauge("storage_schema_version", "Schema version of the data dir.", s.schema_version);
  e.counter("storage_commits_total",
            "Durable write transactions committed; each holds the stores, replicas, deletes and expiries that "
            "were waiting (writes per commit = their sum / this).",
            s.commits);
  e.gauge("nodes_known", "Nodes in this node's directory view (itself included).", s.nodes_known);
  e.counter("gossip_descriptors_admitted_total", "Node descriptors put in the view (new nodes, newer copies).",
            s.gossip.admitted);
  e.family("gossip_descriptors_refused_total", "counter",
           "Node descriptors refused: invalid (did not verify) or unreachable (address check unanswered).");
  e.sample("gossip_descriptors_refused_total", s.gossip.refused_invalid, "reason=\"invalid\"");
  e.sample("gossip_descriptors_refused_total", s.gossip.refused_unreachable, "reason=\"unreachable\"");
  e.counter("gossip_descriptors_expired_total", "Node descriptors dropped from the view unrefreshed.",
            s.gossip.expired);
  e.gauge("swarms", "Swarms the network is divided into.", s.swarms);
  e.gauge("swarm_members", "Members of this node's swarm, itself included (0: not in a swarm).",
          s.in_swarm ? s.peers.size() + 1 : 0);
  e.gauge("peers_reachable", "Swarm peers that answered in the last catch-up round.", s.peers_reachable);
  e.gauge("catching_up",
          "1 until a catch-up round succeeds after start or a swarm change; retrieve answers say so meanwhile.",
          s.catching_up);
  e.gauge("replication_backlog", "New stores waiting for a swarm peer to confirm its replica.",
          s.replication_backlog);
  e.counter("caught_up_total", "Messages fetched from swarm peers by catch-up (anti-entropy).", s.caught_up);
  e.counter("sync_rounds_total", "Catch-up rounds completed.", s.sync_rounds);
  e.counter("handed_over_total", "Messages handed over to their new swarm after a swarm change, and dropped here.",
            s.handed_over);
  e.gauge("handoff_pending", "Messages of accounts this node no longer serves, not yet confirmed by their new swarm.",
          s.handoff_pending);
  e.histogram("store_latency_microseconds",
              "Destination store: request parsed to answer ready (durable commit and replica ack included).",
              s.store_latency);
  e.histogram("retrieve_latency_microseconds", "Destination retrieve: request parsed to answer ready.",
              s.retrieve_latency);
  return e.take();
}

std::string status_summary(const nlohmann::json& j) {
  auto str = [&](const nlohmann::json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "-";
    return v.dump();
  };
  auto at = [&](std::initializer_list<const char*> path) -> nlohmann::json {
    const nlohmann::json* v = &j;
    for (const char* k : path) {
      if (!v->is_object() || !v->contains(k)) return nullptr;
      v = &(*v)[k];
    }
    return *v;
  };
  std::string out;
  out += "onionswarm-node " + str(at({"version"})) + ", network " + str(at({"network_id"})) + ", up " +
         str(at({"uptime_s"})) + " s\n";
  out += "  address      " + str(at({"node", "address"})) + "\n";
  out += "  ed25519      " + str(at({"node", "ed25519"})) + "\n";
  out += "  x25519       " + str(at({"node", "x25519"})) + "\n";
  out += "  nodes known  " + str(at({"nodes_known"})) + " in " + str(at({"swarms"})) + " swarms\n";
  auto swarm = at({"swarm"});
  if (swarm.is_object()) {
    out += "  swarm        " + str(swarm["id"]) + " with " + std::to_string(swarm["peers"].size()) + " peers\n";
  } else {
    out += "  swarm        not a member of any swarm\n";
  }
  out += "  stored       " + str(at({"messages"})) + " messages, " + str(at({"bytes"})) + " bytes\n";
  if (at({"storage", "ok"}) == false) out += "  storage      ERROR " + str(at({"storage", "error"})) + "\n";
  out += "  requests     served / refused\n";
  for (const char* m : kMethodNames) {
    out += "    " + std::string(m) + std::string(12 - std::string_view(m).size(), ' ') +
           str(at({"requests", m, "served"})) + " / " + str(at({"requests", m, "refused"})) + "\n";
  }
  out += "  relay        " + str(at({"relay", "relayed"})) + " relayed, " + str(at({"relay", "timeouts"})) +
         " timeouts, " + str(at({"relay", "refused"})) + " refused, " + str(at({"relay", "in_flight"})) +
         " in flight\n";
  out += "  replay cache " + str(at({"relay", "replay_cache", "keys"})) + " of " +
         str(at({"relay", "replay_cache", "capacity"})) + " keys, " + str(at({"relay", "replay_cache", "bytes"})) +
         " bytes, horizon " + str(at({"relay", "replay_cache", "horizon_ms"})) + " ms, " +
         str(at({"relay", "replay_cache", "evicted"})) + " evicted\n";
  out += "  replication  " + str(at({"replication", "sent"})) + " sent, " + str(at({"replication", "received"})) +
         " received, " + str(at({"replication", "refused"})) + " refused, " +
         str(at({"replication", "caught_up"})) + " caught up" +
         (at({"replication", "catching_up"}) == true ? ", still catching up with its swarm" : "") + "\n";
  out += "  rebalance    " + str(at({"replication", "handed_over"})) + " handed over, " +
         str(at({"replication", "handoff_pending"})) + " pending\n";
  out += "  gossip       " + str(at({"gossip", "admitted"})) + " descriptors admitted, " +
         str(at({"gossip", "refused", "invalid"})) + " refused invalid, " +
         str(at({"gossip", "refused", "unreachable"})) + " refused unreachable, " + str(at({"gossip", "expired"})) +
         " expired\n";
  return out;
}

}  // namespace onionswarm::node
