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


void append_replica_record(Bytes& out, const StoredMessage& m) {
  const auto account = m.account.raw();
  out.insert(out.end(), account.begin(), account.end());
  put_u16(out, m.ns);
  put_u64(out, m.timestamp_ms);
  put_u64(out, m.expiry_ms);
  put_u32(out, uint32_t(m.data.size()));
  append(out, m.data);
}

Result<std::vector<StoredMessage>> parse_replica_batch(ByteView body) {
  auto bad = [](const std::string& what) { return error(Code::kInvalidArgument, "bad replica batch: " + what); };
  if (body.size() < 2) return bad("shorter than its count");
  const size_t count = get_u16(body.data());
  if (count == 0 || count > kMaxReplicaBatch)
    return bad("count must be 1.." + std::to_string(kMaxReplicaBatch) + ", got " + std::to_string(count));
  std::vector<StoredMessage> out;
  out.reserve(count);
  size_t at = 2;
  for (size_t i = 0; i < count; ++i) {
    const std::string which = "record " + std::to_string(i) + ": ";
    if (body.size() - at < kReplicaRecordHeader) return bad(which + "truncated");
    const uint8_t* p = body.data() + at;
    auto account = swarm::AccountId::from_raw(ByteView(p, swarm::kAccountIdRawSize));
    if (!account.ok()) return bad(which + account.status().message());
    p += swarm::kAccountIdRawSize;
    StoredMessage m;
    m.account = *account;
    m.ns = get_u16(p);
    m.timestamp_ms = get_u64(p + 2);
    m.expiry_ms = get_u64(p + 10);
    const size_t len = get_u32(p + 18);
    at += kReplicaRecordHeader;
    if (len == 0 || len > swarm::rpc::kMaxDataBytes)
      return bad(which + "data must be 1.." + std::to_string(swarm::rpc::kMaxDataBytes) + " bytes");
    if (body.size() - at < len) return bad(which + "data truncated");
    m.data.assign(body.data() + at, body.data() + at + len);
    at += len;
    m.hash = crypto::hash(m.data);
    out.push_back(std::move(m));
  }
  if (at != body.size()) return bad(std::to_string(body.size() - at) + " bytes after the last record");
  return out;
}

}  // namespace onionswarm::node
