// One line per event on stderr: "2026-11-27T12:00:00.123Z level component: message".
// Never pass keys, plaintext, sender account ids or client addresses.
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "onion/status.h"

namespace onionswarm::node {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

Result<LogLevel> parse_log_level(std::string_view s);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log(LogLevel level, std::string_view component, std::string_view message);

inline void log_error(std::string_view c, std::string_view m) { log(LogLevel::kError, c, m); }
inline void log_warn(std::string_view c, std::string_view m) { log(LogLevel::kWarn, c, m); }
inline void log_info(std::string_view c, std::string_view m) { log(LogLevel::kInfo, c, m); }
inline void log_debug(std::string_view c, std::string_view m) { log(LogLevel::kDebug, c, m); }

}  // namespace onionswarm::node
