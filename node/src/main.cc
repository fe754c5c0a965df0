// onionswarm-node: the service-node daemon and its operator commands.
//
//   run           (default) run the node
//   check-config  validate the config and what it refers to, without starting
//   status        ask a running node (admin socket) how it is doing
//   backup        consistent copy of a (possibly running) node's data dir
//
// Only this file parses flags; only config/ reads the config file.
#include <malloc.h>
#include <sys/signalfd.h>
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
#include <sodium.h>
#include <nlohmann/json.hpp>

#include "config/network_file.h"
#include "config/node_config.h"
#include "node/admin.h"
#include "node/gossip.h"
#include "node/identity.h"
#include "node/log.h"
#include "node/metrics.h"
#include "node/server.h"
#include "node/storage.h"
#include "onion/crypto.h"
#include "onion/encoding.h"
#include "onion/heap.h"
#include "swarm/descriptor.h"

namespace {

using namespace onionswarm;

std::atomic<int> g_stops{0};  // SIGINT/SIGTERM taken: 1 stops, 2 stops at once
std::atomic<bool> g_reload{false};

// The signals the node acts on: SIGINT and SIGTERM stop it (a second one
// ends the wait for requests in flight), SIGHUP reloads the network file.
sigset_t node_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  return set;
}

// Blocked in every thread, before the first one starts (they inherit the
// mask), and read by the reactor from a signalfd (take_signals). No thread
// ever runs a handler, so no system call is interrupted: a ZeroMQ call
// interrupted by one (EINTR, which cppzmq throws) aborted the node, seen in
// CI in the sync thread and later in the reactor itself, when the devnet's
// SIGHUP arrived during a send.
void block_signals() {
  std::signal(SIGPIPE, SIG_IGN);
  const sigset_t set = node_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// On the reactor, when the signalfd is readable: every pending signal.
void take_signals(int fd) {
  signalfd_siginfo si;
  while (::read(fd, &si, sizeof si) == ssize_t(sizeof si)) {
    if (si.ssi_signo == SIGHUP)
      g_reload = true;
    else
      ++g_stops;
  }
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "onionswarm-node: error: %s\n", msg.c_str());
  return 1;
}

// Config keys that a flag can set, and the flag.
const std::map<std::string, std::string> kFlagOf = {
    {"data_dir", "data-dir"}, {"listen", "listen"},         {"network", "network"},
    {"log_level", "log-level"}, {"log_format", "log-format"}, {"workers", "workers"},
    {"advertise", "advertise"}, {"endorsement", "endorsement"}, {"descriptor_lifetime_ms", "descriptor-lifetime-ms"},
    {"gossip_interval_ms", "gossip-interval-ms"},
};

void apply_flags(const cxxopts::ParseResult& args, config::NodeConfig& cfg) {
  if (args.count("data-dir")) cfg.data_dir = args["data-dir"].as<std::string>();
  if (args.count("listen")) cfg.listen = args["listen"].as<std::string>();
  if (args.count("network")) cfg.network = args["network"].as<std::string>();
  if (args.count("log-level")) cfg.log_level = args["log-level"].as<std::string>();
  if (args.count("log-format")) cfg.log_format = args["log-format"].as<std::string>();
  if (args.count("workers")) cfg.workers = args["workers"].as<unsigned>();
  if (args.count("advertise")) cfg.advertise = args["advertise"].as<std::string>();
  if (args.count("endorsement")) cfg.endorsement = args["endorsement"].as<std::string>();
  if (args.count("descriptor-lifetime-ms")) cfg.descriptor_lifetime_ms = args["descriptor-lifetime-ms"].as<uint64_t>();
  if (args.count("gossip-interval-ms")) cfg.gossip_interval_ms = args["gossip-interval-ms"].as<uint64_t>();
}

// A problem of the merged config, said so that the operator knows where to
// fix it: a missing required key names its config key and flag.
std::string problem_text(const config::ConfigProblem& p) {
  if (p.message != "must not be empty") return p.message;
  const std::string key = p.pointer.substr(1);
  return "required: set \"" + key + "\" in the config file" + (kFlagOf.count(key) ? " or pass --" + kFlagOf.at(key) : "");
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
    problems.push_back(where(p.pointer) + ": " + problem_text(p));
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

Result<std::string> read_small_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return error(Code::kIo, path + ": cannot open: " + std::strerror(errno));
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && out.size() <= 64 * 1024) out.append(buf, n);
  std::fclose(f);
  if (out.size() > 64 * 1024) return error(Code::kInvalidArgument, path + ": file too large");
  return out;
}

// --- endorse -------------------------------------------------------------------

// An operator endorses a node: signs (network id, node keys, valid until)
// with the Ed25519 seed in --operator-key (64 hex, like DATA_DIR/node.key).
int endorse(const cxxopts::ParseResult& args) {
  crypto::init();
  for (const char* need : {"operator-key", "node", "network", "to"})
    if (!args.count(need)) return fail(std::string("endorse needs --") + need);
  auto network = config::load_network_file(args["network"].as<std::string>());
  if (!network.ok()) return fail(network.status().message());
  auto key_text = read_small_file(args["operator-key"].as<std::string>());
  if (!key_text.ok()) return fail(key_text.status().message());
  std::string hex = key_text->substr(0, key_text->find_first_of(" \t\r\n"));
  auto seed = from_hex(hex, crypto::kSeedSize);
  if (!seed.ok() || seed->size() != crypto::kSeedSize) return fail("--operator-key: expected 64 hex characters");
  crypto::SecretBytes secret(*seed);
  sodium_memzero(seed->data(), seed->size());
  auto op = crypto::Ed25519KeyPair::from_seed(secret.view());
  if (!op.ok()) return fail(op.status().message());
  auto node_ed = from_hex(args["node"].as<std::string>(), crypto::kKeySize);
  if (!node_ed.ok() || node_ed->size() != crypto::kKeySize) return fail("--node: expected the node's ed25519 key, 64 hex");
  auto ed = *crypto::Ed25519PublicKey::from(*node_ed);
  auto x = crypto::ed25519_to_x25519(ed);
  if (!x.ok()) return fail("--node: not a valid ed25519 key");
  const uint64_t days = args.count("valid-days") ? args["valid-days"].as<uint64_t>() : 365;
  if (days < 1 || days > 3660) return fail("--valid-days: must be between 1 and 3660");
  swarm::EndorsementFile file;
  file.network_id = network->network_id;
  file.node_ed25519 = ed;
  file.node_x25519 = *x;
  file.endorsement = swarm::endorse(*op, file.network_id, ed, *x, node::system_clock_ms() + days * 86'400'000);
  const std::string to = args["to"].as<std::string>();
  if (auto st = node::write_file_atomic(to, swarm::endorsement_file_to_json(file).dump(2) + "\n"); !st.ok())
    return fail(st.message());
  std::printf("endorsement for node %s in network %s written to %s\n", args["node"].as<std::string>().c_str(),
              file.network_id.c_str(), to.c_str());
  return 0;
}

int run(const config::NodeConfig& cfg, const std::string& metrics_file) {
  auto level = node::parse_log_level(cfg.log_level);
  if (!level.ok()) return fail(level.status().message());
  node::set_log_level(*level);
  auto format = node::parse_log_format(cfg.log_format);
  if (!format.ok()) return fail(format.status().message());
  node::set_log_format(*format);
  crypto::init();
  // glibc gives each thread that allocates its own arena (up to 8 per core);
  // frames allocated by ZeroMQ's I/O thread and freed by workers then leave
  // free memory stranded in many heaps. A few arenas serve our handful of
  // threads and keep the footprint close to what is really in use.
  ::mallopt(M_ARENA_MAX, 4);
  // Frames are reused from the heap instead of faulted in afresh (onion/heap.h).
  if (!heap::keep_frame_buffers())
    node::log_warn("node", "glibc refused the heap settings for frames; running with its defaults");

  auto network = config::load_network_file(cfg.network);
  if (!network.ok()) return fail(network.status().message());  // names the file
  // Held until run() returns: nothing below may touch a data dir in use.
  auto lock = node::lock_data_dir(cfg.data_dir);
  if (!lock.ok()) return fail(lock.status().message());
  auto keys = node::load_or_create_node_keys(cfg.data_dir);
  if (!keys.ok()) return fail(keys.status().message());

  node::StorageOptions so;
  so.path = cfg.data_dir + "/db";
  so.map_size = cfg.map_size;
  so.max_message_bytes = cfg.max_message_bytes;
  so.quota_messages = cfg.quota_messages;
  so.quota_bytes = cfg.quota_bytes;
  so.network_id = network->network_id;
  auto storage = node::Storage::open(so);
  if (!storage.ok()) {
    if (storage.status().code() == Code::kInvalidArgument) {
      return fail(so.path + ": " + storage.status().message() +
                  "; this data dir was written by a newer onionswarm-node: upgrade the binary or restore a backup "
                  "(docs/OPERATING.md)");
    }
    return fail(storage.status().message());
  }
  if (const uint32_t from = (*storage)->migrated_from(); from != 0)
    node::log_info("storage", "migrated the data dir from schema version " + std::to_string(from) + " to " +
                                  std::to_string(node::kSchemaVersion) +
                                  " in place; older builds cannot open it now (docs/OPERATING.md)");
  if (const int stale = (*storage)->stale_readers_cleared(); stale > 0)
    node::log_info("storage", "cleared " + std::to_string(stale) + " LMDB reader slot(s) left by dead processes");

  node::GossipOptions go;
  go.network_id = network->network_id;
  go.operators = network->operators;
  go.descriptor_lifetime_ms = cfg.descriptor_lifetime_ms;
  go.interval_ms = cfg.gossip_interval_ms;
  if (!cfg.endorsement.empty()) {
    auto text = read_small_file(cfg.endorsement);
    if (!text.ok()) return fail(text.status().message());
    auto e = swarm::parse_endorsement_file(*text);
    if (!e.ok()) return fail(cfg.endorsement + ": " + e.status().message());
    if (e->network_id != network->network_id || e->node_ed25519 != keys->ed25519.public_key())
      return fail(cfg.endorsement + ": this endorsement is for another node or network");
    go.endorsement = e->endorsement;
  } else if (!network->operators.empty()) {
    return fail(cfg.network + ": the network is permissioned (it lists operators): pass --endorsement FILE or set "
                              "\"endorsement\" in the config file "
                              "(onionswarm-node endorse)");
  }
  auto directory = std::make_shared<node::GossipDirectory>(network->nodes, go.max_nodes);
  node::Gossip gossip(std::move(go), node::NodeKeys{keys->ed25519.clone(), keys->x25519.clone()}, directory);
  node::ServerOptions opts;
  opts.on_gossip = [&gossip](const crypto::X25519PublicKey& link, ByteView body) { return gossip.answer(link, body); };
  opts.listen = cfg.listen;
  opts.workers = cfg.workers;
  opts.relay_timeout_ms = cfg.relay_timeout_ms;
  opts.connection_rate_per_s = cfg.connection_rate;
  opts.connection_burst = 2 * cfg.connection_rate;
  opts.handler.account_rate_per_s = cfg.account_rate;
  opts.handler.account_burst = 4 * cfg.account_rate;
  opts.max_in_flight = cfg.max_in_flight;
  opts.max_queued_requests = cfg.max_queued_requests;
  opts.max_queued_bytes = cfg.max_queued_bytes;
  opts.replay_cache_entries = cfg.replay_cache_entries;
  opts.replica_eager_members = cfg.replica_eager_members;
  opts.replica_defer_ms = cfg.replica_defer_ms;
  opts.handler.network_id = network->network_id;
  opts.handler.swarm_size = network->swarm_size;
  const std::string ed_hex = to_hex(keys->ed25519.public_key().view());
  const std::string x_hex = to_hex(keys->x25519.public_key().view());

  node::Server server(std::move(opts), std::move(*keys), directory, std::move(*storage));
  if (auto st = server.start(); !st.ok()) return fail(st.message());
  const std::string advertised = cfg.advertise.empty() ? server.endpoint() : cfg.advertise;
  if (auto st = gossip.start(advertised); !st.ok()) return fail(st.message());

  node::AdminOptions ao;
  ao.data_dir = cfg.data_dir;
  ao.network_id = network->network_id;
  ao.metrics_file = metrics_file;
  ao.gossip = [&gossip] { return gossip.counters(); };
  auto admin = node::AdminServer::start(std::move(ao), server);
  if (!admin.ok()) return fail(admin.status().message());

  // Signals sent since block_signals are pending and read once the reactor runs.
  const sigset_t signals = node_signals();
  const int signal_fd = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) return fail(std::string("signalfd: ") + std::strerror(errno));
  if (auto st = server.watch_fd(signal_fd, [signal_fd] { take_signals(signal_fd); }); !st.ok())
    return fail(st.message());

  // node.json last: whoever waits for it can also use the admin socket.
  nlohmann::json info = {{"address", advertised}, {"listen", server.endpoint()}, {"ed25519", ed_hex}, {"x25519", x_hex}, {"pid", ::getpid()}};
  if (auto st = node::write_file_atomic(cfg.data_dir + "/node.json", info.dump() + "\n"); !st.ok())
    return fail(st.message());
  node::log_info("node", "started " ONIONSWARM_VERSION " on " + server.endpoint() + ", network " +
                             network->network_id + ", " + std::to_string(network->nodes.size()) + " seeds, advertising " + advertised);

  server.run(g_stops, [&] {
    if (!g_reload.exchange(false)) return;
    auto reloaded = config::load_network_file(cfg.network);
    if (!reloaded.ok()) {
      node::log_error("node", "network file reload failed, keeping the old one: " + reloaded.status().message());
      return;
    }
    directory->replace_seeds(reloaded->nodes);
    node::log_info("node", "network file reloaded: " + std::to_string(reloaded->nodes.size()) + " seeds");
  });
  ::close(signal_fd);
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
    "  backup        copy a node's store and key to --to DEST (safe while the node runs)\n"
    "  endorse       as a network operator, endorse a node: --operator-key FILE --node ED25519_HEX\n"
    "                --network FILE [--valid-days N] --to OUT (the node runs with --endorsement OUT)\n";

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("onionswarm-node", "onionswarm service node: relays onion layers and stores messages");
  options.custom_help("[run|check-config|status|metrics|backup|endorse] [OPTIONS]");
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
      ("to", "backup: destination directory; endorse: output file", cxxopts::value<std::string>())
      ("advertise", "address in this node's descriptor, tcp://HOST:PORT (default: the bound endpoint)",
       cxxopts::value<std::string>())
      ("endorsement", "operator endorsement file (permissioned networks)", cxxopts::value<std::string>())
      ("descriptor-lifetime-ms", "lifetime of this node's descriptor (refreshed at half)", cxxopts::value<uint64_t>())
      ("gossip-interval-ms", "time between gossip rounds", cxxopts::value<uint64_t>())
      ("operator-key", "endorse: the operator's Ed25519 seed file (64 hex)", cxxopts::value<std::string>())
      ("node", "endorse: the node's ed25519 key (hex)", cxxopts::value<std::string>())
      ("valid-days", "endorse: days the endorsement is valid (default 365)", cxxopts::value<uint64_t>())
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
  if (command == "endorse") return endorse(args);
  if (command != "run") {
    std::fprintf(stderr, "onionswarm-node: unknown subcommand '%s' (try --help)\n", command.c_str());
    return 2;
  }

  auto cfg = load_config(args);
  if (!cfg.ok()) return fail(cfg.status().message());
  if (auto problems = config::node_config_problems(*cfg); !problems.empty())
    return fail(problems.front().pointer.substr(1) + ": " + problem_text(problems.front()) +
                " (onionswarm-node check-config lists every problem)");
  block_signals();
  return run(*cfg, args.count("metrics") ? args["metrics"].as<std::string>() : "");
}
