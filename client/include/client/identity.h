// The account identity kept in the client's home directory.
//
// Files (docs/ARCHITECTURE.md, "Client home"):
//   HOME/               mode 0700 when created here
//   HOME/identity.key   the Ed25519 seed as 64 lower-case hex characters and a
//                       newline; created with O_CREAT|O_EXCL, mode 0600, never
//                       overwritten.
//
// The X25519 key pair is derived from the Ed25519 key
// (crypto_sign_ed25519_*_to_curve25519) and the account ID is "05" + hex of
// its public key.
//
// Thread safety: an Identity is immutable after construction; const methods
// may be called from any thread.
#pragma once

#include <string>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"
#include "swarm/account.h"

namespace onionswarm::client {

inline constexpr const char* kIdentityFileName = "identity.key";

// HOME/identity.key
std::string identity_path(const std::string& home);

// Creates home (and missing parents) if needed; the home directory itself is
// created with mode 0700. kIo on failure, kInvalidArgument for an empty path.
Status ensure_home(const std::string& home);

class Identity {
 public:
  // New random identity, written to HOME/identity.key.
  // kExists when an identity file is already there (it is left untouched);
  // kIo when the directory or file cannot be written.
  static Result<Identity> create(const std::string& home);
  // Same as create, from a known 32-byte seed (recovery).
  // kInvalidArgument for a seed that is not 32 bytes.
  static Result<Identity> restore(const std::string& home, ByteView seed);
  // Reads HOME/identity.key. kNotFound when there is none ("run init"),
  // kInvalidArgument when the file is not one line of 64 hex characters,
  // kIo when it cannot be read.
  static Result<Identity> load(const std::string& home);
  // True when HOME/identity.key exists (of any content).
  static bool exists(const std::string& home);

  Identity(Identity&&) noexcept = default;
  Identity& operator=(Identity&&) noexcept = default;
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  const crypto::Ed25519KeyPair& ed25519() const { return ed25519_; }
  const crypto::X25519KeyPair& x25519() const { return x25519_; }
  const swarm::AccountId& account_id() const { return account_; }

 private:
  explicit Identity(crypto::Ed25519KeyPair key);

  crypto::Ed25519KeyPair ed25519_;
  crypto::X25519KeyPair x25519_;
  swarm::AccountId account_;
};

}  // namespace onionswarm::client
