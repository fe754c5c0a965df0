// Remembered Ed25519 -> X25519 public key conversions.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>

#include "onion/crypto.h"

namespace onionswarm::crypto {

// Answers "is x the X25519 form of ed" and remembers each conversion, which
// costs ~44 us (crypto_sign_ed25519_pk_to_curve25519 checks the point's
// subgroup). Keys that do not convert are not remembered. Thread-safe; holds
// at most `capacity` keys and forgets them all when full, so a flood of new
// keys costs what it would cost without the cache and no more memory.
class ConvertedKeys {
 public:
  explicit ConvertedKeys(size_t capacity) : capacity_(capacity ? capacity : 1) {}

  bool derives(const Ed25519PublicKey& ed, const X25519PublicKey& x);
  size_t size() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::map<Ed25519PublicKey, X25519PublicKey> converted_;  // GUARDED_BY(mu_)
};

}  // namespace onionswarm::crypto
