#include "client/transport.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
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
    try {
      socket.connect(node.address);
    } catch (const zmq::error_t& e) {
      return error(Code::kInvalidArgument, "cannot connect to " + node.address + ": " + e.what());
    }
    return Channel(std::move(socket), node);
  } catch (const zmq::error_t& e) {
    return zmq_failure(e, "cannot create a socket");
  }
}

Result<Bytes> Channel::round_trip(ByteView onion_blob, uint64_t timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const uint64_t request_id = random_request_id();
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  try {
    // Wait for a completed connection (ZMQ_IMMEDIATE): until then the guard
    // is unreachable, which the caller handles differently from a timeout.
    const uint64_t connect_ms = std::min(timeout_ms, kMaxConnectWaitMs);
    const auto connect_deadline = Clock::now() + std::chrono::milliseconds(connect_ms);
    bool writable = false;
    // Bounded by connect_deadline.
    while (!writable) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(connect_deadline - Clock::now());
      if (left.count() <= 0) break;
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLOUT, 0};
      zmq::poll(&item, 1, left);
      writable = (item.revents & ZMQ_POLLOUT) != 0;
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
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN)) continue;

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
