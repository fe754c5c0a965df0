// The network file of a devnet (scripts/devnet) for the bench tools that
// send onion requests through it. Header-only; bench code only.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "bench_common.h"
#include "client/client.h"
#include "config/network_file.h"

namespace onionswarm::bench {

// The network file at `path`, if it names at least 4 nodes (3 relays and a
// destination) and every one of them on loopback; otherwise nullopt, with
// the reason on stderr.
inline std::optional<config::NetworkFile> load_devnet_network(const Tool& tool, const std::string& path) {
  auto net = config::load_network_file(path);
  if (!net.ok()) {
    std::fprintf(stderr, "%s: %s\n", tool.name, net.status().message().c_str());
    return std::nullopt;
  }
  if (net->nodes.size() < 4) {
    std::fprintf(stderr, "%s: the network needs at least 4 nodes (3 relays + destination)\n", tool.name);
    return std::nullopt;
  }
  for (const auto& n : net->nodes) {
    if (!is_loopback(n.address)) {
      std::fprintf(stderr, "%s: refusing non-loopback node address %s\n", tool.name, n.address.c_str());
      return std::nullopt;
    }
  }
  return std::move(*net);
}

// A client of the devnet `net` living in `home`: each request waits at most
// timeout_ms, and none starts after `deadline`.
inline client::ClientOptions devnet_client_options(const config::NetworkFile& net, const std::string& home,
                                                   uint64_t timeout_ms, Clock::time_point deadline) {
  client::ClientOptions o;
  o.home = home;
  o.nodes = net.nodes;
  o.network_id = net.network_id;
  o.swarm_size = net.swarm_size;
  o.timeout_ms = timeout_ms;
  o.cancelled = [deadline] { return Clock::now() >= deadline; };
  return o;
}

}  // namespace onionswarm::bench
