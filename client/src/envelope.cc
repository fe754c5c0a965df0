// Sealed-sender message envelope. Format: client/include/client/envelope.h
// and docs/protocol/envelope.md.
#include "client/envelope.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>

namespace onionswarm::client {
namespace {

constexpr uint8_t kVersion = 1;
constexpr std::string_view kSignatureDomain = "onionswarm/msg/v1";
constexpr size_t kPadBlock = 256;
constexpr size_t kTextLenSize = 4;
constexpr size_t kTimestampSize = 8;
constexpr size_t kHeaderSize =
    1 + crypto::kKeySize + kTimestampSize + crypto::kSignatureSize;  // before padded
constexpr size_t kMaxPaddedSize =
    (kTextLenSize + kMaxTextBytes + kPadBlock - 1) / kPadBlock * kPadBlock;

size_t padded_size(size_t text_len) {
  return (kTextLenSize + text_len + kPadBlock - 1) / kPadBlock * kPadBlock;
}

// The signed message: domain || sender_ed25519 || recipient_x25519 || ts || padded.
// Holds the plaintext, so it lives in a SecretBytes.
crypto::SecretBytes signature_message(const crypto::Ed25519PublicKey& sender,
                                      const crypto::X25519PublicKey& recipient,
                                      uint64_t timestamp_ms, ByteView padded) {
  crypto::SecretBytes msg(kSignatureDomain.size() + 2 * crypto::kKeySize + kTimestampSize +
                          padded.size());
  uint8_t* p = msg.data();
  std::memcpy(p, kSignatureDomain.data(), kSignatureDomain.size());
  p += kSignatureDomain.size();
  std::memcpy(p, sender.data(), crypto::kKeySize);
  p += crypto::kKeySize;
  std::memcpy(p, recipient.data(), crypto::kKeySize);
  p += crypto::kKeySize;
  for (int i = 7; i >= 0; --i) *p++ = uint8_t(timestamp_ms >> (8 * i));
  if (!padded.empty()) std::memcpy(p, padded.data(), padded.size());
  return msg;
}

}  // namespace

Result<crypto::SecretBytes> build_inner(const crypto::Ed25519KeyPair& sender,
                                        const crypto::X25519PublicKey& recipient,
                                        uint64_t timestamp_ms, std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    return error(Code::kInvalidArgument, "message text longer than " +
                                             std::to_string(kMaxTextBytes) + " bytes");
  }
  const size_t padded_len = padded_size(text.size());
  crypto::SecretBytes inner(kHeaderSize + padded_len);  // zero-initialised
  uint8_t* padded = inner.data() + kHeaderSize;
  const auto text_len = uint32_t(text.size());
  for (int i = 3; i >= 0; --i) padded[3 - i] = uint8_t(text_len >> (8 * i));
  if (!text.empty()) std::memcpy(padded + kTextLenSize, text.data(), text.size());
  // The rest of padded stays zero.

  const crypto::SecretBytes msg =
      signature_message(sender.public_key(), recipient, timestamp_ms, {padded, padded_len});
  const crypto::Signature sig = sender.sign(msg.view());

  uint8_t* p = inner.data();
  *p++ = kVersion;
  std::memcpy(p, sender.public_key().data(), crypto::kKeySize);
  p += crypto::kKeySize;
  for (int i = 7; i >= 0; --i) *p++ = uint8_t(timestamp_ms >> (8 * i));
  std::memcpy(p, sig.data(), crypto::kSignatureSize);
  return inner;
}

Result<Bytes> seal_message(const crypto::Ed25519KeyPair& sender,
                           const crypto::X25519PublicKey& recipient, uint64_t timestamp_ms,
                           std::string_view text) {
  auto inner = build_inner(sender, recipient, timestamp_ms, text);
  if (!inner.ok()) return inner.status();
  // inner is a SecretBytes: zeroed when it goes out of scope.
  return crypto::seal(recipient, inner->view());
}

Result<OpenedMessage> open_message(const crypto::X25519KeyPair& recipient, ByteView sealed) {
  if (sealed.size() < crypto::kSealOverhead) {
    return error(Code::kUnauthorized, "message does not open for this recipient");
  }
  auto opened = crypto::seal_open(recipient, sealed);
  if (!opened.ok()) return error(Code::kUnauthorized, "message does not open for this recipient");
  // Keep the plaintext in a buffer that zeroes itself.
  const crypto::SecretBytes inner{ByteView(*opened)};
  sodium_memzero(opened->data(), opened->size());

  const ByteView in = inner.view();
  if (in.size() < kHeaderSize + kPadBlock) {
    return error(Code::kInvalidArgument, "message envelope too short");
  }
  if (in[0] != kVersion) {
    return error(Code::kInvalidArgument,
                 "unsupported message envelope version " + std::to_string(in[0]));
  }
  const ByteView padded = in.subspan(kHeaderSize);
  if (padded.size() % kPadBlock != 0 || padded.size() > kMaxPaddedSize) {
    return error(Code::kInvalidArgument, "message padding has a wrong length");
  }
  const uint32_t text_len = get_u32(padded.data());
  if (text_len > kMaxTextBytes) {
    return error(Code::kInvalidArgument, "message text length exceeds the maximum");
  }
  if (padded_size(text_len) != padded.size()) {
    return error(Code::kInvalidArgument, "message padding does not match the text length");
  }
  const ByteView tail = padded.subspan(kTextLenSize + text_len);
  if (!std::all_of(tail.begin(), tail.end(), [](uint8_t b) { return b == 0; })) {
    return error(Code::kInvalidArgument, "message padding is not zero");
  }

  OpenedMessage out;
  std::memcpy(out.sender_ed25519.data(), in.data() + 1, crypto::kKeySize);
  out.timestamp_ms = get_u64(in.data() + 1 + crypto::kKeySize);
  crypto::Signature sig;
  std::memcpy(sig.data(), in.data() + 1 + crypto::kKeySize + kTimestampSize,
              crypto::kSignatureSize);

  const crypto::SecretBytes msg = signature_message(out.sender_ed25519, recipient.public_key(),
                                                    out.timestamp_ms, padded);
  if (!crypto::verify(out.sender_ed25519, msg.view(), sig)) {
    return error(Code::kUnauthorized, "sender signature does not verify");
  }
  auto sender_x = crypto::ed25519_to_x25519(out.sender_ed25519);
  if (!sender_x.ok()) return error(Code::kUnauthorized, "sender key is not a valid Ed25519 key");
  out.sender = swarm::AccountId::user(*sender_x);
  out.text.assign(reinterpret_cast<const char*>(padded.data() + kTextLenSize), text_len);
  return out;
}

std::vector<Result<OpenedMessage>> open_messages(const crypto::X25519KeyPair& recipient,
                                                 const std::vector<ByteView>& sealed) {
  std::vector<Result<OpenedMessage>> out(sealed.size(), error(Code::kUnauthorized, "not opened"));
  auto open_range = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = open_message(recipient, sealed[i]);
  };
  // A thread costs about what one open does; split only where it pays.
  constexpr size_t kPerThreadAtLeast = 8;
  const size_t threads = std::min({kMaxOpenThreads, size_t(std::max(1u, std::thread::hardware_concurrency())),
                                   std::max<size_t>(1, sealed.size() / kPerThreadAtLeast)});
  const size_t chunk = (sealed.size() + threads - 1) / std::max<size_t>(threads, 1);
  std::vector<std::thread> helpers;
  helpers.reserve(threads);  // so only a thread's start can throw below
  for (size_t t = 1; t < threads; ++t) {
    const size_t begin = std::min(sealed.size(), t * chunk), end = std::min(sealed.size(), (t + 1) * chunk);
    try {
      helpers.emplace_back(open_range, begin, end);
    } catch (const std::system_error&) {
      open_range(begin, end);  // no thread to be had: this one does it
    }
  }
  open_range(0, std::min(sealed.size(), chunk));
  for (auto& h : helpers) h.join();
  return out;
}

}  // namespace onionswarm::client
