#include "node/limits.h"

#include <gtest/gtest.h>

#include <string>

namespace onionswarm::node {
namespace {

constexpr uint64_t kWindow = 30ull * 60 * 1000;
constexpr uint64_t kNow = 1'700'000'000'000;

Bytes key_of(int i) {
  Bytes k(32, 0);
  k[0] = uint8_t(i);
  k[1] = uint8_t(i >> 8);
  k[2] = uint8_t(i >> 16);
  return k;
}

TEST(LayerReplayCache, RefusesTheSameKeyTwice) {
  LayerReplayCache c(100, kWindow);
  EXPECT_TRUE(c.check_and_insert(key_of(1), kNow, kNow).ok());
  auto again = c.check_and_insert(key_of(1), kNow, kNow + 5);
  EXPECT_EQ(again.code(), Code::kReplay);
  EXPECT_TRUE(c.check_and_insert(key_of(2), kNow, kNow + 5).ok());
  EXPECT_EQ(c.size(), 2u);
}

TEST(LayerReplayCache, RemembersUntilTheTimestampLeavesTheWindow) {
  LayerReplayCache c(100, kWindow);
  // A layer stamped in the future must be remembered longer.
  const uint64_t future_ts = kNow + kWindow;
  ASSERT_TRUE(c.check_and_insert(key_of(1), kNow, kNow).ok());
  ASSERT_TRUE(c.check_and_insert(key_of(2), future_ts, kNow).ok());
  // Up to and including ts + window the key is still refused.
  EXPECT_EQ(c.check_and_insert(key_of(1), kNow, kNow + kWindow).code(), Code::kReplay);
  EXPECT_EQ(c.check_and_insert(key_of(2), future_ts, kNow + 2 * kWindow).code(), Code::kReplay);
  // Past it the key may be forgotten (the timestamp check refuses it instead).
  EXPECT_TRUE(c.check_and_insert(key_of(3), kNow + 2 * kWindow + 1, kNow + 2 * kWindow + kWindow / 8).ok());
  EXPECT_EQ(c.size(), 1u);  // keys 1 and 2 are forgotten
}

TEST(LayerReplayCache, FullOfLiveKeysForgetsTheOldestAndRefusesLayersThatOld) {
  LayerReplayCache c(10, kWindow);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.check_and_insert(key_of(i), kNow + i, kNow + 10).ok());
  // A newer layer still gets in: the oldest key (0) makes room.
  EXPECT_TRUE(c.check_and_insert(key_of(99), kNow + 20, kNow + 30).ok());
  EXPECT_EQ(c.size(), 10u);
  EXPECT_EQ(c.evicted(), 1u);
  EXPECT_EQ(c.horizon_ms(kNow + 30), 29u) << "the oldest key held is layer 1's";
  // Layer 0 again: forgotten, and refused by its age instead.
  const Status again = c.check_and_insert(key_of(0), kNow, kNow + 31);
  EXPECT_EQ(again.code(), Code::kStale) << again.to_string();
  // Every remembered key is still refused as a replay.
  for (int i = 1; i < 10; ++i) EXPECT_EQ(c.check_and_insert(key_of(i), kNow + i, kNow + 32).code(), Code::kReplay);
  // A new layer no newer than the oldest held one is refused without evicting anything.
  EXPECT_EQ(c.check_and_insert(key_of(98), kNow + 1, kNow + 33).code(), Code::kStale);
  EXPECT_EQ(c.evicted(), 1u);
  // Once they expire there is room again, and the whole window.
  EXPECT_TRUE(c.check_and_insert(key_of(98), kNow + 3 * kWindow, kNow + 3 * kWindow).ok());
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.horizon_ms(kNow + 3 * kWindow), kWindow);
}

TEST(LayerReplayCache, StaleKeysAreNotStored) {
  LayerReplayCache c(10, kWindow);
  EXPECT_TRUE(c.check_and_insert(key_of(1), kNow - 2 * kWindow, kNow).ok());
  EXPECT_EQ(c.size(), 0u);
}

TEST(LayerReplayCache, ManyKeysStayDistinct) {
  LayerReplayCache c(50'000, kWindow);
  for (int i = 0; i < 50'000; ++i) ASSERT_TRUE(c.check_and_insert(key_of(i), kNow + i % 1000, kNow).ok()) << i;
  for (int i = 0; i < 50'000; i += 97) EXPECT_EQ(c.check_and_insert(key_of(i), kNow, kNow).code(), Code::kReplay);
  EXPECT_EQ(c.size(), 50'000u);
}

TEST(RateLimiter, AllowsBurstThenRefusesUntilRefilled) {
  RateLimiter r(10, 5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(r.admit("a", kNow)) << i;
  EXPECT_FALSE(r.admit("a", kNow));
  // Another key has its own bucket.
  EXPECT_TRUE(r.admit("b", kNow));
  // 10 per second: one token after 100 ms.
  EXPECT_FALSE(r.admit("a", kNow + 50));
  EXPECT_TRUE(r.admit("a", kNow + 150));
  EXPECT_FALSE(r.admit("a", kNow + 150));
}

TEST(RateLimiter, RateZeroIsOff) {
  RateLimiter r(0, 1);
  EXPECT_FALSE(r.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(r.admit("a", kNow));
  EXPECT_EQ(r.keys(), 0u);
}

TEST(RateLimiter, BoundedKeysDropIdleBucketsOrRefuseNewKeys) {
  RateLimiter r(10, 2, 3);
  // Three busy keys (buckets not full).
  for (std::string k : {"a", "b", "c"}) ASSERT_TRUE(r.admit(k, kNow));
  EXPECT_FALSE(r.admit("d", kNow)) << "a fourth key must not grow the table while the others are busy";
  EXPECT_EQ(r.keys(), 3u);
  // A second later all three have refilled: they are idle and make room.
  EXPECT_TRUE(r.admit("d", kNow + 1000));
  EXPECT_LE(r.keys(), 3u);
}

}  // namespace
}  // namespace onionswarm::node
