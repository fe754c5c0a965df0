#include "client/transport.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "onion/crypto.h"
#include "onion/wire.h"
#include "swarm/json.h"

namespace onionswarm::client {
namespace {

// Late answers dropped before giving up on them (besides the deadline).
constexpr int kMaxStrayAnswers = 64;
// Longest wait for the CURVE handshake with the guard to complete.
constexpr uint64_t kMaxConnectWaitMs = 5000;
// Frames read from one message at most; the protocol uses two.
constexpr size_t kMaxFrames = 4;

Status zmq_failure(const zmq::error_t& e, const std::string& what) {
  if (e.num() == EINTR) return error(Code::kUnavailable, what + ": interrupted");
  return error(Code::kInternal, what + ": " + e.what());
}

Status link_error(ByteView body) {
  auto j = swarm::parse_json(as_chars(body));
  if (j.ok() && j->is_object() && j->contains("code") && (*j)["code"].is_string()) {
    std::string message = "guard: ";
    if (j->contains("message") && (*j)["message"].is_string()) {
      message += (*j)["message"].get<std::string>();
    } else {
      message += (*j)["code"].get<std::string>();
    }
    Code code = code_from_name((*j)["code"].get<std::string>());
    if (code == Code::kOk) code = Code::kInternal;
    return error(code, message);
  }
  return error(Code::kInvalidArgument, "guard: malformed error answer");
}

// Connection events of the guard's socket (zmq_socket_monitor) that mean it
// cannot be reached now: a refused connect, a failed CURVE handshake (the
// guard does not hold the expected key), a lost connection. Another
// ZMQ_EVENT_HANDSHAKE_SUCCEEDED means it can again.
constexpr int kDownEvents = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
// Monitor events read per drain at most (libzmq retries a refused connect
// every 100 ms, so few are ever waiting).
constexpr int kMaxEventsPerDrain = 256;

// Names each channel's monitor endpoint (unique within a context).
std::atomic<uint64_t> next_monitor_id{1};

uint64_t random_request_id() {
  uint8_t b[8];
  crypto::random_fill(b, sizeof b);
  return get_u64(b);
}

}  // namespace

Result<Channel> Channel::open(zmq::context_t& context, const swarm::NodeDescriptor& node) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    // Fresh CURVE client key for this path only.
    crypto::X25519KeyPair curve = crypto::X25519KeyPair::generate();
    socket.set(zmq::sockopt::curve_serverkey,
               zmq::const_buffer(node.x25519.data(), node.x25519.size()));
    socket.set(zmq::sockopt::curve_publickey,
               zmq::const_buffer(curve.public_key().data(), curve.public_key().size()));
    socket.set(zmq::sockopt::curve_secretkey,
               zmq::const_buffer(curve.secret().data(), curve.secret().size()));
    socket.set(zmq::sockopt::linger, 0);
    // Queue messages only on completed (handshaken) connections, so that
    // "writable" means the guard is reachable and accepted our key.
    socket.set(zmq::sockopt::immediate, 1);
    socket.set(zmq::sockopt::maxmsgsize, wire::kMaxFrameSize);
    // A guard that hangs loses the connection (and the request waiting on
    // it) within about 6 s, rather than the whole request timeout.
    socket.set(zmq::sockopt::heartbeat_ivl, wire::kHeartbeatIntervalMs);
    socket.set(zmq::sockopt::heartbeat_timeout, wire::kHeartbeatTimeoutMs);
    // The monitor is attached before connecting, so no event is missed.
    const std::string events_endpoint = "inproc://onionswarm-channel-events-" + std::to_string(next_monitor_id++);
    if (zmq_socket_monitor(socket.handle(), events_endpoint.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED | kDownEvents) != 0)
      throw zmq::error_t();
    zmq::socket_t events(context, zmq::socket_type::pair);
    events.set(zmq::sockopt::linger, 0);
    events.connect(events_endpoint);
    try {
      socket.connect(node.address);
    } catch (const zmq::error_t& e) {
      return error(Code::kInvalidArgument, "cannot connect to " + node.address + ": " + e.what());
    }
    return Channel(std::move(socket), std::move(events), node);
  } catch (const zmq::error_t& e) {
    return zmq_failure(e, "cannot create a socket");
  }
}

void Channel::read_events() {
  for (int i = 0; i < kMaxEventsPerDrain; ++i) {
    // Frame 1: uint16 event, uint32 value (host order); frame 2: the endpoint.
    zmq::message_t event_frame;
    if (!events_.recv(event_frame, zmq::recv_flags::dontwait)) return;
    for (bool more = event_frame.more(); more;) {
      zmq::message_t rest;
      if (!events_.recv(rest, zmq::recv_flags::dontwait)) break;
      more = rest.more();
    }
    if (event_frame.size() < sizeof(uint16_t)) continue;
    uint16_t event = 0;
    std::memcpy(&event, event_frame.data(), sizeof event);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      down_ = false;
    } else if (event & kDownEvents) {
      down_ = true;
    }
  }
}

Result<Bytes> Channel::round_trip(ByteView onion_blob, uint64_t timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const uint64_t request_id = random_request_id();
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  try {
    // Wait for a completed connection (ZMQ_IMMEDIATE): until then the guard
    // is unreachable, which the caller handles differently from a timeout.
    // A refused connect or a failed handshake ends the wait at once.
    const uint64_t connect_ms = std::min(timeout_ms, kMaxConnectWaitMs);
    const auto connect_deadline = Clock::now() + std::chrono::milliseconds(connect_ms);
    bool writable = false;
    // Bounded by connect_deadline.
    for (;;) {
      read_events();
      zmq::pollitem_t items[2] = {{socket_.handle(), 0, ZMQ_POLLOUT, 0}, {events_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(0));
      writable = (items[0].revents & ZMQ_POLLOUT) != 0;
      if (writable) {
        down_ = false;  // connected now, whatever older events said
        break;
      }
      if (down_) {
        return error(Code::kUnavailable, "cannot reach " + node_.address +
                                             ": connection refused, lost or its handshake failed");
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(connect_deadline - Clock::now());
      if (left.count() <= 0) break;
      zmq::poll(items, 2, left);
    }
    if (!writable) {
      return error(Code::kUnavailable, "cannot reach " + node_.address + " within " +
                                           std::to_string(connect_ms) + " ms");
    }
    Bytes header = wire::encode_header({wire::kVersion, wire::Type::kOnionRequest, request_id});
    auto sent = socket_.send(zmq::const_buffer(header.data(), header.size()),
                             zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    if (sent) {
      sent = socket_.send(zmq::const_buffer(onion_blob.data(), onion_blob.size()),
                          zmq::send_flags::dontwait);
    }
    if (!sent) return error(Code::kUnavailable, "cannot queue a request to the guard");

    int strays = 0;
    // Bounded by the deadline and by kMaxStrayAnswers.
    while (strays < kMaxStrayAnswers) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      zmq::pollitem_t items[2] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}, {events_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, left);
      if (items[1].revents & ZMQ_POLLIN) read_events();
      // The guard answers on the connection the request came in on: once
      // that is gone, so is the answer (even if we reconnect). Answers
      // already received are read first.
      if (down_ && !(items[0].revents & ZMQ_POLLIN))
        return error(Code::kUnavailable, "lost the connection to " + node_.address);
      if (!(items[0].revents & ZMQ_POLLIN)) continue;

      std::vector<zmq::message_t> frames;
      bool more = true;
      while (more) {
        zmq::message_t frame;
        if (!socket_.recv(frame, zmq::recv_flags::dontwait)) break;
        more = frame.more();
        if (frames.size() < kMaxFrames) frames.push_back(std::move(frame));
        // Frames past kMaxFrames are read and dropped; a message has a bounded
        // number of parts because ZMQ_MAXMSGSIZE bounds each and the peer is one node.
      }
      if (frames.size() != 2) {
        ++strays;
        continue;
      }
      auto h = wire::decode_header(ByteView(frames[0].data<uint8_t>(), frames[0].size()));
      if (!h.ok()) return error(h.status().code(), "guard: " + h.status().message());
      if (h->request_id != request_id) {
        ++strays;
        continue;
      }
      ByteView body(frames[1].data<uint8_t>(), frames[1].size());
      switch (h->type) {
        case wire::Type::kOnionResponse:
          return Bytes(body.begin(), body.end());
        case wire::Type::kError:
          return link_error(body);
        default:
          return error(Code::kInvalidArgument, "guard: unexpected answer type");
      }
    }
    return error(Code::kTimeout,
                 "no answer within " + std::to_string(timeout_ms) + " ms through " + node_.address);
  } catch (const zmq::error_t& e) {
    return zmq_failure(e, "request to " + node_.address);
  }
}

}  // namespace onionswarm::client
