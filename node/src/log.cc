#include "node/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

namespace onionswarm::node {
namespace {
std::atomic<int> g_level{int(LogLevel::kInfo)};
std::atomic<int> g_format{int(LogFormat::kText)};
std::mutex g_mu;
constexpr const char* kNames[] = {"error", "warn", "info", "debug"};

// RFC 3339 UTC with milliseconds: 2026-11-27T12:00:00.123Z
std::string timestamp(uint64_t unix_ms) {
  std::time_t secs = std::time_t(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(ts + n, sizeof ts - n, ".%03dZ", int(unix_ms % 1000));
  return ts;
}
}  // namespace

Result<LogLevel> parse_log_level(std::string_view s) {
  for (int i = 0; i < 4; ++i)
    if (s == kNames[i]) return LogLevel(i);
  return error(Code::kInvalidArgument, "log level must be error, warn, info or debug");
}

Result<LogFormat> parse_log_format(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "json") return LogFormat::kJson;
  return error(Code::kInvalidArgument, "log format must be text or json");
}

void set_log_level(LogLevel level) { g_level = int(level); }
void set_log_format(LogFormat format) { g_format = int(format); }
bool log_enabled(LogLevel level) { return int(level) <= g_level.load(std::memory_order_relaxed); }

std::string format_log_line(LogFormat format, LogLevel level, uint64_t unix_ms, std::string_view component,
                            std::string_view message) {
  if (format == LogFormat::kJson) {
    nlohmann::ordered_json j = {{"ts", timestamp(unix_ms)},
                        {"level", kNames[int(level)]},
                        {"component", std::string(component)},
                        {"msg", std::string(message)}};
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  std::string out = timestamp(unix_ms);
  out += ' ';
  out += kNames[int(level)];
  out += ' ';
  out += component;
  out += ": ";
  out += message;
  return out;
}

void log(LogLevel level, std::string_view component, std::string_view message) {
  if (!log_enabled(level)) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::string line = format_log_line(LogFormat(g_format.load(std::memory_order_relaxed)), level, uint64_t(ms),
                                     component, message);
  line += '\n';
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace onionswarm::node
