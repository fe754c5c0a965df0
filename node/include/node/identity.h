// The node's long-term keys: an Ed25519 identity and the X25519 key derived
// from it (the CURVE server key and onion layer key). Stored as the hex seed
// in DATA_DIR/node.key, mode 0600, created on first start.
#pragma once

#include <string>
#include <utility>

#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::node {

struct NodeKeys {
  crypto::Ed25519KeyPair ed25519;
  crypto::X25519KeyPair x25519;
};

// Loads DATA_DIR/node.key, or creates it (and DATA_DIR, mode 0700) when
// missing. kIo when unreadable/unwritable, kInvalidArgument when malformed
// or not a regular file, kUnauthorized when the file is accessible to group
// or others (any of mode 077 set): the node refuses to start on such a key.
Result<NodeKeys> load_or_create_node_keys(const std::string& data_dir);

// An exclusive lock on DATA_DIR/node.lock (flock), held while the object
// lives. The kernel drops it however the process ends, kill -9 included.
class DataDirLock {
 public:
  DataDirLock() = default;
  explicit DataDirLock(int fd) : fd_(fd) {}
  DataDirLock(DataDirLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  DataDirLock& operator=(DataDirLock&& o) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  int fd_ = -1;
};

// Creates DATA_DIR (mode 0700) when missing and takes its lock, so that two
// nodes never run on one data dir (one identity at two addresses, one
// admin socket taken over). The lock file holds the holder's pid.
// kUnavailable, naming that pid, while another process holds it; kIo when
// the file cannot be opened or locked.
Result<DataDirLock> lock_data_dir(const std::string& data_dir);

}  // namespace onionswarm::node
