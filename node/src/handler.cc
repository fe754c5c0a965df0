#include "node/handler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "node/log.h"

#include "onion/encoding.h"
#include "onion/layer.h"

namespace onionswarm::node {

namespace rpc = swarm::rpc;

namespace {
// The largest answer body that fits the biggest padding bucket, with room to spare.
constexpr size_t kMaxRetrieveAnswerBytes = 120 * 1024;
// The rate-limit key of a request that names an account: account || method
// index; empty for requests without an account (they are not limited here).
std::string limit_key(const rpc::Request& req) {
  return std::visit(
      [&](const auto& r) -> std::string {
        if constexpr (requires { r.account.to_string(); })
          return r.account.to_string() + '/' + std::to_string(req.index());
        else
          return {};
      },
      req);
}

// Counts a store or replica refused because the node's storage is full, and
// logs the first refusal and every 1000th after it (not every one: a full
// node may refuse thousands a second).
void count_storage_full(NodeStats* stats, const Status& status) {
  static std::atomic<uint64_t> seen{0};
  const uint64_t n = seen.fetch_add(1, std::memory_order_relaxed) + 1;
  if (stats) NodeStats::inc(stats->storage_full_refusals);
  if (n == 1 || n % 1000 == 0)
    log_warn("storage", "refusing stores (" + std::to_string(n) + " so far): " + status.message());
}

}  // namespace

uint64_t system_clock_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

// ---- RequestHandler ----------------------------------------------------------

RequestHandler::RequestHandler(Storage& storage, const swarm::Directory& directory,
                               crypto::Ed25519PublicKey self_ed, crypto::X25519PublicKey self_x,
                               HandlerOptions options, Clock clock, OnNewStore on_new_store)
    : storage_(storage),
      directory_(directory),
      self_ed_(self_ed),
      self_x_(self_x),
      options_(std::move(options)),
      clock_(std::move(clock)),
      on_new_store_(std::move(on_new_store)),
      // A signed request is accepted while its timestamp is within
      // max_clock_skew_ms of now, so it must be remembered exactly as long.
      replays_(1'000'000, options_.max_clock_skew_ms),
      account_limits_(options_.account_rate_per_s, options_.account_burst) {}

void RequestHandler::set_catching_up(bool on) {
  catching_up_.store(on, std::memory_order_relaxed);
  if (options_.stats) options_.stats->catching_up.store(on ? 1 : 0, std::memory_order_relaxed);
}

std::shared_ptr<const std::vector<swarm::Swarm>> RequestHandler::swarms() const {
  auto nodes = directory_.snapshot();
  std::lock_guard lock(swarm_mu_);
  if (swarm_cache_.nodes != nodes || !swarm_cache_.swarms) {
    swarm_cache_.nodes = nodes;
    swarm_cache_.swarms =
        std::make_shared<const std::vector<swarm::Swarm>>(swarm::compute_swarms(*nodes, options_.swarm_size));
  }
  return swarm_cache_.swarms;
}

bool RequestHandler::serves(const swarm::AccountId& account, size_t* index) const {
  auto s = swarms();
  if (s->empty()) return false;
  size_t i = swarm::swarm_index_for(*s, account);
  if (index) *index = i;
  for (const auto& m : (*s)[i].members)
    if (m.x25519 == self_x_) return true;
  return false;
}

Status RequestHandler::check_signed(const rpc::Request& req, const swarm::AccountId& account, uint64_t ts,
                                    const rpc::Auth& auth, uint64_t now) {
  const uint64_t skew = options_.max_clock_skew_ms;
  if (ts + skew < now || ts > now + skew)
    return error(Code::kStale, "timestamp is more than " + std::to_string(skew / 1000) + " s off the node's clock");
  if (account.is_user() && !converted_keys_.derives(auth.pubkey, account.x25519()))
    return error(Code::kUnauthorized, "pubkey_ed25519 does not belong to the account");
  if (!crypto::verify(auth.pubkey, rpc::signing_bytes(req), auth.signature))
    return error(Code::kUnauthorized, "bad signature");
  // After the signature check: a forgery costs no storage read.
  if (account.is_group()) {
    if (auto st = check_group_signer(req, account, auth.pubkey, now); !st.ok()) return st;
  }
  // Only a valid signature enters the replay cache, so forgeries cannot fill it.
  return replays_.check_and_insert(crypto::hash(auth.signature.view()), ts, now);
}

Result<std::vector<swarm::group::ControlEntry>> RequestHandler::group_chain(const swarm::AccountId& account,
                                                                            uint64_t now) const {
  crypto::Ed25519PublicKey group_pk;
  group_pk.bytes = account.key;
  std::vector<swarm::group::ControlEntry> entries;
  Cursor cursor;
  // Bounded: at most kMaxControlEntries entries are read.
  while (entries.size() < swarm::group::kMaxControlEntries) {
    bool more = false;
    auto page = storage_.retrieve(account, swarm::group::kControlNamespace, cursor, rpc::kMaxRetrieveLimit, now, &more);
    if (!page.ok()) return page.status();
    for (const auto& m : *page) {
      cursor = Cursor{m.timestamp_ms, m.hash};
      auto e = swarm::group::parse_control(m.data, group_pk);
      if (e.ok()) entries.push_back(std::move(*e));  // invalid entries are never part of the chain
    }
    if (!more || page->empty()) break;
  }
  return swarm::group::canonical_chain(std::move(entries));
}

Status RequestHandler::check_group_signer(const rpc::Request& req, const swarm::AccountId& account,
                                          const crypto::Ed25519PublicKey& signer, uint64_t now) {
  if (signer.bytes == account.key) return {};  // the group key may do anything
  uint16_t ns = 0;
  bool is_store = false;
  if (auto* st = std::get_if<rpc::StoreRequest>(&req)) {
    ns = st->ns;
    is_store = true;
  } else if (auto* r = std::get_if<rpc::RetrieveRequest>(&req)) {
    ns = r->ns;
  } else {
    return error(Code::kUnauthorized, "only the group key may delete from a group");
  }
  const bool messages = ns == swarm::group::kMessagesNamespace;
  const bool control_read = ns == swarm::group::kControlNamespace && !is_store;
  if (!messages && !control_read) return error(Code::kUnauthorized, "this group namespace needs the group key");
  auto chain = group_chain(account, now);
  if (!chain.ok()) return chain.status();
  if (chain->empty()) return error(Code::kUnauthorized, "the group has no control log: only the group key may sign");
  if (messages) {
    if (chain->back().member_auth == signer) return {};
    return error(Code::kUnauthorized, "not the group's current member credential");
  }
  for (const auto& e : *chain)
    if (e.member_auth == signer) return {};
  return error(Code::kUnauthorized, "not a member credential of this group");
}

Status RequestHandler::check_control_sequencer(const swarm::AccountId& account) const {
  auto s = swarms();
  if (s->empty()) return error(Code::kUnavailable, "node knows no swarms yet");
  const swarm::Swarm& own = (*s)[swarm::swarm_index_for(*s, account)];
  if (own.members.empty()) return error(Code::kUnavailable, "the group's swarm has no members");
  const auto smallest = std::min_element(own.members.begin(), own.members.end(),
                                         [](const auto& a, const auto& b) { return a.x25519 < b.x25519; });
  if (smallest->x25519 == self_x_) return {};
  return error(Code::kConflict,
               "this node is not the group's sequencer (the swarm member with the smallest X25519 key): send "
               "control-log changes there");
}

Status RequestHandler::check_control_store(const rpc::StoreRequest& r, uint64_t now) {
  crypto::Ed25519PublicKey group_pk;
  group_pk.bytes = r.account.key;
  auto e = swarm::group::parse_control(r.data, group_pk);
  if (!e.ok()) return e.status();
  auto chain = group_chain(r.account, now);
  if (!chain.ok()) return chain.status();
  for (const auto& c : *chain)
    if (c.hash == e->hash) return {};  // a retry of a stored entry: answers "exists"
  if (chain->empty()) {
    if (e->seq == 0 && e->prev == crypto::Hash{}) return {};
    return error(Code::kConflict, "the group has no control log yet: the first entry must have seq 0");
  }
  const auto& head = chain->back();
  if (e->seq == head.seq + 1 && e->prev == head.hash && e->generation >= head.generation) return {};
  return error(Code::kConflict, "the control entry does not extend the head (seq " + std::to_string(head.seq) +
                                    " " + to_hex(head.hash.view()) + "): re-read the log and retry");
}

void RequestHandler::handle(ByteView request, Done done) {
  const uint64_t now = clock_();
  auto parsed = rpc::parse_request(request);
  NodeStats* stats = options_.stats;
  if (!parsed.ok()) {
    if (stats) NodeStats::inc(stats->malformed_requests);
    return done(rpc::error_response(parsed.status()));
  }
  rpc::Request& req = *parsed;
  if (auto key = limit_key(req); !key.empty() && !account_limits_.admit(key, now)) {
    if (stats) stats->busy_refusal(BusyReason::kAccountRate);
    return done(rpc::error_response(error(Code::kBusy, "too many requests for this account; back off")));
  }
  if (stats) {
    // Count the outcome. Answers are nlohmann dumps, where an unescaped
    // "status":"ok" can only be the top-level status field.
    done = [stats, index = req.index(), start = std::chrono::steady_clock::now(),
            inner = std::move(done)](Bytes answer) {
      static constexpr std::string_view kOk = R"("status":"ok")";
      const bool ok = as_chars(answer).find(kOk) != std::string_view::npos;
      NodeStats::inc(ok ? stats->served_ok[index] : stats->served_error[index]);
      const auto us = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - start)
                                   .count());
      if (index == 0) stats->store_latency.observe(us);  // includes the durable commit and replica ack
      if (index == 1) stats->retrieve_latency.observe(us);
      inner(std::move(answer));
    };
  }

  // One snapshot for the check and the answer: the directory may be replaced
  // between two calls to swarms(), and an index into the first is not valid
  // in the second.
  auto wrong_swarm = [&](const swarm::AccountId& account) {
    auto s = swarms();
    if (s->empty()) {
      done(rpc::error_response(error(Code::kUnavailable, "node knows no swarms yet")));
      return true;
    }
    const swarm::Swarm& own = (*s)[swarm::swarm_index_for(*s, account)];
    for (const auto& m : own.members)
      if (m.x25519 == self_x_) return false;
    done(rpc::wrong_swarm_response(own, "this node is not in the account's swarm"));
    return true;
  };

  if (auto* store = std::get_if<rpc::StoreRequest>(&req)) {
    if (wrong_swarm(store->account)) return;
    const bool open_inbox = store->account.is_user() && store->ns == 0;
    if (!open_inbox) {
      if (!store->auth) return done(rpc::error_response(error(Code::kUnauthorized, "this namespace needs a signature")));
      if (auto st = check_signed(req, store->account, store->timestamp_ms, *store->auth, now); !st.ok())
        return done(rpc::error_response(st));
    } else if (store->timestamp_ms + options_.max_clock_skew_ms < now ||
               store->timestamp_ms > now + options_.max_clock_skew_ms) {
      return done(rpc::error_response(error(Code::kStale, "timestamp is too far from the node's clock")));
    }
    if (store->account.is_group() && store->ns == swarm::group::kControlNamespace) {
      // Only the group's sequencer accepts changes (so there is one head to
      // compare against), then compare-and-set: check against the head and
      // keep the group locked at this node until the entry is durably
      // stored and replicated (or refused).
      if (auto st = check_control_sequencer(store->account); !st.ok()) return done(rpc::error_response(st));
      {
        std::lock_guard lock(control_mu_);
        if (!control_pending_.insert(store->account).second)
          return done(rpc::error_response(
              error(Code::kConflict, "another change to this group is being stored: re-read the log and retry")));
      }
      const swarm::AccountId account = store->account;
      auto release = [this, account] {
        std::lock_guard lock(control_mu_);
        control_pending_.erase(account);
      };
      if (auto st = check_control_store(*store, now); !st.ok()) {
        release();
        return done(rpc::error_response(st));
      }
      return handle_store(std::move(*store), now, [release, done = std::move(done)](Bytes answer) {
        release();
        done(std::move(answer));
      });
    }
    return handle_store(std::move(*store), now, std::move(done));
  }
  if (auto* r = std::get_if<rpc::RetrieveRequest>(&req)) {
    if (wrong_swarm(r->account)) return;
    if (auto st = check_signed(req, r->account, r->timestamp_ms, r->auth, now); !st.ok())
      return done(rpc::error_response(st));
    bool more = false;
    auto msgs = storage_.retrieve(r->account, r->ns, Cursor{r->after_timestamp_ms, r->after_hash}, r->limit, now, &more);
    if (!msgs.ok()) return done(rpc::error_response(msgs.status()));
    rpc::RetrieveAnswer a;
    a.more = more;
    a.now_ms = now;
    a.catching_up = catching_up();
    // An answer must fit the largest padding bucket it may use: stop early
    // and say "more". (A JSON answer stays within the largest bucket older
    // clients know.)
    size_t budget = r->binary ? onion::kMaxAnswerBody - rpc::kBinaryRetrieveHeader : kMaxRetrieveAnswerBytes;
    for (auto& m : *msgs) {
      const size_t cost = r->binary ? rpc::kBinaryRetrieveItemHeader + m.data.size()
                                    : (m.data.size() + 2) / 3 * 4 + 200;  // base64 + JSON framing
      if (cost > budget && !a.messages.empty()) {
        a.more = true;
        break;
      }
      budget -= std::min(budget, cost);
      a.messages.push_back({m.hash, m.timestamp_ms, m.expiry_ms, std::move(m.data)});
    }
    return done(r->binary ? rpc::retrieve_response_binary(a) : rpc::retrieve_response(a));
  }
  if (auto* d = std::get_if<rpc::DeleteRequest>(&req)) {
    if (wrong_swarm(d->account)) return;
    auto n = apply_delete(req, *d, now);
    if (!n.ok()) return done(rpc::error_response(n.status()));
    if (on_delete_) on_delete_(*d, Bytes(request.begin(), request.end()));
    return done(rpc::delete_response(*n));
  }
  if (std::holds_alternative<rpc::InfoRequest>(req)) {
    rpc::InfoAnswer a;
    a.version = options_.version;
    a.network_id = options_.network_id;
    a.nodes = directory_.snapshot()->size();
    a.now_ms = now;
    a.ed25519 = self_ed_;
    a.x25519 = self_x_;
    auto s = swarms();
    if (auto i = swarm::swarm_index_of_node(*s, self_x_)) a.swarm_id = (*s)[*i].id;
    return done(rpc::info_response(a));
  }
  if (auto* g = std::get_if<rpc::GetSwarmRequest>(&req)) {
    auto s = swarms();
    if (s->empty()) return done(rpc::error_response(error(Code::kUnavailable, "node knows no swarms yet")));
    return done(rpc::get_swarm_response((*s)[swarm::swarm_index_for(*s, g->account)]));
  }
  done(rpc::error_response(error(Code::kInternal, "unhandled method")));
}

namespace {

// The answer to a store that this node's own commit decides alone: an
// error, full, or exists. nullopt for kNew, whose answer also needs the
// replicas (8.2).
std::optional<Bytes> answer_unless_new(const Result<StoreResult>& res, const crypto::Hash& hash,
                                       const crypto::X25519PublicKey& self) {
  if (!res.ok()) return rpc::error_response(res.status());
  switch (*res) {
    case StoreResult::kFull:
      return rpc::error_response(error(Code::kFull, "inbox full: the account's quota is reached"));
    case StoreResult::kExists:
      return rpc::store_response({true, hash, {self}});
    case StoreResult::kNew:
      break;
  }
  return std::nullopt;
}

Bytes answer_new(const Result<std::vector<crypto::X25519PublicKey>>& holders, const crypto::Hash& hash) {
  if (!holders.ok()) return rpc::error_response(holders.status());
  return rpc::store_response({false, hash, *holders});
}

}  // namespace

void RequestHandler::handle_store(rpc::StoreRequest r, uint64_t now, Done done) {
  StoredMessage m;
  m.account = r.account;
  m.ns = r.ns;
  m.timestamp_ms = r.timestamp_ms;
  m.expiry_ms = r.timestamp_ms + r.ttl_ms;
  // A group's control log is its membership: it never expires.
  if (r.account.is_group() && r.ns == swarm::group::kControlNamespace) m.expiry_ms = UINT64_MAX;
  m.hash = crypto::hash(r.data);
  m.data = std::move(r.data);
  const crypto::Hash hash = m.hash;
  // A store into a user's inbox is pushed to the swarm at once, so the
  // peers' durable commits overlap this node's (docs/PROTOCOL.md 8.2); other
  // namespaces (signed, group control logs) are pushed only once committed
  // here as new. The answer waits for both either way. A message already
  // held here (a retry) is not pushed again: it answers exists at commit.
  auto held = [&] {
    auto g = storage_.get(hash, now);
    return !g.ok() || g->has_value();
  };
  if (on_new_store_ && r.account.is_user() && r.ns == 0 && !held()) {
    struct Join {
      std::mutex mu;
      std::optional<Result<StoreResult>> local;                               // GUARDED_BY(mu)
      std::optional<Result<std::vector<crypto::X25519PublicKey>>> replicas;  // GUARDED_BY(mu)
      Done done;                                                              // GUARDED_BY(mu); empty once answered
    };
    auto join = std::make_shared<Join>();
    join->done = std::move(done);
    // Called with join->mu held; returns the answer once both halves decide it.
    auto decide = [this, hash](Join& j) -> std::optional<Bytes> {
      if (!j.done || !j.local) return std::nullopt;
      if (auto a = answer_unless_new(*j.local, hash, self_x_)) return a;
      if (!j.replicas) return std::nullopt;
      return answer_new(*j.replicas, hash);
    };
    auto settle = [decide](Join& j) {
      Done d;
      std::optional<Bytes> answer;
      {
        std::lock_guard lock(j.mu);
        answer = decide(j);
        if (answer) d = std::exchange(j.done, nullptr);
      }
      if (answer) d(std::move(*answer));
    };
    on_new_store_(m, [join, settle](Result<std::vector<crypto::X25519PublicKey>> holders) {
      {
        std::lock_guard lock(join->mu);
        join->replicas = std::move(holders);
      }
      settle(*join);
    });
    storage_.store_async(std::move(m), [join, settle, stats = options_.stats](Result<StoreResult> res) {
      if (!res.ok() && res.status().code() == Code::kStorageFull) count_storage_full(stats, res.status());
      {
        std::lock_guard lock(join->mu);
        join->local = std::move(res);
      }
      settle(*join);
    });
    return;
  }
  auto copy = on_new_store_ ? std::make_shared<StoredMessage>(m) : nullptr;
  storage_.store_async(std::move(m), [this, copy, hash, done = std::move(done)](Result<StoreResult> res) {
    if (!res.ok() && res.status().code() == Code::kStorageFull) count_storage_full(options_.stats, res.status());
    if (auto a = answer_unless_new(res, hash, self_x_)) return done(std::move(*a));
    if (!copy) return done(rpc::store_response({false, hash, {self_x_}}));
    // Acknowledge only once the swarm confirms enough replicas.
    on_new_store_(*copy, [hash, done](Result<std::vector<crypto::X25519PublicKey>> holders) {
      done(answer_new(holders, hash));
    });
  });
}

Result<size_t> RequestHandler::apply_delete(const rpc::Request& req, const rpc::DeleteRequest& d, uint64_t now) {
  if (auto st = check_signed(req, d.account, d.timestamp_ms, d.auth, now); !st.ok()) return st;
  if (d.account.is_group() && d.ns == swarm::group::kControlNamespace)
    return error(Code::kUnauthorized, "a group's control log cannot be deleted");
  return storage_.remove(d.account, d.ns, d.hashes);
}

void RequestHandler::accept_peer_delete(ByteView request, Done done) {
  auto parsed = rpc::parse_request(request);
  if (!parsed.ok()) return done(rpc::error_response(parsed.status()));
  auto* d = std::get_if<rpc::DeleteRequest>(&*parsed);
  if (!d) return done(rpc::error_response(error(Code::kInvalidArgument, "a pushed delete must be a delete request")));
  if (!serves(d->account))
    return done(rpc::error_response(error(Code::kUnauthorized, "this node is not in the account's swarm")));
  auto n = apply_delete(*parsed, *d, clock_());
  if (!n.ok()) return done(rpc::error_response(n.status()));
  if (on_delete_) on_delete_(*d, {});
  return done(rpc::delete_response(*n));
}

void RequestHandler::accept_replica(StoredMessage message, std::function<void(Result<StoreResult>)> done) {
  if (!serves(message.account)) {
    return done(error(Code::kWrongSwarm, "replica for an account outside this node's swarm"));
  }
  storage_.store_async(std::move(message), [stats = options_.stats, done = std::move(done)](Result<StoreResult> r) {
    if (!r.ok() && r.status().code() == Code::kStorageFull) count_storage_full(stats, r.status());
    done(std::move(r));
  });
}

}  // namespace onionswarm::node
