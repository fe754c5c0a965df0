// The client: an account's identity and local state, and requests to the
// network through onion paths. The CLI is a thin layer over this.
//
// A request travels guard -> middle -> exit -> destination, where the
// destination is a member of the target account's swarm (client/paths.h).
// The path is kept for the life of the Client; the guard is also kept
// across runs (LocalStore setting "guard", x25519 hex).
//
// Failure handling in request():
//   - the destination answers kWrongSwarm: ask a member of the swarm named in
//     the answer (at most kMaxRedirects times);
//   - the guard does not answer or rejects the link: new path with a new
//     guard, retry once;
//   - a later hop reports an error (timeout, unreachable next hop) or the
//     answer does not unwrap: new middle and exit (same guard), retry once.
//   Stores are retried unchanged: the message hash is the same, so a store
//   that had in fact arrived answers "exists" and is never duplicated.
//   Nodes that failed (timed out, unreachable, refused a link) stay
//   suspected for kSuspectMs: later requests of this Client avoid them as
//   relays and destinations when avoidable, and a path through one is
//   rebuilt before it is used. A node that then carries an answered request
//   is cleared.
//   Signed requests (retrieve, delete) are re-signed with a fresh timestamp
//   on every attempt, because a node refuses a replayed signature.
//
// Thread safety: not thread-safe; use a Client from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/identity.h"
#include "client/local_store.h"
#include "client/paths.h"
#include "onion/crypto.h"
#include "onion/status.h"
#include "swarm/account.h"
#include "swarm/directory.h"
#include "swarm/rpc.h"

namespace onionswarm::client {

inline constexpr int kMaxRedirects = 2;
// How long a node that failed a request is avoided by later requests.
inline constexpr uint64_t kSuspectMs = 60'000;
// Retrieve pages fetched by one fetch() at most (each up to
// rpc::kDefaultRetrieveLimit messages).
inline constexpr int kMaxFetchPages = 1000;

struct ClientOptions {
  std::string home;                          // holds identity.key and state/
  std::vector<swarm::NodeDescriptor> nodes;  // the directory
  std::string network_id;
  size_t swarm_size = 5;                     // target swarm size of the network
  uint64_t timeout_ms = 15000;               // per request attempt
  // Short status lines ("building path…"); may be empty. Never carries keys
  // or message text.
  std::function<void(std::string_view)> progress;
  // Randomness for path choices; empty means secure_random().
  Random random;
  // Polled between attempts and after an interrupted wait; when it returns
  // true the request stops with kUnavailable "cancelled". May be empty.
  std::function<bool()> cancelled;
  // Added to this machine's clock, to test a client whose clock is wrong
  // (the CLI reads it from ONIONSWARM_TEST_CLOCK_SKEW_MS). 0 in normal use.
  int64_t clock_skew_ms = 0;
};

// The four nodes one request went through.
struct Route {
  Path path;
  swarm::NodeDescriptor destination;
};

// A sealed message, ready to store. Sending the same OutgoingMessage again
// (after a send that was not acknowledged) is safe: the message hash is the
// same, so the swarm stores it at most once and answers "exists".
struct OutgoingMessage {
  swarm::AccountId recipient;  // a 05 account
  Bytes sealed;                // the stored blob (client/envelope.h)
  crypto::Hash hash;           // BLAKE2b-256 of sealed
};

struct SendResult {
  crypto::Hash hash;     // BLAKE2b-256 of the stored blob
  bool existed = false;  // the swarm already had it (a retry of an earlier send)
  Route route;
};

// The retrieve cursor to keep after a fetch. last_seen_ms is the timestamp
// of the last message the fetch returned (none: the previous cursor stays);
// node_now_ms the answering node's clock; node_catching_up whether any page
// kept came from a node still catching up with its swarm (then the previous
// cursor stays too). See the comment in client.cc.
RetrieveCursor next_cursor(const RetrieveCursor& previous, std::optional<uint64_t> last_seen_ms,
                           uint64_t node_now_ms, bool node_catching_up);

class Client {
 public:
  // Loads HOME's identity (kNotFound without one) and opens its LocalStore.
  // kInvalidArgument for an empty node list.
  static Result<std::unique_ptr<Client>> open(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const swarm::AccountId& account_id() const;
  const Identity& identity() const;
  // The network's clock as this client knows it (local clock + learned offset).
  uint64_t network_now() const;
  LocalStore& store();

  // Seals text to `recipient` (a 05 account) and stores it in its swarm's
  // inbox (namespace 0). Ok only when a swarm member acknowledged it (new or
  // already stored). The same as send(seal(recipient, text)).
  Result<SendResult> send(const swarm::AccountId& recipient, std::string_view text);
  // Seals text for recipient (kInvalidArgument for a 03 account or a text
  // too large) without sending it.
  Result<OutgoingMessage> seal(const swarm::AccountId& recipient, std::string_view text) const;
  // Stores a sealed message in its recipient's inbox; retry with the same
  // message after a failure, never with a new seal of the same text.
  Result<SendResult> send(const OutgoingMessage& message);

  // Retrieves this account's inbox after the stored cursor, opens and
  // verifies every message, keeps the new ones in the LocalStore and returns
  // them (unverified ones with verified == false and the reason).
  // Control messages (client/group.h kControlPrefix: group invitations and
  // admin grants) are not kept in the inbox: they are marked seen and, when
  // control is given, appended to it; without it they are dropped.
  // Pages are kept one durable commit at a time, and a kept message is
  // never returned again, so every message this call kept is returned: when
  // a page fails after earlier pages kept new messages, the call returns
  // those (ok) and the next call resumes after them. An error means this
  // call kept nothing new; then nothing was appended to control either.
  Result<std::vector<InboxEntry>> fetch(std::vector<InboxEntry>* control = nullptr);

  // The current path, building one (and choosing the guard) if there is none.
  Result<Path> path();

  // The route of the last request that got an answer, if any.
  const std::optional<Route>& last_route() const;

  // One request to a member of target's swarm (see the header comment).
  // Returns the destination's "ok" answer; an error answer becomes a Status.
  Result<nlohmann::json> request(const swarm::AccountId& target, swarm::rpc::Request req);
  // The same, signed by signer instead of this account's key (group
  // requests: the group key or a member credential). Stores are signed too,
  // with a fresh timestamp on every attempt. pinned: ask the swarm member
  // with the smallest X25519 key (that has not failed during this request)
  // rather than a random one, so that compare-and-set changes of one group
  // meet at one node while it is up.
  Result<nlohmann::json> request(const swarm::AccountId& target, swarm::rpc::Request req,
                                 const crypto::Ed25519KeyPair& signer, bool pinned = false);

  // A retrieve through request(), asked for in the binary answer format
  // (one page of up to 100 messages of 1 KiB travels as one answer); the
  // answer is parsed strictly.
  Result<swarm::rpc::RetrieveAnswer> retrieve(const swarm::AccountId& target, swarm::rpc::RetrieveRequest req);
  Result<swarm::rpc::RetrieveAnswer> retrieve(const swarm::AccountId& target, swarm::rpc::RetrieveRequest req,
                                              const crypto::Ed25519KeyPair& signer, bool pinned = false);

  // Sends `info` to node directly as a one-hop onion (no path, no identity).
  static Result<swarm::rpc::InfoAnswer> ping(const swarm::NodeDescriptor& node,
                                             uint64_t timeout_ms);

 private:
  // Construction only through open() (the key type is private).
  struct Key {
    explicit Key() = default;
  };

 public:
  explicit Client(Key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onionswarm::client
