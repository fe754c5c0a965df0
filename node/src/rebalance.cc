#include "node/rebalance.h"

#include <array>
#include <chrono>
#include <iterator>
#include <optional>
#include <set>
#include <tuple>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "node/log.h"
#include "node/replica.h"
#include "onion/wire.h"

namespace onionswarm::node {

Result<std::map<size_t, std::vector<StoredMessage>>> plan_handoff(const Storage& storage,
                                                                  const std::vector<swarm::Swarm>& swarms,
                                                                  const crypto::X25519PublicKey& self,
                                                                  size_t max_messages, uint64_t now_ms) {
  std::map<size_t, std::vector<StoredMessage>> plan;
  if (swarms.empty()) return plan;
  const auto mine = swarm::swarm_index_of_node(swarms, self);
  // By account, not by message: a node's swarm keeps most of its accounts
  // when the swarms change, and their messages are never read.
  size_t planned = 0;
  std::optional<swarm::AccountId> after;
  for (int page = 0; page < 100'000 && planned < max_messages; ++page) {  // bounded by the store's size
    bool more = false;
    auto accounts = storage.accounts(after ? &*after : nullptr, 1'000, &more);
    if (!accounts.ok()) return accounts.status();
    for (const auto& account : *accounts) {
      after = account;
      const size_t target = swarm::swarm_index_for(swarms, account);
      if (mine && *mine == target) continue;
      auto messages = storage.messages_of(account, max_messages - planned, now_ms);
      if (!messages.ok()) return messages.status();
      if (messages->empty()) continue;  // only expired ones, not swept yet
      planned += messages->size();
      auto& to = plan[target];
      std::move(messages->begin(), messages->end(), std::back_inserter(to));
      if (planned >= max_messages) break;
    }
    if (!more || accounts->empty()) break;
  }
  return plan;
}

namespace {

// Pushes messages to one member; sets confirmed[i] for each acknowledged one.
void push_to_member(zmq::context_t& ctx, const HandoffOptions& options, const NodeKeys& keys,
                    const swarm::NodeDescriptor& member, const std::vector<StoredMessage>& messages,
                    std::vector<bool>& confirmed, const std::function<bool()>& stopping) {
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, wire::kMaxFrameSize);
  s.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(member.x25519.data(), 32));
  s.set(zmq::sockopt::curve_publickey, zmq::const_buffer(keys.x25519.public_key().data(), 32));
  s.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(keys.x25519.secret().data(), 32));
  s.connect(member.address);
  uint64_t next_id = 1;
  const size_t batch = std::max<size_t>(1, options.batch);
  for (size_t start = 0; start < messages.size(); start += batch) {
    if (stopping()) return;
    std::map<uint64_t, size_t> waiting;  // request id -> message index
    for (size_t i = start; i < std::min(messages.size(), start + batch); ++i) {
      const uint64_t id = next_id++;
      const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kReplicate, id});
      const std::string body = replica_to_json(messages[i]).dump();
      std::array<zmq::const_buffer, 2> frames = {zmq::buffer(header), zmq::buffer(body)};
      if (!zmq::send_multipart(s, frames, zmq::send_flags::dontwait)) break;
      waiting[id] = i;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.request_timeout_ms);
    while (!waiting.empty()) {  // bounded by the deadline
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;  // member unreachable or slow: the rest stays pending
      zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN)) return;
      std::vector<zmq::message_t> answer;
      if (!zmq::recv_multipart(s, std::back_inserter(answer)) || answer.size() != 2) continue;
      auto h = wire::decode_header({static_cast<const uint8_t*>(answer[0].data()), answer[0].size()});
      if (!h.ok()) continue;
      auto it = waiting.find(h->request_id);
      if (it == waiting.end()) continue;
      if (h->type == wire::Type::kReplicateAck) confirmed[it->second] = true;
      waiting.erase(it);
    }
  }
}

}  // namespace

Result<HandoffResult> hand_over(const HandoffOptions& options, const NodeKeys& keys,
                                const std::vector<swarm::Swarm>& swarms, Storage& storage, uint64_t now_ms,
                                const std::function<bool()>& stopping) {
  HandoffResult result;
  auto plan = plan_handoff(storage, swarms, keys.x25519.public_key(), options.max_messages, now_ms);
  if (!plan.ok()) return plan.status();
  zmq::context_t ctx;
  for (const auto& [index, messages] : *plan) {
    std::vector<bool> confirmed(messages.size(), false);
    // Every member gets every message, so the new swarm starts complete.
    for (const auto& member : swarms[index].members) {
      if (member.x25519 == keys.x25519.public_key()) continue;
      push_to_member(ctx, options, keys, member, messages, confirmed, stopping);
    }
    // Drop what was confirmed, grouped by (account, namespace).
    std::map<std::tuple<Bytes, uint16_t>, std::pair<swarm::AccountId, std::vector<crypto::Hash>>> drop;
    for (size_t i = 0; i < messages.size(); ++i) {
      if (!confirmed[i]) {
        ++result.pending;
        continue;
      }
      const auto& m = messages[i];
      auto raw = m.account.raw();
      auto& entry = drop[{Bytes(raw.begin(), raw.end()), m.ns}];
      entry.first = m.account;
      entry.second.push_back(m.hash);
    }
    for (const auto& [key, what] : drop) {
      auto n = storage.drop_handed_over(what.first, std::get<1>(key), what.second);
      if (!n.ok()) return n.status();
      result.moved += *n;
    }
    if (stopping()) break;
  }
  return result;
}

}  // namespace onionswarm::node
