// The Debian package: CPack builds the .deb from the build this test belongs
// to (the same configuration `make deb` uses), `dpkg-deb -x` unpacks it into
// a temporary root, and the test checks the package metadata, the maintainer
// scripts, both binaries, the example config, the systemd unit and the man
// pages; the unpacked binaries run; the unit passes `systemd-analyze verify`
// where that tool exists. ctest label "package" (CMakeLists.txt); the suite
// builds the package once.
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
  // Builds and unpacks the package once for the whole suite.
  static void SetUpTestSuite() {
    root_ = new test::TempDir;
    packages_ = new test::TempDir;
    const std::string cpack = which("cpack"), dpkg_deb = which("dpkg-deb");
    ASSERT_FALSE(cpack.empty()) << "cpack not on PATH";
    ASSERT_FALSE(dpkg_deb.empty()) << "dpkg-deb not on PATH";
    auto r = test::run_command({cpack, "-G", "DEB", "--config", build_dir() + "/CPackConfig.cmake", "-B",
                                packages_->path()},
                               "", std::chrono::seconds(300));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (const auto& e : fs::directory_iterator(packages_->path()))
      if (e.path().extension() == ".deb") deb_ = e.path().string();
    ASSERT_FALSE(deb_.empty()) << "cpack wrote no .deb into " << packages_->path() << "\n" << r.out;
    r = test::run_command({dpkg_deb, "-x", deb_, root_->path()}, "", std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = test::run_command({dpkg_deb, "-e", deb_, root_->path() + "/DEBIAN"}, "", std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  static void TearDownTestSuite() {
    delete root_;
    delete packages_;
    root_ = packages_ = nullptr;
  }
  void SetUp() override {
    if (deb_.empty()) GTEST_FAIL() << "the package was not built (see the first test's failure)";
  }
  static std::string at(const std::string& p) { return root_->path() + p; }
  static inline test::TempDir* root_ = nullptr;
  static inline test::TempDir* packages_ = nullptr;
  static inline std::string deb_;
};

TEST_F(Package, MetadataNamesVersionDependenciesAndScripts) {
  auto r = test::run_command({which("dpkg-deb"), "-f", deb_, "Package", "Version", "Depends", "Section"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Package: onionswarm\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Version: " ONIONSWARM_VERSION), std::string::npos) << r.out;
  for (const char* dep : {"libsodium23", "libzmq5", "liblmdb0"})
    EXPECT_NE(r.out.find(dep), std::string::npos) << "Depends lacks " << dep << ":\n" << r.out;
  // The maintainer scripts ship, and the example config is a conffile.
  for (const char* f : {"/DEBIAN/postinst", "/DEBIAN/prerm", "/DEBIAN/postrm", "/DEBIAN/conffiles"})
    EXPECT_TRUE(fs::is_regular_file(at(f))) << f;
  EXPECT_NE(test::read_file(at("/DEBIAN/conffiles")).find("/etc/onionswarm/node.json"), std::string::npos);
}

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
  // The shipped config is well-formed; with a writable data dir, a network
  // file and the address the node is reached at (it listens on 0.0.0.0) it
  // passes check-config.
  test::TempDir data;
  test::TempDir net;
  std::ofstream(net / "network.json") << R"({"network_id":"t","nodes":[]})";
  r = test::run_command({at("/usr/bin/onionswarm-node"), "check-config", "--config", at("/etc/onionswarm/node.json"),
                         "--data-dir", data.path(), "--network", net / "network.json", "--advertise",
                         "tcp://node.example:4500"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(Package, SystemdUnitVerifies) {
  const std::string analyze = which("systemd-analyze");
  if (analyze.empty()) GTEST_SKIP() << "systemd-analyze not installed: the unit was not verified";
  // verify checks that ExecStart's binary exists, so point the unit at the
  // temporary root's copy; --man=no: the man page is not installed system-wide.
  std::string unit = test::read_file(at("/lib/systemd/system/onionswarm-node.service"));
  for (size_t p = 0; (p = unit.find("/usr/bin/onionswarm-node", p)) != std::string::npos;) {
    unit.replace(p, 9, root_->path() + "/usr/bin/");
    p += root_->path().size() + 9;
  }
  const std::string copy = root_->path() + "/onionswarm-node.service";
  std::ofstream(copy) << unit;
  auto r = test::run_command({analyze, "verify", "--man=no", copy}, "", std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "") << "systemd-analyze warnings:\n" << r.err;
}

}  // namespace
}  // namespace onionswarm
