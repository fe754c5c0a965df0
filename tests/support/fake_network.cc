#include "fake_network.h"

#include <algorithm>
#include <chrono>

#include <zmq_addon.hpp>

#include "onion/layer.h"
#include "onion/wire.h"

namespace onionswarm::test {

FakeNetwork::FakeNetwork(size_t nodes, Answer answer) : answer_(std::move(answer)) {
  crypto::init();
  for (size_t i = 0; i < nodes; ++i) {
    keys_.push_back(crypto::X25519KeyPair::generate());
    zmq::socket_t s(ctx_, zmq::socket_type::router);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::maxmsgsize, wire::kMaxFrameSize);
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(keys_.back().secret().data(), 32));
    s.bind("tcp://127.0.0.1:*");
    swarm::NodeDescriptor d;
    d.ed25519 = crypto::Ed25519KeyPair::generate().public_key();
    d.x25519 = keys_.back().public_key();
    d.address = s.get(zmq::sockopt::last_endpoint);
    descriptors_.push_back(d);
    sockets_.push_back(std::move(s));
  }
  thread_ = std::thread([this] { serve(); });
}

FakeNetwork::~FakeNetwork() {
  stop_ = true;
  thread_.join();
}

void FakeNetwork::serve() {
  while (!stop_) {
    std::vector<zmq::pollitem_t> items;
    for (auto& s : sockets_) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(50));
    for (size_t i = 0; i < sockets_.size(); ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(sockets_[i], std::back_inserter(frames), zmq::recv_flags::dontwait)) continue;
      if (frames.size() != 3) continue;  // routing id, header, body
      auto h = wire::decode_header(ByteView(frames[1].data<uint8_t>(), frames[1].size()));
      if (!h.ok() || h->type != wire::Type::kOnionRequest) continue;
      Bytes out = answer_onion(i, ByteView(frames[2].data<uint8_t>(), frames[2].size()));
      if (out.empty()) continue;
      const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kOnionResponse, h->request_id});
      std::array<zmq::const_buffer, 3> reply = {zmq::buffer(frames[0].data(), frames[0].size()), zmq::buffer(header),
                                                zmq::buffer(out)};
      (void)zmq::send_multipart(sockets_[i], reply, zmq::send_flags::dontwait);
    }
  }
}

Bytes FakeNetwork::answer_onion(size_t entry, ByteView blob) {
  std::vector<crypto::SecretBytes> response_keys;
  size_t at = entry;
  Bytes layer(blob.begin(), blob.end());
  for (size_t hop = 0; hop < onion::kMaxHops; ++hop) {
    auto peeled = onion::peel(keys_[at], layer);
    if (!peeled.ok()) return {};
    response_keys.push_back(std::move(peeled->response_key));
    if (peeled->kind == onion::LayerKind::kRelay) {
      auto next = std::find_if(descriptors_.begin(), descriptors_.end(),
                               [&](const swarm::NodeDescriptor& d) { return d.x25519 == peeled->next_hop; });
      if (next == descriptors_.end()) return {};
      at = size_t(next - descriptors_.begin());
      layer = std::move(peeled->payload);
      continue;
    }
    auto request = nlohmann::json::parse(peeled->payload.begin(), peeled->payload.end(), nullptr, false);
    ++requests_;
    Bytes out = onion::wrap_response(response_keys.back(), onion::ResponseKind::kFinal,
                                     answer_(request, descriptors_[at]));
    for (size_t i = response_keys.size() - 1; i-- > 0;)
      out = onion::wrap_response(response_keys[i], onion::ResponseKind::kForwarded, out);
    return out;
  }
  return {};
}

}  // namespace onionswarm::test
