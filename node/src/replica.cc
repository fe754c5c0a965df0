#include "node/replica.h"

#include "onion/encoding.h"
#include "swarm/rpc.h"

namespace onionswarm::node {

nlohmann::json replica_to_json(const StoredMessage& m) {
  return {{"account", m.account.to_string()}, {"namespace", m.ns},       {"timestamp", m.timestamp_ms},
          {"expiry", m.expiry_ms},            {"data", to_base64(m.data)}};
}

Result<StoredMessage> replica_from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& what) { return error(Code::kInvalidArgument, "bad replica: " + what); };
  if (!j.is_object()) return bad("not an object");
  for (const char* k : {"account", "data"})
    if (!j.contains(k) || !j[k].is_string()) return bad(std::string(k) + " must be a string");
  for (const char* k : {"namespace", "timestamp", "expiry"})
    if (!j.contains(k) || !j[k].is_number_unsigned()) return bad(std::string(k) + " must be a non-negative integer");
  auto account = swarm::AccountId::parse(j["account"].get<std::string>());
  if (!account.ok()) return bad(account.status().message());
  auto data = from_base64(j["data"].get<std::string>(), swarm::rpc::kMaxDataBytes);
  if (!data.ok() || data->empty()) return bad("data must be base64 of 1.." + std::to_string(swarm::rpc::kMaxDataBytes) + " bytes");
  const uint64_t ns = j["namespace"].get<uint64_t>();
  if (ns > 0xFFFF) return bad("namespace out of range");
  StoredMessage m;
  m.account = *account;
  m.ns = uint16_t(ns);
  m.timestamp_ms = j["timestamp"].get<uint64_t>();
  m.expiry_ms = j["expiry"].get<uint64_t>();
  m.data = std::move(*data);
  m.hash = crypto::hash(m.data);
  return m;
}

}  // namespace onionswarm::node
