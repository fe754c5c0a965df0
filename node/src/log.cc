#include "node/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace onionswarm::node {
namespace {
std::atomic<int> g_level{int(LogLevel::kInfo)};
std::mutex g_mu;
constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
}  // namespace

Result<LogLevel> parse_log_level(std::string_view s) {
  for (int i = 0; i < 4; ++i)
    if (s == kNames[i]) return LogLevel(i);
  return error(Code::kInvalidArgument, "log level must be error, warn, info or debug");
}

void set_log_level(LogLevel level) { g_level = int(level); }
bool log_enabled(LogLevel level) { return int(level) <= g_level.load(std::memory_order_relaxed); }

void log(LogLevel level, std::string_view component, std::string_view message) {
  if (!log_enabled(level)) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::lock_guard lock(g_mu);
  std::fprintf(stderr, "%s.%03dZ %s %.*s: %.*s\n", ts, int(ms % 1000), kNames[int(level)], int(component.size()),
               component.data(), int(message.size()), message.data());
  std::fflush(stderr);
}

}  // namespace onionswarm::node
