// group_tool: closed-group figures against a running devnet.
//
//   group_tool --network FILE [--members N=100] [--concurrency C=10]
//              [--size BYTES=200] [--max-seconds S=900] [--timeout-ms T=15000]
//              [--poll-seconds P=0] [--poll-interval-ms I=1000] [--renames R=0]
//              [--settle-seconds W=0] [--json]
//
// Creates a temporary directory (mkdtemp, removed at the end) with N client
// homes. Home 0 creates a group with the other N-1 as invitees; each
// invitee fetches its 1:1 inbox and accepts (one after the other). A store
// is acknowledged before every member of its swarm has it (the others get
// it within the nodes' replica_defer_ms, PROTOCOL.md 8.2), so an invitee
// whose node has no invitation or no control log yet tries again, every
// 50 ms, at most 100 times; the repeats are reported. Then:
//
//   - delivery: every member opens its Client and polls once untimed (path
//     up, join notices read) before timing starts. Home 0 sends one
//     message of BYTES bytes of text; as soon as the send returns, C
//     threads make every one of the N members (the sender included) poll
//     once (Groups::fetch: sync the control log, retrieve, open, verify,
//     keep). Reported: send latency, per-member poll latency (p50/p99/max),
//     and the total from the start of the send until the last member has
//     the message. A member whose poll does not return the message polls
//     again (as above; the first poll is the one timed); one that never
//     gets it counts as missing (the tool then exits 1).
//   - steady polling (only with --poll-seconds P > 0; last, after the
//     removal below; with R > 0, after R renames by home 0 that make the
//     control log R entries longer, W seconds' wait, one more rename, and
//     every member's untimed poll that takes them: with W over 300 the R
//     renames are older than a poll's look-back before that last one,
//     PROTOCOL.md 15.3): first the sends, then the polls. Sends: each of
//     the first 20 remaining members sends one message of BYTES bytes,
//     one after the other (a send reads the control log at the sequencer,
//     then stores; one refused `busy` is repeated 200 ms later, and only
//     the attempt that goes through is timed); reported: their latency
//     (p50/p99/max). Polls: for P seconds every remaining member polls
//     once every I ms (member i first at i*I/N ms), C threads sharing the
//     members; a thread that falls behind polls late, never
//     twice at once. Reported: polls made and per second, poll latency
//     (p50/p99/max), and the failed polls by error (`busy`: a node's
//     account_rate refused it). Every poll reads the control log and the
//     messages (PROTOCOL.md 15.3), so N members polling once a second make
//     2N retrieves a second on the group's account.
//   - bytes stored per group message: the stored blob of that message, as a
//     member's raw retrieve returns it (exactly what the node keeps as the
//     value; the node's keys and indexes per message are in
//     docs/PROTOCOL.md section 11).
//   - keys message: home 0 removes one member (a new generation); the
//     tool reads the head of the control log and reports the keys block's
//     size (the keys message: the new key sealed to every remaining member)
//     and the whole control entry's size.
//
// Bounded: every loop is bounded by N and by --max-seconds; past the
// deadline, in-flight requests are cancelled through ClientOptions::cancelled.
//
// Only loopback networks: every node address in FILE must be
// tcp://127.0.0.1:PORT or tcp://localhost:PORT.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_common.h"
#include "devnet.h"
#include "client/client.h"
#include "client/envelope.h"
#include "client/group.h"
#include "client/groups.h"
#include "client/identity.h"
#include "config/network_file.h"
#include "onion/heap.h"
#include "swarm/group.h"
#include "swarm/rpc.h"

namespace {

using namespace onionswarm;
using namespace onionswarm::bench;  // Clock, Summary, summarize, to_json, TempDir, ...

const char* kUsage =
    "usage: group_tool --network FILE [--members N=100] [--concurrency C=10] [--size BYTES=200]\n"
    "                  [--max-seconds S=900] [--timeout-ms T=15000] [--poll-seconds P=0]\n"
    "                  [--poll-interval-ms I=1000] [--renames R=0] [--settle-seconds W=0] [--json]\n";
const bench::Tool kTool{"group_tool", kUsage};

struct Args {
  std::string network;
  size_t members = 100;
  size_t concurrency = 10;
  size_t size = 200;
  uint64_t max_seconds = 900;
  uint64_t timeout_ms = 15000;
  uint64_t poll_seconds = 0;
  uint64_t poll_interval_ms = 1000;
  uint64_t renames = 0;
  uint64_t settle_seconds = 0;
  bool json = false;
};

Args parse_args(int argc, char** argv) {
  Args a;
  bench::for_each_option(
      kTool, argc, argv, {"--json"},
      [&](const std::string& opt) {
        a.json = opt == "--json";
      },
      [&](const std::string& opt, const std::string& val) {
        if (opt == "--network") {
          a.network = val;
        } else if (opt == "--members") {
          a.members = size_t(bench::parse_u64(kTool, opt, val, 3, client::group::kMaxMembers));
        } else if (opt == "--concurrency") {
          a.concurrency = size_t(bench::parse_u64(kTool, opt, val, 1, 100));
        } else if (opt == "--size") {
          a.size = size_t(bench::parse_u64(kTool, opt, val, 1, client::kMaxTextBytes));
        } else if (opt == "--max-seconds") {
          a.max_seconds = bench::parse_u64(kTool, opt, val, 1, 86400);
        } else if (opt == "--timeout-ms") {
          a.timeout_ms = bench::parse_u64(kTool, opt, val, 100, 600000);
        } else if (opt == "--poll-seconds") {
          a.poll_seconds = bench::parse_u64(kTool, opt, val, 0, 3600);
        } else if (opt == "--poll-interval-ms") {
          a.poll_interval_ms = bench::parse_u64(kTool, opt, val, 10, 600000);
        } else if (opt == "--renames") {
          a.renames = bench::parse_u64(kTool, opt, val, 0, 1000);
        } else if (opt == "--settle-seconds") {
          a.settle_seconds = bench::parse_u64(kTool, opt, val, 0, 3600);
        } else {
          bench::usage_error(kTool, "unknown option " + opt);
        }
      });
  if (a.network.empty()) bench::usage_error(kTool, "--network FILE is required");
  if ((a.renames > 0 || a.settle_seconds > 0) && a.poll_seconds == 0)
    bench::usage_error(kTool, "--renames and --settle-seconds belong to the steady polls: add --poll-seconds");
  if (a.settle_seconds > 0 && a.renames == 0) bench::usage_error(kTool, "--settle-seconds waits after --renames");
  return a;
}

struct Env {
  const Args* args = nullptr;
  const config::NetworkFile* net = nullptr;
  Clock::time_point deadline;

  client::ClientOptions options(const std::string& home) const {
    return devnet_client_options(*net, home, args->timeout_ms, deadline);
  }
  Result<std::unique_ptr<client::Client>> open(const std::string& home) const {
    return client::Client::open(options(home));
  }
};

// Thrown by fail and caught in main, so that the temporary directory is
// removed on the way out.
struct Failed {};

[[noreturn]] void fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "group_tool: %s: %s\n", what.c_str(), s.to_string().c_str());
  throw Failed{};
}

// A new store is acknowledged once it is on the destination and one other
// member; the rest of its swarm has it within the nodes' replica_defer_ms
// (PROTOCOL.md 8.2, 500 ms by default). A request answered by a member that
// has not got it yet is repeated, every kRetryPauseMs, at most
// kMaxAttempts times (5 s) and never past the deadline.
constexpr int kRetryPauseMs = 50;
constexpr size_t kMaxAttempts = 100;

// Runs attempt until it succeeds or fails with something other than a
// missing record (not_found, or unauthorized for a group whose control log
// has not reached the member); counts the repeats in *retries.
bool not_replicated_yet(const Status& st) {
  return st.code() == Code::kNotFound || st.code() == Code::kUnauthorized;
}

Status until_replicated(const Env& env, size_t* retries, const std::function<Status()>& attempt) {
  Status st = attempt();
  for (size_t i = 1; i < kMaxAttempts && Clock::now() < env.deadline; ++i) {
    if (st.ok() || !not_replicated_yet(st)) break;
    ++*retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(kRetryPauseMs));
    st = attempt();
  }
  return st;
}

// The newest control entry of group (raw retrieve with a member credential).
Result<swarm::group::ControlEntry> head_entry(client::Client& cl, client::Groups& groups, const swarm::AccountId& g,
                                              size_t* blob_size) {
  auto cred = groups.credential(g);
  if (!cred.ok()) return cred.status();
  crypto::Ed25519PublicKey gpk;
  gpk.bytes = g.key;
  std::vector<swarm::group::ControlEntry> entries;
  std::map<crypto::Hash, size_t> sizes;
  client::RetrieveCursor cursor;
  // Bounded: at most kMaxControlEntries entries.
  while (entries.size() < swarm::group::kMaxControlEntries) {
    swarm::rpc::RetrieveRequest req;
    req.account = g;
    req.ns = swarm::group::kControlNamespace;
    req.after_timestamp_ms = cursor.timestamp_ms;
    req.after_hash = cursor.hash;
    req.limit = swarm::rpc::kMaxRetrieveLimit;
    auto j = cl.request(g, std::move(req), *cred, /*pinned=*/true);
    if (!j.ok()) return j.status();
    auto answer = swarm::rpc::parse_retrieve_answer(*j);
    if (!answer.ok()) return answer.status();
    for (const auto& m : answer->messages) {
      cursor = client::RetrieveCursor{m.timestamp_ms, m.hash};
      auto e = swarm::group::parse_control(m.data, gpk);
      if (!e.ok()) continue;
      sizes[e->hash] = m.data.size();
      entries.push_back(std::move(*e));
    }
    if (!answer->more || answer->messages.empty()) break;
  }
  auto chain = swarm::group::canonical_chain(std::move(entries));
  if (chain.empty()) return error(Code::kNotFound, "no control log");
  *blob_size = sizes[chain.back().hash];
  return chain.back();
}

// Sends timed before the steady polls (members 0..19, one at a time).
constexpr size_t kTimedSends = 20;

// Calls f, and again 200 ms later (at most 100 times, and not past the
// deadline) while it is refused `busy` (an account_rate bucket drained), as
// a member would; *repeats (if given) counts the calls again. Returns f's
// last result.
template <class F>
auto until_not_busy(const Env& env, F&& f, size_t* repeats) {
  auto result = f();
  for (int i = 0; i < 100 && !result.ok() && result.status().code() == Code::kBusy && Clock::now() < env.deadline;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (repeats) ++*repeats;
    result = f();
  }
  return result;
}

struct SteadyPolling {
  Summary sends;  // filled in by run()
  size_t busy_sends = 0;
  size_t polls = 0;
  double seconds = 0;
  Summary latency;
  std::map<std::string, size_t> errors;  // failed polls, by error
};

// Every member polls every --poll-interval-ms for --poll-seconds (see the
// top); member i is polled only by thread i % C.
SteadyPolling steady_polling(const Env& env, const std::vector<std::unique_ptr<client::Client>>& clients) {
  const size_t n = clients.size();
  const size_t threads_n = std::min(env.args->concurrency, n);
  const uint64_t interval_us = env.args->poll_interval_ms * 1000;
  const auto start = Clock::now();
  const auto end = std::min(start + std::chrono::seconds(env.args->poll_seconds), env.deadline);
  std::mutex mu;
  std::vector<double> latencies;
  SteadyPolling out;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < threads_n; ++t) {
    threads.emplace_back([&, t] {
      std::vector<double> mine;
      std::map<std::string, size_t> errors;
      // Bounded by the end time: every round starts interval_us later.
      for (uint64_t round = 0; Clock::now() < end; ++round) {
        for (size_t i = t; i < n; i += threads_n) {
          const auto due = start + std::chrono::microseconds(round * interval_us + interval_us * i / n);
          if (due >= end) break;
          std::this_thread::sleep_until(due);
          const auto p0 = Clock::now();
          auto fetched = client::Groups(*clients[i]).fetch();
          mine.push_back(ms_since(p0));
          if (!fetched.ok()) ++errors[fetched.status().to_string()];
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      for (const auto& [e, count] : errors) out.errors[e] += count;
    });
  }
  for (auto& t : threads) t.join();
  out.seconds = ms_since(start) / 1000.0;
  out.polls = latencies.size();
  out.latency = summarize(latencies);
  return out;
}

int run(const Args& args) {
  const auto net = load_devnet_network(kTool, args.network);
  if (!net) return 1;
  TempDir tmp;
  if (!tmp.make(kTool)) return 1;

  Env env;
  env.args = &args;
  env.net = &*net;
  env.deadline = Clock::now() + std::chrono::seconds(args.max_seconds);

  const size_t n = args.members;
  std::vector<std::string> homes;
  std::vector<swarm::AccountId> ids;
  for (size_t i = 0; i < n; ++i) {
    homes.push_back(tmp.path + "/member-" + std::to_string(i));
    if (Status s = client::ensure_home(homes.back()); !s.ok()) fail("home", s);
    auto id = client::Identity::create(homes.back());
    if (!id.ok()) fail("identity", id.status());
    ids.push_back(id->account_id());
  }

  // Create and invite.
  auto c0 = Clock::now();
  swarm::AccountId gid;
  {
    auto admin = env.open(homes[0]);
    if (!admin.ok()) fail("open", admin.status());
    client::Groups groups(**admin);
    auto created = groups.create("bench", std::vector<swarm::AccountId>(ids.begin() + 1, ids.end()));
    if (!created.ok()) fail("create", created.status());
    gid = *created;
  }
  const double create_ms = ms_since(c0);

  // Each invitee accepts (one after the other; bounded by N).
  std::vector<double> accept_ms;
  size_t accept_retries = 0;
  for (size_t i = 1; i < n; ++i) {
    auto a0 = Clock::now();
    auto cl = env.open(homes[i]);
    if (!cl.ok()) fail("open", cl.status());
    client::Groups groups(**cl);
    Status accepted = until_replicated(env, &accept_retries, [&] {
      if (Status s = groups.fetch_direct(); !s.ok()) return s;
      return groups.accept(gid);
    });
    if (!accepted.ok()) fail("accept", accepted);
    accept_ms.push_back(ms_since(a0));
  }

  // Every member's client open, path up and earlier group traffic (the join
  // notices) read, before timing starts: the timed poll finds exactly the
  // one new message.
  std::vector<std::unique_ptr<client::Client>> clients;
  size_t warmup_retries = 0;
  for (size_t i = 0; i < n && Clock::now() < env.deadline; ++i) {
    auto cl = env.open(homes[i]);
    if (!cl.ok()) fail("open", cl.status());
    client::Groups groups(**cl);
    Status warm = until_replicated(env, &warmup_retries, [&] { return groups.fetch().status(); });
    if (!warm.ok()) fail("warm-up poll", warm);
    clients.push_back(std::move(*cl));
  }
  if (clients.size() != n) fail("warm-up", error(Code::kTimeout, "deadline"));

  const std::string text = std::string(args.size, 'g');
  std::vector<double> poll_ms(n, 0);
  std::vector<char> got(n, 0);
  std::vector<std::string> poll_errors(n);
  auto s0 = Clock::now();
  {
    client::Groups groups(*clients[0]);
    auto sent = groups.send(gid, text);
    if (!sent.ok()) fail("send", sent.status());
  }
  const double send_ms = ms_since(s0);
  std::atomic<size_t> next{0};
  std::vector<double> done_at(n, 0);
  std::atomic<size_t> repolls{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(args.concurrency, n); ++t) {
    threads.emplace_back([&] {
      // Bounded by N (the shared counter).
      for (;;) {
        const size_t i = next.fetch_add(1);
        if (i >= n) return;
        client::Groups groups(*clients[i]);
        // The first poll is the one timed; a member whose swarm node has
        // not got the message yet polls again (bounded, until_replicated).
        for (size_t attempt = 0; attempt < kMaxAttempts && !got[i] && Clock::now() < env.deadline; ++attempt) {
          if (attempt > 0) {
            ++repolls;
            std::this_thread::sleep_for(std::chrono::milliseconds(kRetryPauseMs));
          }
          auto p0 = Clock::now();
          auto fetched = groups.fetch();
          if (attempt == 0) poll_ms[i] = ms_since(p0);
          done_at[i] = ms_since(s0);
          if (!fetched.ok()) {
            poll_errors[i] = fetched.status().to_string();
            if (!not_replicated_yet(fetched.status())) break;
            continue;
          }
          poll_errors[i].clear();
          for (const auto& e : *fetched)
            if (e.text == text && e.group == gid.to_string()) got[i] = 1;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double total_ms = *std::max_element(done_at.begin(), done_at.end());
  size_t missing = 0;
  std::map<std::string, size_t> errors;
  for (size_t i = 0; i < n; ++i) {
    if (!got[i]) ++missing;
    if (!poll_errors[i].empty()) ++errors[poll_errors[i]];
  }

  // The message as stored (as a member's node has it).
  size_t stored_bytes = 0, stored_retries = 0;
  {
    client::Groups groups(*clients[1]);
    auto cred = groups.credential(gid);
    if (!cred.ok()) fail("credential", cred.status());
    crypto::Ed25519PublicKey gpk;
    gpk.bytes = gid.key;
    auto keys = groups.held_keys(gid);
    if (!keys.ok()) fail("keys", keys.status());
    Status found = until_replicated(env, &stored_retries, [&]() -> Status {
      swarm::rpc::RetrieveRequest req;
      req.account = gid;
      req.ns = swarm::group::kMessagesNamespace;
      auto j = clients[1]->request(gid, std::move(req), *cred);
      if (!j.ok()) return j.status();
      auto answer = swarm::rpc::parse_retrieve_answer(*j);
      if (!answer.ok()) return answer.status();
      // Bounded by the answer's size.
      for (const auto& m : answer->messages)
        for (const auto& k : *keys) {
          auto opened = client::group::open_group_message(gpk, k, m.data);
          if (opened.ok() && opened->text == text) stored_bytes = m.data.size();
        }
      return stored_bytes ? Status() : error(Code::kNotFound, "the message is not in the retrieve answer");
    });
    if (!found.ok()) fail("retrieve the message", found);
  }

  // A removal, and the keys message it stores.
  auto r0 = Clock::now();
  size_t keys_bytes = 0, entry_bytes = 0, remaining = 0;
  {
    client::Groups groups(*clients[0]);
    if (Status s = groups.remove(gid, {ids[n - 1]}); !s.ok()) fail("remove", s);
    auto head = head_entry(*clients[0], groups, gid, &entry_bytes);
    if (!head.ok()) fail("control log", head.status());
    auto body = client::group::split_body(head->body);
    if (!body.ok()) fail("control entry body", body.status());
    keys_bytes = body->keys.size();
    auto info = groups.info(gid, false);
    if (!info.ok()) fail("info", info.status());
    remaining = info->members.size();
  }
  const double remove_ms = ms_since(r0);

  // Last, as it may drain the nodes' account_rate buckets: the members that
  // remain after the removal.
  std::optional<SteadyPolling> steady;
  if (args.poll_seconds > 0) {
    clients.pop_back();  // the removed member (ids[n - 1])
    client::Groups groups(*clients[0]);
    // Bounded: at most 1000 (--renames).
    for (uint64_t i = 0; i < args.renames; ++i)
      if (Status s = groups.rename(gid, "bench " + std::to_string(i)); !s.ok()) fail("rename", s);
    if (args.renames > 0) {
      const auto settle_end = std::min(Clock::now() + std::chrono::seconds(args.settle_seconds), env.deadline);
      std::this_thread::sleep_until(settle_end);
      if (Status s = groups.rename(gid, "bench head"); !s.ok()) fail("rename", s);
    }
    // Every member takes the renames untimed: the steady polls find none.
    for (auto& cl : clients) {
      auto warm = until_not_busy(env, [&] { return client::Groups(*cl).fetch(); }, nullptr);
      if (!warm.ok()) fail("poll after the renames", warm.status());
    }
    // Only the attempt that goes through is timed.
    std::vector<double> sends;
    size_t busy_sends = 0;
    for (size_t i = 0; i < std::min<size_t>(kTimedSends, clients.size()) && Clock::now() < env.deadline; ++i) {
      double ms = 0;
      auto sent = until_not_busy(
          env,
          [&] {
            const auto s0 = Clock::now();
            auto r = client::Groups(*clients[i]).send(gid, std::string(args.size, 'x'));
            ms = ms_since(s0);
            return r;
          },
          &busy_sends);
      if (!sent.ok()) fail("send after the renames", sent.status());
      sends.push_back(ms);
    }
    steady = steady_polling(env, clients);
    steady->sends = summarize(sends);
    steady->busy_sends = busy_sends;
  }

  const Summary accept = summarize(accept_ms);
  const Summary poll = summarize(poll_ms);
  if (args.json) {
    nlohmann::json j;
    j["members"] = n;
    j["nodes"] = net->nodes.size();
    j["swarm_size"] = net->swarm_size;
    j["concurrency"] = args.concurrency;
    j["text_bytes"] = args.size;
    j["create_ms"] = create_ms;
    j["accept"] = to_json(accept);
    j["accept_retries"] = accept_retries;
    j["send_ms"] = send_ms;
    j["poll"] = to_json(poll);
    j["send_to_all_ms"] = total_ms;
    j["repeated_polls"] = repolls.load();
    j["warmup_retries"] = warmup_retries;
    j["stored_retries"] = stored_retries;
    j["missing"] = missing;
    j["poll_errors"] = errors;
    j["stored_message_bytes"] = stored_bytes;
    j["remove_ms"] = remove_ms;
    j["remaining_members"] = remaining;
    j["keys_message_bytes"] = keys_bytes;
    j["control_entry_bytes"] = entry_bytes;
    if (steady) {
      j["steady_polling"] = {{"interval_ms", args.poll_interval_ms},
                             {"renames", args.renames},
                             {"settle_seconds", args.settle_seconds},
                             {"seconds", steady->seconds},
                             {"polls", steady->polls},
                             {"polls_per_second", double(steady->polls) / steady->seconds},
                             {"latency", to_json(steady->latency)},
                             {"sends", to_json(steady->sends)},
                             {"sends_repeated_busy", steady->busy_sends},
                             {"errors", steady->errors}};
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("closed group of %zu members (%zu nodes, swarm size %zu, 3 relays + destination)\n", n,
                net->nodes.size(), net->swarm_size);
    std::printf("create + %zu invitations: %.1f ms; accept per member p50 %.1f p99 %.1f max %.1f ms"
                " (%zu repeated: not replicated yet)\n",
                n - 1, create_ms, accept.p50, accept.p99, accept.max, accept_retries);
    std::printf("send (%zu B text): %.1f ms\n", args.size, send_ms);
    std::printf("one poll per member, %zu at a time: p50 %.1f p99 %.1f max %.1f ms\n", args.concurrency, poll.p50,
                poll.p99, poll.max);
    std::printf("from send until all %zu members have it: %.1f ms (%zu missing; %zu polls repeated)\n", n, total_ms,
                missing, repolls.load());
    for (const auto& [e, count] : errors) std::printf("poll error x%zu: %s\n", count, e.c_str());
    std::printf("stored per group message: %zu bytes (blob as the node keeps it)\n", stored_bytes);
    std::printf("remove one member: %.1f ms; keys message for %zu members: %zu bytes (control entry %zu bytes)\n",
                remove_ms, remaining, keys_bytes, entry_bytes);
    if (steady) {
      // The renames and the one after the wait.
      const uint64_t longer = args.renames > 0 ? args.renames + 1 : 0;
      std::printf("steady polling (control log %llu entries longer), every member every %llu ms for %.1f s: "
                  "%zu polls (%.1f/s), p50 %.1f p99 %.1f max %.1f ms\n",
                  static_cast<unsigned long long>(longer), static_cast<unsigned long long>(args.poll_interval_ms),
                  steady->seconds, steady->polls,
                  double(steady->polls) / steady->seconds, steady->latency.p50, steady->latency.p99,
                  steady->latency.max);
      std::printf("sends, one at a time (%zu B text): p50 %.1f p99 %.1f max %.1f ms (%zu repeated: busy)\n",
                  args.size, steady->sends.p50, steady->sends.p99, steady->sends.max, steady->busy_sends);
      for (const auto& [e, count] : steady->errors) std::printf("steady poll error x%zu: %s\n", count, e.c_str());
    }
  }
  const bool steady_ok = !steady || steady->errors.empty();
  return missing == 0 && errors.empty() && stored_bytes > 0 && steady_ok ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  heap::keep_frame_buffers();  // as the CLI does (cli/main.cc)
  const Args args = parse_args(argc, argv);
  crypto::init();
  try {
    return run(args);
  } catch (const Failed&) {
    return 1;
  }
}
