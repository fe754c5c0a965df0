// Bounded JSON parsing for everything that comes from the network or disk.
// nlohmann's parser, copy and dump recurse without a limit, so depth and size
// are checked while parsing (parser callback) before a deep value is built.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "onion/status.h"

namespace onionswarm::swarm {

inline constexpr size_t kDefaultMaxJsonDepth = 16;
inline constexpr size_t kDefaultMaxJsonBytes = 256 * 1024;

// kInvalidArgument ("JSON too deep", "JSON too large", or the parser's
// message) on any failure. Never throws.
Result<nlohmann::json> parse_json(std::string_view text, size_t max_depth = kDefaultMaxJsonDepth,
                                  size_t max_bytes = kDefaultMaxJsonBytes);

}  // namespace onionswarm::swarm
