#include "onion/wire.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "onion/encoding.h"

namespace onionswarm::wire {
namespace {

TEST(Wire, EncodesHeaderBigEndian) {
  Header h{kVersion, Type::kOnionResponse, 0x0102030405060708ull};
  Bytes b = encode_header(h);
  EXPECT_EQ(b, (Bytes{0x01, 0x02, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
  EXPECT_EQ(b.size(), kHeaderSize);
}

TEST(Wire, HeaderRoundTripsForEveryType) {
  for (Type t : {Type::kOnionRequest, Type::kOnionResponse, Type::kError, Type::kReplicate,
                 Type::kReplicateAck}) {
    Header h{kVersion, t, 0xfedcba9876543210ull};
    auto r = decode_header(encode_header(h));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->version, kVersion);
    EXPECT_EQ(r->type, t);
    EXPECT_EQ(r->request_id, 0xfedcba9876543210ull);
  }
}

TEST(Wire, DecodeRejectsWrongSize) {
  Bytes b = encode_header({});
  for (size_t n : {size_t(0), size_t(1), size_t(9)}) {
    auto r = decode_header(ByteView(b).first(n));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
  b.push_back(0);
  EXPECT_FALSE(decode_header(b).ok());
}

TEST(Wire, DecodeRejectsUnknownType) {
  for (uint8_t t : {0x00, 0x04, 0x0f, 0x17, 0xff}) {
    Bytes b = encode_header({});
    b[1] = t;
    auto r = decode_header(b);
    ASSERT_FALSE(r.ok()) << int(t);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

TEST(Wire, DecodeRejectsOtherVersionWithExactMessage) {
  Bytes b = encode_header({});
  b[0] = 2;
  auto r = decode_header(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "unsupported protocol version 2");
  b[0] = 0;
  EXPECT_EQ(decode_header(b).status().message(), "unsupported protocol version 0");
}

TEST(Wire, GoldenVectorsMatch) {
  std::ifstream in(std::string(ONIONSWARM_VECTORS_DIR) + "/onion_wire.json");
  ASSERT_TRUE(in.good());
  auto doc = nlohmann::json::parse(in);
  size_t checked = 0;
  for (const auto& v : doc.at("valid")) {
    auto bytes = from_hex(v.at("hex").get<std::string>());
    ASSERT_TRUE(bytes.ok());
    Header h{v.at("version").get<uint8_t>(), static_cast<Type>(v.at("type").get<uint8_t>()),
             std::stoull(v.at("request_id").get<std::string>())};
    EXPECT_EQ(encode_header(h), *bytes);
    auto r = decode_header(*bytes);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->request_id, h.request_id);
    EXPECT_EQ(r->type, h.type);
    ++checked;
  }
  for (const auto& v : doc.at("invalid")) {
    auto bytes = from_hex(v.at("hex").get<std::string>());
    ASSERT_TRUE(bytes.ok());
    auto r = decode_header(*bytes);
    ASSERT_FALSE(r.ok()) << v.at("hex");
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    if (v.contains("message")) {
      EXPECT_EQ(r.status().message(), v.at("message").get<std::string>());
    }
    ++checked;
  }
  EXPECT_GT(checked, 0u);
}

}  // namespace
}  // namespace onionswarm::wire
