#include "client/client.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <iterator>
#include <map>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include <zmq.hpp>

#include "client/envelope.h"
#include "client/group.h"
#include "client/transport.h"
#include "onion/encoding.h"
#include "onion/ephemeral_pool.h"
#include "onion/layer.h"
#include "onion/wire.h"
#include "swarm/json.h"
#include "swarm/swarms.h"

namespace onionswarm::client {
namespace {

namespace rpc = swarm::rpc;
using swarm::NodeDescriptor;
using Keys = std::vector<crypto::X25519PublicKey>;

// The learned difference between the network's clock and ours (ms, signed).
constexpr const char* kClockOffsetSetting = "clock_offset_ms";

// Earlier paths kept open besides the current one (Impl::spare_paths).
constexpr size_t kMaxSparePaths = 3;
// Times one request is signed again after a `replay` answer (read_timestamp).
constexpr int kMaxReplayResigns = 3;

uint64_t now_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

// Monotonic milliseconds, for how long a node stays suspected.
uint64_t steady_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

// The Status a hop reports in a kHopError body ({"code","message"}).
Status hop_error_status(ByteView body, const std::string& who) {
  auto j = swarm::parse_json(as_chars(body));
  if (!j.ok() || !j->is_object() || !j->contains("code") || !(*j)["code"].is_string()) {
    return error(Code::kInvalidArgument, who + ": malformed error answer");
  }
  Code code = code_from_name((*j)["code"].get<std::string>());
  if (code == Code::kOk) code = Code::kInternal;
  std::string message = (*j)["code"].get<std::string>();
  if (j->contains("message") && (*j)["message"].is_string()) {
    message = (*j)["message"].get<std::string>();
  }
  return error(code, who + ": " + message);
}

const char* hop_name(size_t hop, size_t hops) {
  if (hop + 1 == hops) return "swarm node";
  switch (hop) {
    case 0:
      return "guard";
    case 1:
      return "middle";
    default:
      return "exit";
  }
}

// Codes after which another destination may well succeed.
bool transient(Code code) {
  return code == Code::kUnavailable || code == Code::kTimeout || code == Code::kBusy;
}

}  // namespace

// Why the stored cursor lags behind what was fetched:
//
// Nodes order an inbox by (timestamp, hash), and the timestamp is the
// sender's clock, accepted by a node only within rpc::kMaxClockSkewMs of its
// own clock. So a message can still arrive, at this or at another replica
// (replication is not instantaneous, and replicas store in different
// orders), with a timestamp earlier than the last message we saw, but never
// earlier than (node clock - kMaxClockSkewMs), and we allow the same again
// for the difference between the clocks of the swarm's members. Resuming
// from min(last seen, node now - 2 * kMaxClockSkewMs), inclusive (hash
// zero), therefore never skips a message, whichever member answers next.
// The price is that the last two minutes of messages are fetched again;
// LocalStore::add drops them by hash, so nothing is shown twice.
// A member that was down, or has just joined the swarm, receives older
// messages late, by catch-up; until its first catch-up round succeeds its
// answers say "catching_up", and the cursor does not move on such an
// answer: the next fetch (from any member) reads the same range again.
// Within one fetch, pages follow the exact (timestamp, hash) of the last
// item instead, so paging always makes progress.
RetrieveCursor next_cursor(const RetrieveCursor& previous, std::optional<uint64_t> last_seen_ms,
                           uint64_t node_now_ms, bool node_catching_up) {
  if (!last_seen_ms || node_catching_up) return previous;
  constexpr uint64_t kLag = 2 * rpc::kMaxClockSkewMs;
  const uint64_t safe = node_now_ms > kLag ? node_now_ms - kLag : 0;
  RetrieveCursor next;
  next.timestamp_ms = std::min(*last_seen_ms, safe);
  return next;
}

struct Client::Impl {
  Impl(ClientOptions o, Identity id, std::unique_ptr<LocalStore> s)
      : options(std::move(o)), identity(std::move(id)), store(std::move(s)) {
    rng = options.random ? options.random : secure_random();
    swarms = swarm::compute_swarms(options.nodes, options.swarm_size);
    if (auto saved = store->get_setting(kClockOffsetSetting); saved.ok() && *saved) {
      try {
        clock_offset_ms = std::stoll(**saved);
      } catch (const std::exception&) {
        clock_offset_ms = 0;  // a damaged setting is relearned on the next stale answer
      }
    }
  }

  // This machine's clock (with the testing skew), and the network's time as
  // this client believes it. Every timestamp we sign or put in a layer uses
  // network_now(), so a client whose clock is minutes off still works once
  // it has learned the offset from a node's answer.
  int64_t local_now() const { return int64_t(now_ms()) + options.clock_skew_ms; }
  uint64_t network_now() const { return uint64_t(std::max<int64_t>(0, local_now() + clock_offset_ms)); }

  // Asks `dest` for its clock through the current path (an `info` request)
  // and adopts the offset, compensating half the round trip.
  Status sync_clock(const NodeDescriptor& dest) {
    const Bytes payload = rpc::serialize_request(rpc::InfoRequest{});
    const std::vector<crypto::X25519PublicKey> hops = {path->guard.x25519, path->middle.x25519,
                                                        path->exit.x25519, dest.x25519};
    const int64_t before = local_now();
    auto built = onion::build(hops, payload, network_now(), ephemerals.get());
    if (!built.ok()) return built.status();
    auto blob = channel->round_trip(built->blob, options.timeout_ms);
    if (!blob.ok()) return blob.status();
    auto answer = onion::unwrap_response(built->response_keys, *blob);
    if (!answer.ok()) return answer.status();
    if (answer->kind != onion::ResponseKind::kFinal) return hop_error_status(answer->body, "clock sync");
    auto parsed = rpc::parse_response(answer->body);
    if (!parsed.ok()) return parsed.status();
    auto* ok = std::get_if<nlohmann::json>(&*parsed);
    if (!ok) return std::get<rpc::ErrorAnswer>(*parsed).status;
    auto info = rpc::parse_info_answer(*ok);
    if (!info.ok()) return info.status();
    return adopt_clock(info->now_ms, before, local_now());
  }

  // Adopts a node's clock, read at node_now_ms between our local times
  // `before` and `after` (half the round trip is compensated), and keeps
  // the offset for later runs.
  Status adopt_clock(uint64_t node_now_ms, int64_t before, int64_t after) {
    clock_offset_ms = int64_t(node_now_ms) - (before + after) / 2;
    return store->set_setting(kClockOffsetSetting, std::to_string(clock_offset_ms));
  }

  ClientOptions options;
  Identity identity;
  std::unique_ptr<LocalStore> store;
  std::vector<swarm::Swarm> swarms;
  int64_t clock_offset_ms = 0;  // network time minus local time, learned from nodes
  Random rng;
  // Layer key pairs made ahead on a background thread (one per process).
  std::shared_ptr<onion::EphemeralPool> ephemerals = onion::EphemeralPool::shared();
  zmq::context_t context;          // declared before channel: outlives it
  std::optional<Path> path;
  std::optional<Channel> channel;  // the DEALER of the current path
  // Earlier paths that are still good, with their sockets, most recent
  // first. A path must keep its middle and exit out of the target swarm;
  // in a small network (two swarms, say) a client writing to accounts of
  // both swarms would otherwise build a new path, i.e. a new connection
  // and CURVE handshake, on about every other request. Each keeps its own
  // CURVE key, as every path does.
  struct SparePath {
    Path path;
    Channel channel;
  };
  std::deque<SparePath> spare_paths;  // at most kMaxSparePaths
  std::optional<Route> last_route;
  // Nodes that failed a request -> steady_ms() until which later requests
  // avoid them (kSuspectMs after the failure).
  std::map<crypto::X25519PublicKey, uint64_t> suspects;

  // The suspected nodes now (expired ones are forgotten).
  Keys current_suspects() {
    const uint64_t now = steady_ms();
    std::erase_if(suspects, [&](const auto& e) { return e.second <= now; });
    Keys out;
    for (const auto& [k, until] : suspects) out.push_back(k);
    return out;
  }
  void suspect(const crypto::X25519PublicKey& k) { suspects[k] = steady_ms() + kSuspectMs; }
  // The nodes of a route that carried an answer work again.
  void clear_suspects(const Route& r) {
    for (const auto* n : {&r.path.guard, &r.path.middle, &r.path.exit, &r.destination}) suspects.erase(n->x25519);
  }

  void progress(std::string_view line) const {
    if (options.progress) options.progress(line);
  }
  bool cancelled() const { return options.cancelled && options.cancelled(); }

  static bool on_path(const Path& p, const Keys& keys) {
    for (const auto* n : {&p.guard, &p.middle, &p.exit})
      if (std::find(keys.begin(), keys.end(), n->x25519) != keys.end()) return true;
    return false;
  }

  // The current path, when it is still good, becomes the newest spare.
  void keep_current_as_spare() {
    if (!path || !channel) return;
    spare_paths.push_front(SparePath{std::move(*path), std::move(*channel)});
    path.reset();
    channel.reset();
    if (spare_paths.size() > kMaxSparePaths) spare_paths.pop_back();
  }

  // Makes the newest spare that avoids the target swarm (`avoid`) and every
  // unwanted node the current path; false when none does.
  bool use_spare_path(const Keys& avoid, const Keys& unwanted) {
    for (auto it = spare_paths.begin(); it != spare_paths.end(); ++it) {
      if (on_path(it->path, unwanted) || path_should_avoid(it->path, options.nodes, avoid)) continue;
      SparePath chosen = std::move(*it);
      spare_paths.erase(it);
      keep_current_as_spare();
      path = std::move(chosen.path);
      channel = std::move(chosen.channel);
      return true;
    }
    return false;
  }

  // A new path (and socket). guard_failed: replace the guard as well.
  Status build_path(const Keys& avoid, const Keys& failed, bool guard_failed) {
    progress("building path…");
    auto kept = store->guard();
    if (guard_failed && path) kept = path->guard.x25519;
    auto guard = choose_guard(options.nodes, kept, guard_failed, rng, failed);
    if (!guard.ok()) return guard.status();
    auto p = choose_path(options.nodes, *guard, avoid, failed, rng);
    if (!p.ok()) return p.status();
    if (!kept || *kept != guard->x25519 || guard_failed) {
      if (Status s = store->set_guard(guard->x25519); !s.ok()) {
        return s;
      }
    }
    channel.reset();
    auto c = Channel::open(context, p->guard);
    if (!c.ok()) return c.status();
    channel.emplace(std::move(c).value());
    path = std::move(p).value();
    return Status();
  }

  // Ed25519 is deterministic: clients holding one key (a group's members
  // share the member credential, its admins the group key; one account may
  // run on two devices) that send the same read in the same millisecond
  // sign the very same bytes, and the node refuses the second as a replay.
  // A read's timestamp only proves freshness (the node accepts 60 s either
  // way), so it is drawn from the last second instead of taken as now: two
  // such reads then collide about once in a thousand, and a collision is
  // signed again (request_any).
  static constexpr uint32_t kReadTimestampSpreadMs = 1000;
  uint64_t read_timestamp() const {
    const uint64_t now = network_now();
    const uint64_t back = crypto::random_below(kReadTimestampSpreadMs);
    return now > back ? now - back : 0;
  }

  // Signed requests get a fresh timestamp and signature per attempt: nodes
  // refuse a replayed signature, and an attempt may have arrived.
  void refresh_signature(rpc::Request& req, const crypto::Ed25519KeyPair* signer) const {
    if (signer) {
      std::visit([&](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, rpc::RetrieveRequest>)
          r.timestamp_ms = read_timestamp();
        else if constexpr (!std::is_same_v<T, rpc::InfoRequest> && !std::is_same_v<T, rpc::GetSwarmRequest>)
          r.timestamp_ms = network_now();
      }, req);
      rpc::sign_request(req, *signer);
      return;
    }
    std::visit(
        [&](auto& r) {
          using T = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<T, rpc::RetrieveRequest>) r.timestamp_ms = read_timestamp();
          if constexpr (std::is_same_v<T, rpc::DeleteRequest>) r.timestamp_ms = network_now();
          if constexpr (std::is_same_v<T, rpc::StoreRequest>) {
            // Unsigned inbox stores are timestamp-checked too; the message
            // hash covers only the data, so a new timestamp never duplicates.
            if (!r.auth) r.timestamp_ms = network_now();
          }
        },
        req);
    if (std::holds_alternative<rpc::RetrieveRequest>(req) ||
        std::holds_alternative<rpc::DeleteRequest>(req)) {
      rpc::sign_request(req, identity.ed25519());
    }
  }

  Result<nlohmann::json> request(const swarm::AccountId& target, rpc::Request req,
                                 const crypto::Ed25519KeyPair* signer = nullptr, bool pinned = false) {
    auto answer = request_any(target, std::move(req), signer, pinned);
    if (!answer.ok()) return answer.status();
    if (auto* j = std::get_if<nlohmann::json>(&*answer)) return std::move(*j);
    return error(Code::kInvalidArgument, "swarm node sent a malformed answer: binary where JSON was asked for");
  }

  Result<rpc::RetrieveAnswer> retrieve(const swarm::AccountId& target, rpc::RetrieveRequest req,
                                       const crypto::Ed25519KeyPair* signer = nullptr, bool pinned = false) {
    req.binary = true;
    auto answer = request_any(target, req, signer, pinned);
    if (!answer.ok() && refused_binary_format(answer.status())) {
      // A node built before the binary answer (PROTOCOL.md 7.8) refuses the
      // field: ask again in JSON, which every node answers.
      req.binary = false;
      answer = request_any(target, std::move(req), signer, pinned);
    }
    if (!answer.ok()) return answer.status();
    auto parsed = std::holds_alternative<nlohmann::json>(*answer)
                      ? rpc::parse_retrieve_answer(std::get<nlohmann::json>(*answer))
                      : rpc::parse_retrieve_answer_binary(std::get<Bytes>(*answer));
    if (!parsed.ok())
      return error(parsed.status().code(), "swarm node sent a malformed answer: " + parsed.status().message());
    return parsed;
  }

  // Whether a retrieve failed because its destination does not know the
  // "format" field: nodes refuse unknown fields as invalid_argument
  // "FIELD: unknown field", and request_any adds "swarm node: ".
  static bool refused_binary_format(const Status& s) {
    return s.code() == Code::kInvalidArgument && s.message() == "swarm node: format: unknown field";
  }

  // The destination's "ok" answer: its JSON object, or the bytes of a
  // binary retrieve answer (only to a retrieve that asked for one).
  using OkAnswer = std::variant<nlohmann::json, Bytes>;

  Result<OkAnswer> request_any(const swarm::AccountId& target, rpc::Request req,
                               const crypto::Ed25519KeyPair* signer, bool pinned) {
    const auto* retrieve_req = std::get_if<rpc::RetrieveRequest>(&req);
    const bool binary_asked = retrieve_req && retrieve_req->binary;
    if (swarms.empty()) return error(Code::kUnavailable, "the directory has no nodes");
    swarm::Swarm target_swarm = swarms[swarm::swarm_index_for(swarms, target)];
    int redirects = 0;
    bool retried = false;
    bool rebuild = false;
    bool guard_failed = false;
    bool clock_synced = false;
    int replay_resigns = 0;
    const bool is_signed = signer || std::holds_alternative<rpc::RetrieveRequest>(req) ||
                           std::holds_alternative<rpc::DeleteRequest>(req);
    Keys failed;  // nodes that failed during this request
    Status last_failure = error(Code::kInternal, "no attempt made");
    auto contains = [](const Keys& keys, const crypto::X25519PublicKey& k) {
      return std::find(keys.begin(), keys.end(), k) != keys.end();
    };

    // Bounded: one first attempt, kMaxRedirects redirects, one retry.
    for (int attempt = 0; attempt < 2 + kMaxRedirects; ++attempt) {
      if (cancelled()) return error(Code::kUnavailable, "cancelled");
      const Keys avoid = member_keys(target_swarm);
      // Failed in this request or recently in an earlier one.
      Keys unwanted = current_suspects();
      for (const auto& k : failed)
        if (!contains(unwanted, k)) unwanted.push_back(k);
      if (path && channel && !rebuild) {
        // A kept path through a suspected node is rebuilt before use.
        if (contains(unwanted, path->guard.x25519)) {
          rebuild = guard_failed = true;
        } else if (contains(unwanted, path->middle.x25519) || contains(unwanted, path->exit.x25519)) {
          rebuild = true;
        }
      }
      // Spares through a failed or suspected node are dropped.
      std::erase_if(spare_paths, [&](const SparePath& sp) { return on_path(sp.path, unwanted); });
      if (path && channel && !rebuild && path_should_avoid(*path, options.nodes, avoid)) {
        // Good, but it crosses the target swarm: another kept path may fit.
        if (!use_spare_path(avoid, unwanted)) keep_current_as_spare();
      }
      if (!path || !channel || rebuild || path_should_avoid(*path, options.nodes, avoid)) {
        if (Status s = build_path(avoid, unwanted, guard_failed); !s.ok()) return s;
        rebuild = false;
        guard_failed = false;
      }
      auto dest = choose_destination(target_swarm, path, unwanted, rng);
      if (!dest.ok()) return dest.status();
      if (pinned) {
        // The member with the smallest X25519 key that has not failed during
        // this request (suspicions from earlier requests do not move it, so
        // that writers meet at one node).
        for (const auto& m : target_swarm.members) {
          if (std::find(failed.begin(), failed.end(), m.x25519) != failed.end()) continue;
          if (m.x25519 < dest->x25519) *dest = m;
        }
      }
      refresh_signature(req, signer);
      const Bytes payload = rpc::serialize_request(req);
      if (payload.size() > onion::kMaxPayload) {
        return error(Code::kInvalidArgument, "request too large");
      }
      const std::vector<crypto::X25519PublicKey> hops = {path->guard.x25519, path->middle.x25519,
                                                          path->exit.x25519, dest->x25519};
      auto built = onion::build(hops, payload, network_now(), ephemerals.get());
      if (!built.ok()) return built.status();

      progress("waiting for the swarm…");
      const size_t failed_before = failed.size();
      const int64_t sent_at = local_now();
      auto blob = channel->round_trip(built->blob, options.timeout_ms);

      // What failed, if anything, and how to retry.
      if (!blob.ok()) {
        if (cancelled()) return error(Code::kUnavailable, "cancelled");
        last_failure = blob.status();
        if (blob.status().code() == Code::kTimeout) {
          // Every relay answers a hop error once it has waited
          // kDefaultRelayTimeoutMs for the next hop, so silence for longer
          // than that means the guard itself did not answer (hung, or its
          // link is): a new guard. After a shorter wait it may be any node
          // of the path: a new middle, exit and destination, and a second
          // silence in this request suspects the guard as well, so that a
          // hung guard is not kept for every later request.
          const bool guard_silent = options.timeout_ms > wire::kDefaultRelayTimeoutMs;
          if (guard_silent || retried) {
            guard_failed = true;
            failed.push_back(path->guard.x25519);
          }
          if (!guard_silent) {
            failed.push_back(path->middle.x25519);
            failed.push_back(path->exit.x25519);
            failed.push_back(dest->x25519);
          }
        } else {
          guard_failed = true;  // unreachable, or refused our link
          failed.push_back(path->guard.x25519);  // nor as middle, exit or destination
        }
      } else {
        auto answer = onion::unwrap_response(built->response_keys, *blob);
        if (!answer.ok()) {
          last_failure = error(answer.status().code(),
                               "the answer did not unwrap: " + answer.status().message());
        } else if (answer->kind == onion::ResponseKind::kHopError) {
          const size_t hop = answer->hop;
          last_failure = hop_error_status(answer->body, hop_name(hop, hops.size()));
          if (last_failure.code() == Code::kStale && !clock_synced) {
            // A hop refused the layer's timestamp: our clock is beyond its
            // 30-min layer window, or behind the oldest layer its full replay
            // cache still holds. Its answer carries its clock: adopt it once
            // per request and send again.
            if (auto node_now = rpc::stale_layer_clock(answer->body)) {
              clock_synced = true;
              progress("a relay refused the request's timestamp; resending on its clock…");
              if (Status s = adopt_clock(*node_now, sent_at, local_now()); !s.ok()) {
                return error(s.code(), "clock sync failed: " + s.message());
              }
              --attempt;  // not a path failure: does not use up the retry
              continue;
            }
          }
          if (hop + 1 == hops.size()) {
            // The destination itself refused the request at the layer level.
            if (!transient(last_failure.code())) return last_failure;
            failed.push_back(hops[hop]);
          } else if (last_failure.code() == Code::kUnavailable) {
            failed.push_back(hops[hop + 1]);  // named as unknown or unreachable
          } else {
            // A timeout reported by hop h may come from any node after it:
            // every hop waits for the rest of the path, and the hop closest
            // to us gives up first.
            for (size_t i = hop + 1; i < hops.size(); ++i) failed.push_back(hops[i]);
          }
        } else {
          last_route = Route{*path, *dest};
          clear_suspects(*last_route);
          if (binary_asked && rpc::is_binary_retrieve_answer(answer->body)) return OkAnswer(std::move(answer->body));
          auto parsed = rpc::parse_response(answer->body);
          if (!parsed.ok()) {
            return error(parsed.status().code(),
                         "swarm node sent a malformed answer: " + parsed.status().message());
          }
          if (auto* ok = std::get_if<nlohmann::json>(&*parsed)) return OkAnswer(std::move(*ok));
          auto& err = std::get<rpc::ErrorAnswer>(*parsed);
          if (err.status.code() == Code::kWrongSwarm && err.swarm && !err.swarm->members.empty() &&
              redirects < kMaxRedirects) {
            ++redirects;
            target_swarm = *err.swarm;
            continue;
          }
          if (err.status.code() == Code::kReplay && is_signed && replay_resigns < kMaxReplayResigns) {
            // Another holder of the key sent the very same signed request
            // (see read_timestamp): sign again a little later.
            ++replay_resigns;
            std::this_thread::sleep_for(std::chrono::milliseconds(2 + crypto::random_below(31)));
            --attempt;  // not a path failure: does not use up the retry
            continue;
          }
          if (err.status.code() == Code::kStale && !clock_synced) {
            // Our clock is off: learn the network's time once, then retry.
            clock_synced = true;
            progress("adjusting to the network's clock…");
            if (Status s = sync_clock(*dest); !s.ok()) return error(s.code(), "clock sync failed: " + s.message());
            --attempt;  // not a path failure: does not use up the retry
            continue;
          }
          return error(err.status.code(), "swarm node: " + err.status.message());
        }
      }
      for (size_t i = failed_before; i < failed.size(); ++i) suspect(failed[i]);
      if (retried) return last_failure;
      retried = true;
      rebuild = true;
      progress("rebuilding path…");
    }
    return last_failure;
  }
};

Client::Client(Key) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::open(ClientOptions options) {
  crypto::init();
  if (options.nodes.empty()) return error(Code::kInvalidArgument, "the network has no nodes");
  if (options.swarm_size == 0) return error(Code::kInvalidArgument, "swarm size must be positive");
  auto identity = Identity::load(options.home);
  if (!identity.ok()) return identity.status();
  auto store = LocalStore::open(options.home);
  if (!store.ok()) return store.status();
  auto client = std::make_unique<Client>(Key{});
  client->impl_ = std::make_unique<Impl>(std::move(options), std::move(identity).value(),
                                         std::move(store).value());
  return client;
}

const swarm::AccountId& Client::account_id() const { return impl_->identity.account_id(); }

const Identity& Client::identity() const { return impl_->identity; }

uint64_t Client::network_now() const { return impl_->network_now(); }

Result<nlohmann::json> Client::request(const swarm::AccountId& target, rpc::Request req,
                                       const crypto::Ed25519KeyPair& signer, bool pinned) {
  return impl_->request(target, std::move(req), &signer, pinned);
}

LocalStore& Client::store() { return *impl_->store; }

const std::optional<Route>& Client::last_route() const { return impl_->last_route; }

Result<nlohmann::json> Client::request(const swarm::AccountId& target, rpc::Request req) {
  return impl_->request(target, std::move(req));
}

Result<rpc::RetrieveAnswer> Client::retrieve(const swarm::AccountId& target, rpc::RetrieveRequest req) {
  return impl_->retrieve(target, std::move(req));
}

Result<rpc::RetrieveAnswer> Client::retrieve(const swarm::AccountId& target, rpc::RetrieveRequest req,
                                             const crypto::Ed25519KeyPair& signer, bool pinned) {
  return impl_->retrieve(target, std::move(req), &signer, pinned);
}

Result<Path> Client::path() {
  if (!impl_->path) {
    if (Status s = impl_->build_path({}, {}, false); !s.ok()) return s;
  }
  return *impl_->path;
}

Result<SendResult> Client::send(const swarm::AccountId& recipient, std::string_view text) {
  auto message = seal(recipient, text);
  if (!message.ok()) return message.status();
  return send(*message);
}

Result<OutgoingMessage> Client::seal(const swarm::AccountId& recipient, std::string_view text) const {
  if (!recipient.is_user()) {
    return error(Code::kInvalidArgument, "messages can only be sent to 05 accounts");
  }
  auto sealed = seal_message(impl_->identity.ed25519(), recipient.x25519(), impl_->network_now(), text);
  if (!sealed.ok()) return sealed.status();
  if (sealed->size() > rpc::kMaxDataBytes) return error(Code::kInvalidArgument, "message too large");
  OutgoingMessage out{recipient, std::move(sealed).value(), {}};
  out.hash = crypto::hash(out.sealed);
  return out;
}

Result<SendResult> Client::send(const OutgoingMessage& message) {
  if (!message.recipient.is_user()) {
    return error(Code::kInvalidArgument, "messages can only be sent to 05 accounts");
  }
  if (message.sealed.size() > rpc::kMaxDataBytes) return error(Code::kInvalidArgument, "message too large");
  if (crypto::hash(message.sealed) != message.hash) {
    return error(Code::kInvalidArgument, "the message hash does not match the sealed message");
  }
  rpc::StoreRequest store;
  store.account = message.recipient;
  store.ns = 0;
  store.timestamp_ms = impl_->network_now();  // refreshed on every attempt; not part of the hash
  store.ttl_ms = rpc::kDefaultTtlMs;
  store.data = message.sealed;
  impl_->progress("sending…");
  auto json = impl_->request(message.recipient, std::move(store));
  if (!json.ok()) return json.status();
  auto answer = rpc::parse_store_answer(*json);
  if (!answer.ok()) return answer.status();
  if (answer->hash != message.hash) {
    return error(Code::kInternal, "the swarm acknowledged a different message hash");
  }
  SendResult result;
  result.hash = message.hash;
  result.existed = answer->existed;
  result.route = *impl_->last_route;
  return result;
}

Result<std::vector<InboxEntry>> Client::fetch(std::vector<InboxEntry>* control) {
  const swarm::AccountId& me = impl_->identity.account_id();
  const std::string account = me.to_string();
  auto stored = impl_->store->cursor(account, 0);
  if (!stored.ok()) return stored.status();

  // A page's messages are kept (marked seen) in one durable commit before the
  // next page is asked for, so once a page is kept its messages must reach
  // the caller: a later fetch skips them as seen. A failure after that ends
  // the fetch early but is not returned as an error (see client.h).
  RetrieveCursor page = *stored;
  std::optional<uint64_t> last_seen;  // of the last page kept
  uint64_t node_now = 0;
  bool catching_up = false;  // a page kept came from a node still catching up
  std::vector<InboxEntry> fresh;
  size_t kept = 0;  // new messages kept by this call, control ones included
  Status stopped;   // why the fetch ended before the inbox's end
  impl_->progress("fetching inbox…");
  for (int n = 0; n < kMaxFetchPages; ++n) {
    rpc::RetrieveRequest r;
    r.account = me;
    r.ns = 0;
    r.after_timestamp_ms = page.timestamp_ms;
    r.after_hash = page.hash;
    r.limit = rpc::kDefaultRetrieveLimit;
    auto answer = impl_->retrieve(me, std::move(r));  // signs it
    if (!answer.ok()) {
      stopped = answer.status();
      break;
    }
    std::optional<uint64_t> page_last_seen;
    RetrieveCursor next_page = page;
    std::vector<InboxEntry> page_entries;
    std::vector<ByteView> sealed;  // of page_entries, in order
    for (const auto& item : answer->messages) {
      page_last_seen = item.timestamp_ms;
      next_page = RetrieveCursor{item.timestamp_ms, item.hash};
      InboxEntry entry;
      entry.hash = crypto::hash(item.data);  // our own hash, not the node's word
      auto seen = impl_->store->seen(entry.hash);
      if (!seen.ok()) {
        stopped = seen.status();
        break;
      }
      if (*seen) continue;
      entry.received_ms = now_ms();
      entry.timestamp_ms = item.timestamp_ms;
      page_entries.push_back(std::move(entry));
      sealed.push_back(item.data);
    }
    if (!stopped.ok()) break;
    auto opened = open_messages(impl_->identity.x25519(), sealed);
    for (size_t i = 0; i < page_entries.size(); ++i) {
      InboxEntry& entry = page_entries[i];
      if (opened[i].ok()) {
        entry.timestamp_ms = opened[i]->timestamp_ms;
        entry.from = opened[i]->sender.to_string();
        entry.text = std::move(opened[i]->text);
        entry.verified = true;
      } else {
        entry.verified = false;
        entry.error = opened[i].status().message();
      }
    }
    // Control messages leave the inbox list: marked seen, handed to the caller.
    std::vector<crypto::Hash> control_hashes;
    std::vector<InboxEntry> page_control;
    std::erase_if(page_entries, [&](InboxEntry& e) {
      if (!e.verified || !group::is_control_text(e.text)) return false;
      control_hashes.push_back(e.hash);
      page_control.push_back(std::move(e));
      return true;
    });
    if (Status s = impl_->store->mark_seen(control_hashes); !s.ok()) {
      stopped = s;
      break;
    }
    kept += page_control.size();
    if (control) std::move(page_control.begin(), page_control.end(), std::back_inserter(*control));
    // One durable commit per page, not per message.
    auto added = impl_->store->add_all(page_entries);
    if (!added.ok()) {
      stopped = added.status();
      break;
    }
    for (size_t i = 0; i < page_entries.size(); ++i) {
      if (!(*added)[i]) continue;
      fresh.push_back(std::move(page_entries[i]));
      ++kept;
    }
    // The page is kept: the cursor may move past it.
    page = next_page;
    if (page_last_seen) last_seen = page_last_seen;
    node_now = answer->now_ms;
    catching_up = catching_up || answer->catching_up;
    if (!answer->more || answer->messages.empty()) break;
  }
  Status cursor_saved =
      impl_->store->set_cursor(account, 0, next_cursor(*stored, last_seen, node_now, catching_up));
  if (kept > 0) return fresh;  // a later fetch resumes where this one stopped
  if (!stopped.ok()) return stopped;
  if (!cursor_saved.ok()) return cursor_saved;
  return fresh;
}

Result<rpc::InfoAnswer> Client::ping(const NodeDescriptor& node, uint64_t timeout_ms) {
  crypto::init();
  zmq::context_t context;
  auto channel = Channel::open(context, node);
  if (!channel.ok()) return channel.status();
  const Bytes payload = rpc::serialize_request(rpc::InfoRequest{});
  const std::vector<crypto::X25519PublicKey> hops = {node.x25519};
  auto built = onion::build(hops, payload, now_ms());
  if (!built.ok()) return built.status();
  auto blob = channel->round_trip(built->blob, timeout_ms);
  if (!blob.ok()) return blob.status();
  auto answer = onion::unwrap_response(built->response_keys, *blob);
  if (!answer.ok()) return answer.status();
  if (answer->kind == onion::ResponseKind::kHopError) {
    return hop_error_status(answer->body, "node");
  }
  auto parsed = rpc::parse_response(answer->body);
  if (!parsed.ok()) return parsed.status();
  if (auto* err = std::get_if<rpc::ErrorAnswer>(&*parsed)) return err->status;
  return rpc::parse_info_answer(std::get<nlohmann::json>(*parsed));
}

}  // namespace onionswarm::client
