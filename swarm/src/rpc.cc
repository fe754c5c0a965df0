#include "swarm/rpc.h"

#include <set>
#include <string>

#include "onion/encoding.h"
#include "swarm/json.h"

namespace onionswarm::swarm::rpc {
namespace {

using nlohmann::json;

Status bad(const std::string& field, const std::string& what) {
  return error(Code::kInvalidArgument, field + ": " + what);
}

// Reads typed fields out of a JSON object and remembers which keys were
// used, so unknown keys can be refused afterwards.
class Fields {
 public:
  explicit Fields(const json& obj) : obj_(obj) {}

  bool has(const char* k) const { return obj_.contains(k); }
  void mark(const char* k) { used_.insert(k); }

  Status u64(const char* k, uint64_t& out, uint64_t max = UINT64_MAX, bool required = true) {
    used_.insert(k);
    auto it = obj_.find(k);
    if (it == obj_.end()) return required ? bad(k, "missing") : Status();
    if (!it->is_number_unsigned()) return bad(k, "expected a non-negative integer");
    uint64_t v = it->get<uint64_t>();
    if (v > max) return bad(k, "out of range (max " + std::to_string(max) + ")");
    out = v;
    return {};
  }

  Status str(const char* k, std::string& out, size_t max_len, bool required = true) {
    used_.insert(k);
    auto it = obj_.find(k);
    if (it == obj_.end()) return required ? bad(k, "missing") : Status();
    if (!it->is_string()) return bad(k, "expected a string");
    const auto& s = it->get_ref<const std::string&>();
    if (s.size() > max_len) return bad(k, "too long");
    out = s;
    return {};
  }

  Status account(const char* k, AccountId& out) {
    std::string s;
    if (auto st = str(k, s, 2 * kAccountIdHexSize); !st.ok()) return st;
    auto a = AccountId::parse(s);
    if (!a.ok()) return bad(k, a.status().message());
    out = *a;
    return {};
  }

  template <typename Fixed>
  Status hex_fixed(const char* k, Fixed& out, bool required = true) {
    std::string s;
    if (auto st = str(k, s, 2 * Fixed::size() + 2, required); !st.ok()) return st;
    if (s.empty() && !required) return {};
    auto b = from_hex(s, Fixed::size());
    if (!b.ok() || b->size() != Fixed::size())
      return bad(k, "expected " + std::to_string(2 * Fixed::size()) + " hex characters");
    out = *Fixed::from(*b);
    return {};
  }

  Status base64(const char* k, Bytes& out, size_t max_len) {
    std::string s;
    if (auto st = str(k, s, (max_len + 2) / 3 * 4 + 4); !st.ok()) return st;
    auto b = from_base64(s, max_len);
    if (!b.ok()) return bad(k, "invalid base64 or too large");
    out = std::move(*b);
    return {};
  }

  Status ns(uint16_t& out) {
    uint64_t v = 0;
    if (auto st = u64("namespace", v, 0xFFFF); !st.ok()) return st;
    out = uint16_t(v);
    return {};
  }

  Status auth(std::optional<Auth>& out, bool required) {
    used_.insert("pubkey_ed25519");
    used_.insert("signature");
    bool hp = has("pubkey_ed25519"), hs = has("signature");
    if (!hp && !hs) return required ? bad("signature", "missing") : Status();
    if (hp != hs) return bad(hp ? "signature" : "pubkey_ed25519", "missing");
    Auth a;
    if (auto st = hex_fixed("pubkey_ed25519", a.pubkey); !st.ok()) return st;
    Bytes sig;
    if (auto st = base64("signature", sig, crypto::kSignatureSize); !st.ok()) return st;
    if (sig.size() != crypto::kSignatureSize) return bad("signature", "expected 64 bytes");
    a.signature = *crypto::Signature::from(sig);
    out = a;
    return {};
  }

  Status no_extra() const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it)
      if (!used_.count(it.key())) return bad(it.key().substr(0, 64), "unknown field");
    return {};
  }

 private:
  const json& obj_;
  std::set<std::string> used_;
};

#define RETURN_IF_ERROR(expr)       \
  do {                              \
    if (auto _st = (expr); !_st.ok()) return _st;  \
  } while (0)

Result<Request> parse_store(Fields& f) {
  StoreRequest r;
  RETURN_IF_ERROR(f.account("account", r.account));
  RETURN_IF_ERROR(f.ns(r.ns));
  RETURN_IF_ERROR(f.u64("timestamp", r.timestamp_ms));
  r.ttl_ms = kDefaultTtlMs;
  RETURN_IF_ERROR(f.u64("ttl", r.ttl_ms, kMaxTtlMs, /*required=*/false));
  if (r.ttl_ms == 0) return bad("ttl", "must be positive");
  RETURN_IF_ERROR(f.base64("data", r.data, kMaxDataBytes));
  if (r.data.empty()) return bad("data", "must not be empty");
  RETURN_IF_ERROR(f.auth(r.auth, /*required=*/false));
  return Request(std::move(r));
}

Result<Request> parse_retrieve(Fields& f) {
  RetrieveRequest r;
  RETURN_IF_ERROR(f.account("account", r.account));
  RETURN_IF_ERROR(f.ns(r.ns));
  RETURN_IF_ERROR(f.u64("timestamp", r.timestamp_ms));
  RETURN_IF_ERROR(f.u64("after_timestamp", r.after_timestamp_ms, UINT64_MAX, false));
  RETURN_IF_ERROR(f.hex_fixed("after_hash", r.after_hash, false));
  uint64_t limit = kDefaultRetrieveLimit;
  RETURN_IF_ERROR(f.u64("limit", limit, kMaxRetrieveLimit, false));
  if (limit == 0) return bad("limit", "must be positive");
  r.limit = uint32_t(limit);
  std::string format = "json";
  RETURN_IF_ERROR(f.str("format", format, 16, false));
  if (format != "json" && format != "binary") return bad("format", "expected json or binary");
  r.binary = format == "binary";
  std::optional<Auth> a;
  RETURN_IF_ERROR(f.auth(a, true));
  r.auth = *a;
  return Request(std::move(r));
}

Result<Request> parse_delete(Fields& f, const json& params) {
  DeleteRequest r;
  RETURN_IF_ERROR(f.account("account", r.account));
  RETURN_IF_ERROR(f.ns(r.ns));
  RETURN_IF_ERROR(f.u64("timestamp", r.timestamp_ms));
  auto it = params.find("hashes");
  if (it == params.end()) return bad("hashes", "missing");
  if (!it->is_array()) return bad("hashes", "expected an array");
  if (it->empty() || it->size() > kMaxDeleteHashes)
    return bad("hashes", "expected 1.." + std::to_string(kMaxDeleteHashes) + " hashes");
  for (const auto& h : *it) {
    if (!h.is_string()) return bad("hashes", "expected hex strings");
    auto b = from_hex(h.get_ref<const std::string&>(), crypto::kHashSize);
    if (!b.ok() || b->size() != crypto::kHashSize) return bad("hashes", "expected 64 hex characters each");
    r.hashes.push_back(*crypto::Hash::from(*b));
  }
  std::optional<Auth> a;
  RETURN_IF_ERROR(f.auth(a, true));
  r.auth = *a;
  return Request(std::move(r));
}

std::string dec(uint64_t v) { return std::to_string(v); }

json auth_json(const Auth& a) {
  return {{"pubkey_ed25519", to_hex(a.pubkey.view())}, {"signature", to_base64(a.signature.view())}};
}

// Messages may quote input (a JSON parser's "last read" excerpt, a method
// name): bytes that are not UTF-8 are replaced (U+FFFD) instead of making
// dump() throw, so every request gets its answer.
Bytes dump(const json& j) {
  auto s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return Bytes(s.begin(), s.end());
}

}  // namespace

const char* method_name(const Request& r) {
  static constexpr const char* kNames[] = {"store", "retrieve", "delete", "info", "get_swarm"};
  return kNames[r.index()];
}

Result<Request> parse_request(ByteView bytes) {
  if (bytes.size() > kMaxRequestBytes) return error(Code::kInvalidArgument, "request too large");
  auto parsed = parse_json(as_chars(bytes), 8, kMaxRequestBytes);
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;
  if (!j.is_object()) return error(Code::kInvalidArgument, "request must be a JSON object");
  Fields top(j);
  std::string method;
  RETURN_IF_ERROR(top.str("method", method, 32));
  json empty = json::object();
  const json* params = &empty;
  if (auto it = j.find("params"); it != j.end()) {
    if (!it->is_object()) return bad("params", "expected an object");
    params = &*it;
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "method" && it.key() != "params") return bad(it.key().substr(0, 64), "unknown field");

  Fields f(*params);
  Result<Request> r = error(Code::kInvalidArgument, "unknown method: " + method.substr(0, 32));
  if (method == "store") {
    r = parse_store(f);
  } else if (method == "retrieve") {
    r = parse_retrieve(f);
  } else if (method == "delete") {
    f.mark("hashes");  // read by parse_delete itself
    r = parse_delete(f, *params);
  } else if (method == "info") {
    r = Request(InfoRequest{});
  } else if (method == "get_swarm") {
    GetSwarmRequest g;
    if (auto st = f.account("account", g.account); !st.ok()) return st;
    r = Request(g);
  } else {
    return r;
  }
  if (!r.ok()) return r;
  RETURN_IF_ERROR(f.no_extra());
  return r;
}

Bytes serialize_request(const Request& req) {
  json p = json::object();
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, StoreRequest>) {
          p = {{"account", r.account.to_string()}, {"namespace", r.ns}, {"timestamp", r.timestamp_ms},
               {"ttl", r.ttl_ms}, {"data", to_base64(r.data)}};
          if (r.auth) p.update(auth_json(*r.auth));
        } else if constexpr (std::is_same_v<T, RetrieveRequest>) {
          p = {{"account", r.account.to_string()}, {"namespace", r.ns}, {"timestamp", r.timestamp_ms},
               {"after_timestamp", r.after_timestamp_ms}, {"after_hash", to_hex(r.after_hash.view())},
               {"limit", r.limit}};
          if (r.binary) p["format"] = "binary";
          p.update(auth_json(r.auth));
        } else if constexpr (std::is_same_v<T, DeleteRequest>) {
          json hs = json::array();
          for (const auto& h : r.hashes) hs.push_back(to_hex(h.view()));
          p = {{"account", r.account.to_string()}, {"namespace", r.ns}, {"timestamp", r.timestamp_ms},
               {"hashes", hs}};
          p.update(auth_json(r.auth));
        } else if constexpr (std::is_same_v<T, GetSwarmRequest>) {
          p = {{"account", r.account.to_string()}};
        }
      },
      req);
  return dump({{"method", method_name(req)}, {"params", p}});
}

Bytes signing_bytes(const Request& req) {
  std::string s = "onionswarm/req/v1\n";
  s += method_name(req);
  s += '\n';
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, StoreRequest> || std::is_same_v<T, RetrieveRequest> ||
                      std::is_same_v<T, DeleteRequest>) {
          s += r.account.to_string() + "\n" + dec(r.ns) + "\n" + dec(r.timestamp_ms) + "\n";
        }
        if constexpr (std::is_same_v<T, StoreRequest>) {
          s += dec(r.ttl_ms) + "\n" + to_hex(crypto::hash(r.data).view());
        } else if constexpr (std::is_same_v<T, RetrieveRequest>) {
          s += dec(r.after_timestamp_ms) + "\n" + to_hex(r.after_hash.view()) + "\n" + dec(r.limit);
          if (r.binary) s += "\nbinary";
        } else if constexpr (std::is_same_v<T, DeleteRequest>) {
          s += dec(r.hashes.size()) + "\n";
          for (size_t i = 0; i < r.hashes.size(); ++i) {
            if (i) s += ',';
            s += to_hex(r.hashes[i].view());
          }
        }
      },
      req);
  return Bytes(s.begin(), s.end());
}

void sign_request(Request& req, const crypto::Ed25519KeyPair& key) {
  Auth a;
  a.pubkey = key.public_key();
  a.signature = key.sign(signing_bytes(req));
  std::visit(
      [&](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, StoreRequest>) r.auth = a;
        if constexpr (std::is_same_v<T, RetrieveRequest> || std::is_same_v<T, DeleteRequest>) r.auth = a;
      },
      req);
}

// ---- answers ----------------------------------------------------------------

json swarm_to_json(const Swarm& swarm) {
  json nodes = json::array();
  for (const auto& n : swarm.members)
    nodes.push_back({{"address", n.address}, {"ed25519", to_hex(n.ed25519.view())}, {"x25519", to_hex(n.x25519.view())}});
  Bytes id;
  put_u64(id, swarm.id);
  return {{"id", to_hex(id)}, {"nodes", nodes}};
}

Result<Swarm> swarm_from_json(const json& j) {
  if (!j.is_object() || !j.contains("id") || !j.contains("nodes") || !j["id"].is_string() ||
      !j["nodes"].is_array())
    return error(Code::kInvalidArgument, "swarm: malformed");
  auto id = from_hex(j["id"].get<std::string>(), 8);
  if (!id.ok() || id->size() != 8) return error(Code::kInvalidArgument, "swarm: bad id");
  Swarm s;
  s.id = get_u64(id->data());
  if (j["nodes"].size() > 1000) return error(Code::kInvalidArgument, "swarm: too many nodes");
  for (const auto& n : j["nodes"]) {
    if (!n.is_object()) return error(Code::kInvalidArgument, "swarm: malformed node");
    Fields f(n);
    NodeDescriptor d;
    RETURN_IF_ERROR(f.str("address", d.address, 256));
    RETURN_IF_ERROR(f.hex_fixed("ed25519", d.ed25519));
    RETURN_IF_ERROR(f.hex_fixed("x25519", d.x25519));
    s.members.push_back(std::move(d));
  }
  return s;
}

Bytes error_response(const Status& status) {
  return dump({{"status", "error"}, {"code", std::string(code_name(status.code()))}, {"message", status.message()}});
}

Bytes wrong_swarm_response(const Swarm& swarm, std::string_view message) {
  return dump({{"status", "error"},
               {"code", std::string(code_name(Code::kWrongSwarm))},
               {"message", std::string(message)},
               {"swarm", swarm_to_json(swarm)}});
}

Bytes stale_layer_response(uint64_t now_ms) {
  return dump({{"status", "error"},
               {"code", std::string(code_name(Code::kStale))},
               {"message", "layer timestamp out of range"},
               {"now_ms", now_ms}});
}

std::optional<uint64_t> stale_layer_clock(ByteView answer) {
  auto j = parse_json(as_chars(answer), 4, 64 * 1024);  // a hop error is a few hundred bytes
  if (!j.ok() || !j->is_object()) return std::nullopt;
  auto code = j->find("code");
  auto now = j->find("now_ms");
  if (code == j->end() || !code->is_string() || code->get<std::string>() != code_name(Code::kStale)) return std::nullopt;
  if (now == j->end() || !now->is_number_unsigned() || now->get<uint64_t>() == 0) return std::nullopt;
  return now->get<uint64_t>();
}

Bytes store_response(const StoreAnswer& a) {
  json holders = json::array();
  for (const auto& h : a.holders) holders.push_back(to_hex(h.view()));
  return dump({{"status", "ok"}, {"result", a.existed ? "exists" : "new"}, {"hash", to_hex(a.hash.view())},
               {"holders", holders}});
}

Bytes retrieve_response(const RetrieveAnswer& a) {
  // Written directly, byte for byte what dump() makes of the same object
  // (keys in order): an answer is up to 120 KiB, nearly all of it base64,
  // which dump() inspects character by character for escapes it never
  // needs (every string here is hex or base64).
  size_t size = 64;
  for (const auto& m : a.messages) size += (m.data.size() + 2) / 3 * 4 + 2 * m.hash.size() + 80;
  std::string s;
  s.reserve(size);
  s += a.catching_up ? R"({"catching_up":true,"messages":[)" : R"({"messages":[)";
  for (size_t i = 0; i < a.messages.size(); ++i) {
    const auto& m = a.messages[i];
    s += i == 0 ? R"({"data":")" : R"(,{"data":")";
    append_base64(s, m.data);
    s += R"(","expiry":)";
    s += std::to_string(m.expiry_ms);
    s += R"(,"hash":")";
    s += to_hex(m.hash.view());
    s += R"(","timestamp":)";
    s += std::to_string(m.timestamp_ms);
    s += '}';
  }
  s += a.more ? R"(],"more":true,"now":)" : R"(],"more":false,"now":)";
  s += std::to_string(a.now_ms);
  s += R"(,"status":"ok"})";
  return Bytes(s.begin(), s.end());
}

Bytes retrieve_response_binary(const RetrieveAnswer& a) {
  size_t size = kBinaryRetrieveHeader;
  for (const auto& m : a.messages) size += kBinaryRetrieveItemHeader + m.data.size();
  Bytes out;
  out.reserve(size);
  out.push_back(kBinaryRetrieveTag);
  out.push_back(uint8_t((a.more ? 1 : 0) | (a.catching_up ? 2 : 0)));
  put_u64(out, a.now_ms);
  put_u32(out, uint32_t(a.messages.size()));
  for (const auto& m : a.messages) {
    append(out, m.hash.view());
    put_u64(out, m.timestamp_ms);
    put_u64(out, m.expiry_ms);
    put_u32(out, uint32_t(m.data.size()));
    append(out, m.data);
  }
  return out;
}

bool is_binary_retrieve_answer(ByteView body) { return !body.empty() && body[0] == kBinaryRetrieveTag; }

Result<RetrieveAnswer> parse_retrieve_answer_binary(ByteView body) {
  auto malformed = [](const std::string& what) {
    return error(Code::kInvalidArgument, "binary retrieve answer: " + what);
  };
  if (body.size() < kBinaryRetrieveHeader) return malformed("shorter than its header");
  if (body[0] != kBinaryRetrieveTag) return malformed("unknown tag " + std::to_string(body[0]));
  if (body[1] & ~uint8_t{3}) return malformed("unknown flags");
  RetrieveAnswer a;
  a.more = body[1] & 1;
  a.catching_up = body[1] & 2;
  a.now_ms = get_u64(body.data() + 2);
  const uint32_t count = get_u32(body.data() + 10);
  if (count > kMaxRetrieveLimit) return malformed("more than " + std::to_string(kMaxRetrieveLimit) + " messages");
  size_t at = kBinaryRetrieveHeader;
  a.messages.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    auto bad_item = [&](const std::string& what) { return malformed("message " + std::to_string(i) + ": " + what); };
    if (body.size() - at < kBinaryRetrieveItemHeader) return bad_item("truncated header");
    StoredItem item;
    std::copy_n(body.data() + at, crypto::kHashSize, item.hash.bytes.begin());
    item.timestamp_ms = get_u64(body.data() + at + 32);
    item.expiry_ms = get_u64(body.data() + at + 40);
    const uint32_t len = get_u32(body.data() + at + 48);
    at += kBinaryRetrieveItemHeader;
    if (len == 0 || len > kMaxDataBytes) return bad_item("data length " + std::to_string(len) + " out of range");
    if (body.size() - at < len) return bad_item("data beyond the end");
    item.data.assign(body.begin() + at, body.begin() + at + len);
    at += len;
    a.messages.push_back(std::move(item));
  }
  if (at != body.size()) return malformed("trailing bytes after the last message");
  return a;
}

Bytes delete_response(size_t deleted) { return dump({{"status", "ok"}, {"deleted", deleted}}); }

Bytes info_response(const InfoAnswer& a) {
  json j = {{"status", "ok"},       {"version", a.version},
            {"protocol", 1},        {"network_id", a.network_id},
            {"nodes", a.nodes},     {"now", a.now_ms},
            {"ed25519", to_hex(a.ed25519.view())}, {"x25519", to_hex(a.x25519.view())}};
  if (a.swarm_id) {
    Bytes id;
    put_u64(id, *a.swarm_id);
    j["swarm_id"] = to_hex(id);
  } else {
    j["swarm_id"] = nullptr;
  }
  return dump(j);
}

Bytes get_swarm_response(const Swarm& swarm) { return dump({{"status", "ok"}, {"swarm", swarm_to_json(swarm)}}); }

Result<std::variant<json, ErrorAnswer>> parse_response(ByteView bytes) {
  auto parsed = parse_json(as_chars(bytes), 8, 4 * kMaxRequestBytes);
  if (!parsed.ok()) return parsed.status();
  json& j = *parsed;
  if (!j.is_object() || !j.contains("status") || !j["status"].is_string())
    return error(Code::kInvalidArgument, "answer: missing status");
  if (j["status"] == "ok") return std::variant<json, ErrorAnswer>(std::move(j));
  if (j["status"] != "error") return error(Code::kInvalidArgument, "answer: unknown status");
  ErrorAnswer e;
  std::string code = j.contains("code") && j["code"].is_string() ? j["code"].get<std::string>() : "internal";
  std::string msg = j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : "";
  e.status = Status(code_from_name(code), msg);
  if (e.status.code() == Code::kOk) e.status = Status(Code::kInternal, msg);
  if (j.contains("swarm")) {
    auto s = swarm_from_json(j["swarm"]);
    if (s.ok()) e.swarm = std::move(*s);
  }
  return std::variant<json, ErrorAnswer>(std::move(e));
}

Result<StoreAnswer> parse_store_answer(const json& ok) {
  Fields f(ok);
  StoreAnswer a;
  std::string result;
  RETURN_IF_ERROR(f.str("result", result, 16));
  if (result != "new" && result != "exists") return bad("result", "expected new or exists");
  a.existed = result == "exists";
  RETURN_IF_ERROR(f.hex_fixed("hash", a.hash));
  if (auto it = ok.find("holders"); it != ok.end()) {
    if (!it->is_array() || it->size() > 100) return bad("holders", "expected an array of at most 100 keys");
    for (const auto& h : *it) {
      auto b = h.is_string() ? from_hex(h.get_ref<const std::string&>(), crypto::kKeySize) : Result<Bytes>(Bytes{});
      if (!b.ok() || b->size() != crypto::kKeySize) return bad("holders", "expected 64 hex characters each");
      a.holders.push_back(*crypto::X25519PublicKey::from(*b));
    }
  }
  return a;
}

Result<RetrieveAnswer> parse_retrieve_answer(const json& ok) {
  RetrieveAnswer a;
  Fields f(ok);
  RETURN_IF_ERROR(f.u64("now", a.now_ms));
  auto it = ok.find("messages");
  if (it == ok.end() || !it->is_array()) return bad("messages", "expected an array");
  if (it->size() > kMaxRetrieveLimit) return bad("messages", "too many");
  for (const auto& m : *it) {
    if (!m.is_object()) return bad("messages", "expected objects");
    Fields g(m);
    StoredItem item;
    RETURN_IF_ERROR(g.hex_fixed("hash", item.hash));
    RETURN_IF_ERROR(g.u64("timestamp", item.timestamp_ms));
    RETURN_IF_ERROR(g.u64("expiry", item.expiry_ms));
    RETURN_IF_ERROR(g.base64("data", item.data, kMaxDataBytes));
    a.messages.push_back(std::move(item));
  }
  auto more = ok.find("more");
  a.more = more != ok.end() && more->is_boolean() && more->get<bool>();
  auto catching_up = ok.find("catching_up");
  a.catching_up = catching_up != ok.end() && catching_up->is_boolean() && catching_up->get<bool>();
  return a;
}

Result<size_t> parse_delete_answer(const json& ok) {
  Fields f(ok);
  uint64_t n = 0;
  RETURN_IF_ERROR(f.u64("deleted", n, kMaxDeleteHashes));
  return size_t(n);
}

Result<InfoAnswer> parse_info_answer(const json& ok) {
  Fields f(ok);
  InfoAnswer a;
  RETURN_IF_ERROR(f.str("version", a.version, 64));
  RETURN_IF_ERROR(f.str("network_id", a.network_id, 128));
  RETURN_IF_ERROR(f.u64("nodes", a.nodes));
  RETURN_IF_ERROR(f.u64("now", a.now_ms));
  RETURN_IF_ERROR(f.hex_fixed("ed25519", a.ed25519));
  RETURN_IF_ERROR(f.hex_fixed("x25519", a.x25519));
  if (auto it = ok.find("swarm_id"); it != ok.end() && it->is_string()) {
    auto id = from_hex(it->get<std::string>(), 8);
    if (id.ok() && id->size() == 8) a.swarm_id = get_u64(id->data());
  }
  return a;
}

Result<Swarm> parse_get_swarm_answer(const json& ok) {
  auto it = ok.find("swarm");
  if (it == ok.end()) return bad("swarm", "missing");
  return swarm_from_json(*it);
}

}  // namespace onionswarm::swarm::rpc
