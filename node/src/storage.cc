// LMDB message store. Layout and durability rules: node/include/node/storage.h
// and docs/PROTOCOL.md section 11; schema versions: storage_schema.h.
//
// Threading contract
//   - One committer thread (Impl::run) owns every write transaction. Callers
//     of store_async/store/remove/sweep_expired only push an Op onto queue_
//     (guarded by mu_) and signal cv_; the committer takes up to max_batch
//     ops, applies them in one write transaction, commits once (durably: the
//     environment has none of MDB_NOSYNC/MDB_NOMETASYNC/MDB_WRITEMAP/
//     MDB_MAPASYNC), then completes each op. Under load (the last batch
//     held two or more ops nobody blocked on, and fewer are queued) it first
//     lets ops gather for as long as the last commit took, at most
//     commit_window.
//   - Readers (retrieve, get, stats) open their own MDB_RDONLY transaction on
//     the calling thread; MDB_NOTLS lets any thread hold several of them.
//     They never take mu_ and never wait for the committer.
//   - The DBI handles are opened once in open() and are read-only afterwards.
//   - Blocking writes (store, remove, sweep_expired) called from the
//     committer thread (i.e. from a done callback) would deadlock; they
//     return kInternal instead.
//
// Failure handling inside a batch: an LMDB error from a put/del (e.g.
// MDB_MAP_FULL) poisons the whole write transaction. The committer then
// aborts, commits the clean prefix of the batch on its own, and retries the
// failing op first in a fresh transaction; an op that fails while first in
// its transaction gets the error alone. So an op's outcome never depends on
// an unrelated op failing, and nothing is half-applied.
//
// Map reserve: LMDB needs free pages even to delete (copy-on-write), so a map
// filled to the last page could never be emptied again. Each store is charged
// a pessimistic page cost against the room measured at the start of its
// transaction; the last 1/kReserveDivisor of the map is left for deletes and
// sweeps. A store that does not fit ends the transaction (the ops before it
// commit) and is re-measured first in the next one; only then is it kFull.
#include "node/storage.h"
#include "node/thread_name.h"

#include <lmdb.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <variant>

#include "lmdb_status.h"
#include "storage_schema.h"

namespace onionswarm::node {
namespace {

constexpr size_t kAccountSize = swarm::kAccountIdRawSize;                // 33
constexpr size_t kPrefixSize = kAccountSize + 2;                          // account || ns
constexpr size_t kMessageKeySize = kPrefixSize + 8 + crypto::kHashSize;   // 75
constexpr size_t kExpiryKeySize = 8 + crypto::kHashSize;                  // 40
constexpr size_t kAccountValueSize = 16;                                  // count || bytes
constexpr size_t kMaxRetrieve = 1000;  // retrieve returns at most this many per call
constexpr uint64_t kReserveDivisor = 16;  // this fraction of the map is kept for deletes

using MessageKey = std::array<uint8_t, kMessageKeySize>;
using ExpiryKey = std::array<uint8_t, kExpiryKeySize>;
using AccountKey = std::array<uint8_t, kAccountSize>;

void store_u16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void store_u64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) *p++ = uint8_t(v >> (8 * i));
}

MDB_val val_of(const void* p, size_t n) { return MDB_val{n, const_cast<void*>(p)}; }
template <typename C>
MDB_val val_of(const C& c) {
  return val_of(c.data(), c.size());
}
const uint8_t* bytes_of(const MDB_val& v) { return static_cast<const uint8_t*>(v.mv_data); }

MessageKey message_key(const AccountKey& account, uint16_t ns, uint64_t ts,
                       const crypto::Hash& hash) {
  MessageKey k{};
  std::memcpy(k.data(), account.data(), kAccountSize);
  store_u16(k.data() + kAccountSize, ns);
  store_u64(k.data() + kPrefixSize, ts);
  std::memcpy(k.data() + kPrefixSize + 8, hash.data(), crypto::kHashSize);
  return k;
}

ExpiryKey expiry_key(uint64_t expiry_ms, const uint8_t* hash) {
  ExpiryKey k{};
  store_u64(k.data(), expiry_ms);
  std::memcpy(k.data() + 8, hash, crypto::kHashSize);
  return k;
}

// Decodes a messages record; false when the lengths are wrong (corruption).
bool decode_message(const MDB_val& key, const MDB_val& val, StoredMessage* out) {
  if (key.mv_size != kMessageKeySize || val.mv_size < 8) return false;
  const uint8_t* k = bytes_of(key);
  out->account.prefix = k[0];
  std::memcpy(out->account.key.data(), k + 1, out->account.key.size());
  out->ns = get_u16(k + kAccountSize);
  out->timestamp_ms = get_u64(k + kPrefixSize);
  std::memcpy(out->hash.data(), k + kPrefixSize + 8, crypto::kHashSize);
  const uint8_t* v = bytes_of(val);
  out->expiry_ms = get_u64(v);
  out->data.assign(v + 8, v + val.mv_size);
  return true;
}

struct EnvCloser {
  void operator()(MDB_env* env) const { mdb_env_close(env); }
};
using EnvPtr = std::unique_ptr<MDB_env, EnvCloser>;

// A transaction that aborts unless committed. Any thread may own a read-only
// one (MDB_NOTLS); write ones live only on the committer thread (and in open()).
class Txn {
 public:
  Txn() = default;
  ~Txn() { abort(); }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  int begin(MDB_env* env, unsigned flags) { return mdb_txn_begin(env, nullptr, flags, &txn_); }
  int commit() {
    int rc = mdb_txn_commit(txn_);  // frees the handle even on failure
    txn_ = nullptr;
    return rc;
  }
  void abort() {
    if (txn_) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

class CursorGuard {
 public:
  explicit CursorGuard(MDB_cursor* c) : c_(c) {}
  ~CursorGuard() {
    if (c_) mdb_cursor_close(c_);
  }
  CursorGuard(const CursorGuard&) = delete;
  CursorGuard& operator=(const CursorGuard&) = delete;
  MDB_cursor* get() const { return c_; }

 private:
  MDB_cursor* c_;
};

// A store belongs to the network it was first opened for: meta/network_id
// is written by the first open that names a network and checked by every
// later one. Under another network's id its messages would be served,
// replicated and handed over into the wrong network.
Status bind_network(MDB_txn* txn, MDB_dbi meta, const std::string& network_id, const std::string& path) {
  static constexpr char kKey[] = "network_id";
  MDB_val k{sizeof kKey - 1, const_cast<char*>(kKey)};
  MDB_val v;
  int rc = mdb_get(txn, meta, &k, &v);
  if (rc == MDB_NOTFOUND) {
    MDB_val nv{network_id.size(), const_cast<char*>(network_id.data())};
    if (int put = mdb_put(txn, meta, &k, &nv, 0)) return lmdb_error(put, "write network_id");
    return Status();
  }
  if (rc) return lmdb_error(rc, "read network_id");
  const std::string found(static_cast<const char*>(v.mv_data), std::min<size_t>(v.mv_size, 64));
  if (v.mv_size == network_id.size() && found == network_id) return Status();
  return error(Code::kConflict, "node store " + path + " belongs to network '" + found + "', not '" + network_id +
                                    "': its messages must not enter another network. Run this node with a new "
                                    "data dir (copy node.key into it to keep its identity), or with the other "
                                    "network's file");
}

// One hash entering (delta +1) or leaving (-1) its bucket's digest.
void add_to_digest(std::vector<Storage::BucketDigest>& digests, const uint8_t* hash, int delta) {
  Storage::BucketDigest& d = digests[hash[0]];
  d.count += uint64_t(int64_t(delta));
  for (size_t i = 0; i < crypto::kHashSize; ++i) d.xor_of_hashes.bytes[i] ^= hash[i];
}

// The digests of by_hash as txn sees it, from a full scan.
Result<std::vector<Storage::BucketDigest>> scan_digest(MDB_txn* txn, MDB_dbi by_hash) {
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn, by_hash, &raw)) return lmdb_error(rc, "mdb_cursor_open");
  CursorGuard cur(raw);
  std::vector<Storage::BucketDigest> out(Storage::kSyncBuckets);
  MDB_val k, v;
  int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
    if (k.mv_size != crypto::kHashSize) return error(Code::kIo, "corrupt hash index");
    add_to_digest(out, bytes_of(k), +1);
  }
  if (rc != MDB_NOTFOUND) return lmdb_error(rc, "digest scan");
  return out;
}

// Up to limit messages from key `start` on (skipping `start` itself when
// exclusive) whose keys share start's first prefix_len bytes, leaving out
// those expired at now_ms, in key order; *more when others follow.
Result<std::vector<StoredMessage>> collect_messages(MDB_txn* txn, MDB_dbi messages, const MessageKey& start,
                                                   size_t prefix_len, bool exclusive, size_t limit, uint64_t now_ms,
                                                   bool* more) {
  if (more) *more = false;
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn, messages, &raw)) return lmdb_error(rc, "mdb_cursor_open");
  CursorGuard cur(raw);
  MDB_val k = val_of(start), v;
  int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_SET_RANGE);
  std::vector<StoredMessage> out;
  for (; rc == 0; rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
    if (k.mv_size < prefix_len || std::memcmp(k.mv_data, start.data(), prefix_len) != 0) break;  // past the prefix
    if (exclusive && k.mv_size == kMessageKeySize && std::memcmp(k.mv_data, start.data(), kMessageKeySize) == 0) {
      continue;  // the cursor itself
    }
    if (v.mv_size < 8) return error(Code::kIo, "corrupt message record");
    if (get_u64(bytes_of(v)) <= now_ms) continue;  // expired, not yet swept
    if (out.size() == limit) {
      if (more) *more = true;
      break;
    }
    StoredMessage m;
    if (!decode_message(k, v, &m)) return error(Code::kIo, "corrupt message record");
    out.push_back(std::move(m));
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error(rc, "message scan");
  return out;
}

}  // namespace

struct Storage::Impl {
  struct StoreOp {
    StoredMessage msg;
  };
  struct RemoveOp {
    swarm::AccountId account;
    uint16_t ns = 0;
    std::vector<crypto::Hash> hashes;
    bool tombstone = true;  // false: handed over to another swarm, not deleted by the owner
  };
  struct SweepOp {
    uint64_t now_ms = 0;
    size_t max = 0;
  };
  // One queued write. The committer fills status/value, then calls done.
  struct Op {
    std::variant<StoreOp, RemoveOp, SweepOp> kind;
    std::function<void(const Status&, uint64_t)> done;
    bool resolved = false;  // outcome fixed before the committer saw it (bad input)
    bool caller_waits = false;  // a blocking call: its thread sends nothing more until done
    Status status;
    uint64_t value = 0;  // StoreResult for stores, a count for remove/sweep
  };

  StorageOptions options;
  EnvPtr env;
  MDB_dbi meta = 0, messages = 0, by_hash = 0, expiry = 0, accounts = 0;
  // Hashes deleted by their owner, kept until the message would have
  // expired (an expiry-index entry with no by_hash entry marks the date), so
  // a replica pushed late or fetched by catch-up does not bring it back.
  MDB_dbi tombstones = 0;
  size_t page_size = 0;
  uint32_t schema = kSchemaVersion;
  int stale_readers_cleared = 0;  // at open, by mdb_reader_check
  uint32_t migrated_from = 0;     // the schema version migrated at open; 0: none

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Op> queue;   // guarded by mu
  bool stopping = false;  // guarded by mu
  std::atomic<uint64_t> commit_count{0};
  // The anti-entropy digests of by_hash (Storage::digest), kept here so a
  // catch-up round does not scan the index: counted once at open, then
  // changed by each committed write transaction's puts and deletes.
  mutable std::mutex digest_mu;
  std::vector<BucketDigest> digests;  // guarded by digest_mu
  // This write transaction's by_hash changes (committer only): the hash
  // and +1 for a put, -1 for a delete; applied once the commit returned.
  std::vector<std::pair<crypto::Hash, int>> by_hash_changes;
  std::thread committer;  // started last in open(), joined in ~Storage
  std::thread::id committer_id;

  // --- caller side -------------------------------------------------------

  // Queues op (moving from it); false, with op untouched, once the destructor
  // has started.
  bool enqueue(Op& op) {
    {
      std::lock_guard lk(mu);
      if (stopping) return false;
      queue.push_back(std::move(op));
    }
    cv.notify_one();
    return true;
  }

  bool on_committer() const { return std::this_thread::get_id() == committer_id; }

  // Validates and queues one store (Storage::store_async, Storage::store).
  void submit_store(StoredMessage message, StoreDone done, bool caller_waits);

  // Runs op on the committer and waits for its outcome.
  Result<size_t> run_blocking(Op op) {
    if (on_committer()) {
      return error(Code::kInternal, "blocking storage write called from the committer thread");
    }
    std::promise<Result<size_t>> promise;
    auto future = promise.get_future();
    op.caller_waits = true;
    op.done = [&promise](const Status& s, uint64_t v) {
      if (s.ok()) {
        promise.set_value(size_t(v));
      } else {
        promise.set_value(s);
      }
    };
    if (!enqueue(op)) return error(Code::kUnavailable, "storage is shutting down");
    return future.get();
  }

  // --- committer thread --------------------------------------------------

  void run() {
    std::vector<Op> batch;
    const size_t max_batch = std::max<size_t>(1, options.max_batch);
    size_t last_batch = 0;  // ops in the last batch that no caller was waiting for
    std::chrono::microseconds last_commit{0};
    for (;;) {
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping and drained
        // Under load (the last batch held two or more ops that nobody
        // waited for: stores and replicas arriving from the network), and
        // unless as many ops are queued already, let more gather for as
        // long as the last commit took, at most commit_window. A plain
        // sleep: waking on every enqueue would cost a context switch per
        // op, which is what the window saves. Blocking callers do not
        // count: each sends nothing more until its commit returned, so
        // waiting for them only adds latency.
        const auto window = std::min(last_commit, options.commit_window);
        if (last_batch >= 2 && window.count() > 0 && queue.size() < last_batch && !stopping) {
          lk.unlock();
          std::this_thread::sleep_for(window);
          lk.lock();
        }
        while (!queue.empty() && batch.size() < max_batch) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      last_batch = size_t(std::count_if(batch.begin(), batch.end(), [](const Op& op) { return !op.caller_waits; }));
      const auto began = std::chrono::steady_clock::now();
      process(batch);
      last_commit = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - began);
      for (Op& op : batch) {
        try {
          op.done(op.status, op.value);
        } catch (...) {
          // A callback's exception must not kill the committer; nothing to
          // report it to.
        }
      }
      batch.clear();
    }
  }

  // Gives every op of batch an outcome (see "Failure handling" above).
  void process(std::vector<Op>& batch) {
    size_t begin = 0;
    size_t limit = batch.size();
    while (begin < batch.size()) {
      auto [next, rc] = attempt(batch, begin, limit);
      if (rc == 0) {  // [begin, next) resolved
        begin = next;
        limit = batch.size();
      } else if (next == begin) {  // the first op fails on its own
        batch[next].status = lmdb_error(rc, "write");
        batch[next].value = 0;
        begin = next + 1;
        limit = batch.size();
      } else {  // commit the clean prefix first, then retry batch[next]
        limit = next;
      }
    }
  }

  // Applies batch[begin, limit) in one write transaction. Returns:
  //   {k, 0}   ops [begin, k) have their outcome (committed, or all failed
  //            together because begin/commit failed); k > begin. k < limit
  //            when op k did not fit in the room left in this transaction
  //            and should be retried first in the next one.
  //   {k, rc}  op k hit LMDB error rc and the transaction was aborted.
  std::pair<size_t, int> attempt(std::vector<Op>& batch, size_t begin, size_t limit) {
    size_t end = limit;  // ops [begin, end) belong to this transaction
    auto fail_all = [&](const Status& s) {
      for (size_t i = begin; i < end; ++i) {
        if (batch[i].resolved) continue;
        batch[i].status = s;
        batch[i].value = 0;
      }
      return std::pair<size_t, int>{end, 0};
    };
    bool any = false;
    for (size_t i = begin; i < limit; ++i) any = any || !batch[i].resolved;
    if (!any) return {limit, 0};

    Txn txn;
    if (int rc = txn.begin(env.get(), 0)) return fail_all(lmdb_error(rc, "begin write txn"));
    by_hash_changes.clear();  // an aborted transaction's changes never happened
    uint64_t room = room_bytes();
    size_t applied = 0;
    for (size_t i = begin; i < limit; ++i) {
      Op& op = batch[i];
      if (op.resolved) continue;
      op.status = Status();
      op.value = 0;
      if (auto* store = std::get_if<StoreOp>(&op.kind)) {
        // Pessimistic page cost: the record and its index entries at half
        // fill, plus copy-on-write of a couple of pages.
        const uint64_t cost = 2 * (store->msg.data.size() + 300) + 2 * page_size;
        if (cost > room) {
          if (applied > 0) {
            end = i;  // commit what fits, re-measure, retry op i first
            break;
          }
          op.status = error(Code::kStorageFull,
                            "node storage is nearly full (a reserve of the LMDB map and of the disk is "
                            "kept for deletes and sweeps)");
          continue;
        }
        room -= cost;
      }
      int rc = std::visit([&](auto& k) { return apply(txn.get(), k, &op.value); }, op.kind);
      if (rc != 0) return {i, rc};  // ~Txn aborts
      ++applied;
    }
    if (int rc = txn.commit()) {
      // LMDB reports a short page write as EIO, which is what a full disk
      // gives (ENOSPC only when not a byte fitted): name it.
      if (rc == EIO && disk_free_bytes() < uint64_t(1) << 20) rc = ENOSPC;
      return fail_all(lmdb_error(rc, "commit"));
    }
    commit_count.fetch_add(1, std::memory_order_relaxed);
    if (!by_hash_changes.empty()) {
      std::lock_guard lk(digest_mu);
      for (const auto& [hash, delta] : by_hash_changes) add_to_digest(digests, hash.data(), delta);
    }
    return {end, 0};
  }

  // Bytes that stores may still use outside the reserves, measured (on the
  // committer, between write transactions' begin and first op) at the start
  // of a write transaction. Two limits, the smaller wins:
  //   map:  the last 1/kReserveDivisor of map_size is kept back;
  //   disk: the file grows into the filesystem's free space (statvfs
  //         f_bavail), of which disk_reserve() is kept back; pages on
  //         LMDB's freelist are reused inside the file and need no disk.
  // Far from both limits (over 256 MiB each) nothing more is read; close to
  // one, the free pages in LMDB's freelist (FREE_DBI, as mdb_stat counts
  // them) are added, except those the last commit freed (not reusable by
  // the next write transaction). Approximate: pages still pinned by a live
  // reader's older snapshot count as free.
  uint64_t room_bytes() {
    MDB_envinfo info;
    if (mdb_env_info(env.get(), &info) != 0 || page_size == 0) return 0;
    constexpr uint64_t kFar = uint64_t(256) << 20;
    const uint64_t total = info.me_mapsize / page_size;
    const uint64_t reserve = total / kReserveDivisor;
    const uint64_t high_water = uint64_t(info.me_last_pgno) + 1;
    // Disk space the file may still grow into, past the disk reserve.
    uint64_t disk_room = UINT64_MAX;
    struct statvfs fs;
    if (::statvfs(options.path.c_str(), &fs) == 0 && fs.f_frsize > 0) {
      const uint64_t avail = uint64_t(fs.f_bavail) * fs.f_frsize;
      const uint64_t keep = disk_reserve(uint64_t(fs.f_blocks) * fs.f_frsize);
      disk_room = avail > keep ? avail - keep : 0;
    }
    if (high_water + reserve < total && (total - reserve - high_water) * page_size > kFar && disk_room > kFar) {
      return std::min((total - reserve - high_water) * page_size, disk_room);  // far from full: no scan
    }
    const uint64_t free_pages = freelist_pages();
    const uint64_t used = high_water > free_pages ? high_water - free_pages : 0;
    const uint64_t map_room = used + reserve < total ? (total - reserve - used) * page_size : 0;
    const uint64_t reusable = free_pages * page_size;
    return std::min(map_room, disk_room > UINT64_MAX - reusable ? UINT64_MAX : disk_room + reusable);
  }

  // Free bytes (for unprivileged users) on the data dir's filesystem;
  // UINT64_MAX when statvfs fails.
  uint64_t disk_free_bytes() const {
    struct statvfs fs;
    if (::statvfs(options.path.c_str(), &fs) != 0) return UINT64_MAX;
    return uint64_t(fs.f_bavail) * fs.f_frsize;
  }

  // Bytes of the filesystem (of size fs_bytes) kept free for deletes and
  // sweeps: 1/kReserveDivisor of it, at most options.disk_reserve_bytes.
  uint64_t disk_reserve(uint64_t fs_bytes) const {
    return std::min<uint64_t>(fs_bytes / kReserveDivisor, options.disk_reserve_bytes);
  }

  // Pages on LMDB's freelist (reusable without growing the file).
  uint64_t freelist_pages() {
    // LMDB allows a FREE_DBI cursor only in a read-only transaction; one
    // begun now sees the same committed state as the write transaction.
    // FREE_DBI maps the id of the transaction that freed pages to their
    // list. A write transaction reuses only pages freed before the last
    // committed one (the previous snapshot stays intact until the next
    // commit), so the last commit's record does not count: counted, it let
    // stores take pages that a sweep right after them then lacked.
    uint64_t free_pages = 0;
    Txn read;
    MDB_cursor* raw = nullptr;
    if (read.begin(env.get(), MDB_RDONLY) == 0 &&
        mdb_cursor_open(read.get(), 0 /* FREE_DBI */, &raw) == 0) {
      CursorGuard cur(raw);
      const size_t last_committed = mdb_txn_id(read.get());
      MDB_val k, v;
      for (int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == 0;
           rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
        size_t freed_by = 0;  // the key: a native-endian txnid (MDB_INTEGERKEY)
        if (k.mv_size == sizeof(freed_by)) std::memcpy(&freed_by, k.mv_data, sizeof(freed_by));
        if (freed_by >= last_committed) break;  // keys ascend
        size_t n = 0;  // an IDL: count, then that many page numbers
        if (v.mv_size >= sizeof(n)) std::memcpy(&n, v.mv_data, sizeof(n));
        free_pages += n;
      }
    }
    return free_pages;
  }

  // The apply functions run inside the committer's write transaction. They
  // return 0 or the LMDB error that poisoned the transaction (MDB_CORRUPTED
  // for records with impossible lengths); *value gets the outcome. Reads come
  // before writes so a failing op leaves nothing to undo beyond the abort.
  // Pointers returned by mdb_get are copied before the next put/del.

  // Reads an account's usage record (count || bytes); zeros when absent.
  int read_usage(MDB_txn* txn, MDB_val* account_key, uint64_t* count, uint64_t* bytes) {
    MDB_val v;
    *count = *bytes = 0;
    const int rc = mdb_get(txn, accounts, account_key, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    if (v.mv_size != kAccountValueSize) return MDB_CORRUPTED;
    *count = get_u64(bytes_of(v));
    *bytes = get_u64(bytes_of(v) + 8);
    return 0;
  }

  // Writes an account's usage record; an account with no messages has none.
  int write_usage(MDB_txn* txn, MDB_val* account_key, uint64_t count, uint64_t bytes) {
    if (count == 0) {
      const int rc = mdb_del(txn, accounts, account_key, nullptr);
      return rc == MDB_NOTFOUND ? 0 : rc;
    }
    std::array<uint8_t, kAccountValueSize> acct{};
    store_u64(acct.data(), count);
    store_u64(acct.data() + 8, bytes);
    MDB_val av = val_of(acct);
    return mdb_put(txn, accounts, account_key, &av, 0);
  }

  int apply(MDB_txn* txn, StoreOp& op, uint64_t* value) {
    const StoredMessage& m = op.msg;
    MDB_val k = val_of(m.hash.bytes), v;
    if (int rc = mdb_get(txn, tombstones, &k, &v); rc != MDB_NOTFOUND) {
      if (rc) return rc;
      *value = uint64_t(StoreResult::kExists);  // deleted by its owner: stays deleted
      return 0;
    }
    int rc = mdb_get(txn, by_hash, &k, &v);
    if (rc == 0) {
      *value = uint64_t(StoreResult::kExists);
      return 0;
    }
    if (rc != MDB_NOTFOUND) return rc;

    const AccountKey account = m.account.raw();
    uint64_t count = 0, bytes = 0;
    MDB_val ak = val_of(account);
    if ((rc = read_usage(txn, &ak, &count, &bytes))) return rc;
    if (count + 1 > options.quota_messages || bytes + m.data.size() > options.quota_bytes) {
      *value = uint64_t(StoreResult::kFull);
      return 0;
    }

    const MessageKey key = message_key(account, m.ns, m.timestamp_ms, m.hash);
    MDB_val mk = val_of(key);
    MDB_val mv{8 + m.data.size(), nullptr};
    if ((rc = mdb_put(txn, messages, &mk, &mv, MDB_RESERVE))) return rc;
    store_u64(static_cast<uint8_t*>(mv.mv_data), m.expiry_ms);
    if (!m.data.empty()) std::memcpy(static_cast<uint8_t*>(mv.mv_data) + 8, m.data.data(), m.data.size());

    MDB_val hv = val_of(key);
    if ((rc = mdb_put(txn, by_hash, &k, &hv, 0))) return rc;
    by_hash_changes.emplace_back(m.hash, +1);
    const ExpiryKey ek_bytes = expiry_key(m.expiry_ms, m.hash.data());
    MDB_val ek = val_of(ek_bytes), empty{0, nullptr};
    if ((rc = mdb_put(txn, expiry, &ek, &empty, 0))) return rc;
    if ((rc = write_usage(txn, &ak, count + 1, bytes + m.data.size()))) return rc;
    *value = uint64_t(StoreResult::kNew);
    return 0;
  }

  int apply(MDB_txn* txn, RemoveOp& op, uint64_t* value) {
    const AccountKey account = op.account.raw();
    std::array<uint8_t, kPrefixSize> prefix{};
    std::memcpy(prefix.data(), account.data(), kAccountSize);
    store_u16(prefix.data() + kAccountSize, op.ns);
    uint64_t removed = 0;
    for (const crypto::Hash& h : op.hashes) {
      MDB_val hk = val_of(h.bytes), v;
      int rc = mdb_get(txn, by_hash, &hk, &v);
      if (rc == MDB_NOTFOUND) continue;
      if (rc) return rc;
      if (v.mv_size != kMessageKeySize) return MDB_CORRUPTED;
      if (std::memcmp(v.mv_data, prefix.data(), kPrefixSize) != 0) continue;  // not theirs
      MessageKey key;
      std::memcpy(key.data(), v.mv_data, kMessageKeySize);
      MDB_val mk = val_of(key), mv;
      if ((rc = mdb_get(txn, messages, &mk, &mv))) return rc;
      if (mv.mv_size < 8) return MDB_CORRUPTED;
      const uint64_t expiry_ms = get_u64(bytes_of(mv));
      if ((rc = delete_message(txn, key))) return rc;
      if (!op.tombstone) {
        ++removed;
        continue;
      }
      // Tombstone until the message's own expiry; the sweep removes it then.
      MDB_val tk = val_of(h.bytes), empty{0, nullptr};
      if ((rc = mdb_put(txn, tombstones, &tk, &empty, 0))) return rc;
      const ExpiryKey ek_bytes = expiry_key(expiry_ms, h.data());
      MDB_val ek = val_of(ek_bytes);
      if ((rc = mdb_put(txn, expiry, &ek, &empty, 0))) return rc;
      ++removed;
    }
    *value = removed;
    return 0;
  }

  int apply(MDB_txn* txn, SweepOp& op, uint64_t* value) {
    uint64_t swept = 0;
    while (swept < op.max) {
      MDB_cursor* raw = nullptr;
      int rc = mdb_cursor_open(txn, expiry, &raw);
      if (rc) return rc;
      CursorGuard cur(raw);
      MDB_val k, v;
      rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST);
      if (rc == MDB_NOTFOUND) break;
      if (rc) return rc;
      if (k.mv_size != kExpiryKeySize) return MDB_CORRUPTED;
      if (get_u64(bytes_of(k)) > op.now_ms) break;
      ExpiryKey ek;
      std::memcpy(ek.data(), k.mv_data, kExpiryKeySize);
      MDB_val hk = val_of(ek.data() + 8, crypto::kHashSize);
      rc = mdb_get(txn, by_hash, &hk, &v);
      if (rc == 0) {
        if (v.mv_size != kMessageKeySize) return MDB_CORRUPTED;
        MessageKey key;
        std::memcpy(key.data(), v.mv_data, kMessageKeySize);
        if ((rc = delete_message(txn, key))) return rc;  // also deletes ek
      } else if (rc == MDB_NOTFOUND) {
        // A tombstone's date (or a dangling entry): drop both, so the sweep
        // always makes progress.
        MDB_val ekv = val_of(ek);
        if ((rc = mdb_del(txn, expiry, &ekv, nullptr))) return rc;
        if ((rc = mdb_del(txn, tombstones, &hk, nullptr)) && rc != MDB_NOTFOUND) return rc;
      } else {
        return rc;
      }
      ++swept;
    }
    *value = swept;
    return 0;
  }

  void note_deleted(const uint8_t* hash) {
    by_hash_changes.emplace_back(*crypto::Hash::from({hash, crypto::kHashSize}), -1);
  }

  // Deletes the message under key and its by_hash, expiry and accounts
  // entries. MDB_NOTFOUND from a missing index entry is tolerated.
  int delete_message(MDB_txn* txn, const MessageKey& key) {
    MDB_val mk = val_of(key), v;
    int rc = mdb_get(txn, messages, &mk, &v);
    if (rc == MDB_NOTFOUND) {
      // Index without message: drop the by_hash entry only.
      MDB_val hk = val_of(key.data() + kPrefixSize + 8, crypto::kHashSize);
      rc = mdb_del(txn, by_hash, &hk, nullptr);
      if (rc == 0) note_deleted(key.data() + kPrefixSize + 8);
      return rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc) return rc;
    if (v.mv_size < 8) return MDB_CORRUPTED;
    const uint64_t expiry_ms = get_u64(bytes_of(v));
    const uint64_t size = v.mv_size - 8;
    const uint8_t* hash = key.data() + kPrefixSize + 8;

    MDB_val ak = val_of(key.data(), kAccountSize);
    uint64_t count = 0, bytes = 0;
    if ((rc = read_usage(txn, &ak, &count, &bytes))) return rc;

    if ((rc = mdb_del(txn, messages, &mk, nullptr))) return rc;
    MDB_val hk = val_of(hash, crypto::kHashSize);
    rc = mdb_del(txn, by_hash, &hk, nullptr);
    if (rc == 0) note_deleted(hash);
    if (rc && rc != MDB_NOTFOUND) return rc;
    const ExpiryKey ek_bytes = expiry_key(expiry_ms, hash);
    MDB_val ek = val_of(ek_bytes);
    if ((rc = mdb_del(txn, expiry, &ek, nullptr)) && rc != MDB_NOTFOUND) return rc;

    return write_usage(txn, &ak, count > 0 ? count - 1 : 0, bytes > size ? bytes - size : 0);
  }
};

// --- open / close ----------------------------------------------------------

Result<std::unique_ptr<Storage>> Storage::open(const StorageOptions& options) {
  if (options.path.empty()) return error(Code::kInvalidArgument, "storage path is empty");
  std::error_code ec;
  const std::filesystem::path dir(options.path);
  if (!std::filesystem::exists(dir, ec)) {
    if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return error(Code::kIo, "cannot create storage directory " + options.path + ": " +
                                  std::strerror(errno));
    }
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return error(Code::kIo, "storage path is not a directory: " + options.path);
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  MDB_env* raw_env = nullptr;
  if (int rc = mdb_env_create(&raw_env)) return lmdb_error(rc, "mdb_env_create");
  impl->env.reset(raw_env);
  MDB_env* env = raw_env;
  if (int rc = mdb_env_set_maxdbs(env, 8)) return lmdb_error(rc, "mdb_env_set_maxdbs");
  if (int rc = mdb_env_set_mapsize(env, options.map_size)) {
    return lmdb_error(rc, "mdb_env_set_mapsize");
  }
  if (int rc = mdb_env_open(env, options.path.c_str(), MDB_NOTLS, 0600)) {
    return lmdb_error(rc, "mdb_env_open " + options.path);
  }
  // A process killed while reading (kill -9) leaves its reader slot behind;
  // a stale slot pins old pages and, with enough of them, blocks readers.
  // Clear the slots of dead processes before serving.
  int stale_readers = 0;
  if (int rc = mdb_reader_check(env, &stale_readers)) return lmdb_error(rc, "mdb_reader_check");
  impl->stale_readers_cleared = stale_readers;

  MDB_stat env_stat;
  if (int rc = mdb_env_stat(env, &env_stat)) return lmdb_error(rc, "mdb_env_stat");
  impl->page_size = env_stat.ms_psize;

  // Creates a new store, or checks an existing one and migrates it to
  // kSchemaVersion, in this one transaction: a crash or an error before the
  // commit leaves the data dir as it was.
  Txn txn;
  if (int rc = txn.begin(env, 0)) return lmdb_error(rc, "begin open txn");
  auto opened = schema::open_or_migrate(txn.get(), options.path);
  if (!opened.ok()) return opened.status();
  const schema::Databases& dbs = opened->dbs;
  impl->meta = dbs.meta;
  impl->messages = dbs.messages;
  impl->by_hash = dbs.by_hash;
  impl->expiry = dbs.expiry;
  impl->accounts = dbs.accounts;
  impl->tombstones = dbs.tombstones;
  impl->schema = kSchemaVersion;
  impl->migrated_from = opened->found != 0 && opened->found < kSchemaVersion ? opened->found : 0;
  if (!options.network_id.empty()) {
    if (Status st = bind_network(txn.get(), dbs.meta, options.network_id, options.path); !st.ok()) return st;
  }
  if (int rc = txn.commit()) return lmdb_error(rc, "commit open txn");
  {
    // The committer has not started, so nothing writes before the digests
    // are counted; a read transaction holds no writer lock meanwhile.
    Txn read;
    if (int rc = read.begin(env, MDB_RDONLY)) return lmdb_error(rc, "begin read txn");
    auto digests = scan_digest(read.get(), impl->by_hash);
    if (!digests.ok()) return digests.status();
    impl->digests = std::move(*digests);
  }

  // The constructor is private, so make_unique cannot reach it; the pointer
  // is owned from the first moment.
  std::unique_ptr<Storage> storage(new Storage());
  storage->impl_ = std::move(impl);
  Impl* p = storage->impl_.get();
  try {
    p->committer = std::thread([p] {
      name_this_thread("committer");
      p->run();
    });
  } catch (const std::system_error& e) {
    return error(Code::kInternal, std::string("cannot start the storage committer: ") + e.what());
  }
  p->committer_id = p->committer.get_id();
  return storage;
}

Storage::~Storage() {
  if (!impl_) return;
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->committer.joinable()) impl_->committer.join();
  impl_->env.reset();  // mdb_env_close; all transactions are finished
}

// --- writes ----------------------------------------------------------------

void Storage::store_async(StoredMessage message, StoreDone done) {
  impl_->submit_store(std::move(message), std::move(done), false);
}

void Storage::Impl::submit_store(StoredMessage message, StoreDone done, bool caller_waits) {
  Op op;
  op.caller_waits = caller_waits;
  op.done = [done = std::move(done)](const Status& s, uint64_t v) {
    if (s.ok()) {
      done(StoreResult(v));
    } else {
      done(s);
    }
  };
  // Validation (hashing) runs here, off the committer thread; a bad message
  // still travels through the queue so done always runs on the committer.
  if (message.data.size() > options.max_message_bytes) {
    op.resolved = true;
    op.status = error(Code::kInvalidArgument,
                      "message of " + std::to_string(message.data.size()) +
                          " bytes exceeds the limit of " +
                          std::to_string(options.max_message_bytes));
  } else if (crypto::hash(message.data) != message.hash) {
    op.resolved = true;
    op.status = error(Code::kInvalidArgument, "message hash does not match its data");
  }
  op.kind = StoreOp{std::move(message)};
  if (!enqueue(op)) op.done(error(Code::kUnavailable, "storage is shutting down"), 0);
}

Result<StoreResult> Storage::store(StoredMessage message) {
  if (impl_->on_committer()) {
    return error(Code::kInternal, "blocking storage write called from the committer thread");
  }
  std::promise<Result<StoreResult>> promise;
  auto future = promise.get_future();
  impl_->submit_store(
      std::move(message), [&promise](Result<StoreResult> r) { promise.set_value(std::move(r)); }, true);
  return future.get();
}

Result<size_t> Storage::remove(const swarm::AccountId& account, uint16_t ns,
                               const std::vector<crypto::Hash>& hashes) {
  if (hashes.empty()) return size_t(0);
  Impl::Op op;
  op.kind = Impl::RemoveOp{account, ns, hashes};
  return impl_->run_blocking(std::move(op));
}

Result<size_t> Storage::drop_handed_over(const swarm::AccountId& account, uint16_t ns,
                                         const std::vector<crypto::Hash>& hashes) {
  if (hashes.empty()) return size_t(0);
  Impl::Op op;
  op.kind = Impl::RemoveOp{account, ns, hashes, /*tombstone=*/false};
  return impl_->run_blocking(std::move(op));
}

Result<size_t> Storage::sweep_expired(uint64_t now_ms, size_t max) {
  if (max == 0) return size_t(0);
  // A sweep copies every page it touches before the old ones are freed (at
  // commit), so on a full disk or map a large sweep may not fit even in the
  // reserve. Then sweep in smaller transactions: each commit frees pages the
  // next one reuses, so expiry still makes progress; after each success the
  // transactions grow again (doubling), so few commits are needed.
  size_t swept = 0, chunk = max;
  bool shrunk = false;
  for (int attempts = 0; swept < max && attempts < 100'000; ++attempts) {
    const size_t want = std::min(chunk, max - swept);
    Impl::Op op;
    op.kind = Impl::SweepOp{now_ms, want};
    auto n = impl_->run_blocking(std::move(op));
    if (!n.ok()) {
      if (n.status().code() == Code::kStorageFull && chunk > 1) {
        chunk = std::max<size_t>(1, chunk / 8);
        shrunk = true;
        continue;
      }
      if (swept > 0) return swept;
      return n.status();
    }
    swept += *n;
    if (*n < want || !shrunk) break;  // nothing left, or done in one go
    chunk = std::min(max, chunk * 2);
  }
  return swept;
}

// --- reads -----------------------------------------------------------------

Result<std::vector<StoredMessage>> Storage::retrieve(const swarm::AccountId& account,
                                                     uint16_t ns, const Cursor& after,
                                                     size_t limit, uint64_t now_ms,
                                                     bool* more) const {
  if (more) *more = false;
  Txn txn;
  if (int rc = txn.begin(impl_->env.get(), MDB_RDONLY)) return lmdb_error(rc, "begin read txn");
  return collect_messages(txn.get(), impl_->messages, message_key(account.raw(), ns, after.timestamp_ms, after.hash),
                          kPrefixSize, /*exclusive=*/true, std::min(limit, kMaxRetrieve), now_ms, more);
}

Result<std::vector<StoredMessage>> Storage::messages_of(const swarm::AccountId& account, size_t limit,
                                                        uint64_t now_ms, bool* more) const {
  if (more) *more = false;
  Txn txn;
  if (int rc = txn.begin(impl_->env.get(), MDB_RDONLY)) return lmdb_error(rc, "begin read txn");
  return collect_messages(txn.get(), impl_->messages, message_key(account.raw(), 0, 0, crypto::Hash{}), kAccountSize,
                          /*exclusive=*/false, limit, now_ms, more);
}

Result<std::vector<swarm::AccountId>> Storage::accounts(const swarm::AccountId* after, size_t limit,
                                                        bool* more) const {
  if (more) *more = false;
  Txn txn;
  if (int rc = txn.begin(impl_->env.get(), MDB_RDONLY)) return lmdb_error(rc, "begin read txn");
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn.get(), impl_->accounts, &raw)) return lmdb_error(rc, "mdb_cursor_open");
  CursorGuard cur(raw);
  const AccountKey start = after ? after->raw() : AccountKey{};
  MDB_val k = val_of(start), v;
  std::vector<swarm::AccountId> out;
  int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
    if (after && k.mv_size == kAccountSize && std::memcmp(k.mv_data, start.data(), kAccountSize) == 0) continue;
    if (out.size() >= limit) {
      if (more) *more = true;
      break;
    }
    auto account = swarm::AccountId::from_raw({bytes_of(k), k.mv_size});
    if (!account.ok()) return error(Code::kIo, "corrupt account record");
    out.push_back(*account);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error(rc, "account scan");
  return out;
}

Result<std::optional<StoredMessage>> Storage::get(const crypto::Hash& hash,
                                                  uint64_t now_ms) const {
  Txn txn;
  if (int rc = txn.begin(impl_->env.get(), MDB_RDONLY)) return lmdb_error(rc, "begin read txn");
  MDB_val hk = val_of(hash.bytes), mk;
  int rc = mdb_get(txn.get(), impl_->by_hash, &hk, &mk);
  if (rc == MDB_NOTFOUND) return std::optional<StoredMessage>();
  if (rc) return lmdb_error(rc, "get by_hash");
  MDB_val v;
  rc = mdb_get(txn.get(), impl_->messages, &mk, &v);
  if (rc == MDB_NOTFOUND) return std::optional<StoredMessage>();
  if (rc) return lmdb_error(rc, "get message");
  StoredMessage m;
  if (!decode_message(mk, v, &m)) return error(Code::kIo, "corrupt message record");
  if (m.expiry_ms <= now_ms) return std::optional<StoredMessage>();
  return std::optional<StoredMessage>(std::move(m));
}

Result<StorageStats> Storage::stats() const {
  Txn txn;
  if (int rc = txn.begin(impl_->env.get(), MDB_RDONLY)) return lmdb_error(rc, "begin read txn");
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn.get(), impl_->accounts, &raw)) {
    return lmdb_error(rc, "mdb_cursor_open");
  }
  CursorGuard cur(raw);
  StorageStats s;
  MDB_val k, v;
  int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
    if (v.mv_size != kAccountValueSize) return error(Code::kIo, "corrupt account record");
    s.messages += get_u64(bytes_of(v));
    s.data_bytes += get_u64(bytes_of(v) + 8);
  }
  if (rc != MDB_NOTFOUND) return lmdb_error(rc, "stats scan");
  return s;
}

Result<std::vector<Storage::BucketDigest>> Storage::digest() const {
  std::lock_guard lk(impl_->digest_mu);
  return impl_->digests;
}

Result<std::vector<Storage::BucketDigest>> Storage::digest_by_scan() const {
  Txn txn;
  if (int rc = txn.begin(impl_->env.get(), MDB_RDONLY)) return lmdb_error(rc, "begin read txn");
  return scan_digest(txn.get(), impl_->by_hash);
}

Result<std::vector<crypto::Hash>> Storage::bucket_hashes(uint8_t bucket, const crypto::Hash* after, size_t limit,
                                                         bool* more) const {
  if (more) *more = false;
  Txn txn;
  if (int rc = txn.begin(impl_->env.get(), MDB_RDONLY)) return lmdb_error(rc, "begin read txn");
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn.get(), impl_->by_hash, &raw)) return lmdb_error(rc, "mdb_cursor_open");
  CursorGuard cur(raw);
  crypto::Hash start;
  start.bytes[0] = bucket;
  if (after) start = *after;
  MDB_val k = val_of(start.bytes), v;
  std::vector<crypto::Hash> out;
  int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
    if (k.mv_size != crypto::kHashSize) return error(Code::kIo, "corrupt hash index");
    const uint8_t* h = bytes_of(k);
    if (h[0] != bucket) break;
    if (after && std::equal(h, h + crypto::kHashSize, after->bytes.begin())) continue;
    if (out.size() >= limit) {
      if (more) *more = true;
      break;
    }
    out.push_back(*crypto::Hash::from({h, crypto::kHashSize}));
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error(rc, "bucket scan");
  return out;
}

uint32_t Storage::schema_version() const { return impl_->schema; }

uint64_t Storage::commits() const { return impl_->commit_count.load(std::memory_order_relaxed); }

unsigned Storage::env_flags() const {
  unsigned flags = 0;
  mdb_env_get_flags(impl_->env.get(), &flags);
  return flags;
}

int Storage::stale_readers_cleared() const { return impl_->stale_readers_cleared; }

uint32_t Storage::migrated_from() const { return impl_->migrated_from; }

}  // namespace onionswarm::node
