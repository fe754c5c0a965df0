#include "config/network_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include "json_fields.h"
#include "onion/encoding.h"
#include "swarm/descriptor.h"
#include "swarm/json.h"

namespace onionswarm::config {
namespace {

using detail::child_pointer;
using detail::field_error;
using detail::Json;

// Root object, nodes array, node object: anything deeper is not a network file.
constexpr size_t kMaxDepth = 8;

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool valid_network_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxNetworkIdLength) return false;
  for (char c : id) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// Decodes exactly 32 bytes of hex into a fixed-size key.
template <typename Key>
Result<Key> parse_key(const Json& v, const std::string& pointer) {
  auto text = detail::get_string(v, pointer);
  if (!text.ok()) return text.status();
  bool ok = text->size() == 2 * Key::size();
  for (char c : *text) ok = ok && is_hex_digit(c);
  if (!ok) return field_error(pointer, "expected " + std::to_string(2 * Key::size()) + " hex characters");
  auto bytes = from_hex(*text, Key::size());
  if (!bytes.ok()) return field_error(pointer, bytes.status().message());
  auto key = Key::from(*bytes);
  if (!key.ok()) return field_error(pointer, key.status().message());
  return *key;
}

Result<swarm::NodeDescriptor> parse_node(const Json& v, const std::string& pointer) {
  if (Status s = detail::check_object(v, pointer, {"address", "ed25519", "x25519"}); !s.ok()) return s;
  for (const char* key : {"address", "ed25519", "x25519"}) {
    if (!v.contains(key)) return field_error(child_pointer(pointer, key), "missing");
  }
  swarm::NodeDescriptor node;
  const std::string address_ptr = child_pointer(pointer, "address");
  auto address = detail::get_string(v["address"], address_ptr);
  if (!address.ok()) return address.status();
  if (!is_valid_tcp_endpoint(*address)) return field_error(address_ptr, "expected tcp://HOST:PORT");
  node.address = std::move(*address);
  auto ed = parse_key<crypto::Ed25519PublicKey>(v["ed25519"], child_pointer(pointer, "ed25519"));
  if (!ed.ok()) return ed.status();
  node.ed25519 = *ed;
  auto x = parse_key<crypto::X25519PublicKey>(v["x25519"], child_pointer(pointer, "x25519"));
  if (!x.ok()) return x.status();
  node.x25519 = *x;
  return node;
}

Result<NetworkFile> parse_document(const Json& doc) {
  if (Status s = detail::check_object(doc, "", {"network_id", "swarm_size", "nodes", "operators"}); !s.ok()) return s;
  NetworkFile file;

  if (!doc.contains("network_id")) return field_error("/network_id", "missing");
  auto id = detail::get_string(doc["network_id"], "/network_id");
  if (!id.ok()) return id.status();
  if (!valid_network_id(*id)) {
    return field_error("/network_id", "expected 1 to 64 characters of A-Z a-z 0-9 . _ -");
  }
  file.network_id = std::move(*id);

  if (doc.contains("swarm_size")) {
    auto size = detail::get_uint(doc["swarm_size"], "/swarm_size", kMinSwarmSize, kMaxSwarmSize);
    if (!size.ok()) return size.status();
    file.swarm_size = size_t(*size);
  }

  if (!doc.contains("nodes")) return field_error("/nodes", "missing");
  const Json& nodes = doc["nodes"];
  if (Status s = detail::expect_type(nodes, "/nodes", nodes.is_array(), "an array"); !s.ok()) return s;

  // First index at which each key and address was seen, to name both ends
  // of a duplicate.
  std::map<crypto::Ed25519PublicKey, size_t> seen_ed;
  std::map<crypto::X25519PublicKey, size_t> seen_x;
  std::map<std::string, size_t> seen_address;
  auto duplicate = [](const std::string& pointer, std::string_view key, size_t first) {
    return field_error(pointer + "/" + std::string(key),
                       "duplicate of /nodes/" + std::to_string(first) + "/" + std::string(key));
  };
  file.nodes.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string pointer = child_pointer("/nodes", i);
    auto node = parse_node(nodes[i], pointer);
    if (!node.ok()) return node.status();
    if (auto [it, fresh] = seen_address.emplace(node->address, i); !fresh) {
      return duplicate(pointer, "address", it->second);
    }
    if (auto [it, fresh] = seen_ed.emplace(node->ed25519, i); !fresh) {
      return duplicate(pointer, "ed25519", it->second);
    }
    if (auto [it, fresh] = seen_x.emplace(node->x25519, i); !fresh) {
      return duplicate(pointer, "x25519", it->second);
    }
    file.nodes.push_back(std::move(*node));
  }

  if (doc.contains("operators")) {
    const Json& ops = doc["operators"];
    if (Status s = detail::expect_type(ops, "/operators", ops.is_array(), "an array"); !s.ok()) return s;
    if (ops.size() > kMaxOperators)
      return field_error("/operators", "at most " + std::to_string(kMaxOperators) + " operator keys");
    for (size_t i = 0; i < ops.size(); ++i) {
      const std::string pointer = child_pointer("/operators", i);
      auto key = parse_key<crypto::Ed25519PublicKey>(ops[i], pointer);
      if (!key.ok()) return key.status();
      if (std::find(file.operators.begin(), file.operators.end(), *key) != file.operators.end())
        return field_error(pointer, "duplicate operator key");
      file.operators.push_back(*key);
    }
  }
  return file;
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return error(Code::kIo, std::string("write: ") + std::strerror(errno));
    }
    data.remove_prefix(size_t(n));
  }
  return Status();
}

}  // namespace

bool is_valid_tcp_endpoint(std::string_view address, bool for_bind) {
  return swarm::is_valid_tcp_endpoint(address, for_bind);
}

Result<NetworkFile> parse_network_file(std::string_view json) {
  auto doc = swarm::parse_json(json, kMaxDepth, kMaxNetworkFileBytes);
  if (!doc.ok()) return field_error("", doc.status().message());
  return parse_document(*doc);
}

Result<NetworkFile> load_network_file(const std::string& path) {
  auto text = detail::read_file_capped(path, kMaxNetworkFileBytes);
  if (!text.ok()) return text.status();
  auto file = parse_network_file(*text);
  if (!file.ok()) return detail::with_file(path, file.status());
  return file;
}

std::string network_file_to_json(const NetworkFile& file) {
  nlohmann::ordered_json doc;
  doc["network_id"] = file.network_id;
  doc["swarm_size"] = file.swarm_size;
  doc["nodes"] = nlohmann::ordered_json::array();
  for (const auto& node : file.nodes) {
    nlohmann::ordered_json n;
    n["address"] = node.address;
    n["ed25519"] = to_hex(node.ed25519.view());
    n["x25519"] = to_hex(node.x25519.view());
    doc["nodes"].push_back(std::move(n));
  }
  if (!file.operators.empty()) {
    doc["operators"] = nlohmann::ordered_json::array();
    for (const auto& op : file.operators) doc["operators"].push_back(to_hex(op.view()));
  }
  // Replace rather than throw on invalid UTF-8 (only possible for a
  // NetworkFile built in code, never for one that was parsed).
  return doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

Status write_network_file_atomic(const std::string& path, const NetworkFile& file) {
  const std::string text = network_file_to_json(file);
  if (auto check = parse_network_file(text); !check.ok()) {
    return error(Code::kInvalidArgument, "refusing to write an invalid network file: " + check.status().message());
  }

  std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::string name = ".";
  name += target.filename().string();
  name += ".tmp-XXXXXX";
  std::string tmp = (dir / name).string();

  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return error(Code::kIo, path + ": cannot create temporary file: " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    Status s = error(Code::kIo, path + ": " + what + ": " + std::strerror(errno));
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  };
  // The network file holds only public data.
  if (::fchmod(fd, 0644) != 0) return fail("chmod");
  if (Status s = write_all(fd, text); !s.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return error(Code::kIo, path + ": " + s.message());
  }
  if (::fsync(fd) != 0) return fail("fsync");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) return fail("close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename");

  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return error(Code::kIo, dir.string() + ": cannot open directory: " + std::strerror(errno));
  rc = ::fsync(dfd);
  int saved = errno;
  ::close(dfd);
  if (rc != 0) return error(Code::kIo, dir.string() + ": fsync: " + std::strerror(saved));
  return Status();
}

}  // namespace onionswarm::config
