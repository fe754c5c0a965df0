#include "swarm/json.h"

namespace onionswarm::swarm {

Result<nlohmann::json> parse_json(std::string_view text, size_t max_depth, size_t max_bytes) {
  if (text.size() > max_bytes) return error(Code::kInvalidArgument, "JSON too large");
  bool too_deep = false;
  auto guard = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        size_t(depth) >= max_depth) {
      too_deep = true;
    }
    return !too_deep;  // returning false discards the value; parsing continues shallowly
  };
  try {
    auto j = nlohmann::json::parse(text.begin(), text.end(), guard, /*allow_exceptions=*/true);
    if (too_deep) return error(Code::kInvalidArgument, "JSON too deep");
    return j;
  } catch (const nlohmann::json::exception& e) {
    if (too_deep) return error(Code::kInvalidArgument, "JSON too deep");
    return error(Code::kInvalidArgument, std::string("bad JSON: ") + e.what());
  }
}

}  // namespace onionswarm::swarm
