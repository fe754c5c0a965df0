// prefill_tool: fills the message stores of one devnet swarm before its
// nodes start, for the node-memory figure of issue 6 (docs/PERFORMANCE.md,
// "Node memory").
//
//   prefill_tool --devnet DIR [--swarm J=0] [--messages N=1000000]
//                [--accounts A=1000] [--size BYTES=1024] [--ttl-hours H=168]
//                [--batch B=8192] [--json]
//
// DIR is a stopped scripts/devnet directory (DIR/network.json and
// DIR/nodeI/node.json from an earlier `devnet start`; the node keys in
// DIR/nodeI/ stay, so the swarms are the same when it is started again).
// The tool computes the swarms from DIR/network.json (swarm/swarms.h), picks
// swarm J, and makes A user accounts (05 || BLAKE2b-256("prefill" || i),
// the first A values of i whose account maps to swarm J), so every prefilled
// message belongs to that swarm and to no other. N messages of BYTES bytes,
// spread round-robin over the A accounts (N / A per account must stay within
// the node's per-account quota, 10,000 by default), are written with
// node::Storage into the first member's DIR/nodeI/db, in group commits of up
// to B writes (durable, as the node writes). Message k's data is a
// deterministic function of k (its index in 8 bytes, then filler), its
// timestamp is a fixed base + k ms and its expiry base + H hours, so
// the messages are distinct and a second run makes the same hashes.
// The filled db's data.mdb is then copied into every other member's
// DIR/nodeI/db (the environment is closed, so the file copy is a consistent
// LMDB environment): every member holds the same messages and the
// anti-entropy catch-up finds nothing to copy.
//
// Refuses to run when any node of DIR is alive (DIR/nodeI/pid names a live
// process) or a member's db already holds messages.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/network_file.h"
#include "node/storage.h"
#include "onion/crypto.h"
#include "onion/encoding.h"
#include "swarm/swarms.h"

namespace {

namespace fs = std::filesystem;
using namespace onionswarm;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMaxMessages = 100'000'000;
constexpr uint64_t kMaxAccounts = 1'000'000;
constexpr uint64_t kMaxNodes = 500;
constexpr uint64_t kMaxAccountTries = 1'000'000'000;  // bounds the account search

struct Args {
  std::string devnet;
  uint64_t swarm = 0;
  uint64_t messages = 1'000'000;
  uint64_t accounts = 1000;
  uint64_t size = 1024;
  uint64_t ttl_hours = 168;
  uint64_t batch = 8192;
  bool json = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "prefill_tool: %s\nusage: prefill_tool --devnet DIR [--swarm J] [--messages N] [--accounts A]\n"
               "                    [--size BYTES] [--ttl-hours H] [--batch B] [--json]\n",
               why);
  std::exit(2);
}

uint64_t parse_u64(const std::string& opt, const std::string& s, uint64_t lo, uint64_t hi) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
    usage((opt + " needs a non-negative integer").c_str());
  const uint64_t v = std::stoull(s);
  if (v < lo || v > hi)
    usage((opt + " must be from " + std::to_string(lo) + " to " + std::to_string(hi)).c_str());
  return v;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string opt = argv[i];
    if (opt == "--json") {
      a.json = true;
      continue;
    }
    if (i + 1 >= argc) usage((opt + " needs a value").c_str());
    const std::string val = argv[++i];
    if (opt == "--devnet") a.devnet = val;
    else if (opt == "--swarm") a.swarm = parse_u64(opt, val, 0, kMaxNodes);
    else if (opt == "--messages") a.messages = parse_u64(opt, val, 1, kMaxMessages);
    else if (opt == "--accounts") a.accounts = parse_u64(opt, val, 1, kMaxAccounts);
    else if (opt == "--size") a.size = parse_u64(opt, val, 16, 64 * 1024);
    else if (opt == "--ttl-hours") a.ttl_hours = parse_u64(opt, val, 1, 24 * 365);
    else if (opt == "--batch") a.batch = parse_u64(opt, val, 1, 1'000'000);
    else usage(("unknown option " + opt).c_str());
  }
  if (a.devnet.empty()) usage("--devnet is required");
  return a;
}

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool pid_alive(const fs::path& pid_file) {
  auto text = read_file(pid_file);
  if (!text) return false;
  const long pid = std::strtol(text->c_str(), nullptr, 10);
  if (pid <= 0) return false;
  // As scripts/devnet: a live onionswarm-node (a zombie's cmdline is empty).
  auto cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline && cmdline->find("onionswarm-node") != std::string::npos;
}

uint64_t now_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

// Message k of the prefill: its index (8 bytes, big-endian), then the byte
// pattern (k + i) * 131 mod 251; the same k gives the same data on every run.
Bytes message_data(uint64_t k, size_t size) {
  Bytes d(size);
  for (size_t i = 0; i < 8; ++i) d[i] = uint8_t(k >> (56 - 8 * i));
  for (size_t i = 8; i < size; ++i) d[i] = uint8_t(((k + i) * 131) % 251);
  return d;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "prefill_tool: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  const fs::path dir = args.devnet;

  auto net = config::load_network_file((dir / "network.json").string());
  if (!net.ok()) return fail(net.status().message());
  if (net->nodes.empty()) return fail("network.json lists no nodes; start the devnet once, then stop it");

  // nodeI directories by the node's ed25519 key (hex), from their node.json.
  std::map<std::string, fs::path> dir_of_node;
  for (uint64_t i = 1; i <= kMaxNodes; ++i) {
    const fs::path nd = dir / ("node" + std::to_string(i));
    if (!fs::is_directory(nd)) break;
    if (pid_alive(nd / "pid")) return fail(nd.string() + " is running; run scripts/devnet stop first");
    auto info_text = read_file(nd / "node.json");
    if (!info_text) return fail("cannot read " + (nd / "node.json").string());
    const auto info = nlohmann::json::parse(*info_text, nullptr, false);
    if (!info.is_object() || !info.contains("ed25519") || !info["ed25519"].is_string())
      return fail((nd / "node.json").string() + ": no ed25519 key");
    dir_of_node[info["ed25519"].get<std::string>()] = nd;
  }

  const auto swarms = swarm::compute_swarms(net->nodes, net->swarm_size);
  if (args.swarm >= swarms.size())
    return fail("--swarm " + std::to_string(args.swarm) + ": the network has " + std::to_string(swarms.size()) +
                " swarms");
  std::vector<fs::path> member_dirs;
  for (const auto& m : swarms[args.swarm].members) {
    auto it = dir_of_node.find(to_hex(m.ed25519.view()));
    if (it == dir_of_node.end()) return fail("no node directory for member " + to_hex(m.ed25519.view()));
    member_dirs.push_back(it->second);
  }
  if (args.messages / args.accounts + 1 > node::StorageOptions{}.quota_messages)
    return fail("--messages / --accounts exceeds the per-account quota of " +
                std::to_string(node::StorageOptions{}.quota_messages));

  // Accounts of swarm J, deterministic.
  const auto t_accounts = Clock::now();
  std::vector<swarm::AccountId> accounts;
  for (uint64_t i = 0; accounts.size() < args.accounts && i < kMaxAccountTries; ++i) {
    std::string seed = "prefill" + std::to_string(i);
    swarm::AccountId a;
    a.prefix = swarm::kUserPrefix;
    const crypto::Hash h = crypto::hash(as_bytes(seed));
    std::memcpy(a.key.data(), h.view().data(), a.key.size());
    if (swarm::swarm_index_for(swarms, a) == args.swarm) accounts.push_back(a);
  }
  if (accounts.size() < args.accounts) return fail("could not find enough accounts for the swarm");

  // Fill the first member.
  const fs::path first_db = member_dirs[0] / "db";
  for (const auto& md : member_dirs) {
    if (fs::exists(md / "db" / "data.mdb")) {
      node::StorageOptions so;
      so.path = (md / "db").string();
      auto s = node::Storage::open(so);
      if (!s.ok()) return fail(s.status().message());
      auto st = (*s)->stats();
      if (!st.ok()) return fail(st.status().message());
      if (st->messages > 0)
        return fail((md / "db").string() + " already holds " + std::to_string(st->messages) + " messages");
    }
  }

  const auto t_fill = Clock::now();
  const uint64_t base_ms = now_ms();
  uint64_t commits = 0;
  {
    node::StorageOptions so;
    so.path = first_db.string();
    so.max_batch = args.batch;
    auto opened = node::Storage::open(so);
    if (!opened.ok()) return fail(opened.status().message());
    node::Storage& storage = **opened;

    std::mutex mu;
    std::condition_variable cv;
    uint64_t in_flight = 0, done = 0, errors = 0;
    std::string first_error;
    const uint64_t window = args.batch * 2;  // bounds the queued messages in memory
    for (uint64_t k = 0; k < args.messages; ++k) {
      node::StoredMessage m;
      m.account = accounts[k % accounts.size()];
      m.ns = 0;
      m.timestamp_ms = base_ms + k;
      m.expiry_ms = base_ms + args.ttl_hours * 3600'000;
      m.data = message_data(k, args.size);
      m.hash = crypto::hash(m.data);
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return in_flight < window; });
        ++in_flight;
      }
      storage.store_async(std::move(m), [&](Result<node::StoreResult> r) {
        std::lock_guard lk(mu);
        --in_flight;
        ++done;
        if (!r.ok() || *r != node::StoreResult::kNew) {
          if (errors++ == 0)
            first_error = r.ok() ? "a message was not stored as new" : r.status().message();
        }
        cv.notify_all();
      });
    }
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return in_flight == 0; });
    }
    if (errors) return fail(std::to_string(errors) + " stores failed; first: " + first_error);
    auto st = storage.stats();
    if (!st.ok()) return fail(st.status().message());
    if (st->messages != args.messages)
      return fail("stored " + std::to_string(st->messages) + " messages, expected " +
                  std::to_string(args.messages));
    commits = storage.commits();
  }  // closes the environment
  const double fill_s = std::chrono::duration<double>(Clock::now() - t_fill).count();

  // Copy to the other members.
  const auto t_copy = Clock::now();
  for (size_t i = 1; i < member_dirs.size(); ++i) {
    const fs::path db = member_dirs[i] / "db";
    std::error_code ec;
    fs::create_directories(db, ec);
    fs::remove(db / "lock.mdb", ec);
    if (!fs::copy_file(first_db / "data.mdb", db / "data.mdb", fs::copy_options::overwrite_existing, ec))
      return fail("copy to " + db.string() + ": " + ec.message());
  }
  const double copy_s = std::chrono::duration<double>(Clock::now() - t_copy).count();
  const double accounts_s = std::chrono::duration<double>(t_fill - t_accounts).count();
  const uint64_t file_bytes = fs::file_size(first_db / "data.mdb");

  nlohmann::json out = {{"swarm", args.swarm},
                        {"members", nlohmann::json::array()},
                        {"messages", args.messages},
                        {"accounts", args.accounts},
                        {"size", args.size},
                        {"batch", args.batch},
                        {"commits", commits},
                        {"account_search_s", accounts_s},
                        {"fill_s", fill_s},
                        {"fill_per_s", double(args.messages) / fill_s},
                        {"copy_s", copy_s},
                        {"data_mdb_bytes", file_bytes}};
  for (const auto& md : member_dirs) out["members"].push_back(md.filename().string());
  if (args.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("swarm %llu: filled %s with %llu messages (%llu accounts, %llu bytes each) in %.1f s "
                "(%.0f/s, %llu commits); data.mdb %.1f MiB; copied to %zu members in %.1f s\n",
                (unsigned long long)args.swarm, member_dirs[0].filename().c_str(),
                (unsigned long long)args.messages, (unsigned long long)args.accounts,
                (unsigned long long)args.size, fill_s, double(args.messages) / fill_s,
                (unsigned long long)commits, double(file_bytes) / (1 << 20), member_dirs.size() - 1, copy_s);
    std::printf("members:");
    for (const auto& md : member_dirs) std::printf(" %s", md.filename().c_str());
    std::printf("\n");
  }
  return 0;
}
