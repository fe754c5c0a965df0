// Writes the seed corpora of tests/fuzz/corpus/<target>/ from the golden
// vectors (tests/vectors/) and hand-made cases, built with the fixed keys of
// fuzz_keys.h. Deterministic: rerunning it rewrites the same files.
//
//   fuzz_seedgen VECTORS_DIR CORPUS_DIR
//
// Hand-made cases that are plain text (configs, phrases, JSON) are written
// here too so that all seeds have one source.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/directory_cache.h"
#include "client/envelope.h"
#include "client/group.h"
#include "client/mnemonic.h"
#include "config/network_file.h"
#include "node/replica.h"
#include "fuzz_keys.h"
#include "onion/layer.h"
#include "onion/padding.h"
#include "onion/wire.h"
#include "swarm/descriptor.h"
#include "swarm/group.h"
#include "swarm/rpc.h"

namespace fs = std::filesystem;
namespace of = onionswarm::fuzz;
namespace onion = onionswarm::onion;
namespace crypto = onionswarm::crypto;
namespace rpc = onionswarm::swarm::rpc;
using onionswarm::Bytes;
using onionswarm::ByteView;
using nlohmann::json;

namespace {

fs::path g_corpus;

void put(const std::string& target, const std::string& name, ByteView bytes) {
  const fs::path dir = g_corpus / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                     std::streamsize(bytes.size()));
}
void put(const std::string& target, const std::string& name, std::string_view text) {
  put(target, name, onionswarm::as_bytes(text));
}
Bytes with_mode(uint8_t mode, ByteView rest) {
  Bytes out{mode};
  onionswarm::append(out, rest);
  return out;
}
json load(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}
template <typename T>
T must(onionswarm::Result<T> r) {
  if (!r.ok()) of::harness_bug(r.status().to_string().c_str());
  return std::move(r).value();
}
// The onion_plaintext mode byte for a response plaintext at layer k of n.
uint8_t response_mode(size_t n, size_t k) {
  for (unsigned m = 1; m < 256; m += 2)
    if (1 + (m >> 1) % 3 == n && (m >> 3) % n == k) return uint8_t(m);
  of::harness_bug("no mode byte");
}
// Response plaintext: kind || body_len || body || zero padding to `padded`.
Bytes response_plaintext(uint8_t kind, ByteView body, size_t padded) {
  Bytes pt{kind};
  onionswarm::put_u32(pt, uint32_t(body.size()));
  onionswarm::append(pt, body);
  if (pt.size() < padded) pt.resize(padded, 0);
  return pt;
}

void onion_seeds(const fs::path& vectors) {
  const json v = load(vectors / "onion_layers.json");
  const auto hop = of::x25519_pair(of::kHopSecret);
  const auto keys = of::response_keys();
  const Bytes nonce = of::hex(of::kNonce);

  // onion_peel: the vector's blobs (hop 0's blob is for our fixed hop key).
  put("onion_peel", "vector-onion-blob", of::hex(v["onion_blob"].get<std::string>()));
  put("onion_peel", "vector-response", of::hex(v["response"]["blob"].get<std::string>()));
  put("onion_peel", "vector-hop-error", of::hex(v["hop_error_response"]["blob"].get<std::string>()));
  // Fresh valid onions for the fixed hop: destination and relay layers.
  const auto eph = of::x25519_pair(of::kEphemeralSecret);
  const std::vector<crypto::X25519KeyPair> ephs = [&] {
    std::vector<crypto::X25519KeyPair> e;
    for (int i = 0; i < 3; ++i) e.push_back(eph.clone());
    return e;
  }();
  const std::vector<Bytes> nonces(3, nonce);
  const crypto::X25519PublicKey other = of::x25519_pair(v["hops"][1]["secret_key"].get<std::string>()).public_key();
  const std::vector<crypto::X25519PublicKey> one{hop.public_key()};
  const std::vector<crypto::X25519PublicKey> two{hop.public_key(), other};
  for (size_t len : {size_t(0), size_t(1), size_t(499), size_t(500), size_t(3000)}) {
    const Bytes payload(len, 'p');
    put("onion_peel", "dest-" + std::to_string(len),
        must(onion::build_with(one, payload, 1700000000000, std::span(ephs).first(1), std::span(nonces).first(1))).blob);
  }
  put("onion_peel", "relay-2hop",
      must(onion::build_with(two, onionswarm::as_bytes("{}"), 1700000000000, std::span(ephs).first(2),
                             std::span(nonces).first(2)))
          .blob);
  // Valid responses for the fixed response keys (n = 1 and n = 3).
  put("onion_peel", "resp-final-1hop",
      onion::wrap_response_with_nonce(keys[0], onion::ResponseKind::kFinal, onionswarm::as_bytes("{\"status\":\"ok\"}"), nonce));
  put("onion_peel", "resp-error-1hop",
      onion::wrap_response_with_nonce(keys[0], onion::ResponseKind::kHopError, onionswarm::as_bytes("{\"code\":\"timeout\"}"), nonce));
  Bytes r = onion::wrap_response_with_nonce(keys[2], onion::ResponseKind::kFinal, onionswarm::as_bytes("{}"), nonce);
  r = onion::wrap_response_with_nonce(keys[1], onion::ResponseKind::kForwarded, r, nonce);
  r = onion::wrap_response_with_nonce(keys[0], onion::ResponseKind::kForwarded, r, nonce);
  put("onion_peel", "resp-final-3hop", r);
  put("onion_peel", "short", Bytes(onion::kLayerHeaderOverhead + 12, 0));
  put("onion_peel", "zeros-min", Bytes(onion::kLayerHeaderOverhead + 13, 0));

  // onion_plaintext: request layer plaintexts (mode 0) ...
  put("onion_plaintext", "vector-relay", with_mode(0, of::hex(v["hops"][0]["layer_plaintext"].get<std::string>())));
  put("onion_plaintext", "vector-destination",
      with_mode(0, of::hex(v["hops"][2]["layer_plaintext"].get<std::string>())));
  Bytes dest{2};
  onionswarm::put_u64(dest, 1700000000000);
  onionswarm::put_u32(dest, 2);
  onionswarm::append(dest, onionswarm::as_bytes("{}"));
  put("onion_plaintext", "dest-unpadded", with_mode(0, dest));
  dest.resize(onion::request_bucket_for(dest.size()), 0);
  put("onion_plaintext", "dest-padded", with_mode(0, dest));
  dest.back() = 1;
  put("onion_plaintext", "dest-nonzero-padding", with_mode(0, dest));
  Bytes relay{1};
  onionswarm::put_u64(relay, 1700000000000);
  onionswarm::append(relay, other.view());
  onionswarm::put_u32(relay, 70);
  relay.resize(relay.size() + 70, 0xab);
  put("onion_plaintext", "relay-min-inner", with_mode(0, relay));
  // ... and response layer plaintexts (odd modes).
  const Bytes ok = Bytes{'{', '}'};
  put("onion_plaintext", "resp-final-1of1", with_mode(response_mode(1, 0), response_plaintext(1, ok, 512)));
  put("onion_plaintext", "resp-final-3of3", with_mode(response_mode(3, 2), response_plaintext(1, ok, 512)));
  put("onion_plaintext", "resp-error-2of3", with_mode(response_mode(3, 1), response_plaintext(2, ok, 0)));
  put("onion_plaintext", "resp-forward-last", with_mode(response_mode(2, 1), response_plaintext(0, ok, 0)));
  put("onion_plaintext", "resp-forward-0of2",
      with_mode(response_mode(2, 0),
                response_plaintext(0, onion::wrap_response_with_nonce(keys[1], onion::ResponseKind::kFinal, ok, nonce), 0)));
  put("onion_plaintext", "resp-len-beyond", with_mode(response_mode(1, 0), Bytes{1, 0xff, 0xff, 0xff, 0xff}));
}

void wire_seeds(const fs::path& vectors) {
  const json v = load(vectors / "onion_wire.json");
  int i = 0;
  for (const auto& c : v["valid"]) put("wire_header", "valid-" + std::to_string(i++), of::hex(c["hex"].get<std::string>()));
  i = 0;
  for (const auto& c : v["invalid"]) put("wire_header", "invalid-" + std::to_string(i++), of::hex(c["hex"].get<std::string>()));
}

void rpc_seeds(const fs::path& vectors) {
  const json v = load(vectors / "requests.json");
  int i = 0;
  for (const auto& c : v["requests"]) {
    const std::string name = c["name"].get<std::string>();
    put("rpc_request", "vector-" + name, c["json"].get<std::string>());
    put("json", "vector-request-" + std::to_string(i++), c["json"].get<std::string>());
    // The base64 signatures and hex keys feed the decoders.
    put("encoding", "vector-sig-hex-" + name, c["signature"].get<std::string>());
  }
  const std::string account = v["account"].get<std::string>();
  put("rpc_request", "info", R"({"method":"info","params":{}})");
  put("rpc_request", "get_swarm", R"({"method":"get_swarm","params":{"account":")" + account + R"("}})");
  put("rpc_request", "store-ns0",
      R"({"method":"store","params":{"account":")" + account +
          R"(","data":"aGVsbG8=","namespace":0,"timestamp":1700000000000,"ttl":86400000}})");
  put("rpc_request", "unknown-method", R"({"method":"nuke","params":{}})");
  put("rpc_request", "deep", std::string(40, '[') + std::string(40, ']'));
  put("rpc_request", "huge-number",
      R"({"method":"retrieve","params":{"account":")" + account + R"(","limit":1e400,"timestamp":-1}})");

  // Answers, built by the node's own serializers.
  crypto::Hash h;
  h.bytes.fill(0x11);
  crypto::X25519PublicKey x;
  x.bytes.fill(0x22);
  crypto::Ed25519PublicKey ed;
  ed.bytes.fill(0x33);
  rpc::StoreAnswer sa;
  sa.hash = h;
  put("rpc_response", "store", rpc::store_response(sa));
  rpc::RetrieveAnswer ra;
  ra.messages.push_back({h, 1700000000000, 1700086400000, Bytes{1, 2, 3}});
  ra.more = true;
  ra.now_ms = 1700000000001;
  put("rpc_response", "retrieve", rpc::retrieve_response(ra));
  put("rpc_response", "retrieve-binary", rpc::retrieve_response_binary(ra));
  ra.messages.push_back({h, 1700000000002, 1700086400002, Bytes(1433, 0x5a)});
  ra.more = false;
  put("rpc_response", "retrieve-binary-2", rpc::retrieve_response_binary(ra));
  put("rpc_response", "delete", rpc::delete_response(3));
  rpc::InfoAnswer ia;
  ia.version = "0.1.0";
  ia.network_id = "devnet-1";
  ia.nodes = 12;
  ia.now_ms = 1700000000000;
  ia.swarm_id = 7;
  ia.ed25519 = ed;
  ia.x25519 = x;
  put("rpc_response", "info", rpc::info_response(ia));
  onionswarm::swarm::Swarm sw;
  sw.id = 42;
  sw.members.push_back({ed, x, "tcp://127.0.0.1:4500", std::nullopt});
  put("rpc_response", "get_swarm", rpc::get_swarm_response(sw));
  put("rpc_response", "error", rpc::error_response(onionswarm::error(onionswarm::Code::kFull, "quota")));
  put("rpc_response", "wrong_swarm", rpc::wrong_swarm_response(sw, "ask them"));
  const Bytes store_json = rpc::store_response(sa);
  put("json", "answer-store", store_json);
  put("json", "deep-17", std::string(17, '[') + std::string(17, ']'));
  put("json", "unicode", R"(["\ud83d\ude00","\u0000",1e308,-0,18446744073709551616])");
}

void envelope_seeds(const fs::path& vectors) {
  const json v = load(vectors / "envelope.json");
  const auto recipient = of::x25519_pair(of::kRecipientSecret);
  int i = 0;
  for (const auto& c : v["cases"]) {
    const Bytes inner = of::hex(c["inner"].get<std::string>());
    const std::string n = std::to_string(i++);
    put("envelope", "vector-sealed-" + n, with_mode(0, of::seal_deterministic(recipient.public_key(), inner)));
    put("envelope", "vector-inner-" + n, with_mode(1, inner));
    // 1 version + 32 key + 8 timestamp + 64 signature, then padded.
    put("envelope", "vector-padded-" + n, with_mode(2, ByteView(inner).subspan(105)));
  }
  put("envelope", "short", Bytes{0, 1, 2, 3});
  Bytes padded(256, 0);
  padded[3] = 252;
  put("envelope", "padded-full-block", with_mode(2, padded));
}

void mnemonic_seeds() {
  for (uint8_t fill : {0x00, 0x5a, 0xff}) {
    const Bytes seed(32, fill);
    const std::string phrase = onionswarm::client::seed_to_phrase(seed);
    put("mnemonic", "seed-" + std::to_string(fill), phrase);
    std::string loud = phrase;
    for (char& ch : loud) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    put("mnemonic", "upper-" + std::to_string(fill), "  " + loud + "\n");
    std::string dashed = phrase;
    for (char& ch : dashed)
      if (ch == ' ') ch = '-';
    put("mnemonic", "dashed-" + std::to_string(fill), dashed);
  }
  put("mnemonic", "one-word", "babab");
}

void config_seeds(const fs::path& vectors) {
  put("node_config", "full", R"({
  "data_dir": "/var/lib/onionswarm",
  "listen": "tcp://*:4500",
  "network": "net.json",
  "log_level": "debug",
  "workers": 2,
  "quota_messages": 10000,
  "quota_bytes": 67108864,
  "max_message_bytes": 65536,
  "map_size": 8589934592,
  "relay_timeout_ms": 10000
}
)");
  put("node_config", "minimal", R"({"data_dir":"d","network":"n"})");
  put("node_config", "empty-object", "{}");
  put("node_config", "bad-types", R"({"workers":"2","map_size":-1,"listen":"tcp://[::1]:0","extra":null})");

  onionswarm::config::NetworkFile file;
  file.network_id = "devnet-1a2b";
  file.swarm_size = 3;
  const json env = load(vectors / "envelope.json");
  for (int i = 0; i < 3; ++i) {
    onionswarm::swarm::NodeDescriptor d;
    d.ed25519.bytes.fill(uint8_t(i + 1));
    d.x25519.bytes.fill(uint8_t(i + 0x40));
    d.address = "tcp://127.0.0.1:" + std::to_string(4500 + i);
    file.nodes.push_back(d);
  }
  put("network_file", "three-nodes", onionswarm::config::network_file_to_json(file));
  file.nodes.clear();
  put("network_file", "no-nodes", onionswarm::config::network_file_to_json(file));
  put("network_file", "ipv6-dup",
      R"({"network_id":"x","nodes":[{"address":"tcp://[::1]:1","ed25519":")" + std::string(64, 'a') +
          R"(","x25519":")" + std::string(64, 'b') + R"("},{"address":"tcp://[::1]:1","ed25519":")" +
          std::string(64, 'c') + R"(","x25519":")" + std::string(64, 'd') + R"("}]})");

  put("encoding", "hex-key", env["recipient_x25519_public"].get<std::string>());
  put("encoding", "hex-upper", "DEADBEEF");
  put("encoding", "hex-odd", "abc");
  put("encoding", "b64-pad2", "aGk=");
  put("encoding", "b64-pad1", "aGVsbG8=");
  put("encoding", "b64-nonzero-bits", "aGl=");
  put("encoding", "b64-mid-pad", "aG==aGk=");
  put("encoding", "empty", "");
}

// tests/vectors/group.json, in the modes of group_control_fuzz.cc.
void group_seeds(const fs::path& vectors) {
  namespace cg = onionswarm::client::group;
  const json v = load(vectors / "group.json");
  const Bytes entry = must(onionswarm::from_hex(v["control_entry"].get<std::string>()));
  const Bytes message = must(onionswarm::from_hex(v["message"].get<std::string>()));
  put("group_control", "vector-entry", with_mode(0, entry));
  put("group_control", "vector-entry-unsigned",
      with_mode(1, ByteView(entry).first(entry.size() - crypto::kSignatureSize)));
  auto group = must(crypto::Ed25519KeyPair::from_seed(Bytes(32, 1)));
  auto parsed = must(onionswarm::swarm::group::parse_control(entry, group.public_key()));
  auto body = must(cg::split_body(parsed.body));
  put("group_control", "vector-keys", with_mode(7, body.keys));
  // The vector entry's state plaintext, decrypted as open_state does.
  Bytes ad;
  onionswarm::append(ad, onionswarm::as_bytes("onionswarm/group-state/v1"));
  onionswarm::append(ad, group.public_key().view());
  onionswarm::put_u64(ad, parsed.seq);
  onionswarm::put_u64(ad, parsed.generation);
  onionswarm::append(ad, parsed.member_auth.view());
  const crypto::SecretBytes generation_key(ByteView(must(onionswarm::from_hex(v["generation_key"].get<std::string>()))));
  const Bytes state = must(crypto::aead_decrypt(generation_key, body.nonce, body.ciphertext, ad));
  put("group_control", "vector-state", with_mode(2, state));
  put("group_control", "state-not-json", with_mode(2, onionswarm::as_bytes("{\"name\":")));
  put("group_control", "vector-message", with_mode(3, message));
  Bytes padded;
  onionswarm::put_u32(padded, 5);
  onionswarm::append(padded, onionswarm::as_bytes("hello"));
  padded.resize(256, 0);
  put("group_control", "message-padded", with_mode(5, padded));
  cg::Invite invite;
  invite.group = onionswarm::swarm::AccountId::group(group.public_key());
  invite.name = "team";
  invite.generation = 1;
  invite.key = crypto::SecretBytes(ByteView(Bytes(32, 0x55)));
  invite.auth_seed = crypto::SecretBytes(ByteView(Bytes(32, 0x44)));
  put("group_control", "invite", with_mode(6, onionswarm::as_bytes(cg::encode_invite(invite))));
  cg::AdminGrant grant;
  grant.group = invite.group;
  grant.group_seed = crypto::SecretBytes(ByteView(Bytes(32, 1)));
  put("group_control", "admin-grant", with_mode(6, onionswarm::as_bytes(cg::encode_admin_grant(grant))));
}

// A descriptor signed as descriptor_fuzz.cc expects (network "fuzz-net",
// node seed 21.., operator seed 22..), an endorsement file, a cache file.
void descriptor_seeds() {
  namespace sw = onionswarm::swarm;
  constexpr uint64_t kNow = 1700000000000;
  auto node = must(crypto::Ed25519KeyPair::from_seed(Bytes(32, 0x21)));
  auto op = must(crypto::Ed25519KeyPair::from_seed(Bytes(32, 0x22)));
  sw::SignedDescriptor d;
  d.network_id = "fuzz-net";
  d.node.ed25519 = node.public_key();
  d.node.x25519 = node.to_x25519().public_key();
  d.node.address = "tcp://127.0.0.1:4500";
  d.version = "0.1.0";
  d.issued_at_ms = kNow;
  d.expires_at_ms = kNow + 3'600'000;
  sw::sign_descriptor(d, node);
  const std::string open = sw::descriptor_to_json(d).dump();
  put("descriptor", "signed", with_mode(0, onionswarm::as_bytes(open)));
  put("descriptor", "resign", with_mode(1, onionswarm::as_bytes(open)));
  sw::SignedDescriptor endorsed = d;
  endorsed.endorsement = sw::endorse(op, d.network_id, d.node.ed25519, d.node.x25519, kNow + 86'400'000);
  sw::sign_descriptor(endorsed, node);
  put("descriptor", "endorsed", with_mode(0, onionswarm::as_bytes(sw::descriptor_to_json(endorsed).dump())));
  d.node.address = "tcp://[::1]:65535";
  put("descriptor", "ipv6", with_mode(1, onionswarm::as_bytes(sw::descriptor_to_json(d).dump())));
  sw::EndorsementFile file{endorsed.network_id, d.node.ed25519, d.node.x25519, *endorsed.endorsement};
  put("descriptor", "endorsement-file", with_mode(2, onionswarm::as_bytes(sw::endorsement_file_to_json(file).dump())));
  onionswarm::client::CachedDirectory cache;
  cache.fetched_at_ms = kNow;
  cache.guard = d.node.x25519;
  cache.descriptors = {endorsed};
  put("descriptor", "cache", with_mode(3, onionswarm::as_bytes(onionswarm::client::directory_cache_to_json(cache))));
}

// Replica batches (node/replica.h): valid ones of one, three and the
// largest record, and one of each refused shape.
void replica_seeds() {
  namespace node = onionswarm::node;
  auto record = [](uint8_t prefix, uint8_t fill, size_t size) {
    node::StoredMessage m;
    m.account.prefix = prefix;
    m.account.key.fill(fill);
    m.ns = fill;
    m.timestamp_ms = 1700000000000 + fill;
    m.expiry_ms = 1700086400000 + fill;
    m.data.assign(size, fill);
    Bytes out;
    node::append_replica_record(out, m);
    return out;
  };
  auto batch = [](std::initializer_list<Bytes> records, size_t count) {
    Bytes out;
    onionswarm::put_u16(out, uint16_t(count));
    for (const auto& r : records) onionswarm::append(out, r);
    return out;
  };
  const Bytes user = record(0x05, 1, 1024), group = record(0x03, 2, 200), big = record(0x05, 3, rpc::kMaxDataBytes);
  put("replica_batch", "one", batch({user}, 1));
  put("replica_batch", "three", batch({user, group, record(0x05, 4, 1)}, 3));
  put("replica_batch", "largest-data", batch({big}, 1));
  put("replica_batch", "count-zero", Bytes{0, 0});
  put("replica_batch", "count-over", batch({user}, 2));
  put("replica_batch", "trailing", batch({user, group}, 1));
  Bytes prefix = batch({user}, 1);
  prefix[2] = 0x04;
  put("replica_batch", "bad-prefix", prefix);
  Bytes truncated = batch({user}, 1);
  truncated.pop_back();
  put("replica_batch", "truncated", truncated);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_seedgen VECTORS_DIR CORPUS_DIR\n";
    return 2;
  }
  crypto::init();
  const fs::path vectors = argv[1];
  g_corpus = argv[2];
  onion_seeds(vectors);
  wire_seeds(vectors);
  rpc_seeds(vectors);
  envelope_seeds(vectors);
  mnemonic_seeds();
  config_seeds(vectors);
  group_seeds(vectors);
  descriptor_seeds();
  replica_seeds();
  return 0;
}
