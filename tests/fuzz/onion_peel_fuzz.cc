// Fuzzes what a hop and a client read from the network: onion::peel with a
// fixed hop key, and onion::unwrap_response with fixed response keys.
// Random bytes stop at the AEAD tag; the seed corpus holds valid blobs for
// these keys (tests/fuzz/corpus/onion_peel), which the fuzzer mutates.
// onion_plaintext_fuzz.cc reaches the parsers behind the AEAD.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_keys.h"
#include "onion/layer.h"

namespace of = onionswarm::fuzz;
namespace onion = onionswarm::onion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto hop = of::x25519_pair(of::kHopSecret);
  static const auto keys = of::response_keys();
  const onionswarm::ByteView blob(data, size);

  auto peeled = onion::peel(hop, blob);
  if (peeled.ok() && peeled->kind == onion::LayerKind::kRelay &&
      peeled->payload.size() > onion::kMaxBlobSize)
    of::harness_bug("peel returned a relay payload larger than a blob");

  auto all = onion::unwrap_response(keys, blob);
  if (all.ok() && all->hop >= keys.size()) of::harness_bug("unwrap_response: hop out of range");
  auto first = onion::unwrap_response(std::span(keys).first(1), blob);
  if (first.ok() && first->hop != 0) of::harness_bug("unwrap_response: hop out of range");
  return 0;
}
