#include "swarm/rpc.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "onion/encoding.h"

namespace onionswarm::swarm::rpc {
namespace {

using nlohmann::json;

constexpr uint64_t kTs = 1'700'000'000'000;

// The fixed identity of the golden vectors: seed 00 01 02 ... 1f.
crypto::Ed25519KeyPair fixed_key() {
  crypto::init();
  Bytes seed(crypto::kSeedSize);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = uint8_t(i);
  return std::move(crypto::Ed25519KeyPair::from_seed(seed)).value();
}

AccountId user_of(const crypto::Ed25519KeyPair& k) { return AccountId::user(k.to_x25519().public_key()); }

crypto::Hash hash_of(std::string_view s) { return crypto::hash(as_bytes(s)); }

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }
std::string text_of(const Bytes& b) { return std::string(b.begin(), b.end()); }

Result<Request> parse(const json& j) { return parse_request(bytes_of(j.dump())); }
Result<Request> parse_text(std::string_view s) { return parse_request(as_bytes(s)); }

class Rpc : public ::testing::Test {
 protected:
  Rpc() : key_(fixed_key()), account_(user_of(key_)) {}

  json signed_params() const {
    return {{"pubkey_ed25519", to_hex(key_.public_key().view())},
            {"signature", to_base64(Bytes(crypto::kSignatureSize, 1))}};
  }
  json store() const {
    return {{"method", "store"},
            {"params",
             {{"account", account_.to_string()},
              {"namespace", 0},
              {"timestamp", kTs},
              {"ttl", 3'600'000},
              {"data", to_base64(bytes_of("hello"))}}}};
  }
  json retrieve() const {
    json p = signed_params();
    p.update({{"account", account_.to_string()},
              {"namespace", 3},
              {"timestamp", kTs},
              {"after_timestamp", kTs - 5},
              {"after_hash", to_hex(hash_of("cursor").view())},
              {"limit", 20}});
    return {{"method", "retrieve"}, {"params", p}};
  }
  json del() const {
    json p = signed_params();
    p.update({{"account", account_.to_string()},
              {"namespace", 0},
              {"timestamp", kTs},
              {"hashes", {to_hex(hash_of("a").view()), to_hex(hash_of("b").view())}}});
    return {{"method", "delete"}, {"params", p}};
  }

  crypto::Ed25519KeyPair key_;
  AccountId account_;
};

// ---- parsing valid requests -------------------------------------------------

TEST_F(Rpc, ParsesUnsignedStore) {
  auto r = parse(store());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto* s = std::get_if<StoreRequest>(&*r);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->account, account_);
  EXPECT_EQ(s->ns, 0);
  EXPECT_EQ(s->timestamp_ms, kTs);
  EXPECT_EQ(s->ttl_ms, 3'600'000u);
  EXPECT_EQ(text_of(s->data), "hello");
  EXPECT_FALSE(s->auth.has_value());
  EXPECT_STREQ(method_name(*r), "store");
}

TEST_F(Rpc, StoreTtlDefaultsWhenAbsent) {
  json j = store();
  j["params"].erase("ttl");
  auto r = parse(j);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(std::get<StoreRequest>(*r).ttl_ms, kDefaultTtlMs);
}

TEST_F(Rpc, ParsesSignedStoreWithAuth) {
  json j = store();
  j["params"]["namespace"] = 65535;
  j["params"].update(signed_params());
  auto r = parse(j);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const auto& s = std::get<StoreRequest>(*r);
  EXPECT_EQ(s.ns, 65535);
  ASSERT_TRUE(s.auth.has_value());
  EXPECT_EQ(s.auth->pubkey, key_.public_key());
  EXPECT_EQ(s.auth->signature.bytes[0], 1);
}

TEST_F(Rpc, ParsesRetrieve) {
  auto r = parse(retrieve());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const auto& q = std::get<RetrieveRequest>(*r);
  EXPECT_EQ(q.account, account_);
  EXPECT_EQ(q.ns, 3);
  EXPECT_EQ(q.timestamp_ms, kTs);
  EXPECT_EQ(q.after_timestamp_ms, kTs - 5);
  EXPECT_EQ(q.after_hash, hash_of("cursor"));
  EXPECT_EQ(q.limit, 20u);
  EXPECT_EQ(q.auth.pubkey, key_.public_key());
  EXPECT_STREQ(method_name(*r), "retrieve");
}

TEST_F(Rpc, RetrieveCursorAndLimitDefaultWhenAbsent) {
  json j = retrieve();
  for (const char* k : {"after_timestamp", "after_hash", "limit"}) j["params"].erase(k);
  auto r = parse(j);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const auto& q = std::get<RetrieveRequest>(*r);
  EXPECT_EQ(q.after_timestamp_ms, 0u);
  EXPECT_EQ(q.after_hash, crypto::Hash{});
  EXPECT_EQ(q.limit, kDefaultRetrieveLimit);
}

TEST_F(Rpc, RetrieveFormatIsJsonUnlessBinaryIsAsked) {
  auto plain = parse(retrieve());
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(std::get<RetrieveRequest>(*plain).binary);
  for (const char* format : {"json", "binary"}) {
    json j = retrieve();
    j["params"]["format"] = format;
    auto r = parse(j);
    ASSERT_TRUE(r.ok()) << format << ": " << r.status().to_string();
    EXPECT_EQ(std::get<RetrieveRequest>(*r).binary, std::string(format) == "binary");
  }
  // serialize_request writes "format" only when binary is asked, and it
  // parses back to the same request.
  RetrieveRequest q = std::get<RetrieveRequest>(*plain);
  EXPECT_EQ(text_of(serialize_request(Request(q))).find("format"), std::string::npos);
  q.binary = true;
  auto back = parse_request(serialize_request(Request(q)));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(std::get<RetrieveRequest>(*back).binary);
}

TEST_F(Rpc, ParsesDelete) {
  auto r = parse(del());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const auto& d = std::get<DeleteRequest>(*r);
  ASSERT_EQ(d.hashes.size(), 2u);
  EXPECT_EQ(d.hashes[0], hash_of("a"));
  EXPECT_EQ(d.hashes[1], hash_of("b"));
  EXPECT_STREQ(method_name(*r), "delete");
}

TEST_F(Rpc, ParsesInfoWithAndWithoutParams) {
  for (const char* text : {R"({"method":"info"})", R"({"method":"info","params":{}})"}) {
    auto r = parse_text(text);
    ASSERT_TRUE(r.ok()) << text;
    EXPECT_TRUE(std::holds_alternative<InfoRequest>(*r));
  }
}

TEST_F(Rpc, ParsesGetSwarm) {
  auto r = parse(json{{"method", "get_swarm"}, {"params", {{"account", account_.to_string()}}}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(std::get<GetSwarmRequest>(*r).account, account_);
  EXPECT_STREQ(method_name(*r), "get_swarm");
}

TEST_F(Rpc, AcceptsLimitsAtTheirBounds) {
  json j = retrieve();
  j["params"]["limit"] = kMaxRetrieveLimit;
  EXPECT_TRUE(parse(j).ok());
  j = store();
  j["params"]["ttl"] = kMaxTtlMs;
  j["params"]["data"] = to_base64(Bytes(kMaxDataBytes, 7));
  EXPECT_TRUE(parse(j).ok());
  j = del();
  j["params"]["hashes"] = json::array();
  for (size_t i = 0; i < kMaxDeleteHashes; ++i) j["params"]["hashes"].push_back(to_hex(crypto::Hash{}.view()));
  EXPECT_TRUE(parse(j).ok());
}

// ---- malformed requests -------------------------------------------------------

struct Malformed {
  std::string name;
  std::string text;
  std::string field;  // must appear in the error message
};

TEST_F(Rpc, RefusesMalformedRequestsNamingTheField) {
  auto with = [](json j, const std::string& key, json v) {
    j["params"][key] = std::move(v);
    return j.dump();
  };
  auto without = [](json j, const std::string& key) {
    j["params"].erase(key);
    return j.dump();
  };
  std::string bad_account = account_.to_string();
  bad_account[0] = '0';
  bad_account[1] = '7';
  json many = json::array();
  for (size_t i = 0; i <= kMaxDeleteHashes; ++i) many.push_back(to_hex(crypto::Hash{}.view()));
  json top_extra = store();
  top_extra["id"] = 1;
  json info_extra = {{"method", "info"}, {"params", {{"verbose", true}}}};
  json no_method = store();
  no_method.erase("method");
  json unsigned_retrieve = retrieve();
  unsigned_retrieve["params"].erase("signature");
  unsigned_retrieve["params"].erase("pubkey_ed25519");

  const std::vector<Malformed> cases = {
      {"missing account", without(store(), "account"), "account"},
      {"missing timestamp", without(retrieve(), "timestamp"), "timestamp"},
      {"missing data", without(store(), "data"), "data"},
      {"extra field", with(store(), "colour", "red"), "colour"},
      {"top-level extra field", top_extra.dump(), "id"},
      {"info extra field", info_extra.dump(), "verbose"},
      {"namespace wrong type", with(store(), "namespace", "0"), "namespace"},
      {"timestamp wrong type", with(store(), "timestamp", "1700000000000"), "timestamp"},
      {"timestamp fractional", with(store(), "timestamp", 1.5), "timestamp"},
      {"timestamp beyond u64", with(store(), "timestamp", 1e20), "timestamp"},
      {"negative timestamp", with(retrieve(), "timestamp", -1), "timestamp"},
      {"negative namespace", with(store(), "namespace", -3), "namespace"},
      {"namespace too large", with(store(), "namespace", 70000), "namespace"},
      {"ttl beyond max", with(store(), "ttl", kMaxTtlMs + 1), "ttl"},
      {"ttl zero", with(store(), "ttl", 0), "ttl"},
      {"limit zero", with(retrieve(), "limit", 0), "limit"},
      {"limit 501", with(retrieve(), "limit", 501), "limit"},
      {"unknown retrieve format", with(retrieve(), "format", "xml"), "format"},
      {"retrieve format not a string", with(retrieve(), "format", 1), "format"},
      {"bad base64 data", with(store(), "data", "not base64!"), "data"},
      {"unpadded base64 data", with(store(), "data", "aGVsbG8"), "data"},
      {"data too large", with(store(), "data", to_base64(Bytes(kMaxDataBytes + 1, 1))), "data"},
      {"empty data", with(store(), "data", ""), "data"},
      {"data not a string", with(store(), "data", json::array()), "data"},
      {"bad hex after_hash", with(retrieve(), "after_hash", std::string(64, 'z')), "after_hash"},
      {"short after_hash", with(retrieve(), "after_hash", "abcd"), "after_hash"},
      {"bad hex pubkey", with(retrieve(), "pubkey_ed25519", std::string(64, 'x')), "pubkey_ed25519"},
      {"short signature", with(retrieve(), "signature", to_base64(Bytes(63, 1))), "signature"},
      {"retrieve without auth", unsigned_retrieve.dump(), "signature"},
      {"signature without pubkey", without(retrieve(), "pubkey_ed25519"), "pubkey_ed25519"},
      {"pubkey without signature", without(retrieve(), "signature"), "signature"},
      {"bad account prefix", with(store(), "account", bad_account), "account"},
      {"account too short", with(store(), "account", "05abcd"), "account"},
      {"account not a string", with(store(), "account", 5), "account"},
      {"unknown method", R"({"method":"destroy","params":{}})", "method"},
      {"method missing", no_method.dump(), "method"},
      {"method wrong type", R"({"method":7})", "method"},
      {"params not an object", R"({"method":"info","params":[]})", "params"},
      {"too many delete hashes", with(del(), "hashes", many), "hashes"},
      {"no delete hashes", with(del(), "hashes", json::array()), "hashes"},
      {"delete hashes not an array", with(del(), "hashes", "abc"), "hashes"},
      {"delete hash not a string", with(del(), "hashes", json::array({1})), "hashes"},
      {"delete hash bad hex", with(del(), "hashes", json::array({std::string(64, 'q')})), "hashes"},
      {"get_swarm without account", R"({"method":"get_swarm","params":{}})", "account"},
  };
  for (const auto& c : cases) {
    auto r = parse_text(c.text);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(c.field), std::string::npos)
        << c.name << ": message '" << r.status().message() << "' does not name " << c.field;
  }
}

TEST_F(Rpc, RefusesNonObjectTopLevel) {
  for (const char* text : {"[]", "\"store\"", "42", "null", "[{\"method\":\"info\"}]"}) {
    auto r = parse_text(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("object"), std::string::npos) << r.status().message();
  }
}

TEST_F(Rpc, RefusesBadJsonTooDeepAndTooLarge) {
  EXPECT_EQ(parse_text("{\"method\":").status().code(), Code::kInvalidArgument);
  std::string deep = R"({"method":"info","params":{"x":)" + std::string(20, '[') + std::string(20, ']') + "}}";
  auto d = parse_text(deep);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "JSON too deep");
  std::string big(kMaxRequestBytes + 1, ' ');
  auto b = parse_text(big);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kInvalidArgument);
}

// ---- serialize, sign, signing bytes ------------------------------------------

TEST_F(Rpc, SerializeThenParseRoundTrips) {
  StoreRequest s{account_, 7, kTs, 1234, bytes_of("payload"), std::nullopt};
  RetrieveRequest q;
  q.account = account_;
  q.ns = 2;
  q.timestamp_ms = kTs;
  q.after_timestamp_ms = 99;
  q.after_hash = hash_of("x");
  q.limit = 17;
  DeleteRequest d;
  d.account = AccountId::group(key_.public_key());
  d.ns = 1;
  d.timestamp_ms = kTs + 1;
  d.hashes = {hash_of("1"), hash_of("2"), hash_of("3")};
  std::vector<Request> reqs = {Request(s), Request(q), Request(d), Request(InfoRequest{}),
                               Request(GetSwarmRequest{account_})};
  sign_request(reqs[0], key_);
  sign_request(reqs[1], key_);
  sign_request(reqs[2], key_);
  for (const auto& r : reqs) {
    Bytes wire = serialize_request(r);
    auto back = parse_request(wire);
    ASSERT_TRUE(back.ok()) << method_name(r) << ": " << back.status().to_string();
    EXPECT_EQ(back->index(), r.index());
    EXPECT_EQ(serialize_request(*back), wire) << method_name(r);
    if (r.index() <= 2) {
      EXPECT_EQ(signing_bytes(*back), signing_bytes(r)) << method_name(r);
    }
  }
  auto store_back = parse_request(serialize_request(reqs[0]));
  ASSERT_TRUE(store_back.ok());
  const auto& s2 = std::get<StoreRequest>(*store_back);
  EXPECT_EQ(s2.ns, 7);
  EXPECT_EQ(s2.ttl_ms, 1234u);
  EXPECT_EQ(text_of(s2.data), "payload");
  auto delete_back = parse_request(serialize_request(reqs[2]));
  ASSERT_TRUE(delete_back.ok());
  const auto& d2 = std::get<DeleteRequest>(*delete_back);
  EXPECT_EQ(d2.account, d.account);
  EXPECT_EQ(d2.hashes, d.hashes);
}

TEST_F(Rpc, SignRequestProducesSignatureOverSigningBytes) {
  std::vector<Request> reqs;
  reqs.emplace_back(StoreRequest{account_, 1, kTs, 1000, bytes_of("m"), std::nullopt});
  RetrieveRequest q;
  q.account = account_;
  q.timestamp_ms = kTs;
  reqs.emplace_back(q);
  DeleteRequest d;
  d.account = account_;
  d.timestamp_ms = kTs;
  d.hashes = {hash_of("m")};
  reqs.emplace_back(d);
  auto other = crypto::Ed25519KeyPair::generate();
  for (auto& r : reqs) {
    sign_request(r, key_);
    const Auth* auth = std::visit(
        [](auto& x) -> const Auth* {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, StoreRequest>) return x.auth ? &*x.auth : nullptr;
          else if constexpr (std::is_same_v<T, RetrieveRequest> || std::is_same_v<T, DeleteRequest>) return &x.auth;
          else return nullptr;
        },
        r);
    ASSERT_NE(auth, nullptr) << method_name(r);
    EXPECT_EQ(auth->pubkey, key_.public_key());
    EXPECT_TRUE(crypto::verify(auth->pubkey, signing_bytes(r), auth->signature)) << method_name(r);
    EXPECT_FALSE(crypto::verify(other.public_key(), signing_bytes(r), auth->signature));
    Bytes tampered = signing_bytes(r);
    tampered.back() ^= 1;
    EXPECT_FALSE(crypto::verify(auth->pubkey, tampered, auth->signature));
  }
}

TEST_F(Rpc, SigningBytesHaveTheDocumentedLayout) {
  StoreRequest s{account_, 1, kTs, 86'400'000, bytes_of("hi"), std::nullopt};
  EXPECT_EQ(text_of(signing_bytes(Request(s))), "onionswarm/req/v1\nstore\n" + account_.to_string() + "\n1\n" +
                                                     std::to_string(kTs) + "\n86400000\n" +
                                                     to_hex(crypto::hash(bytes_of("hi")).view()));
  RetrieveRequest q;
  q.account = account_;
  q.ns = 0;
  q.timestamp_ms = kTs;
  q.after_timestamp_ms = 0;
  q.limit = 100;
  EXPECT_EQ(text_of(signing_bytes(Request(q))), "onionswarm/req/v1\nretrieve\n" + account_.to_string() + "\n0\n" +
                                                     std::to_string(kTs) + "\n0\n" + std::string(64, '0') +
                                                     "\n100");
  q.binary = true;  // the answer format is signed too, as a last line
  EXPECT_EQ(text_of(signing_bytes(Request(q))), "onionswarm/req/v1\nretrieve\n" + account_.to_string() + "\n0\n" +
                                                     std::to_string(kTs) + "\n0\n" + std::string(64, '0') +
                                                     "\n100\nbinary");
  DeleteRequest d;
  d.account = account_;
  d.timestamp_ms = 5;
  d.hashes = {hash_of("a"), hash_of("b")};
  EXPECT_EQ(text_of(signing_bytes(Request(d))), "onionswarm/req/v1\ndelete\n" + account_.to_string() +
                                                    "\n0\n5\n2\n" + to_hex(hash_of("a").view()) + "," +
                                                    to_hex(hash_of("b").view()));
}

TEST_F(Rpc, SigningBytesDoNotDependOnAuth) {
  StoreRequest s{account_, 1, kTs, 1000, bytes_of("m"), std::nullopt};
  Request a(s);
  Bytes before = signing_bytes(a);
  sign_request(a, key_);
  EXPECT_EQ(signing_bytes(a), before);
}

TEST_F(Rpc, ChangingAnySignedFieldChangesSigningBytes) {
  const AccountId other_account = AccountId::group(key_.public_key());
  StoreRequest s{account_, 1, kTs, 1000, bytes_of("m"), std::nullopt};
  const Bytes sb = signing_bytes(Request(s));
  std::vector<StoreRequest> stores(5, s);
  stores[0].account = other_account;
  stores[1].ns = 2;
  stores[2].timestamp_ms += 1;
  stores[3].ttl_ms += 1;
  stores[4].data.push_back('!');
  for (size_t i = 0; i < stores.size(); ++i) EXPECT_NE(signing_bytes(Request(stores[i])), sb) << "store " << i;

  RetrieveRequest q;
  q.account = account_;
  q.ns = 1;
  q.timestamp_ms = kTs;
  q.after_timestamp_ms = 10;
  q.after_hash = hash_of("c");
  q.limit = 10;
  const Bytes qb = signing_bytes(Request(q));
  std::vector<RetrieveRequest> rs(7, q);
  rs[0].account = other_account;
  rs[1].ns = 0;
  rs[2].timestamp_ms += 1;
  rs[3].after_timestamp_ms += 1;
  rs[4].after_hash.bytes[31] ^= 1;
  rs[5].limit = 11;
  rs[6].binary = true;
  for (size_t i = 0; i < rs.size(); ++i) EXPECT_NE(signing_bytes(Request(rs[i])), qb) << "retrieve " << i;

  DeleteRequest d;
  d.account = account_;
  d.ns = 1;
  d.timestamp_ms = kTs;
  d.hashes = {hash_of("a"), hash_of("b")};
  const Bytes db = signing_bytes(Request(d));
  std::vector<DeleteRequest> ds(6, d);
  ds[0].account = other_account;
  ds[1].ns = 0;
  ds[2].timestamp_ms += 1;
  ds[3].hashes.pop_back();
  ds[4].hashes[1].bytes[0] ^= 1;
  std::swap(ds[5].hashes[0], ds[5].hashes[1]);
  for (size_t i = 0; i < ds.size(); ++i) EXPECT_NE(signing_bytes(Request(ds[i])), db) << "delete " << i;

  // The method is bound too: a delete and a retrieve never share signing bytes.
  EXPECT_NE(qb, db);
}

// ---- golden vectors -----------------------------------------------------------

struct Vector {
  std::string name;
  Request request;
};

std::vector<Vector> vector_requests(const crypto::Ed25519KeyPair& key) {
  const AccountId acc = user_of(key);
  RetrieveRequest q;
  q.account = acc;
  q.ns = 0;
  q.timestamp_ms = 1'700'000'000'000;
  q.after_timestamp_ms = 1'699'999'990'000;
  q.after_hash = crypto::hash(as_bytes("cursor"));
  q.limit = 50;
  DeleteRequest d;
  d.account = acc;
  d.ns = 0;
  d.timestamp_ms = 1'700'000'000'001;
  d.hashes = {crypto::hash(as_bytes("first")), crypto::hash(as_bytes("second"))};
  StoreRequest s;
  s.account = acc;
  s.ns = 1;
  s.timestamp_ms = 1'700'000'000'002;
  s.ttl_ms = 86'400'000;
  s.data = Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'o', 'n', 'i', 'o', 'n', 's', 'w', 'a', 'r', 'm'};
  RetrieveRequest qb = q;
  qb.timestamp_ms = 1'700'000'000'003;
  qb.binary = true;
  std::vector<Vector> v = {{"retrieve", Request(q)},
                           {"delete", Request(d)},
                           {"signed_store", Request(s)},
                           {"retrieve_binary", Request(qb)}};
  for (auto& x : v) sign_request(x.request, key);
  return v;
}

const Auth& auth_of(const Request& r) {
  if (auto* s = std::get_if<StoreRequest>(&r)) return *s->auth;
  if (auto* q = std::get_if<RetrieveRequest>(&r)) return q->auth;
  return std::get<DeleteRequest>(r).auth;
}

void expect_same_messages(const RetrieveAnswer& got, const RetrieveAnswer& want) {
  ASSERT_EQ(got.messages.size(), want.messages.size());
  for (size_t i = 0; i < got.messages.size(); ++i) {
    EXPECT_EQ(got.messages[i].hash, want.messages[i].hash) << i;
    EXPECT_EQ(got.messages[i].timestamp_ms, want.messages[i].timestamp_ms) << i;
    EXPECT_EQ(got.messages[i].expiry_ms, want.messages[i].expiry_ms) << i;
    EXPECT_EQ(got.messages[i].data, want.messages[i].data) << i;
  }
}

// The binary retrieve answer of the vectors: two messages, "more" and
// "catching_up" set.
RetrieveAnswer vector_binary_answer() {
  RetrieveAnswer a;
  a.more = true;
  a.catching_up = true;
  a.now_ms = 1'700'000'000'010;
  a.messages.push_back({crypto::hash(as_bytes("sealed one")), 1'699'999'995'000, 1'701'209'595'000, bytes_of("sealed one")});
  a.messages.push_back({crypto::hash(as_bytes("sealed two!")), 1'699'999'996'000, 1'701'209'596'000, bytes_of("sealed two!")});
  return a;
}

json make_vectors(const crypto::Ed25519KeyPair& key) {
  json out = {{"description",
               "Destination requests (docs/protocol/requests.md). Ed25519 seed -> signing_bytes (UTF-8 text) -> "
               "signature (hex) and the exact serialize_request output."},
              {"seed", to_hex(key.seed())},
              {"pubkey_ed25519", to_hex(key.public_key().view())},
              {"account", user_of(key).to_string()},
              {"requests", json::array()}};
  for (const auto& v : vector_requests(key)) {
    out["requests"].push_back({{"name", v.name},
                               {"signing_bytes", text_of(signing_bytes(v.request))},
                               {"signature", to_hex(auth_of(v.request).signature.view())},
                               {"json", text_of(serialize_request(v.request))}});
  }
  const RetrieveAnswer a = vector_binary_answer();
  json msgs = json::array();
  for (const auto& m : a.messages)
    msgs.push_back({{"hash", to_hex(m.hash.view())}, {"timestamp", m.timestamp_ms}, {"expiry", m.expiry_ms},
                    {"data_hex", to_hex(m.data)}});
  out["binary_retrieve_answer"] = {{"more", a.more},         {"catching_up", a.catching_up},
                                   {"now", a.now_ms},        {"messages", msgs},
                                   {"hex", to_hex(retrieve_response_binary(a))}};
  // A hop's stale error for a layer, with the hop's clock (PROTOCOL 5.7).
  constexpr uint64_t kHopNow = 1'700'000'000'123;
  const Bytes stale = stale_layer_response(kHopNow);
  out["stale_layer_answer"] = {{"now_ms", kHopNow}, {"json", std::string(stale.begin(), stale.end())}};
  return out;
}

TEST_F(Rpc, GoldenVectorsMatchByteForByte) {
  const std::string path = std::string(ONIONSWARM_VECTORS_DIR) + "/requests.json";
  const json want = make_vectors(key_);
  if (const char* regen = std::getenv("ONIONSWARM_REGENERATE_VECTORS"); regen && std::string(regen) == "1") {
    std::ofstream(path) << want.dump(2) << "\n";
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing " << path << " (run once with ONIONSWARM_REGENERATE_VECTORS=1)";
  std::stringstream ss;
  ss << in.rdbuf();
  const json got = json::parse(ss.str());
  EXPECT_EQ(got["seed"], to_hex(key_.seed()));
  EXPECT_EQ(got["pubkey_ed25519"], to_hex(key_.public_key().view()));
  EXPECT_EQ(got["account"], account_.to_string());
  const auto reqs = vector_requests(key_);
  ASSERT_EQ(got["requests"].size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    const json& g = got["requests"][i];
    const Request& r = reqs[i].request;
    SCOPED_TRACE(reqs[i].name);
    EXPECT_EQ(g["name"], reqs[i].name);
    EXPECT_EQ(g["signing_bytes"].get<std::string>(), text_of(signing_bytes(r)));
    EXPECT_EQ(g["signature"].get<std::string>(), to_hex(auth_of(r).signature.view()));
    EXPECT_EQ(g["json"].get<std::string>(), text_of(serialize_request(r)));
    // The stored JSON parses back, and its signature verifies over its signing bytes.
    auto parsed = parse_text(g["json"].get<std::string>());
    ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
    auto sig = from_hex(g["signature"].get<std::string>());
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(crypto::verify(key_.public_key(), as_bytes(g["signing_bytes"].get<std::string>()),
                               *crypto::Signature::from(*sig)));
    EXPECT_EQ(text_of(signing_bytes(*parsed)), g["signing_bytes"].get<std::string>());
  }
  // The binary retrieve answer: the stored bytes are what the encoder
  // writes, and they parse back to the stored fields.
  EXPECT_EQ(got["binary_retrieve_answer"], want["binary_retrieve_answer"]);
  auto bytes = from_hex(got["binary_retrieve_answer"]["hex"].get<std::string>());
  ASSERT_TRUE(bytes.ok());
  auto answer = parse_retrieve_answer_binary(*bytes);
  ASSERT_TRUE(answer.ok()) << answer.status().to_string();
  expect_same_messages(*answer, vector_binary_answer());
  EXPECT_TRUE(answer->more);
  EXPECT_TRUE(answer->catching_up);
  // The stale layer answer: exact text, and the clock reads back.
  EXPECT_EQ(got["stale_layer_answer"], want["stale_layer_answer"]);
  EXPECT_EQ(stale_layer_clock(as_bytes(got["stale_layer_answer"]["json"].get<std::string>())),
            std::optional<uint64_t>(got["stale_layer_answer"]["now_ms"].get<uint64_t>()));
}

// ---- answers ------------------------------------------------------------------

Swarm sample_swarm() {
  Swarm s;
  s.id = 0x0123456789abcdefULL;
  for (int i = 0; i < 3; ++i) {
    NodeDescriptor d;
    d.ed25519.bytes.fill(uint8_t(i + 1));
    d.x25519.bytes.fill(uint8_t(i + 0x40));
    d.address = "tcp://10.0.0." + std::to_string(i) + ":4500";
    s.members.push_back(d);
  }
  return s;
}

json ok_of(const Bytes& answer) {
  auto r = parse_response(answer);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return json();
  auto* j = std::get_if<json>(&*r);
  EXPECT_NE(j, nullptr) << text_of(answer);
  return j ? *j : json();
}

TEST_F(Rpc, StoreAnswerRoundTrips) {
  for (bool existed : {false, true}) {
    auto a = parse_store_answer(ok_of(store_response({existed, hash_of("m"), {}})));
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    EXPECT_EQ(a->existed, existed);
    EXPECT_EQ(a->hash, hash_of("m"));
  }
  crypto::X25519PublicKey h1 = crypto::X25519KeyPair::generate().public_key();
  crypto::X25519PublicKey h2 = crypto::X25519KeyPair::generate().public_key();
  auto with_holders = parse_store_answer(ok_of(store_response({false, hash_of("m"), {h1, h2}})));
  ASSERT_TRUE(with_holders.ok());
  EXPECT_EQ(with_holders->holders, (std::vector<crypto::X25519PublicKey>{h1, h2}));
  json bad_holders = ok_of(store_response({false, hash_of("m"), {h1}}));
  bad_holders["holders"][0] = "zz";
  EXPECT_FALSE(parse_store_answer(bad_holders).ok());
  json bad = ok_of(store_response({false, hash_of("m"), {}}));
  bad["result"] = "maybe";
  EXPECT_EQ(parse_store_answer(bad).status().code(), Code::kInvalidArgument);
}

TEST_F(Rpc, RetrieveAnswerRoundTrips) {
  RetrieveAnswer a;
  a.more = true;
  a.now_ms = kTs;
  a.messages.push_back({hash_of("1"), 10, 20, bytes_of("one")});
  a.messages.push_back({hash_of("2"), 11, 21, Bytes(300, 0xff)});
  auto b = parse_retrieve_answer(ok_of(retrieve_response(a)));
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_TRUE(b->more);
  EXPECT_EQ(b->now_ms, kTs);
  expect_same_messages(*b, a);
  EXPECT_FALSE(b->catching_up);
  RetrieveAnswer empty;
  auto e = parse_retrieve_answer(ok_of(retrieve_response(empty)));
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->messages.empty());
  EXPECT_FALSE(e->more);
  a.catching_up = true;
  auto c = parse_retrieve_answer(ok_of(retrieve_response(a)));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->catching_up);
  expect_same_messages(*c, a);
}

// retrieve_response writes its JSON by hand: it must be exactly what
// nlohmann::json makes of the same object, including numbers at their
// limits, an empty data blob and every padding length of base64.
TEST_F(Rpc, RetrieveAnswerIsTheSameBytesAsTheJsonLibraryWrites) {
  for (int flags = 0; flags < 4; ++flags) {
    RetrieveAnswer a;
    a.more = flags & 1;
    a.catching_up = flags & 2;
    a.now_ms = UINT64_MAX;
    a.messages.push_back({hash_of("0"), 0, UINT64_MAX, Bytes{}});
    for (size_t n = 1; n <= 4; ++n) a.messages.push_back({hash_of(std::to_string(n)), n, 1000 * n, Bytes(n, uint8_t(n))});
    json msgs = json::array();
    for (const auto& m : a.messages)
      msgs.push_back({{"hash", to_hex(m.hash.view())}, {"timestamp", m.timestamp_ms}, {"expiry", m.expiry_ms},
                      {"data", to_base64(m.data)}});
    json want{{"status", "ok"}, {"messages", msgs}, {"more", a.more}, {"now", a.now_ms}};
    if (a.catching_up) want["catching_up"] = true;  // only when set
    const std::string expected = want.dump();
    const Bytes got = retrieve_response(a);
    EXPECT_EQ(std::string(got.begin(), got.end()), expected);
  }
  const Bytes empty = retrieve_response(RetrieveAnswer{});
  EXPECT_EQ(std::string(empty.begin(), empty.end()), R"({"messages":[],"more":false,"now":0,"status":"ok"})");
}

TEST_F(Rpc, BinaryRetrieveAnswerRoundTrips) {
  for (int flags = 0; flags < 4; ++flags) {
    const bool more = flags & 1, catching_up = flags & 2;
    RetrieveAnswer a;
    a.more = more;
    a.catching_up = catching_up;
    a.now_ms = UINT64_MAX;
    a.messages.push_back({hash_of("1"), 0, UINT64_MAX, bytes_of("one")});
    a.messages.push_back({hash_of("2"), 11, 21, Bytes(kMaxDataBytes, 0xff)});
    const Bytes wire = retrieve_response_binary(a);
    EXPECT_TRUE(is_binary_retrieve_answer(wire));
    EXPECT_EQ(wire.size(), kBinaryRetrieveHeader + 2 * kBinaryRetrieveItemHeader + 3 + kMaxDataBytes);
    auto b = parse_retrieve_answer_binary(wire);
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    EXPECT_EQ(wire[1], flags);
    EXPECT_EQ(b->more, more);
    EXPECT_EQ(b->catching_up, catching_up);
    EXPECT_EQ(b->now_ms, a.now_ms);
    expect_same_messages(*b, a);
  }
  const Bytes empty = retrieve_response_binary(RetrieveAnswer{});
  EXPECT_EQ(empty, (Bytes{kBinaryRetrieveTag, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  auto e = parse_retrieve_answer_binary(empty);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->messages.empty());
  // A JSON answer (ok or error) is never taken for a binary one.
  EXPECT_FALSE(is_binary_retrieve_answer(retrieve_response(RetrieveAnswer{})));
  EXPECT_FALSE(is_binary_retrieve_answer(error_response(error(Code::kBusy, "busy"))));
  EXPECT_FALSE(is_binary_retrieve_answer({}));
}

TEST_F(Rpc, MalformedBinaryRetrieveAnswersAreRefused) {
  RetrieveAnswer a;
  a.messages.push_back({hash_of("1"), 10, 20, bytes_of("one")});
  a.messages.push_back({hash_of("2"), 11, 21, bytes_of("two!")});
  const Bytes good = retrieve_response_binary(a);
  ASSERT_TRUE(parse_retrieve_answer_binary(good).ok());
  const size_t second = kBinaryRetrieveHeader + kBinaryRetrieveItemHeader + 3;  // offset of item 2
  auto patched = [&](size_t at, std::initializer_list<uint8_t> bytes) {
    Bytes b = good;
    std::copy(bytes.begin(), bytes.end(), b.begin() + at);
    return b;
  };
  struct Case {
    const char* name;
    Bytes bytes;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"empty", {}, "shorter than its header"},
      {"header cut short", Bytes(good.begin(), good.begin() + kBinaryRetrieveHeader - 1), "shorter than its header"},
      {"wrong tag", patched(0, {0x02}), "unknown tag"},
      {"JSON text", bytes_of(R"({"status":"ok"})"), "unknown tag"},
      {"unknown flag bit", patched(1, {0x04}), "unknown flags"},
      {"high flag bit", patched(1, {0x81}), "unknown flags"},
      {"count over the limit", patched(10, {0, 0, 0x01, 0xf5}), "more than 500"},
      {"count beyond the items", patched(10, {0, 0, 0, 3}), "message 2: truncated header"},
      {"count huge", patched(10, {0xff, 0xff, 0xff, 0xff}), "more than 500"},
      {"item header cut short", Bytes(good.begin(), good.begin() + second + 10), "message 1: truncated header"},
      {"zero data length", patched(kBinaryRetrieveHeader + 48, {0, 0, 0, 0}), "message 0: data length 0"},
      {"data length over the maximum", patched(second + 48, {0, 1, 0, 1}), "message 1: data length 65537"},
      {"data length beyond the end", patched(second + 48, {0, 0, 0, 5}), "message 1: data beyond the end"},
      {"data cut short", Bytes(good.begin(), good.end() - 1), "message 1: data beyond the end"},
      {"trailing byte", [&] { Bytes b = good; b.push_back(0); return b; }(), "trailing bytes"},
      {"count smaller than the items", patched(10, {0, 0, 0, 1}), "trailing bytes"},
  };
  for (const auto& c : cases) {
    auto r = parse_retrieve_answer_binary(c.bytes);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << c.name << ": '" << r.status().message() << "' does not say " << c.says;
  }
}

TEST_F(Rpc, DeleteAnswerRoundTrips) {
  auto n = parse_delete_answer(ok_of(delete_response(7)));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 7u);
  EXPECT_FALSE(parse_delete_answer(json{{"status", "ok"}}).ok());
}

TEST_F(Rpc, InfoAnswerRoundTrips) {
  InfoAnswer a;
  a.version = "0.1.0";
  a.network_id = "devnet";
  a.nodes = 10;
  a.now_ms = kTs;
  a.swarm_id = 0xfedcba9876543210ULL;
  a.ed25519 = key_.public_key();
  a.x25519 = key_.to_x25519().public_key();
  auto b = parse_info_answer(ok_of(info_response(a)));
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->version, a.version);
  EXPECT_EQ(b->network_id, a.network_id);
  EXPECT_EQ(b->nodes, 10u);
  EXPECT_EQ(b->now_ms, kTs);
  EXPECT_EQ(b->swarm_id, a.swarm_id);
  EXPECT_EQ(b->ed25519, a.ed25519);
  EXPECT_EQ(b->x25519, a.x25519);
  a.swarm_id.reset();
  auto c = parse_info_answer(ok_of(info_response(a)));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->swarm_id.has_value());
}

TEST_F(Rpc, GetSwarmAnswerRoundTrips) {
  const Swarm s = sample_swarm();
  auto b = parse_get_swarm_answer(ok_of(get_swarm_response(s)));
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->id, s.id);
  EXPECT_EQ(b->members, s.members);
  EXPECT_EQ(swarm_to_json(s)["id"], "0123456789abcdef");
}

TEST_F(Rpc, SwarmFromJsonRefusesMalformedSwarms) {
  json good = swarm_to_json(sample_swarm());
  EXPECT_TRUE(swarm_from_json(good).ok());
  json bad_id = good;
  bad_id["id"] = "0123";
  json bad_node = good;
  bad_node["nodes"][1]["x25519"] = "00";
  json no_nodes = good;
  no_nodes.erase("nodes");
  for (const json& j : {bad_id, bad_node, no_nodes, json::array(), json("x")}) {
    EXPECT_EQ(swarm_from_json(j).status().code(), Code::kInvalidArgument) << j.dump();
  }
}

TEST_F(Rpc, ErrorResponseParsesToErrorAnswer) {
  auto r = parse_response(error_response(error(Code::kStale, "clock off")));
  ASSERT_TRUE(r.ok());
  auto* e = std::get_if<ErrorAnswer>(&*r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status.code(), Code::kStale);
  EXPECT_EQ(e->status.message(), "clock off");
  EXPECT_FALSE(e->swarm.has_value());
  EXPECT_EQ(json::parse(text_of(error_response(error(Code::kReplay, "x"))))["code"], "replay");
}

TEST_F(Rpc, WrongSwarmResponseCarriesTheSwarm) {
  const Swarm s = sample_swarm();
  auto r = parse_response(wrong_swarm_response(s, "ask them"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto* e = std::get_if<ErrorAnswer>(&*r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status.code(), Code::kWrongSwarm);
  EXPECT_EQ(e->status.message(), "ask them");
  ASSERT_TRUE(e->swarm.has_value());
  EXPECT_EQ(e->swarm->id, s.id);
  EXPECT_EQ(e->swarm->members, s.members);
}

TEST_F(Rpc, StaleLayerResponseCarriesTheHopsClock) {
  const Bytes answer = stale_layer_response(1'700'000'000'123);
  EXPECT_EQ(text_of(answer),
            R"({"code":"stale","message":"layer timestamp out of range","now_ms":1700000000123,"status":"error"})");
  EXPECT_EQ(stale_layer_clock(answer), std::optional<uint64_t>(1'700'000'000'123));
  // Still an ordinary error answer to anyone who ignores the clock.
  auto r = parse_response(answer);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_NE(std::get_if<ErrorAnswer>(&*r), nullptr);
  EXPECT_EQ(std::get<ErrorAnswer>(*r).status.code(), Code::kStale);
}

TEST_F(Rpc, StaleLayerClockIsOnlyReadFromAStaleAnswerWithAValidClock) {
  for (const char* text : {R"({"status":"error","code":"replay","message":"x","now_ms":5})",
                           R"({"status":"error","code":"stale","message":"x"})",
                           R"({"status":"error","code":"stale","message":"x","now_ms":0})",
                           R"({"status":"error","code":"stale","message":"x","now_ms":-5})",
                           R"({"status":"error","code":"stale","message":"x","now_ms":5.5})",
                           R"({"status":"error","code":"stale","message":"x","now_ms":"5"})",
                           R"({"status":"error","code":5,"now_ms":5})", R"(["stale",5])", "not json", ""}) {
    EXPECT_EQ(stale_layer_clock(as_bytes(text)), std::nullopt) << text;
  }
}

TEST_F(Rpc, ParseResponseRefusesMalformedAnswers) {
  for (const char* text : {"[]", "{}", R"({"status":1})", R"({"status":"maybe"})", "{"}) {
    auto r = parse_response(as_bytes(text));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << text;
  }
}

TEST_F(Rpc, ErrorAnswerWithOkOrUnknownCodeBecomesInternal) {
  for (const char* text : {R"({"status":"error","code":"ok","message":"m"})",
                           R"({"status":"error","code":"no_such_code","message":"m"})",
                           R"({"status":"error"})"}) {
    auto r = parse_response(as_bytes(text));
    ASSERT_TRUE(r.ok()) << text;
    auto* e = std::get_if<ErrorAnswer>(&*r);
    ASSERT_NE(e, nullptr) << text;
    EXPECT_EQ(e->status.code(), Code::kInternal) << text;
  }
}

}  // namespace
}  // namespace onionswarm::swarm::rpc
