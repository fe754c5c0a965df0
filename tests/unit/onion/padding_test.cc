#include "onion/padding.h"

#include <gtest/gtest.h>

namespace onionswarm::onion {
namespace {

TEST(Padding, SmallestBucketForSmallSizes) {
  EXPECT_EQ(bucket_for(0), 512u);
  EXPECT_EQ(bucket_for(1), 512u);
  EXPECT_EQ(bucket_for(512), 512u);
}

TEST(Padding, NextBucketJustAboveEachEdge) {
  for (size_t i = 0; i + 1 < kBuckets.size(); ++i) {
    EXPECT_EQ(bucket_for(kBuckets[i]), kBuckets[i]);
    EXPECT_EQ(bucket_for(kBuckets[i] + 1), kBuckets[i + 1]);
    EXPECT_EQ(bucket_for(kBuckets[i] - 1), kBuckets[i]);
  }
}

TEST(Padding, LargestBucketIsLimit) {
  EXPECT_EQ(bucket_for(131072), 131072u);
  EXPECT_EQ(bucket_for(131073), 163840u);
  EXPECT_EQ(bucket_for(163840), 163840u);
  EXPECT_EQ(bucket_for(163841), 0u);
  EXPECT_EQ(bucket_for(size_t(-1)), 0u);
}

TEST(Padding, RequestBucketIsOneOfTheBuckets) {
  EXPECT_EQ(bucket_for(kMaxRequestBucket), kMaxRequestBucket);
  EXPECT_LT(kMaxRequestBucket, kBuckets.back());
}

TEST(Padding, BucketsAscending) {
  for (size_t i = 1; i < kBuckets.size(); ++i) EXPECT_LT(kBuckets[i - 1], kBuckets[i]);
}

}  // namespace
}  // namespace onionswarm::onion
