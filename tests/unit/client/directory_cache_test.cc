#include "client/directory_cache.h"

#include <gtest/gtest.h>

namespace onionswarm::client {
namespace {

constexpr uint64_t kNow = 1'800'000'000'000;

swarm::SignedDescriptor make(const crypto::Ed25519KeyPair& ed, uint64_t lifetime = 3'600'000) {
  swarm::SignedDescriptor d;
  d.network_id = "net-a";
  d.node = {ed.public_key(), ed.to_x25519().public_key(), "tcp://198.18.0.1:4500"};
  d.version = "0.1.0";
  d.issued_at_ms = kNow;
  d.expires_at_ms = kNow + lifetime;
  swarm::sign_descriptor(d, ed);
  return d;
}

swarm::VerifyRules rules(uint64_t now = kNow) {
  swarm::VerifyRules r;
  r.network_id = "net-a";
  r.now_ms = now;
  return r;
}

TEST(DirectoryCache, KeepsOnlyVerifiedDistinctDescriptors) {
  crypto::init();
  auto a = crypto::Ed25519KeyPair::generate(), b = crypto::Ed25519KeyPair::generate();
  swarm::SignedDescriptor forged = make(b);
  forged.node.address = "tcp://198.18.0.9:1";
  nlohmann::json list = {swarm::descriptor_to_json(make(a)), swarm::descriptor_to_json(make(a)),
                         swarm::descriptor_to_json(forged), 42};
  size_t refused = 0;
  auto kept = verified_descriptors(list, rules(), &refused);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].node.ed25519, a.public_key());
  EXPECT_EQ(refused, 3u);
}

TEST(DirectoryCache, RoundTripsAndDropsWhatExpiredOnLoad) {
  crypto::init();
  auto a = crypto::Ed25519KeyPair::generate(), b = crypto::Ed25519KeyPair::generate();
  CachedDirectory c;
  c.fetched_at_ms = kNow;
  c.guard = a.to_x25519().public_key();
  c.descriptors = {make(a), make(b, 1'000)};
  auto back = parse_directory_cache(directory_cache_to_json(c), rules());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->descriptors, c.descriptors);
  EXPECT_EQ(back->guard, c.guard);
  auto later = parse_directory_cache(directory_cache_to_json(c), rules(kNow + 2'000));
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->descriptors.size(), 1u);
  EXPECT_FALSE(parse_directory_cache("[]", rules()).ok());
  EXPECT_FALSE(parse_directory_cache(R"({"fetched_at":1,"guard":"00","descriptors":[]})", rules()).ok());
  EXPECT_FALSE(parse_directory_cache("{", rules()).ok());
}

}  // namespace
}  // namespace onionswarm::client
