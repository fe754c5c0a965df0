#include "onion/ephemeral_pool.h"

#include <pthread.h>
#include <sched.h>

#include <utility>

namespace onionswarm::onion {

EphemeralPool::EphemeralPool(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  crypto::init();
  thread_ = std::thread([this] { refill_loop(); });
}

EphemeralPool::~EphemeralPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

crypto::X25519KeyPair EphemeralPool::take() {
  // Never waits for the lock: the refill thread runs at SCHED_IDLE and can be
  // preempted while it holds it, for as long as the machine is busy (priority
  // inversion). A taker that finds the lock held makes its own key pair.
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return crypto::X25519KeyPair::generate();
  if (ready_.empty()) {
    lock.unlock();
    cv_.notify_one();
    return crypto::X25519KeyPair::generate();
  }
  crypto::X25519KeyPair kp = std::move(ready_.front());
  ready_.pop_front();
  const bool low = ready_.size() < capacity_ / 2;
  lock.unlock();
  if (low) cv_.notify_one();
  return kp;
}

size_t EphemeralPool::ready() const {
  std::lock_guard lock(mu_);
  return ready_.size();
}

void EphemeralPool::refill_loop() {
  // Only spare CPU: on a busy machine a refill would compete with the very
  // requests it is meant to speed up (measured: one store at a time got
  // slower with a normal-priority refill, the nodes on the same 2 cores).
  // Linux lets any thread lower itself to SCHED_IDLE; where it cannot, the
  // refill runs at normal priority.
  sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || ready_.size() < capacity_ / 2 || ready_.empty(); });
    if (stop_) return;
    // Fill up to capacity, making each key pair outside the lock.
    while (!stop_ && ready_.size() < capacity_) {
      lock.unlock();
      crypto::X25519KeyPair kp = crypto::X25519KeyPair::generate();
      lock.lock();
      ready_.push_back(std::move(kp));
    }
  }
}

std::shared_ptr<EphemeralPool> EphemeralPool::shared() {
  static std::mutex mu;
  static std::weak_ptr<EphemeralPool> pool;
  std::lock_guard lock(mu);
  auto p = pool.lock();
  if (!p) {
    p = std::make_shared<EphemeralPool>();
    pool = p;
  }
  return p;
}

}  // namespace onionswarm::onion
