// Fuzzes swarm::parse_json, the bounded JSON parser in front of every
// request, answer and config file. What parses must dump without throwing;
// the depth bound is checked with a small and the default limit.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_keys.h"
#include "swarm/json.h"

namespace {

// Nesting depth of containers (a scalar is 0), iterative over the levels.
size_t depth(const nlohmann::json& root) {
  size_t d = 0;
  std::vector<const nlohmann::json*> level{&root};
  while (true) {
    std::vector<const nlohmann::json*> next;
    for (const nlohmann::json* j : level)
      if (j->is_structured())
        for (const auto& child : *j) next.push_back(&child);
    bool any_structured = false;
    for (const nlohmann::json* j : level) any_structured |= j->is_structured();
    if (!any_structured) return d;
    ++d;
    level = std::move(next);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (size_t max_depth : {size_t(4), onionswarm::swarm::kDefaultMaxJsonDepth}) {
    auto j = onionswarm::swarm::parse_json(text, max_depth);
    if (!j.ok()) continue;
    (void)j->dump();
    if (depth(*j) > max_depth) onionswarm::fuzz::harness_bug("parse_json exceeded max_depth");
  }
  return 0;
}
