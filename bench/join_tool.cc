// join_tool: how long a new node takes to be known by every node of a
// running devnet (the living directory, docs/PROTOCOL.md section 9.4).
//
//   join_tool --network FILE --node-bin PATH [--runs R=3] [--max-seconds S=120]
//             [--gossip-interval-ms I=5000]
//
// Each run starts one new onionswarm-node (fresh temporary data dir,
// tcp://127.0.0.1:0) whose network file lists only the FIRST node of FILE
// as its seed, and asks every node of FILE for `info` (directly, one request
// per node in turn) until each reports one node more than FILE lists. The
// figure is the time from spawning the process to the last node knowing it
// (it includes the new node's start-up). The new node is then stopped by
// pid; its descriptor lives 10 s, so it leaves the views soon after, and the
// next run waits until every node is back to the FILE's count.
//
// Only loopback networks: every address in FILE must be on 127.0.0.1 or
// localhost. Bounded by --max-seconds per run.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "client/client.h"
#include "config/network_file.h"
#include "onion/crypto.h"
#include "onion/encoding.h"

namespace {

using namespace onionswarm;
using Clock = std::chrono::steady_clock;

bool loopback(const std::string& address) {
  return address.rfind("tcp://127.0.0.1:", 0) == 0 || address.rfind("tcp://localhost:", 0) == 0;
}

// Whether every node answers info with nodes == want.
bool all_know(const std::vector<swarm::NodeDescriptor>& nodes, uint64_t want) {
  for (const auto& n : nodes) {
    auto info = client::Client::ping(n, 2000);
    if (!info.ok() || info->nodes != want) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options opts("join_tool", "time for a new node to be known by every node of a devnet");
  opts.add_options()("network", "devnet network file", cxxopts::value<std::string>())(
      "node-bin", "onionswarm-node binary", cxxopts::value<std::string>())(
      "runs", "joins to time", cxxopts::value<int>()->default_value("3"))(
      "max-seconds", "limit per run", cxxopts::value<int>()->default_value("120"))(
      "gossip-interval-ms", "the new node's gossip interval", cxxopts::value<uint64_t>()->default_value("5000"))(
      "h,help", "help");
  auto args = opts.parse(argc, argv);
  if (args.count("help") || !args.count("network") || !args.count("node-bin")) {
    std::fputs(opts.help().c_str(), stderr);
    return 2;
  }
  crypto::init();
  auto net = config::load_network_file(args["network"].as<std::string>());
  if (!net.ok() || net->nodes.empty()) {
    std::fprintf(stderr, "join_tool: %s\n", net.ok() ? "the network file lists no nodes" : net.status().message().c_str());
    return 1;
  }
  for (const auto& n : net->nodes)
    if (!loopback(n.address)) return std::fprintf(stderr, "join_tool: %s is not loopback\n", n.address.c_str()), 1;
  const uint64_t base = net->nodes.size();
  const int runs = std::clamp(args["runs"].as<int>(), 1, 100);
  const auto limit = std::chrono::seconds(std::clamp(args["max-seconds"].as<int>(), 5, 3600));

  char tmpl[] = "/tmp/join-tool-XXXXXX";
  if (!::mkdtemp(tmpl)) return std::perror("mkdtemp"), 1;
  const std::string dir = tmpl;
  config::NetworkFile seed_only{net->network_id, net->swarm_size, {net->nodes.front()}, net->operators};
  if (auto st = config::write_network_file_atomic(dir + "/seed.json", seed_only); !st.ok())
    return std::fprintf(stderr, "join_tool: %s\n", st.message().c_str()), 1;

  std::vector<double> seconds;
  int rc = 0;
  for (int run = 0; run < runs && rc == 0; ++run) {
    const auto start = Clock::now();
    if (!all_know(net->nodes, base)) {
      // The previous joiner's descriptor has not expired everywhere yet.
      while (!all_know(net->nodes, base) && Clock::now() - start < limit)
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    const std::string data = dir + "/node" + std::to_string(run);
    const std::string interval = std::to_string(args["gossip-interval-ms"].as<uint64_t>());
    std::vector<std::string> argv_s = {args["node-bin"].as<std::string>(), "run", "--data-dir", data, "--listen",
                                       "tcp://127.0.0.1:0", "--network", dir + "/seed.json", "--log-level", "warn",
                                       "--descriptor-lifetime-ms", "10000", "--gossip-interval-ms", interval};
    std::vector<char*> cargs;
    for (auto& s : argv_s) cargs.push_back(s.data());
    cargs.push_back(nullptr);
    const auto t0 = Clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execv(cargs[0], cargs.data());
      ::_exit(127);
    }
    bool known = false;
    while (Clock::now() - t0 < limit) {
      if (all_know(net->nodes, base + 1)) {
        known = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    ::kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 300 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
    if (!known) {
      std::fprintf(stderr, "join_tool: run %d: not known by all %llu nodes within the limit\n", run + 1,
                   static_cast<unsigned long long>(base));
      rc = 1;
      break;
    }
    seconds.push_back(s);
    std::printf("run %d: known by all %llu nodes after %.2f s\n", run + 1, static_cast<unsigned long long>(base), s);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
  if (!seconds.empty()) {
    std::sort(seconds.begin(), seconds.end());
    std::printf("join time over %zu runs: min %.2f s, median %.2f s, max %.2f s\n", seconds.size(), seconds.front(),
                seconds[seconds.size() / 2], seconds.back());
  }
  return rc;
}
