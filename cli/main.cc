// onionswarm: the command line client. Argument parsing and printing only;
// everything else is the client library (client/client.h).
//
// Exit codes: 0 success, 1 error ("onionswarm: error: ..." on stderr),
// 2 usage error.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

// Positional arguments (message text) may contain commas: never split them.
#define CXXOPTS_VECTOR_DELIMITER '\0'
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "client/client.h"
#include "client/directory_cache.h"
#include "client/paths.h"
#include "client/envelope.h"
#include "client/groups.h"
#include "client/identity.h"
#include "client/local_store.h"
#include "client/mnemonic.h"
#include "config/network_file.h"
#include "onion/encoding.h"
#include "onion/heap.h"
#include "swarm/account.h"

namespace {

namespace fs = std::filesystem;
using namespace onionswarm;

constexpr uint64_t kDefaultTimeoutMs = 15000;
constexpr uint64_t kDefaultPingTimeoutMs = 5000;
constexpr int kWatchIntervalMs = 2000;
constexpr int kWatchStepMs = 100;
constexpr size_t kMaxPhraseLine = 4096;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

const char* kUsage = R"(usage: onionswarm [--home DIR] [--network FILE] COMMAND [ARGS]

commands:
  init --network FILE [--restore]   create an account (--restore: recovery phrase on stdin)
  id                                print this account's ID
  send ACCOUNT_ID [TEXT]            send TEXT (or stdin) through a 3-hop onion path
  inbox [--json] [--watch] [--all] [--show-path]
                                    fetch and print new messages (--all: everything
                                    stored locally, without fetching)
  path [--json]                     show the current path's guard, middle and exit
  group create NAME [ACCOUNT_ID...]  create a closed group (up to 100 members), invite accounts
  group invites                     fetch and list pending invitations
  group accept|decline GROUP_ID     join, or drop an invitation (the group is told)
  group send GROUP_ID [TEXT]        send TEXT (or stdin) to the group
  group list [--json]               groups this account is in
  group info GROUP_ID [--json]      name, members, admins, your role
  group add|remove GROUP_ID ACCOUNT_ID...   (admins only)
  group promote GROUP_ID ACCOUNT_ID         make a joined member an admin (admins only)
  group rename GROUP_ID NAME                (admins only)
  group leave GROUP_ID
  nodes [--json]                    refresh the cached directory (HOME/directory.json)
                                    from the guard and show the verified nodes
  ping --network FILE [--expect-nodes N]
                                    ask every node of FILE for `info` directly

global options:
  --home DIR        account directory (default $ONIONSWARM_HOME, else
                    ~/.local/share/onionswarm)
  --network FILE    network file (default HOME/network.json)
  --timeout-ms T    per-attempt timeout in ms (default 15000; ping 5000)
  -h, --help        this help
  --version         print the version
)";

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "onionswarm: error: %s\n", message.c_str());
  return 1;
}
int fail(const Status& s) { return fail(s.message()); }

// The status line on a terminal: "\r<text>" while working, erased when done.
// Does nothing when stderr is not a terminal.
class StatusLine {
 public:
  StatusLine() : tty_(::isatty(STDERR_FILENO) == 1) {}
  ~StatusLine() { clear(); }
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  void show(std::string_view text) {
    if (!tty_) return;
    std::fprintf(stderr, "\r\033[K%.*s", int(text.size()), text.data());
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool tty_;
  bool shown_ = false;
};

std::string default_home() {
  if (const char* h = std::getenv("ONIONSWARM_HOME"); h && *h) return h;
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw UsageError("set --home, $ONIONSWARM_HOME or $HOME");
  return (fs::path(home) / ".local" / "share" / "onionswarm").string();
}

std::string short_key(const crypto::X25519PublicKey& k) { return to_hex(k.view()).substr(0, 8); }

std::string format_time(uint64_t ms) {
  std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// Message text for a terminal: control characters (other than newline and
// tab) are shown as '?', so a message cannot drive the terminal.
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f ? '?' : c);
  }
  return out;
}

std::string dump_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_entry(const client::InboxEntry& e, bool json, const client::Groups* groups = nullptr) {
  const std::string hash = to_hex(e.hash.view());
  std::string group_name;
  if (!e.group.empty() && groups) group_name = groups->name_of(e.group).value_or("");
  if (json) {
    nlohmann::json j = {{"from", e.from}, {"timestamp", e.timestamp_ms}, {"hash", hash},
                        {"text", e.text}};
    if (!e.group.empty()) j["group"] = {{"id", e.group}, {"name", group_name}};
    if (!e.verified) {
      j["verified"] = false;
      j["error"] = e.error;
    }
    std::printf("%s\n", dump_line(j).c_str());
  } else if (e.verified && !e.group.empty()) {
    std::printf("[%s] [%s] %s: %s\n", format_time(e.timestamp_ms).c_str(), printable(group_name).c_str(),
                e.from.c_str(), printable(e.text).c_str());
  } else if (e.verified) {
    std::printf("[%s] %s: %s\n", format_time(e.timestamp_ms).c_str(), e.from.c_str(),
                printable(e.text).c_str());
  } else {
    std::printf("[%s] UNVERIFIED message %s: %s\n", format_time(e.timestamp_ms).c_str(),
                hash.c_str(), printable(e.error).c_str());
  }
  std::fflush(stdout);
}

// Reads stdin to its end, or until more than max bytes are read: more than
// max bytes returned means the input was longer than max.
Result<std::string> read_stdin(size_t max) {
  std::string out;
  char buf[4096];
  while (out.size() <= max) {
    size_t n = std::fread(buf, 1, sizeof buf, stdin);
    out.append(buf, n);
    if (n < sizeof buf) break;
  }
  if (std::ferror(stdin)) return error(Code::kIo, "cannot read standard input");
  return out;
}

// The text of `send` and `group send`: the argument, else stdin less one
// line ending. Empty text is refused: nothing would be sent but padding.
Result<std::string> message_text(const std::vector<std::string>& args, size_t index) {
  std::string text;
  if (index < args.size()) {
    text = args[index];
  } else {
    auto in = read_stdin(client::kMaxTextBytes + 2);  // room for "\r\n"
    if (!in.ok()) return in.status();
    text = std::move(in).value();
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (!text.empty() && text.back() == '\r') text.pop_back();
  }
  if (text.empty()) return error(Code::kInvalidArgument, "nothing to send: the message is empty");
  if (text.size() > client::kMaxTextBytes)
    return error(Code::kInvalidArgument, "message text longer than " + std::to_string(client::kMaxTextBytes) + " bytes");
  return text;
}

struct Globals {
  std::string home;
  std::optional<std::string> network;
  uint64_t timeout_ms = kDefaultTimeoutMs;
};

Result<config::NetworkFile> load_network(const Globals& g) {
  const std::string path = g.network ? *g.network : (fs::path(g.home) / "network.json").string();
  if (!g.network && !fs::exists(path)) {
    return error(Code::kNotFound, "no network file at " + path +
                                      " (run `onionswarm init --network FILE` or pass --network)");
  }
  return config::load_network_file(path);
}

uint64_t wall_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// The verification rules of the network file, at the client's clock.
swarm::VerifyRules directory_rules(const config::NetworkFile& net) {
  swarm::VerifyRules rules;
  rules.network_id = net.network_id;
  rules.now_ms = wall_ms();
  rules.operators = net.operators;
  return rules;
}

// The cached directory, refreshed from the client's guard when `when`
// says so (a failed refresh keeps the cache). The LocalStore (the guard
// setting) is open only for this call, before the Client opens it.
Result<client::DirectoryRefresh> refresh_directory(const Globals& g, const config::NetworkFile& net,
                                                   const swarm::VerifyRules& rules, client::RefreshWhen when,
                                                   uint64_t timeout_ms) {
  auto store = client::LocalStore::open(g.home);
  if (!store.ok()) return store.status();
  // With an identity the cache carries a MAC under its key, and a cache
  // whose MAC holds is not verified again (directory_cache.h).
  std::optional<crypto::SecretBytes> key;
  if (client::Identity::exists(g.home)) {
    auto id = client::Identity::load(g.home);
    if (!id.ok()) return id.status();
    key = client::directory_cache_key(id->ed25519());
  }
  return client::refresh_directory(g.home, **store, net.nodes, rules, when, timeout_ms, key ? &*key : nullptr);
}

Result<std::unique_ptr<client::Client>> open_client(const Globals& g, StatusLine& status) {
  auto net = load_network(g);
  if (!net.ok()) return net.status();
  client::ClientOptions o;
  o.home = g.home;
  // The cached, verified directory (`onionswarm nodes`), refreshed from the
  // guard when older than its bound, replaces the network file's seeds once
  // it holds enough nodes for a path.
  std::optional<client::CachedDirectory> cached;
  if (client::Identity::exists(g.home)) {
    auto r = refresh_directory(g, *net, directory_rules(*net), client::RefreshWhen::kWhenStale,
                               std::min(g.timeout_ms, client::kAutoRefreshTimeoutMs));
    if (!r.ok()) return r.status();
    if (!r->fetch_error.ok())
      std::fprintf(stderr, "onionswarm: warning: could not refresh the directory (%s); using the cached one\n",
                   r->fetch_error.message().c_str());
    cached = std::move(r->directory);
  }
  o.nodes = client::directory_view(cached, net->nodes);
  o.network_id = net->network_id;
  o.swarm_size = net->swarm_size;
  o.timeout_ms = g.timeout_ms;
  o.progress = [&status](std::string_view line) { status.show(line); };
  o.cancelled = [] { return g_stop != 0; };
  // Testing hook: pretend this machine's clock is off by N ms.
  if (const char* skew = std::getenv("ONIONSWARM_TEST_CLOCK_SKEW_MS"); skew && *skew) {
    char* end = nullptr;
    const long long v = std::strtoll(skew, &end, 10);
    if (*end != '\0' || v < -86'400'000LL || v > 86'400'000LL)
      return error(Code::kInvalidArgument, "ONIONSWARM_TEST_CLOCK_SKEW_MS must be an integer within a day");
    o.clock_skew_ms = v;
  }
  return client::Client::open(std::move(o));
}

int cmd_init(const Globals& g, bool restore) {
  if (!g.network) throw UsageError("init needs --network FILE");
  if (client::Identity::exists(g.home)) {
    return fail("an identity already exists in " + g.home);
  }
  auto net = config::load_network_file(*g.network);
  if (!net.ok()) return fail(net.status());
  std::optional<crypto::SecretBytes> seed;
  if (restore) {
    std::string line;
    // One line, bounded.
    int c;
    while (line.size() <= kMaxPhraseLine && (c = std::getchar()) != EOF && c != '\n') {
      line.push_back(char(c));
    }
    if (line.size() > kMaxPhraseLine) return fail("recovery phrase line too long");
    auto s = client::phrase_to_seed(line);
    if (!s.ok()) return fail("recovery phrase: " + s.status().message());
    seed = std::move(s).value();
  }
  if (Status s = client::ensure_home(g.home); !s.ok()) return fail(s);
  const std::string net_path = (fs::path(g.home) / "network.json").string();
  if (Status s = config::write_network_file_atomic(net_path, *net); !s.ok()) return fail(s);
  auto id = seed ? client::Identity::restore(g.home, seed->view()) : client::Identity::create(g.home);
  if (!id.ok()) return fail(id.status());
  std::printf("account: %s\n", id->account_id().to_string().c_str());
  if (!restore) {
    std::printf("recovery phrase: %s\n", client::seed_to_phrase(id->ed25519().seed()).c_str());
  }
  return 0;
}

int cmd_id(const Globals& g) {
  auto id = client::Identity::load(g.home);
  if (!id.ok()) return fail(id.status());
  std::printf("%s\n", id->account_id().to_string().c_str());
  return 0;
}

// "guard 1a2b3c4d → middle … → exit … → swarm node …" (first 8 hex of each X25519 key).
std::string format_route(const client::Route& r) {
  return "guard " + short_key(r.path.guard.x25519) + " → middle " + short_key(r.path.middle.x25519) + " → exit " +
         short_key(r.path.exit.x25519) + " → swarm node " + short_key(r.destination.x25519);
}

int cmd_send(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) throw UsageError("usage: send ACCOUNT_ID [TEXT]");
  auto to = swarm::AccountId::parse(args[0]);
  if (!to.ok()) throw UsageError("bad account ID: " + to.status().message());
  if (to->is_group())
    throw UsageError(args[0] + " is a group: send to it with `onionswarm group send " + args[0] + " TEXT`");
  auto text = message_text(args, 1);
  if (!text.ok()) return fail(text.status());
  StatusLine status;
  auto c = open_client(g, status);
  if (!c.ok()) return fail(c.status());
  auto sent = (*c)->send(*to, *text);
  status.clear();
  if (!sent.ok()) return fail("message not stored: " + sent.status().message());
  std::printf("hash: %s\n", to_hex(sent->hash.view()).c_str());
  std::printf("path: %s\n", format_route(sent->route).c_str());
  return 0;
}

int cmd_inbox(const Globals& g, bool json, bool watch, bool all, bool show_path) {
  if (all && watch) throw UsageError("--all and --watch do not go together");
  StatusLine status;
  auto c = open_client(g, status);
  if (!c.ok()) return fail(c.status());
  client::Client& cl = **c;
  client::Groups groups(cl);
  if (all) {
    auto entries = cl.store().list();
    if (!entries.ok()) return fail(entries.status());
    for (const auto& e : *entries) print_entry(e, json, &groups);
    return 0;
  }
  // 1:1 messages (invitations among them are recorded), then every group's.
  // Messages already kept in HOME/state are never fetched as new again, so
  // they go to *fresh (and get printed) even when a later step fails.
  auto fetch_all = [&](std::vector<client::InboxEntry>* fresh) -> Status {
    if (Status s = groups.fetch_direct(fresh); !s.ok()) return s;
    auto in_groups = groups.fetch();
    if (!in_groups.ok()) return in_groups.status();
    for (auto& e : *in_groups) fresh->push_back(std::move(e));
    return Status();
  };
  if (!watch) {
    std::vector<client::InboxEntry> fresh;
    const Status fetched = fetch_all(&fresh);
    status.clear();
    for (const auto& e : fresh) print_entry(e, json, &groups);
    if (!fetched.ok()) return fail(fetched);
    if (show_path && cl.last_route()) std::printf("fetched via: %s\n", format_route(*cl.last_route()).c_str());
    return 0;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // Runs until SIGINT/SIGTERM; each wait is bounded.
  while (!g_stop) {
    std::vector<client::InboxEntry> fresh;
    const Status fetched = fetch_all(&fresh);
    status.clear();
    for (const auto& e : fresh) print_entry(e, json, &groups);
    if (g_stop) break;
    if (!fetched.ok()) std::fprintf(stderr, "onionswarm: error: %s (retrying)\n", fetched.message().c_str());
    for (int waited = 0; waited < kWatchIntervalMs && !g_stop; waited += kWatchStepMs) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kWatchStepMs));
    }
  }
  return 0;
}

int cmd_path(const Globals& g, bool json) {
  StatusLine status;
  auto c = open_client(g, status);
  if (!c.ok()) return fail(c.status());
  auto p = (*c)->path();
  status.clear();
  if (!p.ok()) return fail(p.status());
  const std::pair<const char*, const swarm::NodeDescriptor*> hops[] = {
      {"guard", &p->guard}, {"middle", &p->middle}, {"exit", &p->exit}};
  if (json) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, node] : hops) {
      j[name] = {{"address", node->address},
                 {"x25519", to_hex(node->x25519.view())},
                 {"ed25519", to_hex(node->ed25519.view())}};
    }
    std::printf("%s\n", dump_line(j).c_str());
  } else {
    for (const auto& [name, node] : hops) {
      std::printf("%-7s %-24s %s\n", name, node->address.c_str(),
                  to_hex(node->x25519.view()).c_str());
    }
  }
  return 0;
}

// `nodes`: refresh HOME/directory.json from the client's guard and show it.
int cmd_nodes(const Globals& g, bool as_json) {
  auto net = load_network(g);
  if (!net.ok()) return fail(net.status());
  const swarm::VerifyRules rules = directory_rules(*net);
  std::error_code ec;
  fs::create_directories(g.home, ec);
  auto r = refresh_directory(g, *net, rules, client::RefreshWhen::kAlways, g.timeout_ms);
  if (!r.ok()) return fail(r.status());
  const bool stale = !r->fetched;
  const size_t refused = r->refused;
  if (!r->directory) return fail(r->fetch_error);
  if (stale)
    std::fprintf(stderr, "onionswarm: warning: could not refresh the directory (%s); showing the cached one\n",
                 r->fetch_error.message().c_str());
  const client::CachedDirectory* cached = &*r->directory;
  if (as_json) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& d : cached->descriptors) {
      nlohmann::json n = {{"ed25519", to_hex(d.node.ed25519.view())}, {"x25519", to_hex(d.node.x25519.view())},
                          {"address", d.node.address},  {"version", d.version},
                          {"expires_at", d.expires_at_ms}};
      if (d.endorsement) n["operator"] = to_hex(d.endorsement->operator_key.view());
      nodes.push_back(std::move(n));
    }
    std::printf("%s\n", nlohmann::json{{"network_id", net->network_id}, {"fetched_at", cached->fetched_at_ms},
                                        {"fetched_from", to_hex(cached->guard.view())},
                                        {"stale", stale},
                                        {"refused", refused},
                                        {"nodes", nodes}}
                            .dump(2)
                            .c_str());
    return 0;
  }
  std::printf("%zu nodes in network %s%s\n", cached->descriptors.size(), net->network_id.c_str(),
              stale ? " (cached, not refreshed)" : "");
  for (const auto& d : cached->descriptors)
    std::printf("%s  %-28s %-8s expires in %llds\n", to_hex(d.node.x25519.view()).substr(0, 16).c_str(),
                d.node.address.c_str(), d.version.c_str(),
                static_cast<long long>((int64_t(d.expires_at_ms) - int64_t(rules.now_ms)) / 1000));
  if (refused) std::printf("%zu descriptors refused (did not verify)\n", refused);
  return 0;
}

int cmd_ping(const Globals& g, std::optional<uint64_t> expect_nodes) {
  if (!g.network) throw UsageError("ping needs --network FILE");
  auto net = config::load_network_file(*g.network);
  if (!net.ok()) return fail(net.status());
  bool all_ok = true;
  for (const auto& node : net->nodes) {
    auto info = client::Client::ping(node, g.timeout_ms);
    if (!info.ok()) {
      all_ok = false;
      std::printf("fail %s %s\n", node.address.c_str(), info.status().message().c_str());
    } else if (expect_nodes && info->nodes != *expect_nodes) {
      all_ok = false;
      std::printf("fail %s nodes=%llu, expected %llu\n", node.address.c_str(),
                  static_cast<unsigned long long>(info->nodes),
                  static_cast<unsigned long long>(*expect_nodes));
    } else {
      std::printf("ok %s nodes=%llu\n", node.address.c_str(),
                  static_cast<unsigned long long>(info->nodes));
    }
    std::fflush(stdout);
  }
  return all_ok ? 0 : 1;
}

swarm::AccountId parse_id(const std::string& s, bool group) {
  auto id = swarm::AccountId::parse(s);
  if (!id.ok()) throw UsageError("bad account ID '" + s.substr(0, 80) + "': " + id.status().message());
  if (group && !id->is_group()) throw UsageError("a group ID starts with 03: " + s.substr(0, 80));
  if (!group && !id->is_user()) throw UsageError("an account ID starts with 05: " + s.substr(0, 80));
  return *id;
}

nlohmann::json info_json(const client::GroupInfo& i) {
  nlohmann::json members = nlohmann::json::array(), admins = nlohmann::json::array();
  for (const auto& m : i.members) members.push_back({{"id", m.to_string()}, {"joined", i.joined.count(m) > 0}});
  for (const auto& a : i.admins) admins.push_back(a.to_string());
  return {{"id", i.id.to_string()}, {"name", i.name},        {"members", members},
          {"admins", admins},       {"role", i.role()},      {"generation", i.generation},
          {"head_seq", i.head_seq}, {"head_hash", to_hex(i.head_hash.view())}};
}

int cmd_group(const Globals& g, const std::vector<std::string>& args, bool json) {
  if (args.empty()) throw UsageError("usage: group create|invites|accept|decline|send|list|info|add|remove|promote|rename|leave ...");
  const std::string& sub = args[0];
  auto need = [&](size_t min, size_t max, const char* usage) {
    if (args.size() < min || args.size() > max) throw UsageError(std::string("usage: group ") + usage);
  };
  std::vector<swarm::AccountId> accounts;
  if (sub == "create") {
    need(2, 2 + client::group::kMaxMembers, "create NAME [ACCOUNT_ID...]");
    for (size_t i = 2; i < args.size(); ++i) accounts.push_back(parse_id(args[i], false));
  } else if (sub == "invites" || sub == "list") {
    need(1, 1, (sub + "").c_str());
  } else if (sub == "accept" || sub == "decline" || sub == "info" || sub == "leave") {
    need(2, 2, (sub + " GROUP_ID").c_str());
  } else if (sub == "send") {
    need(2, 3, "send GROUP_ID [TEXT]");
  } else if (sub == "add" || sub == "remove") {
    need(3, 2 + client::group::kMaxMembers + 1, (sub + " GROUP_ID ACCOUNT_ID...").c_str());
    for (size_t i = 2; i < args.size(); ++i) accounts.push_back(parse_id(args[i], false));
  } else if (sub == "promote") {
    need(3, 3, "promote GROUP_ID ACCOUNT_ID");
    accounts.push_back(parse_id(args[2], false));
  } else if (sub == "rename") {
    need(3, 3, "rename GROUP_ID NAME");
  } else {
    throw UsageError("unknown group command '" + sub.substr(0, 40) + "'");
  }
  std::optional<swarm::AccountId> gid;
  if (sub != "create" && sub != "invites" && sub != "list") gid = parse_id(args[1], true);
  std::string text;
  if (sub == "send") {
    auto t = message_text(args, 2);
    if (!t.ok()) return fail(t.status());
    text = std::move(t).value();
  }

  StatusLine status;
  auto c = open_client(g, status);
  if (!c.ok()) return fail(c.status());
  client::Groups groups(**c);
  auto done = [&](const Status& s, const std::string& what) {
    status.clear();
    if (!s.ok()) return fail(what + ": " + s.message());
    return 0;
  };
  if (sub == "create") {
    auto id = groups.create(args[1], accounts);
    status.clear();
    if (!id.ok()) return fail("group not created: " + id.status().message());
    std::printf("%s\n", id->to_string().c_str());
    return 0;
  }
  // Invitations arrive as 1:1 messages: fetches them (and keeps any other
  // new 1:1 message, saying so).
  auto fetch_invites = [&]() -> Status {
    std::vector<client::InboxEntry> direct;
    Status s = groups.fetch_direct(&direct);
    status.clear();
    if (s.ok() && !direct.empty())
      std::fprintf(stderr, "%zu new 1:1 message(s) kept: see `onionswarm inbox --all`\n", direct.size());
    return s;
  };
  if (sub == "invites") {
    if (Status s = fetch_invites(); !s.ok()) return fail(s);
    auto list = groups.invites();
    if (!list.ok()) return fail(list.status());
    for (const auto& i : *list) {
      if (json) {
        std::printf("%s\n", dump_line({{"group", i.group.to_string()}, {"name", i.name}, {"from", i.from}}).c_str());
      } else {
        std::printf("%s %s (from %s)\n", i.group.to_string().c_str(), printable(i.name).c_str(), i.from.c_str());
      }
    }
    return 0;
  }
  if (sub == "accept" || sub == "decline") {
    Status notice;
    auto act = [&] { return sub == "accept" ? groups.accept(*gid) : groups.decline(*gid, &notice); };
    Status s = act();
    // Not fetched yet (no `group invites` or `inbox` since it was sent):
    // fetch the invitations and try once more.
    if (s.code() == Code::kNotFound) {
      if (Status f = fetch_invites(); !f.ok()) s = f;
      else s = act();
    }
    if (s.ok() && !notice.ok()) {
      status.clear();
      std::fprintf(stderr,
                   "onionswarm: warning: declined here, but the group was not told (%s); its admins list this "
                   "account as invited until they remove it\n",
                   notice.message().c_str());
    }
    return done(s, sub == "accept" ? "cannot join" : "cannot decline");
  }
  if (sub == "send") {
    auto sent = groups.send(*gid, text);
    status.clear();
    if (!sent.ok()) return fail("message not stored: " + sent.status().message());
    std::printf("hash: %s\n", to_hex(sent->hash.view()).c_str());
    return 0;
  }
  if (sub == "list" || sub == "info") {
    std::vector<client::GroupInfo> infos;
    if (sub == "list") {
      auto l = groups.list();
      if (!l.ok()) return fail(l.status());
      infos = std::move(*l);
    } else {
      auto i = groups.info(*gid);
      status.clear();
      if (!i.ok()) return fail(i.status());
      infos.push_back(std::move(*i));
    }
    for (const auto& i : infos) {
      if (json) {
        std::printf("%s\n", dump_line(info_json(i)).c_str());
      } else if (sub == "list") {
        std::printf("%s %s (%zu members, %s)\n", i.id.to_string().c_str(), printable(i.name).c_str(), i.members.size(),
                    i.role().c_str());
      } else {
        std::printf("group: %s\nname: %s\nrole: %s\nmembers (%zu):\n", i.id.to_string().c_str(),
                    printable(i.name).c_str(), i.role().c_str(), i.members.size());
        for (const auto& m : i.members)
          std::printf("  %s%s%s\n", m.to_string().c_str(),
                      std::binary_search(i.admins.begin(), i.admins.end(), m) ? " admin" : "",
                      i.joined.count(m) ? "" : " (invited)");
      }
    }
    return 0;
  }
  if (sub == "add") return done(groups.add(*gid, accounts), "not added");
  if (sub == "remove") {
    // Removing oneself is leaving, which also forgets the group here.
    if (std::find(accounts.begin(), accounts.end(), (*c)->identity().account_id()) != accounts.end()) {
      status.clear();
      return fail("not removed: to leave the group yourself, use `onionswarm group leave " + gid->to_string() + "`");
    }
    return done(groups.remove(*gid, accounts), "not removed");
  }
  if (sub == "promote") {
    std::vector<client::InboxEntry> fetched;
    Status s = groups.promote(*gid, accounts[0], &fetched);
    status.clear();
    if (!fetched.empty())
      std::fprintf(stderr, "%zu new group message(s) kept: see `onionswarm inbox --all`\n", fetched.size());
    return done(s, "not promoted");
  }
  if (sub == "rename") return done(groups.rename(*gid, args[2]), "not renamed");
  return done(groups.leave(*gid), "cannot leave");
}

int run(int argc, char** argv) {
  cxxopts::Options opts("onionswarm", "onion-routed private messaging");
  // clang-format off
  opts.add_options()
    ("home", "account directory", cxxopts::value<std::string>())
    ("network", "network file", cxxopts::value<std::string>())
    ("timeout-ms", "per-attempt timeout", cxxopts::value<uint64_t>())
    ("h,help", "help")
    ("version", "version")
    ("restore", "init: restore from a recovery phrase")
    ("json", "JSON output")
    ("watch", "inbox: keep fetching")
    ("all", "inbox: print every stored message")
    ("show-path", "inbox: also print the onion path the fetch took")
    ("expect-nodes", "ping: expected directory size", cxxopts::value<uint64_t>())
    ("command", "command", cxxopts::value<std::string>())
    ("args", "arguments", cxxopts::value<std::vector<std::string>>());
  // clang-format on
  opts.parse_positional({"command", "args"});
  auto res = opts.parse(argc, argv);

  if (res.count("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (res.count("version")) {
    std::printf("onionswarm %s\n", ONIONSWARM_VERSION);
    return 0;
  }
  if (!res.count("command")) throw UsageError("no command given");
  const std::string command = res["command"].as<std::string>();
  std::vector<std::string> args;
  if (res.count("args")) args = res["args"].as<std::vector<std::string>>();

  static const std::map<std::string, std::set<std::string>> kAllowed = {
      {"init", {"restore"}},
      {"id", {}},
      {"send", {}},
      {"inbox", {"json", "watch", "all", "show-path"}},
      {"path", {"json"}},
      {"ping", {"expect-nodes"}},
      {"group", {"json"}},
      {"nodes", {"json"}},
  };
  auto allowed = kAllowed.find(command);
  if (allowed == kAllowed.end()) throw UsageError("unknown command '" + command + "'");
  for (const char* o : {"restore", "json", "watch", "all", "show-path", "expect-nodes"}) {
    if (res.count(o) && !allowed->second.count(o)) {
      throw UsageError("--" + std::string(o) + " is not an option of '" + command + "'");
    }
  }
  if (command != "send" && command != "group" && !args.empty()) {
    throw UsageError("unexpected argument '" + args[0] + "' for '" + command + "'");
  }

  Globals g;
  g.home = res.count("home") ? res["home"].as<std::string>() : default_home();
  if (g.home.empty()) throw UsageError("--home must not be empty");
  if (res.count("network")) g.network = res["network"].as<std::string>();
  g.timeout_ms = command == "ping" ? kDefaultPingTimeoutMs : kDefaultTimeoutMs;
  if (res.count("timeout-ms")) {
    g.timeout_ms = res["timeout-ms"].as<uint64_t>();
    if (g.timeout_ms == 0 || g.timeout_ms > 600000) {
      throw UsageError("--timeout-ms must be 1..600000");
    }
  }

  if (command == "init") return cmd_init(g, res.count("restore") > 0);
  if (command == "id") return cmd_id(g);
  if (command == "send") return cmd_send(g, args);
  if (command == "inbox") {
    return cmd_inbox(g, res.count("json") > 0, res.count("watch") > 0, res.count("all") > 0,
                     res.count("show-path") > 0);
  }
  if (command == "path") return cmd_path(g, res.count("json") > 0);
  if (command == "group") return cmd_group(g, args, res.count("json") > 0);
  if (command == "nodes") return cmd_nodes(g, res.count("json") > 0);
  std::optional<uint64_t> expect;
  if (res.count("expect-nodes")) expect = res["expect-nodes"].as<uint64_t>();
  return cmd_ping(g, expect);
}

}  // namespace

int main(int argc, char** argv) {
  // Answers of up to 160 KiB are reused from the heap instead of faulted in
  // afresh at each layer (onion/heap.h); with glibc's defaults otherwise.
  onionswarm::heap::keep_frame_buffers();
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "onionswarm: error: %s\n(see onionswarm --help)\n", e.what());
    return 2;
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "onionswarm: error: %s\n(see onionswarm --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onionswarm: error: %s\n", e.what());
    return 1;
  }
}
