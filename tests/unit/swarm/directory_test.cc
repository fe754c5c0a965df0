#include "swarm/directory.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace onionswarm::swarm {
namespace {

NodeDescriptor node(uint8_t i) {
  NodeDescriptor d;
  d.ed25519.bytes.fill(i);
  d.x25519.bytes.fill(uint8_t(0x80 | i));
  d.address = "tcp://127.0.0.1:" + std::to_string(4500 + i);
  return d;
}

TEST(StaticDirectory, SnapshotHoldsTheNodesGiven) {
  StaticDirectory dir({node(1), node(2), node(3)});
  auto snap = dir.snapshot();
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->size(), 3u);
  EXPECT_EQ((*snap)[1], node(2));
}

TEST(StaticDirectory, EmptyDirectoryHasEmptySnapshot) {
  StaticDirectory dir({});
  ASSERT_NE(dir.snapshot(), nullptr);
  EXPECT_TRUE(dir.snapshot()->empty());
  EXPECT_FALSE(dir.find(node(1).x25519).has_value());
}

TEST(StaticDirectory, FindLooksUpByX25519Key) {
  StaticDirectory dir({node(1), node(2), node(3)});
  auto found = dir.find(node(3).x25519);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->address, node(3).address);
  EXPECT_EQ(found->ed25519, node(3).ed25519);
  EXPECT_FALSE(dir.find(node(4).x25519).has_value());
  // An Ed25519 key with the same bytes as an X25519 key is not a match.
  crypto::X25519PublicKey ed_bytes;
  ed_bytes.bytes = node(1).ed25519.bytes;
  EXPECT_FALSE(dir.find(ed_bytes).has_value());
}

TEST(StaticDirectory, ReplaceSwapsTheSetAndOldSnapshotsStayValid) {
  StaticDirectory dir({node(1), node(2)});
  auto before = dir.snapshot();
  dir.replace({node(5)});
  auto after = dir.snapshot();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0], node(5));
  ASSERT_EQ(before->size(), 2u);
  EXPECT_EQ((*before)[0], node(1));
  EXPECT_NE(before, after);
  EXPECT_TRUE(dir.find(node(5).x25519).has_value());
  EXPECT_FALSE(dir.find(node(1).x25519).has_value());
}

TEST(StaticDirectory, SnapshotIsSharedUntilReplaced) {
  StaticDirectory dir({node(1)});
  EXPECT_EQ(dir.snapshot(), dir.snapshot());
}

}  // namespace
}  // namespace onionswarm::swarm
