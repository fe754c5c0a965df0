#include "node/sync.h"

#include <algorithm>
#include <future>
#include <set>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "node/log.h"
#include "node/rebalance.h"
#include "node/replica.h"
#include "node/thread_name.h"
#include "onion/encoding.h"
#include "onion/wire.h"
#include "swarm/json.h"
#include "swarm/swarms.h"

namespace onionswarm::node {

using nlohmann::json;

namespace {

Result<crypto::Hash> hash_from_json(const json& j) {
  if (!j.is_string()) return error(Code::kInvalidArgument, "hash must be a hex string");
  auto b = from_hex(j.get_ref<const std::string&>(), crypto::kHashSize);
  if (!b.ok() || b->size() != crypto::kHashSize) return error(Code::kInvalidArgument, "hash must be 64 hex characters");
  return *crypto::Hash::from(*b);
}

}  // namespace

Result<json> answer_sync_request(const Storage& storage, const json& req, uint64_t now_ms) {
  if (!req.is_object() || !req.contains("op") || !req["op"].is_string())
    return error(Code::kInvalidArgument, "sync request needs an op");
  const std::string op = req["op"].get<std::string>();
  if (op == "digest") {
    auto d = storage.digest();
    if (!d.ok()) return d.status();
    json buckets = json::array();
    for (const auto& b : *d) buckets.push_back(json::array({b.count, to_hex(b.xor_of_hashes.view())}));
    return json{{"buckets", buckets}};
  }
  if (op == "list") {
    if (!req.contains("bucket") || !req["bucket"].is_number_unsigned() || req["bucket"].get<uint64_t>() > 255)
      return error(Code::kInvalidArgument, "bucket must be 0..255");
    uint64_t limit = kMaxSyncListPage;
    if (req.contains("limit")) {
      if (!req["limit"].is_number_unsigned()) return error(Code::kInvalidArgument, "limit must be a positive integer");
      limit = std::clamp<uint64_t>(req["limit"].get<uint64_t>(), 1, kMaxSyncListPage);
    }
    std::optional<crypto::Hash> after;
    if (req.contains("after")) {
      auto h = hash_from_json(req["after"]);
      if (!h.ok()) return h.status();
      after = *h;
    }
    bool more = false;
    auto hashes = storage.bucket_hashes(uint8_t(req["bucket"].get<uint64_t>()), after ? &*after : nullptr,
                                        size_t(limit), &more);
    if (!hashes.ok()) return hashes.status();
    json out = json::array();
    for (const auto& h : *hashes) out.push_back(to_hex(h.view()));
    return json{{"hashes", out}, {"more", more}};
  }
  if (op == "fetch") {
    if (!req.contains("hashes") || !req["hashes"].is_array() || req["hashes"].size() > kMaxSyncFetch)
      return error(Code::kInvalidArgument, "hashes must be an array of at most " + std::to_string(kMaxSyncFetch));
    json messages = json::array();
    size_t budget = kMaxSyncAnswerBytes;
    for (const auto& hj : req["hashes"]) {
      auto h = hash_from_json(hj);
      if (!h.ok()) return h.status();
      auto m = storage.get(*h, now_ms);
      if (!m.ok()) return m.status();
      if (!*m) continue;  // gone (expired or deleted) since it was listed
      const size_t cost = (*m)->data.size() * 4 / 3 + 200;
      if (cost > budget) break;  // the requester asks again for the rest
      budget -= cost;
      messages.push_back(replica_to_json(**m));
    }
    return json{{"messages", messages}};
  }
  return error(Code::kInvalidArgument, "unknown sync op");
}

SyncThread::SyncThread(SyncOptions options, const NodeKeys& keys, std::shared_ptr<swarm::Directory> directory,
                       RequestHandler& handler, Storage& storage, NodeStats& stats, Clock clock)
    : options_(options),
      keys_(keys),
      directory_(std::move(directory)),
      handler_(handler),
      storage_(storage),
      stats_(stats),
      clock_(std::move(clock)) {}

SyncThread::~SyncThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SyncThread::start() {
  handler_.set_catching_up(true);
  thread_ = std::thread([this] {
    name_this_thread("sync");
    loop();
  });
}

void SyncThread::loop() {
  uint64_t wait = options_.first_round_delay_ms;
  std::shared_ptr<const std::vector<swarm::Swarm>> seen;  // the swarms of the last pass
  bool handoff_due = true;                                // on start: the view may have changed while down
  for (;;) {
    // Wait for the next round, but wake up early when the swarms change
    // (a new directory snapshot): hand over and catch up right away.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
    for (;;) {
      std::unique_lock lock(mu_);
      auto slice = std::min(std::chrono::steady_clock::duration(std::chrono::milliseconds(options_.view_check_ms)),
                            until - std::chrono::steady_clock::now());
      if (cv_.wait_for(lock, std::max(slice, std::chrono::steady_clock::duration::zero()), [&] { return stop_; }))
        return;
      lock.unlock();
      if (std::chrono::steady_clock::now() >= until) break;
      if (seen && handler_.swarms() != seen) break;
    }
    auto swarms = handler_.swarms();
    if (seen && swarms != seen) handoff_due = true;
    seen = swarms;
    // A node that joins a swarm (or whose swarm changes) may lack its new
    // peers' messages until a round brings them.
    auto mine = swarm::swarm_index_of_node(*swarms, keys_.x25519.public_key());
    std::vector<crypto::X25519PublicKey> members;
    if (mine)
      for (const auto& m : (*swarms)[*mine].members) members.push_back(m.x25519);
    std::sort(members.begin(), members.end());
    if (members != members_ && !handler_.catching_up()) {
      handler_.set_catching_up(true);
      log_info("sync", "this node's swarm changed: catching up with its peers");
    }
    members_ = std::move(members);
    HandoffOutcome h;
    if (handoff_due) {
      h = handoff(*swarms);
      handoff_due = !h.done;
    }
    const RoundOutcome r = round();
    if (r.caught_up && handler_.catching_up()) {
      handler_.set_catching_up(false);
      log_info("sync", "caught up with its swarm peers");
    }
    wait = next_round_wait_ms(options_, r.more || h.cut_short, handoff_due || handler_.catching_up());
  }
}

uint64_t next_round_wait_ms(const SyncOptions& options, bool cut_short, bool retry) {
  if (cut_short) return 0;
  return retry ? std::min(options.interval_ms, options.handoff_retry_ms) : options.interval_ms;
}

SyncThread::HandoffOutcome SyncThread::handoff(const std::vector<swarm::Swarm>& swarms) {
  HandoffOptions o;
  o.max_messages = options_.max_messages_per_round;
  o.batch = options_.fetch_batch;
  o.request_timeout_ms = options_.request_timeout_ms;
  auto r = hand_over(o, keys_, swarms, storage_, clock_(), [this] {
    std::lock_guard lock(mu_);
    return stop_;
  });
  if (!r.ok()) {
    log_warn("sync", "hand-over failed: " + r.status().to_string());
    return {};
  }
  NodeStats::inc(stats_.handed_over, r->moved);
  stats_.handoff_pending.store(r->pending, std::memory_order_relaxed);
  if (r->moved) log_info("sync", "handed over " + std::to_string(r->moved) + " messages to their new swarms");
  // Done when nothing is left; a full pass (max_messages) may leave more
  // behind, and each message it moved has left this node, so passes that
  // follow at once end when the backlog does.
  const bool full = r->moved >= o.max_messages;
  return {.done = r->pending == 0 && !full, .cut_short = full};
}

SyncThread::RoundOutcome SyncThread::round() {
  auto swarms = handler_.swarms();
  auto mine = swarm::swarm_index_of_node(*swarms, keys_.x25519.public_key());
  if (!mine) return {.caught_up = true};  // serves no account
  std::vector<swarm::NodeDescriptor> peers;
  for (const auto& m : (*swarms)[*mine].members)
    if (m.x25519 != keys_.x25519.public_key()) peers.push_back(m);
  if (peers.empty()) return {.caught_up = true};  // the only holder of its accounts
  // Every peer in turn, starting with a different one each round, until one
  // round brings nothing new: a node that was down learns from all of them.
  size_t total = 0, reachable = 0;
  for (size_t i = 0; i < peers.size(); ++i) {
    const auto& peer = peers[(next_peer_ + i) % peers.size()];
    size_t fetched = 0;
    Status st = sync_with(peer, &fetched);
    total += fetched;
    if (st.ok()) ++reachable;
    if (!st.ok()) log_debug("sync", "catch-up with a peer failed: " + st.to_string());
    {
      std::lock_guard lock(mu_);
      if (stop_) return {};
    }
    if (total >= options_.max_messages_per_round) break;
  }
  ++next_peer_;
  // A round cut short by max_messages_per_round counts only the peers asked.
  stats_.peers_reachable.store(reachable, std::memory_order_relaxed);
  NodeStats::inc(stats_.sync_rounds);
  if (total) log_info("sync", "caught up " + std::to_string(total) + " messages from swarm peers");
  const bool more = total >= options_.max_messages_per_round;
  return {.more = more, .caught_up = !more && reachable > 0};
}

Status SyncThread::sync_with(const swarm::NodeDescriptor& peer, size_t* fetched) {
  *fetched = 0;
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, wire::kMaxFrameSize);
  s.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(peer.x25519.data(), 32));
  s.set(zmq::sockopt::curve_publickey, zmq::const_buffer(keys_.x25519.public_key().data(), 32));
  s.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(keys_.x25519.secret().data(), 32));
  s.connect(peer.address);
  uint64_t next_id = 1;

  auto call = [&](const json& req) -> Result<json> {
    const uint64_t id = next_id++;
    const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kSyncRequest, id});
    const std::string body = req.dump();
    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(header), zmq::buffer(body)};
    if (!zmq::send_multipart(s, frames, zmq::send_flags::dontwait)) return error(Code::kBusy, "cannot queue");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
    for (int strays = 0; strays < 16; ++strays) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN)) break;
      std::vector<zmq::message_t> answer;
      if (!zmq::recv_multipart(s, std::back_inserter(answer))) continue;
      if (answer.size() != 2) continue;
      auto h = wire::decode_header({static_cast<const uint8_t*>(answer[0].data()), answer[0].size()});
      if (!h.ok() || h->request_id != id) continue;
      auto j = swarm::parse_json(answer[1].to_string_view(), 8, wire::kMaxBodySize);
      if (!j.ok()) return j.status();
      if (h->type != wire::Type::kSyncResponse)
        return error(Code::kUnavailable, "peer refused: " + j->value("message", std::string("?")));
      return std::move(*j);
    }
    return error(Code::kTimeout, "peer did not answer");
  };

  auto theirs = call({{"op", "digest"}});
  if (!theirs.ok()) return theirs.status();
  auto ours = storage_.digest();
  if (!ours.ok()) return ours.status();
  const json& buckets = (*theirs)["buckets"];
  if (!buckets.is_array() || buckets.size() != Storage::kSyncBuckets) return error(Code::kInvalidArgument, "bad digest");

  std::vector<crypto::Hash> missing;
  auto fetch_missing = [&]() -> Status {
    if (missing.empty()) return {};
    json hashes = json::array();
    for (const auto& h : missing) hashes.push_back(to_hex(h.view()));
    missing.clear();
    auto got = call({{"op", "fetch"}, {"hashes", hashes}});
    if (!got.ok()) return got.status();
    if (!(*got)["messages"].is_array()) return error(Code::kInvalidArgument, "bad fetch answer");
    std::vector<std::future<Result<StoreResult>>> pending;
    for (const auto& mj : (*got)["messages"]) {
      auto m = replica_from_json(mj);
      if (!m.ok()) return m.status();
      auto promise = std::make_shared<std::promise<Result<StoreResult>>>();
      pending.push_back(promise->get_future());
      handler_.accept_replica(std::move(*m), [promise](Result<StoreResult> r) { promise->set_value(std::move(r)); });
    }
    for (auto& f : pending) {
      if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) return error(Code::kTimeout, "store");
      auto r = f.get();
      if (r.ok() && *r == StoreResult::kNew) {
        ++*fetched;
        NodeStats::inc(stats_.caught_up);
      }
    }
    return {};
  };

  for (size_t b = 0; b < Storage::kSyncBuckets && *fetched < options_.max_messages_per_round; ++b) {
    const json& theirs_b = buckets[b];
    if (!theirs_b.is_array() || theirs_b.size() != 2 || !theirs_b[0].is_number_unsigned() || !theirs_b[1].is_string())
      return error(Code::kInvalidArgument, "bad digest entry");
    const auto& mine = (*ours)[b];
    if (theirs_b[0].get<uint64_t>() == mine.count && theirs_b[1].get<std::string>() == to_hex(mine.xor_of_hashes.view()))
      continue;
    std::optional<crypto::Hash> after;
    for (int page = 0; page < 10'000; ++page) {  // bounded: pages of up to list_page hashes
      json req = {{"op", "list"}, {"bucket", b}, {"limit", options_.list_page}};
      if (after) req["after"] = to_hex(after->view());
      auto listed = call(req);
      if (!listed.ok()) return listed.status();
      if (!(*listed)["hashes"].is_array()) return error(Code::kInvalidArgument, "bad list answer");
      for (const auto& hj : (*listed)["hashes"]) {
        auto h = hash_from_json(hj);
        if (!h.ok()) return h.status();
        after = *h;
        auto have = storage_.get(*h, 0);
        if (!have.ok()) return have.status();
        if (!*have) missing.push_back(*h);
        if (missing.size() >= options_.fetch_batch)
          if (Status st = fetch_missing(); !st.ok()) return st;
      }
      if (!(*listed).value("more", false) || (*listed)["hashes"].empty()) break;
    }
    if (Status st = fetch_missing(); !st.ok()) return st;
  }
  return {};
}

}  // namespace onionswarm::node
