#include "onion/status.h"

#include <array>

namespace onionswarm {
namespace {
constexpr std::array<std::pair<Code, std::string_view>, 16> kNames{{
    {Code::kOk, "ok"},
    {Code::kInvalidArgument, "invalid_argument"},
    {Code::kUnauthorized, "unauthorized"},
    {Code::kStale, "stale"},
    {Code::kReplay, "replay"},
    {Code::kNotFound, "not_found"},
    {Code::kExists, "exists"},
    {Code::kFull, "full"},
    {Code::kWrongSwarm, "wrong_swarm"},
    {Code::kUnavailable, "unavailable"},
    {Code::kTimeout, "timeout"},
    {Code::kBusy, "busy"},
    {Code::kIo, "io"},
    {Code::kInternal, "internal"},
    {Code::kConflict, "conflict"},
    {Code::kStorageFull, "storage_full"},
}};
}  // namespace

std::string_view code_name(Code code) {
  for (const auto& [c, n] : kNames)
    if (c == code) return n;
  return "internal";
}

Code code_from_name(std::string_view name) {
  for (const auto& [c, n] : kNames)
    if (n == name) return c;
  return Code::kInternal;
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string s(code_name(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace onionswarm
