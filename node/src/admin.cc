#include "node/admin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <lmdb.h>
#include <zmq.hpp>

#include "node/log.h"
#include "node/metrics.h"
#include "node/server.h"
#include "node/thread_name.h"

namespace onionswarm::node {
namespace {

constexpr int kPollMs = 100;             // stop flag latency of the admin thread
constexpr size_t kMaxUnixPath = 107;     // sizeof(sockaddr_un::sun_path) - 1
constexpr size_t kMaxCommandBytes = 64;  // longer requests are refused unread

uint64_t wall_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

std::string errno_text() { return std::strerror(errno); }

// Copies src to dst (created with O_EXCL, mode 0600) and fsyncs it.
Status copy_private_file(const std::string& src, const std::string& dst) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return error(Code::kIo, "cannot read " + src + ": " + errno_text());
  int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    std::string why = errno_text();
    ::close(in);
    return error(Code::kIo, "cannot create " + dst + ": " + why);
  }
  bool ok = true;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    if (::write(out, buf, size_t(n)) != n) {
      ok = false;
      break;
    }
  }
  ok = ok && ::fsync(out) == 0;
  ::close(in);
  ::close(out);
  if (!ok) return error(Code::kIo, "cannot copy " + src + " to " + dst);
  return {};
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return error(Code::kIo, "cannot open " + dir + ": " + errno_text());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return error(Code::kIo, "cannot fsync " + dir);
  return {};
}

struct EnvCloser {
  void operator()(MDB_env* e) const { mdb_env_close(e); }
};

}  // namespace

std::string admin_socket_path(const std::string& data_dir) { return data_dir + "/admin.sock"; }

Status write_file_atomic(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return error(Code::kIo, "cannot write " + tmp + ": " + errno_text());
  bool ok = ::write(fd, content.data(), content.size()) == ssize_t(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return error(Code::kIo, "cannot write " + path);
  }
  return {};
}

// --- AdminServer -------------------------------------------------------------

AdminServer::AdminServer(AdminOptions options, Server& server) : options_(std::move(options)), server_(server) {}

Result<std::unique_ptr<AdminServer>> AdminServer::start(AdminOptions options, Server& server) {
  if (options.data_dir.empty()) return error(Code::kInvalidArgument, "admin: data dir is empty");
  const std::string path = admin_socket_path(std::filesystem::absolute(options.data_dir).string());
  if (path.size() > kMaxUnixPath) {
    return error(Code::kIo, "admin socket path " + path + " is longer than " + std::to_string(kMaxUnixPath) +
                                " bytes (a Unix socket limit): use a shorter data dir");
  }
  options.data_dir = std::filesystem::absolute(options.data_dir).string();
  std::unique_ptr<AdminServer> admin(new AdminServer(std::move(options), server));
  std::promise<Status> bound;
  auto ready = bound.get_future();
  admin->thread_ = std::thread([a = admin.get(), p = std::move(bound)]() mutable {
    name_this_thread("admin");
    a->loop(std::move(p));
  });
  Status st = ready.get();  // the thread always fulfils it before serving or returning
  if (!st.ok()) return st;  // ~AdminServer joins the finished thread
  return admin;
}

AdminServer::~AdminServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

NodeSnapshot AdminServer::snapshot() const {
  NodeSnapshot s = take_snapshot(server_, options_.network_id, wall_ms());
  if (options_.gossip) s.gossip = options_.gossip();
  return s;
}

void AdminServer::loop(std::promise<Status> bound) {
  const std::string path = admin_socket_path(options_.data_dir);
  zmq::context_t ctx(1);
  zmq::socket_t rep(ctx, zmq::socket_type::rep);
  try {
    rep.set(zmq::sockopt::linger, 0);
    rep.set(zmq::sockopt::maxmsgsize, int64_t(kMaxCommandBytes));
    // libzmq replaces a stale socket file left by a killed node.
    rep.bind("ipc://" + path);
  } catch (const zmq::error_t& e) {
    bound.set_value(error(Code::kIo, "cannot bind admin socket " + path + ": " + e.what()));
    return;
  }
  // The data dir is 0700, so nobody else can reach the socket between bind
  // and chmod; the chmod keeps it private if the dir is ever opened up.
  if (::chmod(path.c_str(), 0600) != 0) {
    bound.set_value(error(Code::kIo, "cannot chmod admin socket " + path + ": " + errno_text()));
    return;
  }
  bound.set_value(Status());

  auto write_metrics = [&] {
    if (options_.metrics_file.empty()) return;
    std::string text = prometheus_text(snapshot());
    if (Status st = write_file_atomic(options_.metrics_file, text); !st.ok())
      log_warn("admin", "metrics file: " + st.message());
  };
  auto next_metrics = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    if (std::chrono::steady_clock::now() >= next_metrics) {
      write_metrics();
      next_metrics = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.metrics_interval_ms);
    }
    zmq::pollitem_t item{rep.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(kPollMs));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      zmq::message_t request;
      if (!rep.recv(request, zmq::recv_flags::dontwait)) continue;
      // A REP socket answers exactly once per request; extra frames of a
      // multipart request are drained and ignored.
      while (request.more()) {
        zmq::message_t extra;
        if (!rep.recv(extra, zmq::recv_flags::dontwait)) break;
        if (!extra.more()) break;
      }
      const std::string command = request.to_string();
      std::string answer;
      if (command == "status") {
        answer = status_json(snapshot()).dump();
      } else if (command == "metrics") {
        answer = prometheus_text(snapshot());
      } else {
        answer = R"x({"error":"unknown command (expected status or metrics)"})x";
      }
      rep.send(zmq::buffer(answer), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      log_warn("admin", std::string("admin socket: ") + e.what());
    }
  }
  write_metrics();
  rep.close();
  ::unlink(path.c_str());
}

// --- client side ---------------------------------------------------------------

Result<std::string> admin_request(const std::string& data_dir, std::string_view command,
                                  std::chrono::milliseconds timeout) {
  const std::string path = admin_socket_path(std::filesystem::absolute(data_dir).string());
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) {
    return error(Code::kUnavailable,
                 "no node is running with data dir " + data_dir + " (no " + path + ": " + errno_text() + ")");
  }
  if (::access(path.c_str(), R_OK | W_OK) != 0) {
    return error(Code::kUnavailable, "cannot use " + path + ": " + errno_text() + " (run as the node's user)");
  }
  try {
    zmq::context_t ctx(1);
    zmq::socket_t req(ctx, zmq::socket_type::req);
    req.set(zmq::sockopt::linger, 0);
    req.connect("ipc://" + path);
    if (!req.send(zmq::buffer(command), zmq::send_flags::dontwait)) {
      return error(Code::kUnavailable, "the node at " + data_dir + " is not accepting admin requests");
    }
    zmq::pollitem_t item{req.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if (!(item.revents & ZMQ_POLLIN)) {
      return error(Code::kUnavailable, "no answer from the node at " + data_dir + " within " +
                                           std::to_string(timeout.count()) +
                                           " ms: is it running? (a stale " + path + " remains after a crash)");
    }
    zmq::message_t answer;
    if (!req.recv(answer, zmq::recv_flags::dontwait)) return error(Code::kUnavailable, "admin answer lost");
    return answer.to_string();
  } catch (const zmq::error_t& e) {
    return error(Code::kUnavailable, std::string("admin socket: ") + e.what());
  }
}

// --- backup ------------------------------------------------------------------

Status backup_data_dir(const std::string& data_dir, const std::string& dest) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string db = data_dir + "/db";
  if (!fs::exists(db + "/data.mdb", ec)) {
    return error(Code::kInvalidArgument, data_dir + " has no store (" + db + "/data.mdb is missing)");
  }
  if (fs::exists(dest, ec)) {
    if (!fs::is_directory(dest, ec)) return error(Code::kInvalidArgument, dest + " exists and is not a directory");
    if (!fs::is_empty(dest, ec)) return error(Code::kInvalidArgument, dest + " exists and is not empty; refusing to overwrite");
  } else if (::mkdir(dest.c_str(), 0700) != 0) {
    return error(Code::kIo, "cannot create " + dest + ": " + errno_text());
  }
  const std::string dest_db = dest + "/db";
  if (::mkdir(dest_db.c_str(), 0700) != 0) return error(Code::kIo, "cannot create " + dest_db + ": " + errno_text());
  auto fail = [&](Status st) {
    fs::remove_all(dest_db, ec);
    return st;
  };

  MDB_env* raw = nullptr;
  if (int rc = mdb_env_create(&raw)) return fail(error(Code::kIo, std::string("mdb_env_create: ") + mdb_strerror(rc)));
  std::unique_ptr<MDB_env, EnvCloser> env(raw);
  if (int rc = mdb_env_set_maxdbs(raw, 8)) return fail(error(Code::kIo, std::string("mdb_env_set_maxdbs: ") + mdb_strerror(rc)));
  // Read-only, with the lock file: this process takes a reader slot like any
  // reader, so the running node's writer does not reuse pages being copied.
  if (int rc = mdb_env_open(raw, db.c_str(), MDB_RDONLY | MDB_NOTLS, 0600)) {
    return fail(error(Code::kIo, "cannot open " + db + " read-only: " + mdb_strerror(rc)));
  }
  if (int rc = mdb_env_copy2(raw, dest_db.c_str(), MDB_CP_COMPACT)) {
    return fail(error(Code::kIo, "copy of " + db + " to " + dest_db + " failed: " + mdb_strerror(rc)));
  }
  env.reset();
  // mdb_env_copy2 writes DEST/db/data.mdb only; fsync it and its directory.
  {
    int fd = ::open((dest_db + "/data.mdb").c_str(), O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) return fail(error(Code::kIo, "cannot fsync " + dest_db + "/data.mdb"));
  }
  if (Status st = fsync_dir(dest_db); !st.ok()) return fail(st);
  if (fs::exists(data_dir + "/node.key", ec)) {
    if (Status st = copy_private_file(data_dir + "/node.key", dest + "/node.key"); !st.ok()) return fail(st);
  }
  return fsync_dir(dest);
}

}  // namespace onionswarm::node
