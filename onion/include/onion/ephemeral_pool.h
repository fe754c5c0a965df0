// Onion-layer ephemeral key pairs made ahead of time on a background thread.
//
// Every layer of an onion needs a fresh X25519 key pair, and making one
// costs about as much as the layer's DH (issue 6), so a four-layer build
// spends half its time on them. A pool keeps a few ready so a request only
// pays for its DHs; each key pair is handed out once and never reused.
// The thread runs at SCHED_IDLE, on spare CPU only. Thread-safe. take()
// never waits, not even for the pool's lock: an empty pool (a burst, a busy
// machine, or right after start) or a held lock makes the key pair on the
// spot.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "onion/crypto.h"

namespace onionswarm::onion {

class EphemeralPool {
 public:
  // Keeps up to `capacity` key pairs; the thread refills once fewer than
  // half are left.
  explicit EphemeralPool(size_t capacity = 32);
  // Stops the thread; unused secrets are wiped (SecretBytes).
  ~EphemeralPool();
  EphemeralPool(const EphemeralPool&) = delete;
  EphemeralPool& operator=(const EphemeralPool&) = delete;

  // A key pair no one else has been or will be given.
  crypto::X25519KeyPair take();
  size_t ready() const;

  // One pool shared by the whole process (made on first use), so many
  // clients in one process share one background thread.
  static std::shared_ptr<EphemeralPool> shared();

 private:
  void refill_loop();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<crypto::X25519KeyPair> ready_;  // GUARDED_BY(mu_)
  bool stop_ = false;                        // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace onionswarm::onion
