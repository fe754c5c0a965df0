#include "swarm/group.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

namespace onionswarm::swarm::group {
namespace {

constexpr std::string_view kControlDomain = "onionswarm/group-control/v1";

Bytes encode_unsigned(const ControlEntry& e) {
  Bytes out;
  out.reserve(kControlHeaderSize + e.body.size() + crypto::kSignatureSize);
  out.push_back(kControlVersion);
  put_u64(out, e.seq);
  append(out, e.prev.view());
  put_u64(out, e.generation);
  append(out, e.member_auth.view());
  put_u32(out, uint32_t(e.body.size()));
  append(out, e.body);
  return out;
}

}  // namespace

Bytes control_signing_bytes(const crypto::Ed25519PublicKey& group, const ControlEntry& e) {
  Bytes out(kControlDomain.begin(), kControlDomain.end());
  append(out, group.view());
  append(out, encode_unsigned(e));
  return out;
}

Bytes sign_control(const crypto::Ed25519KeyPair& group_key, ControlEntry& e) {
  e.signature = group_key.sign(control_signing_bytes(group_key.public_key(), e));
  Bytes blob = encode_unsigned(e);
  append(blob, e.signature.view());
  e.hash = crypto::hash(blob);
  return blob;
}

Result<ControlEntry> parse_control(ByteView blob, const crypto::Ed25519PublicKey& group) {
  auto bad = [](const char* what) { return error(Code::kInvalidArgument, std::string("group control entry: ") + what); };
  if (blob.size() < kControlHeaderSize + crypto::kSignatureSize) return bad("truncated");
  if (blob[0] != kControlVersion) return bad("unknown version");
  ControlEntry e;
  const uint8_t* p = blob.data() + 1;
  e.seq = get_u64(p);
  p += 8;
  std::copy(p, p + 32, e.prev.bytes.begin());
  p += 32;
  e.generation = get_u64(p);
  p += 8;
  std::copy(p, p + 32, e.member_auth.bytes.begin());
  p += 32;
  const uint32_t body_len = get_u32(p);
  p += 4;
  if (body_len > kMaxControlBody) return bad("body too large");
  if (blob.size() != kControlHeaderSize + body_len + crypto::kSignatureSize) return bad("length mismatch");
  e.body.assign(p, p + body_len);
  p += body_len;
  std::copy(p, p + crypto::kSignatureSize, e.signature.bytes.begin());
  if (!crypto::verify(group, control_signing_bytes(group, e), e.signature))
    return error(Code::kUnauthorized, "group control entry: not signed by the group key");
  e.hash = crypto::hash(blob);
  return e;
}

std::vector<ControlEntry> canonical_chain(std::vector<ControlEntry> entries) {
  // Children by parent hash; smallest hash first among equals.
  std::sort(entries.begin(), entries.end(), [](const ControlEntry& a, const ControlEntry& b) { return a.hash < b.hash; });
  std::multimap<crypto::Hash, size_t> children;
  const crypto::Hash zero{};
  std::optional<size_t> current;
  for (size_t i = 0; i < entries.size(); ++i) {
    children.emplace(entries[i].prev, i);
    if (!current && entries[i].seq == 0 && entries[i].prev == zero) current = i;
  }
  std::vector<ControlEntry> chain;
  // Bounded: each step takes a distinct entry (seq strictly increases).
  while (current && chain.size() < entries.size()) {
    const ControlEntry& cur = entries[*current];
    chain.push_back(cur);
    std::optional<size_t> next;
    auto [lo, hi] = children.equal_range(cur.hash);
    for (auto it = lo; it != hi; ++it) {
      const ControlEntry& c = entries[it->second];
      if (c.seq != cur.seq + 1 || c.generation < cur.generation) continue;
      if (!next || c.hash < entries[*next].hash) next = it->second;
    }
    current = next;
  }
  return chain;
}

bool chain_holds(const std::vector<ControlEntry>& chain, uint64_t seq, const crypto::Hash& hash) {
  // The chain starts at seq 0 and each entry's seq is one more.
  return seq < chain.size() && chain[seq].seq == seq && chain[seq].hash == hash;
}

Result<std::vector<ControlEntry>> extend_chain(std::vector<ControlEntry> window, uint64_t head_seq,
                                               const crypto::Hash& head_hash) {
  std::sort(window.begin(), window.end(), [](const ControlEntry& a, const ControlEntry& b) { return a.hash < b.hash; });
  window.erase(std::unique(window.begin(), window.end(),
                           [](const ControlEntry& a, const ControlEntry& b) { return a.hash == b.hash; }),
               window.end());
  std::map<crypto::Hash, size_t> by_hash;
  std::multimap<crypto::Hash, size_t> children;
  for (size_t i = 0; i < window.size(); ++i) {
    by_hash.emplace(window[i].hash, i);
    children.emplace(window[i].prev, i);
  }
  auto head = by_hash.find(head_hash);
  if (head == by_hash.end() || window[head->second].seq != head_seq)
    return error(Code::kNotFound, "the log read lacks the known head");
  std::vector<bool> placed(window.size(), false);
  // The head's ancestors in the window. Bounded: seq strictly decreases.
  for (size_t i = head->second; !placed[i];) {
    placed[i] = true;
    auto parent = by_hash.find(window[i].prev);
    if (window[i].seq == 0 || parent == by_hash.end() || window[parent->second].seq + 1 != window[i].seq) break;
    i = parent->second;
  }
  // The extension, by the canonical rule. Bounded: each step places an entry.
  std::vector<ControlEntry> out;
  for (size_t cur = head->second;;) {
    std::optional<size_t> next;
    auto [lo, hi] = children.equal_range(window[cur].hash);
    for (auto it = lo; it != hi; ++it) {
      const ControlEntry& c = window[it->second];
      if (placed[it->second] || c.seq != window[cur].seq + 1 || c.generation < window[cur].generation) continue;
      if (!next || c.hash < window[*next].hash) next = it->second;
    }
    if (!next) break;
    placed[*next] = true;
    out.push_back(window[*next]);
    cur = *next;
  }
  for (size_t i = 0; i < window.size(); ++i)
    if (!placed[i]) return error(Code::kConflict, "the log read holds an entry off the known chain");
  return out;
}

}  // namespace onionswarm::swarm::group
