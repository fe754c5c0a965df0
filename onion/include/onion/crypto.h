// All cryptography in onionswarm goes through this header: thin RAII wrappers
// over libsodium. Nothing here does I/O.
//
// Thread safety: every function is thread-safe (libsodium is, after
// crypto_init()). Objects are not synchronised: one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "onion/bytes.h"
#include "onion/status.h"

namespace onionswarm::crypto {

constexpr size_t kKeySize = 32;        // Ed25519 / X25519 public key, X25519 secret, AEAD key
constexpr size_t kSeedSize = 32;       // Ed25519 seed
constexpr size_t kSignatureSize = 64;  // Ed25519 signature
constexpr size_t kHashSize = 32;       // BLAKE2b-256
constexpr size_t kNonceSize = 24;      // XChaCha20-Poly1305 nonce
constexpr size_t kTagSize = 16;        // Poly1305 tag
constexpr size_t kSealOverhead = 48;   // crypto_box_SEALBYTES

// Must be called once before any other function (idempotent, thread-safe).
// Aborts the process if libsodium cannot initialise.
void init();

// A fixed-size public value. Distinct types so an Ed25519 key is never
// passed where an X25519 key is expected.
template <size_t N, typename Tag>
struct FixedBytes {
  std::array<uint8_t, N> bytes{};
  static constexpr size_t size() { return N; }
  const uint8_t* data() const { return bytes.data(); }
  uint8_t* data() { return bytes.data(); }
  ByteView view() const { return {bytes.data(), N}; }
  friend bool operator==(const FixedBytes&, const FixedBytes&) = default;
  friend auto operator<=>(const FixedBytes&, const FixedBytes&) = default;
  // Copies exactly N bytes; kInvalidArgument on any other length.
  static Result<FixedBytes> from(ByteView b) {
    if (b.size() != N) return error(Code::kInvalidArgument, "wrong key length");
    FixedBytes f;
    std::copy(b.begin(), b.end(), f.bytes.begin());
    return f;
  }
};
struct Ed25519Tag {};
struct X25519Tag {};
struct SignatureTag {};
struct HashTag {};
using Ed25519PublicKey = FixedBytes<kKeySize, Ed25519Tag>;
using X25519PublicKey = FixedBytes<kKeySize, X25519Tag>;
using Signature = FixedBytes<kSignatureSize, SignatureTag>;
using Hash = FixedBytes<kHashSize, HashTag>;

// Secret bytes: zeroed (sodium_memzero) on destruction and on move-from.
// Not copyable; use clone() where a copy is really meant.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t n);
  explicit SecretBytes(ByteView b);
  ~SecretBytes();
  SecretBytes(SecretBytes&& o) noexcept;
  SecretBytes& operator=(SecretBytes&& o) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes clone() const { return SecretBytes(view()); }
  uint8_t* data() { return b_.data(); }
  const uint8_t* data() const { return b_.data(); }
  size_t size() const { return b_.size(); }
  bool empty() const { return b_.empty(); }
  ByteView view() const { return {b_.data(), b_.size()}; }

 private:
  void wipe();
  Bytes b_;
};

// Fills with cryptographically secure random bytes.
void random_fill(uint8_t* p, size_t n);
Bytes random_bytes(size_t n);
// Uniform in [0, bound), without modulo bias; 0 when bound is 0.
uint32_t random_below(uint32_t bound);

// X25519 key pair (also the node's CURVE key pair).
class X25519KeyPair {
 public:
  static X25519KeyPair generate();
  // From a 32-byte secret scalar; derives the public key.
  static Result<X25519KeyPair> from_secret(ByteView secret);
  const X25519PublicKey& public_key() const { return pk_; }
  const SecretBytes& secret() const { return sk_; }
  X25519KeyPair clone() const;

 private:
  X25519PublicKey pk_;
  SecretBytes sk_;
};

// Ed25519 signing key pair, made from a 32-byte seed.
class Ed25519KeyPair {
 public:
  static Ed25519KeyPair generate();
  static Result<Ed25519KeyPair> from_seed(ByteView seed);
  const Ed25519PublicKey& public_key() const { return pk_; }
  // The 32-byte seed (the recovery secret).
  ByteView seed() const { return seed_.view(); }
  Signature sign(ByteView message) const;
  // The X25519 key pair derived from this Ed25519 key
  // (crypto_sign_ed25519_{pk,sk}_to_curve25519).
  X25519KeyPair to_x25519() const;
  Ed25519KeyPair clone() const;

 private:
  Ed25519PublicKey pk_;
  SecretBytes seed_;
  SecretBytes sk_;  // libsodium's 64-byte secret key (seed || pk)
};

// True only for a valid signature of message by pk.
[[nodiscard]] bool verify(const Ed25519PublicKey& pk, ByteView message, const Signature& sig);

// Converts an Ed25519 public key to its X25519 form; kInvalidArgument when
// the point is invalid. Costs ~44 us: cache the result.
Result<X25519PublicKey> ed25519_to_x25519(const Ed25519PublicKey& pk);

// X25519 shared secret; kInvalidArgument for a low-order peer key.
Result<SecretBytes> x25519(const SecretBytes& secret, const X25519PublicKey& peer);

// BLAKE2b with output size out_len (16..64), optional key (16..64 bytes or empty).
Bytes blake2b(ByteView message, size_t out_len = kHashSize, ByteView key = {});
Hash hash(ByteView message);  // BLAKE2b-256, unkeyed

// XChaCha20-Poly1305-IETF. key is kKeySize bytes; output is ciphertext||tag.
Bytes aead_encrypt(const SecretBytes& key, ByteView nonce, ByteView plaintext, ByteView ad = {});
// kUnauthorized when the tag does not verify (tampered or wrong key).
Result<Bytes> aead_decrypt(const SecretBytes& key, ByteView nonce, ByteView ciphertext,
                           ByteView ad = {});

// Anonymous sealed box (crypto_box_seal) to an X25519 public key.
Bytes seal(const X25519PublicKey& recipient, ByteView plaintext);
// kUnauthorized when it does not open with this key pair.
Result<Bytes> seal_open(const X25519KeyPair& recipient, ByteView sealed);

// Constant-time comparison of equal-length buffers.
bool equal_ct(ByteView a, ByteView b);

}  // namespace onionswarm::crypto
