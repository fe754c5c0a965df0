// Account IDs: a one-byte prefix and a 32-byte key, written as 66 lower-case
// hex characters. "05" + hex(X25519 key) is a user account (the X25519 key
// derived from the user's Ed25519 identity); "03" + hex(Ed25519 key) is a
// closed group.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::swarm {

inline constexpr uint8_t kUserPrefix = 0x05;
inline constexpr uint8_t kGroupPrefix = 0x03;
inline constexpr size_t kAccountIdHexSize = 66;
inline constexpr size_t kAccountIdRawSize = 33;

struct AccountId {
  uint8_t prefix = kUserPrefix;
  std::array<uint8_t, 32> key{};

  static AccountId user(const crypto::X25519PublicKey& pk);
  static AccountId group(const crypto::Ed25519PublicKey& pk);
  // Strict: exactly 66 hex characters, prefix 05 or 03.
  static Result<AccountId> parse(std::string_view s);
  // From the 33 raw bytes prefix || key.
  static Result<AccountId> from_raw(ByteView raw);

  std::string to_string() const;  // 66 lower-case hex characters
  std::array<uint8_t, kAccountIdRawSize> raw() const;
  bool is_user() const { return prefix == kUserPrefix; }
  bool is_group() const { return prefix == kGroupPrefix; }
  crypto::X25519PublicKey x25519() const;  // the key as X25519 (user accounts)

  friend bool operator==(const AccountId&, const AccountId&) = default;
  friend auto operator<=>(const AccountId&, const AccountId&) = default;
};

// Position of an account on the 64-bit swarm ring: the first 8 bytes
// (big-endian) of BLAKE2b-256(raw account id).
uint64_t ring_position(const AccountId& account);

}  // namespace onionswarm::swarm
