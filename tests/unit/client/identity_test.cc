#include "client/identity.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "onion/encoding.h"

namespace onionswarm::client {
namespace {

namespace fs = std::filesystem;

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    char tmpl[] = "/tmp/identity_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    home_ = (fs::path(root_) / "a" / "home").string();
  }
  void TearDown() override { fs::remove_all(root_); }

  static unsigned mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 0777;
  }
  void write_file(const std::string& text) {
    ASSERT_TRUE(ensure_home(home_).ok());
    std::ofstream(identity_path(home_)) << text;
  }

  std::string root_;
  std::string home_;
};

TEST_F(IdentityTest, CreateWritesSeedFileWithPrivateModes) {
  auto id = Identity::create(home_);
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  EXPECT_EQ(mode_of(home_), 0700u);
  EXPECT_EQ(mode_of(identity_path(home_)), 0600u);
  std::ifstream in(identity_path(home_));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, to_hex(id->ed25519().seed()) + "\n");
}

TEST_F(IdentityTest, AccountIdIsUserIdOfDerivedX25519Key) {
  auto id = Identity::create(home_);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->account_id().is_user());
  EXPECT_EQ(id->account_id().x25519(), id->ed25519().to_x25519().public_key());
  EXPECT_EQ(id->x25519().public_key(), id->account_id().x25519());
  EXPECT_EQ(id->account_id().to_string().substr(0, 2), "05");
}

TEST_F(IdentityTest, LoadGivesBackTheCreatedIdentity) {
  auto created = Identity::create(home_);
  ASSERT_TRUE(created.ok());
  auto loaded = Identity::load(home_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->account_id(), created->account_id());
  EXPECT_EQ(loaded->ed25519().public_key(), created->ed25519().public_key());
}

TEST_F(IdentityTest, CreateRefusesWhenIdentityExists) {
  ASSERT_TRUE(Identity::create(home_).ok());
  auto first = Identity::load(home_);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(Identity::exists(home_));
  auto again = Identity::create(home_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kExists);
  auto after = Identity::load(home_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->account_id(), first->account_id());  // untouched
}

TEST_F(IdentityTest, RestoreFromSeedGivesSameAccount) {
  auto a = Identity::create(home_);
  ASSERT_TRUE(a.ok());
  const std::string other = (fs::path(root_) / "other").string();
  auto b = Identity::restore(other, a->ed25519().seed());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->account_id(), a->account_id());
  auto again = Identity::restore(other, a->ed25519().seed());
  EXPECT_EQ(again.status().code(), Code::kExists);
}

TEST_F(IdentityTest, RestoreRejectsWrongSeedSize) {
  Bytes short_seed(31, 1);
  auto r = Identity::restore(home_, short_seed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(Identity::exists(home_));
}

TEST_F(IdentityTest, LoadReportsMissingIdentity) {
  auto r = Identity::load(home_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("init"), std::string::npos);
}

TEST_F(IdentityTest, LoadRejectsBadFiles) {
  for (const std::string& bad : {std::string(""), std::string("abc\n"), std::string(63, 'a') + "\n",
                                 std::string(65, 'a') + "\n", std::string(64, 'g') + "\n",
                                 std::string(300, 'a')}) {
    write_file(bad);
    auto r = Identity::load(home_);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST_F(IdentityTest, LoadAcceptsTrailingWhitespaceAndUpperCase) {
  write_file(std::string(64, 'A') + "\r\n");
  auto r = Identity::load(home_);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(to_hex(r->ed25519().seed()), std::string(64, 'a'));
}

TEST_F(IdentityTest, EnsureHomeRejectsEmptyPathAndFiles) {
  EXPECT_EQ(ensure_home("").code(), Code::kInvalidArgument);
  const std::string file = (fs::path(root_) / "file").string();
  std::ofstream(file) << "x";
  EXPECT_FALSE(ensure_home(file).ok());
}

}  // namespace
}  // namespace onionswarm::client
