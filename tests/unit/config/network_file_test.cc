#include "config/network_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace onionswarm::config {
namespace {

const std::string kEd1(64, 'a');
const std::string kX1(64, 'b');
const std::string kEd2(64, 'c');
const std::string kX2(64, 'd');

std::string node_json(const std::string& address, const std::string& ed, const std::string& x) {
  return R"({"address":")" + address + R"(","ed25519":")" + ed + R"(","x25519":")" + x + R"("})";
}

std::string two_nodes() {
  return R"({"network_id":"test-net","swarm_size":3,"nodes":[)" + node_json("tcp://127.0.0.1:4501", kEd1, kX1) +
         "," + node_json("tcp://127.0.0.1:4502", kEd2, kX2) + "]}";
}

// Expects kInvalidArgument whose message starts with `prefix`.
void expect_invalid(std::string_view json, const std::string& prefix) {
  auto r = parse_network_file(json);
  ASSERT_FALSE(r.ok()) << json;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind(prefix, 0), 0u) << "message: " << r.status().message();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "netfile-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(NetworkFile, ParsesGoodFile) {
  auto r = parse_network_file(two_nodes());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->network_id, "test-net");
  EXPECT_EQ(r->swarm_size, 3u);
  ASSERT_EQ(r->nodes.size(), 2u);
  EXPECT_EQ(r->nodes[0].address, "tcp://127.0.0.1:4501");
  EXPECT_EQ(r->nodes[0].ed25519.bytes[0], 0xaa);
  EXPECT_EQ(r->nodes[0].x25519.bytes[31], 0xbb);
  EXPECT_EQ(r->nodes[1].ed25519.bytes[5], 0xcc);
}

TEST(NetworkFile, DefaultsSwarmSizeAndAllowsEmptyNodeList) {
  auto r = parse_network_file(R"({"network_id":"devnet-01ab","nodes":[]})");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->swarm_size, kDefaultSwarmSize);
  EXPECT_TRUE(r->nodes.empty());
}

TEST(NetworkFile, AcceptsUpperCaseHexHostnamesAndIpv6) {
  std::string json = R"({"network_id":"n","nodes":[)" +
                     node_json("tcp://node-1.example.org:65535", std::string(64, 'C'), std::string(64, 'F')) + "," +
                     node_json("tcp://[::1]:1", kEd1, kX1) + "]}";
  auto r = parse_network_file(json);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->nodes[0].ed25519.bytes[0], 0xcc);
  EXPECT_EQ(r->nodes[1].address, "tcp://[::1]:1");
}

TEST(NetworkFile, DuplicateKeysAreFoundWhateverTheHexCase) {
  std::string json = R"({"network_id":"n","nodes":[)" + node_json("tcp://127.0.0.1:1", kEd1, kX1) + "," +
                     node_json("tcp://127.0.0.1:2", std::string(64, 'A'), kX2) + "]}";
  expect_invalid(json, "/nodes/1/ed25519: duplicate of /nodes/0/ed25519");
}

TEST(NetworkFile, RejectsNotJson) {
  expect_invalid("", "/: ");
  expect_invalid("{\"network_id\":", "/: ");
  expect_invalid("network_id = 1", "/: ");
}

TEST(NetworkFile, RejectsNonObjectDocument) { expect_invalid("[]", "/: expected an object"); }

TEST(NetworkFile, RejectsTooDeepJson) {
  std::string deep = R"({"network_id":"n","nodes":[)" + std::string(100, '[') + std::string(100, ']') + "]}";
  expect_invalid(deep, "/: JSON too deep");
}

TEST(NetworkFile, RejectsUnknownKeys) {
  expect_invalid(R"({"network_id":"n","nodes":[],"extra":1})", "/extra: unknown key");
  expect_invalid(R"({"network_id":"n","nodes":[{"address":"tcp://a:1","ed25519":")" + kEd1 + R"(","x25519":")" +
                     kX1 + R"(","port":1}]})",
                 "/nodes/0/port: unknown key");
  // JSON pointer escaping of '/' and '~'.
  expect_invalid(R"({"network_id":"n","nodes":[],"a/b~":1})", "/a~1b~0: unknown key");
}

TEST(NetworkFile, RejectsMissingKeys) {
  expect_invalid(R"({"nodes":[]})", "/network_id: missing");
  expect_invalid(R"({"network_id":"n"})", "/nodes: missing");
  expect_invalid(R"({"network_id":"n","nodes":[{"address":"tcp://a:1","ed25519":")" + kEd1 + R"("}]})",
                 "/nodes/0/x25519: missing");
}

TEST(NetworkFile, RejectsWrongTypes) {
  expect_invalid(R"({"network_id":7,"nodes":[]})", "/network_id: expected a string, got an integer");
  expect_invalid(R"({"network_id":"n","nodes":{}})", "/nodes: expected an array, got an object");
  expect_invalid(R"({"network_id":"n","swarm_size":"5","nodes":[]})", "/swarm_size: expected an integer");
  expect_invalid(R"({"network_id":"n","swarm_size":5.0,"nodes":[]})", "/swarm_size: expected an integer");
  expect_invalid(R"({"network_id":"n","nodes":["tcp://a:1"]})", "/nodes/0: expected an object, got a string");
  expect_invalid(R"({"network_id":"n","nodes":[{"address":null,"ed25519":")" + kEd1 + R"(","x25519":")" + kX1 +
                     R"("}]})",
                 "/nodes/0/address: expected a string, got null");
}

TEST(NetworkFile, RejectsOutOfRange) {
  expect_invalid(R"({"network_id":"n","swarm_size":0,"nodes":[]})", "/swarm_size: out of range");
  expect_invalid(R"({"network_id":"n","swarm_size":101,"nodes":[]})", "/swarm_size: out of range");
  expect_invalid(R"({"network_id":"n","swarm_size":-1,"nodes":[]})", "/swarm_size: out of range");
}

TEST(NetworkFile, RejectsBadNetworkId) {
  expect_invalid(R"({"network_id":"","nodes":[]})", "/network_id: expected 1 to 64");
  expect_invalid(R"({"network_id":"has space","nodes":[]})", "/network_id: expected 1 to 64");
  expect_invalid(R"({"network_id":")" + std::string(65, 'n') + R"(","nodes":[]})", "/network_id: expected 1 to 64");
}

TEST(NetworkFile, RejectsBadHex) {
  auto with_x = [](const std::string& x) {
    return R"({"network_id":"n","nodes":[)" + node_json("tcp://127.0.0.1:4501", kEd1, x) + "]}";
  };
  expect_invalid(with_x(std::string(63, 'b')), "/nodes/0/x25519: expected 64 hex characters");
  expect_invalid(with_x(std::string(66, 'b')), "/nodes/0/x25519: expected 64 hex characters");
  expect_invalid(with_x(std::string(63, 'b') + "g"), "/nodes/0/x25519: expected 64 hex characters");
  expect_invalid(with_x(""), "/nodes/0/x25519: expected 64 hex characters");
}

TEST(NetworkFile, RejectsBadAddresses) {
  for (const char* address :
       {"127.0.0.1:4500", "udp://127.0.0.1:4500", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://:4500",
        "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536", "tcp://127.0.0.1:*", "tcp://*:4500", "tcp://a b:1",
        "tcp://-a:1", "tcp://a..b:1", "tcp://[zz]:1", "tcp://127.0.0.1:+1", "tcp://127.0.0.1:4500/x"}) {
    SCOPED_TRACE(address);
    expect_invalid(R"({"network_id":"n","nodes":[)" + node_json(address, kEd1, kX1) + "]}",
                   "/nodes/0/address: expected tcp://HOST:PORT");
  }
}

TEST(NetworkFile, RejectsDuplicateNodes) {
  auto two = [](const std::string& a2, const std::string& ed2, const std::string& x2) {
    return R"({"network_id":"n","nodes":[)" + node_json("tcp://127.0.0.1:1", kEd1, kX1) + "," +
           node_json(a2, ed2, x2) + "]}";
  };
  expect_invalid(two("tcp://127.0.0.1:2", kEd1, kX2), "/nodes/1/ed25519: duplicate of /nodes/0/ed25519");
  expect_invalid(two("tcp://127.0.0.1:2", kEd2, kX1), "/nodes/1/x25519: duplicate of /nodes/0/x25519");
  expect_invalid(two("tcp://127.0.0.1:1", kEd2, kX2), "/nodes/1/address: duplicate of /nodes/0/address");
}

TEST(NetworkFile, RoundTripsThroughJson) {
  auto r = parse_network_file(two_nodes());
  ASSERT_TRUE(r.ok());
  std::string text = network_file_to_json(*r);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_LT(text.find("network_id"), text.find("swarm_size"));
  EXPECT_LT(text.find("swarm_size"), text.find("nodes"));
  auto again = parse_network_file(text);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->network_id, r->network_id);
  EXPECT_EQ(again->swarm_size, r->swarm_size);
  EXPECT_EQ(again->nodes, r->nodes);
}

TEST(NetworkFile, OperatorsParseAndRoundTrip) {
  const std::string op1(64, 'e'), op2(64, 'f');
  auto r = parse_network_file(R"({"network_id":"n","nodes":[],"operators":[")" + op1 + R"(",")" + op2 + R"("]})");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->operators.size(), 2u);
  auto back = parse_network_file(network_file_to_json(*r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->operators, r->operators);
  // No operators: an open network, and the canonical form omits the key.
  auto open = parse_network_file(R"({"network_id":"n","nodes":[]})");
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->operators.empty());
  EXPECT_EQ(network_file_to_json(*open).find("operators"), std::string::npos);
}

TEST(NetworkFile, RejectsBadOperators) {
  const std::string op(64, 'e');
  expect_invalid(R"({"network_id":"n","nodes":[],"operators":"x"})", "/operators: expected an array");
  expect_invalid(R"({"network_id":"n","nodes":[],"operators":["abc"]})", "/operators/0: expected 64 hex");
  expect_invalid(R"({"network_id":"n","nodes":[],"operators":[1]})", "/operators/0: expected a string");
  expect_invalid(R"({"network_id":"n","nodes":[],"operators":[")" + op + R"(",")" + op + R"("]})",
                 "/operators/1: duplicate");
  std::string many = R"({"network_id":"n","nodes":[],"operators":[)";
  for (int i = 0; i <= 64; ++i) many += std::string(i ? "," : "") + "\"" + op + "\"";
  expect_invalid(many + "]}", "/operators: at most 64");
}

TEST(NetworkFile, LoadsExampleFile) {
  auto r = load_network_file(std::string(ONIONSWARM_SOURCE_DIR) + "/config/examples/network.json");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->network_id, "example-net");
  EXPECT_EQ(r->nodes.size(), 3u);
}

TEST(NetworkFile, LoadReportsMissingFileAsIo) {
  TempDir dir;
  auto r = load_network_file(dir.path() + "/absent.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIo);
  EXPECT_NE(r.status().message().find("absent.json"), std::string::npos);
}

TEST(NetworkFile, LoadReportsDirectoryAsIo) {
  TempDir dir;
  auto r = load_network_file(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIo);
}

TEST(NetworkFile, LoadPrefixesErrorsWithPath) {
  TempDir dir;
  std::string path = dir.path() + "/bad.json";
  std::ofstream(path) << R"({"network_id":"n","nodes":[],"x":1})";
  auto r = load_network_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), path + ": /x: unknown key");
}

TEST(NetworkFile, LoadRejectsOversizedFile) {
  TempDir dir;
  std::string path = dir.path() + "/big.json";
  {
    std::ofstream out(path);
    out << R"({"network_id":"n","nodes":[]})" << std::string(kMaxNetworkFileBytes, ' ');
  }
  auto r = load_network_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("too large"), std::string::npos);
}

TEST(NetworkFile, WriteAtomicThenLoadGivesSameFile) {
  TempDir dir;
  auto r = parse_network_file(two_nodes());
  ASSERT_TRUE(r.ok());
  std::string path = dir.path() + "/network.json";
  ASSERT_TRUE(write_network_file_atomic(path, *r).ok());
  // Overwrite: the second write replaces the first.
  r->nodes.pop_back();
  ASSERT_TRUE(write_network_file_atomic(path, *r).ok());
  auto back = load_network_file(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->nodes, r->nodes);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  // No temporary file is left behind.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST(NetworkFile, WriteAtomicFailsWithIoInMissingDirectory) {
  TempDir dir;
  NetworkFile file;
  file.network_id = "n";
  Status s = write_network_file_atomic(dir.path() + "/no/such/dir/network.json", file);
  EXPECT_EQ(s.code(), Code::kIo);
}

TEST(NetworkFile, WriteAtomicRefusesInvalidFile) {
  TempDir dir;
  NetworkFile file;  // empty network_id
  Status s = write_network_file_atomic(dir.path() + "/network.json", file);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/network.json"));
}

TEST(TcpEndpoint, BindAllowsWildcardsAndPortZero) {
  EXPECT_TRUE(is_valid_tcp_endpoint("tcp://127.0.0.1:0", true));
  EXPECT_TRUE(is_valid_tcp_endpoint("tcp://127.0.0.1:*", true));
  EXPECT_TRUE(is_valid_tcp_endpoint("tcp://*:4500", true));
  EXPECT_TRUE(is_valid_tcp_endpoint("tcp://[::]:4500", true));
  EXPECT_FALSE(is_valid_tcp_endpoint("tcp://127.0.0.1:0", false));
  EXPECT_FALSE(is_valid_tcp_endpoint("tcp://*:4500", false));
  EXPECT_FALSE(is_valid_tcp_endpoint("tcp://127.0.0.1:99999", true));
  EXPECT_FALSE(is_valid_tcp_endpoint("ipc:///tmp/x", true));
}

}  // namespace
}  // namespace onionswarm::config
