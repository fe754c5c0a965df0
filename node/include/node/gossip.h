// The living directory: signed node descriptors spread by gossip.
//
// GossipDirectory is the node's view (a swarm::Directory): this node, the
// seeds of the network file that have not published a descriptor yet, and
// every verified, probed, unexpired descriptor. A seed counts from the
// start; once its descriptor has been seen it is governed by it (it drops
// out when that descriptor expires unrefreshed).
//
// Gossip answers kGossip requests (Gossip::answer, on a server worker) and
// runs rounds on its own thread: expire, refresh our own descriptor,
// probe the addresses of new descriptors, push-pull with a few peers.
// Protocol: docs/PROTOCOL.md, "Gossip".
//
// Threading: GossipDirectory is thread-safe (guarded by mu_). Gossip::answer
// is thread-safe; the gossip thread owns its own ZeroMQ context and sockets
// and never touches the server's.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "node/handler.h"
#include "node/identity.h"
#include "node/stats.h"
#include "onion/bytes.h"
#include "swarm/descriptor.h"
#include "swarm/directory.h"

namespace onionswarm::node {

inline constexpr size_t kMaxGossipDescriptors = 256;  // per message, either way
inline constexpr size_t kMaxGossipBodyBytes = 256 * 1024;

struct GossipOptions {
  std::string network_id;
  std::vector<crypto::Ed25519PublicKey> operators;  // non-empty: permissioned network
  std::optional<swarm::Endorsement> endorsement;    // ours, copied into our descriptor
  uint64_t descriptor_lifetime_ms = 3'600'000;      // our own descriptor's lifetime
  uint64_t max_lifetime_ms = 24ull * 3600 * 1000;   // refuse descriptors expiring later than now + this
  uint64_t max_skew_ms = 5 * 60 * 1000;             // issued_at may be this far ahead
  uint64_t interval_ms = 5'000;                     // between gossip rounds
  size_t fanout = 3;                                // peers per round
  uint64_t request_timeout_ms = 3'000;              // push and address probe
  size_t max_nodes = 2'000;                         // descriptors held
  size_t max_pending_probes = 64;                   // new descriptors waiting for the address check
  size_t unknown_announces_per_minute = 120;        // pushes from nodes not in the view
};

class GossipDirectory final : public swarm::Directory {
 public:
  GossipDirectory(std::vector<swarm::NodeDescriptor> seeds, size_t max_nodes);

  std::shared_ptr<const std::vector<swarm::NodeDescriptor>> snapshot() const override;

  // Our own descriptor (always in the view, never expired by expire()).
  void set_self(const swarm::SignedDescriptor& self);
  std::optional<swarm::SignedDescriptor> self() const;
  // SIGHUP: the network file's seeds changed.
  void replace_seeds(std::vector<swarm::NodeDescriptor> seeds);

  enum class Decision { kIgnore, kAdmit, kProbe };
  // What to do with a descriptor that passed verify_descriptor: ignore it
  // (ours, an older or identical copy), admit it now (a newer copy at the
  // same address, or a seed's descriptor at the seed's address), or check
  // its address first (new node or new address). kFull when max_nodes are
  // held already.
  Result<Decision> decide(const swarm::SignedDescriptor& d) const;
  // Puts d in the view (replacing an older copy); false if a newer copy is
  // held already or the directory is full.
  bool admit(const swarm::SignedDescriptor& d);
  // Drops descriptors that expired at now; returns how many.
  size_t expire(uint64_t now_ms);
  // Every held descriptor, ours included.
  std::vector<swarm::SignedDescriptor> descriptors() const;

 private:
  void rebuild_locked();

  const size_t max_nodes_;
  mutable std::mutex mu_;
  std::optional<swarm::SignedDescriptor> self_;                          // GUARDED_BY(mu_)
  std::vector<swarm::NodeDescriptor> seeds_;                             // GUARDED_BY(mu_)
  std::map<crypto::X25519PublicKey, swarm::SignedDescriptor> entries_;  // GUARDED_BY(mu_)
  std::set<crypto::X25519PublicKey> governed_;  // seeds whose descriptor was seen; GUARDED_BY(mu_)
  std::shared_ptr<const std::vector<swarm::NodeDescriptor>> view_;       // GUARDED_BY(mu_)
};

class Gossip {
 public:
  // keys: this node's keys (a copy; the signing key signs our descriptor).
  Gossip(GossipOptions options, NodeKeys keys, std::shared_ptr<GossipDirectory> directory,
         Clock clock = system_clock_ms);
  ~Gossip();  // stops and joins the thread
  Gossip(const Gossip&) = delete;
  Gossip& operator=(const Gossip&) = delete;

  // Signs our descriptor for advertised_address, puts it in the view and
  // starts the gossip thread (first round at once). kInvalidArgument when
  // the address is not tcp://HOST:PORT or the endorsement does not match.
  Status start(const std::string& advertised_address);

  // Answers one kGossip body that arrived over a link whose CURVE key is
  // link_key (any thread). The result is the kGossipResponse body;
  // an error status becomes a kError answer.
  Result<std::string> answer(const crypto::X25519PublicKey& link_key, ByteView body);

  // Counters for status and tests.
  uint64_t admitted() const { return admitted_.load(); }
  uint64_t refused() const { return refused_invalid_.load() + refused_unreachable_.load(); }
  GossipCounters counters() const;

  // The verification rules at now (for tests). They point at this gossip's
  // cache of key conversions, so they must not outlive it.
  swarm::VerifyRules rules(uint64_t now_ms) const;

 private:
  // Files one descriptor: ignored unverified when the directory would
  // ignore it anyway (ours, or a copy no newer than the one held), else
  // verified and then admitted, queued for a probe, or refused (the status
  // says why; logged).
  Status offer(const swarm::SignedDescriptor& d);
  swarm::SignedDescriptor make_self(uint64_t now_ms) const;
  void loop();
  void round();
  void run_probes();
  void push_to(const swarm::NodeDescriptor& peer);
  nlohmann::json push_body() const;
  Result<std::string> list_answer(const nlohmann::json& req) const;

  const GossipOptions options_;
  const NodeKeys keys_;
  std::shared_ptr<GossipDirectory> directory_;
  const Clock clock_;
  std::string advertised_;  // set by start()
  // Each node's key pair is checked once, not on every descriptor it issues.
  mutable crypto::ConvertedKeys converted_keys_;

  std::mutex pending_mu_;
  std::map<crypto::X25519PublicKey, swarm::SignedDescriptor> pending_;  // GUARDED_BY(pending_mu_)
  uint64_t window_start_ms_ = 0;                                         // GUARDED_BY(pending_mu_)
  size_t unknown_in_window_ = 0;                                         // GUARDED_BY(pending_mu_)

  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> refused_invalid_{0};
  std::atomic<uint64_t> refused_unreachable_{0};
  std::atomic<uint64_t> expired_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace onionswarm::node
