// Fuzzes config::parse_network_file (the network file nodes and clients
// start from; it carries the node descriptors). What parses must print
// canonically and parse back equal (network_file.h promises this).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/network_file.h"
#include "fuzz_keys.h"

namespace config = onionswarm::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = config::parse_network_file(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!file.ok()) return 0;
  auto again = config::parse_network_file(config::network_file_to_json(*file));
  if (!again.ok()) onionswarm::fuzz::harness_bug("canonical network file does not parse");
  if (again->network_id != file->network_id || again->swarm_size != file->swarm_size ||
      again->nodes != file->nodes)
    onionswarm::fuzz::harness_bug("network file does not round-trip");
  return 0;
}
