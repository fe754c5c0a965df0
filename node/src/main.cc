// onionswarm-node: the service-node daemon and its operator commands.
//
//   run           (default) run the node
//   check-config  validate the config and what it refers to, without starting
//   status        ask a running node (admin socket) how it is doing
//   backup        consistent copy of a (possibly running) node's data dir
//
// Only this file parses flags; only config/ reads the config file.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <cstring>
#include <map>
#include <set>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "config/network_file.h"
#include "config/node_config.h"
#include "node/admin.h"
#include "node/identity.h"
#include "node/log.h"
#include "node/metrics.h"
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

int fail(const std::string& msg) {
  std::fprintf(stderr, "onionswarm-node: error: %s\n", msg.c_str());
  return 1;
}

// Config keys that a flag can set, and the flag.
const std::map<std::string, std::string> kFlagOf = {
    {"data_dir", "data-dir"}, {"listen", "listen"},         {"network", "network"},
    {"log_level", "log-level"}, {"log_format", "log-format"}, {"workers", "workers"},
};

void apply_flags(const cxxopts::ParseResult& args, config::NodeConfig& cfg) {
  if (args.count("data-dir")) cfg.data_dir = args["data-dir"].as<std::string>();
  if (args.count("listen")) cfg.listen = args["listen"].as<std::string>();
  if (args.count("network")) cfg.network = args["network"].as<std::string>();
  if (args.count("log-level")) cfg.log_level = args["log-level"].as<std::string>();
  if (args.count("log-format")) cfg.log_format = args["log-format"].as<std::string>();
  if (args.count("workers")) cfg.workers = args["workers"].as<unsigned>();
}

// Config file (if any) plus flags; the first problem is fatal.
Result<config::NodeConfig> load_config(const cxxopts::ParseResult& args) {
  config::NodeConfig cfg;
  if (args.count("config")) {
    auto loaded = config::load_node_config(args["config"].as<std::string>());
    if (!loaded.ok()) return loaded.status();
    cfg = std::move(*loaded);
  }
  apply_flags(args, cfg);
  return cfg;
}

// --- check-config --------------------------------------------------------------

int check_config(const cxxopts::ParseResult& args) {
  config::NodeConfig cfg;
  std::vector<std::string> problems;
  std::set<std::string> reported;  // pointers with a problem already
  const std::string file = args.count("config") ? args["config"].as<std::string>() : "";
  auto from_flag = [&](const std::string& pointer) {
    auto f = kFlagOf.find(pointer.size() > 1 ? pointer.substr(1) : "");
    return f != kFlagOf.end() && args.count(f->second) > 0;
  };
  // Where a key's value came from, to name the problem where it can be fixed.
  auto where = [&](const std::string& pointer) -> std::string {
    if (from_flag(pointer)) return "--" + kFlagOf.at(pointer.substr(1));
    if (!file.empty()) return file + ": " + pointer;
    return pointer;
  };
  if (!file.empty()) {
    auto text = [&]() -> Result<std::string> {
      std::FILE* f = std::fopen(file.c_str(), "rb");
      if (!f) return error(Code::kIo, "cannot open: " + std::string(std::strerror(errno)));
      std::string out;
      char buf[65536];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && out.size() <= config::kMaxNodeConfigBytes)
        out.append(buf, n);
      std::fclose(f);
      return out;
    }();
    if (!text.ok()) {
      problems.push_back(file + ": " + text.status().message());
    } else {
      for (const auto& p : config::parse_node_config_all(*text, &cfg)) {
        problems.push_back(file + ": " + p.to_string());
        reported.insert(p.pointer);
      }
    }
  }
  apply_flags(args, cfg);
  bool document_bad = reported.count("/") > 0;
  for (const auto& p : config::node_config_problems(cfg)) {
    if (reported.count(p.pointer) || (document_bad && !from_flag(p.pointer))) continue;
    std::string msg = where(p.pointer) + ": " + p.message;
    if (p.message == "must not be empty") {
      const std::string key = p.pointer.substr(1);
      msg = where(p.pointer) + ": required: set \"" + key + "\" in the config file" +
            (kFlagOf.count(key) ? " or pass --" + kFlagOf.at(key) : "");
    }
    problems.push_back(msg);
    reported.insert(p.pointer);
  }
  for (const auto& p : config::node_config_environment_problems(cfg)) {
    if (reported.count(p.pointer)) continue;
    problems.push_back(where(p.pointer) + ": " + p.message);
  }
  if (problems.empty()) {
    std::printf("config OK: data_dir %s, listen %s, network %s\n", cfg.data_dir.c_str(), cfg.listen.c_str(),
                cfg.network.c_str());
    return 0;
  }
  for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
  std::fprintf(stderr, "onionswarm-node: %zu problem%s found (settings: docs/CONFIG.md, man onionswarm-node)\n",
               problems.size(), problems.size() == 1 ? "" : "s");
  return 1;
}

// --- status / backup ---------------------------------------------------------

int status(const cxxopts::ParseResult& args) {
  auto cfg = load_config(args);
  if (!cfg.ok()) return fail(cfg.status().message());
  if (cfg->data_dir.empty()) return fail("status needs --data-dir DIR (or --config FILE naming data_dir)");
  auto answer = node::admin_request(cfg->data_dir, "status");
  if (!answer.ok()) return fail(answer.status().message());
  auto j = nlohmann::json::parse(*answer, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("the node's admin answer is not JSON");
  if (j.contains("error")) return fail("node: " + j["error"].dump());
  if (args.count("json")) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << node::status_summary(j);
  }
  return 0;
}

int metrics(const cxxopts::ParseResult& args) {
  auto cfg = load_config(args);
  if (!cfg.ok()) return fail(cfg.status().message());
  if (cfg->data_dir.empty()) return fail("metrics needs --data-dir DIR (or --config FILE naming data_dir)");
  auto answer = node::admin_request(cfg->data_dir, "metrics");
  if (!answer.ok()) return fail(answer.status().message());
  std::cout << *answer;
  return 0;
}

int backup(const cxxopts::ParseResult& args) {
  auto cfg = load_config(args);
  if (!cfg.ok()) return fail(cfg.status().message());
  if (cfg->data_dir.empty()) return fail("backup needs --data-dir DIR (or --config FILE naming data_dir)");
  if (!args.count("to")) return fail("backup needs --to DEST (a new or empty directory)");
  const std::string dest = args["to"].as<std::string>();
  if (auto st = node::backup_data_dir(cfg->data_dir, dest); !st.ok()) return fail(st.message());
  std::printf("backup of %s written to %s (start a node with --data-dir %s to restore)\n", cfg->data_dir.c_str(),
              dest.c_str(), dest.c_str());
  return 0;
}

// --- run -----------------------------------------------------------------------

int run(const config::NodeConfig& cfg, const std::string& metrics_file) {
  auto level = node::parse_log_level(cfg.log_level);
  if (!level.ok()) return fail(level.status().message());
  node::set_log_level(*level);
  auto format = node::parse_log_format(cfg.log_format);
  if (!format.ok()) return fail(format.status().message());
  node::set_log_format(*format);
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
  if (!storage.ok()) {
    if (storage.status().code() == Code::kInvalidArgument) {
      return fail(so.path + ": " + storage.status().message() +
                  "; this data dir was written by a newer onionswarm-node: upgrade the binary or restore a backup "
                  "(docs/OPERATING.md)");
    }
    return fail(storage.status().message());
  }

  auto directory = std::make_shared<swarm::StaticDirectory>(network->nodes);
  node::ServerOptions opts;
  opts.listen = cfg.listen;
  opts.workers = cfg.workers;
  opts.relay_timeout_ms = cfg.relay_timeout_ms;
  opts.connection_rate_per_s = cfg.connection_rate;
  opts.connection_burst = 2 * cfg.connection_rate;
  opts.handler.account_rate_per_s = cfg.account_rate;
  opts.handler.account_burst = 4 * cfg.account_rate;
  opts.max_in_flight = cfg.max_in_flight;
  opts.max_queued_requests = cfg.max_queued_requests;
  opts.replay_cache_entries = cfg.replay_cache_entries;
  opts.handler.network_id = network->network_id;
  opts.handler.swarm_size = network->swarm_size;
  const std::string ed_hex = to_hex(keys->ed25519.public_key().view());
  const std::string x_hex = to_hex(keys->x25519.public_key().view());

  node::Server server(std::move(opts), std::move(*keys), directory, std::move(*storage));
  if (auto st = server.start(); !st.ok()) return fail(st.message());

  node::AdminOptions ao;
  ao.data_dir = cfg.data_dir;
  ao.network_id = network->network_id;
  ao.metrics_file = metrics_file;
  auto admin = node::AdminServer::start(std::move(ao), server);
  if (!admin.ok()) return fail(admin.status().message());

  // node.json last: whoever waits for it can also use the admin socket.
  nlohmann::json info = {{"address", server.endpoint()}, {"ed25519", ed_hex}, {"x25519", x_hex}, {"pid", ::getpid()}};
  if (auto st = node::write_file_atomic(cfg.data_dir + "/node.json", info.dump() + "\n"); !st.ok())
    return fail(st.message());
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
  admin->reset();  // stop the admin thread before the server it reads goes away
  return 0;        // ~Server drains storage and closes LMDB
}

constexpr const char* kCommands =
    "\nCommands:\n"
    "  run           run the node (default)\n"
    "  check-config  check the config file and flags, the data dir and the network file; exit 0 if usable\n"
    "  status        show a running node's health (--json: the raw JSON) via DATA_DIR/admin.sock\n"
    "  metrics       print a running node's metrics (Prometheus text format)\n"
    "  backup        copy a node's store and key to --to DEST (safe while the node runs)\n";

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("onionswarm-node", "onionswarm service node: relays onion layers and stores messages");
  options.custom_help("[run|check-config|status|metrics|backup] [OPTIONS]");
  options.positional_help("");
  options.add_options()
      ("command", "subcommand", cxxopts::value<std::string>()->default_value("run"))
      ("data-dir", "data directory (keys, LMDB store, admin.sock)", cxxopts::value<std::string>())
      ("listen", "ZeroMQ endpoint to bind, tcp://HOST:PORT (port 0: any free port)", cxxopts::value<std::string>())
      ("network", "network file (JSON: network id and nodes)", cxxopts::value<std::string>())
      ("config", "node config file (JSON); flags override it", cxxopts::value<std::string>())
      ("log-level", "error, warn, info or debug", cxxopts::value<std::string>())
      ("log-format", "text or json (one object per line)", cxxopts::value<std::string>())
      ("workers", "worker threads (0: one per core)", cxxopts::value<unsigned>())
      ("metrics", "run: rewrite FILE with Prometheus metrics every 10 s", cxxopts::value<std::string>())
      ("json", "status: print the JSON answer")
      ("to", "backup: destination directory (new or empty)", cxxopts::value<std::string>())
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
    std::cout << options.help() << kCommands;
    return 0;
  }
  if (args.count("version")) {
    std::cout << "onionswarm-node " ONIONSWARM_VERSION "\n";
    return 0;
  }
  const std::string command = args["command"].as<std::string>();
  if (command == "check-config") return check_config(args);
  if (command == "status") return status(args);
  if (command == "metrics") return metrics(args);
  if (command == "backup") return backup(args);
  if (command != "run") {
    std::fprintf(stderr, "onionswarm-node: unknown subcommand '%s' (try --help)\n", command.c_str());
    return 2;
  }

  auto cfg = load_config(args);
  if (!cfg.ok()) return fail(cfg.status().message());
  if (auto st = config::validate_node_config(*cfg); !st.ok()) return fail(st.message());
  install_signals();
  return run(*cfg, args.count("metrics") ? args["metrics"].as<std::string>() : "");
}
