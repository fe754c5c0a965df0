// Crashes (docs/SECURITY.md, "Crashes and disks"): the storing node is
// killed with SIGKILL at random moments while several clients write to it as
// fast as it answers, restarted, and killed again, kRounds times. After every
// restart:
//   - LMDB opened cleanly: the node answers info and retrieves;
//   - every store acknowledged so far, in any round, is on the node;
//   - no reader slot of a dead process is left in LMDB's reader table.
//
// Why the reader table check is real: LMDB resets its reader table when the
// opening process is the environment's only user. This test keeps the
// environment open itself (read-only, no transaction) the whole time, so the
// table survives each kill, and in every round a helper process is killed
// with SIGKILL while it holds a read transaction (besides whatever readers
// the node had open at its own kill); the test sees that slot before the
// restart. Only the node's mdb_reader_check at open clears those slots; the
// node logs how many it cleared.
//
// A kill -9 cannot show a missing fsync (the page cache survives); that the
// environment has no no-sync flag and that no acknowledgement leaves before
// its commit returned are unit tests (StorageTest.EnvironmentIsOpenedWithout
// AnyNoSyncFlag, StorageTest.AcknowledgementRunsOnlyAfterItsCommitReturned).
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using test::RawClient;

constexpr int kRounds = 20;
constexpr int kWriters = 3;
constexpr int kMaxAcksBeforeKill = 40;  // each round kills after 0..this many acknowledged stores

// The node's LMDB environment, opened read-only by this process and kept
// open: a second user, so LMDB does not reset the reader table at the node's
// next open. Lists the pids that hold reader slots.
class EnvHolder {
 public:
  explicit EnvHolder(const std::string& path) {
    if (mdb_env_create(&env_) != 0) return;
    ok_ = mdb_env_open(env_, path.c_str(), MDB_RDONLY | MDB_NOTLS, 0600) == 0;
  }
  ~EnvHolder() {
    if (env_) mdb_env_close(env_);
  }
  EnvHolder(const EnvHolder&) = delete;
  EnvHolder& operator=(const EnvHolder&) = delete;
  bool ok() const { return ok_; }

  // Pids with a slot in the reader table (mdb_reader_list), live or dead.
  std::set<pid_t> reader_pids() const {
    std::string text;
    mdb_reader_list(
        env_,
        [](const char* line, void* ctx) {
          static_cast<std::string*>(ctx)->append(line);
          return 0;
        },
        &text);
    std::set<pid_t> pids;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      long pid = 0;
      if (std::sscanf(line.c_str(), "%ld", &pid) == 1 && pid > 0) pids.insert(pid_t(pid));
    }
    return pids;
  }

 private:
  MDB_env* env_ = nullptr;
  bool ok_ = false;
};

// A process that opens the environment, begins a read transaction, says so
// on the pipe and waits to be killed: it leaves a stale reader slot.
pid_t start_reader_process(const std::string& path) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    char ok = 0;
    if (mdb_env_create(&env) == 0 && mdb_env_open(env, path.c_str(), MDB_RDONLY | MDB_NOTLS, 0600) == 0 &&
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0)
      ok = 1;
    if (::write(fds[1], &ok, 1) != 1) ::_exit(1);
    for (int i = 0; i < 600; ++i) ::sleep(1);  // killed long before; bounded anyway
    ::_exit(0);
  }
  ::close(fds[1]);
  char ok = 0;
  const bool ready = pid > 0 && ::read(fds[0], &ok, 1) == 1 && ok == 1;
  ::close(fds[0]);
  if (pid > 0 && !ready) {
    ::kill(pid, SIGKILL);
    test::reap(pid);
    return -1;
  }
  return pid;
}

// Kills (SIGKILL) and reaps the child in *pid when the test ends early.
struct KillOnExit {
  pid_t* pid;
  ~KillOnExit() {
    if (*pid > 0 && ::kill(*pid, 0) == 0) {
      ::kill(*pid, SIGKILL);
      test::reap(*pid);
    }
  }
};

// The node logs "cleared N LMDB reader slot(s) left by dead processes" at
// open; returns how many such lines log has, and the sum of their N.
std::pair<size_t, size_t> cleared_slots(const std::string& log) {
  static const std::string kNeedle = " LMDB reader slot(s) left by dead processes";
  size_t lines = 0, slots = 0;
  for (size_t at = log.find(kNeedle); at != std::string::npos; at = log.find(kNeedle, at + 1)) {
    ++lines;
    const size_t begin = log.rfind("cleared ", at);
    if (begin != std::string::npos) slots += std::strtoull(log.c_str() + begin + 8, nullptr, 10);
  }
  return {lines, slots};
}

TEST(Crash, KillNineDuringWritesLosesNothingAcknowledgedAndClearsStaleReaders) {
  crypto::init();
  const auto started = std::chrono::steady_clock::now();
  test::Devnet net(1, 1);  // one node, its own swarm: it acknowledges after its own commit
  ASSERT_TRUE(net.ok()) << net.start_output();
  const swarm::NodeDescriptor node = net.nodes().at(0);
  const std::string db = net.node_dir(1) + "/db";
  EnvHolder holder(db);
  ASSERT_TRUE(holder.ok()) << "cannot open " << db;

  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::cout << "[crash] seed " << seed << "\n";

  std::vector<test::TestAccount> accounts(kWriters);
  std::vector<std::set<std::string>> acked(kWriters);  // guarded by mu
  std::mutex mu;
  std::set<pid_t> dead;  // every process this test killed
  pid_t pid = test::devnet_pid(net, 1);
  ASSERT_GT(pid, 0);
  pid_t ours = -1;    // the node as our child, once restarted
  pid_t reader = -1;  // this round's reader process
  KillOnExit node_guard{&ours}, reader_guard{&reader};
  std::atomic<uint64_t> answered_round{0};

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    reader = start_reader_process(db);
    ASSERT_GT(reader, 0) << "cannot start the reader process";
    std::atomic<bool> stop{false};
    answered_round = 0;
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
      threads.emplace_back([&, w, data_seed = rng()] {
        std::mt19937 local(data_seed);
        RawClient c(node);
        c.set_cancel(&stop);
        for (int i = 0; i < 2000 && !stop; ++i) {
          rpc::StoreRequest s;
          s.account = accounts[size_t(w)].id;
          s.timestamp_ms = test::now_ms();
          s.data = crypto::random_bytes(64 + local() % 1500);
          auto r = c.request({node}, rpc::Request(s));
          if (r.ok() && (*r)["status"] == "ok") {
            std::lock_guard lk(mu);
            acked[size_t(w)].insert((*r)["hash"].get<std::string>());
            ++answered_round;
          }
        }
      });
    }
    // Readers too, so the node is likely inside a read transaction when killed.
    threads.emplace_back([&] {
      RawClient c(node);
      c.set_cancel(&stop);
      for (int i = 0; i < 2000 && !stop; ++i) {
        rpc::RetrieveRequest r;
        r.account = accounts[0].id;
        r.timestamp_ms = test::now_ms();
        r.limit = 50;
        rpc::Request req = r;
        rpc::sign_request(req, accounts[0].ed);
        (void)c.request({node}, req);
      }
    });

    // Kill at a random moment: after a random number of acknowledgements in
    // this round (0: as soon as the load starts), with writes in flight.
    const uint64_t kill_after = rng() % (kMaxAcksBeforeKill + 1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (answered_round < kill_after && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_EQ(::kill(reader, SIGKILL), 0);
    dead.insert(pid);
    dead.insert(reader);
    stop = true;
    for (auto& t : threads) t.join();
    ASSERT_TRUE(test::wait_gone(pid)) << "the killed node did not go away";
    ASSERT_TRUE(test::wait_gone(reader));
    ASSERT_TRUE(holder.reader_pids().count(reader)) << "the killed reader process left no slot to clear";

    ours = pid = test::restart_devnet_node(net, 1);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(test::wait_answering(node)) << "node did not answer after restart (LMDB open failed?)\n"
                                            << test::read_file(net.node_dir(1) + "/node.log");
    for (int w = 0; w < kWriters; ++w) {
      auto have = test::retrieve_hashes(accounts[size_t(w)], node);
      ASSERT_TRUE(have.ok()) << have.status().to_string();
      std::lock_guard lk(mu);
      for (const auto& h : acked[size_t(w)]) ASSERT_TRUE(have->count(h)) << "acknowledged message lost: " << h;
    }
    for (pid_t p : holder.reader_pids())
      EXPECT_FALSE(dead.count(p)) << "a reader slot of killed process " << p << " survived the node's restart";
  }

  // The node says what it cleared. Not on every restart: when the node was
  // killed holding the reader table's mutex (it takes it to claim a slot),
  // LMDB's own recovery of that robust mutex, inside mdb_reader_check, clears
  // the dead slots without counting them. Every round's slot is gone either
  // way (checked above); the log shows the node's own check at work.
  const std::string log = test::read_file(net.node_dir(1) + "/node.log");
  const auto [cleared_lines, cleared] = cleared_slots(log);
  EXPECT_GT(cleared_lines, 0u) << log;
  EXPECT_LE(cleared_lines, size_t(kRounds)) << log;
  EXPECT_GE(cleared, cleared_lines);

  size_t total = 0;
  for (const auto& a : acked) total += a.size();
  ::kill(ours, SIGTERM);
  EXPECT_EQ(test::reap(ours), 0) << "node did not stop cleanly after the last restart";
  ours = -1;
  const auto secs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count() /
      1000.0;
  std::cout << "[crash] " << kRounds << " kill -9 rounds, " << total << " stores acknowledged and all present, "
            << cleared_lines << " restarts cleared " << cleared << " stale reader slots (the killed reader process's and the node's own; "
            << "the other restarts' slots went in LMDB's mutex recovery), " << secs << " s\n";
  EXPECT_GT(total, 0u);
}

}  // namespace
}  // namespace onionswarm
