// Schema versions of the node store (node/src/storage_schema.cc) through
// Storage::open, against real LMDB: the first release's store
// (tests/vectors/datadir-schema1) is migrated in place, damaged stores are
// refused with a message, and a failed open changes nothing.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "node/storage.h"
#include "onion/encoding.h"
#include "test_support.h"

namespace onionswarm::node {
namespace {

using test::FixtureMessage;

// Within the fixture's lifetime: before its one expired message expired.
constexpr uint64_t kBeforeExpiry = test::kFixtureWrittenMs + 3'600'000;  // 2026-11-27T13:00Z
constexpr uint64_t kDecember = 1'796'083'200'000;                         // 2026-12-01T00:00Z

// Runs fn in one write transaction on the raw LMDB environment at path
// (committed when fn returns true, else aborted). For reading and damaging
// a store the way only another program could.
void with_raw_txn(const std::string& path, const std::function<bool(MDB_txn*)>& fn) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
  ASSERT_EQ(mdb_env_open(env, path.c_str(), 0, 0600), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  if (fn(txn)) {
    EXPECT_EQ(mdb_txn_commit(txn), 0);
  } else {
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
}

bool has_database(const std::string& path, const char* name) {
  bool found = false;
  with_raw_txn(path, [&](MDB_txn* txn) {
    MDB_dbi dbi;
    found = mdb_dbi_open(txn, name, 0, &dbi) == 0;
    return false;
  });
  return found;
}

// meta/schema_version as stored; nullopt when absent or not 4 bytes.
std::optional<uint32_t> stored_version(const std::string& path) {
  std::optional<uint32_t> out;
  with_raw_txn(path, [&](MDB_txn* txn) {
    MDB_dbi meta;
    if (mdb_dbi_open(txn, "meta", 0, &meta) != 0) return false;
    std::string key = "schema_version";
    MDB_val k{key.size(), key.data()}, v;
    if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 4) out = get_u32(static_cast<const uint8_t*>(v.mv_data));
    return false;
  });
  return out;
}

void put_meta(const std::string& path, const Bytes& value) {
  with_raw_txn(path, [&](MDB_txn* txn) {
    MDB_dbi meta;
    EXPECT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    std::string key = "schema_version";
    MDB_val k{key.size(), key.data()}, v{value.size(), const_cast<uint8_t*>(value.data())};
    EXPECT_EQ(mdb_put(txn, meta, &k, &v, 0), 0);
    return true;
  });
}

void drop_database(const std::string& path, const char* name) {
  with_raw_txn(path, [&](MDB_txn* txn) {
    MDB_dbi dbi;
    EXPECT_EQ(mdb_dbi_open(txn, name, 0, &dbi), 0);
    EXPECT_EQ(mdb_drop(txn, dbi, 1), 0);
    return true;
  });
}

uint64_t last_txn_id(const std::string& path) {
  uint64_t id = 0;
  with_raw_txn(path, [&](MDB_txn* txn) {
    MDB_envinfo info;
    EXPECT_EQ(mdb_env_info(mdb_txn_env(txn), &info), 0);
    id = info.me_last_txnid;
    return false;
  });
  return id;
}

StoredMessage stored(const FixtureMessage& f) {
  StoredMessage m;
  m.account = f.account;
  m.ns = f.ns;
  m.timestamp_ms = f.timestamp_ms;
  m.expiry_ms = f.expiry_ms;
  m.hash = f.hash;
  m.data = f.data;
  return m;
}

class StorageSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    fixture_ = test::schema1_fixture_messages();
    ASSERT_EQ(fixture_.size(), 10u);
    ASSERT_TRUE(test::copy_schema1_fixture(db_path()));
  }

  std::string db_path() const { return dir_ / "db"; }
  StorageOptions options() const {
    StorageOptions o;
    o.path = db_path();
    o.map_size = size_t(64) << 20;
    return o;
  }
  std::unique_ptr<Storage> open() {
    auto r = Storage::open(options());
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  // Opening must fail with code and a message containing every one of parts.
  void expect_refused(Code code, const std::vector<std::string>& parts) {
    auto r = Storage::open(options());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().to_string();
    for (const auto& p : parts) EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
  }

  const FixtureMessage& by_data(const std::string& text) const {
    for (const auto& f : fixture_) {
      if (std::string(f.data.begin(), f.data.end()) == text) return f;
    }
    ADD_FAILURE() << "no fixture message " << text;
    return fixture_.front();
  }

  test::TempDir dir_;
  std::vector<FixtureMessage> fixture_;
};

TEST_F(StorageSchema, FixtureIsASchema1StoreWithoutTombstones) {
  EXPECT_EQ(stored_version(db_path()), 1u);
  EXPECT_TRUE(has_database(db_path(), "messages"));
  EXPECT_FALSE(has_database(db_path(), "tombstones"));
}

TEST_F(StorageSchema, FirstReleaseStoreIsMigratedWithEveryMessageIntact) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->schema_version(), 2u);
    EXPECT_EQ(s->migrated_from(), 1u);

    uint64_t messages = 0, bytes = 0;
    std::map<std::pair<std::string, uint16_t>, std::vector<const FixtureMessage*>> by_place;
    for (const auto& f : fixture_) {
      auto got = s->get(f.hash, kBeforeExpiry);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      if (f.deleted) {
        EXPECT_FALSE(got->has_value()) << "deleted under schema 1, still there";
        continue;
      }
      ASSERT_TRUE(got->has_value()) << to_hex(f.hash.view());
      const StoredMessage& m = **got;
      EXPECT_EQ(m.account, f.account);
      EXPECT_EQ(m.ns, f.ns);
      EXPECT_EQ(m.timestamp_ms, f.timestamp_ms);
      EXPECT_EQ(m.expiry_ms, f.expiry_ms);
      EXPECT_EQ(m.hash, f.hash);
      EXPECT_EQ(m.data, f.data);
      EXPECT_EQ(crypto::hash(m.data), f.hash);
      ++messages;
      bytes += f.data.size();
      by_place[{f.account.to_string(), f.ns}].push_back(&f);
    }
    // retrieve: each (account, namespace) in (timestamp, hash) order.
    for (auto& [place, want] : by_place) {
      std::sort(want.begin(), want.end(), [](const FixtureMessage* x, const FixtureMessage* y) {
        return std::tie(x->timestamp_ms, x->hash) < std::tie(y->timestamp_ms, y->hash);
      });
      bool more = true;
      auto got = s->retrieve(want.front()->account, place.second, Cursor{}, 100, kBeforeExpiry, &more);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_FALSE(more);
      ASSERT_EQ(got->size(), want.size()) << place.first << " ns " << place.second;
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ((*got)[i].hash, want[i]->hash);
        EXPECT_EQ((*got)[i].data, want[i]->data);
        EXPECT_EQ((*got)[i].expiry_ms, want[i]->expiry_ms);
      }
    }
    auto st = s->stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->messages, messages);
    EXPECT_EQ(st->data_bytes, bytes);
  }
  EXPECT_EQ(stored_version(db_path()), 2u);
  EXPECT_TRUE(has_database(db_path(), "tombstones"));
}

TEST_F(StorageSchema, MigratedStoreKeepsTombstonesSweepsAndCountsQuota) {
  const FixtureMessage& first = by_data("schema-1 fixture: A ns0 first");
  const FixtureMessage& gone = by_data("schema-1 fixture: A ns0 deleted by its owner");
  const FixtureMessage& expired = by_data("schema-1 fixture: B ns0, expired on 2026-11-28");
  {
    auto s = open();
    ASSERT_TRUE(s);
    auto removed = s->remove(first.account, first.ns, {first.hash});
    ASSERT_TRUE(removed.ok()) << removed.status().to_string();
    EXPECT_EQ(*removed, 1u);
    // A delete now leaves a tombstone: the same message pushed again stays deleted.
    auto again = s->store(stored(first));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, StoreResult::kExists);
    EXPECT_FALSE(s->get(first.hash, kBeforeExpiry)->has_value());
    // Schema 1 kept no tombstones, so a message deleted then can be stored again.
    auto old_delete = s->store(stored(gone));
    ASSERT_TRUE(old_delete.ok());
    EXPECT_EQ(*old_delete, StoreResult::kNew);

    auto swept = s->sweep_expired(kDecember);
    ASSERT_TRUE(swept.ok()) << swept.status().to_string();
    EXPECT_EQ(*swept, 1u);
    EXPECT_FALSE(s->get(expired.hash, test::kFixtureWrittenMs)->has_value());
  }
  // A's usage record came through the migration: its quota counts the four
  // messages it holds now (schema-1 three + one stored again).
  StorageOptions tight = options();
  tight.quota_messages = 4;
  auto s = Storage::open(tight);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->migrated_from(), 0u);
  StoredMessage extra = stored(first);
  extra.data = Bytes{'x'};
  extra.hash = crypto::hash(extra.data);
  auto full = (*s)->store(extra);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(*full, StoreResult::kFull);
  auto tomb = (*s)->store(stored(first));
  ASSERT_TRUE(tomb.ok());
  EXPECT_EQ(*tomb, StoreResult::kExists) << "the tombstone survives a reopen";
}

TEST_F(StorageSchema, ReopeningAMigratedStoreWritesNothing) {
  { ASSERT_TRUE(open()); }
  const uint64_t after_migration = last_txn_id(db_path());
  {
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->migrated_from(), 0u);
    EXPECT_EQ(s->schema_version(), 2u);
    EXPECT_EQ(s->stats()->messages, 9u);
  }
  EXPECT_EQ(last_txn_id(db_path()), after_migration);
  EXPECT_EQ(stored_version(db_path()), 2u);
}

TEST_F(StorageSchema, NewStoreIsCreatedAtTheCurrentVersion) {
  StorageOptions o = options();
  o.path = dir_ / "fresh";
  auto s = Storage::open(o);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->schema_version(), kSchemaVersion);
  EXPECT_EQ((*s)->migrated_from(), 0u);
  s->reset();
  EXPECT_EQ(stored_version(o.path), kSchemaVersion);
  EXPECT_TRUE(has_database(o.path, "tombstones"));
}

TEST_F(StorageSchema, StoreMissingADatabaseIsRefusedAndLeftAsItWas) {
  drop_database(db_path(), "by_hash");
  expect_refused(Code::kIo, {db_path(), "(schema version 1) has no `by_hash` database", "damaged",
                             "restore a backup"});
  // The failed migration was rolled back: still schema 1, nothing created.
  EXPECT_EQ(stored_version(db_path()), 1u);
  EXPECT_FALSE(has_database(db_path(), "tombstones"));
}

TEST_F(StorageSchema, CorruptSchemaRecordIsRefused) {
  put_meta(db_path(), Bytes{0, 0, 1});
  expect_refused(Code::kIo, {db_path(), "corrupt schema_version record (3 bytes, not 4)", "restore a backup"});
  put_meta(db_path(), Bytes{0, 0, 0, 0});
  expect_refused(Code::kIo, {"invalid schema version 0"});
  EXPECT_FALSE(has_database(db_path(), "tombstones"));
}

TEST_F(StorageSchema, StoreWithoutSchemaRecordOrMetaIsRefused) {
  with_raw_txn(db_path(), [](MDB_txn* txn) {
    MDB_dbi meta;
    EXPECT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    std::string key = "schema_version";
    MDB_val k{key.size(), key.data()};
    EXPECT_EQ(mdb_del(txn, meta, &k, nullptr), 0);
    return true;
  });
  expect_refused(Code::kIo, {"has no schema_version record"});
  drop_database(db_path(), "meta");
  expect_refused(Code::kIo, {"has databases but no `meta` database"});
  EXPECT_FALSE(has_database(db_path(), "tombstones"));
}

// Builds between the first release and schema 2 kept tombstones while the
// store still said schema 1: the migration keeps them.
TEST_F(StorageSchema, Schema1StoreThatAlreadyHasTombstonesKeepsThem) {
  const Bytes deleted_data = {'d', 'e', 'l'};
  const crypto::Hash deleted = crypto::hash(deleted_data);
  with_raw_txn(db_path(), [&](MDB_txn* txn) {
    MDB_dbi tombstones, expiry;
    EXPECT_EQ(mdb_dbi_open(txn, "tombstones", MDB_CREATE, &tombstones), 0);
    EXPECT_EQ(mdb_dbi_open(txn, "expiry", 0, &expiry), 0);
    MDB_val k{deleted.size(), const_cast<uint8_t*>(deleted.data())}, empty{0, nullptr};
    EXPECT_EQ(mdb_put(txn, tombstones, &k, &empty, 0), 0);
    Bytes ek;
    put_u64(ek, 4'102'444'800'000);
    ek.insert(ek.end(), deleted.bytes.begin(), deleted.bytes.end());
    MDB_val ekv{ek.size(), ek.data()};
    EXPECT_EQ(mdb_put(txn, expiry, &ekv, &empty, 0), 0);
    return true;
  });
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->migrated_from(), 1u);
  StoredMessage m = stored(fixture_.front());
  m.data = deleted_data;
  m.hash = deleted;
  auto r = s->store(m);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StoreResult::kExists);
}

TEST_F(StorageSchema, MalformedTombstoneRecordIsRefused) {
  with_raw_txn(db_path(), [](MDB_txn* txn) {
    MDB_dbi tombstones;
    EXPECT_EQ(mdb_dbi_open(txn, "tombstones", MDB_CREATE, &tombstones), 0);
    std::string key = "short", value = "x";
    MDB_val k{key.size(), key.data()}, v{value.size(), value.data()};
    EXPECT_EQ(mdb_put(txn, tombstones, &k, &v, 0), 0);
    return true;
  });
  expect_refused(Code::kIo, {"malformed tombstones record", "restore a backup"});
  EXPECT_EQ(stored_version(db_path()), 1u);
}

}  // namespace
}  // namespace onionswarm::node
