#include "node/server.h"

#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <utility>

#include <nlohmann/json.hpp>
#include <zmq_addon.hpp>

#include "node/log.h"
#include "node/replica.h"
#include "node/sync.h"
#include "node/thread_name.h"
#include "onion/encoding.h"
#include "onion/layer.h"
#include "swarm/group.h"
#include "swarm/json.h"
#include "swarm/rpc.h"

namespace onionswarm::node {

namespace rpc = swarm::rpc;
using nlohmann::json;

namespace {

constexpr size_t kMaxFrames = 4;           // more than this is malformed; extra frames are dropped
constexpr size_t kMaxDrainPerPoll = 1024;  // fairness between sockets
// A relay wraps an answer it passes back (one XChaCha20-Poly1305 pass, no
// public-key crypto) on the reactor when the answer is at most this large:
// about 1.2 us per KiB, so up to ~20 us, less than the two thread hand-offs
// (to a worker and back through the mailbox) that moving it off the reactor
// costs (bench/transport_tool). Larger answers still go to a worker.
constexpr size_t kInlineWrapMaxBytes = 16 * 1024;
// How long a stopping node waits, at most, for its last deferred replica
// batches to leave (send_deferred_at_stop).
constexpr int kStopLingerMs = 2000;
// How long a stopping node goes on, at most, finishing the requests it took
// before the stop (finish_in_flight): answers of next hops, commits, replica
// confirmations. Well within the 10 s that scripts/devnet gives a node
// before SIGKILL (the packaged systemd unit: TimeoutStopSec=60s).
constexpr uint64_t kStopDrainMs = 3000;

// Readiness tags (epoll_event::data) of the reactor's file descriptors.
constexpr uint64_t kRouterTag = 0;
constexpr uint64_t kMailboxTag = 1;
constexpr uint64_t kWatchedFdTag = 2;                                         // watch_fd's fd
constexpr uint64_t socket_tag(uint64_t link_id) { return 2 * link_id + 2; }  // link ids start at 1
constexpr uint64_t monitor_tag(uint64_t link_id) { return 2 * link_id + 3; }
constexpr uint64_t link_of_tag(uint64_t tag) { return (tag - 2) / 2; }

ByteView view(const zmq::message_t& m) { return {static_cast<const uint8_t*>(m.data()), m.size()}; }

// Reads one multipart message without blocking; at most kMaxFrames kept.
// Returns false when nothing was waiting.
bool recv_frames(zmq::socket_t& s, std::vector<zmq::message_t>& frames, size_t* total_frames) {
  frames.clear();
  *total_frames = 0;
  for (;;) {
    zmq::message_t m;
    auto r = s.recv(m, zmq::recv_flags::dontwait);
    if (!r) return *total_frames > 0;
    ++*total_frames;
    bool more = m.more();
    if (frames.size() < kMaxFrames) frames.push_back(std::move(m));
    if (!more) return true;
  }
}

void configure_common(zmq::socket_t& s) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, wire::kMaxFrameSize);
  s.set(zmq::sockopt::sndhwm, 10'000);
  s.set(zmq::sockopt::rcvhwm, 10'000);
}

// Connection events of a link that mean its peer cannot be reached now
// (zmq_socket_monitor); ZMQ_EVENT_HANDSHAKE_SUCCEEDED means it can again.
constexpr int kLinkDownEvents = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

// Per connection ZeroMQ queues at most this many inbound messages (each at
// most kMaxFrameSize) before it stops reading that peer's TCP socket, so one
// peer's backlog stays within kRouterRcvHwm * kMaxFrameSize of memory. The
// reactor drains every connection fairly, so a deeper queue would only hold
// more of a flooder's frames, not serve anyone faster.
constexpr int kRouterRcvHwm = 64;

std::string peer_key_hex(zmq::message_t& m) {
  try {
    const char* v = m.gets("User-Id");
    return v ? std::string(v) : std::string();
  } catch (const zmq::error_t&) {
    return {};
  }
}

}  // namespace

// ---- WorkQueue -----------------------------------------------------------------

void WorkQueue::push(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

bool WorkQueue::pop(std::function<void()>& job) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
  if (jobs_.empty()) return false;
  job = std::move(jobs_.front());
  jobs_.pop_front();
  return true;
}

void WorkQueue::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

// ---- Mailbox -------------------------------------------------------------------

Server::Mailbox::Mailbox() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
Server::Mailbox::~Mailbox() {
  if (fd_ >= 0) ::close(fd_);
}

void Server::Mailbox::post(Outgoing o) {
  {
    std::lock_guard lock(mu_);
    items_.push_back(std::move(o));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

bool Server::Mailbox::empty() {
  std::lock_guard lock(mu_);
  return items_.empty();
}

std::deque<Server::Outgoing> Server::Mailbox::drain() {
  uint64_t count;
  [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
  std::lock_guard lock(mu_);
  return std::exchange(items_, {});
}

// ---- Admission -----------------------------------------------------------------

// Holds one onion request's share of the queued counters until the last copy
// (in the job, then in the handler's completion) is gone.
struct Server::Admission {
  Admission(Server& s, size_t bytes) : server(s), bytes(bytes) {
    server.queued_requests_.fetch_add(1, std::memory_order_relaxed);
    server.queued_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
  ~Admission() {
    // release: whoever sees the count drop (finish_in_flight) also sees the
    // answer or forward this request posted to the mailbox before.
    server.queued_requests_.fetch_sub(1, std::memory_order_release);
    server.queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  Server& server;
  const size_t bytes;
};

// ---- Server --------------------------------------------------------------------

ServerOptions Server::with_stats(ServerOptions o, NodeStats* stats) {
  o.handler.stats = stats;
  return o;
}

Server::Server(ServerOptions options, NodeKeys keys, std::shared_ptr<swarm::Directory> directory,
               std::unique_ptr<Storage> storage, Clock clock)
    : options_(with_stats(std::move(options), &stats_)),
      keys_(std::move(keys)),
      directory_(std::move(directory)),
      clock_(std::move(clock)),
      storage_(std::move(storage)),
      // A layer is accepted until its timestamp is layer_max_skew_ms old:
      // remember its key exactly that long.
      layer_replays_(options_.replay_cache_entries, options_.layer_max_skew_ms),
      connection_limits_(options_.connection_rate_per_s, options_.connection_burst) {
  stats_.replay_cache_capacity.store(layer_replays_.capacity(), std::memory_order_relaxed);
  stats_.replay_horizon_ms.store(options_.layer_max_skew_ms, std::memory_order_relaxed);
  handler_ = std::make_unique<RequestHandler>(
      *storage_, *directory_, keys_.ed25519.public_key(), keys_.x25519.public_key(), options_.handler, clock_,
      [this](const StoredMessage& m, RequestHandler::Replicated replicated) {
        // Committer or worker thread: encode the new message here, the
        // reactor only concatenates records into batches.
        Outgoing o;
        o.kind = Outgoing::kReplicate;
        o.account = m.account;
        o.header = {wire::kVersion, wire::Type::kReplicateBatch, 0};
        o.body.reserve(kReplicaRecordHeader + m.data.size());
        append_replica_record(o.body, m);
        o.replicated = std::move(replicated);
        o.hashes = {m.hash};
        o.to_every_member = m.account.is_group() && m.ns == swarm::group::kControlNamespace;
        mailbox_.post(std::move(o));
      });
  handler_->set_on_delete([this](const swarm::rpc::DeleteRequest& d, Bytes request) {
    // Worker thread: the reactor drops the deleted messages from its
    // deferred pushes and, for a client's delete, pushes the signed request
    // to the other members, unacknowledged (a member that misses it keeps
    // the message until it expires; docs/PROTOCOL.md, "Replicated deletes").
    Outgoing o;
    o.kind = Outgoing::kReplicate;
    o.account = d.account;
    o.header = {wire::kVersion, wire::Type::kReplicateDelete, 0};
    o.body = std::move(request);
    o.hashes = d.hashes;
    mailbox_.post(std::move(o));
  });
}

Server::~Server() {
  // Order matters: no new work, workers finish their jobs, then storage
  // drains its queued commits (whose callbacks post into the mailbox, which
  // is still alive), then sockets close before the context.
  sync_.reset();  // uses handler and storage: stop it first
  work_.close();
  for (auto& t : workers_) t.join();
  storage_.reset();
  zap_stop_ = true;
  if (zap_thread_.joinable()) zap_thread_.join();
  links_.clear();
  router_.reset();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Status Server::start() {
  stats_.started_ms = clock_();
  try {
    std::promise<Status> zap_ready;
    auto ready = zap_ready.get_future();
    zap_thread_ = std::thread([this, &zap_ready] {
      name_this_thread("zap");
      zmq::socket_t rep(ctx_, zmq::socket_type::rep);
      try {
        rep.set(zmq::sockopt::linger, 0);
        rep.bind("inproc://zeromq.zap.01");
      } catch (const zmq::error_t& e) {
        zap_ready.set_value(error(Code::kInternal, std::string("ZAP handler: ") + e.what()));
        return;
      }
      zap_ready.set_value(Status());
      zap_loop_on(rep);
    });
    if (auto st = ready.get(); !st.ok()) return st;

    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0 || !epoll_add(mailbox_.fd(), kMailboxTag))
      return error(Code::kInternal, std::string("epoll: ") + std::strerror(errno));
    router_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::router);
    configure_common(*router_);
    router_->set(zmq::sockopt::rcvhwm, kRouterRcvHwm);
    router_->set(zmq::sockopt::curve_server, true);
    router_->set(zmq::sockopt::curve_secretkey, zmq::const_buffer(keys_.x25519.secret().data(), 32));
    router_->set(zmq::sockopt::zap_domain, "onionswarm");
    std::string listen = options_.listen;
    // Port 0 means "any free port" to us; ZeroMQ spells that '*'.
    if (listen.size() > 2 && listen.compare(listen.size() - 2, 2, ":0") == 0)
      listen.replace(listen.size() - 1, 1, "*");
    router_->bind(listen);
    endpoint_ = router_->get(zmq::sockopt::last_endpoint);
    watch(*router_, kRouterTag);
  } catch (const zmq::error_t& e) {
    return error(Code::kIo, "cannot listen on " + options_.listen + ": " + e.what());
  }
  unsigned n = options_.workers ? options_.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i)
    workers_.emplace_back([this, i] {
      name_this_thread("worker-" + std::to_string(i + 1));
      worker_loop();
    });
  sync_ = std::make_unique<SyncThread>(options_.sync, keys_, directory_, *handler_, *storage_, stats_, clock_);
  sync_->start();
  return {};
}

void Server::zap_loop_on(zmq::socket_t& rep) {
  // ZAP (ZeroMQ RFC 27). Every CURVE client is admitted (clients are
  // anonymous); the client's public key becomes the connection's User-Id,
  // which tells this node which node, if any, is at the other end.
  while (!zap_stop_) {
    zmq::pollitem_t item{rep.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      // Requests come from libzmq itself: version, request id, domain,
      // address, identity, mechanism, credentials...
      std::vector<zmq::message_t> f;
      if (!zmq::recv_multipart(rep, std::back_inserter(f))) continue;
      std::string user_id;
      bool ok = f.size() >= 7 && f[5].to_string_view() == "CURVE" && f[6].size() == crypto::kKeySize;
      if (ok) user_id = to_hex(view(f[6]));
      std::array<zmq::const_buffer, 6> reply = {
          zmq::str_buffer("1.0"),
          zmq::buffer(f.size() > 1 ? f[1].data() : nullptr, f.size() > 1 ? f[1].size() : 0),
          ok ? zmq::str_buffer("200") : zmq::str_buffer("400"),
          ok ? zmq::str_buffer("OK") : zmq::str_buffer("CURVE required"),
          zmq::buffer(user_id),
          zmq::const_buffer()};
      zmq::send_multipart(rep, reply);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      log_warn("zap", std::string("handler error: ") + e.what());
    }
  }
}

void Server::worker_loop() {
  std::function<void()> job;
  while (work_.pop(job)) {
    job();
    job = nullptr;
  }
}

bool Server::epoll_add(int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void Server::watch(zmq::socket_t& s, uint64_t tag) {
  if (!epoll_add(s.get(zmq::sockopt::fd), tag)) throw zmq::error_t();
  mark_ready(tag);  // whatever it holds already
}

void Server::unwatch(zmq::socket_t& s) {
  epoll_event ev{};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s.get(zmq::sockopt::fd), &ev);
}

Status Server::watch_fd(int fd, std::function<void()> on_readable) {
  if (on_fd_readable_) return error(Code::kInternal, "watch_fd: a fd is watched already");
  if (!epoll_add(fd, kWatchedFdTag))
    return error(Code::kInternal, std::string("epoll: ") + std::strerror(errno));
  watched_fd_ = fd;
  on_fd_readable_ = std::move(on_readable);
  return Status();
}

void Server::run(const std::atomic<int>& stops, const std::function<void()>& on_tick) {
  uint64_t last_tick = clock_(), last_sweep = clock_();
  std::array<epoll_event, 64> events;
  while (stops.load() == 0) {
    // Readiness, without zmq_poll (which asks every socket for ZMQ_EVENTS
    // twice per call, two system calls each): level-triggered epoll on each
    // socket's ZMQ_FD and on the mailbox's eventfd. A ZMQ_FD only says that
    // the socket has commands to process, and a send may process them
    // itself; so a socket is read until EAGAIN whenever its fd fires, after
    // anything was sent on it (mark_ready), when the last read stopped at
    // kMaxDrainPerPoll, and, as a safety net, on every tick (100 ms).
    int timeout_ms = ready_.empty() ? 100 : 0;
    if (timeout_ms > 0 && !deferred_.empty()) {  // a deferred push goes out when due, not a tick later
      const uint64_t now = clock_();
      for (const auto& [peer, d] : deferred_)
        timeout_ms = int(std::min<uint64_t>(uint64_t(timeout_ms), d.due_ms - std::min(d.due_ms, now)));
    }
    const int n = ::epoll_wait(epoll_fd_, events.data(), int(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      log_error("reactor", std::string("epoll_wait failed: ") + std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (int i = 0; i < n; ++i) mark_ready(events[size_t(i)].data.u64);
    const std::set<uint64_t> ready = std::exchange(ready_, {});
    if (ready.count(kRouterTag)) {
      size_t i = 0;
      for (; i < kMaxDrainPerPoll; ++i) {
        std::vector<zmq::message_t> frames;
        size_t total = 0;
        if (!recv_frames(*router_, frames, &total)) break;
        on_public_message(frames, total);
      }
      if (i == kMaxDrainPerPoll) mark_ready(kRouterTag);
    }
    serve_links_and_mailbox(ready);
    if (ready.count(kWatchedFdTag)) on_fd_readable_();
    const uint64_t now = clock_();
    expire_pending(now);
    flush_deferred(now);
    if (now - last_sweep >= options_.sweep_interval_ms && !sweeping_.exchange(true)) {
      last_sweep = now;
      work_.push([this] {
        auto n = storage_->sweep_expired(clock_());
        if (!n.ok()) log_warn("storage", "expiry sweep failed: " + n.status().to_string());
        else if (*n) log_debug("storage", "expired " + std::to_string(*n) + " messages");
        // Hand memory freed since the last sweep back to the kernel: after a
        // burst (many large frames queued, then freed on other threads) the
        // heap would otherwise stay at its peak for the life of the process.
        ::malloc_trim(0);
        sweeping_ = false;
      });
    }
    if (now - last_tick >= 100) {
      last_tick = now;
      stats_.replay_cache_keys.store(layer_replays_.size(), std::memory_order_relaxed);
      stats_.replay_cache_bytes.store(layer_replays_.memory_bytes(), std::memory_order_relaxed);
      stats_.replay_cache_evicted.store(layer_replays_.evicted(), std::memory_order_relaxed);
      stats_.replay_horizon_ms.store(layer_replays_.horizon_ms(clock_()), std::memory_order_relaxed);
      mark_ready(kRouterTag);
      for (const auto& [id, peer] : link_ids_) {
        mark_ready(socket_tag(id));
        mark_ready(monitor_tag(id));
      }
      if (on_tick) on_tick();
    }
  }
  finish_in_flight(stops);
  send_deferred_at_stop();
}

void Server::serve_links_and_mailbox(const std::set<uint64_t>& ready) {
  // Per link, its answers (socket tag) before its events (monitor tag):
  // an answer that arrived before the link went down is used.
  for (auto it = ready.lower_bound(socket_tag(1)); it != ready.end(); ++it) {
    auto id = link_ids_.find(link_of_tag(*it));
    if (id == link_ids_.end()) continue;  // a link replaced since
    const crypto::X25519PublicKey peer = id->second;
    Link& link = links_.at(peer);
    const bool more = *it % 2 == 0 ? on_link_message(peer, *link.socket) : on_link_events(peer, link);
    if (more) mark_ready(*it);
  }
  if (ready.count(kMailboxTag)) on_mailbox(mailbox_.drain());
}

bool Server::in_flight_done() {
  // The acquire pairs with ~Admission's release: a request that is no
  // longer counted has posted its answer or forward, so the mailbox shows it.
  return queued_requests_.load(std::memory_order_acquire) == 0 && mailbox_.empty() && pending_.empty() &&
         replications_.empty();
}

void Server::finish_in_flight(const std::atomic<int>& stops) {
  // Nothing new is read: the public socket leaves the epoll set (left in
  // it, it would stay readable and spin this loop). What the node took
  // before the stop is finished: queued peels and requests, commits, next
  // hops' answers and swarm members' confirmations are passed on, for at
  // most kStopDrainMs. After a second stop signal (the signal fd is still
  // watched; its callback reads it until it would block) nothing waits for
  // another node any more: what waits then, or is forwarded later, is
  // answered at once (answer_waiting_at_stop). The answers sent here may
  // still be queued when ~Server closes the socket: they get its linger.
  epoll_event ev{};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, router_->get(zmq::sockopt::fd), &ev);
  router_->set(zmq::sockopt::linger, kStopLingerMs);
  draining_ = true;
  const uint64_t start = clock_();
  auto open_requests = [this] { return queued_requests_.load(std::memory_order_relaxed) + pending_.size(); };
  const size_t requests = open_requests();
  if (requests) {
    log_info("node", "stopping: finishing " + std::to_string(requests) +
                         " request(s) taken before the stop (at most " + std::to_string(kStopDrainMs) + " ms)");
  }
  std::array<epoll_event, 64> events;
  bool done = in_flight_done();
  bool hurried = false;  // a second stop signal came
  while (!done && clock_() - start < kStopDrainMs) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), int(events.size()), 10);
    for (int i = 0; i < n; ++i) mark_ready(events[size_t(i)].data.u64);
    // The run loop's tick marks every link (a ZMQ_FD can miss a message);
    // here every pass does, the passes being at most 10 ms apart anyway.
    for (const auto& [id, peer] : link_ids_) {
      mark_ready(socket_tag(id));
      mark_ready(monitor_tag(id));
    }
    mark_ready(kMailboxTag);
    std::set<uint64_t> ready = std::exchange(ready_, {});
    serve_links_and_mailbox(ready);
    if (ready.count(kWatchedFdTag)) on_fd_readable_();
    if (stops.load() >= 2) {
      answer_waiting_at_stop(/*log=*/!hurried);
      hurried = true;
    }
    const uint64_t now = clock_();
    expire_pending(now);
    flush_deferred(now);
    done = in_flight_done();
  }
  if (!requests && done) return;
  if (done) {
    log_info("node", "stopping: finished the requests taken before the stop in " +
                         std::to_string(clock_() - start) + " ms");
  } else {
    log_warn("node", "stopping: " + std::to_string(open_requests()) + " request(s) taken before the stop still unanswered after " +
                         std::to_string(kStopDrainMs) + " ms; their clients will retry");
  }
}

void Server::answer_waiting_at_stop(bool log) {
  const size_t relayed = pending_.size(), replicated = replications_.size();
  for (auto& [id, p] : pending_)
    answer_hop_error(std::move(p), error(Code::kUnavailable, "this node is stopping; try another path"));
  pending_.clear();
  for (auto& [id, r] : replications_)
    finish_replication(r, error(Code::kUnavailable, "this node is stopping before a swarm member confirmed the "
                                                    "replica; not acknowledged"));
  replications_.clear();
  if (log)
    log_warn("node", "stopping at once (a second stop signal): " + std::to_string(relayed) +
                         " relayed request(s) and " + std::to_string(replicated) +
                         " store(s) waiting for another node answered unavailable");
}

void Server::reply_error(const std::string& to, uint64_t request_id, const Status& st) {
  NodeStats::inc(stats_.link_errors);
  Outgoing o;
  o.to = to;
  o.header = {wire::kVersion, wire::Type::kError, request_id};
  o.body = rpc::error_response(st);
  on_outgoing(std::move(o));
}

void Server::on_public_message(std::vector<zmq::message_t>& frames, size_t total) {
  const std::string from = frames[0].to_string();
  if (total != 3) {
    return reply_error(from, 0, error(Code::kInvalidArgument,
                                      "expected 2 frames (header, body), got " + std::to_string(total - 1)));
  }
  auto header = wire::decode_header(view(frames[1]));
  if (!header.ok()) return reply_error(from, 0, header.status());
  const uint64_t id = header->request_id;
  switch (header->type) {
    case wire::Type::kOnionRequest: {
      if (refuse_busy(from, id, frames[1], frames[2].size())) return;
      auto admission = std::make_shared<Admission>(*this, frames[2].size());
      Bytes blob(static_cast<const uint8_t*>(frames[2].data()),
                 static_cast<const uint8_t*>(frames[2].data()) + frames[2].size());
      work_.push([this, from, id, blob = std::move(blob), admission = std::move(admission)]() mutable {
        job_onion(from, id, std::move(blob), std::move(admission));
      });
      return;
    }
    case wire::Type::kReplicate:
    case wire::Type::kReplicateBatch:
    case wire::Type::kReplicateDelete: {
      // Only a node of this node's directory may push replicas or deletes;
      // the link's CURVE key (checked by the ZAP handshake) says which node.
      auto key = from_hex(peer_key_hex(frames[1]), crypto::kKeySize);
      std::optional<swarm::NodeDescriptor> peer;
      if (key.ok() && key->size() == crypto::kKeySize) peer = directory_->find(*crypto::X25519PublicKey::from(*key));
      if (!peer) return reply_error(from, id, error(Code::kUnauthorized, "replication only from known nodes"));
      Bytes body(static_cast<const uint8_t*>(frames[2].data()),
                 static_cast<const uint8_t*>(frames[2].data()) + frames[2].size());
      if (header->type == wire::Type::kReplicateDelete) {
        work_.push([this, from, id, body = std::move(body)] {
          handler_->accept_peer_delete(body, [this, from, id](Bytes answer) {
            Outgoing o;
            o.to = from;
            o.header = {wire::kVersion, wire::Type::kReplicateAck, id};
            o.body = std::move(answer);
            mailbox_.post(std::move(o));
          });
        });
        return;
      }
      if (header->type == wire::Type::kReplicateBatch) {
        work_.push([this, from, id, body = std::move(body)]() mutable { job_replica_batch(from, id, std::move(body)); });
        return;
      }
      work_.push([this, from, id, body = std::move(body)]() mutable { job_replica(from, id, std::move(body)); });
      return;
    }
    case wire::Type::kSyncRequest: {
      // Catch-up requests only from members of this node's own swarm.
      auto key = from_hex(peer_key_hex(frames[1]), crypto::kKeySize);
      auto swarms = handler_->swarms();
      auto mine = swarm::swarm_index_of_node(*swarms, keys_.x25519.public_key());
      std::optional<size_t> theirs;
      if (key.ok() && key->size() == crypto::kKeySize)
        theirs = swarm::swarm_index_of_node(*swarms, *crypto::X25519PublicKey::from(*key));
      if (!mine || theirs != mine)
        return reply_error(from, id, error(Code::kUnauthorized, "catch-up only between members of one swarm"));
      Bytes body(static_cast<const uint8_t*>(frames[2].data()),
                 static_cast<const uint8_t*>(frames[2].data()) + frames[2].size());
      work_.push([this, from, id, body = std::move(body)] {
        Outgoing o;
        o.to = from;
        auto req = swarm::parse_json(as_chars(body), 4, 64 * 1024);
        auto answer = req.ok() ? answer_sync_request(*storage_, *req, clock_()) : Result<json>(req.status());
        o.header = {wire::kVersion, answer.ok() ? wire::Type::kSyncResponse : wire::Type::kError, id};
        if (answer.ok()) {
          auto s = answer->dump();
          o.body.assign(s.begin(), s.end());
        } else {
          o.body = rpc::error_response(answer.status());
        }
        mailbox_.post(std::move(o));
      });
      return;
    }
    case wire::Type::kGossip: {
      auto key = from_hex(peer_key_hex(frames[1]), crypto::kKeySize);
      if (!options_.on_gossip || !key.ok() || key->size() != crypto::kKeySize)
        return reply_error(from, id, error(Code::kUnavailable, "this node does not gossip"));
      Bytes body(static_cast<const uint8_t*>(frames[2].data()),
                 static_cast<const uint8_t*>(frames[2].data()) + frames[2].size());
      work_.push([this, from, id, link = *crypto::X25519PublicKey::from(*key), body = std::move(body)] {
        auto answer = options_.on_gossip(link, body);
        Outgoing o;
        o.to = from;
        o.header = {wire::kVersion, answer.ok() ? wire::Type::kGossipResponse : wire::Type::kError, id};
        o.body = answer.ok() ? Bytes(answer->begin(), answer->end()) : rpc::error_response(answer.status());
        mailbox_.post(std::move(o));
      });
      return;
    }
    default:
      return reply_error(from, id, error(Code::kInvalidArgument, "unexpected frame type on the public socket"));
  }
}

bool Server::refuse_busy(const std::string& from, uint64_t request_id, zmq::message_t& header_frame,
                         size_t blob_size) {
  // The queue bound applies to everyone, node links included: it is what
  // keeps memory bounded (a ROUTER drops silently at its high-water mark, so
  // the node counts what it holds itself).
  const size_t queued = queued_requests_.load(std::memory_order_relaxed);
  if (queued >= options_.max_queued_requests ||
      queued_bytes_.load(std::memory_order_relaxed) + blob_size > options_.max_queued_bytes) {
    stats_.busy_refusal(BusyReason::kQueueFull);
    reply_error(from, request_id, error(Code::kBusy, "node is busy: too many requests in progress; back off"));
    return true;
  }
  // The per-connection rate applies to clients only: a node link carries
  // many clients' requests (and is bounded by the queue above). The node
  // check runs only for connections over their rate.
  if (connection_limits_.admit(from, clock_())) return false;
  auto key = from_hex(peer_key_hex(header_frame), crypto::kKeySize);
  if (key.ok() && key->size() == crypto::kKeySize && directory_->find(*crypto::X25519PublicKey::from(*key)))
    return false;
  stats_.busy_refusal(BusyReason::kConnectionRate);
  reply_error(from, request_id, error(Code::kBusy, "connection over its request rate; back off"));
  return true;
}

void Server::job_onion(std::string from, uint64_t request_id, Bytes blob, std::shared_ptr<Admission> admission) {
  auto peeled = onion::peel(keys_.x25519, blob);
  NodeStats::inc(peeled.ok() ? stats_.layers_peeled : stats_.layers_refused);
  if (!peeled.ok()) {
    log_debug("relay", "refused a layer: " + peeled.status().to_string());
    Outgoing o;
    o.to = std::move(from);
    o.header = {wire::kVersion, wire::Type::kError, request_id};
    o.body = rpc::error_response(peeled.status());
    return mailbox_.post(std::move(o));
  }
  auto key = std::make_shared<crypto::SecretBytes>(std::move(peeled->response_key));
  const uint64_t now = clock_();
  const uint64_t ts = peeled->timestamp_ms;
  if (ts + options_.layer_max_skew_ms < now || ts > now + options_.layer_max_ahead_ms) {
    NodeStats::inc(stats_.layers_stale);
    Outgoing o;
    o.to = std::move(from);
    o.header = {wire::kVersion, wire::Type::kOnionResponse, request_id};
    o.body = onion::wrap_response(*key, onion::ResponseKind::kHopError, rpc::stale_layer_response(now));
    return mailbox_.post(std::move(o));
  }
  // Replays: only a layer that opened (authenticated) and is in its time
  // window gets here, so forgeries and stale layers cannot fill the cache.
  // A full cache forgets its oldest keys and refuses layers stamped at or
  // before them as stale; the answer carries the clock like any stale.
  if (auto st = layer_replays_.check_and_insert(peeled->ephemeral.view(), ts, now); !st.ok()) {
    const bool stale = st.code() == Code::kStale;
    NodeStats::inc(stale ? stats_.layers_stale : stats_.layers_replayed);
    Outgoing o;
    o.to = std::move(from);
    o.header = {wire::kVersion, wire::Type::kOnionResponse, request_id};
    o.body = onion::wrap_response(*key, onion::ResponseKind::kHopError,
                                  stale ? rpc::stale_layer_response(now) : rpc::error_response(st));
    return mailbox_.post(std::move(o));
  }
  if (peeled->kind == onion::LayerKind::kRelay) {
    Outgoing o;
    o.kind = Outgoing::kForward;
    o.to = std::move(from);
    o.header = {wire::kVersion, wire::Type::kOnionRequest, request_id};
    o.body = std::move(peeled->payload);
    o.next_hop = peeled->next_hop;
    o.response_key = std::move(key);
    return mailbox_.post(std::move(o));
  }
  // The admission is held until the destination's answer is ready (a store
  // waits for its commit and replicas), so slow disks also count.
  handler_->handle(peeled->payload, [this, from = std::move(from), request_id, key,
                                     admission = std::move(admission)](Bytes answer) {
    Outgoing o;
    o.to = from;
    o.header = {wire::kVersion, wire::Type::kOnionResponse, request_id};
    o.body = onion::wrap_response(*key, onion::ResponseKind::kFinal, answer);
    mailbox_.post(std::move(o));
  });
}

void Server::accept_one_replica(StoredMessage m, std::function<void(ReplicaResult)> done) {
  // Swarm members push replicas of new stores; a node that left the
  // account's swarm hands its messages over (rebalancing, node/rebalance.h).
  // Either way the sender is a known node and this node serves the account.
  auto swarms = handler_->swarms();
  if (swarms->empty() || !handler_->serves(m.account)) {
    NodeStats::inc(stats_.replicas_refused);
    return done(ReplicaResult::kRefused);
  }
  handler_->accept_replica(std::move(m), [this, done = std::move(done)](Result<StoreResult> r) {
    // kFull: not held here, so it must not count as a confirmation.
    const bool held = r.ok() && *r != StoreResult::kFull;
    NodeStats::inc(held ? stats_.replicas_received : stats_.replicas_refused);
    if (!r.ok()) return done(r.status().code() == Code::kStorageFull ? ReplicaResult::kFull : ReplicaResult::kFailed);
    done(*r == StoreResult::kNew ? ReplicaResult::kNew : *r == StoreResult::kExists ? ReplicaResult::kExists : ReplicaResult::kFull);
  });
}

void Server::job_replica(std::string from, uint64_t request_id, Bytes body) {
  auto reply = [this, from, request_id](const Status& st, std::string_view result) {
    Outgoing o;
    o.to = from;
    o.header = {wire::kVersion, st.ok() ? wire::Type::kReplicateAck : wire::Type::kError, request_id};
    o.body = st.ok() ? Bytes(result.begin(), result.end()) : rpc::error_response(st);
    mailbox_.post(std::move(o));
  };
  auto j = swarm::parse_json(as_chars(body), 4, wire::kMaxBodySize);
  if (!j.ok()) return reply(j.status(), "");
  auto parsed = replica_from_json(*j);
  if (!parsed.ok()) return reply(parsed.status(), "");
  accept_one_replica(std::move(*parsed), [reply](ReplicaResult r) {
    switch (r) {
      case ReplicaResult::kNew: return reply(Status(), R"({"status":"ok","result":"new"})");
      case ReplicaResult::kExists: return reply(Status(), R"({"status":"ok","result":"exists"})");
      case ReplicaResult::kRefused:
        return reply(error(Code::kUnauthorized, "replica from a node outside the account's swarm"), "");
      case ReplicaResult::kFull:
        return reply(error(Code::kFull, "replica refused: the account's quota or this member's storage is full"), "");
      case ReplicaResult::kFailed: return reply(error(Code::kIo, "replica not stored: storage error"), "");
    }
  });
}

void Server::job_replica_batch(std::string from, uint64_t request_id, Bytes body) {
  auto batch = parse_replica_batch(body);
  if (!batch.ok()) {
    NodeStats::inc(stats_.replicas_refused);
    Outgoing o;
    o.to = std::move(from);
    o.header = {wire::kVersion, wire::Type::kError, request_id};
    o.body = rpc::error_response(batch.status());
    return mailbox_.post(std::move(o));
  }
  // One answer for the whole batch, once every replica has its result. The
  // results are written by whichever thread completes each store; the last
  // one to count down (acq_rel) sees them all.
  struct Answer {
    std::atomic<size_t> left;
    Bytes results;
  };
  auto answer = std::make_shared<Answer>();
  answer->left = batch->size();
  answer->results.assign(batch->size(), uint8_t(ReplicaResult::kFailed));
  for (size_t i = 0; i < batch->size(); ++i) {
    accept_one_replica(std::move((*batch)[i]), [this, from, request_id, answer, i](ReplicaResult r) {
      answer->results[i] = uint8_t(r);
      if (answer->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      Outgoing o;
      o.to = from;
      o.header = {wire::kVersion, wire::Type::kReplicateBatchAck, request_id};
      o.body = std::move(answer->results);
      mailbox_.post(std::move(o));
    });
  }
}

Server::Link& Server::link_to(const swarm::NodeDescriptor& node) {
  auto it = links_.find(node.x25519);
  if (it != links_.end() && it->second.address == node.address) return it->second;
  if (it != links_.end()) {  // the node moved: its old link goes
    unwatch(*it->second.socket);
    unwatch(*it->second.monitor);
    link_ids_.erase(it->second.id);
  }
  const uint64_t id = next_link_id_++;
  auto s = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  configure_common(*s);
  s->set(zmq::sockopt::heartbeat_ivl, wire::kHeartbeatIntervalMs);
  s->set(zmq::sockopt::heartbeat_timeout, wire::kHeartbeatTimeoutMs);
  s->set(zmq::sockopt::curve_serverkey, zmq::const_buffer(node.x25519.data(), 32));
  s->set(zmq::sockopt::curve_publickey, zmq::const_buffer(keys_.x25519.public_key().data(), 32));
  s->set(zmq::sockopt::curve_secretkey, zmq::const_buffer(keys_.x25519.secret().data(), 32));
  // The monitor is attached before connecting, so no event is missed.
  const std::string events = "inproc://onionswarm-link-events-" + std::to_string(id);
  if (zmq_socket_monitor(s->handle(), events.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED | kLinkDownEvents) != 0)
    throw zmq::error_t();
  auto monitor = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
  monitor->set(zmq::sockopt::linger, 0);
  monitor->connect(events);
  s->connect(node.address);
  Link& link = links_[node.x25519];
  link = Link{node.address, std::move(s), std::move(monitor), false, id};
  link_ids_[id] = node.x25519;
  watch(*link.socket, socket_tag(id));
  watch(*link.monitor, monitor_tag(id));
  return link;
}

bool Server::on_link_events(const crypto::X25519PublicKey& peer, Link& link) {
  bool went_down = false;
  size_t i = 0;
  for (; i < kMaxDrainPerPoll; ++i) {
    std::vector<zmq::message_t> frames;
    size_t total = 0;
    if (!recv_frames(*link.monitor, frames, &total)) break;
    // Frame 1: uint16 event, uint32 value (host order); frame 2: the endpoint.
    if (frames.empty() || frames[0].size() < sizeof(uint16_t)) continue;
    uint16_t event = 0;
    std::memcpy(&event, frames[0].data(), sizeof event);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      if (link.down) log_debug("relay", "link to " + link.address + " is up again");
      link.down = false;
    } else if (event & kLinkDownEvents) {
      went_down = went_down || !link.down;
      link.down = true;
    }
  }
  const bool more = i == kMaxDrainPerPoll;
  if (!went_down || !link.down) return more;
  log_debug("relay", "link to " + link.address + " is down");
  // Whatever was forwarded on it waits for nothing: its answer, if it ever
  // comes (after a reconnection), is dropped as late.
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.next_hop != peer) {
      ++it;
      continue;
    }
    answer_hop_error(std::move(it->second), error(Code::kUnavailable, "next hop is unreachable"));
    it = pending_.erase(it);
  }
  stats_.in_flight.store(pending_.size(), std::memory_order_relaxed);
  return more;
}

Server::Outgoing Server::hop_error_answer(const Pending& p, const Status& st) {
  Outgoing o;
  o.to = p.from;
  o.header = {wire::kVersion, wire::Type::kOnionResponse, p.from_request_id};
  o.body = onion::wrap_response(*p.response_key, onion::ResponseKind::kHopError, rpc::error_response(st));
  return o;
}

void Server::answer_hop_error(Pending p, const Status& st) {
  if (st.code() != Code::kTimeout) NodeStats::inc(stats_.relay_refused);
  // While the stop drains, on the reactor: a worker's answer could reach
  // the mailbox after the drain found nothing left and ended.
  if (draining_) return on_outgoing(hop_error_answer(p, st));
  work_.push([this, p = std::move(p), st] { mailbox_.post(hop_error_answer(p, st)); });
}

void Server::on_outgoing(Outgoing o) {
  try {
    switch (o.kind) {
      case Outgoing::kReply: {
        const Bytes header = wire::encode_header(o.header);
        std::array<zmq::const_buffer, 3> frames = {zmq::buffer(o.to), zmq::buffer(header), zmq::buffer(o.body)};
        // A vanished peer or a full queue drops the reply, as ROUTER does.
        zmq::send_multipart(*router_, frames, zmq::send_flags::dontwait);
        mark_ready(kRouterTag);
        return;
      }
      case Outgoing::kForward: {
        Pending p{o.to, o.header.request_id, o.response_key, clock_() + options_.relay_timeout_ms, o.next_hop};
        auto node = directory_->find(o.next_hop);
        if (!node) return answer_hop_error(std::move(p), error(Code::kUnavailable, "next hop is not in this node's directory"));
        if (pending_.size() >= options_.max_in_flight) {
          stats_.busy_refusal(BusyReason::kRelayInFlight);
          return answer_hop_error(std::move(p), error(Code::kBusy, "relay is at its in-flight limit"));
        }
        Link& link = link_to(*node);
        if (link.down) return answer_hop_error(std::move(p), error(Code::kUnavailable, "next hop is unreachable"));
        const uint64_t id = next_request_id_++;
        Bytes header = wire::encode_header({wire::kVersion, wire::Type::kOnionRequest, id});
        std::array<zmq::const_buffer, 2> frames = {zmq::buffer(header), zmq::buffer(o.body)};
        const bool sent = bool(zmq::send_multipart(*link.socket, frames, zmq::send_flags::dontwait));
        mark_ready(socket_tag(link.id));
        if (!sent) return answer_hop_error(std::move(p), error(Code::kBusy, "link to next hop is congested"));
        pending_.emplace(id, std::move(p));
        NodeStats::inc(stats_.relayed);
        stats_.in_flight.store(pending_.size(), std::memory_order_relaxed);
        return;
      }
      case Outgoing::kReplicate: {
        // A delete (new stores go through replicate_batch). Its messages
        // leave the deferred pushes first: a member must not get a store
        // after its delete. A peer's delete (no body) is not pushed on; a
        // client's is untracked: its answers find no entry in
        // replications_ and are dropped.
        forget_deferred(o.hashes);
        if (o.body.empty()) return;
        auto swarms = handler_->swarms();
        if (swarms->empty()) return;
        const Bytes header = wire::encode_header({wire::kVersion, o.header.type, next_request_id_++});
        push_to_members((*swarms)[swarm::swarm_index_for(*swarms, o.account)], header, o.body);
        return;
      }
    }
  } catch (const zmq::error_t& e) {
    log_warn("reactor", std::string("send failed: ") + e.what());
  }
}

std::pair<size_t, size_t> Server::push_to_members(const swarm::Swarm& swarm, ByteView header, ByteView body) {
  size_t peers = 0, sent = 0;
  for (const auto& m : swarm.members) {
    if (m.x25519 == keys_.x25519.public_key()) continue;
    ++peers;
    if (push_to(m, header, body)) ++sent;
  }
  return {peers, sent};
}

bool Server::push_to(const swarm::NodeDescriptor& member, ByteView header, ByteView body) {
  try {
    Link& link = link_to(member);
    // A member that cannot be reached now gets the message by catch-up
    // (8.3) once it is back; it would not confirm in time.
    if (link.down) return false;
    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(header.data(), header.size()),
                                               zmq::buffer(body.data(), body.size())};
    const bool sent = bool(zmq::send_multipart(*link.socket, frames, zmq::send_flags::dontwait));
    if (!sent) log_warn("replication", "link to a swarm peer is congested; push not sent");
    mark_ready(socket_tag(link.id));
    return sent;
  } catch (const zmq::error_t& e) {
    log_warn("replication", std::string("push to a swarm peer failed: ") + e.what());
    return false;
  }
}

void Server::defer_record(const swarm::NodeDescriptor& member, const crypto::Hash& hash, const Bytes& record) {
  DeferredPush& d = deferred_[member.x25519];
  if (!d.records.empty() && (d.records.size() == kMaxReplicaBatch || 2 + d.bytes + record.size() > wire::kMaxBodySize))
    send_deferred(d);
  if (d.records.empty()) d.due_ms = clock_() + options_.replica_defer_ms;
  d.member = member;  // its latest address
  d.records.emplace_back(hash, record);
  d.bytes += record.size();
  NodeStats::inc(stats_.replicas_deferred);
}

void Server::flush_deferred(uint64_t now) {
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (it->second.due_ms <= now) send_deferred(it->second);
    // Empty queues go: a member that left the swarm leaves nothing behind.
    it = it->second.records.empty() ? deferred_.erase(it) : std::next(it);
  }
}

bool Server::send_deferred(DeferredPush& d) {
  if (d.records.empty()) return false;
  Bytes body;
  body.reserve(2 + d.bytes);
  put_u16(body, uint16_t(d.records.size()));
  for (const auto& [hash, record] : d.records) append(body, record);
  // Fresh request ids, as for an eager batch; nothing waits for the answer,
  // so on_batch_answer finds no entry for it.
  const uint64_t first = next_request_id_;
  next_request_id_ += d.records.size();
  const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kReplicateBatch, first});
  // Not sent (link down or congested): the member gets them by catch-up.
  const bool sent = push_to(d.member, header, body);
  if (sent) {
    NodeStats::inc(stats_.replicas_sent, d.records.size());
    NodeStats::inc(stats_.replica_batches_sent);
  }
  d.records.clear();
  d.bytes = 0;
  return sent;
}

void Server::send_deferred_at_stop() {
  size_t records = 0, members = 0;
  for (auto& [peer, d] : deferred_) {
    const size_t n = d.records.size();
    if (!send_deferred(d)) continue;
    records += n;
    ++members;
    // Links close with linger 0; this one keeps its queued batch until it
    // is delivered or kStopLingerMs pass, while ~Server closes the rest.
    if (auto link = links_.find(peer); link != links_.end()) {
      try {
        link->second.socket->set(zmq::sockopt::linger, kStopLingerMs);
      } catch (const zmq::error_t&) {
      }
    }
  }
  deferred_.clear();
  if (records)
    log_info("replication", "stopping: sent " + std::to_string(records) + " deferred replicas to " +
                                std::to_string(members) + " swarm members");
}

void Server::forget_deferred(const std::vector<crypto::Hash>& hashes) {
  if (hashes.empty()) return;
  const std::set<crypto::Hash> gone(hashes.begin(), hashes.end());
  for (auto& entry : deferred_) {
    DeferredPush& d = entry.second;  // named: clang 14 lets no lambda capture a structured binding
    std::erase_if(d.records, [&](const auto& r) {
      if (!gone.count(r.first)) return false;
      d.bytes -= r.second.size();
      return true;
    });
  }
}

void Server::on_mailbox(std::deque<Outgoing> items) {
  // New stores' replicas: one frame (and one answer) per swarm member for
  // all that this drain holds, instead of one per replica.
  auto swarms = handler_->swarms();
  std::map<std::pair<size_t, bool>, std::vector<Outgoing>> batches;  // by swarm and to_every_member
  for (auto& o : items) {
    if (o.kind == Outgoing::kReplicate && o.replicated && !swarms->empty())
      batches[{swarm::swarm_index_for(*swarms, o.account), o.to_every_member}].push_back(std::move(o));
    else if (o.kind == Outgoing::kReplicate && o.replicated) {
      PendingReplication alone;  // no swarms known: nobody to wait for
      alone.replicated = std::move(o.replicated);
      alone.holders.push_back(keys_.x25519.public_key());
      finish_replication(alone, alone.holders);
    } else
      on_outgoing(std::move(o));
  }
  for (auto& [key, stores] : batches) replicate_batch((*swarms)[key.first], stores, key.second);
}

void Server::replicate_batch(const swarm::Swarm& swarm, std::vector<Outgoing>& stores, bool to_every_member) {
  for (size_t begin = 0; begin < stores.size();) {
    // As many records as fit in one frame.
    size_t end = begin, bytes = 2;
    while (end < stores.size() && end - begin < kMaxReplicaBatch &&
           (end == begin || bytes + stores[end].body.size() <= wire::kMaxBodySize))
      bytes += stores[end++].body.size();
    Bytes body;
    body.reserve(bytes);
    put_u16(body, uint16_t(end - begin));
    for (size_t i = begin; i < end; ++i) append(body, stores[i].body);
    // The replicas take consecutive request ids; the frame carries the first.
    const uint64_t first = next_request_id_;
    next_request_id_ += end - begin;
    const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kReplicateBatch, first});
    // Eager members: the first `eager` other members (all of them for
    // to_every_member), from a start that rotates batch by batch, whose link
    // takes the frame. The others get these records in their deferred push
    // (DeferredPush).
    std::vector<const swarm::NodeDescriptor*> others;
    for (const auto& m : swarm.members)
      if (m.x25519 != keys_.x25519.public_key()) others.push_back(&m);
    const size_t peers = others.size();
    const size_t eager = options_.replica_eager_members == 0 || to_every_member
                             ? peers
                             : std::max(options_.replica_eager_members, options_.min_replica_acks);
    size_t sent = 0;
    const size_t start = peers ? eager_rotation_++ % peers : 0;
    for (size_t j = 0; j < peers; ++j) {
      const swarm::NodeDescriptor& m = *others[(start + j) % peers];
      if (sent < eager && push_to(m, header, body)) {
        ++sent;
        continue;
      }
      for (size_t i = begin; i < end; ++i) defer_record(m, stores[i].hashes.front(), stores[i].body);
    }
    NodeStats::inc(stats_.replicas_sent, sent * (end - begin));
    NodeStats::inc(stats_.replica_batches_sent, sent);
    const uint64_t deadline = clock_() + options_.replication_timeout_ms;
    for (size_t i = begin; i < end; ++i) {
      PendingReplication r;
      r.replicated = std::move(stores[i].replicated);
      r.holders.push_back(keys_.x25519.public_key());
      r.deadline_ms = deadline;
      r.batch = first;
      r.outstanding = sent;
      r.needed = std::min(options_.min_replica_acks, peers);
      if (r.needed == 0) finish_replication(r, r.holders);
      else if (r.outstanding < r.needed)
        finish_replication(r, error(Code::kUnavailable, "too few swarm members reachable to replicate"));
      else replications_.emplace(first + (i - begin), std::move(r));
    }
    begin = end;
  }
}

void Server::finish_replication(PendingReplication& r, Result<std::vector<crypto::X25519PublicKey>> result) {
  if (!r.replicated) return;
  // The completion builds the client's store answer (a few hundred bytes of
  // JSON) and wraps it under the layer's response key: symmetric crypto on a
  // small answer, like the relayed answers on_link_message wraps here, so
  // it runs on the reactor rather than paying two hand-offs (to a worker and
  // back through the mailbox) on every store's critical path.
  auto cb = std::exchange(r.replicated, nullptr);
  cb(std::move(result));
}

void Server::on_replica_answer(const crypto::X25519PublicKey& peer, uint64_t id, bool acked) {
  auto it = replications_.find(id);
  if (it == replications_.end()) return;  // already answered, or timed out
  PendingReplication& r = it->second;
  if (r.outstanding) --r.outstanding;
  if (acked) {
    r.holders.push_back(peer);
    if (r.needed) --r.needed;
  }
  if (r.needed == 0) {
    finish_replication(r, r.holders);
  } else if (r.outstanding < r.needed) {
    finish_replication(r, error(Code::kUnavailable, "swarm members refused the replica; not acknowledged"));
  }
  if (!r.replicated) replications_.erase(it);
}

void Server::on_batch_answer(const crypto::X25519PublicKey& peer, uint64_t batch, ByteView results,
                             bool refused_all) {
  // The batch's replicas still waiting are the entries from `batch` on that
  // carry it; one result byte each, by position. Missing bytes refuse.
  for (auto it = replications_.lower_bound(batch); it != replications_.end() && it->second.batch == batch;) {
    const uint64_t id = it->first;
    const size_t i = id - batch;
    ++it;  // on_replica_answer may erase the entry
    on_replica_answer(peer, id, !refused_all && i < results.size() && replica_held(results[i]));
  }
}

bool Server::on_link_message(const crypto::X25519PublicKey& peer, zmq::socket_t& s) {
  for (size_t i = 0; i < kMaxDrainPerPoll; ++i) {
    std::vector<zmq::message_t> frames;
    size_t total = 0;
    if (!recv_frames(s, frames, &total)) return false;
    if (total != 2) continue;
    auto header = wire::decode_header(view(frames[0]));
    if (!header.ok()) continue;
    if (header->type == wire::Type::kReplicateBatchAck) {
      on_batch_answer(peer, header->request_id, view(frames[1]), false);
      continue;
    }
    auto it = pending_.find(header->request_id);
    if (it == pending_.end()) {
      // A refused batch, or a late answer after a timeout. (kReplicateAck
      // answers a delete, which nothing waits for.)
      if (header->type == wire::Type::kError) on_batch_answer(peer, header->request_id, {}, true);
      continue;
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    if (header->type == wire::Type::kOnionResponse && frames[1].size() <= kInlineWrapMaxBytes) {
      Outgoing o;
      o.to = std::move(p.from);
      o.header = {wire::kVersion, wire::Type::kOnionResponse, p.from_request_id};
      o.body = onion::wrap_response(*p.response_key, onion::ResponseKind::kForwarded, view(frames[1]));
      on_outgoing(std::move(o));
      continue;
    }
    if (header->type == wire::Type::kOnionResponse) {
      // A larger answer waits for a worker: it counts against the same
      // bytes bound as a request (max_in_flight alone would let a next hop
      // queue that many answers of up to 256 KiB each).
      const size_t size = frames[1].size();
      if (queued_bytes_.load(std::memory_order_relaxed) + size > options_.max_queued_bytes) {
        stats_.busy_refusal(BusyReason::kQueueFull);
        answer_hop_error(std::move(p), error(Code::kBusy, "node is busy: too many bytes in progress; back off"));
        continue;
      }
      auto admission = std::make_shared<Admission>(*this, size);
      Bytes body(static_cast<const uint8_t*>(frames[1].data()), static_cast<const uint8_t*>(frames[1].data()) + size);
      work_.push([this, p = std::move(p), body = std::move(body), admission = std::move(admission)] {
        Outgoing o;
        o.to = p.from;
        o.header = {wire::kVersion, wire::Type::kOnionResponse, p.from_request_id};
        o.body = onion::wrap_response(*p.response_key, onion::ResponseKind::kForwarded, body);
        mailbox_.post(std::move(o));
      });
    } else {
      // The next hop refused the layer at link level.
      Bytes body(static_cast<const uint8_t*>(frames[1].data()),
                 static_cast<const uint8_t*>(frames[1].data()) + frames[1].size());
      std::string why = "next hop refused the request";
      if (auto e = rpc::parse_response(body); e.ok() && std::holds_alternative<rpc::ErrorAnswer>(*e))
        why += ": " + std::get<rpc::ErrorAnswer>(*e).status.message();
      answer_hop_error(std::move(p), error(Code::kUnavailable, why));
    }
  }
  return true;  // stopped at kMaxDrainPerPoll
}

void Server::expire_pending(uint64_t now) {
  // Every request waits the same relay_timeout_ms and ids grow with time, so
  // the oldest deadlines are at the front.
  while (!pending_.empty() && pending_.begin()->second.deadline_ms <= now) {
    answer_hop_error(std::move(pending_.begin()->second), error(Code::kTimeout, "next hop did not answer in time"));
    pending_.erase(pending_.begin());
    NodeStats::inc(stats_.relay_timeouts);
  }
  stats_.in_flight.store(pending_.size(), std::memory_order_relaxed);
  stats_.queued_requests.store(queued_requests_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  while (!replications_.empty() && replications_.begin()->second.deadline_ms <= now) {
    finish_replication(replications_.begin()->second,
                       error(Code::kUnavailable, "no swarm member confirmed the replica in time; not acknowledged"));
    replications_.erase(replications_.begin());
  }
  stats_.replication_backlog.store(replications_.size(), std::memory_order_relaxed);
}

}  // namespace onionswarm::node
