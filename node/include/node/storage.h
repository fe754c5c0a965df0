// The node's message store: one LMDB environment per node.
//
// Layout, schema version 2 (docs/PROTOCOL.md, "Storage layout"):
//   meta      "schema_version" -> u32 BE (kSchemaVersion)
//             "network_id" -> the network's id (StorageOptions::network_id;
//             written by the first open that names one, no version bump)
//   messages  account(33) || namespace(2) || timestamp_ms(8) || hash(32)
//               -> expiry_ms(8) || data
//   by_hash   hash(32) -> messages key (75 bytes)
//   expiry    expiry_ms(8) || hash(32) -> empty
//   accounts  account(33) -> message_count(8) || data_bytes(8)
//   tombstones hash(32) -> empty: deleted by the owner; a store of that hash
//             answers kExists and stores nothing, until the message's own
//             expiry (kept as an expiry entry without a by_hash entry).
//             New in schema 2; schema 1 (the first release) had the rest.
// All integers big-endian, so "messages of account A in namespace N after
// cursor C" is one range scan in (timestamp, hash) order, which is the same
// on every replica whatever order they stored in.
//
// Durability: every write is acknowledged only after a durable
// mdb_txn_commit (no MDB_NOSYNC / MDB_NOMETASYNC / MDB_WRITEMAP). Writes from
// all threads are queued to one committer thread that gathers them into a
// single transaction (group commit), commits once, then completes them all.
//
// Thread safety: every method is thread-safe. Reads use their own read-only
// transactions (MDB_NOTLS) and do not wait for the committer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"
#include "swarm/account.h"

namespace onionswarm::node {

// The layout version this build writes. open() migrates a store of any
// older version to it in place (one write transaction; one-way) and refuses
// a newer one. History: 1 first release; 2 adds `tombstones`.
inline constexpr uint32_t kSchemaVersion = 2;

struct StorageOptions {
  std::string path;                               // directory; created if missing
  size_t map_size = size_t(8) << 30;              // LMDB map size in bytes (8 GiB, sparse)
  size_t max_message_bytes = 64 * 1024;           // largest data blob accepted
  uint64_t quota_messages = 10'000;               // per account, all namespaces
  uint64_t quota_bytes = 64ull << 20;             // per account, sum of data sizes
  size_t max_batch = 1024;                        // writes per group commit, at most
  // Group commit under load: when the last commit carried two or more
  // writes that no caller blocked on (store_async: stores and replicas from
  // the network) and fewer are queued now, the committer lets writes gather
  // for as long as that commit took, at most this long, before it takes the
  // next batch; so more writes share one commit (each commit writes its
  // pages and syncs twice) and a write waits at most about one commit more.
  // A write that finds the node idle never waits, and blocking calls
  // (store, remove, sweep_expired) never start a window. 0: never wait.
  std::chrono::microseconds commit_window{5000};
  // Free disk space kept for deletes and sweeps: stores are refused
  // (kStorageFull) once the filesystem holding `path` has less than the
  // smaller of this and 1/16 of its size left (LMDB needs free pages even to
  // delete). The last 1/16 of map_size is kept back the same way.
  size_t disk_reserve_bytes = size_t(64) << 20;
  // The network this store serves. Set: recorded at the first open that
  // names one; a later open naming another is refused (kConflict) and
  // changes nothing. Empty: neither recorded nor checked.
  std::string network_id;
};

struct StoredMessage {
  swarm::AccountId account;
  uint16_t ns = 0;
  uint64_t timestamp_ms = 0;  // client-assigned, part of the key (same on all replicas)
  uint64_t expiry_ms = 0;     // absolute; gone once now >= expiry_ms
  crypto::Hash hash;          // BLAKE2b-256(data); Storage checks it
  Bytes data;
};

// Exclusive cursor: retrieve returns messages with (timestamp, hash) > (timestamp_ms, hash).
// The default cursor (0, all-zero hash) starts from the beginning.
struct Cursor {
  uint64_t timestamp_ms = 0;
  crypto::Hash hash;
};

enum class StoreResult { kNew, kExists, kFull };

struct StorageStats {
  uint64_t messages = 0;
  uint64_t data_bytes = 0;
};

class Storage {
 public:
  // Opens or creates the environment. A store of an older schema version is
  // migrated to kSchemaVersion in place, in the open's one write transaction
  // (on any error, or a crash, it keeps its old version untouched); see
  // migrated_from(). Errors: kInvalidArgument when the data dir has a schema
  // version newer than kSchemaVersion (nothing is touched); kIo when LMDB
  // fails or the store is damaged (no schema_version record beside other
  // databases, a record that is not 4 bytes or is 0, a database its version
  // must have is missing); kStorageFull when a migration does not fit.
  static Result<std::unique_ptr<Storage>> open(const StorageOptions& options);
  ~Storage();  // finishes queued writes, stops the committer, closes the env
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Queues a store; done runs on the committer thread once the write is
  // durably committed (or failed). kExists when a message with this hash is
  // already stored (nothing changes); kFull when the account's quota would be
  // exceeded (nothing changes); the error kStorageFull when the disk or the
  // LMDB map is (nearly) full, counting the reserve kept for deletes and
  // sweeps (nothing changes); kInvalidArgument when the hash does not match
  // the data or the data is too large. done must not block for long.
  using StoreDone = std::function<void(Result<StoreResult>)>;
  void store_async(StoredMessage message, StoreDone done);
  // Blocking convenience over store_async.
  Result<StoreResult> store(StoredMessage message);

  // Up to limit messages of (account, ns) after cursor that have not expired
  // at now_ms, in (timestamp, hash) order. *more is set when further messages follow.
  Result<std::vector<StoredMessage>> retrieve(const swarm::AccountId& account, uint16_t ns,
                                              const Cursor& after, size_t limit, uint64_t now_ms,
                                              bool* more = nullptr) const;

  // Up to limit messages of account, every namespace, not expired at
  // now_ms, in (namespace, timestamp, hash) order; *more when others follow.
  Result<std::vector<StoredMessage>> messages_of(const swarm::AccountId& account, size_t limit, uint64_t now_ms,
                                                 bool* more = nullptr) const;

  // Up to limit accounts that hold messages, in the order of their raw
  // bytes, after `after` (exclusive; nullptr: from the first); *more when
  // others follow.
  Result<std::vector<swarm::AccountId>> accounts(const swarm::AccountId* after, size_t limit,
                                                 bool* more = nullptr) const;

  // Deletes those of hashes that belong to (account, ns); returns how many
  // were deleted. Durable before it returns. Unknown hashes are ignored.
  Result<size_t> remove(const swarm::AccountId& account, uint16_t ns,
                        const std::vector<crypto::Hash>& hashes);

  // Like remove, but leaves no tombstone: the messages moved to the account's
  // new swarm (rebalancing) and may come back here later if the swarms change again.
  Result<size_t> drop_handed_over(const swarm::AccountId& account, uint16_t ns,
                                  const std::vector<crypto::Hash>& hashes);

  // The message with this hash, if stored and not expired at now_ms.
  Result<std::optional<StoredMessage>> get(const crypto::Hash& hash, uint64_t now_ms) const;

  // Deletes every message with expiry_ms <= now_ms (at most max per call);
  // returns how many were deleted. Durable before it returns. When the disk
  // or map is too full for one large transaction it sweeps in smaller ones.
  Result<size_t> sweep_expired(uint64_t now_ms, size_t max = 100'000);

  Result<StorageStats> stats() const;

  // Anti-entropy support. The hash space is cut into kSyncBuckets buckets by
  // the first byte of the message hash; a bucket's digest is the count and
  // the XOR of its hashes, so two replicas compare 256 digests and then list
  // only the buckets that differ. Expired-but-unswept messages are included.
  static constexpr size_t kSyncBuckets = 256;
  struct BucketDigest {
    uint64_t count = 0;
    crypto::Hash xor_of_hashes;
    friend bool operator==(const BucketDigest&, const BucketDigest&) = default;
  };
  // Kept in memory (counted at open, updated by each commit): no scan.
  Result<std::vector<BucketDigest>> digest() const;
  // The same from a full scan of the hash index (tests and benchmarks).
  Result<std::vector<BucketDigest>> digest_by_scan() const;
  // Up to limit hashes of bucket (first hash byte), in order, after `after`
  // (exclusive; nullptr: from the bucket's start). *more when others follow.
  Result<std::vector<crypto::Hash>> bucket_hashes(uint8_t bucket, const crypto::Hash* after, size_t limit,
                                                  bool* more) const;
  uint32_t schema_version() const;

  // Number of write transactions durably committed since open (diagnostics
  // and tests: with group commit it is far below the number of writes).
  uint64_t commits() const;

  // The LMDB environment's flags (mdb_env_get_flags), for tests that check
  // no no-sync flag is ever set.
  unsigned env_flags() const;
  // Reader slots of dead processes cleared at open (mdb_reader_check).
  int stale_readers_cleared() const;
  // The schema version this open migrated the store from; 0 when it was
  // already at kSchemaVersion or was created by this open.
  uint32_t migrated_from() const;

 private:
  Storage() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onionswarm::node
