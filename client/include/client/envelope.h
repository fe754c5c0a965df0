// The message envelope: what a sender stores in the recipient's inbox.
// Byte format: docs/PROTOCOL.md, "Message envelope".
//
// stored blob = crypto_box_seal(recipient_x25519, inner)
// inner       = version(1)=1 || sender_ed25519(32) || timestamp_ms(8) || signature(64) || padded
// padded      = text_len(4) || text (UTF-8) || zero padding; len(padded) is a multiple of 256
// signature   = Ed25519 by the sender over
//               "onionswarm/msg/v1" || sender_ed25519 || recipient_x25519 || timestamp_ms(8) || padded
// The storing node sees only the sealed blob: it learns the recipient (from
// the account it is stored under) and never the sender.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"
#include "swarm/account.h"

namespace onionswarm::client {

inline constexpr size_t kMaxTextBytes = 16 * 1024;

// kInvalidArgument when text is longer than kMaxTextBytes.
Result<Bytes> seal_message(const crypto::Ed25519KeyPair& sender,
                           const crypto::X25519PublicKey& recipient, uint64_t timestamp_ms,
                           std::string_view text);

struct OpenedMessage {
  crypto::Ed25519PublicKey sender_ed25519;
  swarm::AccountId sender;  // 05 + X25519 derived from sender_ed25519
  uint64_t timestamp_ms = 0;
  std::string text;
};

// The inner plaintext that seal_message seals, built deterministically (the
// Ed25519 signature is deterministic; only the sealed box is randomized).
// Exposed for golden vectors and tests; callers send seal_message's output.
// kInvalidArgument when text is longer than kMaxTextBytes.
Result<crypto::SecretBytes> build_inner(const crypto::Ed25519KeyPair& sender,
                                        const crypto::X25519PublicKey& recipient,
                                        uint64_t timestamp_ms, std::string_view text);

// Opens and verifies. kUnauthorized when the box does not open for this
// recipient or the sender's signature fails; kInvalidArgument when malformed.
Result<OpenedMessage> open_message(const crypto::X25519KeyPair& recipient, ByteView sealed);

// open_message of each, in order; a page of them is split over up to
// kMaxOpenThreads threads (each open is a DH and a signature check).
inline constexpr size_t kMaxOpenThreads = 4;
std::vector<Result<OpenedMessage>> open_messages(const crypto::X25519KeyPair& recipient,
                                                 const std::vector<ByteView>& sealed);

}  // namespace onionswarm::client
