// Relaying towards a node that is down (killed with SIGKILL): the relay
// answers at once with a hop error `unavailable` "next hop is unreachable"
// (PROTOCOL.md 5.7), not with `timeout` after relay_timeout_ms (10 s), so a
// client replaces exactly that node and retries without waiting. Both for a
// link that was up when the node died and for one first made afterwards.
#include <gtest/gtest.h>

#include <signal.h>

#include <string>

#include "onion/encoding.h"
#include "swarm/json.h"
#include "test_support.h"

namespace onionswarm {
namespace {

// The hop error's code and message, or the final answer's "status".
std::string describe(const test::RawClient::OnionAnswer& a) {
  auto j = swarm::parse_json(as_chars(a.body));
  if (!j.ok()) return "unparsable answer";
  if (a.kind != onion::ResponseKind::kHopError) return "final answer " + j->dump();
  return "hop error from hop " + std::to_string(a.hop) + ": " + j->dump();
}

TEST(Relay, NextHopThatIsDownIsUnavailableAtOnce) {
  crypto::init();
  test::Devnet net(3, 3);
  ASSERT_TRUE(net.ok()) << net.start_output();
  const auto nodes = net.nodes();
  ASSERT_EQ(nodes.size(), 3u);
  const auto& first = nodes[0];
  const auto& second = nodes[1];
  const auto& victim = nodes[2];
  const ByteView info = as_bytes(R"({"method":"info","params":{}})");

  // node1 relays to node3 (so node1 has a link to it that is up).
  {
    test::RawClient c(first);
    auto a = c.send_onion({first, victim}, info);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ASSERT_EQ(a->kind, onion::ResponseKind::kFinal) << describe(*a);
  }

  const pid_t pid = test::devnet_pid(net, 3);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(test::wait_gone(pid));

  // The link that was up, and a link node2 makes only now: both refuse.
  for (const auto* relay : {&first, &second}) {
    test::RawClient c(*relay);
    auto a = c.send_onion({*relay, victim}, info);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ASSERT_EQ(a->type, wire::Type::kOnionResponse);
    ASSERT_EQ(a->kind, onion::ResponseKind::kHopError) << describe(*a);
    EXPECT_EQ(a->hop, 0u);
    auto j = swarm::parse_json(as_chars(a->body));
    ASSERT_TRUE(j.ok());
    EXPECT_EQ((*j)["code"], "unavailable") << describe(*a);
    EXPECT_EQ((*j)["message"], "next hop is unreachable") << describe(*a);
  }

  // The relays still serve.
  for (const auto* relay : {&first, &second}) {
    test::RawClient c(*relay);
    auto a = c.send_onion({*relay}, info);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    EXPECT_EQ(a->kind, onion::ResponseKind::kFinal) << describe(*a);
  }
}

}  // namespace
}  // namespace onionswarm
