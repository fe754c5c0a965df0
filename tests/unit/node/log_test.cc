#include "node/log.h"

#include <gtest/gtest.h>

#include <string>

namespace onionswarm::node {
namespace {

TEST(ParseLogLevel, AcceptsTheFourNames) {
  EXPECT_EQ(*parse_log_level("error"), LogLevel::kError);
  EXPECT_EQ(*parse_log_level("warn"), LogLevel::kWarn);
  EXPECT_EQ(*parse_log_level("info"), LogLevel::kInfo);
  EXPECT_EQ(*parse_log_level("debug"), LogLevel::kDebug);
}

TEST(ParseLogLevel, RefusesAnythingElse) {
  for (const char* s : {"", "INFO", "warning", "trace", " info", "info ", "3"}) {
    auto r = parse_log_level(s);
    ASSERT_FALSE(r.ok()) << "'" << s << "'";
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace onionswarm::node
