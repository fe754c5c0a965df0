#include "node/admin.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace onionswarm::node {
namespace {

TEST(WriteFileAtomic, ReplacesContentAndLeavesNoTemporary) {
  test::TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir / "m.prom", "one\n").ok());
  ASSERT_TRUE(write_file_atomic(dir / "m.prom", "two\n").ok());
  EXPECT_EQ(test::read_file(dir / "m.prom"), "two\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "m.prom.tmp"));
  EXPECT_EQ(write_file_atomic(dir / "missing/m.prom", "x").code(), Code::kIo);
}

TEST(AdminRequest, UnavailableWhenNoNodeRuns) {
  test::TempDir dir;
  auto r = admin_request(dir.path(), "status", std::chrono::milliseconds(200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("no node is running"), std::string::npos) << r.status().message();
}

TEST(AdminRequest, TimesOutOnAStaleSocketFile) {
  test::TempDir dir;
  std::ofstream(admin_socket_path(dir.path())) << "";  // left behind, nobody listening
  auto r = admin_request(dir.path(), "status", std::chrono::milliseconds(200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

TEST(Backup, RefusesNonEmptyDestinationAndMissingStore) {
  test::TempDir dir;
  auto st = backup_data_dir(dir / "none", dir / "dest");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  std::filesystem::create_directories(dir / "src/db");
  std::ofstream(dir / "src/db/data.mdb") << "";
  std::filesystem::create_directories(dir / "dest");
  std::ofstream(dir / "dest/something") << "x";
  st = backup_data_dir(dir / "src", dir / "dest");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("not empty"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace onionswarm::node
