#include "config/node_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "config/network_file.h"
#include "json_fields.h"
#include "swarm/json.h"

namespace onionswarm::config {
namespace {

using detail::Json;

// A config file is one flat object.
constexpr size_t kMaxDepth = 4;
// Longest accepted path (PATH_MAX on Linux).
constexpr size_t kMaxPathLength = 4096;

// The settings table (header comment and docs/CONFIG.md). Defaults must
// match NodeConfig's member initialisers (a unit test checks).
constexpr std::array<NodeConfigKey, 23> kKeys = {{
    {"data_dir", "string", "", "directory for keys, the LMDB store and admin.sock; created (mode 0700) if missing"},
    {"listen", "string", "\"tcp://127.0.0.1:4500\"",
     "tcp://HOST:PORT; HOST may be *, PORT 0..65535 or * (0 and *: the kernel picks a free port)"},
    {"network", "string", "", "path of the network file (network id, swarm size, nodes)"},
    {"log_level", "string", "\"info\"", "error, warn, info or debug"},
    {"log_format", "string", "\"text\"", "text or json (one JSON object per line: ts, level, component, msg)"},
    {"workers", "integer", "0", "0..1024 worker threads; 0 = one per core"},
    {"quota_messages", "integer", "10000", "1..100000000 messages stored per account"},
    {"quota_bytes", "integer", "67108864", "bytes stored per account; at least max_message_bytes, at most map_size"},
    {"max_message_bytes", "integer", "65536", "1..65536 bytes per message (64 KiB is the request limit)"},
    {"map_size", "integer", "8589934592", "1048576 (1 MiB)..17592186044416 (16 TiB): LMDB map size in bytes"},
    {"relay_timeout_ms", "integer", "10000", "100..10000 ms a relay waits for the next hop's answer"},
    {"advertise", "string", "\"\"",
     "tcp://HOST:PORT peers and clients reach this node at, put in its descriptor; empty: the bound endpoint. "
     "Required when `listen` binds every address (`*`, `0.0.0.0`, `[::]`), as the example config does; never such "
     "an address itself"},
    {"endorsement", "string", "\"\"",
     "path of the operator endorsement file (onionswarm-node endorse); required on permissioned networks"},
    {"descriptor_lifetime_ms", "integer", "3600000",
     "1000..86400000 ms this node's descriptor is valid (re-signed at half)"},
    {"gossip_interval_ms", "integer", "5000", "50..600000 ms between gossip rounds"},
    {"connection_rate", "integer", "200",
     "0..1000000 onion requests per second per client connection (bursts of twice that); 0 = no limit"},
    {"account_rate", "integer", "50",
     "0..1000000 requests per second per account and method at the destination (bursts of four times that); "
     "0 = no limit"},
    {"max_in_flight", "integer", "20000", "1..1000000 relayed requests awaiting the next hop; more are answered busy"},
    {"max_queued_requests", "integer", "4096",
     "1..1000000 onion requests in progress on this node; more are answered busy"},
    {"max_queued_bytes", "integer", "67108864",
     "16384..17179869184 bytes of onion requests, and of relayed answers over 16 KiB, in progress on this node; "
     "more are answered busy"},
    {"replay_cache_entries", "integer", "1000000",
     "1000..100000000 onion-layer keys remembered against replays (at most 27 bytes each); when full, the oldest is "
     "forgotten and older layers are answered stale"},
    {"replica_eager_members", "integer", "2",
     "0..1024 other swarm members a new store is pushed to at once (at least one: the store is acknowledged once "
     "one confirms); 0 = all of them. The others get it in one batch per member, replica_defer_ms later"},
    {"replica_defer_ms", "integer", "500",
     "0..60000 ms a new store waits for the batch that pushes it to the members not pushed to at once"},
}};

// Each check returns an empty string when the value is fine, else what is
// wrong with it; the callers prefix it with the pointer or the name.

std::string path_problem(std::string_view v) {
  if (v.empty()) return "must not be empty";
  if (v.size() > kMaxPathLength) return "longer than " + std::to_string(kMaxPathLength) + " characters";
  if (v.find('\0') != std::string_view::npos) return "contains a NUL character";
  return {};
}

std::string listen_problem(std::string_view v) {
  if (!is_valid_tcp_endpoint(v, /*for_bind=*/true)) {
    return "expected tcp://HOST:PORT (HOST may be *, PORT 0..65535 or *)";
  }
  return {};
}

// tcp://*:P, tcp://0.0.0.0:P, tcp://[::]:P: an endpoint that binds every
// local address and names none that another machine could connect to.
bool is_unspecified_host(std::string_view endpoint) {
  constexpr std::string_view kScheme = "tcp://";
  if (!endpoint.starts_with(kScheme)) return false;
  const std::string_view rest = endpoint.substr(kScheme.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view host = rest.substr(0, colon);
  return host == "*" || host == "0.0.0.0" || host == "[::]" || host == "[::0]" || host == "[0:0:0:0:0:0:0:0]";
}

std::string advertise_problem(std::string_view v) {
  if (!v.empty() && !is_valid_tcp_endpoint(v)) return "expected tcp://HOST:PORT (or empty: the bound endpoint)";
  if (is_unspecified_host(v)) return "expected an address other machines can reach, not " + std::string(v);
  return {};
}

std::string optional_path_problem(std::string_view v) { return v.empty() ? std::string() : path_problem(v); }

std::string log_level_problem(std::string_view v) {
  if (!is_valid_log_level(v)) return "expected one of error, warn, info, debug";
  return {};
}

std::string log_format_problem(std::string_view v) {
  if (!is_valid_log_format(v)) return "expected one of text, json";
  return {};
}

struct Range {
  uint64_t min;
  uint64_t max;
};
constexpr Range kWorkers{0, kMaxWorkers};
constexpr Range kQuotaMessages{1, kMaxQuotaMessages};
constexpr Range kQuotaBytes{1, kMaxMapSize};
constexpr Range kMaxMessageBytes{1, kMaxMessageBytesLimit};
constexpr Range kMapSize{kMinMapSize, kMaxMapSize};
constexpr Range kRelayTimeoutMs{kMinRelayTimeoutMs, kMaxRelayTimeoutMs};
constexpr Range kDescriptorLifetimeMs{kMinDescriptorLifetimeMs, kMaxDescriptorLifetimeMs};
constexpr Range kGossipIntervalMs{kMinGossipIntervalMs, kMaxGossipIntervalMs};
constexpr Range kRate{0, 1'000'000};
constexpr Range kMaxInFlight{1, 1'000'000};
constexpr Range kMaxQueued{1, 1'000'000};
constexpr Range kMaxQueuedBytes{uint64_t(16) << 10, uint64_t(16) << 30};
constexpr Range kReplayEntries{1'000, 100'000'000};
constexpr Range kEagerMembers{0, 1'024};
constexpr Range kDeferMs{0, 60'000};

std::string range_problem(uint64_t v, Range r) {
  if (v < r.min || v > r.max) {
    return "out of range: " + std::to_string(v) + " is not between " + std::to_string(r.min) + " and " +
           std::to_string(r.max);
  }
  return {};
}

// Splits "<pointer>: <message>" as made by detail::field_error.
ConfigProblem problem_of(const Status& s) {
  const std::string& m = s.message();
  size_t colon = m.find(": ");
  if (colon == std::string::npos) return {"/", m};
  return {m.substr(0, colon), m.substr(colon + 2)};
}

std::string pointer_of(std::string_view key) { return detail::child_pointer("", key); }

void read_string(const Json& doc, const char* key, std::string& out, std::string (*check)(std::string_view),
                 std::vector<ConfigProblem>& problems) {
  if (!doc.contains(key)) return;
  const std::string pointer = pointer_of(key);
  auto v = detail::get_string(doc[key], pointer);
  if (!v.ok()) return problems.push_back(problem_of(v.status()));
  if (std::string p = check(*v); !p.empty()) return problems.push_back({pointer, p});
  out = std::move(*v);
}

template <typename T>
void read_uint(const Json& doc, const char* key, T& out, Range r, std::vector<ConfigProblem>& problems) {
  if (!doc.contains(key)) return;
  auto v = detail::get_uint(doc[key], pointer_of(key), r.min, r.max);
  if (!v.ok()) return problems.push_back(problem_of(v.status()));
  out = T(*v);
}

std::string known_keys() {
  std::string out;
  for (const auto& k : kKeys) out += (out.empty() ? "" : ", ") + std::string(k.key);
  return out;
}

// Nearest existing ancestor of p (p itself if it exists); empty if none.
std::filesystem::path existing_ancestor(std::filesystem::path p) {
  std::error_code ec;
  p = std::filesystem::absolute(p, ec);
  if (ec) return {};
  for (int depth = 0; depth < 256 && !p.empty(); ++depth) {
    if (std::filesystem::exists(p, ec)) return p;
    if (!p.has_parent_path() || p.parent_path() == p) break;
    p = p.parent_path();
  }
  return {};
}

}  // namespace

std::span<const NodeConfigKey> node_config_keys() { return kKeys; }

bool is_valid_log_level(std::string_view level) {
  return level == "error" || level == "warn" || level == "info" || level == "debug";
}

bool is_valid_log_format(std::string_view format) { return format == "text" || format == "json"; }

std::vector<ConfigProblem> parse_node_config_all(std::string_view json, NodeConfig* out) {
  std::vector<ConfigProblem> problems;
  auto parsed = swarm::parse_json(json, kMaxDepth, kMaxNodeConfigBytes);
  if (!parsed.ok()) return {{"/", parsed.status().message()}};
  const Json& doc = *parsed;
  if (!doc.is_object()) return {{"/", std::string("expected an object, got ") + detail::type_name(doc)}};
  for (const auto& [key, value] : doc.items()) {
    bool known = false;
    for (const auto& k : kKeys) known = known || key == k.key;
    if (!known) {
      // Cap the echoed key: it comes from the input.
      std::string shown = key.size() > 64 ? key.substr(0, 64) + "..." : key;
      problems.push_back({pointer_of(shown), "unknown key (accepted keys: " + known_keys() + ")"});
    }
  }
  NodeConfig& c = *out;
  read_string(doc, "data_dir", c.data_dir, path_problem, problems);
  read_string(doc, "listen", c.listen, listen_problem, problems);
  read_string(doc, "network", c.network, path_problem, problems);
  read_string(doc, "log_level", c.log_level, log_level_problem, problems);
  read_string(doc, "log_format", c.log_format, log_format_problem, problems);
  read_uint(doc, "workers", c.workers, kWorkers, problems);
  read_uint(doc, "quota_messages", c.quota_messages, kQuotaMessages, problems);
  read_uint(doc, "quota_bytes", c.quota_bytes, kQuotaBytes, problems);
  read_uint(doc, "max_message_bytes", c.max_message_bytes, kMaxMessageBytes, problems);
  read_uint(doc, "map_size", c.map_size, kMapSize, problems);
  read_uint(doc, "relay_timeout_ms", c.relay_timeout_ms, kRelayTimeoutMs, problems);
  read_string(doc, "advertise", c.advertise, advertise_problem, problems);
  read_string(doc, "endorsement", c.endorsement, optional_path_problem, problems);
  read_uint(doc, "descriptor_lifetime_ms", c.descriptor_lifetime_ms, kDescriptorLifetimeMs, problems);
  read_uint(doc, "gossip_interval_ms", c.gossip_interval_ms, kGossipIntervalMs, problems);
  read_uint(doc, "connection_rate", c.connection_rate, kRate, problems);
  read_uint(doc, "account_rate", c.account_rate, kRate, problems);
  read_uint(doc, "max_in_flight", c.max_in_flight, kMaxInFlight, problems);
  read_uint(doc, "max_queued_requests", c.max_queued_requests, kMaxQueued, problems);
  read_uint(doc, "max_queued_bytes", c.max_queued_bytes, kMaxQueuedBytes, problems);
  read_uint(doc, "replay_cache_entries", c.replay_cache_entries, kReplayEntries, problems);
  read_uint(doc, "replica_eager_members", c.replica_eager_members, kEagerMembers, problems);
  read_uint(doc, "replica_defer_ms", c.replica_defer_ms, kDeferMs, problems);
  return problems;
}

Result<NodeConfig> parse_node_config(std::string_view json) {
  NodeConfig c;
  auto problems = parse_node_config_all(json, &c);
  if (!problems.empty()) return error(Code::kInvalidArgument, problems.front().to_string());
  return c;
}

Result<NodeConfig> load_node_config(const std::string& path) {
  auto text = detail::read_file_capped(path, kMaxNodeConfigBytes);
  if (!text.ok()) return text.status();
  auto config = parse_node_config(*text);
  if (!config.ok()) return detail::with_file(path, config.status());
  return config;
}

std::vector<ConfigProblem> node_config_problems(const NodeConfig& c) {
  std::vector<ConfigProblem> problems;
  struct StringCheck {
    const char* name;
    const std::string& value;
    std::string (*problem_of)(std::string_view);
  };
  for (const StringCheck& f : {StringCheck{"data_dir", c.data_dir, path_problem},
                               StringCheck{"listen", c.listen, listen_problem},
                               StringCheck{"network", c.network, path_problem},
                               StringCheck{"log_level", c.log_level, log_level_problem},
                               StringCheck{"log_format", c.log_format, log_format_problem},
                               StringCheck{"advertise", c.advertise, advertise_problem},
                               StringCheck{"endorsement", c.endorsement, optional_path_problem}}) {
    if (std::string p = f.problem_of(f.value); !p.empty()) problems.push_back({pointer_of(f.name), p});
  }
  struct UintCheck {
    const char* name;
    uint64_t value;
    Range range;
  };
  for (const UintCheck& f : {UintCheck{"workers", c.workers, kWorkers},
                             UintCheck{"quota_messages", c.quota_messages, kQuotaMessages},
                             UintCheck{"quota_bytes", c.quota_bytes, kQuotaBytes},
                             UintCheck{"max_message_bytes", c.max_message_bytes, kMaxMessageBytes},
                             UintCheck{"map_size", c.map_size, kMapSize},
                             UintCheck{"relay_timeout_ms", c.relay_timeout_ms, kRelayTimeoutMs},
                             UintCheck{"descriptor_lifetime_ms", c.descriptor_lifetime_ms, kDescriptorLifetimeMs},
                             UintCheck{"gossip_interval_ms", c.gossip_interval_ms, kGossipIntervalMs},
                             UintCheck{"connection_rate", c.connection_rate, kRate},
                             UintCheck{"account_rate", c.account_rate, kRate},
                             UintCheck{"max_in_flight", c.max_in_flight, kMaxInFlight},
                             UintCheck{"max_queued_requests", c.max_queued_requests, kMaxQueued},
                             UintCheck{"max_queued_bytes", c.max_queued_bytes, kMaxQueuedBytes},
                             UintCheck{"replay_cache_entries", c.replay_cache_entries, kReplayEntries},
                             UintCheck{"replica_eager_members", c.replica_eager_members, kEagerMembers},
                             UintCheck{"replica_defer_ms", c.replica_defer_ms, kDeferMs}}) {
    if (std::string p = range_problem(f.value, f.range); !p.empty()) problems.push_back({pointer_of(f.name), p});
  }
  // Without advertise the descriptor carries the bound endpoint: one that
  // binds every address would send peers and clients to their own host.
  if (c.advertise.empty() && listen_problem(c.listen).empty() && is_unspecified_host(c.listen)) {
    const std::string port = c.listen.substr(c.listen.rfind(':') + 1);
    problems.push_back({"/advertise", "required when listen (" + c.listen +
                                          ") binds every address: the address other nodes and clients reach, "
                                          "e.g. tcp://PUBLIC_HOST:" +
                                          (port == "*" || port == "0" ? std::string("PORT") : port)});
  }
  if (c.quota_bytes < c.max_message_bytes) {
    problems.push_back({"/quota_bytes", "must be at least max_message_bytes (" +
                                            std::to_string(c.max_message_bytes) + ")"});
  }
  if (c.quota_bytes > c.map_size) {
    problems.push_back({"/quota_bytes", "must be at most map_size (" + std::to_string(c.map_size) + ")"});
  }
  return problems;
}

Status validate_node_config(const NodeConfig& c) {
  auto problems = node_config_problems(c);
  if (problems.empty()) return Status();
  // Named without the leading '/': "listen: expected tcp://HOST:PORT".
  const ConfigProblem& p = problems.front();
  return error(Code::kInvalidArgument, p.pointer.substr(1) + ": " + p.message);
}

std::vector<ConfigProblem> node_config_environment_problems(const NodeConfig& c) {
  std::vector<ConfigProblem> problems;
  std::error_code ec;
  if (path_problem(c.data_dir).empty()) {
    const std::filesystem::path dir(c.data_dir);
    if (std::filesystem::exists(dir, ec)) {
      if (!std::filesystem::is_directory(dir, ec)) {
        problems.push_back({"/data_dir", c.data_dir + " exists but is not a directory (expected a directory the "
                                                       "node can write, or a path it can create)"});
      } else if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
        problems.push_back({"/data_dir", c.data_dir + " is not readable and writable by this user (" +
                                             std::strerror(errno) + ")"});
      } else if (std::string key = c.data_dir + "/node.key";
                 std::filesystem::exists(key, ec) && ::access(key.c_str(), R_OK) != 0) {
        problems.push_back({"/data_dir", key + " is not readable by this user (" + std::strerror(errno) + ")"});
      }
    } else {
      auto ancestor = existing_ancestor(dir);
      if (ancestor.empty() || !std::filesystem::is_directory(ancestor, ec)) {
        problems.push_back({"/data_dir", c.data_dir + " does not exist and cannot be created (no parent directory)"});
      } else if (::access(ancestor.c_str(), W_OK | X_OK) != 0) {
        problems.push_back({"/data_dir", c.data_dir + " does not exist and cannot be created: " +
                                             ancestor.string() + " is not writable by this user"});
      }
    }
  }
  if (!c.endorsement.empty() && path_problem(c.endorsement).empty() && ::access(c.endorsement.c_str(), R_OK) != 0) {
    problems.push_back({"/endorsement", c.endorsement + " cannot be read (" + std::strerror(errno) +
                                            "; expected the file written by onionswarm-node endorse)"});
  }
  if (path_problem(c.network).empty()) {
    auto network = load_network_file(c.network);
    if (!network.ok()) {
      problems.push_back({"/network", network.status().message() +
                                          " (expected a readable network file, see docs/CONFIG.md)"});
    }
  }
  return problems;
}

}  // namespace onionswarm::config
