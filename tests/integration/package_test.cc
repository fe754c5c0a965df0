// The install tree: `cmake --install` of the build this test belongs to into
// a temporary root (DESTDIR, prefix /usr, as the Debian package lays it out)
// has both binaries, the example config, the systemd unit and the man pages;
// the installed binaries run; the unit passes `systemd-analyze verify` where
// that tool exists. ctest label "package" (CMakeLists.txt).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_support.h"

namespace onionswarm {
namespace {

namespace fs = std::filesystem;

// Absolute path of an executable on $PATH, or "".
std::string which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = dir + "/" + name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// The build directory of this test binary: BUILD/node/onionswarm-node.
std::string build_dir() { return fs::path(test::node_bin()).parent_path().parent_path().string(); }

class Package : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string cmake = which("cmake");
    ASSERT_FALSE(cmake.empty()) << "cmake not on PATH";
    auto r = test::run_command({cmake, "--install", build_dir(), "--prefix", "/usr"}, "", std::chrono::seconds(120),
                               {"DESTDIR=" + root_.path()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  std::string at(const std::string& p) const { return root_.path() + p; }
  test::TempDir root_;
};

TEST_F(Package, InstallTreeHasBinariesConfigUnitAndManPages) {
  for (const char* f : {"/usr/bin/onionswarm-node", "/usr/bin/onionswarm", "/etc/onionswarm/node.json",
                        "/lib/systemd/system/onionswarm-node.service", "/usr/share/man/man1/onionswarm-node.1",
                        "/usr/share/man/man1/onionswarm.1", "/usr/share/doc/onionswarm/CONFIG.md",
                        "/usr/share/doc/onionswarm/OPERATING.md"}) {
    EXPECT_TRUE(fs::is_regular_file(at(f))) << f;
  }
  struct stat sb {};
  ASSERT_EQ(::stat(at("/usr/bin/onionswarm-node").c_str(), &sb), 0);
  EXPECT_TRUE(sb.st_mode & S_IXOTH);

  const std::string unit = test::read_file(at("/lib/systemd/system/onionswarm-node.service"));
  for (const char* want : {"ExecStart=/usr/bin/onionswarm-node run --config /etc/onionswarm/node.json",
                           "DynamicUser=yes", "User=onionswarm", "StateDirectory=onionswarm", "Restart=on-failure",
                           "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"}) {
    EXPECT_NE(unit.find(want), std::string::npos) << "unit lacks " << want;
  }
  EXPECT_EQ(unit.find("@bindir@"), std::string::npos);
  // The example config points at the unit's data dir.
  EXPECT_NE(test::read_file(at("/etc/onionswarm/node.json")).find("\"data_dir\": \"/var/lib/onionswarm\""),
            std::string::npos);
}

TEST_F(Package, InstalledBinariesRunAndCheckTheInstalledConfig) {
  auto r = test::run_command({at("/usr/bin/onionswarm-node"), "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "onionswarm-node " ONIONSWARM_VERSION "\n");
  r = test::run_command({at("/usr/bin/onionswarm"), "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(ONIONSWARM_VERSION), std::string::npos) << r.out;
  // The shipped config is well-formed; with a writable data dir and a network
  // file it passes check-config as it is.
  test::TempDir data;
  test::TempDir net;
  std::ofstream(net / "network.json") << R"({"network_id":"t","nodes":[]})";
  r = test::run_command({at("/usr/bin/onionswarm-node"), "check-config", "--config", at("/etc/onionswarm/node.json"),
                         "--data-dir", data.path(), "--network", net / "network.json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(Package, SystemdUnitVerifies) {
  const std::string analyze = which("systemd-analyze");
  if (analyze.empty()) GTEST_SKIP() << "systemd-analyze not installed: the unit was not verified";
  // verify checks that ExecStart's binary exists, so point the unit at the
  // temporary root's copy; --man=no: the man page is not installed system-wide.
  std::string unit = test::read_file(at("/lib/systemd/system/onionswarm-node.service"));
  for (size_t p = 0; (p = unit.find("/usr/bin/onionswarm-node", p)) != std::string::npos;) {
    unit.replace(p, 9, root_.path() + "/usr/bin/");
    p += root_.path().size() + 9;
  }
  const std::string copy = root_.path() + "/onionswarm-node.service";
  std::ofstream(copy) << unit;
  auto r = test::run_command({analyze, "verify", "--man=no", copy}, "", std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "") << "systemd-analyze warnings:\n" << r.err;
}

}  // namespace
}  // namespace onionswarm
