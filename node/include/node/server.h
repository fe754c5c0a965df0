// The node's network side: one public ROUTER socket (CURVE server), outgoing
// DEALER links to other nodes, a ZAP handler, and a pool of worker threads.
//
// Threading contract:
//   - The reactor thread (the one calling run()) owns every socket except the
//     ZAP handler's. It only moves frames: no crypto, no disk.
//   - Worker threads peel layers, handle requests and wrap answers; they
//     never touch a socket. They hand results back through the Mailbox.
//   - The storage committer thread completes stores and also posts to the
//     Mailbox.
//   - The ZAP thread owns the inproc ZAP socket and answers handshakes.
//
// Frames: docs/PROTOCOL.md, "Frames". Relayed requests are remembered by
// request id with a deadline; the answer (or a hop error on timeout, or at
// once when the link to the next hop is down) goes back to whoever asked.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "node/handler.h"
#include "node/identity.h"
#include "node/limits.h"
#include "node/replica.h"
#include "node/stats.h"
#include "node/storage.h"
#include "node/sync.h"
#include "onion/bytes.h"
#include "onion/wire.h"
#include "swarm/directory.h"
#include "swarm/rpc.h"

namespace onionswarm::node {

struct ServerOptions {
  std::string listen = "tcp://127.0.0.1:4500";  // port 0 or * : the kernel picks one
  unsigned workers = 0;                          // 0: one per core
  uint64_t relay_timeout_ms = wire::kDefaultRelayTimeoutMs;  // waiting for the next hop's answer
  // A layer is refused when its timestamp is more than layer_max_skew_ms in
  // the past or more than layer_max_ahead_ms in the future. The bound ahead
  // is the destination's own (rpc::kMaxClockSkewMs): a layer stamped further
  // ahead would stay in a full replay cache the longest and keep pushing its
  // horizon past honest layers (docs/SECURITY.md, "Replays").
  uint64_t layer_max_skew_ms = 30ull * 60 * 1000;
  uint64_t layer_max_ahead_ms = swarm::rpc::kMaxClockSkewMs;
  uint64_t sweep_interval_ms = 10'000;           // TTL sweep period
  uint64_t replication_timeout_ms = 5'000;       // waiting for a swarm peer's replica ack
  // Other swarm members that must confirm a new store before the client is
  // answered (fewer when the swarm has fewer other members).
  size_t min_replica_acks = 1;
  // A new store goes at once to this many other members (at least
  // min_replica_acks; 0: to all of them); the swarm's other members get it
  // in one larger kReplicateBatch per member, at most replica_defer_ms later
  // (docs/PROTOCOL.md 8.2, "Eager and deferred pushes").
  size_t replica_eager_members = 2;
  uint64_t replica_defer_ms = 500;
  size_t max_in_flight = 20'000;                 // relayed requests awaiting answers
  // Flood limits (docs/SECURITY.md, "Floods and limits"). Over a limit the
  // node answers busy at once instead of queueing.
  size_t max_queued_requests = 4'096;            // onion requests accepted, not yet answered or forwarded
  size_t max_queued_bytes = size_t(64) << 20;    // their blob bytes, and relayed answers over 16 KiB
  uint32_t connection_rate_per_s = 200;          // per client connection (not node links); 0 = off
  uint32_t connection_burst = 400;
  size_t replay_cache_entries = 1'000'000;       // onion-layer ephemeral keys remembered (<= 27 B each)
  HandlerOptions handler;
  SyncOptions sync;
  // Answers a kGossip body from the link whose CURVE key is the first
  // argument (node/gossip.h, Gossip::answer); called on a worker thread.
  // Unset: kGossip is refused.
  std::function<Result<std::string>(const crypto::X25519PublicKey&, ByteView)> on_gossip;
};

// Work and results between threads. Thread-safe.
class WorkQueue {
 public:
  void push(std::function<void()> job);
  // Blocks until a job is available or close(); false when closed and empty.
  bool pop(std::function<void()>& job);
  void close();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // GUARDED_BY(mu_)
  bool closed_ = false;                     // GUARDED_BY(mu_)
};

class Server {
 public:
  // storage is owned: the server drains it on shutdown before its own
  // completion paths go away.
  Server(ServerOptions options, NodeKeys keys, std::shared_ptr<swarm::Directory> directory,
         std::unique_ptr<Storage> storage, Clock clock = system_clock_ms);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the public socket and starts the ZAP and worker threads.
  Status start();
  // The bound endpoint, e.g. "tcp://127.0.0.1:45123" (after start()).
  const std::string& endpoint() const { return endpoint_; }

  // Runs the reactor on the calling thread until stops is 1 or more (the
  // stop signals taken). on_tick runs on the reactor thread about every
  // 100 ms (for the network file reload). On stop it reads no new request,
  // finishes those it took before (for at most 3 s: finish_in_flight) unless
  // stops reaches 2 (a second signal: what still waits on another node is
  // answered `unavailable` at once), then sends the deferred replica batches
  // still queued.
  void run(const std::atomic<int>& stops, const std::function<void()>& on_tick = {});
  // Calls on_readable on the reactor thread whenever fd is readable; it must
  // read fd until it would block. One such fd: the node's signalfd, so that
  // no thread takes a signal and no ZeroMQ call is interrupted (EINTR,
  // which cppzmq throws). After start(), before run().
  Status watch_fd(int fd, std::function<void()> on_readable);

  RequestHandler& handler() { return *handler_; }
  const NodeStats& stats() const { return stats_; }
  Storage& storage() { return *storage_; }
  const swarm::Directory& directory() const { return *directory_; }
  const NodeKeys& keys() const { return keys_; }

 private:
  struct Admission;  // one onion request's share of queued_requests_/queued_bytes_
  struct Pending {
    std::string from;          // routing id of whoever asked
    uint64_t from_request_id;  // their request id
    std::shared_ptr<crypto::SecretBytes> response_key;
    uint64_t deadline_ms;
    crypto::X25519PublicKey next_hop;  // the link it was sent on
  };
  // A DEALER to one node, and the PAIR on which libzmq reports that
  // DEALER's connection events (zmq_socket_monitor).
  struct Link {
    std::string address;
    std::unique_ptr<zmq::socket_t> socket;
    std::unique_ptr<zmq::socket_t> monitor;
    // The last connection attempt was refused or failed its handshake, or
    // the connection was lost, and no handshake has succeeded since. A new
    // link is not down: what is sent to it waits for the connection.
    bool down = false;
    uint64_t id = 0;  // names its epoll registrations (ready_tag) and monitor endpoint
  };
  // What workers and the committer hand to the reactor.
  struct Outgoing {
    enum Kind { kReply, kForward, kReplicate } kind = kReply;
    std::string to;  // kReply: routing id
    wire::Header header;
    Bytes body;
    crypto::X25519PublicKey next_hop;                   // kForward
    std::shared_ptr<crypto::SecretBytes> response_key;  // kForward
    // kReplicate: whose swarm. With a completion (a new store: body is its
    // binary record, node/replica.h) it is batched with the other new
    // stores of one mailbox drain for the same swarm; without (a delete:
    // header.type and body as sent) it is pushed alone, untracked.
    swarm::AccountId account;
    RequestHandler::Replicated replicated;
    // kReplicate: the new store's hash, or the hashes a delete removed (the
    // delete's body is empty when a peer pushed it: only forget_deferred).
    std::vector<crypto::Hash> hashes;
    // kReplicate of a new store: pushed to every other member at once, none
    // deferred (a group's control entry: every member checks the group's
    // credentials against its control log).
    bool to_every_member = false;
  };
  // New stores' replica records waiting for one swarm member's deferred
  // kReplicateBatch (docs/PROTOCOL.md 8.2).
  struct DeferredPush {
    swarm::NodeDescriptor member;
    std::vector<std::pair<crypto::Hash, Bytes>> records;
    size_t bytes = 0;      // of records
    uint64_t due_ms = 0;   // sent then (or when full)
  };
  // A new store waiting for swarm peers to confirm their replicas.
  struct PendingReplication {
    RequestHandler::Replicated replicated;
    std::vector<crypto::X25519PublicKey> holders;  // this node first, then peers that acked
    size_t needed = 0;                             // acks still required
    size_t outstanding = 0;                        // peers that have not answered
    uint64_t deadline_ms = 0;
    uint64_t batch = 0;                            // request id of its kReplicateBatch frame
  };

  class Mailbox {
   public:
    Mailbox();
    ~Mailbox();
    void post(Outgoing o);  // any thread
    bool empty();
    std::deque<Outgoing> drain();
    int fd() const { return fd_; }

   private:
    int fd_ = -1;  // eventfd, readable while items are queued
    std::mutex mu_;
    std::deque<Outgoing> items_;  // GUARDED_BY(mu_)
  };

  static ServerOptions with_stats(ServerOptions o, NodeStats* stats);
  void zap_loop_on(zmq::socket_t& rep);
  void worker_loop();
  void on_public_message(std::vector<zmq::message_t>& frames, size_t total);
  // Each drains at most kMaxDrainPerPoll messages; true when it stopped
  // there (more may be waiting).
  bool on_link_message(const crypto::X25519PublicKey& peer, zmq::socket_t& s);
  // Reads the link's monitor events; when the link goes down, every request
  // forwarded on it is answered with a hop error unavailable at once.
  bool on_link_events(const crypto::X25519PublicKey& peer, Link& link);
  // The reactor's readiness set (see run()): what to read in the next pass.
  // Adds fd to the epoll set (level-triggered, readable) under tag; false
  // (errno set) when epoll refuses it.
  bool epoll_add(int fd, uint64_t tag);
  void watch(zmq::socket_t& s, uint64_t tag);
  void unwatch(zmq::socket_t& s);
  void mark_ready(uint64_t tag) { ready_.insert(tag); }
  // run()'s pass over the link sockets and the mailbox that `ready` names.
  void serve_links_and_mailbox(const std::set<uint64_t>& ready);
  // After the stop: reads no new request but finishes those taken before
  // (peels, commits, next hops' answers, replica confirmations), for at
  // most kStopDrainMs (server.cc). in_flight_done: nothing of them is left.
  void finish_in_flight(const std::atomic<int>& stops);
  // After a second stop signal during finish_in_flight: every request
  // waiting for a next hop or a swarm member's confirmation is answered
  // `unavailable` at once, on the reactor; log: the first time.
  void answer_waiting_at_stop(bool log);
  bool in_flight_done();
  void on_outgoing(Outgoing o);
  // Everything one mailbox drain returned: new stores' replicas go out as
  // one kReplicateBatch per swarm, the rest through on_outgoing.
  void on_mailbox(std::deque<Outgoing> items);
  void replicate_batch(const swarm::Swarm& swarm, std::vector<Outgoing>& stores, bool to_every_member);
  // Sends one message to every member of swarm but this node. Returns the
  // number of other members and how many it was sent to (links down or
  // congested are skipped).
  std::pair<size_t, size_t> push_to_members(const swarm::Swarm& swarm, ByteView header, ByteView body);
  // Sends header+body on the link to member unless it is down or congested;
  // true when queued.
  bool push_to(const swarm::NodeDescriptor& member, ByteView header, ByteView body);
  // Deferred pushes (DeferredPush): queue one record for member; send every
  // queue due by now; drop queued records of deleted messages, so that no
  // member gets a store after its delete. send_deferred: true when the
  // batch was queued on the member's link. On stop, send_deferred_at_stop
  // sends every queue and gives those links time to deliver it.
  void defer_record(const swarm::NodeDescriptor& member, const crypto::Hash& hash, const Bytes& record);
  void flush_deferred(uint64_t now);
  bool send_deferred(DeferredPush& d);
  void send_deferred_at_stop();
  void forget_deferred(const std::vector<crypto::Hash>& hashes);
  void reply_error(const std::string& to, uint64_t request_id, const Status& st);
  // A relayed request's hop error, wrapped under its layer's response key.
  Outgoing hop_error_answer(const Pending& p, const Status& st);
  // Answers p with st (counted as refused unless a timeout): the answer is
  // wrapped on a worker and posted to the mailbox, or on the reactor while
  // draining_.
  void answer_hop_error(Pending p, const Status& st);
  void expire_pending(uint64_t now);
  void on_replica_answer(const crypto::X25519PublicKey& peer, uint64_t id, bool acked);
  // A peer's answer to the kReplicateBatch with request id `batch`: one
  // result byte per replica, or (refused_all) a link-level error.
  void on_batch_answer(const crypto::X25519PublicKey& peer, uint64_t batch, ByteView results, bool refused_all);
  void finish_replication(PendingReplication& r, Result<std::vector<crypto::X25519PublicKey>> result);
  Link& link_to(const swarm::NodeDescriptor& node);

  // worker-side jobs
  void job_onion(std::string from, uint64_t request_id, Bytes blob, std::shared_ptr<Admission> admission);
  // Over a flood limit? Counts and answers busy itself when so.
  bool refuse_busy(const std::string& from, uint64_t request_id, zmq::message_t& header_frame,
                   size_t blob_size);
  void job_replica(std::string from, uint64_t request_id, Bytes body);
  void job_replica_batch(std::string from, uint64_t request_id, Bytes body);
  // Stores one replica pushed by a known node, if this node serves its account.
  void accept_one_replica(StoredMessage m, std::function<void(ReplicaResult)> done);

  NodeStats stats_;  // before options_: handler options point at it
  const ServerOptions options_;
  const NodeKeys keys_;
  std::shared_ptr<swarm::Directory> directory_;
  const Clock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<RequestHandler> handler_;

  zmq::context_t ctx_;
  std::unique_ptr<zmq::socket_t> router_;   // reactor thread only
  std::map<crypto::X25519PublicKey, Link> links_;  // reactor thread only
  std::map<uint64_t, Pending> pending_;     // reactor thread only; ids grow with time
  std::map<uint64_t, PendingReplication> replications_;  // reactor thread only; ids grow with time
  uint64_t next_request_id_ = 1;            // reactor thread only
  std::map<crypto::X25519PublicKey, DeferredPush> deferred_;  // reactor thread only
  size_t eager_rotation_ = 0;               // reactor thread only: first member tried for the next batch
  uint64_t next_link_id_ = 1;               // reactor thread only; Link::id
  std::map<uint64_t, crypto::X25519PublicKey> link_ids_;  // reactor thread only: Link::id -> links_ key
  int epoll_fd_ = -1;                       // the sockets' ZMQ_FDs, the mailbox eventfd, watch_fd's fd
  std::function<void()> on_fd_readable_;     // watch_fd's callback
  int watched_fd_ = -1;                      // watch_fd's fd
  bool draining_ = false;                    // finish_in_flight runs: hop errors are answered on the reactor
  std::set<uint64_t> ready_;                // reactor thread only: tags to read in the next pass
  std::string endpoint_;

  Mailbox mailbox_;
  WorkQueue work_;
  std::vector<std::thread> workers_;
  std::unique_ptr<SyncThread> sync_;
  std::thread zap_thread_;
  std::atomic<bool> zap_stop_{false};
  // Flood limits. queued_*: onion requests between the reactor and their
  // answer (or forward); an Admission releases its share when destroyed.
  LayerReplayCache layer_replays_;
  RateLimiter connection_limits_;              // reactor thread only (it is thread-safe anyway)
  std::atomic<size_t> queued_requests_{0};
  std::atomic<size_t> queued_bytes_{0};
  std::atomic<bool> sweeping_{false};
};

}  // namespace onionswarm::node
