// Operator commands against real onionswarm-node processes: check-config,
// status and metrics over the admin socket, --metrics FILE, backup of a
// running node and restore, --log-format json, and the schema version:
// refusal of a data dir written by a newer schema or damaged, migration of
// one written by the first release.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "node/storage.h"
#include "onion/encoding.h"
#include "swarm/rpc.h"
#include "test_support.h"

namespace onionswarm {
namespace {

namespace rpc = swarm::rpc;
using test::RawClient;
using test::TempDir;

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

test::CommandResult node_cmd(const std::vector<std::string>& args) {
  return test::node_command(args, std::chrono::seconds(30));
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  return test::wait_until(cond, timeout);
}

// One node whose network file lists just itself: started on a free port,
// then its own keys are written into the network file and it reloads it.
class SingleNode {
 public:
  SingleNode(const std::string& data_dir, const std::string& dir, std::vector<std::string> extra = {})
      : data_dir_(data_dir), network_(dir + "/network-" + std::filesystem::path(data_dir).filename().string() + ".json"),
        log_(dir + "/" + std::filesystem::path(data_dir).filename().string() + ".log") {
    write_text(network_, R"({"network_id":"operator-test","nodes":[]})");
    std::filesystem::remove(data_dir_ + "/node.json");
    std::vector<std::string> argv = {test::node_bin(), "run",     "--data-dir", data_dir_, "--listen",
                                     "tcp://127.0.0.1:0", "--network", network_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = test::spawn(argv, log_);
    if (!wait_for([&] { return std::filesystem::exists(data_dir_ + "/node.json"); })) return;
    auto info = nlohmann::json::parse(test::read_file(data_dir_ + "/node.json"), nullptr, false);
    if (info.is_discarded()) return;
    self_.address = info["address"];
    self_.ed25519 = *crypto::Ed25519PublicKey::from(*from_hex(info["ed25519"].get<std::string>()));
    self_.x25519 = *crypto::X25519PublicKey::from(*from_hex(info["x25519"].get<std::string>()));
    nlohmann::json net = {{"network_id", "operator-test"},
                          {"nodes", {{{"address", self_.address}, {"ed25519", info["ed25519"]},
                                      {"x25519", info["x25519"]}}}}};
    write_text(network_ + ".tmp", net.dump());
    std::filesystem::rename(network_ + ".tmp", network_);
    ::kill(pid_, SIGHUP);
    ok_ = wait_for([&] {
      auto s = status();
      return s.is_object() && s.value("nodes_known", 0) == 1;
    });
  }
  ~SingleNode() { stop(); }

  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int rc = test::reap(pid_);
    pid_ = -1;
    return rc;
  }
  nlohmann::json status() const { return test::node_status(data_dir_); }
  bool ok() const { return ok_; }
  pid_t pid() const { return pid_; }
  const swarm::NodeDescriptor& self() const { return self_; }
  std::string log() const { return test::read_file(log_); }

 private:
  std::string data_dir_, network_, log_;
  pid_t pid_ = -1;
  bool ok_ = false;
  swarm::NodeDescriptor self_;
};

using Account = test::TestAccount;

std::set<std::string> hashes_at(const Account& a, const swarm::NodeDescriptor& node) {
  auto got = test::retrieve_hashes(a, node);
  if (!got.ok()) ADD_FAILURE() << "retrieve failed: " << got.status().to_string();
  return got.ok() ? *got : std::set<std::string>{};
}

std::set<std::string> store_some(const Account& a, const swarm::NodeDescriptor& node, int n) {
  std::set<std::string> hashes;
  RawClient c(node);
  for (int i = 0; i < n; ++i) {
    rpc::StoreRequest s;
    s.account = a.id;
    s.timestamp_ms = test::now_ms();
    s.data = crypto::random_bytes(100 + size_t(i));
    auto r = c.request({node}, rpc::Request(s));
    if (!r.ok() || (*r)["status"] != "ok") {
      ADD_FAILURE() << "store failed: " << (r.ok() ? r->dump() : r.status().to_string());
      return hashes;
    }
    hashes.insert((*r)["hash"].get<std::string>());
  }
  return hashes;
}

// --- check-config --------------------------------------------------------------

TEST(CheckConfig, AcceptsAGoodConfigWithoutCreatingAnything) {
  TempDir dir;
  write_text(dir / "net.json", R"({"network_id":"t","nodes":[]})");
  write_text(dir / "node.json", R"({"data_dir":")" + (dir / "data") + R"(","network":")" + (dir / "net.json") +
                                    R"(","listen":"tcp://127.0.0.1:0"})");
  auto r = node_cmd({"check-config", "--config", dir / "node.json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("config OK"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "data")) << "check-config must not create the data dir";
}

TEST(CheckConfig, NamesEveryProblemWithItsPathAndWhatIsAccepted) {
  TempDir dir;
  write_text(dir / "net.json", R"({"network_id":"bad id!","nodes":[]})");
  write_text(dir / "file", "x");
  write_text(dir / "node.json", R"({"data_dir":")" + (dir / "file") + R"(","network":")" + (dir / "net.json") +
                                    R"(","listen":"tcp://nohost","workers":5000,"map_size":"big","colour":"blue"})");
  auto r = node_cmd({"check-config", "--config", dir / "node.json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string f = dir / "node.json";
  for (const std::string& want : std::vector<std::string>{
           f + ": /colour: unknown key (accepted keys: data_dir,", f + ": /listen: expected tcp://HOST:PORT",
        f + ": /workers: out of range: 5000 is not between 0 and 1024",
        f + ": /map_size: expected an integer, got a string", f + ": /data_dir: " + (dir / "file") +
        " exists but is not a directory", f + ": /network: " + (dir / "net.json") + ": /network_id: ",
        "6 problems found"}) {
    EXPECT_NE(r.err.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << r.err;
  }
}

TEST(CheckConfig, FlagsOverrideTheFileAndAreNamedAsFlags) {
  TempDir dir;
  write_text(dir / "node.json", R"({"workers":2})");
  auto r = node_cmd({"check-config", "--config", dir / "node.json", "--listen", "nonsense", "--network",
                     dir / "missing.json", "--data-dir", dir / "data"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--listen: expected tcp://HOST:PORT"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--network: " + (dir / "missing.json") + ": cannot open"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 problems found"), std::string::npos) << r.err;
}

TEST(CheckConfig, MissingRequiredKeysAndUnreadableFile) {
  TempDir dir;
  auto r = node_cmd({"check-config"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/data_dir: required: set \"data_dir\" in the config file or pass --data-dir"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("/network: required"), std::string::npos) << r.err;
  r = node_cmd({"check-config", "--config", dir / "nope.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir / "nope.json" + ": cannot open"), std::string::npos) << r.err;
  write_text(dir / "broken.json", "{\"workers\": ");
  r = node_cmd({"check-config", "--config", dir / "broken.json", "--data-dir", dir.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir / "broken.json" + ": /: "), std::string::npos) << r.err;
  // `run` names the first problem the same way, and each path once.
  r = node_cmd({"run", "--data-dir", dir / "data", "--listen", "tcp://127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: network: required: set \"network\" in the config file or pass --network"),
            std::string::npos)
      << r.err;
  r = node_cmd({"run", "--data-dir", dir / "data", "--listen", "tcp://127.0.0.1:0", "--network", dir / "none.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: " + (dir / "none.json") + ": cannot open"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(dir / "none.json" + ": " + (dir / "none.json")), std::string::npos) << r.err;
  write_text(dir / "file", "x");
  write_text(dir / "net.json", R"({"network_id":"t","nodes":[]})");
  r = node_cmd({"run", "--data-dir", dir / "file", "--listen", "tcp://127.0.0.1:0", "--network", dir / "net.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: data dir " + (dir / "file") + " is not a directory"), std::string::npos) << r.err;
}

TEST(CheckConfig, TheExampleConfigIsWellFormed) {
  // The example names /var/lib and /etc paths that need not exist here:
  // only problems about those paths are allowed.
  const std::string f = test::source_dir() + "/config/examples/node.json";
  auto r = node_cmd({"check-config", "--config", f});
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    const bool about_paths = line.rfind(f + ": /data_dir: ", 0) == 0 || line.rfind(f + ": /network: ", 0) == 0;
    // It listens on 0.0.0.0: where the node is reached is the operator's to say.
    const bool about_advertise = line.rfind(f + ": /advertise: required when listen (tcp://0.0.0.0:4500)", 0) == 0;
    EXPECT_TRUE(about_paths || about_advertise || line.rfind("onionswarm-node: ", 0) == 0) << line;
  }
  EXPECT_NE(r.err.find(f + ": /advertise: required when listen (tcp://0.0.0.0:4500)"), std::string::npos) << r.err;
}

// A node bound to every address and told no other would advertise
// tcp://0.0.0.0:PORT, where each peer reaches its own host: it does not
// start (nothing is created), and starts once the address is given.
TEST(CheckConfig, ANodeListeningOnEveryAddressStartsOnlyWithAdvertise) {
  TempDir dir;
  write_text(dir / "net.json", R"({"network_id":"t","nodes":[]})");
  const std::vector<std::string> base = {test::node_bin(), "run",      "--data-dir", dir / "data",
                                         "--listen",       "tcp://0.0.0.0:0", "--network",  dir / "net.json"};
  auto refused = test::run_command(base, "", std::chrono::seconds(60));
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("advertise: required when listen (tcp://0.0.0.0:0) binds every address"),
            std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "data"));
  std::vector<std::string> with_advertise = base;
  with_advertise.insert(with_advertise.end(), {"--advertise", "tcp://127.0.0.1:4500"});
  test::RunningNode node(test::spawn(with_advertise, dir / "node.log"));
  ASSERT_GT(node.pid, 0);
  ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(dir / "data/node.json"); }, std::chrono::seconds(60)))
      << test::read_file(dir / "node.log");
  auto info = nlohmann::json::parse(test::read_file(dir / "data/node.json"), nullptr, false);
  EXPECT_EQ(info["address"], "tcp://127.0.0.1:4500") << info.dump();
  EXPECT_EQ(node.stop(), 0);
}

// --- status, metrics, --metrics FILE, json logs ---------------------------------

TEST(Status, ReportsNodeCountsAndMessagesOverTheAdminSocket) {
  crypto::init();
  TempDir dir;
  SingleNode node(dir / "n1", dir.path(), {"--metrics", dir / "metrics.prom", "--log-format", "json"});
  ASSERT_TRUE(node.ok()) << node.log();
  struct stat sb {};
  ASSERT_EQ(::stat((dir / "n1/admin.sock").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);

  Account a;
  store_some(a, node.self(), 3);
  auto s = node.status();
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["nodes_known"], 1);
  EXPECT_EQ(s["messages"], 3);
  EXPECT_GT(s["bytes"].get<uint64_t>(), 300u);
  EXPECT_EQ(s["network_id"], "operator-test");
  EXPECT_EQ(s["node"]["address"], node.self().address);
  EXPECT_EQ(s["node"]["x25519"], to_hex(node.self().x25519.view()));
  EXPECT_EQ(s["requests"]["store"]["served"], 3);
  // Each store was acknowledged before the next was sent: at least one
  // durable commit each.
  EXPECT_GE(s["storage"]["commits"].get<uint64_t>(), 3u);
  EXPECT_TRUE(s["swarm"].is_object());
  EXPECT_EQ(s["swarm"]["peers"].size(), 0u);

  auto human = node_cmd({"status", "--data-dir", dir / "n1"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("stored       3 messages"), std::string::npos) << human.out;

  auto m = node_cmd({"metrics", "--data-dir", dir / "n1"});
  EXPECT_EQ(m.exit_code, 0) << m.err;
  for (const char* want : {"# TYPE onionswarm_requests_total counter",
                           "onionswarm_requests_total{method=\"store\",outcome=\"ok\"} 3",
                           "onionswarm_messages_stored 3", "onionswarm_nodes_known 1", "onionswarm_relayed_total ",
                           "onionswarm_relay_refused_total ", "onionswarm_replicas_sent_total ",
                           "onionswarm_uptime_seconds ", "onionswarm_swarm_members 1",
                           "onionswarm_storage_commits_total "}) {
    EXPECT_NE(m.out.find(want), std::string::npos) << "missing " << want << " in\n" << m.out;
  }
  // The metrics file is written at start and every 10 s; it holds the same
  // metric families.
  ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(dir / "metrics.prom"); }));
  EXPECT_NE(test::read_file(dir / "metrics.prom").find("# TYPE onionswarm_messages_stored gauge"), std::string::npos);

  EXPECT_EQ(node.stop(), 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "n1/admin.sock")) << "socket removed on clean stop";
  // --log-format json: every line of the log is one JSON object.
  int lines = 0;
  std::istringstream log(node.log());
  for (std::string line; std::getline(log, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j["ts"].is_string() && j["level"].is_string() && j["component"].is_string() && j["msg"].is_string())
        << line;
    EXPECT_EQ(line.find(to_hex(a.ed.public_key().view())), std::string::npos) << "no account keys in logs";
    ++lines;
  }
  EXPECT_GE(lines, 2);
}

// Operators see a node's threads by name (top -H, ps -L, perf): each
// thread the node starts names itself; the main thread keeps the program's
// name so that ps and pidof still find it.
TEST(Threads, EveryThreadOfARunningNodeHasItsName) {
  crypto::init();
  TempDir dir;
  SingleNode node(dir / "n1", dir.path(), {"--workers", "3"});
  ASSERT_TRUE(node.ok()) << node.log();
  std::multiset<std::string> names;
  std::string main_name;  // the task whose id is the pid
  const std::string tasks = "/proc/" + std::to_string(node.pid()) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::string name = test::read_file(task.path() / "comm");
    while (!name.empty() && name.back() == '\n') name.pop_back();
    names.insert(name);
    if (task.path().filename() == std::to_string(node.pid())) main_name = name;
  }
  EXPECT_EQ(main_name, "onionswarm-node");
  const std::set<std::string> own = {"onionswarm-node", "worker-1", "worker-2", "worker-3", "committer",
                                     "gossip",          "sync",     "admin",    "zap"};
  for (const auto& want : own) {
    // Under ThreadSanitizer its runtime's own thread also bears the program's name.
    const size_t extra = test::kThreadSanitizer && want == "onionswarm-node" ? 1 : 0;
    EXPECT_EQ(names.count(want), 1u + extra) << want;
  }
  for (const auto& name : names)
    EXPECT_TRUE(own.count(name) || name.rfind("ZMQbg/", 0) == 0) << "a thread without a name of its own: " << name;
  EXPECT_EQ(node.stop(), 0);
}

TEST(Status, SaysClearlyWhenNoNodeIsRunning) {
  TempDir dir;
  auto r = node_cmd({"status", "--data-dir", dir.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no node is running with data dir " + dir.path()), std::string::npos) << r.err;
}

// No thread takes a signal: SIGHUP, SIGINT and SIGTERM are blocked in
// every thread and the reactor reads them from a signalfd. A ZeroMQ call
// interrupted by one (EINTR, which cppzmq throws) aborted the node: seen in
// CI in the sync thread, and later in the reactor, where the devnet's
// SIGHUP arrived during a send. A burst of SIGHUPs (each a reload of the
// network file) while the node serves stores leaves every store answered,
// and the node still reloads and stops on a signal.
TEST(Signals, NoThreadTakesASignalAndABurstDuringStoresLeavesTheNodeServing) {
  crypto::init();
  TempDir dir;
  SingleNode node(dir / "n1", dir.path());
  ASSERT_TRUE(node.ok()) << node.log();
  constexpr uint64_t kOurs = (1u << (SIGHUP - 1)) | (1u << (SIGINT - 1)) | (1u << (SIGTERM - 1));
  const std::string proc = "/proc/" + std::to_string(node.pid());
  size_t threads = 0;
  for (const auto& task : std::filesystem::directory_iterator(proc + "/task")) {
    std::string name = test::read_file(task.path() / "comm");
    while (!name.empty() && name.back() == '\n') name.pop_back();
    const std::string status = test::read_file(task.path() / "status");
    const size_t at = status.find("SigBlk:");
    ASSERT_NE(at, std::string::npos) << name;
    const uint64_t blocked = std::stoull(status.substr(at + 7), nullptr, 16);
    EXPECT_EQ(blocked & kOurs, kOurs) << "thread " << name << " can take a signal";
    ++threads;
  }
  EXPECT_GT(threads, 5u);
  // The signalfd that takes them instead: its fdinfo lists the signals.
  size_t signalfds = 0;
  for (const auto& fd : std::filesystem::directory_iterator(proc + "/fdinfo")) {
    const std::string info = test::read_file(fd.path());
    const size_t at = info.find("sigmask:");
    if (at == std::string::npos) continue;
    ++signalfds;
    EXPECT_EQ(std::stoull(info.substr(at + 8), nullptr, 16) & kOurs, kOurs) << info;
  }
  EXPECT_EQ(signalfds, 1u);

  auto reloads = [&] {
    const std::string log = node.log();
    size_t n = 0;
    for (size_t at = log.find("network file reloaded"); at != std::string::npos;
         at = log.find("network file reloaded", at + 1))
      ++n;
    return n;
  };
  const size_t reloads_before = reloads();  // the one SingleNode asked for
  std::atomic<bool> storing{true};
  std::atomic<int> sent{0};
  std::thread burst([&] {
    for (int i = 0; i < 5000 && storing.load(); ++i) {
      if (::kill(node.pid(), SIGHUP) != 0) return;
      ++sent;
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  const auto hashes = store_some(Account(), node.self(), 200);
  storing = false;
  burst.join();
  EXPECT_EQ(hashes.size(), 200u) << node.log();
  EXPECT_GT(sent.load(), 0);
  auto s = node.status();
  ASSERT_TRUE(s.is_object()) << node.log();
  EXPECT_EQ(s["nodes_known"], 1);
  EXPECT_EQ(s["messages"], 200);
  // The SIGHUPs were taken: the network file was reloaded again (at most
  // once per reactor tick, about every 100 ms, so fewer times than signals
  // sent). Polled, bounded: the last tick may still be to come.
  for (int i = 0; i < 100 && reloads() <= reloads_before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GT(reloads(), reloads_before) << node.log();
  EXPECT_EQ(node.stop(), 0) << node.log();
}

// A second node on a data dir in use would serve the first one's identity
// at another address and take its admin socket over: it is refused before
// it touches anything.
TEST(DataDir, ASecondNodeOnADataDirInUseIsRefusedAndChangesNothing) {
  crypto::init();
  TempDir dir;
  SingleNode node(dir / "n1", dir.path());
  ASSERT_TRUE(node.ok()) << node.log();
  const std::string info_before = test::read_file(dir / "n1/node.json");
  auto second = test::node_command({"run", "--data-dir", dir / "n1", "--listen",
                                   "tcp://127.0.0.1:0", "--network", dir / "network-n1.json"},
                                  std::chrono::seconds(60));
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("data dir " + (dir / "n1") + " is in use by another onionswarm-node (pid " +
                            std::to_string(node.pid()) + ")"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(test::read_file(dir / "n1/node.json"), info_before);
  auto s = node.status();  // its admin socket is still its own
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["node"]["address"], node.self().address);
  // Once the first has stopped, the data dir is free again.
  EXPECT_EQ(node.stop(), 0);
  SingleNode again(dir / "n1", dir.path());
  EXPECT_TRUE(again.ok()) << again.log();
}

// A data dir whose store served one network is refused under another
// network's file, before anything is served or handed over.
TEST(DataDir, ANodeDoesNotCarryItsStoreIntoAnotherNetwork) {
  crypto::init();
  TempDir dir;
  {
    SingleNode node(dir / "n1", dir.path());
    ASSERT_TRUE(node.ok()) << node.log();
    store_some(Account(), node.self(), 2);
    EXPECT_EQ(node.stop(), 0);
  }
  write_text(dir / "other.json", R"({"network_id":"another-network","nodes":[]})");
  auto r = test::node_command({"run", "--data-dir", dir / "n1", "--listen", "tcp://127.0.0.1:0",
                              "--network", dir / "other.json"},
                             std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("belongs to network 'operator-test', not 'another-network'"), std::string::npos) << r.err;
  // Under its own network it starts, its messages all there.
  SingleNode again(dir / "n1", dir.path());
  ASSERT_TRUE(again.ok()) << again.log();
  EXPECT_EQ(again.status()["messages"], 2);
}

// --- backup and restore ----------------------------------------------------------

TEST(Backup, CopyOfARunningNodeRestoresEveryMessage) {
  crypto::init();
  TempDir dir;
  Account a;
  std::set<std::string> stored;
  std::string key_before;
  {
    SingleNode node(dir / "n1", dir.path());
    ASSERT_TRUE(node.ok()) << node.log();
    stored = store_some(a, node.self(), 20);
    ASSERT_EQ(stored.size(), 20u);
    auto r = node_cmd({"backup", "--data-dir", dir / "n1", "--to", dir / "copy"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The running node was not disturbed.
    EXPECT_EQ(hashes_at(a, node.self()), stored);
    // A second backup into the now non-empty directory is refused.
    r = node_cmd({"backup", "--data-dir", dir / "n1", "--to", dir / "copy"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("is not empty; refusing to overwrite"), std::string::npos) << r.err;
    key_before = test::read_file(dir / "n1/node.key");
    EXPECT_EQ(node.stop(), 0);
  }
  struct stat sb {};
  ASSERT_EQ(::stat((dir / "copy/node.key").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  EXPECT_EQ(test::read_file(dir / "copy/node.key"), key_before);

  SingleNode restored(dir / "copy", dir.path());
  ASSERT_TRUE(restored.ok()) << restored.log();
  EXPECT_EQ(restored.status()["messages"], 20);
  EXPECT_EQ(hashes_at(a, restored.self()), stored);
}

TEST(Backup, RefusesADataDirWithoutAStore) {
  TempDir dir;
  auto r = node_cmd({"backup", "--data-dir", dir.path(), "--to", dir / "copy"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("has no store"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "copy"));
}

// --- schema version ------------------------------------------------------------------

TEST(Schema, NodeRefusesADataDirWrittenByANewerSchema) {
  TempDir dir;
  const std::string db = dir / "data/db";
  std::filesystem::create_directories(db);
  {
    // What a future release would leave: meta/schema_version = ours + 1 (u32 BE).
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
    ASSERT_EQ(mdb_env_open(env, db.c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi meta;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
    const char key[] = "schema_version";
    uint8_t version[4] = {0, 0, 0, uint8_t(node::kSchemaVersion + 1)};
    MDB_val k{sizeof key - 1, const_cast<char*>(key)}, v{4, version};
    ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  write_text(dir / "net.json", R"({"network_id":"t","nodes":[]})");
  auto r = node_cmd({"run", "--data-dir", dir / "data", "--network", dir / "net.json", "--listen",
                     "tcp://127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1);
  const std::string want = "schema version " + std::to_string(node::kSchemaVersion + 1) +
                           " is newer than this build's " + std::to_string(node::kSchemaVersion);
  EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("upgrade the binary or restore a backup"), std::string::npos) << r.err;
}

// The first release's store (tests/vectors/datadir-schema1, schema 1) under
// a real node: migrated at start, every message served, deletes keep
// tombstones, expiry sweeps, and a restart does not migrate again.
TEST(Schema, NodeMigratesADataDirWrittenByTheFirstRelease) {
  crypto::init();
  TempDir dir;
  ASSERT_TRUE(test::copy_schema1_fixture(dir / "data/db"));
  const auto fixture = test::schema1_fixture_messages();
  const Account a = test::schema1_fixture_account(0x11), b = test::schema1_fixture_account(0x22);
  // Namespace 0 of A and B, as a signed retrieve at the node answers it:
  // neither the message deleted under schema 1 nor the expired one.
  std::set<std::string> want_a, want_b;
  const uint64_t now = test::now_ms();
  for (const auto& f : fixture) {
    if (f.deleted || f.ns != 0 || f.expiry_ms <= now) continue;
    if (f.account == a.id) want_a.insert(to_hex(f.hash.view()));
    if (f.account == b.id) want_b.insert(to_hex(f.hash.view()));
  }
  ASSERT_EQ(want_a.size(), 3u);
  ASSERT_EQ(want_b.size(), 2u);
  const auto& first = fixture.front();
  ASSERT_EQ(first.account, a.id);

  {
    SingleNode node(dir / "data", dir.path());
    ASSERT_TRUE(node.ok()) << node.log();
    EXPECT_NE(node.log().find("migrated the data dir from schema version 1 to " +
                              std::to_string(node::kSchemaVersion) + " in place"),
              std::string::npos)
        << node.log();
    EXPECT_EQ(node.status()["storage"]["schema_version"], node::kSchemaVersion);
    EXPECT_EQ(hashes_at(a, node.self()), want_a);
    EXPECT_EQ(hashes_at(b, node.self()), want_b);
    // The sweep (every 10 s) removes B's message that expired on 2026-11-28.
    EXPECT_TRUE(wait_for([&] { return node.status()["storage"]["messages"] == 8; }, std::chrono::seconds(40)))
        << node.status().dump();

    // A delete by the owner leaves a tombstone: storing it again answers exists.
    RawClient c(node.self());
    rpc::DeleteRequest d;
    d.account = a.id;
    d.timestamp_ms = test::now_ms();
    d.hashes = {first.hash};
    rpc::Request del = d;
    rpc::sign_request(del, a.ed);
    auto r = c.request({node.self()}, del);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ((*r)["status"], "ok") << r->dump();
    EXPECT_EQ((*r)["deleted"], 1) << r->dump();
    want_a.erase(to_hex(first.hash.view()));
    rpc::StoreRequest st;
    st.account = a.id;
    st.timestamp_ms = test::now_ms();
    st.data = first.data;
    auto again = c.request({node.self()}, rpc::Request(st));
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    EXPECT_EQ((*again)["result"], "exists") << again->dump();
    EXPECT_EQ(hashes_at(a, node.self()), want_a);
    EXPECT_EQ(node.stop(), 0);
  }

  const size_t first_run_log = test::read_file(dir / "data.log").size();  // the log is appended to
  SingleNode restarted(dir / "data", dir.path());
  ASSERT_TRUE(restarted.ok()) << restarted.log();
  const std::string second_run_log = restarted.log().substr(first_run_log);
  EXPECT_EQ(second_run_log.find("migrated the data dir"), std::string::npos) << second_run_log;
  EXPECT_EQ(restarted.status()["storage"]["schema_version"], node::kSchemaVersion);
  EXPECT_EQ(hashes_at(a, restarted.self()), want_a);
  EXPECT_EQ(hashes_at(b, restarted.self()), want_b);
}

// A damaged copy of the first release's store: the node exits 1 with a
// message naming the fault, and leaves the data dir as it was.
TEST(Schema, NodeRefusesADamagedDataDirWithAMessage) {
  TempDir dir;
  write_text(dir / "net.json", R"({"network_id":"t","nodes":[]})");
  struct Damage {
    const char* name;  // also the data dir's name
    std::function<void(MDB_txn*)> apply;
    const char* message;
  };
  const std::vector<Damage> damages = {
      {"corrupt-schema-record",
       [](MDB_txn* txn) {
         MDB_dbi meta;
         ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
         const char key[] = "schema_version";
         uint8_t bad[3] = {0, 0, 1};
         MDB_val k{sizeof key - 1, const_cast<char*>(key)}, v{3, bad};
         ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), 0);
       },
       "has a corrupt schema_version record (3 bytes, not 4)"},
      {"no-messages-database",
       [](MDB_txn* txn) {
         MDB_dbi messages;
         ASSERT_EQ(mdb_dbi_open(txn, "messages", 0, &messages), 0);
         ASSERT_EQ(mdb_drop(txn, messages, 1), 0);
       },
       "(schema version 1) has no `messages` database"},
  };
  for (const auto& d : damages) {
    SCOPED_TRACE(d.name);
    const std::string data = dir / d.name;
    ASSERT_TRUE(test::copy_schema1_fixture(data + "/db"));
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
    ASSERT_EQ(mdb_env_open(env, (data + "/db").c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    d.apply(txn);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    const std::string before = test::read_file(data + "/db/data.mdb");

    auto r = node_cmd({"run", "--data-dir", data, "--network", dir / "net.json", "--listen", "tcp://127.0.0.1:0"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(d.message), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("the data dir is damaged"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restore a backup"), std::string::npos) << r.err;
    EXPECT_EQ(test::read_file(data + "/db/data.mdb"), before) << "the refused data dir was changed";
  }
}

}  // namespace
}  // namespace onionswarm
