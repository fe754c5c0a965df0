#include "config/node_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace onionswarm::config {
namespace {

void expect_invalid(std::string_view json, const std::string& prefix) {
  auto r = parse_node_config(json);
  ASSERT_FALSE(r.ok()) << json;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind(prefix, 0), 0u) << "message: " << r.status().message();
}

NodeConfig complete() {
  NodeConfig c;
  c.data_dir = "/tmp/node1";
  c.network = "/tmp/network.json";
  return c;
}

void expect_validate_error(const NodeConfig& c, const std::string& prefix) {
  Status s = validate_node_config(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind(prefix, 0), 0u) << "message: " << s.message();
}

TEST(NodeConfig, EmptyObjectGivesDefaults) {
  auto r = parse_node_config("{}");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  NodeConfig d;
  EXPECT_EQ(r->data_dir, "");
  EXPECT_EQ(r->listen, "tcp://127.0.0.1:4500");
  EXPECT_EQ(r->network, "");
  EXPECT_EQ(r->log_level, "info");
  EXPECT_EQ(r->workers, 0u);
  EXPECT_EQ(r->quota_messages, 10000u);
  EXPECT_EQ(r->quota_bytes, 64u << 20);
  EXPECT_EQ(r->max_message_bytes, 64u << 10);
  EXPECT_EQ(r->map_size, uint64_t(8) << 30);
  EXPECT_EQ(r->relay_timeout_ms, 10000u);
  EXPECT_EQ(r->map_size, d.map_size);
}

TEST(NodeConfig, SetsOnlyNamedKeys) {
  auto r = parse_node_config(R"({"data_dir":"d","workers":3,"listen":"tcp://*:0"})");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->data_dir, "d");
  EXPECT_EQ(r->workers, 3u);
  EXPECT_EQ(r->listen, "tcp://*:0");
  EXPECT_EQ(r->log_level, "info");
  EXPECT_EQ(r->quota_messages, 10000u);
}

TEST(NodeConfig, ParsesEveryField) {
  auto r = parse_node_config(R"({"data_dir":"/d","listen":"tcp://127.0.0.1:*","network":"/n.json",
    "log_level":"debug","workers":8,"quota_messages":5,"quota_bytes":1048576,"max_message_bytes":65536,
    "map_size":1073741824,"relay_timeout_ms":250})");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->network, "/n.json");
  EXPECT_EQ(r->log_level, "debug");
  EXPECT_EQ(r->quota_messages, 5u);
  EXPECT_EQ(r->quota_bytes, 1048576u);
  EXPECT_EQ(r->max_message_bytes, 65536u);
  EXPECT_EQ(r->map_size, 1073741824u);
  EXPECT_EQ(r->relay_timeout_ms, 250u);
  EXPECT_TRUE(validate_node_config(*r).ok());
}

TEST(NodeConfig, RejectsNotJson) {
  expect_invalid("", "/: ");
  expect_invalid("{", "/: ");
  expect_invalid("data_dir: x", "/: ");
}

TEST(NodeConfig, RejectsNonObject) { expect_invalid(R"("tcp://127.0.0.1:4500")", "/: expected an object"); }

TEST(NodeConfig, RejectsTooDeepJson) {
  expect_invalid(R"({"data_dir":)" + std::string(50, '[') + std::string(50, ']') + "}", "/: JSON too deep");
}

TEST(NodeConfig, RejectsUnknownKey) {
  expect_invalid(R"({"data_dir":"d","listen_port":4500})", "/listen_port: unknown key");
  expect_invalid(R"({"Workers":1})", "/Workers: unknown key");
}

TEST(NodeConfig, RejectsWrongTypes) {
  expect_invalid(R"({"data_dir":1})", "/data_dir: expected a string, got an integer");
  expect_invalid(R"({"workers":"4"})", "/workers: expected an integer, got a string");
  expect_invalid(R"({"workers":1.5})", "/workers: expected an integer, got a fractional number");
  expect_invalid(R"({"map_size":true})", "/map_size: expected an integer, got a boolean");
  expect_invalid(R"({"log_level":null})", "/log_level: expected a string, got null");
  expect_invalid(R"({"network":["a"]})", "/network: expected a string, got an array");
}

TEST(NodeConfig, RejectsOutOfRange) {
  expect_invalid(R"({"workers":1025})", "/workers: out of range");
  expect_invalid(R"({"workers":-1})", "/workers: out of range");
  expect_invalid(R"({"quota_messages":0})", "/quota_messages: out of range");
  expect_invalid(R"({"max_message_bytes":131073})", "/max_message_bytes: out of range");
  expect_invalid(R"({"max_message_bytes":0})", "/max_message_bytes: out of range");
  expect_invalid(R"({"map_size":1024})", "/map_size: out of range");
  expect_invalid(R"({"relay_timeout_ms":0})", "/relay_timeout_ms: out of range");
  expect_invalid(R"({"relay_timeout_ms":10001})", "/relay_timeout_ms: out of range");  // clients' 10 s
  expect_invalid(R"({"connection_rate":1000001})", "/connection_rate: out of range");
  expect_invalid(R"({"account_rate":-1})", "/account_rate");
  expect_invalid(R"({"max_in_flight":0})", "/max_in_flight: out of range");
  expect_invalid(R"({"max_queued_requests":0})", "/max_queued_requests: out of range");
  expect_invalid(R"({"max_queued_bytes":16383})", "/max_queued_bytes: out of range");
  expect_invalid(R"({"max_queued_bytes":17179869185})", "/max_queued_bytes: out of range");
  expect_invalid(R"({"replay_cache_entries":10})", "/replay_cache_entries: out of range");
  expect_invalid(R"({"replica_eager_members":1025})", "/replica_eager_members: out of range");
  expect_invalid(R"({"replica_defer_ms":60001})", "/replica_defer_ms: out of range");
  expect_invalid(R"({"replica_defer_ms":-1})", "/replica_defer_ms");
  // Larger than uint64: nlohmann stores it as a float.
  expect_invalid(R"({"quota_bytes":184467440737095516160})", "/quota_bytes: expected an integer");
}

TEST(NodeConfig, RejectsBadStrings) {
  expect_invalid(R"({"log_level":"verbose"})", "/log_level: expected one of error, warn, info, debug");
  expect_invalid(R"({"data_dir":""})", "/data_dir: must not be empty");
  expect_invalid(R"({"network":""})", "/network: must not be empty");
}

TEST(NodeConfig, RejectsBadListenAddress) {
  for (const char* listen : {"127.0.0.1:4500", "tcp://127.0.0.1", "tcp://127.0.0.1:65536", "ipc:///tmp/s",
                             "tcp://:4500", "tcp://host name:1"}) {
    SCOPED_TRACE(listen);
    expect_invalid(R"({"listen":")" + std::string(listen) + R"("})", "/listen: expected tcp://HOST:PORT");
  }
}

TEST(NodeConfig, ParsesAndChecksTheLivingDirectoryKeys) {
  auto c = parse_node_config(R"({"advertise":"tcp://node.example:4500","endorsement":"/etc/os/node.endorsement",)"
                             R"("descriptor_lifetime_ms":8000,"gossip_interval_ms":200})");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->advertise, "tcp://node.example:4500");
  EXPECT_EQ(c->endorsement, "/etc/os/node.endorsement");
  EXPECT_EQ(c->descriptor_lifetime_ms, 8000u);
  EXPECT_EQ(c->gossip_interval_ms, 200u);
  EXPECT_TRUE(parse_node_config(R"({"advertise":"","endorsement":""})").ok());  // empty: unset
  expect_invalid(R"({"advertise":"node.example:4500"})", "/advertise: expected tcp://HOST:PORT");
  expect_invalid(R"({"advertise":"tcp://*:4500"})", "/advertise: expected tcp://HOST:PORT");
  expect_invalid(R"({"advertise":7})", "/advertise: expected a string");
  expect_invalid(R"({"descriptor_lifetime_ms":999})", "/descriptor_lifetime_ms: out of range");
  expect_invalid(R"({"descriptor_lifetime_ms":86400001})", "/descriptor_lifetime_ms: out of range");
  expect_invalid(R"({"gossip_interval_ms":49})", "/gossip_interval_ms: out of range");
  expect_invalid(R"({"gossip_interval_ms":600001})", "/gossip_interval_ms: out of range");
  NodeConfig bad = complete();
  bad.gossip_interval_ms = 10;  // as a flag would set it
  expect_validate_error(bad, "gossip_interval_ms: out of range");
  bad = complete();
  bad.advertise = "tcp://127.0.0.1";
  expect_validate_error(bad, "advertise: expected tcp://HOST:PORT");
  expect_invalid(R"({"advertise":"tcp://0.0.0.0:4500"})", "/advertise: expected an address other machines can reach");
  expect_invalid(R"({"advertise":"tcp://[::]:4500"})", "/advertise: expected an address other machines can reach");
}

// Without advertise, a listen address that binds every address would be put
// in the descriptor, where each peer would reach only its own host.
TEST(NodeConfig, ListenOnEveryAddressNeedsAdvertise) {
  for (const std::string listen : {"tcp://*:4500", "tcp://0.0.0.0:4500", "tcp://[::]:4500"}) {
    NodeConfig c = complete();
    c.listen = listen;
    expect_validate_error(c, "advertise: required when listen (" + listen +
                                 ") binds every address: the address other nodes and clients reach, e.g. "
                                 "tcp://PUBLIC_HOST:4500");
    c.advertise = "tcp://node.example:4500";
    EXPECT_TRUE(validate_node_config(c).ok()) << listen;
  }
  NodeConfig any_port = complete();
  any_port.listen = "tcp://*:0";
  expect_validate_error(any_port, "advertise: required when listen (tcp://*:0) binds every address");
  EXPECT_NE(validate_node_config(any_port).message().find("tcp://PUBLIC_HOST:PORT"), std::string::npos);
  for (const std::string listen : {"tcp://127.0.0.1:4500", "tcp://198.18.0.1:0", "tcp://[::1]:4500"}) {
    NodeConfig c = complete();
    c.listen = listen;
    EXPECT_TRUE(validate_node_config(c).ok()) << listen;
  }
}

TEST(NodeConfigEnvironment, NamesAnUnreadableEndorsementFile) {
  auto dir = std::filesystem::temp_directory_path() / ("nc-env3-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "net.json") << R"({"network_id":"t","nodes":[]})";
  NodeConfig c;
  c.data_dir = (dir / "data").string();
  c.network = (dir / "net.json").string();
  c.endorsement = (dir / "missing.endorsement").string();
  auto ps = node_config_environment_problems(c);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].pointer, "/endorsement");
  EXPECT_NE(ps[0].message.find("cannot be read"), std::string::npos) << ps[0].message;
  std::ofstream(dir / "present.endorsement") << "{}";
  c.endorsement = (dir / "present.endorsement").string();
  EXPECT_TRUE(node_config_environment_problems(c).empty());
  std::filesystem::remove_all(dir);
}

TEST(NodeConfig, ValidateAcceptsCompleteDefaults) { EXPECT_TRUE(validate_node_config(complete()).ok()); }

TEST(NodeConfig, ValidateRequiresDataDirAndNetwork) {
  NodeConfig c = complete();
  c.data_dir.clear();
  expect_validate_error(c, "data_dir: must not be empty");
  c = complete();
  c.network.clear();
  expect_validate_error(c, "network: must not be empty");
}

TEST(NodeConfig, ValidateChecksListenAndRanges) {
  NodeConfig c = complete();
  c.listen = "tcp://0.0.0.0";
  expect_validate_error(c, "listen: expected tcp://HOST:PORT");
  c = complete();
  c.log_level = "trace";
  expect_validate_error(c, "log_level: ");
  c = complete();
  c.max_message_bytes = 200 * 1024;
  expect_validate_error(c, "max_message_bytes: out of range");
  c = complete();
  c.workers = 5000;
  expect_validate_error(c, "workers: out of range");
}

TEST(NodeConfig, ValidateChecksQuotaAgainstMessageAndMapSize) {
  NodeConfig c = complete();
  c.quota_bytes = c.max_message_bytes - 1;
  expect_validate_error(c, "quota_bytes: must be at least max_message_bytes");
  c = complete();
  c.map_size = uint64_t(16) << 20;
  expect_validate_error(c, "quota_bytes: must be at most map_size");
}

TEST(NodeConfig, LoadsExampleFile) {
  auto r = load_node_config(std::string(ONIONSWARM_SOURCE_DIR) + "/config/examples/node.json");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->listen, "tcp://0.0.0.0:4500");
  // It binds every address, so the operator must say where it is reached.
  expect_validate_error(*r, "advertise: required when listen (tcp://0.0.0.0:4500) binds every address");
  r->advertise = "tcp://node.example:4500";
  EXPECT_TRUE(validate_node_config(*r).ok());
}

TEST(NodeConfig, LoadReportsUnreadableFileAsIo) {
  auto r = load_node_config("/nonexistent/onionswarm/node.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIo);
  EXPECT_NE(r.status().message().find("/nonexistent/onionswarm/node.json"), std::string::npos);
}

TEST(NodeConfig, LoadPrefixesErrorsWithPath) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "nodecfg-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::string path = tmpl + "/node.json";
  std::ofstream(path) << R"({"workers":"many"})";
  auto r = load_node_config(path);
  std::filesystem::remove_all(tmpl);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path + ": /workers: expected an integer, got a string");
}

}  // namespace
}  // namespace onionswarm::config

namespace onionswarm::config {
namespace {

std::string problems_text(const std::vector<ConfigProblem>& ps) {
  std::string out;
  for (const auto& p : ps) out += p.to_string() + "\n";
  return out;
}

TEST(NodeConfigAll, ReportsEveryProblemNotJustTheFirst) {
  NodeConfig c;
  auto ps = parse_node_config_all(
      R"({"bogus":1,"data_dir":5,"workers":5000,"listen":"udp://x","log_format":"xml","quota_messages":7})", &c);
  ASSERT_EQ(ps.size(), 5u) << problems_text(ps);
  const std::string all = problems_text(ps);
  EXPECT_NE(all.find("/bogus: unknown key (accepted keys: data_dir,"), std::string::npos) << all;
  EXPECT_NE(all.find("/data_dir: expected a string, got an integer"), std::string::npos) << all;
  EXPECT_NE(all.find("/workers: out of range: 5000 is not between 0 and 1024"), std::string::npos) << all;
  EXPECT_NE(all.find("/listen: expected tcp://HOST:PORT"), std::string::npos) << all;
  EXPECT_NE(all.find("/log_format: expected one of text, json"), std::string::npos) << all;
  EXPECT_EQ(c.quota_messages, 7u) << "well-formed keys are still applied";
  EXPECT_EQ(c.workers, 0u) << "a bad value leaves the default";
}

TEST(NodeConfigAll, CrossFieldAndRequiredProblemsAreAllListed) {
  NodeConfig c;
  c.max_message_bytes = 4096;
  c.quota_bytes = 100;
  c.map_size = 1;
  auto ps = node_config_problems(c);
  const std::string all = problems_text(ps);
  EXPECT_NE(all.find("/data_dir: must not be empty"), std::string::npos) << all;
  EXPECT_NE(all.find("/network: must not be empty"), std::string::npos) << all;
  EXPECT_NE(all.find("/map_size: out of range"), std::string::npos) << all;
  EXPECT_NE(all.find("/quota_bytes: must be at least max_message_bytes (4096)"), std::string::npos) << all;
}

TEST(NodeConfigAll, LogFormatParsesAndDefaultsToText) {
  EXPECT_EQ(parse_node_config("{}")->log_format, "text");
  EXPECT_EQ(parse_node_config(R"({"log_format":"json"})")->log_format, "json");
}

TEST(NodeConfigEnvironment, AcceptsCreatableDataDirAndGoodNetworkFile) {
  auto dir = std::filesystem::temp_directory_path() / ("nc-env-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "net.json") << R"({"network_id":"t","nodes":[]})";
  NodeConfig c;
  c.data_dir = (dir / "not" / "yet").string();
  c.network = (dir / "net.json").string();
  EXPECT_TRUE(node_config_environment_problems(c).empty()) << problems_text(node_config_environment_problems(c));
  EXPECT_FALSE(std::filesystem::exists(dir / "not")) << "checking must not create anything";
  std::filesystem::remove_all(dir);
}

TEST(NodeConfigEnvironment, NamesBadDataDirAndNetworkFile) {
  auto dir = std::filesystem::temp_directory_path() / ("nc-env2-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "file") << "x";
  std::ofstream(dir / "net.json") << R"({"network_id":"t","nodes":[{"address":"nope"}]})";
  NodeConfig c;
  c.data_dir = (dir / "file").string();
  c.network = (dir / "net.json").string();
  auto ps = node_config_environment_problems(c);
  const std::string all = problems_text(ps);
  ASSERT_EQ(ps.size(), 2u) << all;
  EXPECT_NE(all.find("/data_dir: " + c.data_dir + " exists but is not a directory"), std::string::npos) << all;
  EXPECT_NE(all.find("/network: " + c.network + ": /nodes/0/"), std::string::npos) << all;

  c.data_dir = (dir / "file" / "sub").string();
  c.network = (dir / "missing.json").string();
  ps = node_config_environment_problems(c);
  ASSERT_EQ(ps.size(), 2u) << problems_text(ps);
  EXPECT_NE(problems_text(ps).find("cannot be created"), std::string::npos) << problems_text(ps);
  EXPECT_NE(problems_text(ps).find("cannot open"), std::string::npos) << problems_text(ps);
  std::filesystem::remove_all(dir);
}

TEST(NodeConfigKeys, TableDefaultsMatchTheStruct) {
  const NodeConfig d;
  std::string text = "{";
  for (const auto& k : node_config_keys()) {
    if (k.default_value.empty()) continue;  // required keys
    text += (text.size() > 1 ? "," : "") + std::string("\"") + std::string(k.key) + "\":" +
            std::string(k.default_value);
  }
  text += "}";
  auto parsed = parse_node_config(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string() << " in " << text;
  EXPECT_EQ(parsed->listen, d.listen);
  EXPECT_EQ(parsed->log_level, d.log_level);
  EXPECT_EQ(parsed->log_format, d.log_format);
  EXPECT_EQ(parsed->workers, d.workers);
  EXPECT_EQ(parsed->quota_messages, d.quota_messages);
  EXPECT_EQ(parsed->quota_bytes, d.quota_bytes);
  EXPECT_EQ(parsed->max_message_bytes, d.max_message_bytes);
  EXPECT_EQ(parsed->map_size, d.map_size);
  EXPECT_EQ(parsed->relay_timeout_ms, d.relay_timeout_ms);
  EXPECT_EQ(parsed->advertise, d.advertise);
  EXPECT_EQ(parsed->endorsement, d.endorsement);
  EXPECT_EQ(parsed->descriptor_lifetime_ms, d.descriptor_lifetime_ms);
  EXPECT_EQ(parsed->gossip_interval_ms, d.gossip_interval_ms);
  EXPECT_EQ(parsed->connection_rate, d.connection_rate);
  EXPECT_EQ(parsed->account_rate, d.account_rate);
  EXPECT_EQ(parsed->max_in_flight, d.max_in_flight);
  EXPECT_EQ(parsed->max_queued_requests, d.max_queued_requests);
  EXPECT_EQ(parsed->max_queued_bytes, d.max_queued_bytes);
  EXPECT_EQ(parsed->replay_cache_entries, d.replay_cache_entries);
  EXPECT_EQ(parsed->replica_eager_members, d.replica_eager_members);
  EXPECT_EQ(parsed->replica_defer_ms, d.replica_defer_ms);
  // Every key of the table is accepted by the parser, and only those.
  EXPECT_EQ(node_config_keys().size(), 23u);
}

}  // namespace
}  // namespace onionswarm::config

namespace onionswarm::config {
namespace {

// docs/CONFIG.md's settings table must list exactly node_config_keys(), in
// order, with the same types and defaults.
TEST(NodeConfigDocs, TableMatchesTheCode) {
  std::ifstream f(std::string(ONIONSWARM_SOURCE_DIR) + "/docs/CONFIG.md");
  ASSERT_TRUE(f) << "docs/CONFIG.md missing";
  std::vector<std::vector<std::string>> rows;
  bool in_table = false;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("| key | type | default | accepted |", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (line.rfind("|-", 0) == 0) continue;
    if (line.empty() || line[0] != '|') break;
    std::vector<std::string> cells;
    size_t start = 1;
    for (size_t bar; (bar = line.find('|', start)) != std::string::npos; start = bar + 1) {
      std::string cell = line.substr(start, bar - start);
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      if (cell.size() >= 2 && cell.front() == '`' && cell.back() == '`') cell = cell.substr(1, cell.size() - 2);
      cells.push_back(cell);
    }
    rows.push_back(cells);
  }
  auto keys = node_config_keys();
  ASSERT_EQ(rows.size(), keys.size()) << "docs/CONFIG.md table has a different number of keys";
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 4u) << "row " << i;
    EXPECT_EQ(rows[i][0], keys[i].key);
    EXPECT_EQ(rows[i][1], keys[i].type) << keys[i].key;
    EXPECT_EQ(rows[i][2], keys[i].default_value.empty() ? "(required)" : std::string(keys[i].default_value))
        << keys[i].key;
    EXPECT_EQ(rows[i][3], keys[i].accepted) << keys[i].key;
  }
}

}  // namespace
}  // namespace onionswarm::config
