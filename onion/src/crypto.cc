#include "onion/crypto.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace onionswarm::crypto {
namespace {

static_assert(kKeySize == crypto_scalarmult_curve25519_BYTES);
static_assert(kKeySize == crypto_sign_ed25519_PUBLICKEYBYTES);
static_assert(kSeedSize == crypto_sign_ed25519_SEEDBYTES);
static_assert(kSignatureSize == crypto_sign_ed25519_BYTES);
static_assert(kKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kTagSize == crypto_aead_xchacha20poly1305_ietf_ABYTES);
static_assert(kSealOverhead == crypto_box_SEALBYTES);
static_assert(kHashSize <= crypto_generichash_BYTES_MAX);

// Contract violations by the caller (never caused by untrusted input when
// the documented preconditions are met): a bug, so stop at once.
[[noreturn]] void contract_violation(const char* what) {
  std::fprintf(stderr, "onionswarm::crypto contract violation: %s\n", what);
  std::abort();
}

}  // namespace

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::fprintf(stderr, "onionswarm: libsodium failed to initialise\n");
      std::abort();
    }
  });
}

// --- SecretBytes -----------------------------------------------------------

SecretBytes::SecretBytes(size_t n) : b_(n, 0) {}

SecretBytes::SecretBytes(ByteView b) : b_(b.begin(), b.end()) {}

SecretBytes::~SecretBytes() { wipe(); }

// Moving a std::vector hands its buffer over, so the source keeps no copy of
// the secret; wipe() then clears whatever the source still owns.
SecretBytes::SecretBytes(SecretBytes&& o) noexcept : b_(std::move(o.b_)) { o.wipe(); }

SecretBytes& SecretBytes::operator=(SecretBytes&& o) noexcept {
  if (this != &o) {
    wipe();
    b_ = std::move(o.b_);
    o.wipe();
  }
  return *this;
}

void SecretBytes::wipe() {
  if (!b_.empty()) sodium_memzero(b_.data(), b_.size());
  b_.clear();
}

// --- Randomness ------------------------------------------------------------

void random_fill(uint8_t* p, size_t n) {
  init();
  if (n > 0) randombytes_buf(p, n);
}

Bytes random_bytes(size_t n) {
  Bytes out(n);
  random_fill(out.data(), n);
  return out;
}

uint32_t random_below(uint32_t bound) {
  init();
  return bound == 0 ? 0 : randombytes_uniform(bound);
}

// --- X25519 ----------------------------------------------------------------

X25519KeyPair X25519KeyPair::generate() {
  init();
  X25519KeyPair kp;
  kp.sk_ = SecretBytes(kKeySize);
  crypto_box_keypair(kp.pk_.data(), kp.sk_.data());
  return kp;
}

Result<X25519KeyPair> X25519KeyPair::from_secret(ByteView secret) {
  init();
  if (secret.size() != kKeySize) return error(Code::kInvalidArgument, "x25519 secret must be 32 bytes");
  X25519KeyPair kp;
  kp.sk_ = SecretBytes(secret);
  if (crypto_scalarmult_base(kp.pk_.data(), kp.sk_.data()) != 0)
    return error(Code::kInvalidArgument, "invalid x25519 secret");
  return kp;
}

X25519KeyPair X25519KeyPair::clone() const {
  X25519KeyPair kp;
  kp.pk_ = pk_;
  kp.sk_ = sk_.clone();
  return kp;
}

// --- Ed25519 ---------------------------------------------------------------

Ed25519KeyPair Ed25519KeyPair::generate() {
  init();
  uint8_t seed[kSeedSize];
  randombytes_buf(seed, sizeof seed);
  auto kp = from_seed(ByteView(seed, sizeof seed));
  sodium_memzero(seed, sizeof seed);
  if (!kp.ok()) contract_violation("ed25519 key generation failed");
  return std::move(kp).value();
}

Result<Ed25519KeyPair> Ed25519KeyPair::from_seed(ByteView seed) {
  init();
  if (seed.size() != kSeedSize) return error(Code::kInvalidArgument, "ed25519 seed must be 32 bytes");
  Ed25519KeyPair kp;
  kp.seed_ = SecretBytes(seed);
  kp.sk_ = SecretBytes(crypto_sign_ed25519_SECRETKEYBYTES);
  if (crypto_sign_ed25519_seed_keypair(kp.pk_.data(), kp.sk_.data(), kp.seed_.data()) != 0)
    return error(Code::kInternal, "ed25519 seed_keypair failed");
  return kp;
}

Signature Ed25519KeyPair::sign(ByteView message) const {
  init();
  Signature sig;
  if (crypto_sign_ed25519_detached(sig.data(), nullptr, message.data(), message.size(),
                                   sk_.data()) != 0)
    contract_violation("ed25519 sign failed");
  return sig;
}

X25519KeyPair Ed25519KeyPair::to_x25519() const {
  init();
  uint8_t curve_sk[kKeySize];
  if (crypto_sign_ed25519_sk_to_curve25519(curve_sk, sk_.data()) != 0)
    contract_violation("ed25519 sk_to_curve25519 failed");
  auto kp = X25519KeyPair::from_secret(ByteView(curve_sk, sizeof curve_sk));
  sodium_memzero(curve_sk, sizeof curve_sk);
  if (!kp.ok()) contract_violation("derived x25519 secret rejected");
  return std::move(kp).value();
}

Ed25519KeyPair Ed25519KeyPair::clone() const {
  Ed25519KeyPair kp;
  kp.pk_ = pk_;
  kp.seed_ = seed_.clone();
  kp.sk_ = sk_.clone();
  return kp;
}

bool verify(const Ed25519PublicKey& pk, ByteView message, const Signature& sig) {
  init();
  return crypto_sign_ed25519_verify_detached(sig.data(), message.data(), message.size(),
                                             pk.data()) == 0;
}

Result<X25519PublicKey> ed25519_to_x25519(const Ed25519PublicKey& pk) {
  init();
  X25519PublicKey out;
  if (crypto_sign_ed25519_pk_to_curve25519(out.data(), pk.data()) != 0)
    return error(Code::kInvalidArgument, "invalid ed25519 public key");
  return out;
}

Result<SecretBytes> x25519(const SecretBytes& secret, const X25519PublicKey& peer) {
  init();
  if (secret.size() != kKeySize) return error(Code::kInvalidArgument, "x25519 secret must be 32 bytes");
  SecretBytes shared(kKeySize);
  if (crypto_scalarmult(shared.data(), secret.data(), peer.data()) != 0)
    return error(Code::kInvalidArgument, "low-order x25519 public key");
  return shared;
}

// --- Hashing ---------------------------------------------------------------

Bytes blake2b(ByteView message, size_t out_len, ByteView key) {
  init();
  if (out_len < crypto_generichash_BYTES_MIN || out_len > crypto_generichash_BYTES_MAX)
    contract_violation("blake2b output length out of range");
  if (!key.empty() &&
      (key.size() < crypto_generichash_KEYBYTES_MIN || key.size() > crypto_generichash_KEYBYTES_MAX))
    contract_violation("blake2b key length out of range");
  Bytes out(out_len);
  if (crypto_generichash(out.data(), out_len, message.data(), message.size(),
                         key.empty() ? nullptr : key.data(), key.size()) != 0)
    contract_violation("blake2b failed");
  return out;
}

Hash hash(ByteView message) {
  init();
  Hash h;
  if (crypto_generichash(h.data(), h.size(), message.data(), message.size(), nullptr, 0) != 0)
    contract_violation("blake2b failed");
  return h;
}

// --- AEAD ------------------------------------------------------------------

Bytes aead_encrypt(const SecretBytes& key, ByteView nonce, ByteView plaintext, ByteView ad) {
  init();
  if (key.size() != kKeySize) contract_violation("aead key must be 32 bytes");
  if (nonce.size() != kNonceSize) contract_violation("aead nonce must be 24 bytes");
  Bytes out(plaintext.size() + kTagSize);
  unsigned long long out_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &out_len, plaintext.data(), plaintext.size(),
                                             ad.empty() ? nullptr : ad.data(), ad.size(), nullptr,
                                             nonce.data(), key.data());
  out.resize(out_len);
  return out;
}

Result<Bytes> aead_decrypt(const SecretBytes& key, ByteView nonce, ByteView ciphertext, ByteView ad) {
  init();
  if (key.size() != kKeySize) return error(Code::kInvalidArgument, "aead key must be 32 bytes");
  if (nonce.size() != kNonceSize) return error(Code::kInvalidArgument, "aead nonce must be 24 bytes");
  if (ciphertext.size() < kTagSize) return error(Code::kInvalidArgument, "ciphertext shorter than tag");
  Bytes out(ciphertext.size() - kTagSize);
  unsigned long long out_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &out_len, nullptr, ciphertext.data(),
                                                 ciphertext.size(), ad.empty() ? nullptr : ad.data(),
                                                 ad.size(), nonce.data(), key.data()) != 0)
    return error(Code::kUnauthorized, "aead tag mismatch");
  out.resize(out_len);
  return out;
}

// --- Sealed boxes ----------------------------------------------------------

Bytes seal(const X25519PublicKey& recipient, ByteView plaintext) {
  init();
  Bytes out(plaintext.size() + kSealOverhead);
  if (crypto_box_seal(out.data(), plaintext.data(), plaintext.size(), recipient.data()) != 0)
    contract_violation("crypto_box_seal failed");
  return out;
}

Result<Bytes> seal_open(const X25519KeyPair& recipient, ByteView sealed) {
  init();
  if (sealed.size() < kSealOverhead) return error(Code::kInvalidArgument, "sealed box too short");
  if (recipient.secret().size() != kKeySize)
    return error(Code::kInvalidArgument, "x25519 secret must be 32 bytes");
  Bytes out(sealed.size() - kSealOverhead);
  if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(), recipient.public_key().data(),
                           recipient.secret().data()) != 0)
    return error(Code::kUnauthorized, "sealed box does not open with this key");
  return out;
}

bool equal_ct(ByteView a, ByteView b) {
  init();
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace onionswarm::crypto
