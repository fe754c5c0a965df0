// onionswarm-node: the service-node daemon. Parses flags and the config
// file, then wires storage, directory and server together.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "config/network_file.h"
#include "config/node_config.h"
#include "node/identity.h"
#include "node/log.h"
#include "node/server.h"
#include "node/storage.h"
#include "onion/crypto.h"
#include "onion/encoding.h"

namespace {

using namespace onionswarm;

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

extern "C" void on_signal(int sig) {
  if (sig == SIGHUP)
    g_reload = true;
  else
    g_stop = true;
}

void install_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

Status write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return error(Code::kIo, "cannot write " + tmp);
  bool ok = ::write(fd, content.data(), content.size()) == ssize_t(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return error(Code::kIo, "cannot write " + path);
  return {};
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "onionswarm-node: error: %s\n", msg.c_str());
  return 1;
}

int run(const config::NodeConfig& cfg) {
  auto level = node::parse_log_level(cfg.log_level);
  if (!level.ok()) return fail(level.status().message());
  node::set_log_level(*level);
  crypto::init();

  auto network = config::load_network_file(cfg.network);
  if (!network.ok()) return fail(cfg.network + ": " + network.status().message());
  auto keys = node::load_or_create_node_keys(cfg.data_dir);
  if (!keys.ok()) return fail(keys.status().message());

  node::StorageOptions so;
  so.path = cfg.data_dir + "/db";
  so.map_size = cfg.map_size;
  so.max_message_bytes = cfg.max_message_bytes;
  so.quota_messages = cfg.quota_messages;
  so.quota_bytes = cfg.quota_bytes;
  auto storage = node::Storage::open(so);
  if (!storage.ok()) return fail(storage.status().message());

  auto directory = std::make_shared<swarm::StaticDirectory>(network->nodes);
  node::ServerOptions opts;
  opts.listen = cfg.listen;
  opts.workers = cfg.workers;
  opts.relay_timeout_ms = cfg.relay_timeout_ms;
  opts.handler.network_id = network->network_id;
  opts.handler.swarm_size = network->swarm_size;
  const std::string ed_hex = to_hex(keys->ed25519.public_key().view());
  const std::string x_hex = to_hex(keys->x25519.public_key().view());

  node::Server server(std::move(opts), std::move(*keys), directory, std::move(*storage));
  if (auto st = server.start(); !st.ok()) return fail(st.message());

  nlohmann::json info = {{"address", server.endpoint()}, {"ed25519", ed_hex}, {"x25519", x_hex}, {"pid", ::getpid()}};
  if (auto st = write_file_atomic(cfg.data_dir + "/node.json", info.dump() + "\n"); !st.ok()) return fail(st.message());
  node::log_info("node", "started " ONIONSWARM_VERSION " on " + server.endpoint() + ", network " +
                             network->network_id + ", " + std::to_string(network->nodes.size()) + " nodes known");

  server.run(g_stop, [&] {
    if (!g_reload.exchange(false)) return;
    auto reloaded = config::load_network_file(cfg.network);
    if (!reloaded.ok()) {
      node::log_error("node", "network file reload failed, keeping the old one: " + reloaded.status().message());
      return;
    }
    directory->replace(reloaded->nodes);
    node::log_info("node", "network file reloaded: " + std::to_string(reloaded->nodes.size()) + " nodes");
  });
  node::log_info("node", "stopping: finishing in-flight commits");
  return 0;  // ~Server drains storage and closes LMDB
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("onionswarm-node", "onionswarm service node: relays onion layers and stores messages");
  options.custom_help("[run] [OPTIONS]");
  options.positional_help("");
  options.add_options()
      ("command", "subcommand (run)", cxxopts::value<std::string>()->default_value("run"))
      ("data-dir", "data directory (keys and LMDB store)", cxxopts::value<std::string>())
      ("listen", "ZeroMQ endpoint to bind, tcp://HOST:PORT (port 0: any free port)", cxxopts::value<std::string>())
      ("network", "network file (JSON: network id and nodes)", cxxopts::value<std::string>())
      ("config", "node config file (JSON); flags override it", cxxopts::value<std::string>())
      ("log-level", "error, warn, info or debug", cxxopts::value<std::string>())
      ("workers", "worker threads (0: one per core)", cxxopts::value<unsigned>())
      ("h,help", "show this help")
      ("version", "print the version");
  options.parse_positional({"command"});
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onionswarm-node: %s\n%s", e.what(), options.help().c_str());
    return 2;
  }
  if (args.count("help")) {
    std::cout << options.help() << "\nSubcommands:\n  run   run the node (default)\n";
    return 0;
  }
  if (args.count("version")) {
    std::cout << "onionswarm-node " ONIONSWARM_VERSION "\n";
    return 0;
  }
  const std::string command = args["command"].as<std::string>();
  if (command != "run") {
    std::fprintf(stderr, "onionswarm-node: unknown subcommand '%s' (try --help)\n", command.c_str());
    return 2;
  }

  config::NodeConfig cfg;
  if (args.count("config")) {
    auto loaded = config::load_node_config(args["config"].as<std::string>());
    if (!loaded.ok()) return fail(loaded.status().message());
    cfg = std::move(*loaded);
  }
  if (args.count("data-dir")) cfg.data_dir = args["data-dir"].as<std::string>();
  if (args.count("listen")) cfg.listen = args["listen"].as<std::string>();
  if (args.count("network")) cfg.network = args["network"].as<std::string>();
  if (args.count("log-level")) cfg.log_level = args["log-level"].as<std::string>();
  if (args.count("workers")) cfg.workers = args["workers"].as<unsigned>();
  if (auto st = config::validate_node_config(cfg); !st.ok()) return fail(st.message());

  install_signals();
  return run(cfg);
}
