// Schema versions of the node store and the migrations between them
// (private to node/src; used by Storage::open). docs/PROTOCOL.md, "Schema
// version", says what each version holds.
//
// Adding a version: bump kSchemaVersion (node/include/node/storage.h), give
// each new database its `since` in kDatabases, and append one migration
// from the previous version to kMigrations (storage_schema.cc). A migration
// runs inside the open transaction, so it must not commit, and it must
// accept a store that already has part of the new layout (a build between
// two releases may have written it without bumping the version).
//
// Not thread-safe on its own: it works inside the one write transaction the
// caller holds.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>

#include "onion/status.h"

namespace onionswarm::node::schema {

// The database handles of the current layout. Valid in the transaction that
// opened them and, once it commits, for the life of the environment.
struct Databases {
  MDB_dbi meta = 0, messages = 0, by_hash = 0, expiry = 0, accounts = 0, tombstones = 0;
};

struct Opened {
  Databases dbs;
  // The schema version found in the store before this open: 0 for a store
  // created now; below kSchemaVersion when it was migrated.
  uint32_t found = 0;
};

// In txn (a write transaction on an environment opened with maxdbs >= 8),
// creates the store's databases and writes kSchemaVersion when the
// environment is empty, or checks an existing store and migrates it to
// kSchemaVersion, writing the new schema_version last. Never commits: the
// caller commits, so either all of it lands or none (a crash mid-way leaves
// the old version intact). Opening a store of the current version writes
// nothing. `path` only names the store in messages. Errors:
//   kInvalidArgument  the store's schema is newer than this build (nothing
//                     was touched: upgrade the binary or restore a backup);
//   kIo               the store is damaged or not a node store: no meta
//                     database or schema_version record while other
//                     databases exist, a record that is not 4 bytes, version
//                     0, a database its version must have is missing, or a
//                     record a migration reads is malformed;
//   others            from LMDB (lmdb_error's mapping).
Result<Opened> open_or_migrate(MDB_txn* txn, const std::string& path);

}  // namespace onionswarm::node::schema
