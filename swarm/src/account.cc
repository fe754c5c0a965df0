#include "swarm/account.h"

#include <algorithm>

#include "onion/encoding.h"

namespace onionswarm::swarm {

AccountId AccountId::user(const crypto::X25519PublicKey& pk) {
  AccountId a;
  a.prefix = kUserPrefix;
  a.key = pk.bytes;
  return a;
}

AccountId AccountId::group(const crypto::Ed25519PublicKey& pk) {
  AccountId a;
  a.prefix = kGroupPrefix;
  a.key = pk.bytes;
  return a;
}

Result<AccountId> AccountId::parse(std::string_view s) {
  if (s.size() != kAccountIdHexSize)
    return error(Code::kInvalidArgument, "account id must be 66 hex characters");
  auto raw = from_hex(s, kAccountIdRawSize);
  if (!raw.ok()) return error(Code::kInvalidArgument, "account id is not hex");
  return from_raw(*raw);
}

Result<AccountId> AccountId::from_raw(ByteView raw) {
  if (raw.size() != kAccountIdRawSize)
    return error(Code::kInvalidArgument, "account id must be 33 bytes");
  if (raw[0] != kUserPrefix && raw[0] != kGroupPrefix)
    return error(Code::kInvalidArgument, "account id must start with 05 or 03");
  AccountId a;
  a.prefix = raw[0];
  std::copy(raw.begin() + 1, raw.end(), a.key.begin());
  return a;
}

std::array<uint8_t, kAccountIdRawSize> AccountId::raw() const {
  std::array<uint8_t, kAccountIdRawSize> r{};
  r[0] = prefix;
  std::copy(key.begin(), key.end(), r.begin() + 1);
  return r;
}

std::string AccountId::to_string() const {
  auto r = raw();
  return to_hex({r.data(), r.size()});
}

crypto::X25519PublicKey AccountId::x25519() const {
  crypto::X25519PublicKey pk;
  pk.bytes = key;
  return pk;
}

uint64_t ring_position(const AccountId& account) {
  auto r = account.raw();
  auto h = crypto::hash({r.data(), r.size()});
  return get_u64(h.data());
}

}  // namespace onionswarm::swarm
