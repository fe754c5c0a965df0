#include "node/metrics.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

namespace onionswarm::node {
namespace {

NodeSnapshot sample() {
  NodeSnapshot s;
  s.version = "9.9.9";
  s.network_id = "net\"1";
  s.address = "tcp://127.0.0.1:4500";
  s.nodes_known = 7;
  s.swarms = 2;
  s.in_swarm = true;
  s.swarm_id = 0x8000000000000000ull;
  s.peers = {"tcp://a:1", "tcp://b:2"};
  s.storage_ok = true;
  s.messages = 42;
  s.data_bytes = 4200;
  s.schema_version = 1;
  s.commits = 17;
  s.served_ok[0] = 5;
  s.served_error[1] = 3;
  s.relayed = 11;
  s.relay_refused = 2;
  s.replicas_sent = 4;
  s.replica_batches_sent = 2;
  s.gossip = {6, 3, 2, 1};
  s.replay_cache_keys = 12;
  s.replay_cache_capacity = 1000;
  s.replay_cache_bytes = 4096;
  s.replay_cache_evicted = 7;
  s.replay_horizon_ms = 95'500;
  s.layers_stale = 3;
  return s;
}

TEST(StatusJson, CarriesCountsSwarmAndKeys) {
  auto j = status_json(sample());
  EXPECT_EQ(j["version"], "9.9.9");
  EXPECT_EQ(j["nodes_known"], 7);
  EXPECT_EQ(j["messages"], 42);
  EXPECT_EQ(j["bytes"], 4200);
  EXPECT_EQ(j["swarm"]["id"], "8000000000000000");
  EXPECT_EQ(j["swarm"]["peers"].size(), 2u);
  EXPECT_EQ(j["requests"]["store"]["served"], 5);
  EXPECT_EQ(j["requests"]["retrieve"]["refused"], 3);
  EXPECT_EQ(j["relay"]["relayed"], 11);
  EXPECT_EQ(j["replication"]["sent"], 4);
  EXPECT_EQ(j["replication"]["batches_sent"], 2);
  EXPECT_EQ(j["storage"]["commits"], 17);
  EXPECT_NE(prometheus_text(sample()).find("onionswarm_storage_commits_total 17\n"), std::string::npos);
}

TEST(StatusJson, CarriesTheGossipCounters) {
  auto j = status_json(sample());
  EXPECT_EQ(j["gossip"]["admitted"], 6);
  EXPECT_EQ(j["gossip"]["refused"]["invalid"], 3);
  EXPECT_EQ(j["gossip"]["refused"]["unreachable"], 2);
  EXPECT_EQ(j["gossip"]["expired"], 1);
  const std::string text = status_summary(j);
  EXPECT_NE(text.find("nodes known  7"), std::string::npos) << text;
  EXPECT_NE(text.find("6 descriptors admitted, 3 refused invalid, 2 refused unreachable, 1 expired"), std::string::npos)
      << text;
}

TEST(PrometheusText, CarriesTheGossipCountersByReason) {
  const std::string text = prometheus_text(sample());
  EXPECT_NE(text.find("onionswarm_nodes_known 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("onionswarm_gossip_descriptors_admitted_total 6\n"), std::string::npos) << text;
  EXPECT_NE(text.find("onionswarm_gossip_descriptors_refused_total{reason=\"invalid\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_gossip_descriptors_refused_total{reason=\"unreachable\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_gossip_descriptors_expired_total 1\n"), std::string::npos);
}

TEST(StatusJson, CarriesTheCatchUpAndRebalanceCounters) {
  NodeSnapshot s = sample();
  s.caught_up = 17;
  s.handed_over = 23;
  s.handoff_pending = 5;
  auto j = status_json(s);
  EXPECT_EQ(j["replication"]["caught_up"], 17);
  EXPECT_EQ(j["replication"]["handed_over"], 23);
  EXPECT_EQ(j["replication"]["handoff_pending"], 5);
  const std::string text = status_summary(j);
  EXPECT_NE(text.find("17 caught up"), std::string::npos) << text;
  EXPECT_NE(text.find("rebalance    23 handed over, 5 pending"), std::string::npos) << text;
}

TEST(PrometheusText, CarriesTheRebalanceCounters) {
  NodeSnapshot s = sample();
  s.handed_over = 23;
  s.handoff_pending = 5;
  const std::string text = prometheus_text(s);
  EXPECT_NE(text.find("# TYPE onionswarm_handed_over_total counter\nonionswarm_handed_over_total 23\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE onionswarm_handoff_pending gauge\nonionswarm_handoff_pending 5\n"), std::string::npos)
      << text;
}

TEST(StatusJson, SwarmIsNullWhenNotAMember) {
  NodeSnapshot s = sample();
  s.in_swarm = false;
  EXPECT_TRUE(status_json(s)["swarm"].is_null());
  EXPECT_NE(status_summary(status_json(s)).find("not a member"), std::string::npos);
}

TEST(PrometheusText, EverySampleHasHelpAndTypeAndParses) {
  const std::string text = prometheus_text(sample());
  std::set<std::string> typed;
  std::istringstream in(text);
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(typed.insert(name).second) << "family typed twice: " << name;
      continue;
    }
    if (line[0] == '#') continue;
    std::string name = line.substr(0, line.find_first_of("{ "));
    // A histogram family's samples carry the suffixes _bucket, _sum, _count.
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (!typed.count(name) && name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0)
        name.resize(name.size() - s.size());
    }
    EXPECT_TRUE(typed.count(name)) << "sample before its # TYPE: " << line;
    EXPECT_EQ(name.rfind("onionswarm_", 0), 0u);
    std::string value = line.substr(line.rfind(' ') + 1);
    EXPECT_FALSE(value.empty());
    EXPECT_EQ(value.find_first_not_of("0123456789"), std::string::npos) << line;
    ++samples;
  }
  EXPECT_GT(samples, 20);
  EXPECT_NE(text.find("onionswarm_requests_total{method=\"store\",outcome=\"ok\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_requests_total{method=\"retrieve\",outcome=\"error\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_messages_stored 42\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_replicas_sent_total 4\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_replica_batches_sent_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_swarm_members 3\n"), std::string::npos);
  EXPECT_NE(text.find("network_id=\"net\\\"1\""), std::string::npos) << "label values are escaped";
  EXPECT_NE(text.find("# TYPE onionswarm_store_latency_microseconds histogram"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_store_latency_microseconds_bucket{le=\"+Inf\"}"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_replication_backlog "), std::string::npos);
  EXPECT_NE(text.find("onionswarm_peers_reachable "), std::string::npos);
  EXPECT_NE(text.find("onionswarm_catching_up "), std::string::npos);
}

TEST(PrometheusText, HistogramBucketsAreCumulativeAndEndWithTheCount) {
  NodeSnapshot s = sample();
  s.store_latency.counts = {};
  s.store_latency.counts[0] = 2;   // <= 250 us
  s.store_latency.counts[3] = 5;   // <= 2500 us
  s.store_latency.counts.back() = 1;  // > 1 s
  s.store_latency.sum_us = 12345;
  const std::string text = prometheus_text(s);
  EXPECT_NE(text.find("onionswarm_store_latency_microseconds_bucket{le=\"250\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("onionswarm_store_latency_microseconds_bucket{le=\"2500\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_store_latency_microseconds_bucket{le=\"+Inf\"} 8\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_store_latency_microseconds_sum 12345\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_store_latency_microseconds_count 8\n"), std::string::npos);
}

TEST(StatusJson, CarriesTheReplayCacheAndItsBound) {
  // How full the onion-layer replay cache is: at its capacity it forgets
  // its oldest keys and the horizon (how old a layer may be) shrinks, so
  // operators watch keys against capacity and the horizon.
  auto j = status_json(sample());
  EXPECT_EQ(j["relay"]["replay_cache"]["keys"], 12);
  EXPECT_EQ(j["relay"]["replay_cache"]["capacity"], 1000);
  EXPECT_EQ(j["relay"]["replay_cache"]["bytes"], 4096);
  EXPECT_EQ(j["relay"]["replay_cache"]["evicted"], 7);
  EXPECT_EQ(j["relay"]["replay_cache"]["horizon_ms"], 95'500);
  EXPECT_EQ(j["relay"]["stale"], 3);
  const std::string text = prometheus_text(sample());
  EXPECT_NE(text.find("onionswarm_replay_cache_keys 12\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_replay_cache_capacity 1000\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_replay_cache_bytes 4096\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_replay_cache_evicted_total 7\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_replay_horizon_seconds 95\n"), std::string::npos);
  EXPECT_NE(text.find("onionswarm_layers_stale_total 3\n"), std::string::npos);
  const std::string summary = status_summary(j);
  EXPECT_NE(summary.find("replay cache 12 of 1000 keys, 4096 bytes, horizon 95500 ms, 7 evicted"), std::string::npos)
      << summary;
}

TEST(StatusSummary, ToleratesMissingFields) {
  std::string s = status_summary(nlohmann::json::object());
  EXPECT_NE(s.find("onionswarm-node -"), std::string::npos) << s;
}

}  // namespace
}  // namespace onionswarm::node
