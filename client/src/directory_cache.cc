#include "client/directory_cache.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <sodium.h>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "client/paths.h"
#include "onion/encoding.h"
#include "onion/wire.h"
#include "swarm/json.h"

namespace onionswarm::client {

using nlohmann::json;

namespace {

constexpr std::string_view kCacheKeyDomain = "onionswarm directory cache MAC key v1";

// The descriptors of `list` that parse, are distinct, fit, and pass `check`.
template <typename Check>
std::vector<swarm::SignedDescriptor> kept_descriptors(const json& list, size_t* refused, Check check) {
  std::vector<swarm::SignedDescriptor> out;
  std::set<crypto::X25519PublicKey> seen;
  if (!list.is_array()) return out;
  for (const auto& item : list) {
    auto d = swarm::parse_descriptor(item);
    if (!d.ok() || !check(*d) || seen.count(d->node.x25519) || out.size() >= kMaxCachedDescriptors) {
      ++*refused;
      continue;
    }
    seen.insert(d->node.x25519);
    out.push_back(std::move(*d));
  }
  return out;
}

std::string cache_mac(std::string_view document, const crypto::SecretBytes& key) {
  return to_hex(crypto::blake2b(as_bytes(document), crypto::kHashSize, key.view()));
}

}  // namespace

std::vector<swarm::SignedDescriptor> verified_descriptors(const json& list, const swarm::VerifyRules& rules,
                                                          size_t* refused) {
  return kept_descriptors(list, refused, [&](const swarm::SignedDescriptor& d) {
    if (!swarm::verify_descriptor(d, rules).ok()) return false;
    // A permissioned network's rules have verified the endorsement already.
    return !d.endorsement || !rules.operators.empty() || swarm::verified_operator(d).has_value();
  });
}

crypto::SecretBytes directory_cache_key(const crypto::Ed25519KeyPair& identity) {
  Bytes k = crypto::blake2b(as_bytes(kCacheKeyDomain), crypto::kKeySize, identity.seed());
  crypto::SecretBytes key(k);
  sodium_memzero(k.data(), k.size());
  return key;
}

std::string directory_cache_to_json(const CachedDirectory& c, const crypto::SecretBytes* key) {
  json list = json::array();
  for (const auto& d : c.descriptors) list.push_back(swarm::descriptor_to_json(d));
  json doc{{"fetched_at", c.fetched_at_ms}, {"guard", to_hex(c.guard.view())}, {"descriptors", std::move(list)}};
  if (key) doc["mac"] = cache_mac(doc.dump(), *key);
  return doc.dump(1) + "\n";
}

Result<CachedDirectory> parse_directory_cache(std::string_view text, const swarm::VerifyRules& rules,
                                              const crypto::SecretBytes* key) {
  auto j = swarm::parse_json(text, 6, kMaxCacheFileBytes);
  if (!j.ok()) return j.status();
  if (!j->is_object() || !j->contains("fetched_at") || !(*j)["fetched_at"].is_number_unsigned() ||
      !j->contains("guard") || !(*j)["guard"].is_string() || !j->contains("descriptors"))
    return error(Code::kInvalidArgument, "directory cache: expected fetched_at, guard and descriptors");
  auto guard = from_hex((*j)["guard"].get<std::string>(), crypto::kKeySize);
  if (!guard.ok() || guard->size() != crypto::kKeySize)
    return error(Code::kInvalidArgument, "directory cache: guard must be 64 hex characters");
  CachedDirectory c;
  c.fetched_at_ms = (*j)["fetched_at"].get<uint64_t>();
  c.guard = *crypto::X25519PublicKey::from(*guard);
  // The MAC is over the document without it; a cache without one, or one
  // written under another key or changed since, is verified in full.
  bool ours = false;
  if (key && j->contains("mac") && (*j)["mac"].is_string()) {
    const std::string mac = (*j)["mac"].get<std::string>();
    j->erase("mac");
    const std::string expected = cache_mac(j->dump(), *key);
    ours = mac.size() == expected.size() && crypto::equal_ct(as_bytes(mac), as_bytes(expected));
  }
  size_t refused = 0;
  if (ours) {
    c.descriptors = kept_descriptors((*j)["descriptors"], &refused, [&](const swarm::SignedDescriptor& d) {
      return swarm::check_descriptor_terms(d, rules).ok();
    });
  } else {
    c.descriptors = verified_descriptors((*j)["descriptors"], rules, &refused);
  }
  return c;
}

Result<CachedDirectory> fetch_directory(const swarm::NodeDescriptor& guard, const swarm::VerifyRules& rules,
                                        uint64_t timeout_ms, size_t* refused) {
  CachedDirectory c;
  c.guard = guard.x25519;
  c.fetched_at_ms = rules.now_ms;
  json all = json::array();
  try {
    zmq::context_t ctx;
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    auto keys = crypto::X25519KeyPair::generate();  // fresh: the guard learns nothing lasting
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::maxmsgsize, wire::kMaxFrameSize);
    s.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(guard.x25519.data(), 32));
    s.set(zmq::sockopt::curve_publickey, zmq::const_buffer(keys.public_key().data(), 32));
    s.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(keys.secret().data(), 32));
    s.connect(guard.address);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::optional<std::string> after;
    for (uint64_t page = 1; page <= kMaxDirectoryPages; ++page) {
      json req{{"op", "list"}};
      if (after) req["after"] = *after;
      const std::string body = req.dump();
      const Bytes header = wire::encode_header({wire::kVersion, wire::Type::kGossip, page});
      std::array<zmq::const_buffer, 2> frames = {zmq::buffer(header), zmq::buffer(body)};
      if (!zmq::send_multipart(s, frames, zmq::send_flags::dontwait)) return error(Code::kUnavailable, "cannot send");
      std::optional<json> answer;
      for (int strays = 0; strays < 16 && !answer; ++strays) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, left);
        if (!(item.revents & ZMQ_POLLIN)) break;
        std::vector<zmq::message_t> got;
        if (!zmq::recv_multipart(s, std::back_inserter(got)) || got.size() != 2) continue;
        auto h = wire::decode_header({static_cast<const uint8_t*>(got[0].data()), got[0].size()});
        if (!h.ok() || h->request_id != page) continue;
        if (h->type != wire::Type::kGossipResponse)
          return error(Code::kUnavailable, "the guard refused the directory request: " + got[1].to_string().substr(0, 200));
        auto j = swarm::parse_json(got[1].to_string_view(), 6, wire::kMaxBodySize);
        if (!j.ok() || !j->is_object() || !j->contains("descriptors") || !(*j)["descriptors"].is_array())
          return error(Code::kInvalidArgument, "malformed directory answer");
        answer = std::move(*j);
      }
      if (!answer) return error(Code::kTimeout, "the guard did not answer the directory request in time");
      const json& list = (*answer)["descriptors"];
      for (const auto& d : list) {
        if (all.size() >= kMaxCachedDescriptors) break;
        all.push_back(d);
      }
      if (!answer->value("more", false) || list.empty() || !list.back().is_object() || !list.back().contains("x25519") ||
          !list.back()["x25519"].is_string())
        break;
      after = list.back()["x25519"].get<std::string>();
    }
  } catch (const zmq::error_t& e) {
    return error(Code::kUnavailable, std::string("directory request failed: ") + e.what());
  }
  c.descriptors = verified_descriptors(all, rules, refused);
  return c;
}

uint64_t directory_refresh_after_ms(const CachedDirectory& c) {
  uint64_t shortest = 2 * kMaxDirectoryAgeMs;
  for (const auto& d : c.descriptors)
    if (d.expires_at_ms > d.issued_at_ms) shortest = std::min(shortest, d.expires_at_ms - d.issued_at_ms);
  return std::clamp(shortest / 2, kMinDirectoryAgeMs, kMaxDirectoryAgeMs);
}

std::vector<swarm::NodeDescriptor> directory_view(const std::optional<CachedDirectory>& cached,
                                                  const std::vector<swarm::NodeDescriptor>& seeds) {
  if (!cached || cached->descriptors.size() < 3) return seeds;
  std::vector<swarm::NodeDescriptor> out;
  out.reserve(cached->descriptors.size());
  for (const auto& d : cached->descriptors) {
    out.push_back(d.node);
    if (d.endorsement) out.back().operator_key = d.endorsement->operator_key;  // verified on the way in
  }
  return out;
}

std::string directory_cache_path(const std::string& home) {
  return (std::filesystem::path(home) / "directory.json").string();
}

std::optional<CachedDirectory> load_directory_cache(const std::string& home, const swarm::VerifyRules& rules,
                                                    const crypto::SecretBytes* key) {
  std::ifstream in(directory_cache_path(home));
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  auto c = parse_directory_cache(text.str(), rules, key);
  if (!c.ok()) return std::nullopt;
  return std::move(*c);
}

Status save_directory_cache(const std::string& home, const CachedDirectory& c, const crypto::SecretBytes* key) {
  const std::string path = directory_cache_path(home);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << directory_cache_to_json(c, key);
    out.flush();
    if (!out.good()) return error(Code::kIo, "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return error(Code::kIo, "cannot write " + path + ": " + ec.message());
  return Status();
}

Result<DirectoryRefresh> refresh_directory(const std::string& home, LocalStore& store,
                                           const std::vector<swarm::NodeDescriptor>& seeds,
                                           const swarm::VerifyRules& rules, RefreshWhen when, uint64_t timeout_ms,
                                           const crypto::SecretBytes* key) {
  DirectoryRefresh r;
  r.directory = load_directory_cache(home, rules, key);
  if (when == RefreshWhen::kWhenStale) {
    if (!r.directory) return r;
    const uint64_t age = rules.now_ms > r.directory->fetched_at_ms ? rules.now_ms - r.directory->fetched_at_ms : 0;
    if (age < directory_refresh_after_ms(*r.directory)) return r;
  }
  const auto kept = store.guard();
  auto guard = choose_guard(directory_view(r.directory, seeds), kept, false, secure_random());
  if (!guard.ok()) {
    r.fetch_error = guard.status();
    return r;
  }
  if (!kept || *kept != guard->x25519)
    if (Status s = store.set_guard(guard->x25519); !s.ok()) return s;
  auto fetched = fetch_directory(*guard, rules, timeout_ms, &r.refused);
  if (!fetched.ok()) {
    r.fetch_error = fetched.status();
    return r;
  }
  if (Status s = save_directory_cache(home, *fetched, key); !s.ok()) return s;
  r.directory = std::move(*fetched);
  r.fetched = true;
  return r;
}

}  // namespace onionswarm::client
