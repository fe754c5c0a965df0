// e2e_tool: end-to-end store and fetch figures against a running devnet.
//
//   e2e_tool --network FILE [--messages M=1000] [--concurrency C=1]
//            [--size BYTES=1024] [--max-seconds S=300] [--timeout-ms T=15000]
//            [--recipients R=1] [--duration S] [--skip-fetch]
//            [--mode store|relay] [--fetch-rounds N=1] [--fetch-format binary|json]
//            [--pids FILE] [--json]
//
// --recipients R: the stores go round-robin to R fresh recipient accounts
// (a node limits requests per account and method, 50/s by default, so a
// sustained load needs many recipients); the fetch phase reads the first.
// --duration S: sustained mode; the senders keep storing for S seconds
// (--messages then defaults to 10,000,000 and still bounds the run), and the
// stores completed in every 5 s window are reported apart.
// --skip-fetch: no fetch phase.
// --mode relay: instead of stores, `info` requests through the path (four
// layers peeled: guard, middle and exit peel and forward, the destination
// peels and answers). With --pids (scripts/devnet's DIR/pids) the nodes'
// CPU time (utime + stime from /proc/PID/stat) over the run is read, and
// layers per CPU-second (i.e. per core) is reported: every layer (four per
// request) over every node's CPU. Next to it, the relays alone: the nodes
// that were never a destination during the run (all requests go to the
// first recipient's swarm, and middle and exit avoid that swarm, so the
// other nodes only peel and forward), their layers forwarded (counted from
// each answered request's route) over their CPU. Which pid is which node
// comes from the node.json files next to FILE (DIR/node*/node.json).
//
// Creates a temporary directory (mkdtemp, removed at the end) holding one
// recipient account and C throwaway sender accounts. C threads, each with
// its own Client and home, store M messages of BYTES bytes of text in total
// to the recipient, each through a full three-relay onion path (the path is
// kept open for the life of the Client; it is built and warmed up with one
// `info` request into the recipient's swarm before timing starts).
// Per-store latency runs from the call to Client::send until it returns
// with the swarm's acknowledgement.
//
// Then the recipient fetches:
//   - raw retrieve pages (Client::retrieve: a signed retrieve, up to
//     rpc::kDefaultRetrieveLimit messages per page): transport and node time
//     per page, without opening the messages; --fetch-rounds N reads the
//     whole inbox N times this way and reports the time per round too;
//     --fetch-format json asks for the JSON answer format (as older
//     clients do; Client::request, then parse_retrieve_answer) instead;
//   - Client::fetch(): everything again from the start, including opening
//     and verifying every message and keeping it in the client's local LMDB.
//
// Bounded: every loop is bounded by M (and the page count by M / page size
// + 2) and by --max-seconds; past the deadline, in-flight requests are
// cancelled through ClientOptions::cancelled.
//
// Only loopback networks: every node address in FILE must be
// tcp://127.0.0.1:PORT or tcp://localhost:PORT.
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_common.h"
#include "devnet.h"
#include "client/client.h"
#include "client/envelope.h"
#include "client/identity.h"
#include "config/network_file.h"
#include "onion/encoding.h"
#include "onion/heap.h"
#include "swarm/rpc.h"

namespace {

using namespace onionswarm;
using namespace onionswarm::bench;  // Clock, Summary, summarize, to_json, TempDir, ...

constexpr size_t kMaxConcurrency = 256;
constexpr uint64_t kMaxMessages = 10'000'000;
constexpr size_t kMaxRecipients = 1024;
constexpr double kWindowMs = 5000;  // sustained mode: throughput per window

const char* kUsage =
    "usage: e2e_tool --network FILE [--messages M=1000] [--concurrency C=1]\n"
    "                [--size BYTES=1024] [--max-seconds S=300] [--timeout-ms T=15000]\n"
    "                [--recipients R=1] [--duration S] [--skip-fetch] [--mode store|relay]\n"
    "                [--fetch-rounds N=1] [--fetch-format binary|json] [--pids FILE] [--json]\n";
const bench::Tool kTool{"e2e_tool", kUsage};

struct Args {
  std::string network;
  uint64_t messages = 1000;
  size_t concurrency = 1;
  size_t size = 1024;
  uint64_t max_seconds = 300;
  uint64_t timeout_ms = 15000;
  size_t recipients = 1;
  uint64_t duration_s = 0;  // 0: count-bounded run
  uint64_t fetch_rounds = 1;  // raw retrieve passes over the whole inbox
  bool fetch_json = false;    // --fetch-format json
  bool skip_fetch = false;
  bool relay = false;  // --mode relay
  std::string pids;
  bool json = false;
};

Args parse_args(int argc, char** argv) {
  Args a;
  bool messages_given = false;
  bench::for_each_option(
      kTool, argc, argv, {"--json", "--skip-fetch"},
      [&](const std::string& opt) {
        if (opt == "--json") a.json = true;
        if (opt == "--skip-fetch") a.skip_fetch = true;
      },
      [&](const std::string& opt, const std::string& val) {
        if (opt == "--network") {
          a.network = val;
        } else if (opt == "--messages") {
          a.messages = bench::parse_u64(kTool, opt, val, 1, kMaxMessages);
          messages_given = true;
        } else if (opt == "--concurrency") {
          a.concurrency = size_t(bench::parse_u64(kTool, opt, val, 1, kMaxConcurrency));
        } else if (opt == "--size") {
          a.size = size_t(bench::parse_u64(kTool, opt, val, 1, client::kMaxTextBytes));
        } else if (opt == "--max-seconds") {
          a.max_seconds = bench::parse_u64(kTool, opt, val, 1, 86400);
        } else if (opt == "--timeout-ms") {
          a.timeout_ms = bench::parse_u64(kTool, opt, val, 100, 600000);
        } else if (opt == "--recipients") {
          a.recipients = size_t(bench::parse_u64(kTool, opt, val, 1, kMaxRecipients));
        } else if (opt == "--duration") {
          a.duration_s = bench::parse_u64(kTool, opt, val, 1, 86400);
        } else if (opt == "--mode") {
          if (val != "store" && val != "relay") bench::usage_error(kTool, "--mode is store or relay");
          a.relay = val == "relay";
        } else if (opt == "--fetch-rounds") {
          a.fetch_rounds = bench::parse_u64(kTool, opt, val, 1, 10000);
        } else if (opt == "--fetch-format") {
          if (val != "binary" && val != "json") bench::usage_error(kTool, "--fetch-format is binary or json");
          a.fetch_json = val == "json";
        } else if (opt == "--pids") {
          a.pids = val;
        } else {
          bench::usage_error(kTool, "unknown option " + opt);
        }
      });
  if (a.network.empty()) bench::usage_error(kTool, "--network FILE is required");
  if (a.duration_s && !messages_given) a.messages = kMaxMessages;
  if (a.duration_s && a.duration_s >= a.max_seconds) a.max_seconds = a.duration_s + 120;
  if (a.concurrency > a.messages) a.concurrency = size_t(a.messages);
  if (a.relay) a.skip_fetch = true;
  return a;
}

long peak_rss_kib() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;  // KiB on Linux
}

struct Shared {
  const Args* args = nullptr;
  const config::NetworkFile* net = nullptr;
  std::vector<swarm::AccountId> recipients;  // [0] is the one fetched
  Clock::time_point deadline;
  Clock::time_point start;     // set before go
  Clock::time_point stop_at;   // sustained mode: no new request after it
  std::atomic<uint64_t> next{0};
  std::atomic<bool> go{false};
  std::atomic<size_t> ready{0};
  std::mutex mu;
  std::vector<double> latencies_ms;      // successful stores
  std::vector<double> done_at_ms;        // their completion, ms after start
  std::map<std::string, uint64_t> errors;  // code name -> count
  uint64_t existed = 0;
  std::vector<double> setup_ms;          // open + first path, per client
  // Relay mode, answered requests only: layers each node forwarded (as
  // guard, middle or exit), and the nodes that were a destination; by
  // x25519 key in hex.
  std::map<std::string, uint64_t> forwarded;
  std::set<std::string> destinations;
};

client::ClientOptions make_options(const Shared& sh, const std::string& home) {
  return devnet_client_options(*sh.net, home, sh.args->timeout_ms, sh.deadline);
}

void add_error(Shared& sh, const std::string& what) {
  std::lock_guard lock(sh.mu);
  ++sh.errors[what];
}

void sender_thread(Shared& sh, size_t index, const std::string& home) {
  auto t0 = Clock::now();
  auto id = client::Identity::create(home);
  std::unique_ptr<client::Client> cl;
  if (id.ok()) {
    auto opened = client::Client::open(make_options(sh, home));
    if (opened.ok()) {
      cl = std::move(opened).value();
      // Warm-up: one `info` request into the recipient's swarm through the
      // path, so the links (CURVE handshakes) are up before timing starts.
      auto w = cl->request(sh.recipients[0], swarm::rpc::InfoRequest{});
      if (!w.ok()) {
        add_error(sh, "setup_warmup:" + std::string(code_name(w.status().code())));
        cl.reset();
      }
    } else {
      add_error(sh, "setup_open:" + std::string(code_name(opened.status().code())));
    }
  } else {
    add_error(sh, "setup_identity:" + std::string(code_name(id.status().code())));
  }
  {
    std::lock_guard lock(sh.mu);
    sh.setup_ms.push_back(ms_since(t0));
  }
  sh.ready.fetch_add(1);
  // Wait for the start signal, bounded by the deadline.
  while (!sh.go.load() && Clock::now() < sh.deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (!cl) return;

  std::vector<double> mine, mine_done;
  std::map<std::string, uint64_t> errs;
  uint64_t existed = 0;
  std::map<std::string, uint64_t> forwarded;
  std::set<std::string> destinations;
  const size_t size = sh.args->size;
  std::string text(size, 'x');
  // Bounded by M (the shared counter) and by the deadline.
  for (;;) {
    uint64_t i = sh.next.fetch_add(1);
    if (i >= sh.args->messages) break;
    if (sh.args->duration_s && Clock::now() >= sh.stop_at) break;
    if (Clock::now() >= sh.deadline) {
      ++errs["deadline"];
      continue;  // count the rest as not sent, still bounded by M
    }
    // Unique text per message: a distinct prefix, then padding to size.
    std::string tag = "m" + std::to_string(index) + "-" + std::to_string(i) + " ";
    std::memcpy(text.data(), tag.data(), std::min(tag.size(), size));
    const swarm::AccountId& to = sh.recipients[i % sh.recipients.size()];
    auto s0 = Clock::now();
    Status st;
    if (sh.args->relay) {
      auto r = cl->request(to, swarm::rpc::InfoRequest{});
      if (!r.ok()) st = r.status();
      if (r.ok() && cl->last_route()) {
        const client::Route& route = *cl->last_route();
        for (const auto* hop : {&route.path.guard, &route.path.middle, &route.path.exit})
          ++forwarded[to_hex(hop->x25519.view())];
        destinations.insert(to_hex(route.destination.x25519.view()));
      }
    } else {
      auto r = cl->send(to, text);
      if (r.ok() && r->existed) ++existed;
      if (!r.ok()) st = r.status();
    }
    double ms = ms_since(s0);
    if (st.ok()) {
      mine.push_back(ms);
      mine_done.push_back(ms_since(sh.start));
    } else {
      ++errs[std::string(code_name(st.code()))];
    }
  }
  std::lock_guard lock(sh.mu);
  sh.latencies_ms.insert(sh.latencies_ms.end(), mine.begin(), mine.end());
  sh.done_at_ms.insert(sh.done_at_ms.end(), mine_done.begin(), mine_done.end());
  for (auto& [k, v] : errs) sh.errors[k] += v;
  sh.existed += existed;
  for (auto& [k, v] : forwarded) sh.forwarded[k] += v;
  sh.destinations.insert(destinations.begin(), destinations.end());
}

// utime + stime (seconds) of each process listed in pids_file (one pid a
// line, at most 1024), by pid; nullopt when no file is given or a process is
// not readable.
std::optional<std::map<long, double>> nodes_cpu_s(const std::string& pids_file) {
  if (pids_file.empty()) return std::nullopt;
  FILE* f = std::fopen(pids_file.c_str(), "r");
  if (!f) return std::nullopt;
  std::map<long, double> out;
  long pid = 0;
  bool ok = true;
  while (out.size() < 1024 && std::fscanf(f, "%ld", &pid) == 1) {
    auto cpu = bench::process_cpu_s(pid);
    if (!cpu) {
      ok = false;
      break;
    }
    out[pid] = *cpu;
  }
  std::fclose(f);
  if (!ok || out.empty()) return std::nullopt;
  return out;
}

double total_of(const std::map<long, double>& cpu) {
  double total = 0;
  for (const auto& [pid, s] : cpu) total += s;
  return total;
}

// Each node's x25519 key (hex) by pid, from the node.json files (scripts/
// devnet's DIR/node*/node.json, DIR holding pids_file; at most 1024).
// Empty when there are none.
std::map<long, std::string> node_keys_by_pid(const std::string& pids_file) {
  std::map<long, std::string> out;
  std::error_code ec;
  const auto dir = std::filesystem::path(pids_file).parent_path();
  for (const auto& entry : std::filesystem::directory_iterator(dir.empty() ? "." : dir, ec)) {
    if (out.size() >= 1024) break;
    std::ifstream in(entry.path() / "node.json");
    if (!in) continue;
    auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("pid") || !j.contains("x25519")) continue;
    const auto &pid = j["pid"], &key = j["x25519"];
    if (pid.is_number_integer() && pid.get<long>() > 0 && key.is_string() && key.get_ref<const std::string&>().size() == 64)
      out[pid.get<long>()] = key.get<std::string>();
  }
  return out;
}

// The relays-only figure: layers forwarded by the nodes that were never a
// destination, over their CPU.
struct RelayOnly {
  size_t nodes = 0;  // 0: not measured (no pids, no node.json, or every node was a destination)
  uint64_t layers = 0;
  double cpu_s = 0;
  double layers_per_cpu_s() const { return cpu_s > 0 ? double(layers) / cpu_s : 0; }
};

RelayOnly relay_only(const Shared& sh, const std::map<long, double>& cpu0, const std::map<long, double>& cpu1) {
  RelayOnly r;
  const auto keys = node_keys_by_pid(sh.args->pids);
  for (const auto& [pid, after] : cpu1) {
    auto key = keys.find(pid);
    auto before = cpu0.find(pid);
    if (key == keys.end() || before == cpu0.end()) return RelayOnly{};  // a node we cannot place
    if (sh.destinations.count(key->second)) continue;
    auto n = sh.forwarded.find(key->second);
    r.layers += n == sh.forwarded.end() ? 0 : n->second;
    r.cpu_s += after - before->second;
    ++r.nodes;
  }
  return r;
}

struct FetchFigures {
  bool done = false;
  std::string error;
  double path_ms = 0;
  double warmup_ms = 0;
  uint64_t raw_pages = 0;
  uint64_t raw_messages = 0;
  double raw_total_ms = 0;  // page requests only (open time excluded)
  double open_total_ms = 0;  // open_message over every raw message
  uint64_t open_failed = 0;
  std::vector<double> raw_page_ms;
  std::vector<double> raw_round_ms;  // one pass over the whole inbox, open time excluded
  double fetch_total_ms = 0;
  uint64_t fetch_messages = 0;
  uint64_t fetch_unverified = 0;
};

FetchFigures run_fetch(Shared& sh, const std::string& home, uint64_t expected) {
  FetchFigures f;
  auto opened = client::Client::open(make_options(sh, home));
  if (!opened.ok()) {
    f.error = "open: " + opened.status().to_string();
    return f;
  }
  auto& cl = **opened;
  auto t0 = Clock::now();
  if (auto p = cl.path(); !p.ok()) {
    f.error = "path: " + p.status().to_string();
    return f;
  }
  f.path_ms = ms_since(t0);
  // Warm-up (links up) as for the senders; timed separately.
  auto w0 = Clock::now();
  if (auto w = cl.request(cl.account_id(), swarm::rpc::InfoRequest{}); !w.ok()) {
    f.error = "warm-up: " + w.status().to_string();
    return f;
  }
  f.warmup_ms = ms_since(w0);

  // Raw signed retrieves, page by page from the beginning.
  // A node may return fewer than `limit` messages per page (answer size
  // cap), but every page that continues returns at least one message.
  const uint64_t max_pages = expected + 2;
  auto id = client::Identity::load(home);
  if (!id.ok()) {
    f.error = "identity: " + id.status().to_string();
    return f;
  }
  auto r0 = Clock::now();
  for (uint64_t round = 0; round < sh.args->fetch_rounds && Clock::now() < sh.deadline; ++round) {
    uint64_t after_ts = 0;
    crypto::Hash after_hash{};
    double round_ms = 0;
    for (uint64_t page = 0; page < max_pages && Clock::now() < sh.deadline; ++page) {
      swarm::rpc::RetrieveRequest req;
      req.account = cl.account_id();
      req.ns = 0;
      req.after_timestamp_ms = after_ts;
      req.after_hash = after_hash;
      req.limit = swarm::rpc::kDefaultRetrieveLimit;
      auto p0 = Clock::now();
      Result<swarm::rpc::RetrieveAnswer> answer = error(Code::kInternal, "not asked");
      if (sh.args->fetch_json) {
        auto json = cl.request(cl.account_id(), std::move(req));
        answer = json.ok() ? swarm::rpc::parse_retrieve_answer(*json) : Result<swarm::rpc::RetrieveAnswer>(json.status());
      } else {
        answer = cl.retrieve(cl.account_id(), std::move(req));
      }
      double ms = ms_since(p0);
      if (!answer.ok()) {
        f.error = "retrieve: " + answer.status().to_string();
        return f;
      }
      f.raw_page_ms.push_back(ms);
      round_ms += ms;
      ++f.raw_pages;
      f.raw_messages += answer->messages.size();
      // Client-side cost of opening and verifying, timed apart from transport.
      auto o0 = Clock::now();
      for (const auto& item : answer->messages) {
        if (!client::open_message(id->x25519(), item.data).ok()) ++f.open_failed;
      }
      f.open_total_ms += ms_since(o0);
      if (!answer->messages.empty()) {
        after_ts = answer->messages.back().timestamp_ms;
        after_hash = answer->messages.back().hash;
      }
      if (!answer->more || answer->messages.empty()) break;
    }
    f.raw_round_ms.push_back(round_ms);
  }
  f.raw_total_ms = ms_since(r0) - f.open_total_ms;

  // Client::fetch: transport, node, open + verify, local store.
  auto f0 = Clock::now();
  auto got = cl.fetch();
  f.fetch_total_ms = ms_since(f0);
  if (!got.ok()) {
    f.error = "fetch: " + got.status().to_string();
    return f;
  }
  for (const auto& e : *got) {
    ++f.fetch_messages;
    if (!e.verified) ++f.fetch_unverified;
  }
  f.done = true;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  heap::keep_frame_buffers();  // as the CLI does (cli/main.cc)
  const Args args = parse_args(argc, argv);

  const auto net = load_devnet_network(kTool, args.network);
  if (!net) return 1;
  TempDir tmp;
  if (!tmp.make(kTool)) return 1;

  Shared sh;
  sh.args = &args;
  sh.net = &*net;
  sh.deadline = Clock::now() + std::chrono::seconds(args.max_seconds);

  const std::string recipient_home = tmp.path + "/recipient";
  for (size_t r = 0; r < args.recipients; ++r) {
    auto rid = client::Identity::create(r == 0 ? recipient_home : tmp.path + "/recipient-" + std::to_string(r));
    if (!rid.ok()) {
      std::fprintf(stderr, "e2e_tool: recipient identity: %s\n", rid.status().to_string().c_str());
      return 1;
    }
    sh.recipients.push_back(rid->account_id());
  }

  // Senders: C threads, each its own home and Client.
  std::vector<std::thread> threads;
  threads.reserve(args.concurrency);
  auto setup0 = Clock::now();
  for (size_t i = 0; i < args.concurrency; ++i) {
    std::string home = tmp.path + "/sender-" + std::to_string(i);
    threads.emplace_back([&sh, i, home] { sender_thread(sh, i, home); });
  }
  while (sh.ready.load() < args.concurrency && Clock::now() < sh.deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double setup_wall_ms = ms_since(setup0);
  const auto cpu0 = nodes_cpu_s(args.pids);
  auto start = Clock::now();
  sh.start = start;
  sh.stop_at = start + std::chrono::seconds(args.duration_s);
  sh.go.store(true);
  for (auto& t : threads) t.join();
  const double store_wall_ms = ms_since(start);
  const auto cpu1 = nodes_cpu_s(args.pids);
  const double nodes_cpu = cpu0 && cpu1 ? total_of(*cpu1) - total_of(*cpu0) : -1;
  const RelayOnly relays = args.relay && cpu0 && cpu1 ? relay_only(sh, *cpu0, *cpu1) : RelayOnly{};

  const Summary st = summarize(sh.latencies_ms);
  // Completed requests per full 5 s window (sustained mode).
  std::vector<double> windows;
  if (args.duration_s) {
    windows.assign(size_t(store_wall_ms / kWindowMs), 0);
    for (double t : sh.done_at_ms)
      if (size_t w = size_t(t / kWindowMs); w < windows.size()) windows[w] += 1000.0 / kWindowMs;
  }
  const double window_min = windows.empty() ? 0 : *std::min_element(windows.begin(), windows.end());
  const double window_max = windows.empty() ? 0 : *std::max_element(windows.begin(), windows.end());
  const double layers = double(st.n) * 4;  // guard, middle, exit, destination
  const double layers_per_cpu_s = nodes_cpu > 0 ? layers / nodes_cpu : 0;
  uint64_t errors = 0;
  for (auto& [k, v] : sh.errors) errors += v;
  const double stores_per_s = store_wall_ms > 0 ? double(st.n) * 1000.0 / store_wall_ms : 0;

  FetchFigures fetch;
  if (!args.skip_fetch) {
    // Waiting messages: the last stores reach two members of the swarm in
    // deferred pushes, replica_defer_ms (500 ms by default) later
    // (PROTOCOL.md 8.2); a fetch at such a member before then would read
    // fewer. Not timed.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    fetch = run_fetch(sh, recipient_home, st.n);
  }
  const Summary pages = summarize(fetch.raw_page_ms);
  const Summary rounds = summarize(fetch.raw_round_ms);
  const long rss_kib = peak_rss_kib();

  if (args.json) {
    nlohmann::json j;
    j["messages"] = args.messages;
    j["concurrency"] = args.concurrency;
    j["size_bytes"] = args.size;
    j["nodes"] = net->nodes.size();
    j["swarm_size"] = net->swarm_size;
    j["stored"] = st.n;
    j["existed"] = sh.existed;
    j["errors"] = errors;
    j["error_codes"] = sh.errors;
    j["setup_wall_ms"] = setup_wall_ms;
    j["store_wall_ms"] = store_wall_ms;
    j["mode"] = args.relay ? "relay" : "store";
    j["recipients"] = args.recipients;
    j["duration_s"] = args.duration_s;
    j["stores_per_s"] = stores_per_s;  // requests per second in relay mode
    j["store_latency"] = to_json(st);
    if (args.duration_s) {
      j["window_s"] = kWindowMs / 1000;
      j["window_per_s"] = windows;
      j["window_min_per_s"] = window_min;
    }
    if (nodes_cpu >= 0) {
      j["nodes_cpu_s"] = nodes_cpu;
      j["nodes_cpu_ms_per_request"] = st.n ? nodes_cpu * 1000 / double(st.n) : 0;
      if (args.relay) j["layers_per_cpu_s"] = layers_per_cpu_s;
      if (relays.nodes) {
        j["relay_only_nodes"] = relays.nodes;
        j["relay_only_layers"] = relays.layers;
        j["relay_only_cpu_s"] = relays.cpu_s;
        j["relay_only_layers_per_cpu_s"] = relays.layers_per_cpu_s();
      }
    }
    nlohmann::json fj;
    fj["skipped"] = args.skip_fetch;
    fj["ok"] = fetch.done;
    if (!fetch.error.empty()) fj["error"] = fetch.error;
    fj["path_ms"] = fetch.path_ms;
    fj["warmup_ms"] = fetch.warmup_ms;
    fj["raw_pages"] = fetch.raw_pages;
    fj["raw_messages"] = fetch.raw_messages;
    fj["raw_total_ms"] = fetch.raw_total_ms;
    fj["raw_page_latency"] = to_json(pages);
    fj["format"] = args.fetch_json ? "json" : "binary";
    fj["raw_rounds"] = fetch.raw_round_ms.size();
    fj["raw_round_latency"] = to_json(rounds);
    fj["open_total_ms"] = fetch.open_total_ms;
    fj["open_failed"] = fetch.open_failed;
    fj["fetch_messages"] = fetch.fetch_messages;
    fj["fetch_unverified"] = fetch.fetch_unverified;
    fj["fetch_total_ms"] = fetch.fetch_total_ms;
    j["fetch"] = fj;
    j["client_peak_rss_kib"] = rss_kib;
    std::printf("%s\n", j.dump().c_str());
  } else {
    if (args.relay)
      std::printf("relay (info requests: 4 layers each, %zu nodes, 3 relays + destination)\n", net->nodes.size());
    else
      std::printf("store (%zu B text, %zu nodes, swarm size %zu, 3 relays + destination, %zu recipients)\n",
                  args.size, net->nodes.size(), net->swarm_size, args.recipients);
    std::printf("%9s %6s %7s %9s %8s %8s %8s %8s %13s\n", "messages", "conc", "errors", "stores/s",
                "p50 ms", "p90 ms", "p99 ms", "max ms", "peak RSS KiB");
    std::printf("%9llu %6zu %7llu %9.1f %8.2f %8.2f %8.2f %8.2f %13ld\n",
                (unsigned long long)args.messages, args.concurrency, (unsigned long long)errors,
                stores_per_s, st.p50, st.p90, st.p99, st.max, rss_kib);
    if (!sh.errors.empty()) {
      std::printf("errors by code:");
      for (auto& [k, v] : sh.errors) std::printf(" %s=%llu", k.c_str(), (unsigned long long)v);
      std::printf("\n");
    }
    std::printf("%s %zu (existed %llu) in %.1f ms; setup (identities, clients, paths, warm-up) %.1f ms\n",
                args.relay ? "answered" : "stored", st.n, (unsigned long long)sh.existed, store_wall_ms,
                setup_wall_ms);
    if (args.duration_s) {
      std::printf("per %.0f s window (/s):", kWindowMs / 1000);
      for (double w : windows) std::printf(" %.0f", w);
      std::printf("; min %.0f, max %.0f\n", window_min, window_max);
    }
    if (nodes_cpu >= 0) {
      std::printf("nodes' CPU over the run: %.2f s, %.3f ms per request", nodes_cpu,
                  st.n ? nodes_cpu * 1000 / double(st.n) : 0.0);
      if (args.relay) std::printf("; %.0f layers per CPU-second (per core)", layers_per_cpu_s);
      std::printf("\n");
      if (relays.nodes)
        std::printf("relays only (%zu of %zu nodes, never a destination): %llu layers forwarded in %.2f s of "
                    "their CPU; %.0f layers per CPU-second\n",
                    relays.nodes, cpu1->size(), (unsigned long long)relays.layers, relays.cpu_s,
                    relays.layers_per_cpu_s());
    }
    if (args.skip_fetch) return errors == 0 ? 0 : 1;
    std::printf("\nfetch (recipient)\n");
    if (!fetch.error.empty()) std::printf("error: %s\n", fetch.error.c_str());
    std::printf("path choice %.2f ms, first request (links up) %.2f ms\n", fetch.path_ms,
                fetch.warmup_ms);
    std::printf("raw retrieve: %llu pages, %llu messages, %.1f ms total; per page p50 %.2f p90 %.2f "
                "p99 %.2f max %.2f ms\n",
                (unsigned long long)fetch.raw_pages, (unsigned long long)fetch.raw_messages,
                fetch.raw_total_ms, pages.p50, pages.p90, pages.p99, pages.max);
    if (fetch.raw_round_ms.size() > 1)
      std::printf("raw retrieve, whole inbox: %zu rounds; per round p50 %.2f p90 %.2f p99 %.2f max %.2f ms\n",
                  fetch.raw_round_ms.size(), rounds.p50, rounds.p90, rounds.p99, rounds.max);
    std::printf("open_message (unseal + verify) of those: %.1f ms total (%llu failed)\n",
                fetch.open_total_ms, (unsigned long long)fetch.open_failed);
    std::printf("Client::fetch (open, verify, local store): %llu messages (%llu unverified) in %.1f ms\n",
                (unsigned long long)fetch.fetch_messages, (unsigned long long)fetch.fetch_unverified,
                fetch.fetch_total_ms);
  }
  return errors == 0 && (args.skip_fetch || fetch.done) ? 0 : 1;
}
