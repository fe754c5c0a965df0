#include "onion/padding.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

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

TEST(Padding, RequestLadderIsTheAnswerLadderWith4096AndWithoutTheAnswerOnlyBucket) {
  for (size_t i = 0; i + 1 < kRequestBuckets.size(); ++i) {
    EXPECT_EQ(request_bucket_for(kRequestBuckets[i]), kRequestBuckets[i]);
    EXPECT_EQ(request_bucket_for(kRequestBuckets[i] + 1), kRequestBuckets[i + 1]);
  }
  EXPECT_EQ(request_bucket_for(2049), 4096u);
  EXPECT_EQ(bucket_for(2049), 8192u);
  EXPECT_EQ(request_bucket_for(131072), 131072u);
  EXPECT_EQ(request_bucket_for(131073), 0u);
  for (size_t b : kRequestBuckets)
    if (b != 4096) {
      EXPECT_EQ(bucket_for(b), b) << b;
    }
}

TEST(Padding, RequestPaddingOkOnEitherLadderOnly) {
  EXPECT_TRUE(request_padding_ok(512, 13));
  EXPECT_TRUE(request_padding_ok(4096, 2100));   // this release
  EXPECT_TRUE(request_padding_ok(8192, 2100));   // the first release
  EXPECT_FALSE(request_padding_ok(2048, 2100));  // too small
  EXPECT_FALSE(request_padding_ok(32768, 2100));
  EXPECT_FALSE(request_padding_ok(8192, 2048));  // 2048 on both ladders
  EXPECT_FALSE(request_padding_ok(4096, 5000));
  EXPECT_TRUE(request_padding_ok(8192, 5000));
  EXPECT_TRUE(request_padding_ok(131072, 131072));
  EXPECT_FALSE(request_padding_ok(163840, 131073));  // the answer-only bucket
  EXPECT_FALSE(request_padding_ok(0, size_t(-1)));
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

// tests/vectors/padding.json pins both ladders and, for sizes at every
// edge, the request and answer buckets and every request padding a
// destination accepts (docs/PROTOCOL.md 5.4, section 13).
TEST(Padding, VectorsPinBothLaddersAndTheAcceptedRequestPaddings) {
  const std::string path = std::string(ONIONSWARM_VECTORS_DIR) + "/padding.json";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  const auto doc = nlohmann::json::parse(in);
  const auto requests = doc.at("request_buckets").get<std::vector<size_t>>();
  const auto answers = doc.at("answer_buckets").get<std::vector<size_t>>();
  EXPECT_EQ(requests, std::vector<size_t>(kRequestBuckets.begin(), kRequestBuckets.end()));
  EXPECT_EQ(answers, std::vector<size_t>(kBuckets.begin(), kBuckets.end()));
  ASSERT_GE(doc.at("cases").size(), 10u);
  for (const auto& c : doc.at("cases")) {
    const size_t n = c.at("n").get<size_t>();
    EXPECT_EQ(request_bucket_for(n), c.at("request_bucket").get<size_t>()) << n;
    EXPECT_EQ(bucket_for(n), c.at("answer_bucket").get<size_t>()) << n;
    const auto accepted = c.at("request_paddings_accepted").get<std::vector<size_t>>();
    std::vector<size_t> sizes = requests;
    sizes.insert(sizes.end(), answers.begin(), answers.end());
    sizes.insert(sizes.end(), {n, n + 1, 100});
    for (size_t padded : sizes) {
      const bool listed = std::find(accepted.begin(), accepted.end(), padded) != accepted.end();
      EXPECT_EQ(request_padding_ok(padded, n), listed) << "n " << n << ", padded " << padded;
    }
  }
}

}  // namespace
}  // namespace onionswarm::onion
