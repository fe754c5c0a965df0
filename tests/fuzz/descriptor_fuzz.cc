// Fuzzes the directory's parsers: signed node descriptors as gossip carries
// them, operator endorsement files, and the client's cached directory.
//
// Input: mode(1) || rest
//   mode % 4 == 0: rest is a descriptor's JSON text: parse, verify against a
//                  fixed network's rules (open and permissioned), and check
//                  that what parses survives a JSON round trip unchanged.
//   mode % 4 == 1: as 0, but the harness re-signs what parsed with a fixed
//                  node key, so verification runs past the signature check
//                  (times, network id, address, endorsement).
//   mode % 4 == 2: rest is an endorsement file.
//   mode % 4 == 3: rest is a client's directory cache file: parsed as it is,
//                  and, when it is a JSON object, again with a MAC the
//                  harness puts on it under a fixed identity's key (PROTOCOL
//                  9.5), so the descriptors take the path that checks only
//                  their terms.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "client/directory_cache.h"
#include "fuzz_keys.h"
#include "onion/encoding.h"
#include "swarm/descriptor.h"
#include "swarm/json.h"

namespace of = onionswarm::fuzz;
namespace crypto = onionswarm::crypto;
namespace sw = onionswarm::swarm;
using onionswarm::Bytes;

namespace {

constexpr uint64_t kNow = 1700000000000;

const crypto::Ed25519KeyPair& node_key() {
  static const crypto::Ed25519KeyPair k = [] {
    crypto::init();
    auto kp = crypto::Ed25519KeyPair::from_seed(Bytes(32, 0x21));
    if (!kp.ok()) of::harness_bug("bad node seed");
    return std::move(kp).value();
  }();
  return k;
}

const crypto::Ed25519KeyPair& operator_key() {
  static const crypto::Ed25519KeyPair k = [] {
    auto kp = crypto::Ed25519KeyPair::from_seed(Bytes(32, 0x22));
    if (!kp.ok()) of::harness_bug("bad operator seed");
    return std::move(kp).value();
  }();
  return k;
}

sw::VerifyRules rules(bool permissioned) {
  sw::VerifyRules r;
  r.network_id = "fuzz-net";
  r.now_ms = kNow;
  if (permissioned) r.operators = {operator_key().public_key()};
  return r;
}

void check(const sw::SignedDescriptor& d) {
  (void)sw::verify_descriptor(d, rules(false));
  (void)sw::verify_descriptor(d, rules(true));
  (void)sw::node_with_operator(d);
  auto again = sw::parse_descriptor(sw::descriptor_to_json(d));
  if (!again.ok()) of::harness_bug("a parsed descriptor does not parse again after descriptor_to_json");
  if (!(*again == d)) of::harness_bug("descriptor JSON round trip changed the descriptor");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  (void)node_key();
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto d = sw::parse_descriptor_text(text);
      if (d.ok()) check(*d);
      break;
    }
    case 1: {
      auto d = sw::parse_descriptor_text(text);
      if (!d.ok()) break;
      d->node.ed25519 = node_key().public_key();
      d->node.x25519 = node_key().to_x25519().public_key();
      sw::sign_descriptor(*d, node_key());
      check(*d);
      break;
    }
    case 2: {
      auto f = sw::parse_endorsement_file(text);
      if (f.ok() && !sw::parse_endorsement_file(sw::endorsement_file_to_json(*f).dump()).ok())
        of::harness_bug("a parsed endorsement file does not parse again");
      break;
    }
    default: {
      namespace cl = onionswarm::client;
      auto c = cl::parse_directory_cache(text, rules(false));
      if (c.ok() && !cl::parse_directory_cache(cl::directory_cache_to_json(*c), rules(false)).ok())
        of::harness_bug("a parsed directory cache does not parse again");
      auto j = sw::parse_json(text, 6, cl::kMaxCacheFileBytes);
      if (!j.ok() || !j->is_object()) break;
      static const crypto::SecretBytes key = cl::directory_cache_key(node_key());
      j->erase("mac");
      (*j)["mac"] = onionswarm::to_hex(crypto::blake2b(onionswarm::as_bytes(j->dump()), crypto::kHashSize, key.view()));
      for (bool permissioned : {false, true}) {
        auto ours = cl::parse_directory_cache(j->dump(), rules(permissioned), &key);
        if (!ours.ok()) continue;
        auto again = cl::parse_directory_cache(cl::directory_cache_to_json(*ours, &key), rules(permissioned), &key);
        if (!again.ok() || again->descriptors != ours->descriptors)
          of::harness_bug("a directory cache under its MAC does not round-trip");
      }
      break;
    }
  }
  return 0;
}
