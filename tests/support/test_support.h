// Helpers for tests: temp dirs, child processes with bounded waits, devnets
// of real onionswarm-node processes (scripts/devnet), the CLI, and a raw
// onion client that talks to a node over real ZeroMQ CURVE sockets.
//
// Every wait here is bounded; nothing is killed by name.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "client/client.h"
#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/layer.h"
#include "onion/status.h"
#include "onion/wire.h"
#include "swarm/directory.h"
#include "swarm/rpc.h"

namespace onionswarm::test {

// True in a ThreadSanitizer build (scripts/sanitize --thread). The test
// binaries and the node are built with the same flags, so this also says
// how the node under test was built: TSan's runtime starts a background
// thread of its own in every process, named after the program.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1: killed after the timeout
  std::string out;
  std::string err;
};

// Runs argv with env additions, feeding stdin_data; kills it (SIGKILL, by
// pid) after timeout.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          const std::vector<std::string>& extra_env = {});

std::string node_bin();
std::string cli_bin();
std::string source_dir();

// `onionswarm --home HOME args...`
CommandResult cli(const std::string& home, const std::vector<std::string>& args, const std::string& stdin_data = "");

std::string read_file(const std::string& path);

// `onionswarm-node status --data-dir DATA_DIR --json` (the node's admin
// socket): the JSON object, or null when the node does not answer.
nlohmann::json node_status(const std::string& data_dir);

// The node config a test devnet's nodes read unless a test says otherwise:
// the defaults, except that a new store's deferred pushes (docs/PROTOCOL.md
// 8.2) go out in the reactor pass that queued them. Tests that fetch at one
// member right after storing at another then find the message there as
// before deferral; tests/integration/replication_test.cc covers the default
// window.
inline constexpr const char* kTestNodeConfig = R"({"replica_defer_ms":0})";

// A devnet of N real node processes, started by scripts/devnet and stopped
// (by pid) on destruction. node_config_json (may be empty: none) is written
// to a file every node reads (--config).
class Devnet {
 public:
  Devnet(int nodes, int swarm_size = 5, const std::string& node_config_json = kTestNodeConfig);
  ~Devnet();
  Devnet(const Devnet&) = delete;
  Devnet& operator=(const Devnet&) = delete;

  bool ok() const { return ok_; }
  const std::string& start_output() const { return start_output_; }
  const std::string& network_file() const { return network_file_; }
  const std::string& dir() const { return dir_.path(); }
  std::vector<swarm::NodeDescriptor> nodes() const;  // from the network file
  std::string node_dir(int i) const;                 // i in 1..N
  const std::string& node_config() const { return node_config_; }  // its path, or empty

 private:
  TempDir dir_;
  bool ok_ = false;
  std::string start_output_;
  std::string network_file_;
  std::string node_config_;
};

// A test suite whose tests share one devnet of kNodes nodes (swarm size
// kSwarmSize), started before the suite's first test and stopped after its
// last. Derived is the suite itself (CRTP), so every suite has its own; it
// may hide node_config_json() to give its nodes another config.
template <typename Derived, int kNodes, int kSwarmSize>
class DevnetSuite : public ::testing::Test {
 protected:
  static std::string node_config_json() { return kTestNodeConfig; }
  static void SetUpTestSuite() {
    crypto::init();
    net_ = std::make_unique<Devnet>(kNodes, kSwarmSize, Derived::node_config_json());
  }
  static void TearDownTestSuite() { net_.reset(); }
  void SetUp() override { ASSERT_TRUE(net_->ok()) << net_->start_output(); }

  static inline std::unique_ptr<Devnet> net_;
};

// Sends raw frames to one node over a CURVE DEALER (with a fresh key unless
// told otherwise), and
// onion requests through chosen hops. One socket per RawClient.
class RawClient {
 public:
  explicit RawClient(const swarm::NodeDescriptor& first_hop);
  // Connects with the CURVE key pair `as` (e.g. another node's, to speak as
  // that node) instead of a fresh one.
  RawClient(const swarm::NodeDescriptor& first_hop, const crypto::X25519KeyPair& as);
  ~RawClient();

  // Sends frames as one multipart message; no answer awaited.
  void send_frames(const std::vector<Bytes>& frames);
  // Waits for one multipart answer; nullopt after timeout, or as soon as
  // the cancel flag (set_cancel) is true.
  std::optional<std::vector<Bytes>> recv_frames(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // A flag another thread sets to end this client's waits early (checked
  // every 20 ms), e.g. once the test has killed the node it talks to.
  void set_cancel(const std::atomic<bool>* cancel) { cancel_ = cancel; }

  struct OnionAnswer {
    wire::Type type = wire::Type::kError;  // kOnionResponse or kError
    Bytes body;                            // kError: raw JSON; else the unwrapped body
    onion::ResponseKind kind = onion::ResponseKind::kFinal;
    size_t hop = 0;
  };
  // Builds an onion through hops (hops[0] must be first_hop) carrying
  // payload, sends it and unwraps the answer.
  Result<OnionAnswer> send_onion(const std::vector<swarm::NodeDescriptor>& hops, ByteView payload,
                            std::optional<uint64_t> layer_timestamp_ms = std::nullopt);
  // A request to `destination` through first_hop (and hops between).
  // Returns the destination's JSON answer.
  Result<nlohmann::json> request(const std::vector<swarm::NodeDescriptor>& hops, const swarm::rpc::Request& req);
  Result<nlohmann::json> request_raw(const std::vector<swarm::NodeDescriptor>& hops, std::string_view json_text);

 private:
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  uint64_t next_id_ = 1;
  const std::atomic<bool>* cancel_ = nullptr;
};

uint64_t now_ms();

// Calls cond every `every` until it returns true or timeout has passed, and
// once more at the deadline; whether it returned true. The one bounded poll
// loop of the tests: a wait for readiness, never a fixed sleep.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(50));

// `onionswarm-node args...`, killed after timeout.
CommandResult node_command(const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A fresh user account (05...) for tests.
struct TestAccount {
  crypto::Ed25519KeyPair ed = crypto::Ed25519KeyPair::generate();
  swarm::AccountId id = swarm::AccountId::user(ed.to_x25519().public_key());
};

// The schema-1 store fixture, tests/vectors/datadir-schema1 (see its
// README): a node store written by the first release's storage code.
struct FixtureMessage {
  swarm::AccountId account;
  uint16_t ns = 0;
  uint64_t timestamp_ms = 0;
  uint64_t expiry_ms = 0;
  crypto::Hash hash;
  Bytes data;
  bool deleted = false;  // deleted (without a tombstone) before the store was closed
};
inline constexpr uint64_t kFixtureWrittenMs = 1'795'780'800'000;  // its timestamps start here
// Its messages.json, in the order stored; a test failure and nothing when
// the file cannot be read.
std::vector<FixtureMessage> schema1_fixture_messages();
// Copies its data.mdb into db_dir, which must not exist (created mode 0700,
// the file 0600, no lock.mdb); false, with a test failure, on any error.
bool copy_schema1_fixture(const std::string& db_dir);
// Fixture account A (seed_byte 0x11) or B (0x22): Ed25519 seed = 32 times seed_byte.
TestAccount schema1_fixture_account(uint8_t seed_byte);

// Hex hashes of the account's namespace-0 messages at node, by a signed
// retrieve sent to it directly (a one-hop onion); an error when the node
// does not answer ok. catching_up, when given, is set to whether any page
// said "catching_up".
Result<std::set<std::string>> retrieve_hashes(const TestAccount& a, const swarm::NodeDescriptor& node,
                                              bool* catching_up = nullptr);

// Replication between the members of one swarm, seen from outside.
// The members of the account's swarm on net, as every node computes them.
std::vector<swarm::NodeDescriptor> swarm_members(const Devnet& net, int swarm_size, const swarm::AccountId& account);
// A fresh account whose swarm has at least min_members members (swarm
// sizes vary around the target with the nodes' keys).
TestAccount account_with_members(const Devnet& net, int swarm_size, size_t min_members);
// A namespace-0 store of `size` random bytes for owner, stamped now.
swarm::rpc::StoreRequest random_store(const TestAccount& owner, size_t size);
// Sends s to node directly (a one-hop onion); its whole answer, after a
// test failure unless it is ok.
nlohmann::json store_at(const swarm::NodeDescriptor& node, const swarm::rpc::StoreRequest& s);
// A delete of the hex hash from owner's inbox, signed by signer.
swarm::rpc::Request signed_delete(const TestAccount& owner, const std::string& hash,
                                  const crypto::Ed25519KeyPair& signer);
// Polls (bounded: 30 s) until every member's holding of hash equals held;
// the addresses of the members that still disagree at the deadline.
std::vector<std::string> members_disagreeing(const TestAccount& a, const std::vector<swarm::NodeDescriptor>& members,
                                             const std::string& hash, bool held);

// What a test sets on its Client (ClientOptions' fields of the same names).
struct ClientHooks {
  uint64_t timeout_ms = 0;  // 0: ClientOptions' default
  std::function<bool()> cancelled;
  std::function<void(std::string_view)> progress;
  int64_t clock_skew_ms = 0;
};
// A Client on home for the network in network_file; a home without an
// identity gets a new one first. nullptr, with a test failure, when it
// does not open.
// The texts of fetched messages, each checked to be verified (a test
// failure names the ones that are not).
std::set<std::string> verified_texts(const std::vector<client::InboxEntry>& entries);

std::unique_ptr<client::Client> open_client(const std::string& network_file, const std::string& home,
                                            ClientHooks hooks = {});

// Starts argv in the background with stdout/stderr appended to log_path.
// Returns the pid (the caller stops it by pid and reaps it with reap()).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path);
// Waits (bounded) for pid to exit; returns its exit status (or -1 if
// killed by a signal / still running after timeout).
int reap(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Reads the pid a devnet recorded for node i.
pid_t devnet_pid(const Devnet& net, int i);

// Starts node i of the devnet again (after it was stopped) on its old
// address and data dir, with extra arguments (e.g. --config FILE); its log
// is appended to log_path (default: NODE_DIR/node.log).
// Returns the pid of the new process, a child of the caller, once it has
// written its node.json (or after 30 s); -1 when it exited at start (its
// log on stderr). A start that failed only because another process held
// the port for a moment (kernel-picked ports are ephemeral ones) is tried
// again within those 30 s.
pid_t restart_devnet_node(const Devnet& net, int i, const std::vector<std::string>& extra_args = {},
                          const std::string& log_path = "");
// What restart_devnet_node does, for any node command line: argv runs a
// node on data_dir whose --listen address is the one it had before; log
// gets its output. Same returns and the same bounded retry.
pid_t start_node_on_old_port(const std::vector<std::string>& argv, const std::string& data_dir,
                             const std::string& log);
// Waits (bounded) until pid no longer exists: reaped if it is our child,
// else gone from the process table. True when it is gone.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Stops the devnet's node i with sig (SIGTERM; SIGKILL for a crash), by its
// recorded pid, and waits until it is gone, so a test can restart it its own
// way; true when it is gone.
bool stop_devnet_node(const Devnet& net, int i, int sig = SIGTERM);
// A node the test started (a child): on destruction SIGTERM, then SIGKILL
// if it has not exited within reap()'s timeout.
struct RunningNode {
  pid_t pid = -1;
  RunningNode() = default;
  explicit RunningNode(pid_t p) : pid(p) {}
  RunningNode(const RunningNode&) = delete;
  RunningNode& operator=(const RunningNode&) = delete;
  ~RunningNode();
  // SIGTERM and reap: the exit status (0 for a clean stop), -1 on a signal
  // or timeout.
  int stop();
};
// A "stop while a request waits" step (Server::finish_in_flight): `hung`
// is a node the test has stopped (SIGSTOP) so that a request node i of net
// took waits for it. Waits (bounded) until node i's `status --json` shows
// that request (the number at JSON pointer `waiting` is at least 1), sends
// node i SIGTERM, waits until its log says it is finishing 1 request, then
// lets `hung` run again (SIGCONT, also on failure). With second_signal it
// first sends node i a second SIGTERM and waits until its log says it
// stopped at once, so `hung` runs again only after that. Empty when all
// went so; else what did not.
std::string stop_while_waiting(const Devnet& net, int i, pid_t hung, const std::string& waiting,
                               bool second_signal = false);
// Waits (bounded) until node answers info; true when it did.
bool wait_answering(const swarm::NodeDescriptor& node, std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace onionswarm::test
