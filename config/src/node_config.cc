#include "config/node_config.h"

#include <string>

#include "config/network_file.h"
#include "json_fields.h"
#include "swarm/json.h"

namespace onionswarm::config {
namespace {

using detail::field_error;
using detail::Json;

// A config file is one flat object.
constexpr size_t kMaxDepth = 4;
// Longest accepted path (PATH_MAX on Linux).
constexpr size_t kMaxPathLength = 4096;

// Each check returns an empty string when the value is fine, else what is
// wrong with it; parse and validate prefix it with the pointer or the name.

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

std::string log_level_problem(std::string_view v) {
  if (!is_valid_log_level(v)) return "expected one of error, warn, info, debug";
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

std::string range_problem(uint64_t v, Range r) {
  if (v < r.min || v > r.max) {
    return "out of range: " + std::to_string(v) + " is not between " + std::to_string(r.min) + " and " +
           std::to_string(r.max);
  }
  return {};
}

Status named_error(std::string_view field, const std::string& problem) {
  return error(Code::kInvalidArgument, std::string(field) + ": " + problem);
}

Status read_string(const Json& doc, const char* key, std::string& out,
                   std::string (*problem_of)(std::string_view)) {
  if (!doc.contains(key)) return Status();
  const std::string pointer = detail::child_pointer("", key);
  auto v = detail::get_string(doc[key], pointer);
  if (!v.ok()) return v.status();
  if (std::string p = problem_of(*v); !p.empty()) return field_error(pointer, p);
  out = std::move(*v);
  return Status();
}

template <typename T>
Status read_uint(const Json& doc, const char* key, T& out, Range r) {
  if (!doc.contains(key)) return Status();
  auto v = detail::get_uint(doc[key], detail::child_pointer("", key), r.min, r.max);
  if (!v.ok()) return v.status();
  out = T(*v);
  return Status();
}

}  // namespace

bool is_valid_log_level(std::string_view level) {
  return level == "error" || level == "warn" || level == "info" || level == "debug";
}

Result<NodeConfig> parse_node_config(std::string_view json) {
  auto parsed = swarm::parse_json(json, kMaxDepth, kMaxNodeConfigBytes);
  if (!parsed.ok()) return field_error("", parsed.status().message());
  const Json& doc = *parsed;
  if (Status s = detail::check_object(doc, "",
                                      {"data_dir", "listen", "network", "log_level", "workers", "quota_messages",
                                       "quota_bytes", "max_message_bytes", "map_size", "relay_timeout_ms"});
      !s.ok()) {
    return s;
  }
  NodeConfig c;
  for (Status s : {read_string(doc, "data_dir", c.data_dir, path_problem),
                   read_string(doc, "listen", c.listen, listen_problem),
                   read_string(doc, "network", c.network, path_problem),
                   read_string(doc, "log_level", c.log_level, log_level_problem),
                   read_uint(doc, "workers", c.workers, kWorkers),
                   read_uint(doc, "quota_messages", c.quota_messages, kQuotaMessages),
                   read_uint(doc, "quota_bytes", c.quota_bytes, kQuotaBytes),
                   read_uint(doc, "max_message_bytes", c.max_message_bytes, kMaxMessageBytes),
                   read_uint(doc, "map_size", c.map_size, kMapSize),
                   read_uint(doc, "relay_timeout_ms", c.relay_timeout_ms, kRelayTimeoutMs)}) {
    if (!s.ok()) return s;
  }
  return c;
}

Result<NodeConfig> load_node_config(const std::string& path) {
  auto text = detail::read_file_capped(path, kMaxNodeConfigBytes);
  if (!text.ok()) return text.status();
  auto config = parse_node_config(*text);
  if (!config.ok()) return detail::with_file(path, config.status());
  return config;
}

Status validate_node_config(const NodeConfig& c) {
  struct StringCheck {
    const char* name;
    const std::string& value;
    std::string (*problem_of)(std::string_view);
  };
  for (const StringCheck& f : {StringCheck{"data_dir", c.data_dir, path_problem},
                               StringCheck{"listen", c.listen, listen_problem},
                               StringCheck{"network", c.network, path_problem},
                               StringCheck{"log_level", c.log_level, log_level_problem}}) {
    if (std::string p = f.problem_of(f.value); !p.empty()) return named_error(f.name, p);
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
                             UintCheck{"relay_timeout_ms", c.relay_timeout_ms, kRelayTimeoutMs}}) {
    if (std::string p = range_problem(f.value, f.range); !p.empty()) return named_error(f.name, p);
  }
  if (c.quota_bytes < c.max_message_bytes) {
    return named_error("quota_bytes", "must be at least max_message_bytes (" +
                                          std::to_string(c.max_message_bytes) + ")");
  }
  if (c.quota_bytes > c.map_size) {
    return named_error("quota_bytes", "must be at most map_size (" + std::to_string(c.map_size) + ")");
  }
  return Status();
}

}  // namespace onionswarm::config
