// The onionswarm CLI against a devnet of real node processes: two accounts
// exchange messages both ways; a one-way sender leaves no trace of its keys
// or the plaintext in any node's data dir or log; restore from the phrase.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <thread>
#include <sstream>

#include "client/envelope.h"
#include "onion/encoding.h"
#include "swarm/account.h"
#include "test_support.h"

namespace onionswarm {
namespace {

using test::cli;
using test::Devnet;
using test::TempDir;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class Cli : public test::DevnetSuite<Cli, 10, 5> {
 protected:

  // Creates an account in a fresh home and returns its id.
  std::string init(const std::string& home) {
    auto r = cli(home, {"init", "--network", net_->network_file()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto id = cli(home, {"id"});
    EXPECT_EQ(id.exit_code, 0) << id.err;
    return trim(id.out);
  }

  // A sender whose clock is skew_ms ahead sends `text` to a recipient whose
  // clock is as far behind, who then reads it: both learn the network's time.
  void ExpectSendAndFetchWithClocksOff(const std::string& name, int64_t skew_ms, const std::string& text) {
    const std::string fast_home = homes_ / ("fast-" + name), slow_home = homes_ / ("slow-" + name);
    init(fast_home);
    const std::string slow = init(slow_home);
    auto sent = test::run_command({test::cli_bin(), "--home", fast_home, "send", slow, text}, "",
                                  std::chrono::seconds(90),
                                  {"ONIONSWARM_TEST_CLOCK_SKEW_MS=" + std::to_string(skew_ms)});
    ASSERT_EQ(sent.exit_code, 0) << sent.out << sent.err;
    auto inbox = test::run_command({test::cli_bin(), "--home", slow_home, "inbox"}, "", std::chrono::seconds(90),
                                   {"ONIONSWARM_TEST_CLOCK_SKEW_MS=" + std::to_string(-skew_ms)});
    ASSERT_EQ(inbox.exit_code, 0) << inbox.out << inbox.err;
    EXPECT_NE(inbox.out.find(text), std::string::npos) << inbox.out;
  }

  TempDir homes_;
};


TEST(CliHelp, HelpAndVersionWork) {
  TempDir d;
  auto help = cli(d.path(), {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("send"), std::string::npos);
  auto node_help = test::node_command({"--help"});
  EXPECT_EQ(node_help.exit_code, 0);
  EXPECT_NE(node_help.out.find("--data-dir"), std::string::npos);
  auto version = test::node_command({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("onionswarm-node"), std::string::npos);
}

TEST_F(Cli, TwoAccountsExchangeMessagesBothWays) {
  const std::string alice_home = homes_ / "alice", bob_home = homes_ / "bob";
  const std::string alice = init(alice_home), bob = init(bob_home);
  ASSERT_EQ(alice.size(), 66u);
  ASSERT_EQ(alice.substr(0, 2), "05");

  auto s1 = cli(alice_home, {"send", bob, "Hello Bob, from Alice"});
  ASSERT_EQ(s1.exit_code, 0) << s1.out << s1.err;
  EXPECT_NE(s1.out.find("hash: "), std::string::npos);
  EXPECT_NE(s1.out.find("path: guard "), std::string::npos);
  // Text from stdin.
  auto s2 = test::run_command({test::cli_bin(), "--home", bob_home, "send", alice}, "Hi Alice, Bob here\n");
  ASSERT_EQ(s2.exit_code, 0) << s2.out << s2.err;

  auto bob_inbox = cli(bob_home, {"inbox", "--json"});
  ASSERT_EQ(bob_inbox.exit_code, 0) << bob_inbox.err;
  auto line = nlohmann::json::parse(trim(bob_inbox.out));
  EXPECT_EQ(line["from"], alice);
  EXPECT_EQ(line["text"], "Hello Bob, from Alice");

  auto alice_inbox = cli(alice_home, {"inbox", "--show-path"});
  ASSERT_EQ(alice_inbox.exit_code, 0) << alice_inbox.err;
  EXPECT_NE(alice_inbox.out.find("fetched via: guard "), std::string::npos) << alice_inbox.out;
  EXPECT_NE(alice_inbox.out.find("Hi Alice, Bob here"), std::string::npos) << alice_inbox.out;
  EXPECT_NE(alice_inbox.out.find(bob), std::string::npos);

  // Fetching again shows nothing new: duplicates are dropped.
  auto again = cli(bob_home, {"inbox", "--json"});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(trim(again.out), "");

  auto path = cli(alice_home, {"path", "--json"});
  ASSERT_EQ(path.exit_code, 0) << path.err;
  EXPECT_NE(path.out.find("guard"), std::string::npos);
}

TEST_F(Cli, ClientWithClockTenMinutesOffStillSendsAndFetches) {
  // The sender is ahead by more than the hops' 60-s bound: its guard refuses
  // the layer and its answer carries its clock, which the client adopts. The
  // recipient is behind, inside the hops' 30-min window: the destination
  // refuses the request as stale and the client asks it for its clock.
  ExpectSendAndFetchWithClocksOff("10min", 600'000, "from the future");
}

TEST_F(Cli, ClientWithClockTwoHoursOffStillSendsAndFetches) {
  // Beyond the hops' layer window both ways (60 s ahead, 30 min behind) the
  // guard refuses the layer itself; its answer carries its clock, which the
  // client adopts.
  ExpectSendAndFetchWithClocksOff("2h", 7'200'000, "two hours ahead");
}

TEST(CliPaths, SendSucceedsOnARebuiltPathAfterTheGuardDies) {
  crypto::init();
  Devnet net(10, 5);
  ASSERT_TRUE(net.ok()) << net.start_output();
  TempDir homes;
  const std::string sender = homes / "s", recipient = homes / "r";
  ASSERT_EQ(cli(sender, {"init", "--network", net.network_file()}).exit_code, 0);
  ASSERT_EQ(cli(recipient, {"init", "--network", net.network_file()}).exit_code, 0);
  const std::string to = trim(cli(recipient, {"id"}).out);
  ASSERT_EQ(cli(sender, {"send", to, "before"}).exit_code, 0);
  auto path = cli(sender, {"path", "--json"});
  ASSERT_EQ(path.exit_code, 0) << path.err;
  const std::string guard = nlohmann::json::parse(path.out)["guard"]["x25519"].get<std::string>();

  int victim = 0;
  for (int i = 1; i <= 10 && !victim; ++i) {
    auto info = nlohmann::json::parse(test::read_file(net.node_dir(i) + "/node.json"), nullptr, false);
    if (!info.is_discarded() && info["x25519"] == guard) victim = i;
  }
  ASSERT_NE(victim, 0) << "guard not found among the devnet's nodes";
  ASSERT_TRUE(test::stop_devnet_node(net, victim, SIGKILL));

  auto after = cli(sender, {"send", to, "after the guard died"});
  ASSERT_EQ(after.exit_code, 0) << after.out << after.err;
  auto new_path = cli(sender, {"path", "--json"});
  ASSERT_EQ(new_path.exit_code, 0);
  EXPECT_NE(nlohmann::json::parse(new_path.out)["guard"]["x25519"].get<std::string>(), guard);
  auto inbox = cli(recipient, {"inbox"});
  ASSERT_EQ(inbox.exit_code, 0) << inbox.err;
  EXPECT_NE(inbox.out.find("after the guard died"), std::string::npos);
}

TEST_F(Cli, SendToBadAccountIdFailsClearly) {
  const std::string home = homes_ / "carol";
  init(home);
  auto r = cli(home, {"send", "05zz", "hi"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("account"), std::string::npos) << r.err;
  const std::string group = "03" + std::string(64, 'b');
  auto to_group = cli(home, {"send", group, "hi"});
  EXPECT_EQ(to_group.exit_code, 2);
  EXPECT_NE(to_group.err.find("is a group: send to it with `onionswarm group send " + group), std::string::npos)
      << to_group.err;
}

TEST_F(Cli, AnEmptyOrTooLongMessageIsRefusedAndNothingIsSent) {
  const std::string sender = homes_ / "dave", recipient_home = homes_ / "erin";
  init(sender);
  const std::string recipient = init(recipient_home);
  const std::string longest(client::kMaxTextBytes, 'x');
  struct Case {
    std::vector<std::string> args;
    std::string stdin_data;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"send", recipient, ""}, "", "the message is empty"},
      {{"send", recipient}, "", "the message is empty"},
      {{"send", recipient}, "\r\n", "the message is empty"},
      {{"send", recipient, longest + "x"}, "", "longer than 16384 bytes"},
      {{"send", recipient}, longest + "x\n", "longer than 16384 bytes"},
      {{"send", recipient}, longest + longest, "longer than 16384 bytes"},
      {{"group", "send", "03" + std::string(64, 'a'), ""}, "", "the message is empty"},
      {{"group", "send", "03" + std::string(64, 'a')}, longest + "x", "longer than 16384 bytes"},
  };
  for (const auto& c : cases) {
    auto r = cli(sender, c.args, c.stdin_data);
    EXPECT_EQ(r.exit_code, 1) << c.error << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << c.error;
  }
  // The longest text, with its line ending, still goes; and it is the only
  // message the recipient finds.
  auto sent = cli(sender, {"send", recipient}, longest + "\n");
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  auto inbox = cli(recipient_home, {"inbox", "--json"});
  ASSERT_EQ(inbox.exit_code, 0) << inbox.err;
  std::istringstream lines(inbox.out);
  std::vector<std::string> texts;
  for (std::string line; std::getline(lines, line);) texts.push_back(nlohmann::json::parse(line).at("text"));
  ASSERT_EQ(texts.size(), 1u) << inbox.out;
  EXPECT_EQ(texts[0], longest);
}

TEST_F(Cli, RestoreFromPhraseRecreatesTheSameAccount) {
  const std::string home = homes_ / "dave";
  auto r = cli(home, {"init", "--network", net_->network_file()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto pos = r.out.find("recovery phrase: ");
  ASSERT_NE(pos, std::string::npos);
  const std::string phrase = trim(r.out.substr(pos + 17));
  const std::string id = trim(cli(home, {"id"}).out);
  const std::string other = homes_ / "dave2";
  auto restored = cli(other, {"init", "--network", net_->network_file(), "--restore"}, phrase + "\n");
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(trim(cli(other, {"id"}).out), id);
  auto bad = cli(homes_ / "dave3", {"init", "--network", net_->network_file(), "--restore"}, "not a phrase\n");
  EXPECT_NE(bad.exit_code, 0);
}

// Every representation a key could leak in.
std::vector<std::string> representations(ByteView key, uint8_t prefix) {
  std::vector<std::string> out;
  out.emplace_back(as_chars(key));
  out.push_back(to_hex(key));
  out.push_back(to_base64(key));
  Bytes with_prefix{prefix};
  append(with_prefix, key);
  out.push_back(to_hex(with_prefix));
  out.push_back(to_base64(with_prefix));
  std::string upper = to_hex(key);
  for (auto& c : upper) c = char(std::toupper(c));
  out.push_back(upper);
  return out;
}

TEST_F(Cli, SenderKeysAndPlaintextNeverReachAnyNode) {
  const std::string sender_home = homes_ / "sender", recipient_home = homes_ / "recipient";
  init(sender_home);
  const std::string recipient = init(recipient_home);
  const std::string secret_text = "the eagle lands at midnight 7f3a9c";
  auto sent = cli(sender_home, {"send", recipient, secret_text});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  // The recipient fetches (signed retrieve) so the nodes also see that traffic.
  auto inbox = cli(recipient_home, {"inbox"});
  ASSERT_EQ(inbox.exit_code, 0) << inbox.err;
  ASSERT_NE(inbox.out.find(secret_text), std::string::npos);

  auto seed = from_hex(trim(test::read_file(sender_home + "/identity.key")));
  ASSERT_TRUE(seed.ok());
  auto ed = crypto::Ed25519KeyPair::from_seed(*seed);
  ASSERT_TRUE(ed.ok());
  auto x = ed->to_x25519();
  std::vector<std::string> needles = {secret_text};
  for (auto& s : representations(ed->public_key().view(), 0x05)) needles.push_back(s);
  for (auto& s : representations(x.public_key().view(), 0x05)) needles.push_back(s);
  for (auto& s : representations(ed->seed(), 0x05)) needles.push_back(s);

  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(net_->dir())) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string content = test::read_file(entry.path().string());
    for (const auto& n : needles)
      EXPECT_EQ(content.find(n), std::string::npos) << "found a sender secret in " << entry.path();
  }
  EXPECT_GT(files, 20u);  // logs, key files, node.json and LMDB files of 10 nodes were scanned
}

}  // namespace
}  // namespace onionswarm
