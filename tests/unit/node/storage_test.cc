// Storage against real LMDB, one fresh temp dir per test.
#include "node/storage.h"
#include "onion/encoding.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace onionswarm::node {
namespace {

constexpr uint64_t kNow = 1'700'000'000'000;  // ms
constexpr uint64_t kLater = kNow + 3'600'000;

// A directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/onionswarm-storage-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

swarm::AccountId account(uint8_t n) {
  swarm::AccountId a;
  a.prefix = swarm::kUserPrefix;
  a.key.fill(n);
  return a;
}

StoredMessage message(const swarm::AccountId& acc, uint16_t ns, uint64_t ts, std::string body,
                      uint64_t expiry = kLater) {
  StoredMessage m;
  m.account = acc;
  m.ns = ns;
  m.timestamp_ms = ts;
  m.expiry_ms = expiry;
  m.data.assign(body.begin(), body.end());
  m.hash = crypto::hash(m.data);
  return m;
}

class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::init(); }

  StorageOptions options() const {
    StorageOptions o;
    o.path = dir_.path() + "/db";
    o.map_size = size_t(64) << 20;
    return o;
  }
  std::unique_ptr<Storage> open(const StorageOptions& o) {
    auto r = Storage::open(o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::unique_ptr<Storage> open() { return open(options()); }

  static StoreResult must_store(Storage& s, StoredMessage m) {
    auto r = s.store(std::move(m));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? r.value() : StoreResult::kFull;
  }
  static std::vector<StoredMessage> all(const Storage& s, const swarm::AccountId& a,
                                        uint16_t ns = 0, uint64_t now = kNow) {
    auto r = s.retrieve(a, ns, Cursor{}, 1000, now);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? r.value() : std::vector<StoredMessage>{};
  }

  TempDir dir_;
};

TEST_F(StorageTest, OpenCreatesDirectoryOwnerOnly) {
  auto s = open();
  ASSERT_TRUE(s);
  auto perms = std::filesystem::status(options().path).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all, std::filesystem::perms::owner_all);
  EXPECT_EQ(s->schema_version(), kSchemaVersion);
}

TEST_F(StorageTest, RetrieveReturnsTimestampHashOrderWhateverInsertionOrder) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = account(1);
  std::vector<StoredMessage> ms = {message(a, 0, 30, "c"), message(a, 0, 10, "a"),
                                   message(a, 0, 20, "b1"), message(a, 0, 20, "b2"),
                                   message(a, 0, 40, "d")};
  for (auto& m : ms) EXPECT_EQ(must_store(*s, m), StoreResult::kNew);

  auto sorted = ms;
  std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) {
    return std::tie(x.timestamp_ms, x.hash) < std::tie(y.timestamp_ms, y.hash);
  });
  auto got = all(*s, a);
  ASSERT_EQ(got.size(), sorted.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].hash, sorted[i].hash);
    EXPECT_EQ(got[i].timestamp_ms, sorted[i].timestamp_ms);
    EXPECT_EQ(got[i].data, sorted[i].data);
    EXPECT_EQ(got[i].expiry_ms, kLater);
    EXPECT_EQ(got[i].account, a);
    EXPECT_EQ(got[i].ns, 0);
  }

  // After a cursor: strictly later (timestamp, hash) only.
  Cursor c{sorted[1].timestamp_ms, sorted[1].hash};
  bool more = true;
  auto r = s->retrieve(a, 0, c, 100, kNow, &more);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].hash, sorted[2].hash);
  EXPECT_EQ((*r)[2].hash, sorted[4].hash);
  EXPECT_FALSE(more);
}

TEST_F(StorageTest, CursorIsExclusive) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = account(1);
  auto m1 = message(a, 0, 10, "one");
  auto m2 = message(a, 0, 10, "two");
  must_store(*s, m1);
  must_store(*s, m2);
  auto first = std::min(m1.hash, m2.hash), second = std::max(m1.hash, m2.hash);
  auto r = s->retrieve(a, 0, Cursor{10, first}, 10, kNow);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].hash, second);
  r = s->retrieve(a, 0, Cursor{10, second}, 10, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(StorageTest, PaginatesWithMore) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = account(2);
  for (int i = 0; i < 25; ++i) must_store(*s, message(a, 0, 100 + i, "m" + std::to_string(i)));
  Cursor c;
  std::vector<uint64_t> seen;
  int pages = 0;
  for (bool more = true; more && pages < 10; ++pages) {
    auto r = s->retrieve(a, 0, c, 10, kNow, &more);
    ASSERT_TRUE(r.ok());
    for (auto& m : *r) seen.push_back(m.timestamp_ms);
    if (!r->empty()) c = Cursor{r->back().timestamp_ms, r->back().hash};
    EXPECT_EQ(more, pages < 2) << "page " << pages;
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(seen[i], uint64_t(100 + i));
}

TEST_F(StorageTest, LimitIsCapped) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = account(2);
  std::vector<std::future<Result<StoreResult>>> pending;
  for (int i = 0; i < 1005; ++i) {
    auto p = std::make_shared<std::promise<Result<StoreResult>>>();
    pending.push_back(p->get_future());
    s->store_async(message(a, 0, i, "x" + std::to_string(i)),
                   [p](Result<StoreResult> r) { p->set_value(std::move(r)); });
  }
  for (auto& f : pending) ASSERT_EQ(f.get().value(), StoreResult::kNew);
  bool more = false;
  auto r = s->retrieve(a, 0, Cursor{}, 1'000'000, kNow, &more);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 1000u);
  EXPECT_TRUE(more);
}

TEST_F(StorageTest, NamespacesAndAccountsAreIsolated) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = account(1), b = account(2);
  must_store(*s, message(a, 0, 1, "a0"));
  must_store(*s, message(a, 1, 1, "a1"));
  must_store(*s, message(b, 0, 1, "b0"));
  must_store(*s, message(a, 0xffff, 1, "a-max"));
  auto got = all(*s, a, 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::string(got[0].data.begin(), got[0].data.end()), "a0");
  got = all(*s, a, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::string(got[0].data.begin(), got[0].data.end()), "a1");
  got = all(*s, b, 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].account, b);
  EXPECT_EQ(all(*s, a, 0xffff).size(), 1u);
  EXPECT_TRUE(all(*s, b, 1).empty());
  EXPECT_TRUE(all(*s, account(3), 0).empty());
}

TEST_F(StorageTest, DuplicateIsExistsAndKeptOnce) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = account(1);
  auto m = message(a, 0, 5, "same");
  EXPECT_EQ(must_store(*s, m), StoreResult::kNew);
  EXPECT_EQ(must_store(*s, m), StoreResult::kExists);
  auto later = m;
  later.timestamp_ms = 99;  // same blob, other timestamp: still the same message
  EXPECT_EQ(must_store(*s, later), StoreResult::kExists);
  auto got = all(*s, a);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].timestamp_ms, 5u);
  auto st = s->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->messages, 1u);
  EXPECT_EQ(st->data_bytes, 4u);
}

TEST_F(StorageTest, DuplicateWithinOneBatchIsExists) {
  auto s = open();
  ASSERT_TRUE(s);
  auto m = message(account(1), 0, 5, "twice");
  std::promise<void> gate;
  auto gate_f = gate.get_future().share();
  // The first store's callback holds the committer so both copies of m
  // queue up and land in the same batch.
  std::promise<void> first_done;
  s->store_async(message(account(9), 0, 1, "blocker"), [&](Result<StoreResult>) {
    first_done.set_value();
    gate_f.wait();
  });
  std::vector<Result<StoreResult>> results;
  std::mutex mu;
  std::promise<void> both;
  auto record = [&](Result<StoreResult> r) {
    std::lock_guard lk(mu);
    results.push_back(std::move(r));
    if (results.size() == 2) both.set_value();
  };
  first_done.get_future().wait();
  uint64_t commits_before = s->commits();
  s->store_async(m, record);
  s->store_async(m, record);
  gate.set_value();
  both.get_future().wait();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].value(), StoreResult::kNew);
  EXPECT_EQ(results[1].value(), StoreResult::kExists);
  EXPECT_EQ(s->commits(), commits_before + 1);
  EXPECT_EQ(all(*s, account(1)).size(), 1u);
}

TEST_F(StorageTest, HashMismatchAndOversizeAreInvalidArgument) {
  auto o = options();
  o.max_message_bytes = 16;
  auto s = open(o);
  ASSERT_TRUE(s);
  auto a = account(1);
  auto bad = message(a, 0, 1, "hello");
  bad.hash.bytes[0] ^= 1;
  auto r = s->store(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);

  r = s->store(message(a, 0, 1, std::string(17, 'x')));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(must_store(*s, message(a, 0, 1, std::string(16, 'x'))), StoreResult::kNew);
  EXPECT_EQ(all(*s, a).size(), 1u);
}

TEST_F(StorageTest, QuotaByCountIsFullAndEvictsNothing) {
  auto o = options();
  o.quota_messages = 3;
  auto s = open(o);
  ASSERT_TRUE(s);
  auto a = account(1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(must_store(*s, message(a, i % 2, i, "m" + std::to_string(i))), StoreResult::kNew);
  }
  EXPECT_EQ(must_store(*s, message(a, 0, 10, "over")), StoreResult::kFull);
  EXPECT_EQ(all(*s, a, 0).size() + all(*s, a, 1).size(), 3u);
  // Another account is unaffected; freeing one slot lets a store in.
  EXPECT_EQ(must_store(*s, message(account(2), 0, 10, "over")), StoreResult::kNew);
  auto first = all(*s, a, 0)[0];
  ASSERT_EQ(s->remove(a, 0, {first.hash}).value(), 1u);
  EXPECT_EQ(must_store(*s, message(a, 0, 11, "now fits")), StoreResult::kNew);
}

TEST_F(StorageTest, QuotaByBytesIsFullAndEvictsNothing) {
  auto o = options();
  o.quota_bytes = 10;
  auto s = open(o);
  ASSERT_TRUE(s);
  auto a = account(1);
  EXPECT_EQ(must_store(*s, message(a, 0, 1, "123456")), StoreResult::kNew);
  EXPECT_EQ(must_store(*s, message(a, 0, 2, "12345")), StoreResult::kFull);
  EXPECT_EQ(must_store(*s, message(a, 0, 3, "1234")), StoreResult::kNew);  // exactly 10
  EXPECT_EQ(all(*s, a).size(), 2u);
  auto st = s->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->messages, 2u);
  EXPECT_EQ(st->data_bytes, 10u);
}

TEST_F(StorageTest, ExpiredIsNotReturnedAndIsSwept) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = account(1);
  auto old1 = message(a, 0, 1, "old1", kNow - 1);
  auto edge = message(a, 0, 2, "edge", kNow);  // expiry == now: gone
  auto live = message(a, 0, 3, "live", kLater);
  for (auto* m : {&old1, &edge, &live}) must_store(*s, *m);

  auto got = all(*s, a, 0, kNow);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hash, live.hash);
  EXPECT_FALSE(s->get(edge.hash, kNow).value().has_value());
  EXPECT_TRUE(s->get(edge.hash, kNow - 1).value().has_value());
  EXPECT_EQ(all(*s, a, 0, 0).size(), 3u);  // still stored until swept

  auto swept = s->sweep_expired(kNow, 1);  // max respected
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1u);
  swept = s->sweep_expired(kNow);
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1u);
  EXPECT_EQ(s->sweep_expired(kNow).value(), 0u);
  got = all(*s, a, 0, 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hash, live.hash);
  auto st = s->stats();
  EXPECT_EQ(st->messages, 1u);
  EXPECT_EQ(st->data_bytes, 4u);
  // Hash index is gone too: the same blob stores again.
  EXPECT_EQ(must_store(*s, old1), StoreResult::kNew);
}

TEST_F(StorageTest, RemoveDeletesOnlyOwnAccountAndNamespace) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = account(1), b = account(2);
  auto ma = message(a, 0, 1, "a's");
  auto ma1 = message(a, 1, 1, "a's ns1");
  auto mb = message(b, 0, 1, "b's");
  for (auto* m : {&ma, &ma1, &mb}) must_store(*s, *m);

  crypto::Hash unknown;
  unknown.bytes.fill(0xab);
  auto r = s->remove(a, 0, {mb.hash, ma1.hash, unknown, ma.hash, ma.hash});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, 1u);
  EXPECT_TRUE(all(*s, a, 0).empty());
  EXPECT_EQ(all(*s, a, 1).size(), 1u);
  EXPECT_EQ(all(*s, b, 0).size(), 1u);
  EXPECT_FALSE(s->get(ma.hash, kNow).value().has_value());
  EXPECT_TRUE(s->get(mb.hash, kNow).value().has_value());
  auto st = s->stats();
  EXPECT_EQ(st->messages, 2u);
  EXPECT_EQ(s->remove(a, 0, {}).value(), 0u);
}

TEST_F(StorageTest, DeletedMessageIsNotStoredAgainUntilItWouldHaveExpired) {
  auto s = open();
  ASSERT_TRUE(s);
  auto m = message(account(5), 0, 10, "delete me", /*expiry=*/kNow + 1000);
  EXPECT_EQ(must_store(*s, m), StoreResult::kNew);
  auto removed = s->remove(account(5), 0, {m.hash});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1u);
  // A late replica or a catch-up fetch of the same message.
  EXPECT_EQ(must_store(*s, m), StoreResult::kExists);
  EXPECT_TRUE(all(*s, account(5)).empty());
  auto stats = s->stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->messages, 0u);
  // After its expiry the tombstone is swept, and the hash is free again.
  ASSERT_TRUE(s->sweep_expired(kNow + 1000).ok());
  EXPECT_EQ(must_store(*s, message(account(5), 0, 10, "delete me", kNow + 5000)), StoreResult::kNew);
}

TEST_F(StorageTest, GetFindsByHash) {
  auto s = open();
  ASSERT_TRUE(s);
  auto m = message(account(4), 7, 42, "by hash");
  must_store(*s, m);
  auto r = s->get(m.hash, kNow);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->account, m.account);
  EXPECT_EQ((*r)->ns, 7);
  EXPECT_EQ((*r)->timestamp_ms, 42u);
  EXPECT_EQ((*r)->data, m.data);
  crypto::Hash none;
  EXPECT_FALSE(s->get(none, kNow).value().has_value());
}

TEST_F(StorageTest, DigestDiffersOnlyInBucketsWithDifferentHashes) {
  auto s = open();
  ASSERT_TRUE(s);
  std::vector<StoredMessage> msgs;
  for (int i = 0; i < 300; ++i) msgs.push_back(message(account(1), 0, 100 + uint64_t(i), "m" + std::to_string(i)));
  std::vector<std::future<Result<StoreResult>>> done;
  for (const auto& m : msgs) {
    auto p = std::make_shared<std::promise<Result<StoreResult>>>();
    done.push_back(p->get_future());
    s->store_async(m, [p](Result<StoreResult> r) { p->set_value(std::move(r)); });
  }
  for (auto& f : done) EXPECT_TRUE(f.get().ok());
  auto before = s->digest();
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), Storage::kSyncBuckets);
  uint64_t total = 0;
  for (const auto& b : *before) total += b.count;
  EXPECT_EQ(total, 300u);

  auto extra = message(account(2), 0, 5, "one more");
  must_store(*s, extra);
  auto after = s->digest();
  ASSERT_TRUE(after.ok());
  for (size_t b = 0; b < Storage::kSyncBuckets; ++b) {
    if (b == extra.hash.bytes[0])
      EXPECT_NE((*after)[b], (*before)[b]);
    else
      EXPECT_EQ((*after)[b], (*before)[b]) << "bucket " << b;
  }
}

TEST_F(StorageTest, DigestKeptInMemoryMatchesAFullScanThroughEveryKindOfWrite) {
  auto s = open();
  ASSERT_TRUE(s);
  auto same_as_scan = [&](const std::string& after) {
    auto kept = s->digest(), scanned = s->digest_by_scan();
    ASSERT_TRUE(kept.ok() && scanned.ok());
    EXPECT_TRUE(*kept == *scanned) << "after " << after;
  };
  same_as_scan("open");
  std::mt19937 rng(7);
  std::vector<StoredMessage> known;  // stored at some point, maybe gone since
  uint64_t now = kNow;
  for (int step = 0; step < 400; ++step) {
    const int what = int(rng() % 10);
    const auto acc = account(uint8_t(1 + rng() % 4));
    if (what < 5 || known.empty()) {  // a new store, in async batches
      std::vector<std::future<Result<StoreResult>>> done;
      for (int i = 0; i < 1 + int(rng() % 8); ++i) {
        auto m = message(acc, 0, now + uint64_t(step), "m" + std::to_string(step) + "." + std::to_string(i),
                         now + 1 + rng() % 5000);
        known.push_back(m);
        auto p = std::make_shared<std::promise<Result<StoreResult>>>();
        done.push_back(p->get_future());
        s->store_async(m, [p](Result<StoreResult> r) { p->set_value(std::move(r)); });
      }
      for (auto& f : done) EXPECT_TRUE(f.get().ok());
    } else if (what == 5) {  // a duplicate, or a store of a deleted hash
      (void)s->store(known[rng() % known.size()]);
    } else if (what == 6 || what == 7) {  // the owner deletes (tombstone) or a hand-over drops
      const auto& m = known[rng() % known.size()];
      auto r = what == 6 ? s->remove(m.account, m.ns, {m.hash}) : s->drop_handed_over(m.account, m.ns, {m.hash});
      EXPECT_TRUE(r.ok());
    } else {  // time passes; expired messages and tombstones are swept
      now += rng() % 2000;
      EXPECT_TRUE(s->sweep_expired(now, 1 + rng() % 20).ok());
    }
    same_as_scan("step " + std::to_string(step));
  }
  auto before = s->digest();
  s.reset();
  s = open();
  ASSERT_TRUE(s);
  EXPECT_TRUE(*s->digest() == *before) << "counted again at open";
  same_as_scan("reopen");
}

TEST_F(StorageTest, AccountsListsEveryAccountHoldingMessagesPageByPage) {
  auto s = open();
  ASSERT_TRUE(s);
  for (uint8_t n : {9, 3, 7, 1, 5}) must_store(*s, message(account(n), n % 2, 1, "of " + std::to_string(n)));
  auto gone = message(account(4), 0, 1, "deleted");
  must_store(*s, gone);
  ASSERT_EQ(s->remove(account(4), 0, {gone.hash}).value(), 1u);  // no messages left: not listed

  std::vector<swarm::AccountId> seen;
  std::optional<swarm::AccountId> after;
  for (int page = 0; page < 10; ++page) {
    bool more = false;
    auto r = s->accounts(after ? &*after : nullptr, 2, &more);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_LE(r->size(), 2u);
    for (const auto& a : *r) seen.push_back(a);
    if (!r->empty()) after = r->back();
    if (!more) break;
  }
  EXPECT_EQ(seen, (std::vector<swarm::AccountId>{account(1), account(3), account(5), account(7), account(9)}));
  bool more = true;
  EXPECT_TRUE(s->accounts(&seen.back(), 10, &more)->empty());
  EXPECT_FALSE(more);
}

TEST_F(StorageTest, MessagesOfAnAccountSpanItsNamespacesAndSkipTheExpired) {
  auto s = open();
  ASSERT_TRUE(s);
  const auto a = account(1);
  auto n0 = message(a, 0, 5, "ns 0"), n7 = message(a, 7, 1, "ns 7"), n65535 = message(a, 65535, 1, "ns 65535");
  auto expired = message(a, 0, 6, "expired", kNow - 1);
  for (auto* m : {&n7, &n65535, &n0, &expired}) must_store(*s, *m);
  must_store(*s, message(account(0), 0, 1, "before"));  // neighbours in key order
  must_store(*s, message(account(2), 0, 1, "after"));

  bool more = true;
  auto all = s->messages_of(a, 100, kNow, &more);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  EXPECT_FALSE(more);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].hash, n0.hash);
  EXPECT_EQ((*all)[1].hash, n7.hash);
  EXPECT_EQ((*all)[2].hash, n65535.hash);
  EXPECT_EQ((*all)[2].data, n65535.data);
  auto two = s->messages_of(a, 2, kNow, &more);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);
  EXPECT_TRUE(more);
  EXPECT_EQ(s->messages_of(a, 100, 0)->size(), 4u) << "the expired one too, earlier";
  EXPECT_TRUE(s->messages_of(account(3), 100, kNow)->empty());
}

TEST_F(StorageTest, BucketHashesPagesThroughOneBucketInOrder) {
  auto s = open();
  ASSERT_TRUE(s);
  std::set<std::string> want;
  const uint8_t bucket = [&] {
    // Store 2000 messages; pick the fullest bucket.
    std::map<uint8_t, int> counts;
    std::vector<std::future<Result<StoreResult>>> done;
    for (int i = 0; i < 2000; ++i) {  // queued together: a few group commits
      auto m = message(account(3), 0, uint64_t(i), "x" + std::to_string(i));
      ++counts[m.hash.bytes[0]];
      auto p = std::make_shared<std::promise<Result<StoreResult>>>();
      done.push_back(p->get_future());
      s->store_async(m, [p](Result<StoreResult> r) { p->set_value(std::move(r)); });
    }
    for (auto& f : done) EXPECT_TRUE(f.get().ok());
    return std::max_element(counts.begin(), counts.end(),
                            [](const auto& a, const auto& b) { return a.second < b.second; })
        ->first;
  }();
  for (int i = 0; i < 2000; ++i) {
    auto m = message(account(3), 0, uint64_t(i), "x" + std::to_string(i));
    if (m.hash.bytes[0] == bucket) want.insert(to_hex(m.hash.view()));
  }
  std::set<std::string> got;
  std::optional<crypto::Hash> after;
  std::string previous;
  for (int page = 0; page < 100; ++page) {
    bool more = false;
    auto r = s->bucket_hashes(bucket, after ? &*after : nullptr, 3, &more);
    ASSERT_TRUE(r.ok());
    for (const auto& h : *r) {
      EXPECT_EQ(h.bytes[0], bucket);
      const std::string hex = to_hex(h.view());
      EXPECT_GT(hex, previous);  // ascending, no repeats
      previous = hex;
      got.insert(hex);
      after = h;
    }
    if (!more) break;
  }
  EXPECT_EQ(got, want);
}

TEST_F(StorageTest, ReopenKeepsDataAndSchemaVersion) {
  auto a = account(1);
  auto m = message(a, 3, 77, "durable");
  {
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(must_store(*s, m), StoreResult::kNew);
  }
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->schema_version(), kSchemaVersion);
  auto got = all(*s, a, 3);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data, m.data);
  EXPECT_EQ(must_store(*s, m), StoreResult::kExists);
  EXPECT_EQ(s->stats()->messages, 1u);
}

// A store serves one network: the first open naming one records it (also
// for a store made before, without any), another is refused and changes
// nothing, and an open naming none checks nothing.
TEST_F(StorageTest, AStoreStaysWithTheNetworkItWasFirstOpenedFor) {
  auto a = account(1);
  {
    auto s = open();  // no network named: a store as older builds made it
    ASSERT_TRUE(s);
    EXPECT_EQ(must_store(*s, message(a, 0, 1, "before")), StoreResult::kNew);
  }
  StorageOptions mine = options(), other = options();
  mine.network_id = "net-a";
  other.network_id = "net-b";
  {
    auto s = open(mine);
    ASSERT_TRUE(s);
    EXPECT_EQ(must_store(*s, message(a, 0, 2, "in a")), StoreResult::kNew);
  }
  auto refused = Storage::open(other);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kConflict);
  EXPECT_NE(refused.status().message().find("belongs to network 'net-a', not 'net-b'"), std::string::npos)
      << refused.status().message();
  StorageOptions prefix = options();
  prefix.network_id = "net-a-and-more";  // not a prefix match
  EXPECT_EQ(Storage::open(prefix).status().code(), Code::kConflict);
  for (const StorageOptions& o : {mine, options()}) {
    auto s = open(o);
    ASSERT_TRUE(s);
    EXPECT_EQ(all(*s, a).size(), 2u);
  }
}

TEST_F(StorageTest, DestructorFinishesQueuedWrites) {
  auto a = account(1);
  std::atomic<int> done{0};
  {
    auto s = open();
    ASSERT_TRUE(s);
    for (int i = 0; i < 300; ++i) {
      s->store_async(message(a, 0, i, "q" + std::to_string(i)), [&](Result<StoreResult> r) {
        if (r.ok() && r.value() == StoreResult::kNew) ++done;
      });
    }
  }
  EXPECT_EQ(done.load(), 300);
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(all(*s, a).size(), 300u);
}

TEST_F(StorageTest, NewerSchemaVersionIsRefused) {
  { ASSERT_TRUE(open()); }
  // Bump meta/schema_version with raw LMDB, as a future build would.
  {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
    ASSERT_EQ(mdb_env_open(env, options().path.c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi meta;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    const uint8_t v[4] = {0, 0, 0, uint8_t(kSchemaVersion + 1)};
    std::string key = "schema_version";
    MDB_val k{key.size(), key.data()}, val{4, const_cast<uint8_t*>(v)};
    ASSERT_EQ(mdb_put(txn, meta, &k, &val, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto r = Storage::open(options());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  const std::string want = "data dir schema version " + std::to_string(kSchemaVersion + 1) +
                           " is newer than this build's " + std::to_string(kSchemaVersion);
  EXPECT_NE(r.status().message().find(want), std::string::npos)
      << r.status().message();
}

TEST_F(StorageTest, ConcurrentStoreAsyncAllCompleteAndArePresent) {
  auto s = open();
  ASSERT_TRUE(s);
  constexpr int kThreads = 8, kPerThread = 200;
  std::mutex mu;
  std::condition_variable cv;
  int completed = 0, fresh = 0;
  auto done = [&](Result<StoreResult> r) {
    std::lock_guard lk(mu);
    ++completed;
    if (r.ok() && r.value() == StoreResult::kNew) ++fresh;
    cv.notify_all();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        s->store_async(message(account(uint8_t(t)), 0, i, std::to_string(t) + "/" + std::to_string(i)),
                       done);
      }
    });
  }
  for (auto& th : threads) th.join();
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(60),
                            [&] { return completed == kThreads * kPerThread; }));
  }
  EXPECT_EQ(fresh, kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(all(*s, account(uint8_t(t))).size(), size_t(kPerThread));
  auto st = s->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->messages, uint64_t(kThreads * kPerThread));
  EXPECT_LE(s->commits(), uint64_t(kThreads * kPerThread));
}

TEST_F(StorageTest, GroupCommitBatchesQueuedWrites) {
  auto s = open();  // max_batch 1024
  ASSERT_TRUE(s);
  // Hold the committer inside the first callback until 8 threads have queued
  // 200 stores each; they must then go out in ceil(1600 / 1024) = 2 commits.
  std::promise<void> release, holding;
  auto release_f = release.get_future().share();
  s->store_async(message(account(99), 0, 0, "hold"), [&](Result<StoreResult>) {
    holding.set_value();
    release_f.wait();
  });
  holding.get_future().wait();
  const uint64_t before = s->commits();

  std::atomic<int> fresh{0}, completed{0};
  std::promise<void> all_done;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        s->store_async(message(account(uint8_t(t)), 0, i, "g" + std::to_string(t * 1000 + i)),
                       [&](Result<StoreResult> r) {
                         if (r.ok() && r.value() == StoreResult::kNew) ++fresh;
                         if (++completed == 1600) all_done.set_value();
                       });
      }
    });
  }
  for (auto& th : threads) th.join();
  release.set_value();
  all_done.get_future().wait();
  EXPECT_EQ(fresh.load(), 1600);
  EXPECT_EQ(s->commits() - before, 2u);
  EXPECT_EQ(s->stats()->messages, 1601u);
}

TEST_F(StorageTest, MapFullIsAnErrorNotACrashAndDeletesStillWork) {
  auto o = options();
  o.map_size = size_t(4) << 20;  // 1024 pages
  o.max_message_bytes = 4096;
  auto s = open(o);
  ASSERT_TRUE(s);
  auto a = account(1);
  std::vector<std::future<Result<StoreResult>>> pending;
  for (int i = 0; i < 5000; ++i) {
    auto p = std::make_shared<std::promise<Result<StoreResult>>>();
    pending.push_back(p->get_future());
    s->store_async(message(a, 0, i, std::string(1000, char('a' + i % 26)) + std::to_string(i)),
                   [p](Result<StoreResult> r) { p->set_value(std::move(r)); });
  }
  size_t stored = 0, full = 0;
  for (auto& f : pending) {
    auto r = f.get();
    if (r.ok()) {
      EXPECT_EQ(r.value(), StoreResult::kNew);
      ++stored;
    } else {
      EXPECT_EQ(r.status().code(), Code::kStorageFull) << r.status().to_string();
      EXPECT_NE(r.status().message().find("full"), std::string::npos);
      ++full;
    }
  }
  EXPECT_GT(stored, 0u);
  EXPECT_GT(full, 0u);
  EXPECT_EQ(s->stats()->messages, stored);
  std::vector<crypto::Hash> hashes;
  Cursor c;
  for (bool more = true; more;) {
    auto page = s->retrieve(a, 0, c, 1000, kNow, &more);
    ASSERT_TRUE(page.ok());
    for (auto& m : *page) hashes.push_back(m.hash);
    if (!page->empty()) c = Cursor{page->back().timestamp_ms, page->back().hash};
  }
  EXPECT_EQ(hashes.size(), stored);

  // A full node can still delete (in request-sized chunks) and sweep, and
  // then store again.
  size_t removed = 0;
  for (size_t i = 0; i < hashes.size(); i += 10) {
    std::vector<crypto::Hash> chunk(hashes.begin() + i,
                                    hashes.begin() + std::min(hashes.size(), i + 10));
    auto r = s->remove(a, 0, chunk);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    removed += *r;
  }
  EXPECT_EQ(removed, stored);
  EXPECT_TRUE(*s->digest() == *s->digest_by_scan());
  EXPECT_EQ(must_store(*s, message(a, 0, 5000, "after", kNow)), StoreResult::kNew);
  EXPECT_EQ(s->sweep_expired(kNow).value(), 1u);
  EXPECT_EQ(must_store(*s, message(a, 0, 5001, "again")), StoreResult::kNew);
}

TEST_F(StorageTest, SweepOfAFullMapStillExpiresEverything) {
  // Many small messages fill the map's pages; expiring them all at once
  // copies nearly every page, more than the reserve holds. The sweep then
  // runs in smaller transactions and still removes them all.
  auto o = options();
  o.map_size = size_t(2) << 20;
  auto s = open(o);
  ASSERT_TRUE(s);
  std::vector<std::future<Result<StoreResult>>> pending;
  for (int i = 0; i < 20000; ++i) {
    auto p = std::make_shared<std::promise<Result<StoreResult>>>();
    pending.push_back(p->get_future());
    s->store_async(message(account(uint8_t(i % 200)), 0, i, "small " + std::to_string(i), kNow + 1),
                   [p](Result<StoreResult> r) { p->set_value(std::move(r)); });
  }
  size_t stored = 0, full = 0;
  for (auto& f : pending) {
    auto r = f.get();
    if (r.ok() && r.value() == StoreResult::kNew) ++stored;
    if (!r.ok() && r.status().code() == Code::kStorageFull) ++full;
  }
  ASSERT_GT(full, 0u) << "the map never filled";
  auto swept = s->sweep_expired(kNow + 1);
  ASSERT_TRUE(swept.ok()) << swept.status().to_string();
  EXPECT_EQ(*swept, stored);
  EXPECT_EQ(s->stats()->messages, 0u);
  // The sweep's aborted transactions (map full) changed no kept digest.
  EXPECT_TRUE(*s->digest() == *s->digest_by_scan());
  EXPECT_EQ(must_store(*s, message(account(1), 0, 1, "room again")), StoreResult::kNew);
}

TEST_F(StorageTest, BlockingWriteFromCallbackIsRefused) {
  auto s = open();
  ASSERT_TRUE(s);
  std::promise<Code> code;
  s->store_async(message(account(1), 0, 1, "x"), [&](Result<StoreResult>) {
    auto r = s->sweep_expired(kNow);
    code.set_value(r.ok() ? Code::kOk : r.status().code());
  });
  EXPECT_EQ(code.get_future().get(), Code::kInternal);
}

TEST_F(StorageTest, EnvironmentIsOpenedWithoutAnyNoSyncFlag) {
  auto s = open();
  ASSERT_TRUE(s);
  const unsigned flags = s->env_flags();
  EXPECT_EQ(flags & MDB_NOSYNC, 0u);
  EXPECT_EQ(flags & MDB_NOMETASYNC, 0u);
  EXPECT_EQ(flags & MDB_MAPASYNC, 0u);
  EXPECT_EQ(flags & MDB_WRITEMAP, 0u);
  EXPECT_EQ(flags & MDB_RDONLY, 0u);
  // The data and lock files are owner-only.
  for (const char* f : {"/data.mdb", "/lock.mdb"}) {
    struct stat st {};
    ASSERT_EQ(::stat((options().path + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
}

TEST_F(StorageTest, AcknowledgementRunsOnlyAfterItsCommitReturned) {
  auto s = open();
  ASSERT_TRUE(s);
  // The observer is the completion itself: when it runs, the commit that
  // holds the message has returned (the commit counter moved past it) and
  // a fresh read transaction already sees the message.
  for (int i = 0; i < 50; ++i) {
    StoredMessage m = message(account(1), 0, kNow + i, "acked " + std::to_string(i));
    const crypto::Hash h = m.hash;
    const uint64_t commits_before = s->commits();
    std::promise<std::tuple<bool, uint64_t, bool>> seen;
    Storage* raw = s.get();
    s->store_async(std::move(m), [&, raw, h](Result<StoreResult> r) {
      auto got = raw->get(h, kNow);
      seen.set_value({r.ok() && *r == StoreResult::kNew, raw->commits(), got.ok() && got->has_value()});
    });
    auto [stored, commits_at_ack, visible] = seen.get_future().get();
    EXPECT_TRUE(stored) << i;
    EXPECT_GT(commits_at_ack, commits_before) << "acknowledged before its commit: " << i;
    EXPECT_TRUE(visible) << "acknowledged but not readable: " << i;
  }
}

// Forks a process that opens the environment read-only and signals on a
// pipe once it holds the environment (and, with `read`, a read transaction
// too), then waits to be killed. Returns its pid, or -1.
pid_t fork_lmdb_reader(const std::string& path, bool read) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::close(ready[0]);
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    char ok = (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 8) == 0 &&
               mdb_env_open(env, path.c_str(), MDB_NOTLS | MDB_RDONLY, 0600) == 0 &&
               (!read || mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0))
                  ? '1'
                  : '0';
    [[maybe_unused]] auto n = ::write(ready[1], &ok, 1);
    for (int i = 0; i < 600; ++i) ::sleep(1);  // until killed (bounded)
    ::_exit(0);
  }
  ::close(ready[1]);
  char ok = 0;
  bool opened = ::read(ready[0], &ok, 1) == 1 && ok == '1';
  ::close(ready[0]);
  if (!opened) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST_F(StorageTest, StaleReaderSlotOfAKilledProcessIsClearedAtOpen) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    must_store(*s, message(account(2), 0, kNow, "before the crash"));
  }
  // LMDB resets its reader table when the opener is alone, so a stale slot
  // only survives while another process keeps the environment open (a
  // backup, a second reader). `holder` plays that part; `reader` starts a
  // read transaction and is killed with SIGKILL while holding it.
  const std::string path = options().path;
  pid_t holder = fork_lmdb_reader(path, false);
  ASSERT_GT(holder, 0) << "the holder could not open the environment";
  pid_t reader = fork_lmdb_reader(path, true);
  if (reader <= 0) kill_and_reap(holder);
  ASSERT_GT(reader, 0) << "the reader could not open a read transaction";
  kill_and_reap(reader);

  auto s = open();
  kill_and_reap(holder);
  ASSERT_TRUE(s);
  EXPECT_GE(s->stale_readers_cleared(), 1);
  EXPECT_EQ(all(*s, account(2)).size(), 1u);
  // Writes work as before.
  EXPECT_EQ(must_store(*s, message(account(2), 0, kNow + 1, "after the crash")), StoreResult::kNew);
}

}  // namespace
}  // namespace onionswarm::node
