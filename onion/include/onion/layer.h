// Onion layers: build (client) and peel (every hop), plus the layered
// response that travels back. Pure functions: no I/O, no clocks (the caller
// passes timestamps), randomness only from libsodium unless injected.
// Byte formats: docs/PROTOCOL.md, "Onion layers".
//
// Blob a hop receives:   eph_pk(32) || nonce(24) || AEAD(request_key, plaintext, ad = eph_pk)
// Key schedule:          shared = X25519(eph_sk, hop_pk)
//                        okm = BLAKE2b-512(key = shared, msg = "onionswarm/layer/v1" || eph_pk || hop_pk)
//                        request_key = okm[0..32), response_key = okm[32..64)
// Layer plaintext:       kind(1) || timestamp_ms(8) || [next_hop_x25519(32) if relay]
//                        || payload_len(4) || payload || zero padding
//                        The destination layer's plaintext is zero-padded to a bucket
//                        (onion/padding.h); relay layers are not padded further.
// Response from a hop:   nonce(24) || AEAD(response_key, kind(1) || body_len(4) || body || zero padding)
//                        kind 0 forwarded (body is the next hop's response), 1 final (body is
//                        the destination's answer, padded to a bucket), 2 hop error (body is a
//                        UTF-8 JSON error written by that hop).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::onion {

inline constexpr size_t kMaxHops = 8;
inline constexpr size_t kLayerHeaderOverhead = crypto::kKeySize + crypto::kNonceSize + crypto::kTagSize;
// Largest request payload: its destination layer fits kMaxRequestBucket.
inline constexpr size_t kMaxPayload = 131072 - 13;
// Largest answer body a destination may wrap: it fits the largest bucket.
inline constexpr size_t kMaxAnswerBody = 163840 - 5;
// Largest blob a hop accepts (outer layer of a kMaxHops onion, rounded up).
inline constexpr size_t kMaxBlobSize = 256 * 1024;

class EphemeralPool;

enum class LayerKind : uint8_t { kRelay = 1, kDestination = 2 };

struct BuiltOnion {
  Bytes blob;  // send this to hops[0]
  // response_keys[i] is shared with hops[i]; needed to unwrap the answer.
  std::vector<crypto::SecretBytes> response_keys;
};

// Builds an onion through hops (hops[0] first contacted, hops.back() the
// destination). 1 <= hops.size() <= kMaxHops; payload.size() <= kMaxPayload.
// Every layer carries timestamp_ms. The layers' ephemeral key pairs come
// from `pool` when given (onion/ephemeral_pool.h), else are made here.
Result<BuiltOnion> build(std::span<const crypto::X25519PublicKey> hops, ByteView payload,
                         uint64_t timestamp_ms, EphemeralPool* pool = nullptr);

// Deterministic build for test vectors: ephemerals[i] and nonces[i] (24 bytes)
// are used for the layer of hops[i].
Result<BuiltOnion> build_with(std::span<const crypto::X25519PublicKey> hops, ByteView payload,
                              uint64_t timestamp_ms, std::span<const crypto::X25519KeyPair> ephemerals,
                              std::span<const Bytes> nonces);

struct PeeledLayer {
  LayerKind kind = LayerKind::kDestination;
  uint64_t timestamp_ms = 0;
  crypto::X25519PublicKey next_hop;  // kRelay only
  // kRelay: the blob to forward to next_hop. kDestination: the request, padding removed.
  Bytes payload;
  crypto::X25519PublicKey ephemeral;  // the layer's ephemeral key (replay-cache key)
  crypto::SecretBytes response_key;   // to wrap this hop's answer
};

// Peels one layer with the hop's key pair. Errors: kInvalidArgument for a
// blob too short/long, a bad kind, a bad length field or non-zero padding;
// kUnauthorized when the AEAD tag fails (tampered, or not for this hop).
Result<PeeledLayer> peel(const crypto::X25519KeyPair& hop, ByteView blob);

enum class ResponseKind : uint8_t { kForwarded = 0, kFinal = 1, kHopError = 2 };

// Wraps an answer for the previous hop. kFinal bodies are padded to a bucket.
// body.size() <= kMaxBlobSize.
Bytes wrap_response(const crypto::SecretBytes& response_key, ResponseKind kind, ByteView body);
Bytes wrap_response_with_nonce(const crypto::SecretBytes& response_key, ResponseKind kind,
                               ByteView body, ByteView nonce);

struct UnwrappedResponse {
  ResponseKind kind = ResponseKind::kFinal;  // kFinal or kHopError
  size_t hop = 0;                            // index of the hop that produced body
  Bytes body;
};

// Peels every response layer with the keys from build(). Errors:
// kUnauthorized for a tag that fails at any layer, kInvalidArgument for a
// malformed layer or a kForwarded from the last hop.
Result<UnwrappedResponse> unwrap_response(std::span<const crypto::SecretBytes> response_keys,
                                          ByteView blob);

}  // namespace onionswarm::onion
