// The client's only network code: one request/answer exchange with a guard
// over a ZeroMQ DEALER socket secured with CURVE. Frames: docs/PROTOCOL.md,
// "Frames" (onion/wire.h).
//
// A Channel is one DEALER connected to one node with a fresh CURVE client key
// pair, made for one path and reused for every request on that path; a new
// path gets a new Channel (a new socket and a new key), so the guard cannot
// link two paths by their CURVE key.
//
// Thread safety: a Channel (its socket) belongs to the thread that uses it;
// not thread-safe. The zmq::context_t must outlive every Channel made from it.
#pragma once

#include <cstdint>

#include <zmq.hpp>

#include "onion/bytes.h"
#include "onion/status.h"
#include "swarm/directory.h"

namespace onionswarm::client {

class Channel {
 public:
  // Creates the socket and starts connecting (in the background; nothing
  // blocks). kInvalidArgument for an address ZeroMQ rejects, kInternal for
  // other ZeroMQ failures.
  static Result<Channel> open(zmq::context_t& context, const swarm::NodeDescriptor& node);

  Channel(Channel&&) noexcept = default;
  Channel& operator=(Channel&&) noexcept = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends onion_blob as a kOnionRequest with a fresh random request id and
  // waits up to timeout_ms for the kOnionResponse carrying the same id;
  // returns its body (the response blob, for onion::unwrap_response).
  // Answers with another request id (late answers to an earlier, timed-out
  // request on this socket) are dropped.
  // Errors:
  //   kTimeout      sent, but no matching answer in time (a hop after the
  //                 guard is slow or down; build a new path);
  //   kUnavailable  no completed connection (CURVE handshake) to the guard
  //                 within min(timeout_ms, 5 s), or sooner when the connect
  //                 was refused or the handshake failed: the guard is down
  //                 or does not hold the expected key; the connection was
  //                 lost while waiting for the answer (the guard went down:
  //                 the answer cannot come); or the wait was interrupted by a signal;
  //   the guard's code, message prefixed "guard: ", for a kError answer
  //                 (link-level: the blob did not peel, unknown version);
  //   kInvalidArgument for a malformed answer.
  Result<Bytes> round_trip(ByteView onion_blob, uint64_t timeout_ms);

  const swarm::NodeDescriptor& node() const { return node_; }

 private:
  Channel(zmq::socket_t socket, zmq::socket_t events, swarm::NodeDescriptor node)
      : socket_(std::move(socket)), events_(std::move(events)), node_(std::move(node)) {}

  // Reads the waiting connection events of socket_ and updates down_.
  void read_events();

  zmq::socket_t socket_;
  zmq::socket_t events_;  // PAIR receiving socket_'s connection events (zmq_socket_monitor)
  swarm::NodeDescriptor node_;
  // The last connection attempt was refused or failed its handshake, or the
  // connection was lost, and no handshake has succeeded since.
  bool down_ = false;
};

}  // namespace onionswarm::client
