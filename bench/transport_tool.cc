// transport_tool: the floor that ZeroMQ sets under a relayed request on this
// machine, with no onion crypto, no JSON and no storage.
//
//   transport_tool [--relays R=3] [--messages M=4000] [--concurrency C=16]
//                  [--size BYTES=1200] [--reply-size BYTES=256]
//                  [--setups LIST=plain,curve,curve+handoff]
//                  [--max-seconds S=120] [--json]
//
// For each setup in LIST it forks R relay processes and one destination
// process (before any ZeroMQ context exists), chained over tcp on 127.0.0.1
// with ports from the kernel: client -> relay 1 -> ... -> relay R ->
// destination, the shape of a node's onion path (R = 3: guard, middle, exit).
// A hop is one ZeroMQ context with one I/O thread, a ROUTER bound for
// requests and, for a relay, a DEALER to the next hop. A relay forwards each
// request under a fresh request id and passes the answer back by that id; the
// destination answers every request with --reply-size bytes. C client threads
// in this process each keep one request of --size bytes in flight.
//
// Setups:
//   plain          no security mechanism;
//   curve          every link is CURVE (as every onionswarm link is);
//   curve+handoff  CURVE, and every hop hands each request, and a relay each
//                  answer, to a worker thread over an inproc PAIR and takes it
//                  back before sending it on: the reactor -> worker -> reactor
//                  hand-offs a node makes to keep crypto off its socket
//                  thread (peel a request, wrap an answer).
//
// Reported per setup: requests/s, round-trip latency, the hop processes' CPU
// time (utime + stime from /proc/PID/stat) per request, and "layers per
// CPU-second" = requests x (R + 1) / hop CPU seconds, the figure e2e_tool
// --mode relay reports for real nodes (which also peel a layer per hop).
//
// Bounded: M requests in all, --max-seconds per setup, a 10 s timeout per
// request; hop processes exit when the stop pipe closes or after
// --max-seconds + 60 s, and are killed by pid if they have not exited 5 s
// after being told to stop.
#include <poll.h>
#include <signal.h>
#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bench_common.h"

namespace {

using namespace onionswarm;
using bench::Clock;

constexpr size_t kMaxRelays = 8;
constexpr size_t kMaxConcurrency = 256;
constexpr uint64_t kMaxMessages = 10'000'000;
constexpr size_t kMaxBytes = 1 << 20;
constexpr int kRequestTimeoutMs = 10'000;
constexpr size_t kDrainCap = 256;  // messages read from one socket per wake-up

const char* kUsage =
    "usage: transport_tool [--relays R=3] [--messages M=4000] [--concurrency C=16]\n"
    "                      [--size BYTES=1200] [--reply-size BYTES=256]\n"
    "                      [--setups LIST=plain,curve,curve+handoff] [--max-seconds S=120] [--json]\n";
const bench::Tool kTool{"transport_tool", kUsage};

struct Setup {
  std::string name;
  bool curve = false;
  bool handoff = false;
};

struct Args {
  size_t relays = 3;
  uint64_t messages = 4000;
  size_t concurrency = 16;
  size_t size = 1200;
  size_t reply_size = 256;
  std::vector<Setup> setups;
  uint64_t max_seconds = 120;
  bool json = false;
};

std::optional<Setup> setup_named(const std::string& name) {
  if (name == "plain") return Setup{name, false, false};
  if (name == "curve") return Setup{name, true, false};
  if (name == "curve+handoff") return Setup{name, true, true};
  if (name == "plain+handoff") return Setup{name, false, true};
  return std::nullopt;
}

Args parse_args(int argc, char** argv) {
  Args a;
  std::string setups = "plain,curve,curve+handoff";
  bench::for_each_option(
      kTool, argc, argv, {"--json"},
      [&](const std::string& opt) {
        a.json = opt == "--json";
      },
      [&](const std::string& opt, const std::string& val) {
        if (opt == "--relays") {
          a.relays = size_t(bench::parse_u64(kTool, opt, val, 0, kMaxRelays));
        } else if (opt == "--messages") {
          a.messages = bench::parse_u64(kTool, opt, val, 1, kMaxMessages);
        } else if (opt == "--concurrency") {
          a.concurrency = size_t(bench::parse_u64(kTool, opt, val, 1, kMaxConcurrency));
        } else if (opt == "--size") {
          a.size = size_t(bench::parse_u64(kTool, opt, val, 1, kMaxBytes));
        } else if (opt == "--reply-size") {
          a.reply_size = size_t(bench::parse_u64(kTool, opt, val, 1, kMaxBytes));
        } else if (opt == "--setups") {
          setups = val;
        } else if (opt == "--max-seconds") {
          a.max_seconds = bench::parse_u64(kTool, opt, val, 1, 3600);
        } else {
          bench::usage_error(kTool, "unknown option " + opt);
        }
      });
  size_t start = 0;
  while (start <= setups.size()) {
    size_t comma = setups.find(',', start);
    std::string name = setups.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto s = setup_named(name);
    if (!s) bench::usage_error(kTool, "unknown setup '" + name + "' (plain, curve, curve+handoff, plain+handoff)");
    a.setups.push_back(*s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (a.concurrency > a.messages) a.concurrency = size_t(a.messages);
  return a;
}

struct CurveKeys {
  std::string pub, sec;  // Z85, 40 characters each
};

CurveKeys curve_keypair() {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) {
    std::fprintf(stderr, "transport_tool: zmq_curve_keypair failed (libzmq without CURVE?)\n");
    std::exit(1);
  }
  CurveKeys k{pub, sec};
  std::memset(sec, 0, sizeof sec);
  return k;
}

void make_client(zmq::socket_t& s, const std::string& server_pub) {
  CurveKeys mine = curve_keypair();
  s.set(zmq::sockopt::curve_serverkey, server_pub);
  s.set(zmq::sockopt::curve_publickey, mine.pub);
  s.set(zmq::sockopt::curve_secretkey, mine.sec);
}

// ---- hop processes ---------------------------------------------------------

struct HopSpec {
  Setup setup;
  CurveKeys keys;              // this hop's server keys (used with CURVE)
  std::string next_endpoint;   // empty: the destination
  std::string next_public;     // the next hop's server key
  size_t reply_size = 0;
  int report_fd = -1;          // this hop writes its endpoint and a newline
  int stop_fd = -1;            // EOF: stop
  uint64_t max_seconds = 0;
};

struct Origin {
  zmq::message_t ident;
  zmq::message_t id;
};

// Runs one hop until its stop pipe closes. Returns the exit status.
int run_hop(const HopSpec& h) {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  if (h.setup.curve) {
    router.set(zmq::sockopt::curve_server, 1);
    router.set(zmq::sockopt::curve_secretkey, h.keys.sec);
  }
  router.bind("tcp://127.0.0.1:0");
  std::string endpoint = router.get(zmq::sockopt::last_endpoint) + "\n";
  if (::write(h.report_fd, endpoint.data(), endpoint.size()) != ssize_t(endpoint.size())) return 1;
  ::close(h.report_fd);

  const bool relay = !h.next_endpoint.empty();
  std::optional<zmq::socket_t> next;
  if (relay) {
    next.emplace(ctx, zmq::socket_type::dealer);
    next->set(zmq::sockopt::linger, 0);
    if (h.setup.curve) make_client(*next, h.next_public);
    next->connect(h.next_endpoint);
  }

  std::optional<zmq::socket_t> to_worker;
  std::thread worker;
  if (h.setup.handoff) {
    to_worker.emplace(ctx, zmq::socket_type::pair);
    to_worker->bind("inproc://handoff");
    worker = std::thread([&ctx] {
      zmq::socket_t back(ctx, zmq::socket_type::pair);
      back.connect("inproc://handoff");
      for (;;) {
        std::vector<zmq::message_t> parts;
        if (!zmq::recv_multipart(back, std::back_inserter(parts))) continue;
        if (parts.size() == 1 && parts[0].size() == 0) return;  // stop
        zmq::send_multipart(back, parts);
      }
    });
  }

  const std::string reply(h.reply_size, 'r');
  std::unordered_map<uint64_t, Origin> pending;
  uint64_t next_id = 0;

  // A request is [ident][id][payload] as the ROUTER delivers it.
  auto handle_request = [&](std::vector<zmq::message_t>& parts) {
    if (parts.size() != 3) return;
    if (!relay) {
      router.send(parts[0], zmq::send_flags::sndmore);
      router.send(parts[1], zmq::send_flags::sndmore);
      router.send(zmq::buffer(reply), zmq::send_flags::none);
      return;
    }
    uint64_t id = ++next_id;
    pending.emplace(id, Origin{std::move(parts[0]), std::move(parts[1])});
    next->send(zmq::buffer(&id, sizeof id), zmq::send_flags::sndmore);
    next->send(parts[2], zmq::send_flags::none);
  };

  // An answer is [id][reply] as the DEALER delivers it.
  auto handle_answer = [&](std::vector<zmq::message_t>& parts) {
    uint64_t id = 0;
    if (parts.size() != 2 || parts[0].size() != sizeof id) return;
    std::memcpy(&id, parts[0].data(), sizeof id);
    auto it = pending.find(id);
    if (it == pending.end()) return;
    router.send(it->second.ident, zmq::send_flags::sndmore);
    router.send(it->second.id, zmq::send_flags::sndmore);
    router.send(parts[1], zmq::send_flags::none);
    pending.erase(it);
  };

  std::vector<zmq::pollitem_t> items;
  items.push_back({router.handle(), 0, ZMQ_POLLIN, 0});
  items.push_back({nullptr, h.stop_fd, ZMQ_POLLIN, 0});
  const size_t next_at = items.size();
  if (relay) items.push_back({next->handle(), 0, ZMQ_POLLIN, 0});
  const size_t worker_at = items.size();
  if (to_worker) items.push_back({to_worker->handle(), 0, ZMQ_POLLIN, 0});

  const auto deadline = Clock::now() + std::chrono::seconds(h.max_seconds + 60);
  while (Clock::now() < deadline) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(1000));
    if (items[1].revents & ZMQ_POLLIN) break;  // the stop pipe closed
    for (size_t n = 0; (items[0].revents & ZMQ_POLLIN) && n < kDrainCap; ++n) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(router, std::back_inserter(parts), zmq::recv_flags::dontwait)) break;
      if (to_worker) {
        zmq::send_multipart(*to_worker, parts);
      } else {
        handle_request(parts);
      }
    }
    for (size_t n = 0; to_worker && (items[worker_at].revents & ZMQ_POLLIN) && n < kDrainCap; ++n) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(*to_worker, std::back_inserter(parts), zmq::recv_flags::dontwait)) break;
      if (parts.size() == 2) {
        handle_answer(parts);
      } else {
        handle_request(parts);
      }
    }
    for (size_t n = 0; relay && (items[next_at].revents & ZMQ_POLLIN) && n < kDrainCap; ++n) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(*next, std::back_inserter(parts), zmq::recv_flags::dontwait)) break;
      if (to_worker) {
        zmq::send_multipart(*to_worker, parts);
      } else {
        handle_answer(parts);
      }
    }
  }
  if (to_worker) {
    to_worker->send(zmq::message_t(), zmq::send_flags::none);
    worker.join();
  }
  return 0;
}

struct Hop {
  pid_t pid = -1;
  int stop_w = -1;  // closing it tells the hop to stop
};

// Closes every hop's stop pipe and reaps it; a hop still running 5 s later
// is killed by its pid.
void stop_hops(std::vector<Hop>& hops) {
  for (auto& h : hops) {
    if (h.stop_w >= 0) ::close(h.stop_w);
    h.stop_w = -1;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  for (auto& h : hops) {
    if (h.pid <= 0) continue;
    int status = 0;
    while (::waitpid(h.pid, &status, WNOHANG) == 0) {
      if (Clock::now() >= deadline) {
        ::kill(h.pid, SIGKILL);
        ::waitpid(h.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    h.pid = -1;
  }
}

// Reads a line (the hop's endpoint) from fd within 10 s.
std::optional<std::string> read_line(int fd) {
  std::string line;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (line.size() < 256 && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char c;
    if (::read(fd, &c, 1) != 1) return std::nullopt;
    if (c == '\n') return line;
    line.push_back(c);
  }
  return std::nullopt;
}

// Forks the destination, then the relays from the last to the first, each
// told the endpoint and key of the hop after it. Returns the hops (first hop
// last) and the first hop's endpoint and key.
bool start_chain(const Args& a, const Setup& setup, std::vector<Hop>& hops, std::string& entry,
                 std::string& entry_public) {
  std::string next_endpoint, next_public;
  for (size_t k = 0; k <= a.relays; ++k) {
    HopSpec spec;
    spec.setup = setup;
    spec.keys = curve_keypair();
    spec.next_endpoint = next_endpoint;
    spec.next_public = next_public;
    spec.reply_size = a.reply_size;
    spec.max_seconds = a.max_seconds;
    int report[2], stop[2];
    if (::pipe(report) != 0) return false;
    if (::pipe(stop) != 0) {
      ::close(report[0]);
      ::close(report[1]);
      return false;
    }
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      // The child must not hold the other hops' stop pipes open.
      for (auto& h : hops) ::close(h.stop_w);
      ::close(report[0]);
      ::close(stop[1]);
      spec.report_fd = report[1];
      spec.stop_fd = stop[0];
      int rc = 1;
      try {
        rc = run_hop(spec);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "transport_tool: hop: %s\n", e.what());
      }
      ::_exit(rc);
    }
    ::close(report[1]);
    ::close(stop[0]);
    hops.push_back(Hop{pid, stop[1]});
    auto endpoint = read_line(report[0]);
    ::close(report[0]);
    if (!endpoint) return false;
    next_endpoint = *endpoint;
    next_public = spec.keys.pub;
  }
  entry = next_endpoint;
  entry_public = next_public;
  return true;
}

// ---- clients ---------------------------------------------------------------

struct SetupResult {
  std::string setup;
  uint64_t done = 0;
  uint64_t errors = 0;
  double seconds = 0;
  bench::Summary latency;
  std::optional<double> hop_cpu_s;
  double client_cpu_s = 0;
};

double self_cpu_s() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

std::optional<double> hops_cpu_s(const std::vector<Hop>& hops) {
  double total = 0;
  for (const auto& h : hops) {
    auto c = bench::process_cpu_s(h.pid);
    if (!c) return std::nullopt;
    total += *c;
  }
  return total;
}

// One request and its answer on s; false on a timeout or a wrong answer.
bool round_trip(zmq::socket_t& s, uint64_t id, const std::string& payload, size_t reply_size) {
  s.send(zmq::buffer(&id, sizeof id), zmq::send_flags::sndmore);
  s.send(zmq::buffer(payload), zmq::send_flags::none);
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, std::chrono::milliseconds(kRequestTimeoutMs)) <= 0) return false;
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(s, std::back_inserter(parts))) return false;
  uint64_t got = 0;
  if (parts.size() != 2 || parts[0].size() != sizeof got || parts[1].size() != reply_size) return false;
  std::memcpy(&got, parts[0].data(), sizeof got);
  return got == id;
}

SetupResult run_setup(const Args& a, const Setup& setup) {
  SetupResult r;
  r.setup = setup.name;
  std::vector<Hop> hops;
  std::string entry, entry_public;
  if (!start_chain(a, setup, hops, entry, entry_public)) {
    stop_hops(hops);
    std::fprintf(stderr, "transport_tool: %s: could not start the hop processes\n", setup.name.c_str());
    r.errors = a.messages;
    return r;
  }

  const std::string payload(a.size, 'p');
  std::atomic<uint64_t> claimed{0}, errors{0};
  std::atomic<size_t> ready{0};
  std::atomic<bool> go{false}, failed_warmup{false};
  std::mutex mu;
  std::vector<double> latencies;
  const auto deadline = Clock::now() + std::chrono::seconds(a.max_seconds);
  {
    zmq::context_t ctx(1);
    std::vector<std::thread> threads;
    for (size_t c = 0; c < a.concurrency; ++c) {
      threads.emplace_back([&, c] {
        zmq::socket_t s(ctx, zmq::socket_type::dealer);
        s.set(zmq::sockopt::linger, 0);
        if (setup.curve) make_client(s, entry_public);
        s.connect(entry);
        uint64_t id = uint64_t(c) << 40;
        if (!round_trip(s, ++id, payload, a.reply_size)) failed_warmup = true;  // handshake, untimed
        ++ready;
        while (!go.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
        std::vector<double> mine;
        while (claimed.fetch_add(1) < a.messages && Clock::now() < deadline) {
          auto t0 = Clock::now();
          if (!round_trip(s, ++id, payload, a.reply_size)) {
            ++errors;
            break;  // the answer may still come: this socket is out of step
          }
          mine.push_back(bench::ms_since(t0));
        }
        std::lock_guard<std::mutex> lock(mu);
        latencies.insert(latencies.end(), mine.begin(), mine.end());
      });
    }
    const auto wait_until = Clock::now() + std::chrono::seconds(30);
    while (ready.load() < a.concurrency && Clock::now() < wait_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto hop0 = hops_cpu_s(hops);
    double self0 = self_cpu_s();
    auto t0 = Clock::now();
    go = true;
    for (auto& t : threads) t.join();
    r.seconds = bench::ms_since(t0) / 1000.0;
    auto hop1 = hops_cpu_s(hops);
    r.client_cpu_s = self_cpu_s() - self0;
    if (hop0 && hop1) r.hop_cpu_s = *hop1 - *hop0;
  }
  stop_hops(hops);
  r.done = latencies.size();
  r.errors = errors.load() + (failed_warmup.load() ? 1 : 0);
  r.latency = bench::summarize(std::move(latencies));
  return r;
}

nlohmann::json to_json(const Args& a, const SetupResult& r) {
  nlohmann::json j{{"setup", r.setup},
                   {"requests", r.done},
                   {"errors", r.errors},
                   {"seconds", r.seconds},
                   {"requests_per_s", r.seconds > 0 ? double(r.done) / r.seconds : 0.0},
                   {"latency", bench::to_json(r.latency)},
                   {"client_cpu_per_request_ms", r.done ? 1000.0 * r.client_cpu_s / double(r.done) : 0.0}};
  if (r.hop_cpu_s && r.done) {
    j["hop_cpu_s"] = *r.hop_cpu_s;
    j["hop_cpu_per_request_ms"] = 1000.0 * *r.hop_cpu_s / double(r.done);
    j["hop_cpu_per_layer_us"] = 1e6 * *r.hop_cpu_s / double(r.done * (a.relays + 1));
    j["layers_per_cpu_s"] = *r.hop_cpu_s > 0 ? double(r.done * (a.relays + 1)) / *r.hop_cpu_s : 0.0;
  }
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse_args(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  nlohmann::json out{{"relays", a.relays},
                     {"concurrency", a.concurrency},
                     {"messages", a.messages},
                     {"size", a.size},
                     {"reply_size", a.reply_size},
                     {"setups", nlohmann::json::array()}};
  bool ok = true;
  for (const auto& setup : a.setups) {
    SetupResult r = run_setup(a, setup);
    if (r.errors) ok = false;
    out["setups"].push_back(to_json(a, r));
  }
  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return ok ? 0 : 1;
  }
  std::printf("%zu relays + destination, %zu clients, %llu requests of %zu bytes, answers of %zu bytes\n",
              a.relays, a.concurrency, (unsigned long long)a.messages, a.size, a.reply_size);
  std::printf("%-14s %9s %7s %9s %9s %9s %14s %14s %12s\n", "setup", "req/s", "errors", "p50 ms", "p90 ms",
              "p99 ms", "hop CPU/req ms", "CPU/layer us", "layers/CPU-s");
  for (const auto& s : out["setups"]) {
    std::printf("%-14s %9.0f %7llu %9.3f %9.3f %9.3f %14.3f %14.1f %12.0f\n", s["setup"].get<std::string>().c_str(),
                s["requests_per_s"].get<double>(), (unsigned long long)s["errors"].get<uint64_t>(),
                s["latency"]["p50_ms"].get<double>(), s["latency"]["p90_ms"].get<double>(),
                s["latency"]["p99_ms"].get<double>(), s.value("hop_cpu_per_request_ms", 0.0),
                s.value("hop_cpu_per_layer_us", 0.0), s.value("layers_per_cpu_s", 0.0));
  }
  return ok ? 0 : 1;
}
