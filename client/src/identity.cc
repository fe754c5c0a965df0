#include "client/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace onionswarm::client {
namespace {

constexpr size_t kSeedHexSize = 2 * crypto::kSeedSize;
// Largest identity file we read: the hex seed, a newline and some slack for
// trailing whitespace an editor may add.
constexpr size_t kMaxIdentityFileSize = 256;

std::string errno_text(int err) { return std::strerror(err); }

int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex text of the seed plus '\n', held in zeroing memory.
crypto::SecretBytes seed_file_contents(ByteView seed) {
  static constexpr char kDigits[] = "0123456789abcdef";
  crypto::SecretBytes out(seed.size() * 2 + 1);
  for (size_t i = 0; i < seed.size(); ++i) {
    out.data()[2 * i] = uint8_t(kDigits[seed[i] >> 4]);
    out.data()[2 * i + 1] = uint8_t(kDigits[seed[i] & 0x0f]);
  }
  out.data()[seed.size() * 2] = '\n';
  return out;
}

// Closes fd on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error close() gives, if any.
  int close_now() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status write_new_identity(const std::string& home, ByteView seed) {
  if (Status s = ensure_home(home); !s.ok()) return s;
  const std::string path = identity_path(home);
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    int err = errno;
    if (err == EEXIST) {
      return error(Code::kExists, "an identity already exists at " + path);
    }
    return error(Code::kIo, "cannot create " + path + ": " + errno_text(err));
  }
  crypto::SecretBytes text = seed_file_contents(seed);
  size_t done = 0;
  int err = 0;
  // Bounded: every iteration writes at least one byte or stops.
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += size_t(n);
  }
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  if (fd.close_now() != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());
    return error(Code::kIo, "cannot write " + path + ": " + errno_text(err));
  }
  return Status();
}

}  // namespace

std::string identity_path(const std::string& home) {
  return (std::filesystem::path(home) / kIdentityFileName).string();
}

Status ensure_home(const std::string& home) {
  if (home.empty()) return error(Code::kInvalidArgument, "empty home directory");
  std::filesystem::path dir(home);
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status();
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) return error(Code::kIo, "cannot create " + dir.parent_path().string() + ": " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return error(Code::kIo, "cannot create " + home + ": " + errno_text(errno));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return error(Code::kIo, home + " is not a directory");
  }
  return Status();
}

Identity::Identity(crypto::Ed25519KeyPair key)
    : ed25519_(std::move(key)),
      x25519_(ed25519_.to_x25519()),
      account_(swarm::AccountId::user(x25519_.public_key())) {}

Result<Identity> Identity::create(const std::string& home) {
  crypto::Ed25519KeyPair key = crypto::Ed25519KeyPair::generate();
  if (Status s = write_new_identity(home, key.seed()); !s.ok()) return s;
  return Identity(std::move(key));
}

Result<Identity> Identity::restore(const std::string& home, ByteView seed) {
  if (seed.size() != crypto::kSeedSize) {
    return error(Code::kInvalidArgument, "a seed must be 32 bytes");
  }
  auto key = crypto::Ed25519KeyPair::from_seed(seed);
  if (!key.ok()) return key.status();
  if (Status s = write_new_identity(home, seed); !s.ok()) return s;
  return Identity(std::move(key).value());
}

bool Identity::exists(const std::string& home) {
  struct stat st {};
  return ::lstat(identity_path(home).c_str(), &st) == 0;
}

Result<Identity> Identity::load(const std::string& home) {
  const std::string path = identity_path(home);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) {
      return error(Code::kNotFound, "no identity in " + home + " (run `onionswarm init` first)");
    }
    return error(Code::kIo, "cannot open " + path + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return error(Code::kIo, "cannot stat " + path);
  if (!S_ISREG(st.st_mode)) return error(Code::kInvalidArgument, path + " is not a regular file");
  if (size_t(st.st_size) > kMaxIdentityFileSize) {
    return error(Code::kInvalidArgument, path + " is too large to be an identity file");
  }
  crypto::SecretBytes text(kMaxIdentityFileSize + 1);
  size_t len = 0;
  // Bounded: at most kMaxIdentityFileSize + 1 bytes, at least one per iteration.
  while (len < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + len, text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error(Code::kIo, "cannot read " + path + ": " + errno_text(errno));
    if (n == 0) break;
    len += size_t(n);
  }
  if (len > kMaxIdentityFileSize) {
    return error(Code::kInvalidArgument, path + " is too large to be an identity file");
  }
  // Accept trailing whitespace (newline, CRLF, spaces) after the hex seed.
  size_t end = len;
  while (end > 0 && (text.data()[end - 1] == '\n' || text.data()[end - 1] == '\r' ||
                     text.data()[end - 1] == ' ' || text.data()[end - 1] == '\t')) {
    --end;
  }
  if (end != kSeedHexSize) {
    return error(Code::kInvalidArgument,
                 path + " is not an identity file (expected 64 hex characters)");
  }
  crypto::SecretBytes seed(crypto::kSeedSize);
  for (size_t i = 0; i < crypto::kSeedSize; ++i) {
    int hi = hex_value(text.data()[2 * i]);
    int lo = hex_value(text.data()[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return error(Code::kInvalidArgument, path + " is not an identity file (bad hex character)");
    }
    seed.data()[i] = uint8_t((hi << 4) | lo);
  }
  auto key = crypto::Ed25519KeyPair::from_seed(seed.view());
  if (!key.ok()) return error(Code::kInvalidArgument, path + ": " + key.status().message());
  return Identity(std::move(key).value());
}

}  // namespace onionswarm::client
