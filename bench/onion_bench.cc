// Micro-benchmarks for the onion layer: what a client pays to build a request
// and what every hop pays to peel one layer.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "onion/crypto.h"
#include "onion/encoding.h"
#include "onion/ephemeral_pool.h"
#include "onion/layer.h"
#include "node/limits.h"

namespace {

using namespace onionswarm;
using crypto::X25519KeyPair;
using crypto::X25519PublicKey;

constexpr uint64_t kTs = 1700000000000ull;
constexpr size_t kPayload = 1024;

struct Path {
  std::vector<X25519KeyPair> keys;
  std::vector<X25519PublicKey> pks;
  explicit Path(size_t n) {
    crypto::init();
    for (size_t i = 0; i < n; ++i) {
      keys.push_back(X25519KeyPair::generate());
      pks.push_back(keys.back().public_key());
    }
  }
};

// 3 relays + destination, 1 KiB payload.
void BM_BuildOnion4Hops(benchmark::State& state) {
  Path path(4);
  Bytes payload = crypto::random_bytes(kPayload);
  for (auto _ : state) {
    auto built = onion::build(path.pks, payload, kTs);
    if (!built.ok()) state.SkipWithError("build failed");
    benchmark::DoNotOptimize(built);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildOnion4Hops);

// The same with the layers' key pairs from a pool refilled in the
// background (as the client does): what a request waits for when the pool
// keeps up. The pool's thread works between iterations' DHs; with a core to
// itself it keeps up.
void BM_BuildOnion4HopsPooled(benchmark::State& state) {
  Path path(4);
  Bytes payload = crypto::random_bytes(kPayload);
  onion::EphemeralPool pool;
  for (auto _ : state) {
    auto built = onion::build(path.pks, payload, kTs, &pool);
    if (!built.ok()) state.SkipWithError("build failed");
    benchmark::DoNotOptimize(built);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildOnion4HopsPooled)->UseRealTime();

// The outer layer of the same onion, as peeled by the first relay.
void BM_PeelOuterLayer(benchmark::State& state) {
  Path path(4);
  auto built = onion::build(path.pks, crypto::random_bytes(kPayload), kTs);
  if (!built.ok()) {
    state.SkipWithError("build failed");
    return;
  }
  for (auto _ : state) {
    auto layer = onion::peel(path.keys[0], built->blob);
    if (!layer.ok()) state.SkipWithError("peel failed");
    benchmark::DoNotOptimize(layer);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(built->blob.size()));
}
BENCHMARK(BM_PeelOuterLayer);

void BM_X25519(benchmark::State& state) {
  crypto::init();
  auto a = X25519KeyPair::generate();
  auto b = X25519KeyPair::generate();
  for (auto _ : state) {
    auto shared = crypto::x25519(a.secret(), b.public_key());
    benchmark::DoNotOptimize(shared);
  }
}
BENCHMARK(BM_X25519);

void BM_Ed25519ToX25519(benchmark::State& state) {
  auto kp = crypto::Ed25519KeyPair::generate();
  for (auto _ : state) {
    auto x = crypto::ed25519_to_x25519(kp.public_key());
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_Ed25519ToX25519);

void BM_AeadEncrypt1KiB(benchmark::State& state) {
  crypto::init();
  crypto::SecretBytes key(crypto::random_bytes(crypto::kKeySize));
  Bytes nonce = crypto::random_bytes(crypto::kNonceSize);
  Bytes pt = crypto::random_bytes(kPayload);
  for (auto _ : state) {
    Bytes ct = crypto::aead_encrypt(key, nonce, pt);
    benchmark::DoNotOptimize(ct);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kPayload));
}
BENCHMARK(BM_AeadEncrypt1KiB);

void BM_AeadDecrypt1KiB(benchmark::State& state) {
  crypto::init();
  crypto::SecretBytes key(crypto::random_bytes(crypto::kKeySize));
  Bytes nonce = crypto::random_bytes(crypto::kNonceSize);
  Bytes ct = crypto::aead_encrypt(key, nonce, crypto::random_bytes(kPayload));
  for (auto _ : state) {
    auto pt = crypto::aead_decrypt(key, nonce, ct);
    if (!pt.ok()) state.SkipWithError("decrypt failed");
    benchmark::DoNotOptimize(pt);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kPayload));
}
BENCHMARK(BM_AeadDecrypt1KiB);

// The data field of a stored 1 KiB message as it travels in a store
// request or a replica push (a sealed envelope of ~1.1 KiB, base64).
static void BM_FromBase64_1100B(benchmark::State& state) {
  Bytes data(1100);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 131 + 7);
  const std::string text = to_base64(data);
  for (auto _ : state) {
    auto r = from_base64(text);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_FromBase64_1100B);

// What every hop pays, after the peel, to check a layer's ephemeral key
// against its replay cache and remember it: a cache that already holds
// state.range(0) keys whose timestamps span the whole 30-min skew window
// either side of now (the node's default window), as on a busy relay.
void BM_LayerReplayCheck(benchmark::State& state) {
  crypto::init();
  constexpr uint64_t kWindow = 30ull * 60 * 1000;
  const auto held = uint64_t(state.range(0));
  node::LayerReplayCache cache(held + 20'000'000, kWindow);
  Bytes key(32, 0);
  uint64_t n = 0;
  auto next_key = [&] {
    ++n;
    std::memcpy(key.data(), &n, sizeof n);
    return ByteView(key);
  };
  for (uint64_t i = 0; i < held; ++i) {
    const uint64_t ts = kTs - kWindow + (2 * kWindow * i) / held;
    if (!cache.check_and_insert(next_key(), ts, kTs).ok()) state.SkipWithError("prefill refused");
  }
  for (auto _ : state) {
    auto st = cache.check_and_insert(next_key(), kTs, kTs);
    if (!st.ok()) {
      state.SkipWithError("refused");
      break;
    }
  }
}
BENCHMARK(BM_LayerReplayCheck)->Arg(10'000)->Arg(1'000'000);

// The memory of a relay's replay cache at the node's default bound
// (replay_cache_entries 1,000,000) once it holds state.range(0) keys: a
// relay keeps each key 30 min, so at R new layers per second it holds
// R * 1,800 keys (792,000 at the 440 per second each node of the
// sustained benchmark's devnet sees).
void BM_LayerReplayMemory(benchmark::State& state) {
  crypto::init();
  constexpr uint64_t kWindow = 30ull * 60 * 1000;
  const auto held = uint64_t(state.range(0));
  for (auto _ : state) {
    node::LayerReplayCache cache(1'000'000, kWindow);
    Bytes key(32, 0);
    for (uint64_t i = 1; i <= held; ++i) {
      std::memcpy(key.data(), &i, sizeof i);
      if (!cache.check_and_insert(key, kTs - kWindow + (2 * kWindow * i) / held, kTs).ok()) {
        state.SkipWithError("refused");
        return;
      }
    }
    state.counters["keys"] = double(cache.size());
    state.counters["MB"] = double(cache.memory_bytes()) / 1e6;
    state.counters["bytes_per_key"] = double(cache.memory_bytes()) / double(cache.size());
  }
}
BENCHMARK(BM_LayerReplayMemory)
    ->Arg(100'000)
    ->Arg(792'000)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

