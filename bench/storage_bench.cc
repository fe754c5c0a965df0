// Storage throughput on real LMDB (durable commits) in a temp dir under /tmp.
//   BM_StoreBlocking            one thread, store() per message: one fsync each
//   BM_StoreAsyncGroupCommit    one thread queues a burst of store_async, waits
//                               for all: the committer batches them
//   BM_StoreConcurrentBlocking  N threads each calling store(): group commit
//                               shares each fsync among the waiting callers;
//                               second argument: the commit window in µs
//                               (StorageOptions::commit_window; 0 = off)
//   BM_Retrieve100              retrieve 100 messages of one account
//   BM_SyncDigest               the catch-up digest with N held: kept / scanned
//   BM_PlanHandoff              a hand-over plan with N held, none leaving:
//                               by account / by message (the plan it replaced)
//   BM_LmdbCommitMetaSync       plain LMDB, no project code: a commit of 3
//                               puts as the node's environment makes it
//                               (argument 0: data and meta page synced) and
//                               with MDB_NOMETASYNC (1: the meta page not
//                               synced), to price the second sync
// Messages are 1 KiB. items_per_second is messages per second.
#include <benchmark/benchmark.h>
#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "node/rebalance.h"
#include "node/storage.h"
#include "swarm/swarms.h"

namespace onionswarm::node {
namespace {

constexpr size_t kMessageSize = 1024;
constexpr uint64_t kExpiry = ~uint64_t(0);

class BenchStore {
 public:
  explicit BenchStore(std::chrono::microseconds commit_window = StorageOptions{}.commit_window) {
    crypto::init();
    std::string tmpl = "/tmp/onionswarm-storage-bench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    StorageOptions o;
    o.path = dir_ + "/db";
    o.map_size = size_t(4) << 30;
    o.quota_messages = ~uint64_t(0);
    o.quota_bytes = ~uint64_t(0);
    o.commit_window = commit_window;
    auto r = Storage::open(o);
    if (!r.ok()) std::abort();
    storage_ = std::move(r).value();
  }
  ~BenchStore() {
    storage_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Storage& storage() { return *storage_; }

 private:
  std::string dir_;
  std::unique_ptr<Storage> storage_;
};

swarm::AccountId bench_account(uint8_t n) {
  swarm::AccountId a;
  a.key.fill(n);
  return a;
}

// A distinct 1 KiB message numbered seq (distinct data, so distinct hash).
StoredMessage make_message(const swarm::AccountId& account, uint64_t seq) {
  StoredMessage m;
  m.account = account;
  m.timestamp_ms = seq;
  m.expiry_ms = kExpiry;
  m.data.assign(kMessageSize, uint8_t(seq));
  for (int i = 0; i < 8; ++i) m.data[i] = uint8_t(seq >> (8 * i));
  m.hash = crypto::hash(m.data);
  return m;
}

void BM_StoreBlocking(benchmark::State& state) {
  BenchStore db;
  auto account = bench_account(1);
  uint64_t seq = 0;
  for (auto _ : state) {
    auto r = db.storage().store(make_message(account, seq++));
    if (!r.ok() || r.value() != StoreResult::kNew) state.SkipWithError("store failed");
  }
  state.SetItemsProcessed(int64_t(seq));
  state.counters["commits"] = double(db.storage().commits());
}
BENCHMARK(BM_StoreBlocking)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_StoreAsyncGroupCommit(benchmark::State& state) {
  BenchStore db;
  const int burst = int(state.range(0));
  auto account = bench_account(2);
  uint64_t seq = 0;
  for (auto _ : state) {
    std::atomic<int> left{burst};
    std::promise<void> done;
    std::atomic<bool> failed{false};
    for (int i = 0; i < burst; ++i) {
      db.storage().store_async(make_message(account, seq++), [&](Result<StoreResult> r) {
        if (!r.ok()) failed = true;
        if (--left == 0) done.set_value();
      });
    }
    done.get_future().wait();
    if (failed) state.SkipWithError("store_async failed");
  }
  state.SetItemsProcessed(int64_t(seq));
  state.counters["commits"] = double(db.storage().commits());
}
BENCHMARK(BM_StoreAsyncGroupCommit)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_StoreConcurrentBlocking(benchmark::State& state) {
  BenchStore db(std::chrono::microseconds(state.range(1)));
  const int threads = int(state.range(0));
  constexpr int kPerThread = 100;
  uint64_t base = 0;
  for (auto _ : state) {
    std::vector<std::thread> workers;
    std::atomic<bool> failed{false};
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t, base] {
        auto account = bench_account(uint8_t(10 + t));
        for (int i = 0; i < kPerThread; ++i) {
          auto r = db.storage().store(make_message(account, base + uint64_t(i)));
          if (!r.ok()) failed = true;
        }
      });
    }
    for (auto& w : workers) w.join();
    base += kPerThread;
    if (failed) state.SkipWithError("store failed");
  }
  state.SetItemsProcessed(int64_t(base) * threads);
  state.counters["commits"] = double(db.storage().commits());
}
BENCHMARK(BM_StoreConcurrentBlocking)
    ->ArgNames({"threads", "window_us"})
    ->ArgsProduct({{8, 64}, {0, 5000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Retrieve100(benchmark::State& state) {
  BenchStore db;
  auto account = bench_account(3);
  {
    std::atomic<int> left{1000};
    std::promise<void> done;
    for (uint64_t i = 0; i < 1000; ++i) {
      db.storage().store_async(make_message(account, i), [&](Result<StoreResult>) {
        if (--left == 0) done.set_value();
      });
    }
    done.get_future().wait();
  }
  int64_t items = 0;
  uint64_t start = 0;
  for (auto _ : state) {
    Cursor c{start % 900, {}};
    bool more = false;
    auto r = db.storage().retrieve(account, 0, c, 100, 1, &more);
    if (!r.ok() || r->size() != 100) {
      state.SkipWithError("retrieve failed");
      break;
    }
    items += int64_t(r->size());
    benchmark::DoNotOptimize(r);
    start += 37;
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_Retrieve100)->Unit(benchmark::kMicrosecond);

// Stores `held` messages round-robin over 100 accounts, in group commits.
void fill(BenchStore& db, uint64_t held) {
  std::atomic<uint64_t> left{held};
  std::promise<void> done;
  for (uint64_t i = 0; i < held; ++i) {
    db.storage().store_async(make_message(bench_account(uint8_t(i % 100)), i), [&](Result<StoreResult> r) {
      if (!r.ok() || r.value() != StoreResult::kNew) std::abort();
      if (--left == 0) done.set_value();
    });
  }
  done.get_future().wait();
}

// The anti-entropy digest a catch-up round compares (and a peer's answer
// carries) with N messages held: kept in memory (second argument 0) or
// counted by a full scan of the hash index (1), as before 2026-12-04.
void BM_SyncDigest(benchmark::State& state) {
  BenchStore db;
  fill(db, uint64_t(state.range(0)));
  const bool scan = state.range(1) != 0;
  for (auto _ : state) {
    auto d = scan ? db.storage().digest_by_scan() : db.storage().digest();
    if (!d.ok()) {
      state.SkipWithError("digest failed");
      break;
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_SyncDigest)->Args({100'000, 0})->Args({100'000, 1})->Unit(benchmark::kMicrosecond);

// Planning a hand-over when the swarms change, with N messages of 100
// accounts held, all of them still this node's (the common case): the
// plan by account (plan_handoff; second argument 0), and, for the ratio,
// the plan by message that it replaced on 2026-12-04 (1): every hash from
// the index, then the message itself to learn its account.
void BM_PlanHandoff(benchmark::State& state) {
  BenchStore db;
  fill(db, uint64_t(state.range(0)));
  auto ed = crypto::Ed25519KeyPair::generate();
  swarm::NodeDescriptor self{ed.public_key(), ed.to_x25519().public_key(), "tcp://127.0.0.1:1", std::nullopt};
  std::vector<swarm::Swarm> swarms(1);
  swarms[0].id = swarm::swarm_anchor(0);
  swarms[0].members = {self};
  const bool by_message = state.range(1) != 0;
  for (auto _ : state) {
    size_t leaving = 0;
    if (!by_message) {
      auto plan = plan_handoff(db.storage(), swarms, self.x25519, 10'000, 1);
      if (!plan.ok()) state.SkipWithError("plan failed");
      leaving = plan.ok() ? plan->size() : 0;
    } else {
      for (size_t b = 0; b < Storage::kSyncBuckets; ++b) {
        std::optional<crypto::Hash> after;
        for (bool more = true; more;) {
          auto hashes = db.storage().bucket_hashes(uint8_t(b), after ? &*after : nullptr, 1'000, &more);
          if (!hashes.ok() || hashes->empty()) break;
          for (const auto& h : *hashes) {
            after = h;
            auto m = db.storage().get(h, 1);
            if (m.ok() && *m && swarm::swarm_index_for(swarms, (*m)->account) != 0) ++leaving;
          }
        }
      }
    }
    if (leaving != 0) state.SkipWithError("nothing should leave");
  }
}
BENCHMARK(BM_PlanHandoff)->Args({100'000, 0})->Args({100'000, 1})->Unit(benchmark::kMillisecond);

// A durable LMDB commit syncs twice: the data pages (fdatasync), then the
// meta page (written through a descriptor opened O_DSYNC). MDB_NOMETASYNC
// leaves out the second, so a crash of the machine may undo the last
// commit: the node never opens its environment so. This prices what the
// second sync costs per commit of 3 KiB, in wall time and CPU time.
void BM_LmdbCommitMetaSync(benchmark::State& state) {
  std::string dir = "/tmp/onionswarm-lmdb-bench-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) std::abort();
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  MDB_txn* txn = nullptr;
  const unsigned flags = MDB_NOTLS | (state.range(0) ? MDB_NOMETASYNC : 0);
  if (mdb_env_create(&env) || mdb_env_set_mapsize(env, size_t(1) << 30) || mdb_env_open(env, dir.c_str(), flags, 0600) ||
      mdb_txn_begin(env, nullptr, 0, &txn) || mdb_dbi_open(txn, nullptr, 0, &dbi) || mdb_txn_commit(txn))
    std::abort();
  std::string value(kMessageSize, 'v');
  uint64_t key = 0;
  for (auto _ : state) {
    if (mdb_txn_begin(env, nullptr, 0, &txn)) std::abort();
    for (int i = 0; i < 3; ++i) {
      ++key;
      MDB_val k{sizeof key, &key}, v{value.size(), value.data()};
      if (mdb_put(txn, dbi, &k, &v, 0)) std::abort();
    }
    if (mdb_txn_commit(txn)) std::abort();
  }
  state.SetItemsProcessed(int64_t(key));
  mdb_env_close(env);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
BENCHMARK(BM_LmdbCommitMetaSync)->ArgName("nometasync")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace onionswarm::node

BENCHMARK_MAIN();
