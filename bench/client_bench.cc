// Micro-benchmarks for what every CLI command pays before its first request:
// loading HOME/directory.json and turning it into the nodes paths and swarms
// are built from.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "client/directory_cache.h"
#include "onion/crypto.h"
#include "swarm/descriptor.h"

namespace {

using namespace onionswarm;

constexpr uint64_t kNow = 1'800'000'000'000;
constexpr const char* kNetwork = "bench-net";

// A cache of n descriptors, each endorsed by one of a few operators when
// `endorsed` (as in a permissioned network).
struct Cache {
  client::CachedDirectory directory;
  std::string text;
  swarm::VerifyRules rules;

  Cache(size_t n, bool endorsed) {
    crypto::init();
    std::vector<crypto::Ed25519KeyPair> operators;
    for (int i = 0; i < 4; ++i) operators.push_back(crypto::Ed25519KeyPair::generate());
    for (size_t i = 0; i < n; ++i) {
      auto ed = crypto::Ed25519KeyPair::generate();
      swarm::SignedDescriptor d;
      d.network_id = kNetwork;
      d.node = {ed.public_key(), ed.to_x25519().public_key(),
                "tcp://198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":4500", std::nullopt};
      d.version = "0.1.0";
      d.issued_at_ms = kNow;
      d.expires_at_ms = kNow + 3'600'000;
      if (endorsed) {
        const auto& op = operators[i % operators.size()];
        d.endorsement = swarm::endorse(op, kNetwork, d.node.ed25519, d.node.x25519, kNow + 86'400'000);
      }
      swarm::sign_descriptor(d, ed);
      directory.descriptors.push_back(std::move(d));
    }
    directory.fetched_at_ms = kNow;
    directory.guard = directory.descriptors.front().node.x25519;
    text = client::directory_cache_to_json(directory);
    rules.network_id = kNetwork;
    rules.now_ms = kNow + 1'000;
    if (endorsed)
      for (const auto& op : operators) rules.operators.push_back(op.public_key());
  }
};

// Parse and check the cache, then build the view (what open_client does).
// Args: descriptors, endorsed (0/1), written under the identity's MAC (0/1):
// a cache without a MAC (or not ours) has every signature verified again.
void BM_LoadDirectoryCache(benchmark::State& state) {
  Cache cache(size_t(state.range(0)), state.range(1) != 0);
  const auto key = client::directory_cache_key(crypto::Ed25519KeyPair::generate());
  const bool mac = state.range(2) != 0;
  if (mac) cache.text = client::directory_cache_to_json(cache.directory, &key);
  for (auto _ : state) {
    auto loaded = client::parse_directory_cache(cache.text, cache.rules, mac ? &key : nullptr);
    if (!loaded.ok() || loaded->descriptors.size() != cache.directory.descriptors.size()) {
      state.SkipWithError("the cache did not load whole");
      break;
    }
    auto view = client::directory_view(std::optional<client::CachedDirectory>(std::move(*loaded)), {});
    benchmark::DoNotOptimize(view);
  }
  state.counters["descriptors"] = double(state.range(0));
}
BENCHMARK(BM_LoadDirectoryCache)
    ->Args({10, 0, 0})
    ->Args({10, 0, 1})
    ->Args({2'000, 0, 0})
    ->Args({2'000, 0, 1})
    ->Args({2'000, 1, 0})
    ->Args({2'000, 1, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
