#include "onion/status.h"

#include <gtest/gtest.h>

#include <string>

namespace onionswarm {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.to_string(), "ok");
  EXPECT_TRUE(Status::ok_status().ok());
}

TEST(Status, ToStringHasCodeNameAndMessage) {
  Status s = error(Code::kInvalidArgument, "bad hex");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad hex");
  EXPECT_EQ(s.to_string(), "invalid_argument: bad hex");
  EXPECT_EQ(error(Code::kTimeout, "").to_string(), "timeout");
}

TEST(Status, CodeNamesRoundTripForEveryCode) {
  for (int c = static_cast<int>(Code::kOk); c <= static_cast<int>(Code::kStorageFull); ++c) {
    Code code = static_cast<Code>(c);
    EXPECT_EQ(code_from_name(code_name(code)), code) << code_name(code);
  }
  EXPECT_EQ(code_name(Code::kWrongSwarm), "wrong_swarm");
  EXPECT_EQ(code_name(Code::kNotFound), "not_found");
}

TEST(Status, UnknownCodeNameMapsToInternal) {
  EXPECT_EQ(code_from_name("no_such_code"), Code::kInternal);
  EXPECT_EQ(code_from_name(""), Code::kInternal);
}

TEST(Result, HoldsValueWhenConstructedFromValue) {
  Result<std::string> r(std::string("abc"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(*r, "abc");
  EXPECT_EQ(r->size(), 3u);
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "abc");
}

TEST(Result, HoldsStatusWhenConstructedFromError) {
  Result<int> r = error(Code::kNotFound, "missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "missing");
}

}  // namespace
}  // namespace onionswarm
