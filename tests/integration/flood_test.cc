// Floods and limits against a real node process (docs/SECURITY.md, "Floods
// and limits"): several processes send garbage and valid requests as fast as
// they can for a bounded time. The node's RSS stays under 256 MiB, it keeps
// answering a well-behaved client, and nothing it stored is lost.
// The figures measured are printed (docs/PERFORMANCE.md quotes them).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "onion/encoding.h"
#include "onion/layer.h"
#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using test::RawClient;

constexpr auto kFloodTime = std::chrono::seconds(6);
constexpr int kFlooders = 4;
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ONIONSWARM_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ONIONSWARM_UNDER_ASAN 1
#endif

constexpr uint64_t kRssLimitKiB = 256 * 1024;
#ifdef ONIONSWARM_UNDER_ASAN
// Under AddressSanitizer (scripts/sanitize) the node's RSS also holds ASan's
// quarantine of freed blocks (quarantine_size_mb, 256 MiB by default),
// redzones and shadow: a flood that frees a lot of frames fills the
// quarantine (seen: 362 MiB anonymous). The limit proper is asserted by the
// plain build (make test); here it gets the quarantine's size on top.
constexpr uint64_t kAllowanceKiB = 256 * 1024;
#else
constexpr uint64_t kAllowanceKiB = 0;
#endif

// The node's resident memory from /proc/PID/status, in KiB: all of it
// (VmRSS, what the limit is on) and its parts, so a failure says whether it
// was heap (anon) or LMDB's mapped file (file).
struct Rss {
  uint64_t total = 0, anon = 0, file = 0, shmem = 0;
  void max_with(const Rss& o) {
    total = std::max(total, o.total);
    anon = std::max(anon, o.anon);
    file = std::max(file, o.file);
    shmem = std::max(shmem, o.shmem);
  }
  std::string str() const {
    return std::to_string(total / 1024) + " MiB (anon " + std::to_string(anon / 1024) + ", file " +
           std::to_string(file / 1024) + ", shmem " + std::to_string(shmem / 1024) + ")";
  }
};

Rss rss_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  Rss r;
  const std::pair<const char*, uint64_t*> fields[] = {
      {"VmRSS:", &r.total}, {"RssAnon:", &r.anon}, {"RssFile:", &r.file}, {"RssShmem:", &r.shmem}};
  for (std::string line; std::getline(in, line);)
    for (const auto& [name, out] : fields)
      if (line.rfind(name, 0) == 0) *out = std::stoull(line.substr(std::strlen(name)));
  return r;
}

// One flooding process: sends a mix of garbage and valid requests without
// waiting for answers until the deadline, reconnecting now and then (a new
// connection is a new rate bucket). Writes how many messages it sent.
[[noreturn]] void flood(const swarm::NodeDescriptor& node, std::chrono::steady_clock::time_point until,
                        const std::string& report) {
  uint64_t sent = 0;
  {
    std::vector<crypto::X25519PublicKey> hop = {node.x25519};
    auto info = onion::build(hop, as_bytes(R"({"method":"info"})"), test::now_ms());
    const Bytes garbage_blob = crypto::random_bytes(2000);
    const Bytes huge_blob = crypto::random_bytes(250 * 1024);
    auto client = std::make_unique<RawClient>(node);
    for (uint64_t i = 0; std::chrono::steady_clock::now() < until; ++i) {
      if (i % 2000 == 1999) client = std::make_unique<RawClient>(node);
      const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kOnionRequest, i});
      switch (i % 6) {
        case 0:
          client->send_frames({crypto::random_bytes(40)});
          break;
        case 1:
          client->send_frames({header, garbage_blob});
          break;
        case 2:
          client->send_frames({header, info->blob});  // valid, and a replay after the first
          break;
        case 3: {
          // A valid store for a fresh account.
          rpc::StoreRequest s;
          s.account = test::TestAccount().id;
          s.timestamp_ms = test::now_ms();
          s.data = crypto::random_bytes(512);
          auto built = onion::build(hop, rpc::serialize_request(rpc::Request(s)), test::now_ms());
          client->send_frames({header, built->blob});
          break;
        }
        case 4:
          if (i % 60 == 4) client->send_frames({header, huge_blob});
          else client->send_frames({Bytes{9, 9}, Bytes{}});
          break;
        default: {
          auto fresh = onion::build(hop, as_bytes(R"({"method":"info"})"), test::now_ms());
          client->send_frames({header, fresh->blob});
        }
      }
      ++sent;
      while (client->recv_frames(std::chrono::milliseconds(0))) {
      }
    }
  }
  std::ofstream(report) << sent;
  ::_exit(0);
}

class Flood : public test::DevnetSuite<Flood, 1, 1> {};

TEST_F(Flood, NodeStaysBoundedAndKeepsServingAWellBehavedClient) {
  const swarm::NodeDescriptor node = net_->nodes().at(0);
  const pid_t node_pid = test::devnet_pid(*net_, 1);
  ASSERT_GT(node_pid, 0);

  // Messages stored before the flood must all be there after it.
  test::TestAccount owner;
  std::set<std::string> stored;
  {
    RawClient c(node);
    for (int i = 0; i < 20; ++i) {
      rpc::StoreRequest s;
      s.account = owner.id;
      s.timestamp_ms = test::now_ms();
      s.data = crypto::random_bytes(100);
      auto r = c.request({node}, rpc::Request(s));
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      ASSERT_EQ((*r)["status"], "ok") << r->dump();
      stored.insert(to_hex(crypto::hash(s.data).view()));
    }
  }
  const Rss rss_before = rss_of(node_pid);

  test::TempDir reports;
  const auto until = std::chrono::steady_clock::now() + kFloodTime;
  std::vector<pid_t> flooders;
  for (int i = 0; i < kFlooders; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) flood(node, until, reports / ("sent" + std::to_string(i)));
    flooders.push_back(pid);
  }

  // Meanwhile: a well-behaved client asks for info over and over (backing
  // off when told busy), and the node's RSS is sampled.
  Rss rss_max = rss_before;
  uint64_t answered = 0, busy = 0, asked = 0;
  while (std::chrono::steady_clock::now() < until) {
    rss_max.max_with(rss_of(node_pid));
    ++asked;
    bool ok = false;
    for (int attempt = 0; attempt < 10 && !ok; ++attempt) {
      RawClient c(node);
      auto r = c.request({node}, rpc::InfoRequest{});
      if (r.ok() && (*r)["status"] == "ok") {
        ok = true;
      } else {
        ++busy;
        ASSERT_TRUE(r.status().to_string().find("busy") != std::string::npos ||
                    (r.ok() && (*r)["code"] == "busy"))
            << "a well-behaved client got something other than an answer or busy: "
            << (r.ok() ? r->dump() : r.status().to_string());
        std::this_thread::sleep_for(std::chrono::milliseconds(50 << std::min(attempt, 4)));
      }
    }
    EXPECT_TRUE(ok) << "the node stopped answering a well-behaved client";
    answered += ok;
  }
  uint64_t total_sent = 0;
  for (size_t i = 0; i < flooders.size(); ++i) {
    int status = test::reap(flooders[i], std::chrono::seconds(30));
    if (status == -1) {
      ::kill(flooders[i], SIGKILL);
      test::reap(flooders[i]);
    }
    std::ifstream in(reports / ("sent" + std::to_string(i)));
    uint64_t n = 0;
    in >> n;
    total_sent += n;
  }
  rss_max.max_with(rss_of(node_pid));

  EXPECT_EQ(::kill(node_pid, 0), 0) << "the node died under the flood";
  EXPECT_LT(rss_max.total, kRssLimitKiB + kAllowanceKiB) << "node RSS peaked at " << rss_max.str();
  EXPECT_GT(answered, 0u);
  auto held = test::retrieve_hashes(owner, node);
  ASSERT_TRUE(held.ok()) << held.status().to_string();
  EXPECT_EQ(*held, stored) << "stored messages changed under the flood";

  auto metrics = test::node_command({"metrics", "--data-dir", net_->node_dir(1)});
  std::string busy_lines;
  std::istringstream lines(metrics.out);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("onionswarm_busy_refusals_total{", 0) == 0 || line.rfind("onionswarm_layers_replayed", 0) == 0)
      busy_lines += "  " + line + "\n";
  EXPECT_NE(busy_lines.find("connection_rate"), std::string::npos) << metrics.out << metrics.err;
  std::cout << "[flood] " << kFlooders << " processes, " << kFloodTime.count() << " s, " << total_sent
            << " messages sent; node RSS " << rss_before.str() << " before, " << rss_max.str()
            << " max; well-behaved client: " << answered << "/" << asked << " answered, " << busy
            << " busy answers retried\n"
            << busy_lines;
}

}  // namespace
}  // namespace onionswarm
