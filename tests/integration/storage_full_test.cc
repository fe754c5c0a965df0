// Storage full, end to end (docs/SECURITY.md, "Crashes and disks"): a real
// node whose LMDB map (a small map_size) or whose disk (a small tmpfs as its
// data dir) fills up answers stores with the error code `storage_full`, keeps
// everything it acknowledged, keeps serving reads, still deletes and still
// sweeps expired messages (it keeps a reserve of free pages and disk for
// them), counts the refusals in its metrics, and then takes stores again once
// space is free. The tmpfs case needs root (mount); without it, it is
// skipped with the reason.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "onion/encoding.h"
#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using nlohmann::json;
using test::RawClient;

constexpr int kShortLived = 6;             // messages that expire while the node is full
constexpr uint64_t kShortTtlMs = 4'000;
constexpr size_t kFillBytes = 32 * 1024;   // size of the messages that fill the node
constexpr int kMaxFillStores = 3'000;      // bound on the fill loop
constexpr int kDeleted = 5;

struct Stored {
  std::vector<test::TestAccount> accounts = std::vector<test::TestAccount>(4);  // spread under the quota
  std::vector<std::set<std::string>> acked = std::vector<std::set<std::string>>(4);
};

Result<json> store(RawClient& c, const swarm::NodeDescriptor& node, const test::TestAccount& a, size_t bytes,
                   uint64_t ttl_ms = rpc::kDefaultTtlMs) {
  rpc::StoreRequest s;
  s.account = a.id;
  s.timestamp_ms = test::now_ms();
  s.ttl_ms = ttl_ms;
  s.data = crypto::random_bytes(bytes);
  return c.request({node}, rpc::Request(s));
}

std::optional<uint64_t> stored_messages(const std::string& data_dir) {
  json j = test::node_status(data_dir);
  if (!j.is_object() || !j.contains("storage")) return std::nullopt;
  return j["storage"].value("messages", uint64_t(0));
}

uint64_t metric(const std::string& data_dir, const std::string& name) {
  auto r = test::node_command({"metrics", "--data-dir", data_dir});
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stoull(line.substr(name.size() + 1));
  return 0;
}

// The scenario, against a running node that will fill up.
void fill_and_check(const swarm::NodeDescriptor& node, const std::string& data_dir, const std::string& what) {
  RawClient c(node);
  Stored st;

  // Short-lived messages first: they expire while the node is full.
  test::TestAccount brief;
  for (int i = 0; i < kShortLived; ++i) {
    auto r = store(c, node, brief, 16 * 1024, kShortTtlMs);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
  }

  // Fill until the node refuses.
  json refusal;
  for (int i = 0; i < kMaxFillStores && refusal.is_null(); ++i) {
    const size_t k = size_t(i) % st.accounts.size();
    auto r = store(c, node, st.accounts[k], kFillBytes);
    ASSERT_TRUE(r.ok()) << "node stopped answering while filling: " << r.status().to_string();
    if ((*r)["status"] == "ok") {
      st.acked[k].insert((*r)["hash"].get<std::string>());
    } else {
      ASSERT_EQ((*r)["code"], "storage_full") << r->dump();
      refusal = *r;
    }
  }
  ASSERT_FALSE(refusal.is_null()) << what << " never filled up after " << kMaxFillStores << " stores";
  EXPECT_NE(refusal["message"].get<std::string>().find("full"), std::string::npos) << refusal.dump();
  size_t acked = 0;
  for (const auto& s : st.acked) acked += s.size();
  std::cout << "[storage full] " << what << ": " << acked << " stores of " << kFillBytes
            << " bytes acknowledged, then: " << refusal["message"].get<std::string>() << "\n";

  // The refusal is stable and the node keeps answering.
  for (int i = 0; i < 3; ++i) {
    auto r = store(c, node, st.accounts[0], kFillBytes);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ((*r)["code"], "storage_full") << r->dump();
  }
  EXPECT_TRUE(test::wait_answering(node, std::chrono::seconds(20)));

  // Reads: everything acknowledged is there, and nothing refused.
  for (size_t k = 0; k < st.accounts.size(); ++k) {
    auto have = test::retrieve_hashes(st.accounts[k], node);
    ASSERT_TRUE(have.ok()) << have.status().to_string();
    EXPECT_EQ(*have, st.acked[k]) << "account " << k;
  }

  // Deletes work on the full node.
  {
    std::vector<std::string> victims(st.acked[1].begin(), std::next(st.acked[1].begin(), kDeleted));
    rpc::DeleteRequest d;
    d.account = st.accounts[1].id;
    d.timestamp_ms = test::now_ms();
    for (const auto& h : victims) d.hashes.push_back(*crypto::Hash::from(*from_hex(h)));
    rpc::Request req = d;
    rpc::sign_request(req, st.accounts[1].ed);
    auto r = c.request({node}, req);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    EXPECT_EQ((*r)["deleted"], kDeleted) << r->dump();
    for (const auto& h : victims) st.acked[1].erase(h);
    auto have = test::retrieve_hashes(st.accounts[1], node);
    ASSERT_TRUE(have.ok()) << have.status().to_string();
    EXPECT_EQ(*have, st.acked[1]);
  }

  // Expiry works on the full node: the sweep (every 10 s) removes the
  // short-lived messages. Wait for it, bounded.
  const uint64_t want = acked - kDeleted;
  std::optional<uint64_t> count;
  test::wait_until(
      [&] {
        count = stored_messages(data_dir);
        return count && *count == want;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(250));
  ASSERT_TRUE(count.has_value()) << "node status did not answer";
  EXPECT_EQ(*count, want) << "the expired messages were not swept on the full node";

  // Room was freed: the node takes stores again.
  auto again = store(c, node, st.accounts[2], 1024);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ((*again)["status"], "ok") << again->dump();
  if ((*again)["status"] == "ok") st.acked[2].insert((*again)["hash"].get<std::string>());

  EXPECT_GE(metric(data_dir, "onionswarm_storage_full_refusals_total"), 4u);
  for (size_t k = 0; k < st.accounts.size(); ++k) {
    auto have = test::retrieve_hashes(st.accounts[k], node);
    ASSERT_TRUE(have.ok()) << have.status().to_string();
    EXPECT_EQ(*have, st.acked[k]) << "account " << k;
  }
}

TEST(StorageFull, FullLmdbMapAnswersStorageFullAndStillReadsDeletesAndExpires) {
  crypto::init();
  test::Devnet net(1, 1);
  ASSERT_TRUE(net.ok()) << net.start_output();
  const auto node = net.nodes().at(0);
  ASSERT_TRUE(test::stop_devnet_node(net, 1));
  std::filesystem::remove_all(net.node_dir(1) + "/db");  // start from an empty store
  const std::string config = net.dir() + "/small-map.json";
  std::ofstream(config) << json{{"data_dir", net.node_dir(1)},
                                {"network", net.network_file()},
                                {"map_size", 4 << 20},
                                {"quota_bytes", 4 << 20},
                                {"account_rate", 0},
                                {"connection_rate", 0}}
                               .dump();
  test::RunningNode running;
  running.pid = test::restart_devnet_node(net, 1, {"--config", config});
  ASSERT_GT(running.pid, 0);
  ASSERT_TRUE(test::wait_answering(node)) << test::read_file(net.node_dir(1) + "/node.log");
  fill_and_check(node, net.node_dir(1), "4 MiB LMDB map");
  EXPECT_EQ(running.stop(), 0) << "node did not stop cleanly";
}

// A tmpfs mounted by the test, unmounted (and removed) on destruction.
class Tmpfs {
 public:
  Tmpfs(const std::string& dir, size_t bytes) : dir_(dir) {
    std::filesystem::create_directories(dir_);
    const std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0) mounted_ = true;
    else error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_ && ::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

TEST(StorageFull, FullDiskAnswersStorageFullAndStillReadsDeletesAndExpires) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs as the node's data dir";
  crypto::init();
  test::Devnet net(1, 1);
  ASSERT_TRUE(net.ok()) << net.start_output();
  const auto node = net.nodes().at(0);
  const std::string data_dir = net.dir() + "/tmpfs";
  Tmpfs disk(data_dir, size_t(8) << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.error();
  ASSERT_TRUE(test::stop_devnet_node(net, 1));
  // The node's keys move to the small disk; the store starts empty there.
  for (const char* f : {"node.key", "node.json"}) {
    std::error_code ec;
    if (std::filesystem::exists(net.node_dir(1) + "/" + f))
      std::filesystem::copy_file(net.node_dir(1) + "/" + f, data_dir + "/" + f, ec);
    ASSERT_FALSE(ec) << f << ": " << ec.message();
  }
  const std::string config = net.dir() + "/small-disk.json";
  std::ofstream(config) << json{{"data_dir", data_dir},
                                {"network", net.network_file()},
                                {"account_rate", 0},
                                {"connection_rate", 0}}
                               .dump();
  {
    test::RunningNode running;
    running.pid = test::start_node_on_old_port({test::node_bin(), "run", "--config", config, "--data-dir", data_dir,
                                                "--listen", node.address, "--network", net.network_file()},
                                               data_dir, net.dir() + "/tmpfs-node.log");
    ASSERT_GT(running.pid, 0);
    ASSERT_TRUE(test::wait_answering(node)) << test::read_file(net.dir() + "/tmpfs-node.log");
    fill_and_check(node, data_dir, "8 MiB tmpfs data dir");

    // Something else takes the disk's last byte (the node's reserve too):
    // stores use up the pages LMDB freed inside its file, then answer
    // storage_full (never io); reads go on; once freed, stores work.
    const std::string filler = data_dir + "/filler";
    {
      std::ofstream out(filler, std::ios::binary);
      const std::string chunk(64 * 1024, 'x');
      for (int i = 0; i < 256 && out.write(chunk.data(), std::streamsize(chunk.size())) && out.flush(); ++i) {
      }
    }
    test::TestAccount a;
    RawClient c(node);
    Result<json> r = json();
    int taken = 0;
    for (; taken < 100; ++taken) {
      r = store(c, node, a, kFillBytes);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      if ((*r)["status"] != "ok") break;
    }
    EXPECT_EQ((*r)["code"], "storage_full") << r->dump();
    std::cout << "[storage full] disk filled by another file: " << taken
              << " more stores fitted in LMDB's freed pages, then: " << (*r)["message"] << "\n";
    EXPECT_TRUE(test::wait_answering(node, std::chrono::seconds(20)));
    EXPECT_TRUE(test::retrieve_hashes(a, node).ok());
    std::filesystem::remove(filler);
    r = store(c, node, a, 1024);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ((*r)["status"], "ok") << r->dump();
    EXPECT_EQ(running.stop(), 0) << "node did not stop cleanly";
  }
}

}  // namespace
}  // namespace onionswarm
