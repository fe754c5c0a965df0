// The client's local state in its home directory: an LMDB environment under
// HOME/state holding received messages, the hashes already seen, the
// retrieve cursor per namespace, and small settings (the guard).
//
// Thread safety: not thread-safe; one LocalStore per process, used from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::client {

struct InboxEntry {
  crypto::Hash hash;           // message hash (BLAKE2b-256 of the stored blob)
  uint64_t timestamp_ms = 0;   // the sender's timestamp from the envelope
  uint64_t received_ms = 0;    // when this client fetched it
  std::string from;            // sender account id, "05..." (empty if unverified)
  std::string text;            // empty if unverified
  bool verified = false;       // false: failed to open/verify; shown as such, never as real
  std::string error;           // why it failed, when !verified
  std::string group;           // "03..." for a group message, empty for a 1:1 message
};

struct RetrieveCursor {
  uint64_t timestamp_ms = 0;
  crypto::Hash hash;  // all zero: "from timestamp_ms inclusive"
};

class LocalStore {
 public:
  // Opens or creates HOME/state (mode 0700). kIo on failure.
  static Result<std::unique_ptr<LocalStore>> open(const std::string& home);
  ~LocalStore();
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  // Adds an entry unless its hash was seen before. Returns true when new.
  // Durable on return.
  Result<bool> add(const InboxEntry& entry);
  // Adds many entries in one durable commit; result[i] is true when
  // entries[i] was new (a hash repeated within the batch counts once).
  Result<std::vector<bool>> add_all(const std::vector<InboxEntry>& entries);
  Result<bool> seen(const crypto::Hash& hash) const;
  // Marks hashes as seen without adding inbox entries (control messages).
  // Durable on return.
  Status mark_seen(const std::vector<crypto::Hash>& hashes);
  // All entries ordered by (timestamp_ms, hash).
  Result<std::vector<InboxEntry>> list() const;

  Result<RetrieveCursor> cursor(const std::string& account, uint16_t ns) const;
  Status set_cursor(const std::string& account, uint16_t ns, const RetrieveCursor& cursor);

  // Small string settings (e.g. "guard" -> hex key).
  Result<std::optional<std::string>> get_setting(const std::string& key) const;
  Status set_setting(const std::string& key, const std::string& value);
  // Removes a setting; ok when it did not exist.
  Status delete_setting(const std::string& key);

  // The client's guard (setting "guard", x25519 hex): the first relay of
  // every path and the node the directory is fetched from. nullopt when
  // unset or unreadable (a damaged setting is replaced on the next choice).
  std::optional<crypto::X25519PublicKey> guard() const;
  Status set_guard(const crypto::X25519PublicKey& key);

 private:
  LocalStore() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onionswarm::client
