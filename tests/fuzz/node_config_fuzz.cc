// Fuzzes config::parse_node_config (the node's --config file), then
// validate_node_config on what parsed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/node_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto cfg = onionswarm::config::parse_node_config(std::string_view(reinterpret_cast<const char*>(data), size));
  if (cfg.ok()) (void)onionswarm::config::validate_node_config(*cfg);
  return 0;
}
