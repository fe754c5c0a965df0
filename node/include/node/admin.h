// The node's local admin interface and offline maintenance.
//
// AdminServer: a ZeroMQ REP socket at ipc://DATA_DIR/admin.sock (mode 0600,
// inside the 0700 data dir), served by its own thread. Requests are one
// frame with a command word; the answer is one frame:
//   "status"  -> status_json() of the node (metrics.h), as JSON text
//   "metrics" -> prometheus_text() of the node
//   other     -> {"error": "unknown command ..."}
// With AdminOptions::metrics_file set, the same thread also rewrites that
// file atomically (temp file, fsync, rename) every metrics_interval_ms.
//
// Threading contract: the admin thread creates, binds, uses and closes the
// REP socket; nothing else touches it. It reads the Server only through
// take_snapshot() (thread-safe reads). start() and the destructor run on
// the thread that owns the AdminServer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "node/stats.h"
#include "onion/status.h"

namespace onionswarm::node {

class Server;
struct NodeSnapshot;

struct AdminOptions {
  std::string data_dir;                  // the socket is DATA_DIR/admin.sock
  std::string network_id;                // reported in status and metrics
  std::string metrics_file;              // empty: no metrics file
  uint64_t metrics_interval_ms = 10'000; // metrics file rewrite period
  // The living directory's counters for status and metrics (any thread;
  // must outlive the AdminServer). Empty: reported as zeros.
  std::function<GossipCounters()> gossip;
};

// "DATA_DIR/admin.sock".
std::string admin_socket_path(const std::string& data_dir);

class AdminServer {
 public:
  // Binds the socket (on the new admin thread) and waits until it is bound.
  // kIo when the socket cannot be bound (path too long for a Unix socket:
  // 107 bytes) or made private; kInvalidArgument for an empty data_dir.
  // server must outlive the AdminServer.
  [[nodiscard]] static Result<std::unique_ptr<AdminServer>> start(AdminOptions options, Server& server);
  // Stops and joins the admin thread (within ~100 ms), closes the socket and
  // removes the socket file. Writes the metrics file one last time.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

 private:
  AdminServer(AdminOptions options, Server& server);
  void loop(std::promise<Status> bound);
  NodeSnapshot snapshot() const;  // take_snapshot plus the gossip counters

  const AdminOptions options_;
  Server& server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Client side: sends command to the node whose data dir is data_dir and
// returns its answer. kUnavailable with a clear message when no node is
// running there (no socket file, or no answer within timeout).
[[nodiscard]] Result<std::string> admin_request(const std::string& data_dir, std::string_view command,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Writes content to path atomically: PATH.tmp (mode 0644), fsync, rename.
[[nodiscard]] Status write_file_atomic(const std::string& path, std::string_view content);

// Consistent copy of the data dir of a node that may be running: the LMDB
// store (DATA_DIR/db) is opened read-only (MDB_RDONLY; the running node is
// not disturbed, LMDB's reader table keeps its pages alive) and copied with
// mdb_env_copy2(MDB_CP_COMPACT) into DEST/db; DATA_DIR/node.key is copied to
// DEST/node.key with mode 0600. DEST is created (mode 0700) if missing.
// kInvalidArgument when DEST exists and is not an empty directory, or
// DATA_DIR has no store; kIo on read/write failures (DEST/db is removed).
[[nodiscard]] Status backup_data_dir(const std::string& data_dir, const std::string& dest);

}  // namespace onionswarm::node
