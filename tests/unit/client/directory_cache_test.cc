#include "client/directory_cache.h"

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "client/local_store.h"
#include "test_support.h"

namespace onionswarm::client {
namespace {

constexpr uint64_t kNow = 1'800'000'000'000;

swarm::SignedDescriptor make(const crypto::Ed25519KeyPair& ed, uint64_t lifetime = 3'600'000,
                             const std::string& address = "tcp://198.18.0.1:4500") {
  swarm::SignedDescriptor d;
  d.network_id = "net-a";
  d.node = {ed.public_key(), ed.to_x25519().public_key(), address, std::nullopt};
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

// A cache written under the identity's MAC key is trusted on load: its
// signatures are not checked again (a descriptor that would fail them is
// kept, standing in for one verified when fetched), while its times and the
// network's rules are. Without the key, under another key, or changed
// since, it is verified in full.
TEST(DirectoryCache, ACacheUnderItsMacIsNotVerifiedAgainButItsTermsAre) {
  crypto::init();
  auto a = crypto::Ed25519KeyPair::generate(), b = crypto::Ed25519KeyPair::generate(),
       c = crypto::Ed25519KeyPair::generate(), me = crypto::Ed25519KeyPair::generate();
  auto unchecked = make(c);
  unchecked.node.address = "tcp://198.18.0.9:4500";  // no longer matches its signature
  CachedDirectory dir;
  dir.fetched_at_ms = kNow;
  dir.guard = a.to_x25519().public_key();
  dir.descriptors = {make(a, 3'600'000, "tcp://198.18.0.7:4500"), make(b, 1'000), unchecked};
  const auto key = directory_cache_key(me);
  const std::string text = directory_cache_to_json(dir, &key);
  EXPECT_NE(text.find("\"mac\""), std::string::npos);
  EXPECT_EQ(directory_cache_to_json(dir).find("\"mac\""), std::string::npos);

  auto trusted = parse_directory_cache(text, rules(), &key);
  ASSERT_TRUE(trusted.ok()) << trusted.status().to_string();
  EXPECT_EQ(trusted->descriptors, dir.descriptors);
  EXPECT_EQ(trusted->guard, dir.guard);
  EXPECT_EQ(trusted->fetched_at_ms, kNow);

  auto expect_kept = [&](const Result<CachedDirectory>& r, std::vector<crypto::Ed25519PublicKey> want) {
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    std::vector<crypto::Ed25519PublicKey> got;
    for (const auto& d : r->descriptors) got.push_back(d.node.ed25519);
    EXPECT_EQ(got, want);
  };
  // Terms: expiry, and a permissioned network's operators.
  expect_kept(parse_directory_cache(text, rules(kNow + 2'000), &key), {a.public_key(), c.public_key()});
  auto permissioned = rules();
  permissioned.operators = {crypto::Ed25519KeyPair::generate().public_key()};
  expect_kept(parse_directory_cache(text, permissioned, &key), {});
  // Verified in full: no key, another identity's key, a changed file.
  expect_kept(parse_directory_cache(text, rules()), {a.public_key(), b.public_key()});
  const auto other = directory_cache_key(crypto::Ed25519KeyPair::generate());
  expect_kept(parse_directory_cache(text, rules(), &other), {a.public_key(), b.public_key()});
  std::string changed = text;
  const size_t at = changed.find("198.18.0.7");
  ASSERT_NE(at, std::string::npos);
  changed.replace(at, 10, "198.18.0.8");
  expect_kept(parse_directory_cache(changed, rules(), &key), {b.public_key()});
  std::string no_mac = text;
  const size_t mac_at = no_mac.find("\"mac\"");
  no_mac.replace(mac_at, 5, "\"mad\"");
  expect_kept(parse_directory_cache(no_mac, rules(), &key), {a.public_key(), b.public_key()});
}

// The key is the identity's: the same seed gives the same key, another seed
// another.
TEST(DirectoryCache, TheMacKeyIsDerivedFromTheIdentity) {
  crypto::init();
  auto me = crypto::Ed25519KeyPair::generate();
  auto again = crypto::Ed25519KeyPair::from_seed(me.seed());
  ASSERT_TRUE(again.ok());
  const auto k1 = directory_cache_key(me), k2 = directory_cache_key(*again),
             k3 = directory_cache_key(crypto::Ed25519KeyPair::generate());
  EXPECT_EQ(k1.size(), crypto::kKeySize);
  EXPECT_TRUE(crypto::equal_ct(k1.view(), k2.view()));
  EXPECT_FALSE(crypto::equal_ct(k1.view(), k3.view()));
  EXPECT_FALSE(crypto::equal_ct(k1.view(), me.seed())) << "not the seed itself";
}

TEST(DirectoryCache, RefreshAgeIsHalfTheShortestLifetimeWithinBounds) {
  crypto::init();
  auto a = crypto::Ed25519KeyPair::generate(), b = crypto::Ed25519KeyPair::generate();
  CachedDirectory c;
  EXPECT_EQ(directory_refresh_after_ms(c), kMaxDirectoryAgeMs);
  c.descriptors = {make(a, 3'600'000), make(b, 8'000)};
  EXPECT_EQ(directory_refresh_after_ms(c), 4'000u);
  c.descriptors = {make(a, 3'600'000)};
  EXPECT_EQ(directory_refresh_after_ms(c), kMaxDirectoryAgeMs);
  c.descriptors = {make(a, 500)};
  EXPECT_EQ(directory_refresh_after_ms(c), kMinDirectoryAgeMs);
}

TEST(DirectoryCache, ViewIsTheCacheOnceItHoldsThreeNodesElseTheSeeds) {
  crypto::init();
  auto a = crypto::Ed25519KeyPair::generate(), b = crypto::Ed25519KeyPair::generate(),
       c = crypto::Ed25519KeyPair::generate(), s = crypto::Ed25519KeyPair::generate();
  const std::vector<swarm::NodeDescriptor> seeds = {make(s).node};
  EXPECT_EQ(directory_view(std::nullopt, seeds), seeds);
  CachedDirectory dir;
  dir.descriptors = {make(a), make(b)};
  EXPECT_EQ(directory_view(dir, seeds), seeds);
  dir.descriptors.push_back(make(c));
  auto view = directory_view(dir, seeds);
  ASSERT_EQ(view.size(), 3u);
  EXPECT_EQ(view[2], dir.descriptors[2].node);
}

// An endorsement is verified on the way into the cache, even where the
// network's rules do not require one: a descriptor whose endorsement does
// not verify is refused, and the view takes each operator from the cache.
TEST(DirectoryCache, AForgedEndorsementIsRefusedAndTheViewCarriesEachOperator) {
  crypto::init();
  auto a = crypto::Ed25519KeyPair::generate(), b = crypto::Ed25519KeyPair::generate(),
       c = crypto::Ed25519KeyPair::generate(), d = crypto::Ed25519KeyPair::generate(),
       op = crypto::Ed25519KeyPair::generate();
  auto endorsed = make(a);
  endorsed.endorsement = swarm::endorse(op, "net-a", endorsed.node.ed25519, endorsed.node.x25519, kNow + 1000);
  swarm::sign_descriptor(endorsed, a);
  auto forged = make(b);  // claims op without op's signature, signed by its own node
  forged.endorsement = endorsed.endorsement;
  swarm::sign_descriptor(forged, b);
  ASSERT_TRUE(swarm::verify_descriptor(forged, rules()).ok()) << "an open network's rules do not check it";
  nlohmann::json list = {swarm::descriptor_to_json(endorsed), swarm::descriptor_to_json(forged),
                         swarm::descriptor_to_json(make(c)), swarm::descriptor_to_json(make(d))};
  size_t refused = 0;
  CachedDirectory dir;
  dir.descriptors = verified_descriptors(list, rules(), &refused);
  EXPECT_EQ(refused, 1u);
  ASSERT_EQ(dir.descriptors.size(), 3u);
  EXPECT_EQ(dir.descriptors[1].node.ed25519, c.public_key());
  auto view = directory_view(dir, {});
  ASSERT_EQ(view.size(), 3u);
  EXPECT_EQ(view[0].operator_key, op.public_key());
  EXPECT_FALSE(view[1].operator_key);
  EXPECT_FALSE(view[2].operator_key);
}

TEST(DirectoryCache, RefreshWhenStaleDoesNothingWithoutACacheOrWhileItIsFresh) {
  crypto::init();
  test::TempDir home;
  auto store = LocalStore::open(home.path());
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto s = crypto::Ed25519KeyPair::generate();
  const std::vector<swarm::NodeDescriptor> seeds = {make(s, 3'600'000, "tcp://127.0.0.1:1").node};
  auto r = refresh_directory(home.path(), **store, seeds, rules(), RefreshWhen::kWhenStale, 200);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->directory);
  EXPECT_FALSE(r->fetched);
  EXPECT_TRUE(r->fetch_error.ok());
  EXPECT_FALSE((*store)->guard());  // nothing asked, nothing chosen

  CachedDirectory c;
  c.fetched_at_ms = kNow;
  c.guard = s.to_x25519().public_key();
  c.descriptors = {make(s)};
  ASSERT_TRUE(save_directory_cache(home.path(), c).ok());
  r = refresh_directory(home.path(), **store, seeds, rules(kNow + kMaxDirectoryAgeMs - 1), RefreshWhen::kWhenStale,
                        200);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->directory);
  EXPECT_EQ(r->directory->descriptors, c.descriptors);
  EXPECT_TRUE(r->fetch_error.ok());
  EXPECT_FALSE((*store)->guard());
}

TEST(DirectoryCache, FirstRefreshTakesASeedAsTheGuardAndAFailedOneChangesNothing) {
  crypto::init();
  test::TempDir home;
  auto store = LocalStore::open(home.path());
  ASSERT_TRUE(store.ok());
  auto s = crypto::Ed25519KeyPair::generate();
  const std::vector<swarm::NodeDescriptor> seeds = {make(s, 3'600'000, "tcp://127.0.0.1:1").node};
  auto r = refresh_directory(home.path(), **store, seeds, rules(), RefreshWhen::kAlways, 200);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fetched);
  EXPECT_FALSE(r->fetch_error.ok());  // nothing listens there
  EXPECT_FALSE(r->directory);
  EXPECT_FALSE(std::filesystem::exists(directory_cache_path(home.path())));
  ASSERT_TRUE((*store)->guard());
  EXPECT_EQ(*(*store)->guard(), s.to_x25519().public_key());
}

TEST(DirectoryCache, StaleRefreshAsksTheKeptGuardAndKeepsTheCacheWhenItDoesNotAnswer) {
  crypto::init();
  // The kept guard b is a CURVE ROUTER with b's key that never answers.
  auto a = crypto::Ed25519KeyPair::generate(), b = crypto::Ed25519KeyPair::generate(),
       c = crypto::Ed25519KeyPair::generate();
  const auto b_x = b.to_x25519();
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::curve_server, 1);
  router.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(b_x.secret().data(), 32));
  router.bind("tcp://127.0.0.1:*");
  const std::string b_address = router.get(zmq::sockopt::last_endpoint);

  test::TempDir home;
  auto store = LocalStore::open(home.path());
  ASSERT_TRUE(store.ok());
  CachedDirectory dir;
  dir.fetched_at_ms = kNow;
  dir.guard = a.to_x25519().public_key();
  dir.descriptors = {make(a, 3'600'000, "tcp://127.0.0.1:1"), make(b, 3'600'000, b_address),
                     make(c, 3'600'000, "tcp://127.0.0.1:1")};
  ASSERT_TRUE(save_directory_cache(home.path(), dir).ok());
  ASSERT_TRUE((*store)->set_guard(b_x.public_key()).ok());

  auto r = refresh_directory(home.path(), **store, {}, rules(kNow + kMaxDirectoryAgeMs), RefreshWhen::kWhenStale, 300);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fetched);
  EXPECT_FALSE(r->fetch_error.ok());
  ASSERT_TRUE(r->directory);
  EXPECT_EQ(r->directory->descriptors, dir.descriptors);  // the cache is kept
  EXPECT_EQ(*(*store)->guard(), b_x.public_key());        // and so is the guard
  // The request reached b (and no one else could have taken it).
  zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(10'000));
  ASSERT_TRUE(item.revents & ZMQ_POLLIN);
  std::vector<zmq::message_t> got;
  ASSERT_TRUE(zmq::recv_multipart(router, std::back_inserter(got)));
  ASSERT_EQ(got.size(), 3u);  // routing id, header, body
  EXPECT_NE(got[2].to_string().find("\"list\""), std::string::npos) << got[2].to_string();
}

}  // namespace
}  // namespace onionswarm::client
