#include "node/gossip.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "node/log.h"
#include "node/thread_name.h"
#include "onion/encoding.h"
#include "onion/wire.h"
#include "swarm/json.h"

namespace onionswarm::node {

using nlohmann::json;
using swarm::SignedDescriptor;

namespace {

constexpr size_t kMaxProbesPerBatch = 16;
constexpr size_t kMaxRefusedListed = 16;

std::string short_key(const crypto::X25519PublicKey& k) { return to_hex(k.view()).substr(0, 12); }

std::unique_ptr<zmq::socket_t> dealer_to(zmq::context_t& ctx, const NodeKeys& keys, const swarm::NodeDescriptor& peer) {
  auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
  s->set(zmq::sockopt::linger, 0);
  s->set(zmq::sockopt::maxmsgsize, wire::kMaxFrameSize);
  s->set(zmq::sockopt::curve_serverkey, zmq::const_buffer(peer.x25519.data(), 32));
  s->set(zmq::sockopt::curve_publickey, zmq::const_buffer(keys.x25519.public_key().data(), 32));
  s->set(zmq::sockopt::curve_secretkey, zmq::const_buffer(keys.x25519.secret().data(), 32));
  s->connect(peer.address);
  return s;
}

bool send_request(zmq::socket_t& s, uint64_t id, const std::string& body) {
  const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kGossip, id});
  std::array<zmq::const_buffer, 2> frames = {zmq::buffer(header), zmq::buffer(body)};
  return zmq::send_multipart(s, frames, zmq::send_flags::dontwait).has_value();
}

// One answer to request id on s, if it is there now: its header and body.
std::optional<std::pair<wire::Header, std::string>> take_answer(zmq::socket_t& s, uint64_t id) {
  for (int strays = 0; strays < 16; ++strays) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(s, std::back_inserter(frames), zmq::recv_flags::dontwait)) return std::nullopt;
    if (frames.size() != 2) continue;
    auto h = wire::decode_header({static_cast<const uint8_t*>(frames[0].data()), frames[0].size()});
    if (!h.ok() || h->request_id != id) continue;
    return std::make_pair(*h, frames[1].to_string());
  }
  return std::nullopt;
}

}  // namespace

// ---- GossipDirectory -------------------------------------------------------------

GossipDirectory::GossipDirectory(std::vector<swarm::NodeDescriptor> seeds, size_t max_nodes)
    : max_nodes_(max_nodes), seeds_(std::move(seeds)) {
  std::lock_guard lock(mu_);
  rebuild_locked();
}

std::shared_ptr<const std::vector<swarm::NodeDescriptor>> GossipDirectory::snapshot() const {
  std::lock_guard lock(mu_);
  return view_;
}

void GossipDirectory::rebuild_locked() {
  std::map<crypto::X25519PublicKey, swarm::NodeDescriptor> by_key;
  for (const auto& s : seeds_)
    if (!governed_.count(s.x25519)) by_key[s.x25519] = s;
  for (const auto& [k, d] : entries_) by_key[k] = d.node;
  if (self_) by_key[self_->node.x25519] = self_->node;
  std::vector<swarm::NodeDescriptor> nodes;
  nodes.reserve(by_key.size());
  for (auto& [k, n] : by_key) nodes.push_back(std::move(n));
  // A new pointer only when the set changed: users cache per snapshot.
  if (view_ && *view_ == nodes) return;
  view_ = std::make_shared<const std::vector<swarm::NodeDescriptor>>(std::move(nodes));
}

void GossipDirectory::set_self(const SignedDescriptor& self) {
  std::lock_guard lock(mu_);
  self_ = self;
  rebuild_locked();
}

std::optional<SignedDescriptor> GossipDirectory::self() const {
  std::lock_guard lock(mu_);
  return self_;
}

void GossipDirectory::replace_seeds(std::vector<swarm::NodeDescriptor> seeds) {
  std::lock_guard lock(mu_);
  seeds_ = std::move(seeds);
  rebuild_locked();
}

Result<GossipDirectory::Decision> GossipDirectory::decide(const SignedDescriptor& d) const {
  std::lock_guard lock(mu_);
  if (self_ && d.node.x25519 == self_->node.x25519) return Decision::kIgnore;
  if (auto it = entries_.find(d.node.x25519); it != entries_.end()) {
    if (d.issued_at_ms <= it->second.issued_at_ms) return Decision::kIgnore;
    return d.node.address == it->second.node.address ? Decision::kAdmit : Decision::kProbe;
  }
  if (entries_.size() >= max_nodes_) return error(Code::kFull, "directory is full");
  for (const auto& s : seeds_)
    if (s == d.node) return Decision::kAdmit;  // the network file vouches for this address
  return Decision::kProbe;
}

bool GossipDirectory::admit(const SignedDescriptor& d) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(d.node.x25519);
  if (it != entries_.end()) {
    if (d.issued_at_ms <= it->second.issued_at_ms) return false;
    it->second = d;
  } else {
    if (entries_.size() >= max_nodes_) return false;
    entries_.emplace(d.node.x25519, d);
  }
  for (const auto& s : seeds_)
    if (s.x25519 == d.node.x25519) governed_.insert(s.x25519);
  rebuild_locked();
  return true;
}

size_t GossipDirectory::expire(uint64_t now_ms) {
  std::lock_guard lock(mu_);
  size_t n = std::erase_if(entries_, [&](const auto& e) { return e.second.expires_at_ms <= now_ms; });
  if (n) rebuild_locked();
  return n;
}

std::vector<SignedDescriptor> GossipDirectory::descriptors() const {
  std::lock_guard lock(mu_);
  std::vector<SignedDescriptor> out;
  out.reserve(entries_.size() + 1);
  if (self_) out.push_back(*self_);
  for (const auto& [k, d] : entries_) out.push_back(d);
  return out;
}

// ---- Gossip ----------------------------------------------------------------------

Gossip::Gossip(GossipOptions options, NodeKeys keys, std::shared_ptr<GossipDirectory> directory, Clock clock)
    : options_(std::move(options)),
      keys_(std::move(keys)),
      directory_(std::move(directory)),
      clock_(std::move(clock)),
      converted_keys_(2 * options_.max_nodes + 16) {}

Gossip::~Gossip() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

swarm::VerifyRules Gossip::rules(uint64_t now_ms) const {
  swarm::VerifyRules r;
  r.network_id = options_.network_id;
  r.now_ms = now_ms;
  r.max_lifetime_ms = options_.max_lifetime_ms;
  r.max_skew_ms = options_.max_skew_ms;
  r.operators = options_.operators;
  r.converted_keys = &converted_keys_;
  return r;
}

SignedDescriptor Gossip::make_self(uint64_t now_ms) const {
  SignedDescriptor d;
  d.network_id = options_.network_id;
  d.node.ed25519 = keys_.ed25519.public_key();
  d.node.x25519 = keys_.x25519.public_key();
  d.node.address = advertised_;
  d.version = ONIONSWARM_VERSION;
  d.issued_at_ms = now_ms;
  d.expires_at_ms = now_ms + options_.descriptor_lifetime_ms;
  if (options_.endorsement) {
    d.endorsement = options_.endorsement;
    // Never claim longer than the operator allows.
    d.expires_at_ms = std::min(d.expires_at_ms, std::max(options_.endorsement->valid_until_ms, now_ms + 1));
  }
  swarm::sign_descriptor(d, keys_.ed25519);
  return d;
}

Status Gossip::start(const std::string& advertised_address) {
  if (!swarm::is_valid_tcp_endpoint(advertised_address))
    return error(Code::kInvalidArgument, "advertised address " + advertised_address + " is not tcp://HOST:PORT");
  advertised_ = advertised_address;
  const uint64_t now = clock_();
  SignedDescriptor self = make_self(now);
  if (Status st = swarm::verify_descriptor(self, rules(now)); !st.ok())
    return error(st.code(), "our own descriptor would be refused: " + st.message());
  directory_->set_self(self);
  thread_ = std::thread([this] {
    name_this_thread("gossip");
    loop();
  });
  return {};
}

GossipCounters Gossip::counters() const {
  GossipCounters c;
  c.admitted = admitted_.load(std::memory_order_relaxed);
  c.refused_invalid = refused_invalid_.load(std::memory_order_relaxed);
  c.refused_unreachable = refused_unreachable_.load(std::memory_order_relaxed);
  c.expired = expired_.load(std::memory_order_relaxed);
  return c;
}

Status Gossip::offer(const SignedDescriptor& d) {
  // Most of what a push carries is held already, ours included: the
  // directory's decision needs no signature, so take it first.
  if (auto early = directory_->decide(d); early.ok() && *early == GossipDirectory::Decision::kIgnore) return {};
  const uint64_t now = clock_();
  if (Status st = swarm::verify_descriptor(d, rules(now)); !st.ok()) {
    refused_invalid_.fetch_add(1, std::memory_order_relaxed);
    log_info("gossip", "refused descriptor of node " + short_key(d.node.x25519) + ": " + st.message());
    return st;
  }
  auto decision = directory_->decide(d);
  if (!decision.ok()) return decision.status();
  switch (*decision) {
    case GossipDirectory::Decision::kIgnore:
      return {};
    case GossipDirectory::Decision::kAdmit:
      if (directory_->admit(d)) admitted_.fetch_add(1, std::memory_order_relaxed);
      return {};
    case GossipDirectory::Decision::kProbe: {
      std::lock_guard lock(pending_mu_);
      auto it = pending_.find(d.node.x25519);
      if (it != pending_.end()) {
        if (d.issued_at_ms > it->second.issued_at_ms) it->second = d;
        return {};
      }
      if (pending_.size() >= options_.max_pending_probes)
        return error(Code::kBusy, "too many descriptors waiting for their address check");
      pending_.emplace(d.node.x25519, d);
      cv_.notify_all();  // probe soon rather than at the next round
      return {};
    }
  }
  return {};
}

Result<std::string> Gossip::answer(const crypto::X25519PublicKey& link_key, ByteView body) {
  auto req = swarm::parse_json(as_chars(body), 6, kMaxGossipBodyBytes);
  if (!req.ok()) return req.status();
  if (!req->is_object() || !req->contains("op") || !(*req)["op"].is_string())
    return error(Code::kInvalidArgument, "gossip request needs an op");
  const std::string& op = (*req)["op"].get_ref<const std::string&>();
  if (op == "probe") return std::string(R"({"ok":true})");
  if (op == "list") return list_answer(*req);
  if (op != "push") return error(Code::kInvalidArgument, "unknown gossip op");
  for (const auto& [key, value] : req->items())
    if (key != "op" && key != "self" && key != "descriptors")
      return error(Code::kInvalidArgument, "unknown key in a gossip push");
  if (!req->contains("self")) return error(Code::kInvalidArgument, "a gossip push needs the sender's descriptor");
  const json& list = req->contains("descriptors") ? (*req)["descriptors"] : json::array();
  if (!list.is_array() || list.size() > kMaxGossipDescriptors)
    return error(Code::kInvalidArgument,
                 "descriptors must be an array of at most " + std::to_string(kMaxGossipDescriptors));

  auto self = swarm::parse_descriptor((*req)["self"]);
  if (!self.ok()) return self.status();
  // The link's CURVE key (from the ZAP handshake) must be the sender's own.
  if (self->node.x25519 != link_key)
    return error(Code::kUnauthorized, "the sender's descriptor does not match its link key");
  const bool known = directory_->find(link_key).has_value();
  if (!known) {
    std::lock_guard lock(pending_mu_);
    const uint64_t now = clock_();
    if (now >= window_start_ms_ + 60'000) {
      window_start_ms_ = now;
      unknown_in_window_ = 0;
    }
    if (unknown_in_window_ >= options_.unknown_announces_per_minute)
      return error(Code::kBusy, "too many announcements from unknown nodes; retry later");
    ++unknown_in_window_;
  }

  json refused = json::array();
  auto note = [&](const crypto::X25519PublicKey& k, const Status& st) {
    if (!st.ok() && refused.size() < kMaxRefusedListed)
      refused.push_back({{"x25519", to_hex(k.view())}, {"code", code_name(st.code())}, {"reason", st.message()}});
  };
  note(self->node.x25519, offer(*self));
  // A node not in the view may only announce itself.
  if (known) {
    for (const auto& item : list) {
      auto d = swarm::parse_descriptor(item);
      if (!d.ok()) return d.status();
      note(d->node.x25519, offer(*d));
    }
  }
  json out = push_body();
  out.erase("op");
  out.erase("self");
  out["refused"] = std::move(refused);
  return out.dump();
}

Result<std::string> Gossip::list_answer(const json& req) const {
  std::optional<crypto::X25519PublicKey> after;
  for (const auto& [key, value] : req.items())
    if (key != "op" && key != "after") return error(Code::kInvalidArgument, "unknown key in a gossip list");
  if (req.contains("after")) {
    const json& a = req["after"];
    if (!a.is_string()) return error(Code::kInvalidArgument, "after must be 64 hex characters");
    auto b = from_hex(a.get_ref<const std::string&>(), crypto::kKeySize);
    if (!b.ok() || b->size() != crypto::kKeySize) return error(Code::kInvalidArgument, "after must be 64 hex characters");
    after = *crypto::X25519PublicKey::from(*b);
  }
  auto all = directory_->descriptors();
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.node.x25519 < y.node.x25519; });
  json list = json::array();
  bool more = false;
  for (const auto& d : all) {
    if (after && !(*after < d.node.x25519)) continue;
    if (list.size() == kMaxGossipDescriptors) {
      more = true;
      break;
    }
    list.push_back(swarm::descriptor_to_json(d));
  }
  return json{{"descriptors", std::move(list)}, {"more", more}}.dump();
}

json Gossip::push_body() const {
  auto all = directory_->descriptors();
  auto self = directory_->self();
  if (all.size() > kMaxGossipDescriptors) {
    // A random subset: over rounds every descriptor travels.
    std::mt19937_64 rng(std::random_device{}());
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(kMaxGossipDescriptors);
  }
  json list = json::array();
  for (const auto& d : all) list.push_back(swarm::descriptor_to_json(d));
  json out{{"op", "push"}, {"descriptors", std::move(list)}};
  if (self) out["self"] = swarm::descriptor_to_json(*self);
  return out;
}

void Gossip::loop() {
  for (;;) {
    round();
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms), [&] { return stop_; })) return;
  }
}

void Gossip::round() {
  const uint64_t now = clock_();
  if (size_t n = directory_->expire(now)) {
    expired_.fetch_add(n, std::memory_order_relaxed);
    log_info("gossip", std::to_string(n) + " node descriptor" + (n == 1 ? "" : "s") + " expired");
  }
  // Refresh our own descriptor once half its lifetime has passed.
  if (auto self = directory_->self(); self && now >= self->issued_at_ms + (self->expires_at_ms - self->issued_at_ms) / 2)
    directory_->set_self(make_self(now));
  run_probes();

  auto view = directory_->snapshot();
  std::vector<swarm::NodeDescriptor> peers;
  for (const auto& n : *view)
    if (n.x25519 != keys_.x25519.public_key()) peers.push_back(n);
  std::mt19937_64 rng(std::random_device{}());
  std::shuffle(peers.begin(), peers.end(), rng);
  if (peers.size() > options_.fanout) peers.resize(options_.fanout);
  for (const auto& p : peers) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    push_to(p);
  }
  run_probes();  // what the answers brought
}

void Gossip::push_to(const swarm::NodeDescriptor& peer) {
  try {
    zmq::context_t ctx;
    auto s = dealer_to(ctx, keys_, peer);
    const uint64_t id = 1;
    if (!send_request(*s, id, push_body().dump())) return;
    zmq::pollitem_t item{s->handle(), 0, ZMQ_POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
    for (int i = 0; i < 16; ++i) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN)) break;
      auto answer = take_answer(*s, id);
      if (!answer) continue;
      if (answer->first.type != wire::Type::kGossipResponse) {
        log_debug("gossip", "peer " + short_key(peer.x25519) + " refused our push: " + answer->second.substr(0, 200));
        return;
      }
      auto j = swarm::parse_json(answer->second, 6, kMaxGossipBodyBytes);
      if (!j.ok() || !j->is_object() || !j->contains("descriptors") || !(*j)["descriptors"].is_array()) return;
      const json& list = (*j)["descriptors"];
      for (size_t k = 0; k < list.size() && k < kMaxGossipDescriptors; ++k) {
        auto d = swarm::parse_descriptor(list[k]);
        if (d.ok()) (void)offer(*d);
      }
      return;
    }
    log_debug("gossip", "peer " + short_key(peer.x25519) + " did not answer a push");
  } catch (const zmq::error_t& e) {
    log_warn("gossip", std::string("push failed: ") + e.what());
  }
}

void Gossip::run_probes() {
  std::vector<SignedDescriptor> batch;
  {
    std::lock_guard lock(pending_mu_);
    while (!pending_.empty() && batch.size() < kMaxProbesPerBatch) {
      batch.push_back(std::move(pending_.begin()->second));
      pending_.erase(pending_.begin());
    }
  }
  if (batch.empty()) return;
  // All probes of a batch in parallel; every outcome is applied only when
  // the batch is over, so results come in the order descriptors arrived.
  std::vector<bool> answered(batch.size(), false);
  try {
    zmq::context_t ctx;
    std::vector<std::unique_ptr<zmq::socket_t>> sockets;
    for (size_t i = 0; i < batch.size(); ++i) {
      sockets.push_back(dealer_to(ctx, keys_, batch[i].node));
      (void)send_request(*sockets.back(), i + 1, R"({"op":"probe"})");
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
    size_t left_to_answer = batch.size();
    for (int rounds = 0; rounds < 1000 && left_to_answer > 0; ++rounds) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      std::vector<zmq::pollitem_t> items;
      for (auto& s : sockets) items.push_back({s->handle(), 0, ZMQ_POLLIN, 0});
      zmq::poll(items.data(), items.size(), left);
      for (size_t i = 0; i < items.size(); ++i) {
        if (answered[i] || !(items[i].revents & ZMQ_POLLIN)) continue;
        // Any answer proves the address holds the descriptor's X25519 key:
        // the CURVE handshake with it as server key completed.
        if (take_answer(*sockets[i], i + 1)) {
          answered[i] = true;
          --left_to_answer;
        }
      }
    }
  } catch (const zmq::error_t& e) {
    log_warn("gossip", std::string("address check failed: ") + e.what());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& d = batch[i];
    if (!answered[i]) {
      refused_unreachable_.fetch_add(1, std::memory_order_relaxed);
      log_info("gossip", "refused descriptor of node " + short_key(d.node.x25519) + ": its address " + d.node.address +
                             " did not answer");
      continue;
    }
    if (d.expires_at_ms <= clock_()) continue;
    if (directory_->admit(d)) {
      admitted_.fetch_add(1, std::memory_order_relaxed);
      log_info("gossip", "node " + short_key(d.node.x25519) + " joined at " + d.node.address);
    }
  }
}

}  // namespace onionswarm::node
