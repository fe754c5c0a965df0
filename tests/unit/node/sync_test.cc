// The peer side of catch-up (answer_sync_request) against a real LMDB store,
// and when the requesting side's next round comes (next_round_wait_ms). The
// requesting side runs against real node processes in
// tests/integration/durability_test.cc.
#include "node/sync.h"

#include <gtest/gtest.h>

#include "onion/encoding.h"
#include "test_support.h"

namespace onionswarm::node {
namespace {

using nlohmann::json;

class SyncAnswer : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    StorageOptions o;
    o.path = dir_.path() + "/db";
    o.map_size = size_t(64) << 20;
    auto s = Storage::open(o);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    storage_ = std::move(*s);
    for (int i = 0; i < 5; ++i) {
      StoredMessage m;
      m.account.key.fill(9);
      m.timestamp_ms = 1000 + uint64_t(i);
      m.expiry_ms = kLater;
      m.data = crypto::random_bytes(40);
      m.hash = crypto::hash(m.data);
      ASSERT_TRUE(storage_->store(m).ok());
      hashes_.push_back(m.hash);
    }
  }
  Result<json> ask(const json& req) { return answer_sync_request(*storage_, req, 2000); }

  static constexpr uint64_t kLater = 1ull << 50;
  test::TempDir dir_;
  std::unique_ptr<Storage> storage_;
  std::vector<crypto::Hash> hashes_;
};

TEST_F(SyncAnswer, DigestHas256BucketsCountingEveryMessage) {
  auto r = ask({{"op", "digest"}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ((*r)["buckets"].size(), 256u);
  uint64_t total = 0;
  for (const auto& b : (*r)["buckets"]) total += b[0].get<uint64_t>();
  EXPECT_EQ(total, 5u);
}

TEST_F(SyncAnswer, ListAndFetchReturnStoredMessages) {
  const uint8_t bucket = hashes_[0].bytes[0];
  auto listed = ask({{"op", "list"}, {"bucket", bucket}});
  ASSERT_TRUE(listed.ok());
  bool found = false;
  for (const auto& h : (*listed)["hashes"]) found |= h == to_hex(hashes_[0].view());
  EXPECT_TRUE(found);
  auto fetched = ask({{"op", "fetch"}, {"hashes", {to_hex(hashes_[0].view()), std::string(64, '0')}}});
  ASSERT_TRUE(fetched.ok());
  ASSERT_EQ((*fetched)["messages"].size(), 1u);  // the unknown hash is skipped
  EXPECT_EQ((*fetched)["messages"][0]["timestamp"], 1000);
}

TEST_F(SyncAnswer, MalformedRequestsAreRefused) {
  EXPECT_EQ(ask(json::array()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ask({{"op", "format"}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ask({{"op", "list"}, {"bucket", 256}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ask({{"op", "list"}, {"bucket", -1}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ask({{"op", "list"}, {"bucket", 1}, {"after", "zz"}}).status().code(), Code::kInvalidArgument);
  json many = json::array();
  for (size_t i = 0; i <= kMaxSyncFetch; ++i) many.push_back(std::string(64, 'a'));
  EXPECT_EQ(ask({{"op", "fetch"}, {"hashes", many}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ask({{"op", "fetch"}, {"hashes", {"nothex"}}}).status().code(), Code::kInvalidArgument);
}

// A backlog larger than one round (or one hand-over pass) is worked off
// round after round without a pause; a pause only where nothing moved.
TEST(SyncSchedule, ARoundCutShortIsFollowedAtOnce) {
  SyncOptions o;
  o.interval_ms = 60'000;
  o.handoff_retry_ms = 2'000;
  EXPECT_EQ(next_round_wait_ms(o, /*cut_short=*/true, /*retry=*/false), 0u);
  EXPECT_EQ(next_round_wait_ms(o, /*cut_short=*/true, /*retry=*/true), 0u);
  EXPECT_EQ(next_round_wait_ms(o, /*cut_short=*/false, /*retry=*/true), 2'000u);
  EXPECT_EQ(next_round_wait_ms(o, /*cut_short=*/false, /*retry=*/false), 60'000u);
  o.interval_ms = 500;  // a retry never waits longer than a whole interval
  EXPECT_EQ(next_round_wait_ms(o, /*cut_short=*/false, /*retry=*/true), 500u);
}

}  // namespace
}  // namespace onionswarm::node
