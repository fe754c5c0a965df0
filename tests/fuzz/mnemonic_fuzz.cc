// Fuzzes client::phrase_to_seed (a recovery phrase typed or pasted by a
// user). A phrase that parses names a seed whose phrase parses to it again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "client/mnemonic.h"
#include "fuzz_keys.h"

namespace client = onionswarm::client;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto seed = client::phrase_to_seed(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!seed.ok()) return 0;
  if (seed->size() != onionswarm::crypto::kSeedSize) onionswarm::fuzz::harness_bug("seed is not 32 bytes");
  auto again = client::phrase_to_seed(client::seed_to_phrase(seed->view()));
  if (!again.ok() || !onionswarm::crypto::equal_ct(again->view(), seed->view()))
    onionswarm::fuzz::harness_bug("phrase does not round-trip");
  return 0;
}
