// catchup_tool: how long a restarted node takes to catch up the messages its
// swarm stored while it was down (anti-entropy, docs/PROTOCOL.md 8.3).
//
//   catchup_tool --node-bin PATH [--nodes N=5] [--messages M=10000]
//                [--size BYTES=256] [--concurrency C=8] [--max-seconds S=600]
//                [--queued-pushes] [--json]
//
// Starts its own network of N onionswarm-node processes on 127.0.0.1
// (kernel-chosen ports, a temporary directory removed at the end, swarm
// size N so they form one swarm), waits until every node knows all N, and
// kills the last one with SIGKILL. Then C threads store M messages of BYTES
// random bytes (spread over ceil(M / 20) accounts) at the first node,
// each as a one-hop onion sent straight to it (the stores are not what is
// measured; replication to the live members is), and the tool waits until
// every live node's `status` reports the same message count. The first
// node's links still hold the replication pushes for the dead node (ZeroMQ
// queues them and delivers them on reconnect), so it is restarted first
// (SIGTERM, same address and data) unless --queued-pushes. Then the tool
// restarts the killed node on its old address and polls the node's admin
// socket (`status`, every 50 ms) until its message count equals its
// peers'; it reports how many messages came by catch-up and how many as
// queued pushes (status `replication.caught_up` / `received`).
//
// Figures: from spawning the restarted process to its admin socket
// answering (start-up), and to its store matching its peers' (the catch-up
// figure; it includes start-up and the first round's 1 s delay,
// SyncOptions::first_round_delay_ms).
//
// Loopback only. Bounded: every wait is bounded by --max-seconds; nodes are
// started and stopped by pid (SIGTERM, then SIGKILL after 10 s).
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "client/client.h"
#include "client/transport.h"
#include "config/network_file.h"
#include "node/admin.h"
#include "onion/crypto.h"
#include "onion/encoding.h"
#include "onion/layer.h"
#include "swarm/rpc.h"

namespace {

using namespace onionswarm;
namespace rpc = swarm::rpc;
using Clock = std::chrono::steady_clock;

uint64_t wall_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct NodeProc {
  std::string dir;
  pid_t pid = -1;
  swarm::NodeDescriptor node;
};

pid_t start_node(const std::string& bin, const std::string& dir, const std::string& listen,
                 const std::string& network) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> argv_s = {bin,      "run",       "--data-dir", dir, "--listen", listen, "--network",
                                     network, "--log-level", "warn"};
  std::vector<char*> args;
  for (auto& s : argv_s) args.push_back(s.data());
  args.push_back(nullptr);
  const std::string log = dir + "/node.log";
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "a", stdout);
    if (f) ::dup2(::fileno(stdout), 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// SIGTERM, wait up to 10 s, then SIGKILL; always reaps.
void stop_node(NodeProc& p) {
  if (p.pid <= 0) return;
  ::kill(p.pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(p.pid, &status, WNOHANG) == p.pid) {
      p.pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(p.pid, SIGKILL);
  ::waitpid(p.pid, &status, 0);
  p.pid = -1;
}

// The node's status JSON from its admin socket (null when it does not answer).
nlohmann::json node_status(const std::string& dir) {
  auto answer = node::admin_request(dir, "status", std::chrono::milliseconds(2000));
  if (!answer.ok()) return nullptr;
  auto j = nlohmann::json::parse(*answer, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

// The node's message count from its admin socket, or nullopt.
std::optional<uint64_t> stored_count(const std::string& dir) {
  auto j = node_status(dir);
  if (!j.is_object() || !j.contains("messages") || !j["messages"].is_number_unsigned()) return std::nullopt;
  return j["messages"].get<uint64_t>();
}

// One store as a one-hop onion to node over channel; retried (same data)
// up to 20 times with a growing pause. Ok when the node acknowledged it
// (new or exists).
Status store_one(client::Channel& channel, const swarm::NodeDescriptor& node, const swarm::AccountId& account,
                 const Bytes& data) {
  Status last = error(Code::kInternal, "not sent");
  for (int attempt = 0; attempt < 20; ++attempt) {
    // `busy` (the node's per-account rate limit) and timeouts: wait a little.
    if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    rpc::StoreRequest s;
    s.account = account;
    s.timestamp_ms = wall_ms();
    s.data = data;
    const Bytes payload = rpc::serialize_request(rpc::Request(s));
    const std::vector<crypto::X25519PublicKey> hops = {node.x25519};
    auto built = onion::build(hops, payload, wall_ms());
    if (!built.ok()) return built.status();
    auto blob = channel.round_trip(built->blob, 15'000);
    if (!blob.ok()) {
      last = blob.status();
      continue;
    }
    auto answer = onion::unwrap_response(built->response_keys, *blob);
    if (!answer.ok()) return answer.status();
    auto parsed = rpc::parse_response(answer->body);
    if (!parsed.ok()) return parsed.status();
    if (auto* err = std::get_if<rpc::ErrorAnswer>(&*parsed)) {
      last = err->status;
      continue;
    }
    auto ok = rpc::parse_store_answer(std::get<nlohmann::json>(*parsed));
    return ok.ok() ? Status() : ok.status();
  }
  return last;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options opts("catchup_tool", "time for a restarted node to catch up what its swarm stored meanwhile");
  opts.add_options()("node-bin", "onionswarm-node binary", cxxopts::value<std::string>())(
      "nodes", "nodes in the (one) swarm", cxxopts::value<int>()->default_value("5"))(
      "messages", "messages stored while one node is down", cxxopts::value<int>()->default_value("10000"))(
      "size", "bytes per message", cxxopts::value<int>()->default_value("256"))(
      "concurrency", "storing threads", cxxopts::value<int>()->default_value("8"))(
      "max-seconds", "limit for each wait", cxxopts::value<int>()->default_value("600"))(
      "queued-pushes", "keep the first node running, so its queued pushes reach the restarted node")(
      "json", "print one JSON object")("h,help", "help");
  cxxopts::ParseResult args;
  try {
    args = opts.parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "catchup_tool: %s\n", e.what());
    return 2;
  }
  if (args.count("help") || !args.count("node-bin")) {
    std::fputs(opts.help().c_str(), stderr);
    return 2;
  }
  const int n_nodes = args["nodes"].as<int>();
  const int messages = args["messages"].as<int>();
  const int size = args["size"].as<int>();
  const int concurrency = args["concurrency"].as<int>();
  if (n_nodes < 2 || n_nodes > 20 || messages < 1 || messages > 1'000'000 || size < 1 || size > 60'000 ||
      concurrency < 1 || concurrency > 64) {
    std::fprintf(stderr, "catchup_tool: need 2 <= nodes <= 20, 1 <= messages <= 1000000, 1 <= size <= 60000, "
                         "1 <= concurrency <= 64\n");
    return 2;
  }
  const auto limit = std::chrono::seconds(std::clamp(args["max-seconds"].as<int>(), 10, 3600));
  const bool as_json = args.count("json") > 0;
  const std::string bin = args["node-bin"].as<std::string>();
  crypto::init();

  char tmpl[] = "/tmp/catchup-tool-XXXXXX";
  if (!::mkdtemp(tmpl)) return std::perror("mkdtemp"), 1;
  const std::string dir = tmpl;
  const std::string network_path = dir + "/network.json";
  config::NetworkFile network{"catchup-" + to_hex(crypto::random_bytes(8)), size_t(n_nodes), {}, {}};
  std::vector<NodeProc> procs(static_cast<size_t>(n_nodes));
  int rc = 0;
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "catchup_tool: %s (node logs: %s/node*/node.log)\n", why.c_str(), dir.c_str());
    rc = 1;
  };
  auto note = [&](const std::string& line) {
    if (!as_json) std::printf("%s\n", line.c_str()), std::fflush(stdout);
  };
  nlohmann::json out;

  do {  // once; `break` leaves with rc set, then everything is stopped
    if (auto st = config::write_network_file_atomic(network_path, network); !st.ok()) {
      fail(st.message());
      break;
    }
    for (int i = 0; i < n_nodes; ++i) {
      procs[size_t(i)].dir = dir + "/node" + std::to_string(i + 1);
      procs[size_t(i)].pid = start_node(bin, procs[size_t(i)].dir, "tcp://127.0.0.1:0", network_path);
    }
    // Every node's keys and address from its node.json.
    bool all = false;
    for (auto t0 = Clock::now(); !all && Clock::now() - t0 < limit;) {
      all = true;
      for (auto& p : procs) {
        if (!p.node.address.empty()) continue;
        auto j = nlohmann::json::parse(read_text(p.dir + "/node.json"), nullptr, false);
        if (j.is_discarded() || !j.contains("address")) {
          all = false;
          continue;
        }
        auto ed = from_hex(j["ed25519"].get<std::string>());
        auto x = from_hex(j["x25519"].get<std::string>());
        if (!ed.ok() || !x.ok()) {
          all = false;
          continue;
        }
        p.node.address = j["address"].get<std::string>();
        p.node.ed25519 = *crypto::Ed25519PublicKey::from(*ed);
        p.node.x25519 = *crypto::X25519PublicKey::from(*x);
      }
      if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!all) {
      fail("not every node started");
      break;
    }
    for (const auto& p : procs) {
      if (p.node.address.rfind("tcp://127.0.0.1:", 0) != 0) {
        fail("a node is not on loopback: " + p.node.address);
        break;
      }
      network.nodes.push_back(p.node);
    }
    if (rc) break;
    if (auto st = config::write_network_file_atomic(network_path, network); !st.ok()) {
      fail(st.message());
      break;
    }
    // Reload, and wait until every node knows all (SIGHUP again every 5 s
    // for a node that missed it while starting).
    bool ready = false;
    for (auto t0 = Clock::now(), hup = t0; !ready && Clock::now() - t0 < limit;) {
      if (Clock::now() >= hup) {
        for (const auto& p : procs) ::kill(p.pid, SIGHUP);
        hup = Clock::now() + std::chrono::seconds(5);
      }
      ready = true;
      for (const auto& p : procs) {
        auto info = client::Client::ping(p.node, 2000);
        if (!info.ok() || info->nodes != uint64_t(n_nodes)) ready = false;
      }
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!ready) {
      fail("the network did not come up");
      break;
    }
    note("network of " + std::to_string(n_nodes) + " nodes ready");

    // The last node goes down.
    NodeProc& victim = procs.back();
    ::kill(victim.pid, SIGKILL);
    int status = 0;
    ::waitpid(victim.pid, &status, 0);
    victim.pid = -1;

    // Store while it is down.
    const auto store_start = Clock::now();
    const swarm::NodeDescriptor target = procs.front().node;
    std::vector<swarm::AccountId> accounts;
    // 20 messages per account: far below the per-account rate limit's
    // burst (account_rate, 50/s, bursts of 200) and the quota.
    for (int a = 0; a < (messages + 19) / 20; ++a)
      accounts.push_back(swarm::AccountId::user(crypto::X25519KeyPair::generate().public_key()));
    std::atomic<int> next{0}, failed{0};
    std::atomic<bool> late{false};
    zmq::context_t ctx;
    std::vector<std::thread> threads;
    for (int t = 0; t < concurrency; ++t) {
      threads.emplace_back([&] {
        auto channel = client::Channel::open(ctx, target);
        if (!channel.ok()) {
          failed += 1;
          return;
        }
        for (int i = next++; i < messages; i = next++) {  // bounded by messages
          if (Clock::now() - store_start > limit) {
            late = true;
            return;
          }
          const Bytes data = crypto::random_bytes(size_t(size));
          if (!store_one(*channel, target, accounts[size_t(i) % accounts.size()], data).ok()) failed += 1;
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed || late) {
      fail(std::to_string(failed.load()) + " stores failed" + (late ? ", time limit reached" : ""));
      break;
    }
    const double store_s = seconds_since(store_start);
    note("stored " + std::to_string(messages) + " messages in " + std::to_string(store_s) + " s");

    // Every live node holds them all (replication pushes).
    std::optional<uint64_t> reference;
    for (auto t0 = Clock::now(); Clock::now() - t0 < limit;) {
      std::vector<std::optional<uint64_t>> counts;
      for (size_t i = 0; i + 1 < procs.size(); ++i) counts.push_back(stored_count(procs[i].dir));
      if (counts[0] && *counts[0] >= uint64_t(messages) &&
          std::all_of(counts.begin(), counts.end(), [&](const auto& c) { return c == counts[0]; })) {
        reference = counts[0];
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!reference) {
      fail("the live nodes did not agree on their message count");
      break;
    }

    // The first node's links still queue the pushes for the dead node, and
    // ZeroMQ would deliver them on reconnect; that is not catch-up. Unless
    // --queued-pushes, restart the first node (SIGTERM, same address, same
    // data) so that only anti-entropy can bring the messages back.
    if (!args.count("queued-pushes")) {
      NodeProc& first = procs.front();
      stop_node(first);
      first.pid = start_node(bin, first.dir, first.node.address, network_path);
      bool back = false;
      for (auto t0 = Clock::now(); !back && Clock::now() - t0 < limit;) {
        back = stored_count(first.dir) == reference;
        if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!back) {
        fail("the first node did not come back after its restart");
        break;
      }
    }

    // Restart on the old address and wait until it matches.
    const auto t_spawn = Clock::now();
    victim.pid = start_node(bin, victim.dir, victim.node.address, network_path);
    std::optional<double> up_s, match_s;
    uint64_t last_count = 0;
    while (Clock::now() - t_spawn < limit) {  // bounded by --max-seconds
      auto c = stored_count(victim.dir);
      if (c) {
        if (!up_s) up_s = seconds_since(t_spawn);
        last_count = *c;
        if (*c == *reference) {
          match_s = seconds_since(t_spawn);
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!match_s) {
      fail("the restarted node holds " + std::to_string(last_count) + " of " + std::to_string(*reference) +
           " messages after the limit");
      break;
    }
    // How the messages arrived: catch-up fetches, or replication pushes
    // that the live nodes' links had queued while it was down (ZeroMQ keeps
    // them, up to the high-water mark, and delivers them on reconnect).
    const auto st = node_status(victim.dir);
    const uint64_t caught_up = st.is_object() ? st["replication"].value("caught_up", uint64_t(0)) : 0;
    const uint64_t pushed = st.is_object() ? st["replication"].value("received", uint64_t(0)) : 0;
    note("restarted node answers after " + std::to_string(*up_s) + " s, matches its peers (" +
         std::to_string(*reference) + " messages) after " + std::to_string(*match_s) + " s: " +
         std::to_string(caught_up) + " by catch-up, " + std::to_string(pushed) + " queued pushes received");
    out = {{"nodes", n_nodes},
           {"messages", messages},
           {"size", size},
           {"stored_messages", *reference},
           {"store_seconds", store_s},
           {"restart_to_admin_seconds", *up_s},
           {"restart_to_match_seconds", *match_s},
           {"by_catch_up", caught_up},
           {"queued_pushes_received", pushed},
           {"caught_up_per_second", double(*reference) / std::max(1e-9, *match_s - *up_s)}};
  } while (false);

  for (auto& p : procs) stop_node(p);
  if (rc == 0) std::filesystem::remove_all(dir);
  if (rc == 0 && as_json) std::printf("%s\n", out.dump().c_str());
  return rc;
}
