#include "onion/layer.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "onion/ephemeral_pool.h"
#include "onion/padding.h"

namespace onionswarm::onion {
namespace {

using crypto::kKeySize;
using crypto::kNonceSize;
using crypto::kTagSize;

constexpr std::string_view kLayerDomain = "onionswarm/layer/v1";

// kind(1) || timestamp_ms(8) || payload_len(4)
constexpr size_t kDestinationHeader = 1 + 8 + 4;
// kind(1) || timestamp_ms(8) || next_hop(32) || payload_len(4)
constexpr size_t kRelayHeader = 1 + 8 + kKeySize + 4;
// Smallest blob that can be valid: an empty destination layer (before padding).
constexpr size_t kMinBlobSize = kLayerHeaderOverhead + kDestinationHeader;

// kind(1) || body_len(4)
constexpr size_t kResponseHeader = 1 + 4;
constexpr size_t kResponseOverhead = kNonceSize + kTagSize;
constexpr size_t kMinResponseSize = kResponseOverhead + kResponseHeader;

static_assert(kMaxPayload + kDestinationHeader == kMaxRequestBucket);
static_assert(kMaxAnswerBody + kResponseHeader == kBuckets.back());
// The largest answer, wrapped by every hop of the longest path, still fits a frame.
static_assert(kBuckets.back() + kMaxHops * (kResponseOverhead + kResponseHeader) <= kMaxBlobSize);

struct LayerKeys {
  crypto::SecretBytes request;
  crypto::SecretBytes response;
};

// okm = BLAKE2b-512(key = shared, msg = domain || eph_pk || hop_pk).
LayerKeys derive_keys(const crypto::SecretBytes& shared, const crypto::X25519PublicKey& eph_pk,
                      const crypto::X25519PublicKey& hop_pk) {
  uint8_t okm[64];
  crypto_generichash_state st;
  crypto_generichash_init(&st, shared.data(), shared.size(), sizeof okm);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kLayerDomain.data()), kLayerDomain.size());
  crypto_generichash_update(&st, eph_pk.data(), eph_pk.size());
  crypto_generichash_update(&st, hop_pk.data(), hop_pk.size());
  crypto_generichash_final(&st, okm, sizeof okm);
  sodium_memzero(&st, sizeof st);
  LayerKeys keys{crypto::SecretBytes(ByteView(okm, 32)), crypto::SecretBytes(ByteView(okm + 32, 32))};
  sodium_memzero(okm, sizeof okm);
  return keys;
}

bool all_zero(ByteView b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t v) { return v == 0; });
}

// Padded size of a kFinal response plaintext of n bytes. Answers too large for
// the largest bucket are left unpadded (the destination must not send them).
size_t final_response_size(size_t n) {
  size_t b = bucket_for(n);
  return b == 0 ? n : b;
}

}  // namespace

Result<BuiltOnion> build(std::span<const crypto::X25519PublicKey> hops, ByteView payload,
                         uint64_t timestamp_ms, EphemeralPool* pool) {
  crypto::init();
  if (hops.empty() || hops.size() > kMaxHops) return error(Code::kInvalidArgument, "path must have 1..8 hops");
  std::vector<crypto::X25519KeyPair> ephemerals;
  std::vector<Bytes> nonces;
  ephemerals.reserve(hops.size());
  nonces.reserve(hops.size());
  for (size_t i = 0; i < hops.size(); ++i) {
    ephemerals.push_back(pool ? pool->take() : crypto::X25519KeyPair::generate());
    nonces.push_back(crypto::random_bytes(kNonceSize));
  }
  return build_with(hops, payload, timestamp_ms, ephemerals, nonces);
}

Result<BuiltOnion> build_with(std::span<const crypto::X25519PublicKey> hops, ByteView payload,
                              uint64_t timestamp_ms, std::span<const crypto::X25519KeyPair> ephemerals,
                              std::span<const Bytes> nonces) {
  crypto::init();
  const size_t n = hops.size();
  if (n == 0 || n > kMaxHops) return error(Code::kInvalidArgument, "path must have 1..8 hops");
  if (payload.size() > kMaxPayload) return error(Code::kInvalidArgument, "payload too large");
  if (ephemerals.size() != n || nonces.size() != n)
    return error(Code::kInvalidArgument, "need one ephemeral key and one nonce per hop");
  for (const Bytes& nonce : nonces)
    if (nonce.size() != kNonceSize) return error(Code::kInvalidArgument, "nonce must be 24 bytes");

  BuiltOnion out;
  out.response_keys.resize(n);
  Bytes inner;  // the blob for hops[i + 1], empty while building the destination layer
  for (size_t k = n; k-- > 0;) {
    Bytes plaintext;
    if (k == n - 1) {
      const size_t padded = request_bucket_for(kDestinationHeader + payload.size());
      plaintext.reserve(padded);
      plaintext.push_back(static_cast<uint8_t>(LayerKind::kDestination));
      put_u64(plaintext, timestamp_ms);
      put_u32(plaintext, static_cast<uint32_t>(payload.size()));
      append(plaintext, payload);
      plaintext.resize(padded, 0);
    } else {
      plaintext.reserve(kRelayHeader + inner.size());
      plaintext.push_back(static_cast<uint8_t>(LayerKind::kRelay));
      put_u64(plaintext, timestamp_ms);
      append(plaintext, hops[k + 1].view());
      put_u32(plaintext, static_cast<uint32_t>(inner.size()));
      append(plaintext, inner);
    }

    const crypto::X25519KeyPair& eph = ephemerals[k];
    auto shared = crypto::x25519(eph.secret(), hops[k]);
    if (!shared.ok()) return error(Code::kInvalidArgument, "hop " + std::to_string(k) + ": " + shared.status().message());
    LayerKeys keys = derive_keys(*shared, eph.public_key(), hops[k]);

    Bytes blob;
    blob.reserve(kLayerHeaderOverhead + plaintext.size());
    append(blob, eph.public_key().view());
    append(blob, nonces[k]);
    append(blob, crypto::aead_encrypt(keys.request, nonces[k], plaintext, eph.public_key().view()));
    if (!plaintext.empty()) sodium_memzero(plaintext.data(), plaintext.size());
    if (blob.size() > kMaxBlobSize) return error(Code::kInvalidArgument, "onion exceeds maximum blob size");

    out.response_keys[k] = std::move(keys.response);
    inner = std::move(blob);
  }
  out.blob = std::move(inner);
  return out;
}

Result<PeeledLayer> peel(const crypto::X25519KeyPair& hop, ByteView blob) {
  crypto::init();
  if (blob.size() < kMinBlobSize) return error(Code::kInvalidArgument, "onion blob too short");
  if (blob.size() > kMaxBlobSize) return error(Code::kInvalidArgument, "onion blob too long");

  PeeledLayer out;
  std::copy_n(blob.begin(), kKeySize, out.ephemeral.bytes.begin());
  const ByteView nonce = blob.subspan(kKeySize, kNonceSize);
  const ByteView ciphertext = blob.subspan(kKeySize + kNonceSize);

  auto shared = crypto::x25519(hop.secret(), out.ephemeral);
  if (!shared.ok()) return shared.status();
  LayerKeys keys = derive_keys(*shared, out.ephemeral, hop.public_key());
  auto opened = crypto::aead_decrypt(keys.request, nonce, ciphertext, out.ephemeral.view());
  if (!opened.ok()) {
    if (opened.status().code() == Code::kUnauthorized)
      return error(Code::kUnauthorized, "onion layer does not decrypt for this hop");
    return opened.status();
  }
  const Bytes& pt = *opened;  // at least kDestinationHeader bytes (blob size checked above)

  out.timestamp_ms = get_u64(pt.data() + 1);
  switch (pt[0]) {
    case static_cast<uint8_t>(LayerKind::kDestination): {
      const size_t len = get_u32(pt.data() + 9);
      if (len > pt.size() - kDestinationHeader)
        return error(Code::kInvalidArgument, "payload length beyond layer");
      if (len > kMaxPayload) return error(Code::kInvalidArgument, "request payload too large");
      if (!request_padding_ok(pt.size(), kDestinationHeader + len))
        return error(Code::kInvalidArgument, "destination layer not padded to its bucket");
      const ByteView padding = ByteView(pt).subspan(kDestinationHeader + len);
      if (!all_zero(padding)) return error(Code::kInvalidArgument, "non-zero padding");
      out.kind = LayerKind::kDestination;
      out.payload.assign(pt.begin() + kDestinationHeader, pt.begin() + kDestinationHeader + len);
      break;
    }
    case static_cast<uint8_t>(LayerKind::kRelay): {
      if (pt.size() < kRelayHeader) return error(Code::kInvalidArgument, "relay layer too short");
      const size_t len = get_u32(pt.data() + 1 + 8 + kKeySize);
      if (len != pt.size() - kRelayHeader)
        return error(Code::kInvalidArgument, "relay layer length does not match its inner blob");
      if (len < kMinBlobSize) return error(Code::kInvalidArgument, "inner blob too short");
      out.kind = LayerKind::kRelay;
      std::copy_n(pt.begin() + 9, kKeySize, out.next_hop.bytes.begin());
      out.payload.assign(pt.begin() + kRelayHeader, pt.end());
      break;
    }
    default:
      return error(Code::kInvalidArgument, "unknown layer kind " + std::to_string(pt[0]));
  }
  out.response_key = std::move(keys.response);
  return out;
}

Bytes wrap_response(const crypto::SecretBytes& response_key, ResponseKind kind, ByteView body) {
  return wrap_response_with_nonce(response_key, kind, body, crypto::random_bytes(kNonceSize));
}

Bytes wrap_response_with_nonce(const crypto::SecretBytes& response_key, ResponseKind kind, ByteView body,
                               ByteView nonce) {
  crypto::init();
  if (nonce.size() != kNonceSize) {
    std::fprintf(stderr, "onionswarm::onion: response nonce must be 24 bytes\n");
    std::abort();
  }
  Bytes plaintext;
  const size_t unpadded = kResponseHeader + body.size();
  const size_t padded = kind == ResponseKind::kFinal ? final_response_size(unpadded) : unpadded;
  plaintext.reserve(padded);
  plaintext.push_back(static_cast<uint8_t>(kind));
  put_u32(plaintext, static_cast<uint32_t>(body.size()));
  append(plaintext, body);
  plaintext.resize(padded, 0);

  Bytes out;
  out.reserve(kResponseOverhead + padded);
  append(out, nonce);
  append(out, crypto::aead_encrypt(response_key, nonce, plaintext));
  sodium_memzero(plaintext.data(), plaintext.size());
  return out;
}

Result<UnwrappedResponse> unwrap_response(std::span<const crypto::SecretBytes> response_keys,
                                          ByteView blob) {
  crypto::init();
  const size_t n = response_keys.size();
  if (n == 0 || n > kMaxHops) return error(Code::kInvalidArgument, "need 1..8 response keys");
  if (blob.size() > kMaxBlobSize) return error(Code::kInvalidArgument, "response blob too long");

  Bytes current(blob.begin(), blob.end());
  for (size_t i = 0; i < n; ++i) {
    const std::string where = "response layer " + std::to_string(i) + ": ";
    if (current.size() < kMinResponseSize) return error(Code::kInvalidArgument, where + "too short");
    const ByteView cur(current);
    auto opened = crypto::aead_decrypt(response_keys[i], cur.first(kNonceSize), cur.subspan(kNonceSize));
    if (!opened.ok()) return error(opened.status().code(), where + opened.status().message());
    const Bytes& pt = *opened;
    const size_t len = get_u32(pt.data() + 1);
    if (len > pt.size() - kResponseHeader) return error(Code::kInvalidArgument, where + "body length beyond layer");
    const ByteView body = ByteView(pt).subspan(kResponseHeader, len);
    const ByteView padding = ByteView(pt).subspan(kResponseHeader + len);

    switch (pt[0]) {
      case static_cast<uint8_t>(ResponseKind::kForwarded):
        if (i == n - 1) return error(Code::kInvalidArgument, where + "last hop cannot forward");
        if (!padding.empty()) return error(Code::kInvalidArgument, where + "trailing bytes after body");
        current.assign(body.begin(), body.end());
        continue;
      case static_cast<uint8_t>(ResponseKind::kFinal):
        if (i != n - 1) return error(Code::kInvalidArgument, where + "only the destination answers finally");
        if (pt.size() != final_response_size(kResponseHeader + len))
          return error(Code::kInvalidArgument, where + "final answer not padded to its bucket");
        if (!all_zero(padding)) return error(Code::kInvalidArgument, where + "non-zero padding");
        return UnwrappedResponse{ResponseKind::kFinal, i, Bytes(body.begin(), body.end())};
      case static_cast<uint8_t>(ResponseKind::kHopError):
        if (!padding.empty()) return error(Code::kInvalidArgument, where + "trailing bytes after body");
        return UnwrappedResponse{ResponseKind::kHopError, i, Bytes(body.begin(), body.end())};
      default:
        return error(Code::kInvalidArgument, where + "unknown response kind " + std::to_string(pt[0]));
    }
  }
  // Unreachable: the last layer either returns or is rejected as a forward.
  return error(Code::kInternal, "response unwrap fell through");
}

}  // namespace onionswarm::onion
