// The living directory with real node processes: nodes that know only a
// seed join by gossip, a stopped node's descriptor expires and it drops out
// of every view, and bad descriptors sent to a node over its socket are
// refused without changing its view.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq_addon.hpp>

#include "onion/encoding.h"
#include "swarm/descriptor.h"
#include "test_support.h"

namespace onionswarm {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Gossip rounds are seconds apart: a minute leaves the noisy CI headroom.
bool wait_for(const std::function<bool()>& cond) { return test::wait_until(cond, 60s); }

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  std::filesystem::rename(path + ".tmp", path);
}

// A node started with a given network file and short gossip settings.
class GossipNode {
 public:
  GossipNode(const std::string& dir, const std::string& name, const std::string& network,
             std::vector<std::string> extra = {})
      : data_dir_(dir + "/" + name), log_(dir + "/" + name + ".log") {
    std::filesystem::create_directories(data_dir_);
    std::vector<std::string> argv = {test::node_bin(), "run", "--data-dir", data_dir_, "--listen",
                                     "tcp://127.0.0.1:0", "--network", network, "--gossip-interval-ms", "200",
                                     "--descriptor-lifetime-ms", "8000"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = test::spawn(argv, log_);
    if (!wait_for([&] { return std::filesystem::exists(data_dir_ + "/node.json"); })) return;
    info_ = json::parse(test::read_file(data_dir_ + "/node.json"), nullptr, false);
    ok_ = info_.is_object() && info_.contains("address");
  }
  ~GossipNode() { stop(); }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    test::reap(pid_);
    pid_ = -1;
  }
  // `status --json` from the admin socket; null when the node does not answer.
  json status() const { return test::node_status(data_dir_); }
  // nodes_known from the admin socket; -1 when the node does not answer.
  int nodes_known() const {
    const json j = status();
    return j.is_object() ? j.value("nodes_known", -1) : -1;
  }
  json seed_entry() const { return {{"address", info_["address"]}, {"ed25519", info_["ed25519"]}, {"x25519", info_["x25519"]}}; }
  std::string address() const { return info_["address"]; }
  crypto::X25519PublicKey x25519() const {
    return *crypto::X25519PublicKey::from(*from_hex(info_["x25519"].get<std::string>()));
  }
  bool ok() const { return ok_; }
  std::string log() const { return test::read_file(log_); }
  const std::string& data_dir() const { return data_dir_; }

 private:
  std::string data_dir_, log_;
  pid_t pid_ = -1;
  bool ok_ = false;
  json info_;
};

std::string network_file(const test::TempDir& dir, const std::string& name, const std::string& network_id,
                         const std::vector<json>& seeds, const std::vector<std::string>& operators = {}) {
  json net = {{"network_id", network_id}, {"nodes", seeds}};
  if (!operators.empty()) net["operators"] = operators;
  const std::string path = dir / name;
  write_text(path, net.dump());
  return path;
}

// A would-be node: a key pair, and a CURVE DEALER with that key, so the
// node's ZAP handler sees this key as the link key.
struct Candidate {
  crypto::Ed25519KeyPair ed = crypto::Ed25519KeyPair::generate();
  crypto::X25519KeyPair x = ed.to_x25519();

  swarm::SignedDescriptor descriptor(const std::string& network_id, const std::string& address,
                                     uint64_t lifetime_ms = 60'000) const {
    swarm::SignedDescriptor d;
    d.network_id = network_id;
    d.node = {ed.public_key(), x.public_key(), address, std::nullopt};
    d.version = "0.1.0";
    d.issued_at_ms = test::now_ms();
    d.expires_at_ms = d.issued_at_ms + lifetime_ms;
    swarm::sign_descriptor(d, ed);
    return d;
  }

  // Pushes d (as the sender's own descriptor) to the node at address;
  // returns the answer's type and JSON body.
  std::optional<std::pair<wire::Type, json>> push(const std::string& address, const crypto::X25519PublicKey& server,
                                                  const swarm::SignedDescriptor& d) const {
    zmq::context_t ctx;
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(server.data(), 32));
    s.set(zmq::sockopt::curve_publickey, zmq::const_buffer(x.public_key().data(), 32));
    s.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(x.secret().data(), 32));
    s.connect(address);
    const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kGossip, 7});
    const std::string body = json{{"op", "push"}, {"self", swarm::descriptor_to_json(d)}}.dump();
    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(header), zmq::buffer(body)};
    if (!zmq::send_multipart(s, frames)) return std::nullopt;
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 20s);
    if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
    std::vector<zmq::message_t> answer;
    if (!zmq::recv_multipart(s, std::back_inserter(answer)) || answer.size() != 2) return std::nullopt;
    auto h = wire::decode_header({static_cast<const uint8_t*>(answer[0].data()), answer[0].size()});
    if (!h.ok()) return std::nullopt;
    return std::make_pair(h->type, json::parse(answer[1].to_string(), nullptr, false));
  }
};

// The reason the node gave for refusing d, or "" when it did not refuse it.
std::string refusal(const std::optional<std::pair<wire::Type, json>>& answer) {
  if (!answer || answer->first != wire::Type::kGossipResponse) return "no gossip answer";
  const json& refused = answer->second["refused"];
  if (!refused.is_array() || refused.empty()) return "";
  return refused[0].value("reason", "?");
}

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::init(); }
  test::TempDir dir_;
};

TEST_F(DirectoryTest, NodesKnowingOnlyASeedJoinAndAStoppedNodeExpires) {
  // The seed starts alone; the others know only the seed.
  const std::string alone = network_file(dir_, "alone.json", "living-net", {});
  GossipNode seed(dir_.path(), "seed", alone);
  ASSERT_TRUE(seed.ok()) << seed.log();
  const std::string net = network_file(dir_, "net.json", "living-net", {seed.seed_entry()});
  GossipNode b(dir_.path(), "b", net);
  GossipNode c(dir_.path(), "c", net);
  GossipNode joiner(dir_.path(), "joiner", net);
  ASSERT_TRUE(b.ok() && c.ok() && joiner.ok());

  std::vector<GossipNode*> all = {&seed, &b, &c, &joiner};
  EXPECT_TRUE(wait_for([&] {
    for (auto* n : all)
      if (n->nodes_known() != 4) return false;
    return true;
  })) << seed.log() << joiner.log();

  // The client's view: ping through the seed of the network file.
  auto ping = test::run_command({test::cli_bin(), "ping", "--network", net, "--expect-nodes", "4"});
  EXPECT_EQ(ping.exit_code, 0) << ping.out << ping.err;

  // The client's cached directory, fetched from a seed (its first guard)
  // and verified descriptor by descriptor.
  test::TempDir home;
  auto init = test::cli(home.path(), {"init", "--network", net});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  auto nodes = test::run_command({test::cli_bin(), "--home", home.path(), "--network", net, "nodes", "--json"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  auto view = json::parse(nodes.out, nullptr, false);
  ASSERT_TRUE(view.is_object()) << nodes.out;
  EXPECT_EQ(view["nodes"].size(), 4u) << nodes.out;
  EXPECT_EQ(view["refused"], 0);
  EXPECT_EQ(view["stale"], false);
  EXPECT_TRUE(std::filesystem::exists(home / "directory.json"));
  // Written under the identity's MAC key: the commands below load it
  // without verifying every signature again.
  EXPECT_TRUE(json::parse(test::read_file(home / "directory.json"), nullptr, false).contains("mac"));
  // The seed was the first guard: the directory came from it, and the
  // path's guard is that same node.
  const std::string seed_hex = to_hex(seed.x25519().view());
  EXPECT_EQ(view["fetched_from"], seed_hex) << nodes.out;
  auto path_guard = [&] {
    auto p = test::cli(home.path(), {"path", "--json"});
    EXPECT_EQ(p.exit_code, 0) << p.err;
    auto j = json::parse(p.out, nullptr, false);
    return j.is_object() && j.contains("guard") ? j["guard"].value("x25519", "") : std::string();
  };
  EXPECT_EQ(path_guard(), seed_hex);

  // Paths and swarms now come from the cached directory (the network file
  // lists only the seed, too few for a path): a message to ourselves
  // goes through three relays and arrives.
  auto id = test::cli(home.path(), {"id"});
  ASSERT_EQ(id.exit_code, 0) << id.err;
  std::string account = id.out.substr(0, id.out.find_first_of(" \n"));
  auto send = test::cli(home.path(), {"send", account, "hello living directory"});
  ASSERT_EQ(send.exit_code, 0) << send.out << send.err;
  // These nodes run the default config: the member the fetch reaches may
  // get the message in a deferred push, up to replica_defer_ms (500 ms)
  // after the store (PROTOCOL.md 8.2). Fetch again until it is there, bounded.
  std::string fetched;
  for (int attempt = 0; attempt < 50 && fetched.find("hello living directory") == std::string::npos; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(200ms);
    auto inbox = test::cli(home.path(), {"inbox"});
    ASSERT_EQ(inbox.exit_code, 0) << inbox.err;
    fetched += inbox.out;
  }
  EXPECT_NE(fetched.find("hello living directory"), std::string::npos) << fetched;

  // A node that joins later reaches the client's cache without an explicit
  // `nodes`: `path` refreshes the cache from the guard once it is older than
  // half the shortest descriptor lifetime (4 s here).
  GossipNode late(dir_.path(), "late", net);
  ASSERT_TRUE(late.ok()) << late.log();
  ASSERT_TRUE(wait_for([&] { return seed.nodes_known() == 5; })) << seed.log() << late.log();
  auto cache = [&] { return json::parse(test::read_file(home / "directory.json"), nullptr, false); };
  auto cache_lists = [&](const GossipNode& n) {
    const json c = cache();
    if (!c.is_object() || !c.contains("descriptors")) return false;
    for (const auto& d : c["descriptors"])
      if (d.is_object() && d.value("x25519", "") == to_hex(n.x25519().view())) return true;
    return false;
  };
  EXPECT_FALSE(cache_lists(late));
  ASSERT_TRUE(wait_for([&] {
    const json c = cache();
    return c.is_object() && test::now_ms() > c.value("fetched_at", uint64_t(0)) + 4'500;
  }));
  EXPECT_EQ(path_guard(), seed_hex);
  EXPECT_TRUE(cache_lists(late)) << cache().dump();
  EXPECT_EQ(cache().value("guard", ""), seed_hex);

  // The joiner stops; its 8 s descriptor is not refreshed and expires.
  joiner.stop();
  EXPECT_TRUE(wait_for([&] {
    for (auto* n : {&seed, &b, &c, &late})
      if (n->nodes_known() != 4) return false;
    return true;
  })) << seed.log();
  EXPECT_NE(seed.log().find("expired"), std::string::npos);
  // The seed's gossip counters: the others were admitted, the joiner expired.
  const json st = seed.status();
  ASSERT_TRUE(st.is_object());
  EXPECT_GE(st["gossip"]["admitted"].get<uint64_t>(), 4u) << st.dump();
  EXPECT_GE(st["gossip"]["expired"].get<uint64_t>(), 1u) << st.dump();
  // (refused.invalid is not asserted: until their own next round, peers may
  // still push the joiner's copy, which the seed refuses as expired.)
  auto text = test::node_command({"status", "--data-dir", seed.data_dir()}, 10s);
  EXPECT_NE(text.out.find("descriptors admitted"), std::string::npos) << text.out;

  // The client's next refresh (from the same guard) shows four nodes.
  nodes = test::run_command({test::cli_bin(), "--home", home.path(), "--network", net, "nodes", "--json"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  view = json::parse(nodes.out, nullptr, false);
  ASSERT_TRUE(view.is_object()) << nodes.out;
  EXPECT_EQ(view["nodes"].size(), 4u) << nodes.out;
  EXPECT_EQ(view["fetched_from"], seed_hex);
  EXPECT_FALSE(cache_lists(joiner));
}

TEST_F(DirectoryTest, AdvertisedAddressIsPublishedAndUsedByPeers) {
  const std::string alone = network_file(dir_, "alone.json", "adv-net", {});
  GossipNode seed(dir_.path(), "seed", alone);
  ASSERT_TRUE(seed.ok()) << seed.log();
  const std::string net = network_file(dir_, "net.json", "adv-net", {seed.seed_entry()});
  // Listen on a fixed free port, advertise it under a different spelling
  // of the same address: the seed reaches the node through the advertised
  // one. "127.1" (inet_aton's short form of 127.0.0.1) needs no resolver,
  // where "localhost" needs /etc/hosts, which a bare Debian root lacks.
  GossipNode probe_port(dir_.path(), "port", alone);
  ASSERT_TRUE(probe_port.ok());
  const std::string bound = probe_port.address();
  probe_port.stop();
  const std::string port = bound.substr(bound.rfind(':') + 1);
  GossipNode adv(dir_.path(), "adv", net,
                 {"--listen", "tcp://127.0.0.1:" + port, "--advertise", "tcp://127.1:" + port});
  ASSERT_TRUE(adv.ok()) << adv.log();
  EXPECT_EQ(adv.address(), "tcp://127.1:" + port);
  EXPECT_TRUE(wait_for([&] { return seed.nodes_known() == 2; })) << seed.log() << adv.log();
  EXPECT_NE(seed.log().find("tcp://127.1:" + port), std::string::npos) << seed.log();
}

TEST_F(DirectoryTest, GossipSettingsComeFromTheConfigFileAndFlagsOverrideThem) {
  const std::string net = network_file(dir_, "net.json", "cfg-net", {});
  const std::string cfg = dir_ / "node.json";
  write_text(cfg, json{{"data_dir", dir_ / "data"}, {"network", net}, {"listen", "tcp://127.0.0.1:0"},
                       {"advertise", "tcp://node.example:4500"}, {"gossip_interval_ms", 10}}
                      .dump());
  auto bad = test::node_command({"check-config", "--config", cfg});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find(cfg + ": /gossip_interval_ms: out of range"), std::string::npos) << bad.err;
  write_text(cfg, json{{"data_dir", dir_ / "data"}, {"network", net}, {"listen", "tcp://127.0.0.1:0"},
                       {"advertise", "tcp://node.example:4500"}, {"gossip_interval_ms", 200},
                       {"descriptor_lifetime_ms", 8000}, {"endorsement", dir_ / "missing.endorsement"}}
                      .dump());
  auto missing = test::node_command({"check-config", "--config", cfg});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/endorsement: "), std::string::npos) << missing.err;
  auto flag = test::node_command(
      {"check-config", "--config", cfg, "--endorsement", net, "--gossip-interval-ms", "10"});
  EXPECT_EQ(flag.exit_code, 1);
  EXPECT_NE(flag.err.find("--gossip-interval-ms: out of range"), std::string::npos) << flag.err;
  EXPECT_EQ(flag.err.find("/endorsement"), std::string::npos) << flag.err;  // the flag's file is readable
  auto good = test::node_command({"check-config", "--config", cfg, "--endorsement", net});
  EXPECT_EQ(good.exit_code, 0) << good.err;
}

TEST_F(DirectoryTest, BadDescriptorsSentToANodeAreRefusedAndTheViewIsUnchanged) {
  // A permissioned network: one operator key; the node runs with an
  // endorsement made by `onionswarm-node endorse`.
  crypto::Ed25519KeyPair op = crypto::Ed25519KeyPair::generate();
  const std::string op_key = dir_ / "operator.key";
  write_text(op_key, to_hex(op.seed()) + "\n");
  ::chmod(op_key.c_str(), 0600);
  const std::string op_hex = to_hex(op.public_key().view());
  const std::string net = network_file(dir_, "net.json", "closed-net", {}, {op_hex});

  // Pre-create the node's key so it can be endorsed before it starts.
  crypto::Ed25519KeyPair node_key = crypto::Ed25519KeyPair::generate();
  std::filesystem::create_directories(dir_ / "a");
  ::chmod((dir_ / "a").c_str(), 0700);
  write_text(dir_ / "a/node.key", to_hex(node_key.seed()) + "\n");
  ::chmod((dir_ / "a/node.key").c_str(), 0600);
  auto endorse = test::node_command({"endorse", "--operator-key", op_key, "--node",
                                    to_hex(node_key.public_key().view()), "--network", net, "--to", dir_ / "a.endorsement"});
  ASSERT_EQ(endorse.exit_code, 0) << endorse.err;

  // Without the endorsement the node refuses to start on this network.
  auto unendorsed = test::node_command({"run", "--data-dir", dir_ / "b", "--listen",
                                       "tcp://127.0.0.1:0", "--network", net});
  EXPECT_NE(unendorsed.exit_code, 0);
  EXPECT_NE(unendorsed.err.find("permissioned"), std::string::npos) << unendorsed.err;

  GossipNode a(dir_.path(), "a", net, {"--endorsement", dir_ / "a.endorsement"});
  ASSERT_TRUE(a.ok()) << a.log();
  ASSERT_TRUE(wait_for([&] { return a.nodes_known() == 1; }));

  Candidate c;
  auto endorsed = [&](swarm::SignedDescriptor d) {
    d.endorsement = swarm::endorse(op, d.network_id, c.ed.public_key(), c.x.public_key(), test::now_ms() + 3'600'000);
    swarm::sign_descriptor(d, c.ed);
    return d;
  };
  const std::string somewhere = "tcp://127.0.0.1:1";  // nothing listens on port 1

  swarm::SignedDescriptor forged = endorsed(c.descriptor("closed-net", somewhere));
  forged.version = "9.9.9";
  EXPECT_NE(refusal(c.push(a.address(), a.x25519(), forged)).find("signature"), std::string::npos);
  EXPECT_NE(refusal(c.push(a.address(), a.x25519(), endorsed(c.descriptor("other-net", somewhere)))).find("network id"),
            std::string::npos);
  EXPECT_NE(refusal(c.push(a.address(), a.x25519(), endorsed(c.descriptor("closed-net", somewhere, 48ull * 3'600'000))))
                .find("too far ahead"),
            std::string::npos);
  EXPECT_NE(refusal(c.push(a.address(), a.x25519(), c.descriptor("closed-net", somewhere))).find("endorsement"),
            std::string::npos);
  // Well-formed and endorsed, but nothing answers at its address: accepted
  // for the address check, then refused.
  EXPECT_EQ(refusal(c.push(a.address(), a.x25519(), endorsed(c.descriptor("closed-net", somewhere)))), "");
  EXPECT_TRUE(wait_for([&] { return a.log().find("did not answer") != std::string::npos; })) << a.log();
  EXPECT_EQ(a.nodes_known(), 1) << a.log();
  for (const char* reason : {"bad descriptor signature", "wrong network id", "too far ahead", "no operator endorsement"})
    EXPECT_NE(a.log().find(reason), std::string::npos) << reason;
  // Counted by class in status and in the metrics.
  const json st = a.status();
  ASSERT_TRUE(st.is_object());
  EXPECT_EQ(st["gossip"]["refused"]["invalid"], 4) << st.dump();
  EXPECT_EQ(st["gossip"]["refused"]["unreachable"], 1) << st.dump();
  auto metrics = test::node_command({"metrics", "--data-dir", a.data_dir()}, 10s);
  EXPECT_NE(metrics.out.find("onionswarm_gossip_descriptors_refused_total{reason=\"invalid\"} 4"), std::string::npos)
      << metrics.out;
}

}  // namespace
}  // namespace onionswarm
