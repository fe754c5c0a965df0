// An in-process stand-in for a small network of nodes, for client tests
// that need nodes to answer in ways this build's nodes never do (an older
// build's answers, a faulty node). Real parts throughout: each node is a
// CURVE ROUTER on 127.0.0.1 with its own X25519 key, onions are peeled with
// onion::peel and answers wrapped with onion::wrap_response, so the client
// under test runs its real path, transport and unwrap code. What is not
// real is the relaying: every node's key is here, so an onion that enters
// at any node is peeled hop by hop in place rather than sent on to the next
// node, and the destination's answer comes from the test's function.
//
// Threading: one thread serves every socket; `answer` runs on it.
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "swarm/directory.h"

namespace onionswarm::test {

class FakeNetwork {
 public:
  // The answer body for a destination request (the request's JSON as the
  // client serialized it), and the node it was addressed to.
  using Answer = std::function<Bytes(const nlohmann::json& request, const swarm::NodeDescriptor& destination)>;

  FakeNetwork(size_t nodes, Answer answer);
  ~FakeNetwork();  // stops and joins the thread
  FakeNetwork(const FakeNetwork&) = delete;
  FakeNetwork& operator=(const FakeNetwork&) = delete;

  const std::vector<swarm::NodeDescriptor>& nodes() const { return descriptors_; }
  // Destination requests answered so far.
  size_t requests() const { return requests_.load(); }

 private:
  void serve();
  // The wrapped answer to an onion that arrived at node `entry`; empty when
  // a layer does not peel (the fake then answers nothing).
  Bytes answer_onion(size_t entry, ByteView blob);

  Answer answer_;
  std::vector<crypto::X25519KeyPair> keys_;
  std::vector<swarm::NodeDescriptor> descriptors_;
  zmq::context_t ctx_;
  std::vector<zmq::socket_t> sockets_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> requests_{0};
  std::thread thread_;
};

}  // namespace onionswarm::test
