// Fixed keys shared by the fuzz targets and the seed generator, so that a
// corpus built with these keys reaches past the AEAD / sealed box.
// Values come from tests/vectors/onion_layers.json and envelope.json, so the
// vectors' blobs are valid seeds as they are.
//
// Nothing here does I/O; every helper is deterministic.
#pragma once

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/encoding.h"
#include "onion/layer.h"

namespace onionswarm::fuzz {

// hops[0] of tests/vectors/onion_layers.json: the hop every peel uses.
inline constexpr std::string_view kHopSecret =
    "c9c80a642c7e97bb70894f43d1d5ba458287396cc84125f2ab940a13a190388f";
// hops[0].ephemeral_secret_key: the ephemeral the plaintext target encrypts with.
inline constexpr std::string_view kEphemeralSecret =
    "c0b600821b307910f6a2b3d4ab5c77ca30a11609d65df1a43df72c1be19ebf96";
// hops[i].response_key of the same vector (3-hop path).
inline constexpr std::array<std::string_view, 3> kResponseKeys = {
    "f7a44088e14073d83b50b4f7bfa82d0b3a55bf35184d77204a8c443f64f85082",
    "10047ace8a2654394b42304867e1021bae492ec92b18d31358c3fd9e41c9bc48",
    "d6d8134641d65bcce1a7d000c41b35f0fc4d317a260639054af3c07bbd0bdf91",
};
// tests/vectors/envelope.json.
inline constexpr std::string_view kRecipientSecret =
    "4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60";
inline constexpr std::string_view kSenderSeed =
    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
// Fixed nonce for every layer the harnesses encrypt themselves.
inline constexpr std::string_view kNonce = "b840fb3d322d8a31b5fb5ec781ff5aa3fa6c6d4c194bb6d1";

// Aborts: a fuzz harness whose fixed inputs are wrong is a harness bug.
[[noreturn]] inline void harness_bug(const char* what) {
  std::fprintf(stderr, "fuzz harness: %s\n", what);
  std::abort();
}

inline Bytes hex(std::string_view s) {
  auto b = from_hex(s);
  if (!b.ok()) harness_bug("bad hex constant");
  return std::move(b).value();
}

inline crypto::X25519KeyPair x25519_pair(std::string_view secret_hex) {
  crypto::init();
  auto kp = crypto::X25519KeyPair::from_secret(hex(secret_hex));
  if (!kp.ok()) harness_bug("bad X25519 secret");
  return std::move(kp).value();
}

inline std::vector<crypto::SecretBytes> response_keys() {
  std::vector<crypto::SecretBytes> keys;
  for (std::string_view k : kResponseKeys) keys.emplace_back(ByteView(hex(k)));
  return keys;
}

// The layer keys of onion/src/layer.cc (docs/protocol/onion.md):
// okm = BLAKE2b-512(key = X25519(eph_sk, hop_pk), msg = domain || eph_pk || hop_pk).
struct LayerKeys {
  crypto::SecretBytes request;
  crypto::SecretBytes response;
};
inline LayerKeys layer_keys(const crypto::X25519KeyPair& eph, const crypto::X25519PublicKey& hop) {
  auto shared = crypto::x25519(eph.secret(), hop);
  if (!shared.ok()) harness_bug("x25519 failed");
  Bytes msg;
  append(msg, as_bytes("onionswarm/layer/v1"));
  append(msg, eph.public_key().view());
  append(msg, hop.view());
  const Bytes okm = crypto::blake2b(msg, 64, shared->view());
  return {crypto::SecretBytes(ByteView(okm).first(32)), crypto::SecretBytes(ByteView(okm).subspan(32))};
}

// A blob for `hop` whose layer plaintext is exactly `plaintext`:
// eph_pk || nonce || AEAD(request_key, plaintext, ad = eph_pk).
inline Bytes layer_blob(const crypto::X25519KeyPair& eph, const crypto::SecretBytes& request_key,
                        ByteView plaintext) {
  const Bytes nonce = hex(kNonce);
  Bytes blob;
  append(blob, eph.public_key().view());
  append(blob, nonce);
  append(blob, crypto::aead_encrypt(request_key, nonce, plaintext, eph.public_key().view()));
  return blob;
}

// A response layer whose plaintext is exactly `plaintext`: nonce || AEAD(key, plaintext).
inline Bytes response_layer(const crypto::SecretBytes& key, ByteView plaintext) {
  const Bytes nonce = hex(kNonce);
  Bytes out = nonce;
  append(out, crypto::aead_encrypt(key, nonce, plaintext));
  return out;
}

// crypto_box_seal with a fixed ephemeral key, so the result is deterministic:
// eph_pk || crypto_box_easy(m, nonce = BLAKE2b-192(eph_pk || recipient_pk), eph_sk, recipient_pk).
// Opens with crypto_box_seal_open like any sealed box.
inline Bytes seal_deterministic(const crypto::X25519PublicKey& recipient, ByteView plaintext) {
  const crypto::X25519KeyPair eph = x25519_pair(kEphemeralSecret);
  uint8_t nonce[crypto_box_NONCEBYTES];
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, sizeof nonce);
  crypto_generichash_update(&st, eph.public_key().data(), crypto::kKeySize);
  crypto_generichash_update(&st, recipient.data(), crypto::kKeySize);
  crypto_generichash_final(&st, nonce, sizeof nonce);
  Bytes out(crypto::kKeySize + crypto_box_MACBYTES + plaintext.size());
  std::copy(eph.public_key().bytes.begin(), eph.public_key().bytes.end(), out.begin());
  if (crypto_box_easy(out.data() + crypto::kKeySize, plaintext.data(), plaintext.size(), nonce,
                      recipient.data(), eph.secret().data()) != 0)
    harness_bug("crypto_box_easy failed");
  return out;
}

}  // namespace onionswarm::fuzz
