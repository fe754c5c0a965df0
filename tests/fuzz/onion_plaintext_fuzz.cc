// Fuzzes the parsers behind the AEAD: the harness encrypts the fuzzer's
// bytes under the fixed keys, so every input is an authentic layer whose
// plaintext is attacker-chosen (a malicious client, or a hop colluding with
// one). No test hook in onion/ is needed: the harness reproduces the
// documented key schedule (fuzz_keys.h).
//
// Input: mode(1) || rest
//   mode % 2 == 0: rest is the plaintext of a request layer; peel it.
//   mode % 2 == 1: rest is the plaintext of response layer k of an n-hop
//                  path (n = 1 + (mode >> 1) % 3, k = (mode >> 3) % n);
//                  layers 0..k-1 forward it (kForwarded, built with
//                  wrap_response_with_nonce). unwrap_response it.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_keys.h"
#include "onion/layer.h"

namespace of = onionswarm::fuzz;
namespace onion = onionswarm::onion;
using onionswarm::Bytes;
using onionswarm::ByteView;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto hop = of::x25519_pair(of::kHopSecret);
  static const auto eph = of::x25519_pair(of::kEphemeralSecret);
  static const auto keys = of::layer_keys(eph, hop.public_key());
  static const auto response_keys = of::response_keys();
  static const Bytes nonce = of::hex(of::kNonce);
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const ByteView rest(data + 1, size - 1);

  if (mode % 2 == 0) {
    const Bytes blob = of::layer_blob(eph, keys.request, rest);
    auto peeled = onion::peel(hop, blob);
    if (peeled.ok()) {
      if (peeled->ephemeral != eph.public_key()) of::harness_bug("peel: wrong ephemeral key");
      if (!onionswarm::crypto::equal_ct(peeled->response_key.view(), keys.response.view()))
        of::harness_bug("peel: wrong response key");
      if (peeled->payload.size() > rest.size()) of::harness_bug("peel: payload larger than layer");
    }
    return 0;
  }

  const size_t n = 1 + (mode >> 1) % 3;
  const size_t k = (mode >> 3) % n;
  Bytes blob = of::response_layer(response_keys[k], rest);
  for (size_t i = k; i-- > 0;)
    blob = onion::wrap_response_with_nonce(response_keys[i], onion::ResponseKind::kForwarded, blob, nonce);
  auto unwrapped = onion::unwrap_response(std::span(response_keys).first(n), blob);
  if (unwrapped.ok()) {
    // Layers before k only forward; a fuzzed kForwarded at k may carry a
    // valid deeper layer, so the answer comes from hop k or a later one.
    if (unwrapped->hop < k || unwrapped->hop >= n)
      of::harness_bug("unwrap_response: answer attributed to the wrong hop");
    if (unwrapped->body.size() > rest.size()) of::harness_bug("unwrap_response: body larger than layer");
  }
  return 0;
}
