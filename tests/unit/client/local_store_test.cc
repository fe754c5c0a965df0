#include "client/local_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

namespace onionswarm::client {
namespace {

// A fresh temporary home directory per test, removed afterwards.
class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lstore-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    home_ = root_ + "/home";  // does not exist yet: open() creates it
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  std::unique_ptr<LocalStore> open_store() {
    auto s = LocalStore::open(home_);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static crypto::Hash hash_of(uint8_t b) {
    crypto::Hash h;
    h.bytes.fill(b);
    return h;
  }

  static InboxEntry entry(uint64_t ts, uint8_t hash_byte, std::string text) {
    InboxEntry e;
    e.hash = hash_of(hash_byte);
    e.timestamp_ms = ts;
    e.received_ms = ts + 7;
    e.from = "05" + std::string(64, 'a');
    e.text = std::move(text);
    e.verified = true;
    return e;
  }

  std::string root_;
  std::string home_;
};

void expect_same(const InboxEntry& a, const InboxEntry& b) {
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(a.timestamp_ms, b.timestamp_ms);
  EXPECT_EQ(a.received_ms, b.received_ms);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.verified, b.verified);
  EXPECT_EQ(a.error, b.error);
}

TEST_F(LocalStoreTest, OpenCreatesPrivateStateDirectory) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  struct stat st {};
  ASSERT_EQ(::stat((home_ + "/state").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(home_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(LocalStoreTest, OpenFailsWithIoWhenHomeIsAFile) {
  const std::string file = root_ + "/file";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  auto s = LocalStore::open(file);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kIo);
}

TEST_F(LocalStoreTest, AddMarksSeenAndListsInTimestampThenHashOrder) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(*store->seen(hash_of(2)));
  ASSERT_TRUE(*store->add(entry(300, 1, "third")));
  ASSERT_TRUE(*store->add(entry(100, 2, "first")));
  ASSERT_TRUE(*store->add(entry(200, 9, "second-b")));
  ASSERT_TRUE(*store->add(entry(200, 3, "second-a")));
  // Big-endian timestamps sort numerically across byte boundaries.
  ASSERT_TRUE(*store->add(entry(0x100, 4, "fourth")));
  EXPECT_TRUE(*store->seen(hash_of(2)));
  EXPECT_FALSE(*store->seen(hash_of(5)));

  auto list = store->list();
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  std::vector<std::string> texts;
  for (const auto& e : *list) texts.push_back(e.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"first", "second-a", "second-b", "fourth", "third"}));
  expect_same((*list)[0], entry(100, 2, "first"));
}

TEST_F(LocalStoreTest, AddOfSeenHashReturnsFalseAndKeepsOne) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(*store->add(entry(100, 1, "original")));
  // Same hash, even with another timestamp: not added again.
  auto again = store->add(entry(100, 1, "original"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto other_ts = store->add(entry(999, 1, "replayed"));
  ASSERT_TRUE(other_ts.ok());
  EXPECT_FALSE(*other_ts);
  auto list = store->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].text, "original");
}

TEST_F(LocalStoreTest, AddAllFlagsNewEntriesAndDropsRepeatsInAndAcrossBatches) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(*store->add(entry(100, 1, "earlier")));
  auto added = store->add_all({entry(100, 1, "seen before"), entry(200, 2, "new"), entry(300, 2, "repeat in batch"),
                               entry(400, 3, "also new")});
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  EXPECT_EQ(*added, (std::vector<bool>{false, true, false, true}));
  auto list = store->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[1].text, "new");
  auto none = store->add_all({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(LocalStoreTest, UnverifiedEntryKeepsErrorAndBinaryText) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  InboxEntry e;
  e.hash = hash_of(0xee);
  e.timestamp_ms = 5;
  e.received_ms = 6;
  e.verified = false;
  e.error = "unauthorized: sender signature does not verify";
  ASSERT_TRUE(*store->add(e));
  InboxEntry bin = entry(7, 0xef, std::string("a\0b\xff", 4));
  ASSERT_TRUE(*store->add(bin));
  auto list = store->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  expect_same((*list)[0], e);
  expect_same((*list)[1], bin);
}

TEST_F(LocalStoreTest, CursorDefaultsToZeroAndIsPerAccountAndNamespace) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const std::string a = "05" + std::string(64, '1');
  const std::string b = "03" + std::string(64, '2');
  auto c = store->cursor(a, 0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->timestamp_ms, 0u);
  EXPECT_EQ(c->hash, crypto::Hash{});

  ASSERT_TRUE(store->set_cursor(a, 0, RetrieveCursor{1234, hash_of(7)}).ok());
  ASSERT_TRUE(store->set_cursor(a, 3, RetrieveCursor{55, hash_of(8)}).ok());
  c = store->cursor(a, 0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->timestamp_ms, 1234u);
  EXPECT_EQ(c->hash, hash_of(7));
  EXPECT_EQ(store->cursor(a, 3)->timestamp_ms, 55u);
  EXPECT_EQ(store->cursor(a, 1)->timestamp_ms, 0u);
  EXPECT_EQ(store->cursor(b, 0)->timestamp_ms, 0u);

  // Overwrite moves the cursor.
  ASSERT_TRUE(store->set_cursor(a, 0, RetrieveCursor{2000, hash_of(9)}).ok());
  EXPECT_EQ(store->cursor(a, 0)->timestamp_ms, 2000u);
  EXPECT_EQ(store->cursor(a, 0)->hash, hash_of(9));

  EXPECT_EQ(store->cursor("", 0).status().code(), Code::kInvalidArgument);
}

TEST_F(LocalStoreTest, SettingsGetSetOverwrite) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto g = store->get_setting("guard");
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
  ASSERT_TRUE(store->set_setting("guard", "abcd").ok());
  EXPECT_EQ(store->get_setting("guard")->value(), "abcd");
  ASSERT_TRUE(store->set_setting("guard", "").ok());
  ASSERT_TRUE(store->get_setting("guard")->has_value());
  EXPECT_EQ(store->get_setting("guard")->value(), "");
  EXPECT_EQ(store->set_setting("", "x").code(), Code::kInvalidArgument);
  EXPECT_EQ(store->get_setting(std::string(600, 'k')).status().code(), Code::kInvalidArgument);
}

TEST_F(LocalStoreTest, ReopenKeepsState) {
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(*store->add(entry(10, 1, "kept")));
    ASSERT_TRUE(store->set_cursor("05ab", 0, RetrieveCursor{10, hash_of(1)}).ok());
    ASSERT_TRUE(store->set_setting("guard", "ff").ok());
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(*store->seen(hash_of(1)));
  EXPECT_FALSE(*store->add(entry(10, 1, "kept")));
  auto list = store->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  expect_same((*list)[0], entry(10, 1, "kept"));
  EXPECT_EQ(store->cursor("05ab", 0)->timestamp_ms, 10u);
  EXPECT_EQ(store->cursor("05ab", 0)->hash, hash_of(1));
  EXPECT_EQ(store->get_setting("guard")->value(), "ff");
}

}  // namespace
}  // namespace onionswarm::client
