// LMDB return codes as Status (private to node/src).
#pragma once

#include <lmdb.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "onion/status.h"

namespace onionswarm::node {

// rc (an LMDB or errno code, not 0) from the operation `what`, as a Status
// whose code tells the caller what to do: kStorageFull when the map or the
// disk is full, kBusy when the reader table is, kIo otherwise.
inline Status lmdb_error(int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
      return error(Code::kStorageFull, "node storage is full (LMDB map_size reached); " + msg);
    case ENOSPC:
    case EDQUOT:
      return error(Code::kStorageFull, "node storage is full (no space left on the disk); " + msg);
    case MDB_READERS_FULL:
      return error(Code::kBusy, msg);
    default:
      return error(Code::kIo, msg);
  }
}

}  // namespace onionswarm::node
