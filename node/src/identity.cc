#include "node/identity.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "onion/encoding.h"

namespace onionswarm::node {
namespace {

Status make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return {};
  return error(Code::kIo, "cannot create " + dir + ": " + std::strerror(errno));
}

Result<NodeKeys> keys_from_seed(ByteView seed) {
  auto ed = crypto::Ed25519KeyPair::from_seed(seed);
  if (!ed.ok()) return ed.status();
  auto x = ed->to_x25519();
  return NodeKeys{std::move(*ed), std::move(x)};
}

}  // namespace

Result<NodeKeys> load_or_create_node_keys(const std::string& data_dir) {
  if (auto st = make_dir(data_dir); !st.ok()) return st;
  const std::string path = data_dir + "/node.key";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    // A key others can read may already be copied; one others can write may
    // have been replaced. Refuse it before reading a byte.
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return error(Code::kIo, "cannot stat " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return error(Code::kInvalidArgument, path + ": not a regular file");
    }
    if (st.st_mode & 077) {
      ::close(fd);
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
      return error(Code::kUnauthorized, path + " has mode " + mode +
                                            ": the node key must be readable by its owner only; fix it with "
                                            "`chmod 600 " + path + "` (and consider the key exposed)");
    }
    char buf[130] = {};
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    // Exactly 64 hex characters, optionally followed by whitespace (the
    // trailing newline). Anything else is not a file this code wrote.
    bool well_formed = n >= 64 && size_t(n) < sizeof buf - 1;
    for (ssize_t i = 64; well_formed && i < n; ++i)
      well_formed = buf[i] == '\n' || buf[i] == '\r' || buf[i] == ' ' || buf[i] == '\t';
    if (!well_formed) {
      sodium_memzero(buf, sizeof buf);
      return error(Code::kInvalidArgument, path + ": malformed key file");
    }
    auto seed = from_hex(std::string_view(buf, 64), 32);
    sodium_memzero(buf, sizeof buf);
    if (!seed.ok()) return error(Code::kInvalidArgument, path + ": malformed key file");
    crypto::SecretBytes s(*seed);
    sodium_memzero(seed->data(), seed->size());
    return keys_from_seed(s.view());
  }
  if (errno != ENOENT) return error(Code::kIo, "cannot read " + path + ": " + std::strerror(errno));
  auto ed = crypto::Ed25519KeyPair::generate();
  std::string hex = to_hex(ed.seed()) + "\n";
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return error(Code::kIo, "cannot create " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, hex.data(), hex.size()) == ssize_t(hex.size()) && ::fsync(fd) == 0;
  ::close(fd);
  sodium_memzero(hex.data(), hex.size());
  if (!ok) return error(Code::kIo, "cannot write " + path);
  auto x = ed.to_x25519();
  return NodeKeys{std::move(ed), std::move(x)};
}

DataDirLock& DataDirLock::operator=(DataDirLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor drops the flock
}

Result<DataDirLock> lock_data_dir(const std::string& data_dir) {
  if (auto st = make_dir(data_dir); !st.ok()) return st;
  struct stat dir_stat{};
  if (::stat(data_dir.c_str(), &dir_stat) != 0 || !S_ISDIR(dir_stat.st_mode))
    return error(Code::kIo, "data dir " + data_dir + " is not a directory");
  const std::string path = data_dir + "/node.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return error(Code::kIo, "cannot open " + path + ": " + std::strerror(errno));
  DataDirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return error(Code::kIo, "cannot lock " + path + ": " + std::strerror(errno));
    char buf[24] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string holder;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) holder += buf[i];
    return error(Code::kUnavailable, "data dir " + data_dir + " is in use by another onionswarm-node" +
                                         (holder.empty() ? std::string() : " (pid " + holder + ")") +
                                         ": stop it first, or use another data dir");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
    return error(Code::kIo, "cannot write " + path + ": " + std::strerror(errno));
  return lock;
}

}  // namespace onionswarm::node
