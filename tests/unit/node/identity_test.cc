#include "node/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "onion/encoding.h"
#include "test_support.h"

namespace onionswarm::node {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Key files as the node writes them: owner-only.
void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

const std::string kSeedHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(NodeKeys, FirstCallCreatesOwnerOnlyKeyFile) {
  crypto::init();
  test::TempDir dir;
  const std::string data = dir / "data";
  auto keys = load_or_create_node_keys(data);
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  struct stat st{};
  ASSERT_EQ(::stat((data + "/node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(data.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const std::string text = read_all(data + "/node.key");
  EXPECT_EQ(text, to_hex(keys->ed25519.seed()) + "\n");
}

TEST(NodeKeys, SecondCallLoadsTheSameKeys) {
  crypto::init();
  test::TempDir dir;
  auto first = load_or_create_node_keys(dir.path());
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  auto second = load_or_create_node_keys(dir.path());
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second->ed25519.public_key(), first->ed25519.public_key());
  EXPECT_EQ(second->x25519.public_key(), first->x25519.public_key());
  EXPECT_EQ(second->x25519.public_key(), second->ed25519.to_x25519().public_key());
}

TEST(NodeKeys, LoadsAKnownSeed) {
  crypto::init();
  test::TempDir dir;
  write_file(dir / "node.key", kSeedHex + "\n");
  auto keys = load_or_create_node_keys(dir.path());
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  EXPECT_EQ(to_hex(keys->ed25519.public_key().view()),
            "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");
  EXPECT_EQ(to_hex(keys->ed25519.seed()), kSeedHex);
}

TEST(NodeKeys, RefusesMalformedKeyFile) {
  crypto::init();
  std::string non_hex = kSeedHex;
  non_hex[10] = 'x';
  for (const std::string& text : {std::string(), std::string("\n"), kSeedHex.substr(0, 63), non_hex + "\n",
                                  kSeedHex + "trailing garbage\n", kSeedHex + kSeedHex + "\n",
                                  kSeedHex + "\n" + std::string(200, 'a')}) {
    test::TempDir dir;
    write_file(dir / "node.key", text);
    auto keys = load_or_create_node_keys(dir.path());
    ASSERT_FALSE(keys.ok()) << "'" << text << "'";
    EXPECT_EQ(keys.status().code(), Code::kInvalidArgument) << "'" << text << "'";
    EXPECT_EQ(read_all(dir / "node.key"), text);  // never overwritten
  }
}

TEST(NodeKeys, UnusableDataDirIsIo) {
  crypto::init();
  test::TempDir dir;
  write_file(dir / "file", "x");
  auto keys = load_or_create_node_keys(dir / "file");
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), Code::kIo);
  auto nested = load_or_create_node_keys(dir / "missing/parent");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().code(), Code::kIo);
}

TEST(NodeKeys, RefusesAKeyFileReadableByGroupOrOthers) {
  crypto::init();
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602, 0620, 0666}) {
    test::TempDir dir;
    write_file(dir / "node.key", kSeedHex + "\n", mode);
    auto keys = load_or_create_node_keys(dir.path());
    ASSERT_FALSE(keys.ok()) << std::oct << mode;
    EXPECT_EQ(keys.status().code(), Code::kUnauthorized);
    EXPECT_NE(keys.status().message().find("chmod 600"), std::string::npos) << keys.status().message();
    char shown[8];
    std::snprintf(shown, sizeof shown, "%04o", unsigned(mode));
    EXPECT_NE(keys.status().message().find(shown), std::string::npos) << keys.status().message();
    EXPECT_EQ(read_all(dir / "node.key"), kSeedHex + "\n");  // never rewritten
  }
  // Owner-only modes are accepted.
  for (mode_t mode : {0600, 0400}) {
    test::TempDir dir;
    write_file(dir / "node.key", kSeedHex + "\n", mode);
    EXPECT_TRUE(load_or_create_node_keys(dir.path()).ok()) << std::oct << mode;
  }
}

TEST(NodeKeys, RefusesAKeyPathThatIsNotAFile) {
  crypto::init();
  test::TempDir dir;
  ASSERT_EQ(::mkdir((dir / "node.key").c_str(), 0700), 0);
  auto keys = load_or_create_node_keys(dir.path());
  ASSERT_FALSE(keys.ok());
  EXPECT_NE(keys.status().message().find("not a regular file"), std::string::npos) << keys.status().message();
}

TEST(DataDirLock, OneHolderAtATimeNamedByPid) {
  test::TempDir dir;
  const std::string data_dir = dir / "data";  // created by the lock
  auto first = lock_data_dir(data_dir);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(read_all(data_dir + "/node.lock"), std::to_string(::getpid()) + "\n");
  // A second open file description conflicts as another process's would.
  auto second = lock_data_dir(data_dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
  EXPECT_NE(second.status().message().find("in use by another onionswarm-node (pid " + std::to_string(::getpid()) + ")"),
            std::string::npos)
      << second.status().message();
  // Moved, the lock is still held; destroyed, it is free again.
  DataDirLock moved = std::move(*first);
  EXPECT_FALSE(lock_data_dir(data_dir).ok());
  moved = DataDirLock();
  auto third = lock_data_dir(data_dir);
  EXPECT_TRUE(third.ok()) << third.status().to_string();
}

TEST(DataDirLock, UnusableDataDirIsIo) {
  test::TempDir dir;
  write_file(dir / "file", "x");
  auto lock = lock_data_dir(dir / "file");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), Code::kIo);
  EXPECT_EQ(lock.status().message(), "data dir " + (dir / "file") + " is not a directory");
  ASSERT_EQ(::mkdir((dir / "d").c_str(), 0700), 0);
  ASSERT_EQ(::symlink((dir / "elsewhere").c_str(), (dir / "d/node.lock").c_str()), 0);
  auto linked = lock_data_dir(dir / "d");  // a lock file is never followed out of the data dir
  ASSERT_FALSE(linked.ok());
  EXPECT_EQ(linked.status().code(), Code::kIo);
}

}  // namespace
}  // namespace onionswarm::node
