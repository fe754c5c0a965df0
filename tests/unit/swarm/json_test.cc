#include "swarm/json.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace onionswarm::swarm {
namespace {

std::string nested_arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
std::string nested_objects(size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s += std::string(depth, '}');
  return s;
}

TEST(ParseJson, AcceptsWellFormedObject) {
  auto j = parse_json(R"({"a": 1, "b": [true, null, "x"], "c": {"d": -2.5}})");
  ASSERT_TRUE(j.ok()) << j.status().to_string();
  EXPECT_EQ((*j)["a"], 1);
  EXPECT_EQ((*j)["b"][2], "x");
  EXPECT_EQ((*j)["c"]["d"], -2.5);
}

TEST(ParseJson, AcceptsScalarsAtTopLevel) {
  EXPECT_EQ(*parse_json("42"), 42);
  EXPECT_EQ(*parse_json("\"s\""), "s");
}

TEST(ParseJson, AcceptsNestingUpToTheLimit) {
  EXPECT_TRUE(parse_json(nested_arrays(16), 16).ok());
  EXPECT_TRUE(parse_json(nested_objects(16), 16).ok());
  EXPECT_TRUE(parse_json(nested_arrays(3), 3).ok());
}

TEST(ParseJson, RefusesNestingOneBeyondTheLimit) {
  for (const auto& text : {nested_arrays(17), nested_objects(17)}) {
    auto j = parse_json(text, 16);
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(j.status().message(), "JSON too deep");
  }
  EXPECT_FALSE(parse_json(nested_arrays(4), 3).ok());
}

TEST(ParseJson, RefusesTenThousandDeepArrayQuicklyWithoutCrashing) {
  const auto start = std::chrono::steady_clock::now();
  auto j = parse_json(nested_arrays(10'000));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(), "JSON too deep");
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  // Unterminated: the depth verdict wins over the syntax error.
  auto k = parse_json(std::string(10'000, '['));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().message(), "JSON too deep");
}

TEST(ParseJson, RefusesTextLargerThanTheLimit) {
  std::string text = "\"" + std::string(100, 'x') + "\"";
  EXPECT_TRUE(parse_json(text, 16, text.size()).ok());
  auto j = parse_json(text, 16, text.size() - 1);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(j.status().message(), "JSON too large");
  auto big = parse_json(std::string(kDefaultMaxJsonBytes + 1, ' '));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().message(), "JSON too large");
}

TEST(ParseJson, RefusesMalformedJson) {
  for (const char* text : {"", "{", "{\"a\":}", "[1,]", "{'a':1}", "nul", "{\"a\":1}x", "01", "\"\\x\""}) {
    auto j = parse_json(text);
    ASSERT_FALSE(j.ok()) << text;
    EXPECT_EQ(j.status().code(), Code::kInvalidArgument) << text;
    EXPECT_EQ(j.status().message().rfind("bad JSON", 0), 0u) << j.status().message();
  }
}

}  // namespace
}  // namespace onionswarm::swarm
