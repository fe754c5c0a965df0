#include "test_support.h"

#include <algorithm>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <zmq_addon.hpp>

#include "client/identity.h"
#include "config/network_file.h"
#include "onion/encoding.h"
#include "onion/layer.h"
#include "swarm/swarms.h"

extern char** environ;

namespace onionswarm::test {

uint64_t now_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout, std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(every);
  }
  return cond();
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/onionswarm-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) std::abort();
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string node_bin() { return ONIONSWARM_NODE_BIN; }
std::string cli_bin() { return ONIONSWARM_CLI_BIN; }
std::string source_dir() { return ONIONSWARM_SOURCE_DIR; }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_data,
                          std::chrono::milliseconds timeout, const std::vector<std::string>& extra_env) {
  CommandResult result;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return result;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::setpgid(0, 0);  // own process group, so a timeout kills its children too
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (!stdin_data.empty()) {
    [[maybe_unused]] auto n = ::write(in[1], stdin_data.data(), stdin_data.size());
  }
  ::close(in[1]);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      break;
    }
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    if (::poll(fds, 2, int(std::min<int64_t>(left.count(), 200))) < 0 && errno != EINTR) break;
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP))) {
      ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) out_open = false;
      else result.out.append(buf, size_t(n));
    }
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP))) {
      ssize_t n = ::read(err[0], buf, sizeof buf);
      if (n <= 0) err_open = false;
      else result.err.append(buf, size_t(n));
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  // After both pipes closed the process is exiting; bound the wait anyway.
  for (int i = 0; i < 100; ++i) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return result;
    }
    if (std::chrono::steady_clock::now() > deadline) ::kill(-pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return result;
}

CommandResult node_command(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {node_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, "", timeout);
}

CommandResult cli(const std::string& home, const std::vector<std::string>& args, const std::string& stdin_data) {
  std::vector<std::string> argv = {cli_bin(), "--home", home};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, stdin_data, std::chrono::seconds(90));
}

Devnet::Devnet(int nodes, int swarm_size, const std::string& node_config_json) {
  std::vector<std::string> argv = {"/bin/bash", source_dir() + "/scripts/devnet", "start", "--nodes",
                                   std::to_string(nodes), "--dir", dir_.path() + "/net", "--swarm-size",
                                   std::to_string(swarm_size)};
  if (!node_config_json.empty()) {
    node_config_ = dir_.path() + "/node-config.json";
    std::ofstream(node_config_) << node_config_json;
    argv.insert(argv.end(), {"--node-config", node_config_});
  }
  auto r = run_command(argv, "", std::chrono::seconds(150),
                       {"ONIONSWARM_NODE_BIN=" + node_bin(), "ONIONSWARM_CLI_BIN=" + cli_bin()});
  start_output_ = r.out + r.err;
  ok_ = r.exit_code == 0;
  network_file_ = dir_.path() + "/net/network.json";
}

Devnet::~Devnet() {
  run_command({"/bin/bash", source_dir() + "/scripts/devnet", "stop", "--dir", dir_.path() + "/net"}, "",
              std::chrono::seconds(120));
}

std::string Devnet::node_dir(int i) const { return dir_.path() + "/net/node" + std::to_string(i); }

nlohmann::json node_status(const std::string& data_dir) {
  auto r = node_command({"status", "--data-dir", data_dir, "--json"}, std::chrono::seconds(20));
  if (r.exit_code != 0) return nullptr;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_object() ? j : nlohmann::json(nullptr);
}

std::vector<swarm::NodeDescriptor> Devnet::nodes() const {
  std::vector<swarm::NodeDescriptor> out;
  auto j = nlohmann::json::parse(read_file(network_file_), nullptr, false);
  if (j.is_discarded()) return out;
  for (const auto& n : j["nodes"]) {
    swarm::NodeDescriptor d;
    d.address = n["address"].get<std::string>();
    auto ed = from_hex(n["ed25519"].get<std::string>());
    auto x = from_hex(n["x25519"].get<std::string>());
    d.ed25519 = *crypto::Ed25519PublicKey::from(*ed);
    d.x25519 = *crypto::X25519PublicKey::from(*x);
    out.push_back(d);
  }
  return out;
}

RawClient::RawClient(const swarm::NodeDescriptor& first_hop)
    : RawClient(first_hop, crypto::X25519KeyPair::generate()) {}

RawClient::RawClient(const swarm::NodeDescriptor& first_hop, const crypto::X25519KeyPair& kp)
    : sock_(ctx_, zmq::socket_type::dealer) {
  sock_.set(zmq::sockopt::linger, 0);
  sock_.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(first_hop.x25519.data(), 32));
  sock_.set(zmq::sockopt::curve_publickey, zmq::const_buffer(kp.public_key().data(), 32));
  sock_.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(kp.secret().data(), 32));
  sock_.connect(first_hop.address);
}

RawClient::~RawClient() = default;

void RawClient::send_frames(const std::vector<Bytes>& frames) {
  std::vector<zmq::const_buffer> bufs;
  for (const auto& f : frames) bufs.push_back(zmq::buffer(f));
  zmq::send_multipart(sock_, bufs);
}

std::optional<std::vector<Bytes>> RawClient::recv_frames(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
  if (!cancel_) {
    zmq::poll(&item, 1, timeout);
  } else {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      zmq::poll(&item, 1, std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(20)));
      if ((item.revents & ZMQ_POLLIN) || cancel_->load() || left.count() <= 0) break;
    }
  }
  if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
  std::vector<zmq::message_t> msgs;
  if (!zmq::recv_multipart(sock_, std::back_inserter(msgs))) return std::nullopt;
  std::vector<Bytes> out;
  for (auto& m : msgs) out.emplace_back(static_cast<uint8_t*>(m.data()), static_cast<uint8_t*>(m.data()) + m.size());
  return out;
}

Result<RawClient::OnionAnswer> RawClient::send_onion(const std::vector<swarm::NodeDescriptor>& hops, ByteView payload,
                                                std::optional<uint64_t> layer_timestamp_ms) {
  std::vector<crypto::X25519PublicKey> keys;
  for (const auto& h : hops) keys.push_back(h.x25519);
  auto built = onion::build(keys, payload, layer_timestamp_ms.value_or(now_ms()));
  if (!built.ok()) return built.status();
  const uint64_t id = next_id_++;
  send_frames({wire::encode_header({wire::kVersion, wire::Type::kOnionRequest, id}), built->blob});
  for (int tries = 0; tries < 10; ++tries) {
    auto frames = recv_frames();
    if (!frames) return error(Code::kTimeout, "no answer");
    if (frames->size() != 2) return error(Code::kInvalidArgument, "answer has wrong frame count");
    auto h = wire::decode_header((*frames)[0]);
    if (!h.ok()) return h.status();
    if (h->request_id != id) continue;  // a late answer to an earlier request
    OnionAnswer a;
    a.type = h->type;
    if (h->type != wire::Type::kOnionResponse) {
      a.body = (*frames)[1];
      return a;
    }
    auto un = onion::unwrap_response(built->response_keys, (*frames)[1]);
    if (!un.ok()) return un.status();
    a.kind = un->kind;
    a.hop = un->hop;
    a.body = std::move(un->body);
    return a;
  }
  return error(Code::kTimeout, "no matching answer");
}

Result<nlohmann::json> RawClient::request_raw(const std::vector<swarm::NodeDescriptor>& hops,
                                              std::string_view json_text) {
  auto a = send_onion(hops, as_bytes(json_text));
  if (!a.ok()) return a.status();
  if (a->type != wire::Type::kOnionResponse) return error(Code::kUnavailable, "link error: " + std::string(as_chars(a->body)));
  if (a->kind != onion::ResponseKind::kFinal)
    return error(Code::kUnavailable, "hop error at hop " + std::to_string(a->hop) + ": " + std::string(as_chars(a->body)));
  auto j = nlohmann::json::parse(as_chars(a->body), nullptr, false);
  if (j.is_discarded()) return error(Code::kInvalidArgument, "answer is not JSON");
  return j;
}

Result<nlohmann::json> RawClient::request(const std::vector<swarm::NodeDescriptor>& hops,
                                          const swarm::rpc::Request& req) {
  auto bytes = swarm::rpc::serialize_request(req);
  return request_raw(hops, as_chars(bytes));
}

Result<std::set<std::string>> retrieve_hashes(const TestAccount& a, const swarm::NodeDescriptor& node,
                                              bool* catching_up) {
  if (catching_up) *catching_up = false;
  swarm::rpc::RetrieveRequest r;
  r.account = a.id;
  r.limit = swarm::rpc::kMaxRetrieveLimit;
  RawClient c(node);
  std::set<std::string> out;
  for (int page = 0; page < 1000; ++page) {  // pages of at most 500 (and 120 KiB)
    r.timestamp_ms = now_ms();
    swarm::rpc::Request req = r;
    swarm::rpc::sign_request(req, a.ed);
    auto got = c.request({node}, req);
    if (!got.ok()) return got.status();
    if ((*got)["status"] != "ok") return error(Code::kUnavailable, "retrieve refused: " + got->dump());
    if (catching_up && got->value("catching_up", false)) *catching_up = true;
    for (const auto& m : (*got)["messages"]) out.insert(m["hash"].get<std::string>());
    if (!(*got).value("more", false) || (*got)["messages"].empty()) return out;
    const auto& last = (*got)["messages"].back();
    r.after_timestamp_ms = last["timestamp"].get<uint64_t>();
    auto raw = from_hex(last["hash"].get<std::string>());
    if (!raw.ok()) return raw.status();
    auto h = crypto::Hash::from(*raw);
    if (!h.ok()) return h.status();
    r.after_hash = *h;
  }
  return error(Code::kInternal, "too many pages");
}

std::vector<swarm::NodeDescriptor> swarm_members(const Devnet& net, int swarm_size, const swarm::AccountId& account) {
  const auto swarms = swarm::compute_swarms(net.nodes(), size_t(swarm_size));
  return swarms.at(swarm::swarm_index_for(swarms, account)).members;
}

TestAccount account_with_members(const Devnet& net, int swarm_size, size_t min_members) {
  TestAccount a;
  for (int i = 0; i < 200 && swarm_members(net, swarm_size, a.id).size() < min_members; ++i) a = TestAccount();
  return a;
}

swarm::rpc::StoreRequest random_store(const TestAccount& owner, size_t size) {
  swarm::rpc::StoreRequest s;
  s.account = owner.id;
  s.timestamp_ms = now_ms();
  s.data = crypto::random_bytes(size);
  return s;
}

nlohmann::json store_at(const swarm::NodeDescriptor& node, const swarm::rpc::StoreRequest& s) {
  RawClient c(node);
  auto r = c.request({node}, swarm::rpc::Request(s));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return nlohmann::json::object();
  EXPECT_EQ((*r)["status"], "ok") << r->dump();
  return *r;
}

swarm::rpc::Request signed_delete(const TestAccount& owner, const std::string& hash,
                                  const crypto::Ed25519KeyPair& signer) {
  swarm::rpc::DeleteRequest d;
  d.account = owner.id;
  d.timestamp_ms = now_ms();
  auto h = from_hex(hash, crypto::kHashSize);
  EXPECT_TRUE(h.ok()) << hash;
  if (h.ok()) d.hashes = {*crypto::Hash::from(*h)};
  swarm::rpc::Request req = d;
  swarm::rpc::sign_request(req, signer);
  return req;
}

std::vector<std::string> members_disagreeing(const TestAccount& a, const std::vector<swarm::NodeDescriptor>& members,
                                             const std::string& hash, bool held) {
  std::vector<std::string> wrong;
  wait_until(
      [&] {
        wrong.clear();
        for (const auto& m : members) {
          auto got = retrieve_hashes(a, m);
          if (!got.ok() || (got->count(hash) > 0) != held) wrong.push_back(m.address);
        }
        return wrong.empty();
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100));
  return wrong;
}

std::set<std::string> verified_texts(const std::vector<client::InboxEntry>& entries) {
  std::set<std::string> texts;
  for (const auto& e : entries) {
    EXPECT_TRUE(e.verified) << e.error;
    texts.insert(e.text);
  }
  return texts;
}

std::unique_ptr<client::Client> open_client(const std::string& network_file, const std::string& home,
                                            ClientHooks hooks) {
  if (!client::Identity::load(home).ok()) {
    EXPECT_TRUE(client::ensure_home(home).ok());
    EXPECT_TRUE(client::Identity::create(home).ok());
  }
  auto net = config::load_network_file(network_file);
  EXPECT_TRUE(net.ok()) << net.status().to_string();
  if (!net.ok()) return nullptr;
  client::ClientOptions o;
  o.home = home;
  o.nodes = net->nodes;
  o.network_id = net->network_id;
  o.swarm_size = net->swarm_size;
  if (hooks.timeout_ms) o.timeout_ms = hooks.timeout_ms;
  o.cancelled = std::move(hooks.cancelled);
  o.progress = std::move(hooks.progress);
  o.clock_skew_ms = hooks.clock_skew_ms;
  auto c = client::Client::open(std::move(o));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(*c) : nullptr;
}

namespace {
std::string schema1_fixture_dir() { return source_dir() + "/tests/vectors/datadir-schema1"; }
}  // namespace

std::vector<FixtureMessage> schema1_fixture_messages() {
  const std::string path = schema1_fixture_dir() + "/messages.json";
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  std::vector<FixtureMessage> out;
  if (j.is_discarded() || !j.contains("messages")) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  for (const auto& m : j["messages"]) {
    FixtureMessage f;
    auto account = swarm::AccountId::parse(m["account"].get<std::string>());
    auto hash = from_hex(m["hash"].get<std::string>());
    auto data = from_hex(m["data"].get<std::string>());
    if (!account.ok() || !hash.ok() || !data.ok() || !crypto::Hash::from(*hash).ok()) {
      ADD_FAILURE() << "malformed message in " << path << ": " << m.dump();
      return {};
    }
    f.account = *account;
    f.ns = m["ns"].get<uint16_t>();
    f.timestamp_ms = m["timestamp_ms"].get<uint64_t>();
    f.expiry_ms = m["expiry_ms"].get<uint64_t>();
    f.hash = *crypto::Hash::from(*hash);
    f.data = std::move(*data);
    f.deleted = m["deleted"].get<bool>();
    out.push_back(std::move(f));
  }
  return out;
}

bool copy_schema1_fixture(const std::string& db_dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(db_dir).parent_path(), ec);
  if (::mkdir(db_dir.c_str(), 0700) != 0) {
    ADD_FAILURE() << "mkdir " << db_dir << ": " << std::strerror(errno);
    return false;
  }
  const std::string to = db_dir + "/data.mdb";
  std::filesystem::copy_file(schema1_fixture_dir() + "/data.mdb", to, ec);
  if (ec) {
    ADD_FAILURE() << "copy the fixture to " << to << ": " << ec.message();
    return false;
  }
  std::filesystem::permissions(to, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  return !ec;
}

TestAccount schema1_fixture_account(uint8_t seed_byte) {
  auto keys = crypto::Ed25519KeyPair::from_seed(Bytes(32, seed_byte));
  if (!keys.ok()) std::abort();
  TestAccount a{std::move(keys).value(), swarm::AccountId{}};
  a.id = swarm::AccountId::user(a.ed.to_x25519().public_key());
  return a;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& s : copy) args.push_back(s.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int reap(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  pid_t r = 0;
  if (!wait_until([&] { return (r = ::waitpid(pid, &status, WNOHANG)) != 0; }, timeout, std::chrono::milliseconds(20)))
    return -1;
  return r == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t devnet_pid(const Devnet& net, int i) {
  return pid_t(std::stol("0" + read_file(net.node_dir(i) + "/pid")));
}

pid_t restart_devnet_node(const Devnet& net, int i, const std::vector<std::string>& extra_args,
                          const std::string& log_path) {
  const auto nodes = net.nodes();
  if (i < 1 || size_t(i) > nodes.size()) return -1;
  std::vector<std::string> argv = {node_bin(),      "run",           "--data-dir",
                                   net.node_dir(i), "--listen",      nodes[size_t(i) - 1].address,
                                   "--network",     net.network_file()};
  // The devnet's own config, unless the test brings one.
  if (!net.node_config().empty() && std::find(extra_args.begin(), extra_args.end(), "--config") == extra_args.end())
    argv.insert(argv.end(), {"--config", net.node_config()});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return start_node_on_old_port(argv, net.node_dir(i), log_path.empty() ? net.node_dir(i) + "/node.log" : log_path);
}

pid_t start_node_on_old_port(const std::vector<std::string>& argv, const std::string& data_dir,
                             const std::string& log) {
  const std::string info = data_dir + "/node.json";
  // The node's port was the kernel's pick from the ephemeral range, so
  // between its stop and this start an outgoing connection of another
  // process (tests run in parallel) may hold it for a moment. A start that
  // fails only because of that is tried again; bounded by 30 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int attempt = 1;; ++attempt) {
    std::error_code ec;
    const auto log_before = std::filesystem::exists(log, ec) ? std::filesystem::file_size(log, ec) : 0;
    const pid_t pid = spawn(argv, log);
    if (pid <= 0) return pid;
    for (;;) {
      // node.json names the pid of the node that wrote it, once it serves.
      const auto written = nlohmann::json::parse(read_file(info), nullptr, false);
      if (written.is_object() && written.value("pid", 0) == pid) return pid;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        const std::string all = read_file(log);
        const std::string out = all.substr(std::min<size_t>(log_before, all.size()));
        if (out.find("Address already in use") != std::string::npos && std::chrono::steady_clock::now() < deadline) {
          std::fprintf(stderr, "start_node_on_old_port: the port of the node on %s is taken for now (attempt %d); "
                               "trying again\n", data_dir.c_str(), attempt);
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          break;
        }
        std::fprintf(stderr, "start_node_on_old_port: the node on %s exited at start:\n%s\n", data_dir.c_str(),
                     out.c_str());
        return -1;  // reaped: no pid for the caller to stop
      }
      if (std::chrono::steady_clock::now() >= deadline) return pid;  // the caller's wait decides
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

bool stop_devnet_node(const Devnet& net, int i, int sig) {
  const pid_t pid = devnet_pid(net, i);
  return pid > 0 && ::kill(pid, sig) == 0 && wait_gone(pid);
}

RunningNode::~RunningNode() {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  if (reap(pid) == -1) {
    ::kill(pid, SIGKILL);
    reap(pid);
  }
}

int RunningNode::stop() {
  ::kill(pid, SIGTERM);
  const int rc = reap(pid);
  pid = -1;
  return rc;
}

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  return wait_until(
      [pid] {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return true;                      // our child, reaped
        return r < 0 && ::kill(pid, 0) != 0;            // not our child, and gone
      },
      timeout, std::chrono::milliseconds(10));
}

std::string stop_while_waiting(const Devnet& net, int i, pid_t hung, const std::string& waiting, bool second_signal) {
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{hung};
  const pid_t pid = devnet_pid(net, i);
  if (pid <= 0) return "no pid for node " + std::to_string(i);
  const auto pointer = nlohmann::json::json_pointer(waiting);
  const bool seen = wait_until(
      [&] {
        const auto status = node_status(net.node_dir(i));
        return status.is_object() && status.contains(pointer) && status[pointer].is_number_unsigned() &&
               status[pointer].get<uint64_t>() >= 1;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(20));
  if (!seen) return "node " + std::to_string(i) + "'s status never showed " + waiting + " >= 1";
  if (::kill(pid, SIGTERM) != 0) return "SIGTERM failed";
  const std::string log_path = net.node_dir(i) + "/node.log";
  auto logged = [&](const std::string& line) {
    return wait_until([&] { return read_file(log_path).find(line) != std::string::npos; }, std::chrono::seconds(20),
                      std::chrono::milliseconds(5));
  };
  if (!logged("stopping: finishing 1 request(s) taken before the stop"))
    return "node " + std::to_string(i) + " never said it was finishing a request:\n" + read_file(log_path);
  if (!second_signal) return "";
  if (::kill(pid, SIGTERM) != 0) return "the second SIGTERM failed";
  if (!logged("stopping at once (a second stop signal)"))
    return "node " + std::to_string(i) + " never said it stopped at once:\n" + read_file(log_path);
  return "";
}

bool wait_answering(const swarm::NodeDescriptor& node, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        RawClient c(node);
        auto r = c.request({node}, swarm::rpc::InfoRequest{});
        return r.ok() && (*r)["status"] == "ok";
      },
      timeout);
}

}  // namespace onionswarm::test
