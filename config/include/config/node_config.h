// Settings of onionswarm-node, read from a JSON config file (--config FILE).
// Command-line flags override the file; the daemon merges both and then
// calls validate_node_config().
//
// JSON keys are the field names below. A file sets only the keys it names;
// every other field keeps its default. Parsing is strict: unknown keys,
// wrong types and out-of-range values are kInvalidArgument errors whose
// message starts with the JSON pointer of the value ("/workers: ...").
//
// | key               | type    | default                | range / meaning                               |
// |-------------------|---------|------------------------|-----------------------------------------------|
// | data_dir          | string  | (none, required)       | directory for keys and the LMDB environment  |
// | listen            | string  | "tcp://127.0.0.1:4500" | tcp://HOST:PORT; HOST may be "*"; PORT 0 or   |
// |                   |         |                        | "*" lets the kernel pick a free port          |
// | network           | string  | (none, required)       | path of the network file (network_file.h)     |
// | log_level         | string  | "info"                 | "error", "warn", "info" or "debug"            |
// | log_format        | string  | "text"                 | "text" or "json" (one object per line)        |
// | workers           | integer | 0                      | 0..1024 worker threads; 0 = number of cores   |
// | quota_messages    | integer | 10000                  | 1..100000000 messages stored per account      |
// | quota_bytes       | integer | 67108864 (64 MiB)      | bytes stored per account; at least            |
// |                   |         |                        | max_message_bytes, at most map_size           |
// | max_message_bytes | integer | 65536 (64 KiB)         | 1..65536 (64 KiB, the request limit) per msg  |
// | map_size          | integer | 8589934592 (8 GiB)     | 1 MiB..16 TiB, LMDB map size in bytes         |
// | relay_timeout_ms  | integer | 10000                  | 100..10000 ms a relay waits for the next hop  |
// | advertise         | string  | "" (the bound endpoint) | tcp://HOST:PORT put in this node's descriptor |
// |                   |         |                        | required when listen binds every address      |
// |                   |         |                        | (*, 0.0.0.0, [::]); never such an address     |
// | endorsement       | string  | "" (none)              | operator endorsement file (permissioned nets) |
// | descriptor_lifetime_ms | integer | 3600000           | 1000..86400000 ms, our descriptor's lifetime  |
// | gossip_interval_ms | integer | 5000                  | 50..600000 ms between gossip rounds           |
// | connection_rate   | integer | 200                    | 0..1000000 onion requests/s per client        |
// |                   |         |                        | connection (burst 2x); 0 = no limit           |
// | account_rate      | integer | 50                     | 0..1000000 requests/s per account and method  |
// |                   |         |                        | at the destination (burst 4x); 0 = no limit   |
// | max_in_flight     | integer | 20000                  | 1..1000000 relayed requests awaiting answers  |
// | max_queued_requests | integer | 4096                 | 1..1000000 onion requests in progress         |
// | max_queued_bytes  | integer | 67108864 (64 MiB)      | 16 KiB..16 GiB of requests (and relayed       |
// |                   |         |                        | answers over 16 KiB) in progress              |
// | replay_cache_entries | integer | 1000000             | 1000..100000000 layer keys kept vs. replays   |
// | replica_eager_members | integer | 2                  | 0..1024 members a new store is pushed to at   |
// |                   |         |                        | once; 0 = all (the rest: a deferred batch)    |
// | replica_defer_ms  | integer | 500                    | 0..60000 ms until that deferred batch         |
//
// Relative paths (data_dir, network) are taken relative to the working
// directory of the process, not to the config file.
//
// node_config_keys() is this table as data; docs/CONFIG.md is checked
// against it by a test, so the two cannot drift.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "onion/status.h"
#include "onion/wire.h"

namespace onionswarm::config {

inline constexpr size_t kMaxNodeConfigBytes = 1024 * 1024;
inline constexpr unsigned kMaxWorkers = 1024;
inline constexpr uint64_t kMaxQuotaMessages = 100'000'000;
inline constexpr uint64_t kMaxMessageBytesLimit = 64 * 1024;  // = swarm::rpc::kMaxDataBytes
inline constexpr uint64_t kMinMapSize = uint64_t(1) << 20;
inline constexpr uint64_t kMaxMapSize = uint64_t(16) << 40;
inline constexpr uint64_t kMinRelayTimeoutMs = 100;
// A client takes silence for longer than this as its guard's own (PROTOCOL.md
// 12.2), so no relay may wait longer for its next hop.
inline constexpr uint64_t kMaxRelayTimeoutMs = wire::kDefaultRelayTimeoutMs;
inline constexpr uint64_t kMinDescriptorLifetimeMs = 1'000;
inline constexpr uint64_t kMaxDescriptorLifetimeMs = 86'400'000;
inline constexpr uint64_t kMinGossipIntervalMs = 50;
inline constexpr uint64_t kMaxGossipIntervalMs = 600'000;

struct NodeConfig {
  std::string data_dir;
  std::string listen = "tcp://127.0.0.1:4500";
  std::string network;  // network file path
  std::string log_level = "info";  // error|warn|info|debug
  std::string log_format = "text";  // text|json
  unsigned workers = 0;  // 0 = number of cores
  uint64_t quota_messages = 10000;
  uint64_t quota_bytes = uint64_t(64) << 20;
  uint64_t max_message_bytes = uint64_t(64) << 10;
  uint64_t map_size = uint64_t(8) << 30;
  uint64_t relay_timeout_ms = 10000;
  std::string advertise;    // empty: the bound endpoint
  std::string endorsement;  // endorsement file path; empty: none
  uint64_t descriptor_lifetime_ms = 3'600'000;
  uint64_t gossip_interval_ms = 5'000;
  uint32_t connection_rate = 200;
  uint32_t account_rate = 50;
  uint64_t max_in_flight = 20000;
  uint64_t max_queued_requests = 4096;
  uint64_t max_queued_bytes = uint64_t(64) << 20;
  uint64_t replay_cache_entries = 1'000'000;
  uint64_t replica_eager_members = 2;
  uint64_t replica_defer_ms = 500;
};

// One row of the settings table above.
struct NodeConfigKey {
  std::string_view key;            // JSON key (= NodeConfig field name)
  std::string_view type;           // "string" or "integer"
  std::string_view default_value;  // JSON text of the default; "" when required
  std::string_view accepted;       // what values are accepted, in words
};

// Every key a config file may contain, in table order. Static storage.
std::span<const NodeConfigKey> node_config_keys();

// One problem found by the collecting checks below. `pointer` is the JSON
// pointer of the value ("/workers"; "/" for the whole document); `message`
// says what is wrong and what would be accepted.
struct ConfigProblem {
  std::string pointer;
  std::string message;
  std::string to_string() const { return pointer + ": " + message; }
};

// Like parse_node_config, but does not stop at the first problem: every
// well-formed key is applied to *out (which starts from the defaults) and
// every unknown key, wrong type and out-of-range value is reported. Empty
// result: the text parsed cleanly.
std::vector<ConfigProblem> parse_node_config_all(std::string_view json, NodeConfig* out);

// Like validate_node_config, but reports every problem of the merged config
// (required keys, ranges, listen syntax, cross-field limits).
std::vector<ConfigProblem> node_config_problems(const NodeConfig& config);

// Checks what the config refers to, without changing anything on disk:
// data_dir exists as a writable directory or can be created (its nearest
// existing ancestor is a writable directory); the network file can be read
// and parses (its own errors are included, with their pointer into the
// network file); the endorsement file, when set, can be read. Reads files;
// creates nothing.
std::vector<ConfigProblem> node_config_environment_problems(const NodeConfig& config);

// Parses the JSON text of a config file onto the defaults. Checks types and
// each field's own range; it does not require data_dir or network (a flag
// may still supply them): call validate_node_config() on the final config.
[[nodiscard]] Result<NodeConfig> parse_node_config(std::string_view json);

// Reads and parses the file at path. kIo if it cannot be read;
// kInvalidArgument if it is larger than kMaxNodeConfigBytes or does not
// parse. Messages start with the path: "node.json: /workers: ...".
[[nodiscard]] Result<NodeConfig> load_node_config(const std::string& path);

// Checks a complete config (after flags were applied): data_dir and network
// set, listen a bindable endpoint, every field in its range (see the table)
// and quota_bytes between max_message_bytes and map_size. kInvalidArgument
// naming the field ("listen: expected tcp://HOST:PORT") otherwise.
[[nodiscard]] Status validate_node_config(const NodeConfig& config);

// Whether level is one of "error", "warn", "info", "debug".
bool is_valid_log_level(std::string_view level);
// Whether format is "text" or "json".
bool is_valid_log_format(std::string_view format);

}  // namespace onionswarm::config
