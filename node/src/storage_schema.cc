// Schema versions and migrations of the node store: see storage_schema.h.
#include "storage_schema.h"

#include <array>
#include <string_view>

#include "lmdb_status.h"
#include "node/storage.h"
#include "onion/bytes.h"
#include "onion/crypto.h"

namespace onionswarm::node::schema {
namespace {

constexpr std::string_view kSchemaKey = "schema_version";

// Every database of the current layout and the schema version that added it.
struct DatabaseSpec {
  const char* name;
  MDB_dbi Databases::*handle;
  uint32_t since;
};
constexpr std::array<DatabaseSpec, 6> kDatabases = {{
    {"meta", &Databases::meta, 1},
    {"messages", &Databases::messages, 1},
    {"by_hash", &Databases::by_hash, 1},
    {"expiry", &Databases::expiry, 1},
    {"accounts", &Databases::accounts, 1},
    {"tombstones", &Databases::tombstones, 2},
}};

Status damaged(const std::string& path, const std::string& what) {
  return error(Code::kIo, "node store " + path + " " + what +
                              "; the data dir is damaged or is not an onionswarm-node data dir: restore a backup "
                              "(docs/OPERATING.md)");
}

// Schema 1 -> 2. Schema 2 adds `tombstones` (hash(32) -> empty: deleted by
// its owner; a store of that hash answers exists until the message's own
// expiry, kept as an `expiry` entry with no `by_hash` entry). No other
// database changed its keys or values, and a schema-1 store has no `expiry`
// entry without a message (its invariant), so nothing is converted: the
// database is created empty. Builds made between the first release and
// schema 2 wrote `tombstones` while still saying schema 1; such a database
// is kept, after checking its records have the schema-2 format.
Status migrate_1_to_2(MDB_txn* txn, Databases* dbs, const std::string& path) {
  if (int rc = mdb_dbi_open(txn, "tombstones", MDB_CREATE, &dbs->tombstones)) {
    return lmdb_error(rc, "create the tombstones database");
  }
  MDB_cursor* cur = nullptr;
  if (int rc = mdb_cursor_open(txn, dbs->tombstones, &cur)) return lmdb_error(rc, "mdb_cursor_open");
  MDB_val k, v;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size != crypto::kHashSize || v.mv_size != 0) break;
  }
  mdb_cursor_close(cur);
  if (rc == 0) return damaged(path, "has a malformed tombstones record");
  if (rc != MDB_NOTFOUND) return lmdb_error(rc, "read the tombstones database");
  return Status();
}

// Migration i turns a store of schema version kMigrations[i].from into one
// of version from + 1; they run in order, from the store's version up.
struct Migration {
  uint32_t from;
  Status (*apply)(MDB_txn*, Databases*, const std::string& path);
};
constexpr std::array<Migration, 1> kMigrations = {{
    {1, &migrate_1_to_2},
}};

constexpr bool migrations_cover_every_version() {
  for (size_t i = 0; i < kMigrations.size(); ++i) {
    if (kMigrations[i].from != i + 1) return false;
  }
  return kMigrations.size() + 1 == kSchemaVersion;
}
static_assert(migrations_cover_every_version(),
              "kMigrations needs one migration from each version 1 .. kSchemaVersion - 1, in order");

// Whether the environment holds no named database at all (a new store).
Result<bool> environment_is_empty(MDB_txn* txn) {
  MDB_dbi main_db;
  if (int rc = mdb_dbi_open(txn, nullptr, 0, &main_db)) return lmdb_error(rc, "open the main database");
  MDB_cursor* cur = nullptr;
  if (int rc = mdb_cursor_open(txn, main_db, &cur)) return lmdb_error(rc, "mdb_cursor_open");
  MDB_val k, v;
  const int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  mdb_cursor_close(cur);
  if (rc == MDB_NOTFOUND) return true;
  if (rc) return lmdb_error(rc, "read the main database");
  return false;
}

Status write_version(MDB_txn* txn, MDB_dbi meta, uint32_t version) {
  Bytes value;
  put_u32(value, version);
  MDB_val k{kSchemaKey.size(), const_cast<char*>(kSchemaKey.data())}, v{value.size(), value.data()};
  if (int rc = mdb_put(txn, meta, &k, &v, 0)) return lmdb_error(rc, "write schema_version");
  return Status();
}

// Opens the databases a store of `version` has (creating none); kIo naming
// the first one missing.
Status open_databases(MDB_txn* txn, uint32_t version, Databases* dbs, const std::string& path) {
  for (const DatabaseSpec& d : kDatabases) {
    if (d.since > version) continue;
    const int rc = mdb_dbi_open(txn, d.name, 0, &(dbs->*d.handle));
    if (rc == MDB_NOTFOUND) {
      return damaged(path, "(schema version " + std::to_string(version) + ") has no `" + d.name + "` database");
    }
    if (rc) return lmdb_error(rc, std::string("mdb_dbi_open ") + d.name);
  }
  return Status();
}

}  // namespace

Result<Opened> open_or_migrate(MDB_txn* txn, const std::string& path) {
  Opened out;
  int rc = mdb_dbi_open(txn, "meta", 0, &out.dbs.meta);
  if (rc == MDB_NOTFOUND) {
    auto empty = environment_is_empty(txn);
    if (!empty.ok()) return empty.status();
    if (!*empty) return damaged(path, "has databases but no `meta` database");
    for (const DatabaseSpec& d : kDatabases) {
      if ((rc = mdb_dbi_open(txn, d.name, MDB_CREATE, &(out.dbs.*d.handle)))) {
        return lmdb_error(rc, std::string("mdb_dbi_open ") + d.name);
      }
    }
    if (Status s = write_version(txn, out.dbs.meta, kSchemaVersion); !s.ok()) return s;
    return out;
  }
  if (rc) return lmdb_error(rc, "mdb_dbi_open meta");

  MDB_val k{kSchemaKey.size(), const_cast<char*>(kSchemaKey.data())}, v;
  rc = mdb_get(txn, out.dbs.meta, &k, &v);
  if (rc == MDB_NOTFOUND) return damaged(path, "has no schema_version record");
  if (rc) return lmdb_error(rc, "read schema_version");
  if (v.mv_size != 4) {
    return damaged(path, "has a corrupt schema_version record (" + std::to_string(v.mv_size) +
                             " bytes, not 4)");
  }
  out.found = get_u32(static_cast<const uint8_t*>(v.mv_data));
  if (out.found > kSchemaVersion) {
    return error(Code::kInvalidArgument, "data dir schema version " + std::to_string(out.found) +
                                             " is newer than this build's " + std::to_string(kSchemaVersion));
  }
  if (out.found == 0) return damaged(path, "has an invalid schema version 0");

  if (Status s = open_databases(txn, out.found, &out.dbs, path); !s.ok()) return s;
  if (out.found == kSchemaVersion) return out;
  for (const Migration& m : kMigrations) {
    if (m.from < out.found) continue;
    if (Status s = m.apply(txn, &out.dbs, path); !s.ok()) return s;
  }
  // Every database of the current layout exists now; the version goes last.
  if (Status s = open_databases(txn, kSchemaVersion, &out.dbs, path); !s.ok()) {
    return error(Code::kInternal, "migration left the store incomplete: " + s.message());
  }
  if (Status s = write_version(txn, out.dbs.meta, kSchemaVersion); !s.ok()) return s;
  return out;
}

}  // namespace onionswarm::node::schema
