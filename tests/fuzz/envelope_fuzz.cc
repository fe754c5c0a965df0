// Fuzzes client::open_message with the fixed recipient key of
// tests/vectors/envelope.json.
//
// Input: mode(1) || rest
//   mode % 3 == 0: rest is the sealed blob as received from a node (random
//                  bytes stop at the sealed box; seeds are valid boxes).
//   mode % 3 == 1: rest is the inner plaintext; the harness seals it to the
//                  recipient (deterministically), so the envelope parser
//                  sees attacker-chosen plaintext.
//   mode % 3 == 2: rest is `padded`; the harness builds the inner plaintext
//                  around it and signs it with the fixed sender key, so the
//                  part after the signature check is reached too.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "client/envelope.h"
#include "fuzz_keys.h"

namespace of = onionswarm::fuzz;
namespace crypto = onionswarm::crypto;
using onionswarm::Bytes;
using onionswarm::ByteView;

namespace {

// version || sender_ed25519 || timestamp_ms || signature || padded, signed
// as client/envelope.h specifies.
Bytes signed_inner(const crypto::Ed25519KeyPair& sender, const crypto::X25519PublicKey& recipient,
                   uint64_t ts, ByteView padded) {
  Bytes msg;
  onionswarm::append(msg, onionswarm::as_bytes("onionswarm/msg/v1"));
  onionswarm::append(msg, sender.public_key().view());
  onionswarm::append(msg, recipient.view());
  onionswarm::put_u64(msg, ts);
  onionswarm::append(msg, padded);
  const crypto::Signature sig = sender.sign(msg);
  Bytes inner{1};
  onionswarm::append(inner, sender.public_key().view());
  onionswarm::put_u64(inner, ts);
  onionswarm::append(inner, sig.view());
  onionswarm::append(inner, padded);
  return inner;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto recipient = of::x25519_pair(of::kRecipientSecret);
  static const auto sender = [] {
    auto kp = crypto::Ed25519KeyPair::from_seed(of::hex(of::kSenderSeed));
    if (!kp.ok()) of::harness_bug("bad sender seed");
    return std::move(kp).value();
  }();
  if (size < 1) return 0;
  const ByteView rest(data + 1, size - 1);

  Bytes sealed;
  switch (data[0] % 3) {
    case 0:
      sealed.assign(rest.begin(), rest.end());
      break;
    case 1:
      sealed = of::seal_deterministic(recipient.public_key(), rest);
      break;
    default:
      sealed = of::seal_deterministic(recipient.public_key(),
                                      signed_inner(sender, recipient.public_key(), 1700000000123, rest));
      break;
  }
  auto opened = onionswarm::client::open_message(recipient, sealed);
  if (opened.ok() && opened->text.size() > onionswarm::client::kMaxTextBytes)
    of::harness_bug("open_message returned text over kMaxTextBytes");
  return 0;
}
