#include "onion/ephemeral_pool.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "onion/layer.h"

namespace onionswarm::onion {
namespace {

using crypto::X25519KeyPair;
using crypto::X25519PublicKey;

// The public key really belongs to the secret.
bool consistent(const X25519KeyPair& kp) {
  uint8_t pk[crypto_scalarmult_BYTES];
  if (crypto_scalarmult_base(pk, kp.secret().data()) != 0) return false;
  const ByteView v = kp.public_key().view();
  return kp.secret().size() == crypto::kKeySize && std::equal(v.begin(), v.end(), pk);
}

// Polls (bounded) until pred holds.
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

TEST(EphemeralPool, FillsInTheBackgroundAndRefillsBelowHalf) {
  EphemeralPool pool(8);
  ASSERT_TRUE(eventually([&] { return pool.ready() == 8; }));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(consistent(pool.take()));
  // Three left, fewer than half: the thread tops it up again.
  ASSERT_TRUE(eventually([&] { return pool.ready() == 8; }));
}

TEST(EphemeralPool, NeverHandsOutAKeyTwiceEvenWhenEmptyAndShared) {
  EphemeralPool pool(4);
  std::vector<std::vector<X25519PublicKey>> seen(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {  // far more than the pool holds: many are made on the spot
        auto kp = pool.take();
        EXPECT_TRUE(consistent(kp));
        seen[t].push_back(kp.public_key());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<X25519PublicKey> all;
  for (const auto& v : seen) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 200u);
}

TEST(EphemeralPool, OnionsBuiltFromThePoolPeelAtEveryHop) {
  std::vector<X25519KeyPair> hops;
  std::vector<X25519PublicKey> pks;
  for (int i = 0; i < 4; ++i) {
    hops.push_back(X25519KeyPair::generate());
    pks.push_back(hops.back().public_key());
  }
  auto pool = EphemeralPool::shared();
  EXPECT_EQ(pool, EphemeralPool::shared());  // one per process while in use
  const Bytes payload = {1, 2, 3};
  std::set<X25519PublicKey> ephemerals;
  for (int round = 0; round < 3; ++round) {
    auto built = build(pks, payload, 1700000000000, pool.get());
    ASSERT_TRUE(built.ok()) << built.status().to_string();
    Bytes blob = built->blob;
    for (size_t i = 0; i < hops.size(); ++i) {
      auto layer = peel(hops[i], blob);
      ASSERT_TRUE(layer.ok()) << i << ": " << layer.status().to_string();
      ephemerals.insert(layer->ephemeral);
      blob = layer->payload;
    }
    EXPECT_EQ(blob, payload);
  }
  EXPECT_EQ(ephemerals.size(), 12u);  // a fresh key for every layer of every onion
}

TEST(EphemeralPool, StopsPromptlyWhileRefilling) {
  for (int i = 0; i < 20; ++i) {
    EphemeralPool pool(1000);  // still filling when it goes
    pool.take();
  }
}

}  // namespace
}  // namespace onionswarm::onion
