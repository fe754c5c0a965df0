#include "swarm/descriptor.h"

#include <algorithm>

#include "onion/encoding.h"
#include "swarm/json.h"

namespace onionswarm::swarm {

using nlohmann::json;

namespace {

// Descriptor object, endorsement object: nothing deeper.
constexpr size_t kMaxDepth = 4;

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// DNS name, IPv4 address or a ZeroMQ interface name: labels of
// [A-Za-z0-9-] separated by single dots, not starting or ending with '-'.
bool valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t label = 0;
  char prev = '.';
  for (char c : host) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (is_alnum(c) || c == '-') {
      if (c == '-' && label == 0) return false;
      if (++label > 63) return false;
    } else {
      return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

bool valid_ipv6_literal(std::string_view inner) {
  if (inner.size() < 2 || inner.size() > 45) return false;
  for (char c : inner) {
    if (!is_hex_digit(c) && c != ':' && c != '.') return false;
  }
  return inner.find(':') != std::string_view::npos;
}

void put_string(Bytes& out, std::string_view s) {
  put_u16(out, uint16_t(s.size()));
  append(out, as_bytes(s));
}

Status bad(std::string_view field, std::string_view what) {
  return error(Code::kInvalidArgument, "descriptor " + std::string(field) + ": " + std::string(what));
}

Status check_keys(const json& j, std::initializer_list<std::string_view> required,
                  std::initializer_list<std::string_view> optional, std::string_view what) {
  if (!j.is_object()) return bad(what, "expected an object");
  for (const auto& [key, value] : j.items()) {
    bool known = std::find(required.begin(), required.end(), key) != required.end() ||
                 std::find(optional.begin(), optional.end(), key) != optional.end();
    if (!known) return bad(what, "unknown key \"" + key.substr(0, 32) + "\"");
  }
  for (std::string_view k : required)
    if (!j.contains(k)) return bad(what, "missing \"" + std::string(k) + "\"");
  return Status();
}

Result<std::string> get_string(const json& j, const char* key, size_t max) {
  const json& v = j[key];
  if (!v.is_string()) return bad(key, "expected a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > max) return bad(key, "expected 1 to " + std::to_string(max) + " characters");
  return s;
}

Result<uint64_t> get_u64(const json& j, const char* key) {
  const json& v = j[key];
  if (!v.is_number_unsigned()) return bad(key, "expected a non-negative integer");
  return v.get<uint64_t>();
}

template <typename Fixed>
Result<Fixed> get_fixed(const json& j, const char* key) {
  const json& v = j[key];
  if (!v.is_string() || v.get_ref<const std::string&>().size() != 2 * Fixed::size())
    return bad(key, "expected " + std::to_string(2 * Fixed::size()) + " hex characters");
  auto b = from_hex(v.get_ref<const std::string&>(), Fixed::size());
  if (!b.ok()) return bad(key, b.status().message());
  return *Fixed::from(*b);
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

json endorsement_to_json(const Endorsement& e) {
  return json{{"operator", to_hex(e.operator_key.view())},
              {"valid_until", e.valid_until_ms},
              {"signature", to_hex(e.signature.view())}};
}

Result<Endorsement> parse_endorsement(const json& j) {
  if (Status s = check_keys(j, {"operator", "valid_until", "signature"}, {}, "endorsement"); !s.ok()) return s;
  Endorsement e;
  auto op = get_fixed<crypto::Ed25519PublicKey>(j, "operator");
  if (!op.ok()) return op.status();
  e.operator_key = *op;
  auto until = get_u64(j, "valid_until");
  if (!until.ok()) return until.status();
  e.valid_until_ms = *until;
  auto sig = get_fixed<crypto::Signature>(j, "signature");
  if (!sig.ok()) return sig.status();
  e.signature = *sig;
  return e;
}

}  // namespace

bool is_valid_tcp_endpoint(std::string_view address, bool for_bind) {
  constexpr std::string_view kScheme = "tcp://";
  if (!address.starts_with(kScheme)) return false;
  std::string_view rest = address.substr(kScheme.size());
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = rest.substr(0, colon);
  std::string_view port = rest.substr(colon + 1);

  bool host_ok = false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host_ok = valid_ipv6_literal(host.substr(1, host.size() - 2));
  } else if (host == "*") {
    host_ok = for_bind;
  } else {
    host_ok = valid_hostname(host);
  }
  if (!host_ok) return false;

  if (port == "*") return for_bind;
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + unsigned(c - '0');
  }
  if (value > 65535) return false;
  return value > 0 || for_bind;
}

Bytes descriptor_signing_bytes(const SignedDescriptor& d) {
  Bytes out;
  out.reserve(512);
  append(out, as_bytes(kDescriptorDomain));
  out.push_back(0);
  put_string(out, d.network_id);
  append(out, d.node.ed25519.view());
  append(out, d.node.x25519.view());
  put_string(out, d.node.address);
  put_string(out, d.version);
  put_u64(out, d.issued_at_ms);
  put_u64(out, d.expires_at_ms);
  if (d.endorsement) {
    out.push_back(1);
    append(out, d.endorsement->operator_key.view());
    put_u64(out, d.endorsement->valid_until_ms);
    append(out, d.endorsement->signature.view());
  } else {
    out.push_back(0);
  }
  return out;
}

Bytes endorsement_signing_bytes(std::string_view network_id, const crypto::Ed25519PublicKey& node_ed25519,
                                const crypto::X25519PublicKey& node_x25519, uint64_t valid_until_ms) {
  Bytes out;
  append(out, as_bytes(kEndorsementDomain));
  out.push_back(0);
  put_string(out, network_id);
  append(out, node_ed25519.view());
  append(out, node_x25519.view());
  put_u64(out, valid_until_ms);
  return out;
}

void sign_descriptor(SignedDescriptor& d, const crypto::Ed25519KeyPair& node_key) {
  d.signature = node_key.sign(descriptor_signing_bytes(d));
}

Endorsement endorse(const crypto::Ed25519KeyPair& operator_key, std::string_view network_id,
                    const crypto::Ed25519PublicKey& node_ed25519, const crypto::X25519PublicKey& node_x25519,
                    uint64_t valid_until_ms) {
  Endorsement e;
  e.operator_key = operator_key.public_key();
  e.valid_until_ms = valid_until_ms;
  e.signature = operator_key.sign(endorsement_signing_bytes(network_id, node_ed25519, node_x25519, valid_until_ms));
  return e;
}

json descriptor_to_json(const SignedDescriptor& d) {
  json j{{"network_id", d.network_id},
         {"ed25519", to_hex(d.node.ed25519.view())},
         {"x25519", to_hex(d.node.x25519.view())},
         {"address", d.node.address},
         {"version", d.version},
         {"issued_at", d.issued_at_ms},
         {"expires_at", d.expires_at_ms},
         {"signature", to_hex(d.signature.view())}};
  if (d.endorsement) j["endorsement"] = endorsement_to_json(*d.endorsement);
  return j;
}

Result<SignedDescriptor> parse_descriptor(const json& j) {
  if (Status s = check_keys(j,
                            {"network_id", "ed25519", "x25519", "address", "version", "issued_at", "expires_at",
                             "signature"},
                            {"endorsement"}, "");
      !s.ok())
    return s;
  SignedDescriptor d;
  auto id = get_string(j, "network_id", kMaxDescriptorNetworkId);
  if (!id.ok()) return id.status();
  d.network_id = std::move(*id);
  auto ed = get_fixed<crypto::Ed25519PublicKey>(j, "ed25519");
  if (!ed.ok()) return ed.status();
  d.node.ed25519 = *ed;
  auto x = get_fixed<crypto::X25519PublicKey>(j, "x25519");
  if (!x.ok()) return x.status();
  d.node.x25519 = *x;
  auto address = get_string(j, "address", kMaxDescriptorAddress);
  if (!address.ok()) return address.status();
  if (!is_valid_tcp_endpoint(*address)) return bad("address", "expected tcp://HOST:PORT");
  d.node.address = std::move(*address);
  auto version = get_string(j, "version", kMaxDescriptorVersion);
  if (!version.ok()) return version.status();
  if (!printable_ascii(*version)) return bad("version", "expected printable ASCII without spaces");
  d.version = std::move(*version);
  auto issued = get_u64(j, "issued_at");
  if (!issued.ok()) return issued.status();
  d.issued_at_ms = *issued;
  auto expires = get_u64(j, "expires_at");
  if (!expires.ok()) return expires.status();
  d.expires_at_ms = *expires;
  if (j.contains("endorsement")) {
    auto e = parse_endorsement(j["endorsement"]);
    if (!e.ok()) return e.status();
    d.endorsement = *e;
  }
  auto sig = get_fixed<crypto::Signature>(j, "signature");
  if (!sig.ok()) return sig.status();
  d.signature = *sig;
  return d;
}

Result<SignedDescriptor> parse_descriptor_text(std::string_view text) {
  auto j = parse_json(text, kMaxDepth, kMaxDescriptorJsonBytes);
  if (!j.ok()) return bad("", j.status().message());
  return parse_descriptor(*j);
}

json endorsement_file_to_json(const EndorsementFile& f) {
  return json{{"network_id", f.network_id},
              {"ed25519", to_hex(f.node_ed25519.view())},
              {"x25519", to_hex(f.node_x25519.view())},
              {"endorsement", endorsement_to_json(f.endorsement)}};
}

Result<EndorsementFile> parse_endorsement_file(std::string_view text) {
  auto j = parse_json(text, kMaxDepth, kMaxDescriptorJsonBytes);
  if (!j.ok()) return bad("", j.status().message());
  if (Status s = check_keys(*j, {"network_id", "ed25519", "x25519", "endorsement"}, {}, "endorsement file"); !s.ok())
    return s;
  EndorsementFile f;
  auto id = get_string(*j, "network_id", kMaxDescriptorNetworkId);
  if (!id.ok()) return id.status();
  f.network_id = *id;
  auto ed = get_fixed<crypto::Ed25519PublicKey>(*j, "ed25519");
  if (!ed.ok()) return ed.status();
  f.node_ed25519 = *ed;
  auto x = get_fixed<crypto::X25519PublicKey>(*j, "x25519");
  if (!x.ok()) return x.status();
  f.node_x25519 = *x;
  auto e = parse_endorsement((*j)["endorsement"]);
  if (!e.ok()) return e.status();
  f.endorsement = *e;
  if (!crypto::verify(f.endorsement.operator_key,
                      endorsement_signing_bytes(f.network_id, f.node_ed25519, f.node_x25519,
                                                f.endorsement.valid_until_ms),
                      f.endorsement.signature))
    return error(Code::kUnauthorized, "endorsement file: the operator signature does not verify");
  return f;
}

std::optional<crypto::Ed25519PublicKey> verified_operator(const SignedDescriptor& d) {
  if (!d.endorsement) return std::nullopt;
  const Endorsement& e = *d.endorsement;
  if (!crypto::verify(e.operator_key,
                      endorsement_signing_bytes(d.network_id, d.node.ed25519, d.node.x25519, e.valid_until_ms),
                      e.signature))
    return std::nullopt;
  return e.operator_key;
}

NodeDescriptor node_with_operator(const SignedDescriptor& d) {
  NodeDescriptor n = d.node;
  n.operator_key = verified_operator(d);
  return n;
}

namespace {

// verify_descriptor's checks in its order; with check_signatures false,
// those that need no public-key crypto.
Status check_descriptor(const SignedDescriptor& d, const VerifyRules& rules, bool check_signatures) {
  if (d.network_id != rules.network_id)
    return error(Code::kInvalidArgument, "wrong network id \"" + d.network_id.substr(0, 64) + "\"");
  if (!is_valid_tcp_endpoint(d.node.address)) return error(Code::kInvalidArgument, "address is not tcp://HOST:PORT");
  if (d.expires_at_ms <= d.issued_at_ms) return error(Code::kInvalidArgument, "expires_at is not after issued_at");
  if (check_signatures) {
    if (!crypto::verify(d.node.ed25519, descriptor_signing_bytes(d), d.signature))
      return error(Code::kUnauthorized, "bad descriptor signature");
    bool derived;
    if (rules.converted_keys) {
      derived = rules.converted_keys->derives(d.node.ed25519, d.node.x25519);
    } else {
      auto x = crypto::ed25519_to_x25519(d.node.ed25519);
      derived = x.ok() && *x == d.node.x25519;
    }
    if (!derived) return error(Code::kInvalidArgument, "x25519 key is not derived from the ed25519 key");
  }
  if (d.expires_at_ms <= rules.now_ms) return error(Code::kStale, "descriptor expired");
  if (d.issued_at_ms > rules.now_ms + rules.max_skew_ms) return error(Code::kStale, "issued_at is in the future");
  if (d.expires_at_ms > rules.now_ms + rules.max_lifetime_ms)
    return error(Code::kStale, "expires_at is too far ahead (more than " +
                                   std::to_string(rules.max_lifetime_ms / 1000) + " s)");
  if (!rules.operators.empty()) {
    if (!d.endorsement) return error(Code::kUnauthorized, "no operator endorsement (permissioned network)");
    const Endorsement& e = *d.endorsement;
    if (std::find(rules.operators.begin(), rules.operators.end(), e.operator_key) == rules.operators.end())
      return error(Code::kUnauthorized, "endorsed by an operator key this network does not list");
    if (check_signatures &&
        !crypto::verify(e.operator_key,
                        endorsement_signing_bytes(d.network_id, d.node.ed25519, d.node.x25519, e.valid_until_ms),
                        e.signature))
      return error(Code::kUnauthorized, "bad endorsement signature");
    if (e.valid_until_ms <= rules.now_ms) return error(Code::kStale, "endorsement expired");
  }
  return Status();
}

}  // namespace

Status verify_descriptor(const SignedDescriptor& d, const VerifyRules& rules) {
  return check_descriptor(d, rules, true);
}

Status check_descriptor_terms(const SignedDescriptor& d, const VerifyRules& rules) {
  return check_descriptor(d, rules, false);
}

}  // namespace onionswarm::swarm
