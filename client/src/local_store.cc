// The client's local LMDB state. Layout (one environment at HOME/state):
//   inbox    timestamp_ms(8, BE) || hash(32)  ->  entry (binary, below)
//   seen     hash(32)                          ->  empty
//   cursors  account "/" namespace (decimal)   ->  timestamp_ms(8, BE) || hash(32)
//   settings key                               ->  value
// Entry encoding (version 1, or 2 for a group message):
//   version(1) || hash(32) || timestamp_ms(8) || received_ms(8) || verified(1)
//   || from_len(4) || from || text_len(4) || text || error_len(4) || error
//   [version 2 only: || group_len(4) || group]
// All integers big-endian. Default LMDB flags: every commit is synced.
#include "client/local_store.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "onion/encoding.h"

namespace onionswarm::client {
namespace {

constexpr const char* kGuardSetting = "guard";

constexpr uint8_t kEntryVersion = 1;
constexpr uint8_t kGroupEntryVersion = 2;
constexpr size_t kCursorValueSize = 8 + crypto::kHashSize;
constexpr size_t kInboxKeySize = 8 + crypto::kHashSize;
constexpr size_t kMapSize = size_t(1) << 30;  // 1 GiB of address space, sparse on disk
constexpr size_t kMaxKeySize = 511;           // LMDB's default mdb_env_get_maxkeysize

Status lmdb_error(const char* what, int rc) {
  return error(Code::kIo, std::string(what) + ": " + mdb_strerror(rc));
}

// Creates dir with mode 0700 unless it exists as a directory.
Status make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return Status();
  const int err = errno;
  struct stat st {};
  if (err == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status();
  return error(Code::kIo, "cannot create directory " + dir + ": " + std::strerror(err));
}

MDB_val val_of(ByteView b) { return MDB_val{b.size(), const_cast<uint8_t*>(b.data())}; }
MDB_val val_of(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
ByteView view_of(const MDB_val& v) { return {static_cast<const uint8_t*>(v.mv_data), v.mv_size}; }

void put_string(Bytes& out, const std::string& s) {
  put_u32(out, uint32_t(s.size()));
  append(out, as_bytes(s));
}

Bytes encode_entry(const InboxEntry& e) {
  Bytes out;
  out.reserve(1 + crypto::kHashSize + 8 + 8 + 1 + 12 + e.from.size() + e.text.size() +
              e.error.size());
  out.push_back(e.group.empty() ? kEntryVersion : kGroupEntryVersion);
  append(out, e.hash.view());
  put_u64(out, e.timestamp_ms);
  put_u64(out, e.received_ms);
  out.push_back(e.verified ? 1 : 0);
  put_string(out, e.from);
  put_string(out, e.text);
  put_string(out, e.error);
  if (!e.group.empty()) put_string(out, e.group);
  return out;
}

// Strict reader over an entry; any inconsistency is reported as corruption.
class Reader {
 public:
  explicit Reader(ByteView b) : b_(b) {}
  bool take(size_t n, ByteView& out) {
    if (b_.size() - pos_ < n) return false;
    out = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool string(std::string& out) {
    ByteView len;
    ByteView s;
    if (!take(4, len) || !take(get_u32(len.data()), s)) return false;
    out.assign(as_chars(s));
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  ByteView b_;
  size_t pos_ = 0;
};

Result<InboxEntry> decode_entry(ByteView b) {
  const Status corrupt = error(Code::kIo, "corrupt inbox entry in local store");
  Reader r(b);
  ByteView version, hash, ts, rx, verified;
  InboxEntry e;
  if (!r.take(1, version) || (version[0] != kEntryVersion && version[0] != kGroupEntryVersion) ||
      !r.take(crypto::kHashSize, hash) || !r.take(8, ts) || !r.take(8, rx) || !r.take(1, verified) ||
      verified[0] > 1 || !r.string(e.from) || !r.string(e.text) || !r.string(e.error) ||
      (version[0] == kGroupEntryVersion && (!r.string(e.group) || e.group.empty())) || !r.done()) {
    return corrupt;
  }
  std::memcpy(e.hash.data(), hash.data(), crypto::kHashSize);
  e.timestamp_ms = get_u64(ts.data());
  e.received_ms = get_u64(rx.data());
  e.verified = verified[0] == 1;
  return e;
}

Bytes inbox_key(uint64_t timestamp_ms, const crypto::Hash& hash) {
  Bytes key;
  key.reserve(kInboxKeySize);
  put_u64(key, timestamp_ms);
  append(key, hash.view());
  return key;
}

Result<std::string> cursor_key(const std::string& account, uint16_t ns) {
  std::string key = account + "/" + std::to_string(ns);
  if (account.empty() || key.size() > kMaxKeySize) {
    return error(Code::kInvalidArgument, "cursor account must be 1..500 bytes");
  }
  return key;
}

Status check_setting_key(const std::string& key) {
  if (key.empty() || key.size() > kMaxKeySize) {
    return error(Code::kInvalidArgument, "setting key must be 1..511 bytes");
  }
  return Status();
}

// A transaction that aborts unless committed.
class Txn {
 public:
  Txn() = default;
  ~Txn() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  Status begin(MDB_env* env, bool read_only) {
    const int rc = mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn_);
    if (rc != 0) {
      txn_ = nullptr;
      return lmdb_error("mdb_txn_begin", rc);
    }
    return Status();
  }
  Status commit() {
    const int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;  // freed by commit, even on failure
    return rc == 0 ? Status() : lmdb_error("mdb_txn_commit", rc);
  }
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

}  // namespace

struct LocalStore::Impl {
  MDB_env* env = nullptr;
  MDB_dbi inbox = 0;
  MDB_dbi seen = 0;
  MDB_dbi cursors = 0;
  MDB_dbi settings = 0;

  ~Impl() {
    if (env != nullptr) mdb_env_close(env);
  }
};

Result<std::unique_ptr<LocalStore>> LocalStore::open(const std::string& home) {
  if (home.empty()) return error(Code::kIo, "empty home directory");
  if (Status s = make_dir(home); !s.ok()) return s;
  const std::string dir = home + "/state";
  if (Status s = make_dir(dir); !s.ok()) return s;

  auto impl = std::make_unique<Impl>();
  int rc = mdb_env_create(&impl->env);
  if (rc != 0) {
    impl->env = nullptr;
    return lmdb_error("mdb_env_create", rc);
  }
  if ((rc = mdb_env_set_maxdbs(impl->env, 4)) != 0) return lmdb_error("mdb_env_set_maxdbs", rc);
  if ((rc = mdb_env_set_mapsize(impl->env, kMapSize)) != 0) {
    return lmdb_error("mdb_env_set_mapsize", rc);
  }
  if ((rc = mdb_env_open(impl->env, dir.c_str(), 0, 0600)) != 0) {
    return lmdb_error(("mdb_env_open " + dir).c_str(), rc);
  }

  Txn txn;
  if (Status s = txn.begin(impl->env, false); !s.ok()) return s;
  const std::pair<const char*, MDB_dbi*> dbs[] = {{"inbox", &impl->inbox},
                                                  {"seen", &impl->seen},
                                                  {"cursors", &impl->cursors},
                                                  {"settings", &impl->settings}};
  for (const auto& [name, dbi] : dbs) {
    if ((rc = mdb_dbi_open(txn.get(), name, MDB_CREATE, dbi)) != 0) {
      return lmdb_error("mdb_dbi_open", rc);
    }
  }
  if (Status s = txn.commit(); !s.ok()) return s;

  std::unique_ptr<LocalStore> store(new LocalStore());
  store->impl_ = std::move(impl);
  return store;
}

LocalStore::~LocalStore() = default;

Result<bool> LocalStore::add(const InboxEntry& entry) {
  auto added = add_all({entry});
  if (!added.ok()) return added.status();
  return bool((*added)[0]);
}

Result<std::vector<bool>> LocalStore::add_all(const std::vector<InboxEntry>& entries) {
  std::vector<bool> fresh(entries.size(), false);
  if (entries.empty()) return fresh;
  Txn txn;
  if (Status s = txn.begin(impl_->env, false); !s.ok()) return s;
  uint8_t none = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const InboxEntry& entry = entries[i];
    MDB_val hash_key = val_of(entry.hash.view());
    MDB_val empty{0, &none};
    int rc = mdb_put(txn.get(), impl_->seen, &hash_key, &empty, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) continue;
    if (rc != 0) return lmdb_error("mdb_put seen", rc);  // txn aborts: nothing changed
    const Bytes key = inbox_key(entry.timestamp_ms, entry.hash);
    const Bytes value = encode_entry(entry);
    MDB_val k = val_of(key);
    MDB_val v = val_of(value);
    if ((rc = mdb_put(txn.get(), impl_->inbox, &k, &v, 0)) != 0) return lmdb_error("mdb_put inbox", rc);
    fresh[i] = true;
  }
  if (Status s = txn.commit(); !s.ok()) return s;
  return fresh;
}

Result<bool> LocalStore::seen(const crypto::Hash& hash) const {
  Txn txn;
  if (Status s = txn.begin(impl_->env, true); !s.ok()) return s;
  MDB_val k = val_of(hash.view());
  MDB_val v;
  const int rc = mdb_get(txn.get(), impl_->seen, &k, &v);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return lmdb_error("mdb_get seen", rc);
  return true;
}

Status LocalStore::mark_seen(const std::vector<crypto::Hash>& hashes) {
  if (hashes.empty()) return Status();
  Txn txn;
  if (Status s = txn.begin(impl_->env, false); !s.ok()) return s;
  uint8_t none = 0;
  for (const auto& h : hashes) {
    MDB_val k = val_of(h.view());
    MDB_val empty{0, &none};
    const int rc = mdb_put(txn.get(), impl_->seen, &k, &empty, 0);
    if (rc != 0) return lmdb_error("mdb_put seen", rc);
  }
  return txn.commit();
}

Result<std::vector<InboxEntry>> LocalStore::list() const {
  Txn txn;
  if (Status s = txn.begin(impl_->env, true); !s.ok()) return s;
  MDB_cursor* cur = nullptr;
  int rc = mdb_cursor_open(txn.get(), impl_->inbox, &cur);
  if (rc != 0) return lmdb_error("mdb_cursor_open", rc);
  std::vector<InboxEntry> out;
  MDB_val k, v;
  Status status;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    auto e = decode_entry(view_of(v));
    if (!e.ok()) {
      status = e.status();
      break;
    }
    out.push_back(std::move(*e));
  }
  mdb_cursor_close(cur);
  if (!status.ok()) return status;
  if (rc != MDB_NOTFOUND) return lmdb_error("mdb_cursor_get inbox", rc);
  return out;
}

Result<RetrieveCursor> LocalStore::cursor(const std::string& account, uint16_t ns) const {
  auto key = cursor_key(account, ns);
  if (!key.ok()) return key.status();
  Txn txn;
  if (Status s = txn.begin(impl_->env, true); !s.ok()) return s;
  MDB_val k = val_of(*key);
  MDB_val v;
  const int rc = mdb_get(txn.get(), impl_->cursors, &k, &v);
  if (rc == MDB_NOTFOUND) return RetrieveCursor{};
  if (rc != 0) return lmdb_error("mdb_get cursors", rc);
  if (v.mv_size != kCursorValueSize) return error(Code::kIo, "corrupt cursor in local store");
  const ByteView b = view_of(v);
  RetrieveCursor c;
  c.timestamp_ms = get_u64(b.data());
  std::memcpy(c.hash.data(), b.data() + 8, crypto::kHashSize);
  return c;
}

Status LocalStore::set_cursor(const std::string& account, uint16_t ns,
                              const RetrieveCursor& cursor) {
  auto key = cursor_key(account, ns);
  if (!key.ok()) return key.status();
  const Bytes value = inbox_key(cursor.timestamp_ms, cursor.hash);  // same layout
  Txn txn;
  if (Status s = txn.begin(impl_->env, false); !s.ok()) return s;
  MDB_val k = val_of(*key);
  MDB_val v = val_of(value);
  if (const int rc = mdb_put(txn.get(), impl_->cursors, &k, &v, 0); rc != 0) {
    return lmdb_error("mdb_put cursors", rc);
  }
  return txn.commit();
}

Result<std::optional<std::string>> LocalStore::get_setting(const std::string& key) const {
  if (Status s = check_setting_key(key); !s.ok()) return s;
  Txn txn;
  if (Status s = txn.begin(impl_->env, true); !s.ok()) return s;
  MDB_val k = val_of(key);
  MDB_val v;
  const int rc = mdb_get(txn.get(), impl_->settings, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>();
  if (rc != 0) return lmdb_error("mdb_get settings", rc);
  return std::optional<std::string>(std::string(as_chars(view_of(v))));
}

Status LocalStore::set_setting(const std::string& key, const std::string& value) {
  if (Status s = check_setting_key(key); !s.ok()) return s;
  Txn txn;
  if (Status s = txn.begin(impl_->env, false); !s.ok()) return s;
  MDB_val k = val_of(key);
  MDB_val v = val_of(value);
  if (const int rc = mdb_put(txn.get(), impl_->settings, &k, &v, 0); rc != 0) {
    return lmdb_error("mdb_put settings", rc);
  }
  return txn.commit();
}

std::optional<crypto::X25519PublicKey> LocalStore::guard() const {
  auto s = get_setting(kGuardSetting);
  if (!s.ok() || !s->has_value()) return std::nullopt;
  auto raw = from_hex(**s, crypto::kKeySize);
  if (!raw.ok()) return std::nullopt;
  auto key = crypto::X25519PublicKey::from(*raw);
  if (!key.ok()) return std::nullopt;
  return *key;
}

Status LocalStore::set_guard(const crypto::X25519PublicKey& key) { return set_setting(kGuardSetting, to_hex(key.view())); }

Status LocalStore::delete_setting(const std::string& key) {
  if (Status s = check_setting_key(key); !s.ok()) return s;
  Txn txn;
  if (Status s = txn.begin(impl_->env, false); !s.ok()) return s;
  MDB_val k = val_of(key);
  const int rc = mdb_del(txn.get(), impl_->settings, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("mdb_del settings", rc);
  return txn.commit();
}

}  // namespace onionswarm::client
