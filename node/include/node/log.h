// One line per event on stderr, in one of two formats:
//   text: 2026-11-27T12:00:00.123Z level component: message
//   json: {"ts":"2026-11-27T12:00:00.123Z","level":"info","component":"node","msg":"..."}
// (json: one object per line, for log shippers; invalid UTF-8 in a message
// is replaced by U+FFFD). Never pass keys, plaintext, sender account ids or
// client addresses. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "onion/status.h"

namespace onionswarm::node {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

enum class LogFormat { kText, kJson };

Result<LogLevel> parse_log_level(std::string_view s);
void set_log_level(LogLevel level);
// "text" or "json"; kInvalidArgument otherwise.
Result<LogFormat> parse_log_format(std::string_view s);
void set_log_format(LogFormat format);
// The line log() writes for an event at unix_ms, without the newline.
std::string format_log_line(LogFormat format, LogLevel level, uint64_t unix_ms, std::string_view component,
                            std::string_view message);
bool log_enabled(LogLevel level);
void log(LogLevel level, std::string_view component, std::string_view message);

inline void log_error(std::string_view c, std::string_view m) { log(LogLevel::kError, c, m); }
inline void log_warn(std::string_view c, std::string_view m) { log(LogLevel::kWarn, c, m); }
inline void log_info(std::string_view c, std::string_view m) { log(LogLevel::kInfo, c, m); }
inline void log_debug(std::string_view c, std::string_view m) { log(LogLevel::kDebug, c, m); }

}  // namespace onionswarm::node
