// Writes tests/vectors/datadir-schema1: a node store (LMDB) written by the
// storage code of the first release (commit 74c687b, schema version 1), and
// messages.json describing what it holds. Built against that commit's
// sources, not the current tree (see README.md next to this file); kept here
// as the record of how the fixture was made.
//
// Usage: make_fixture OUT_DB_DIR > messages.json
#include <cstdio>
#include <string>
#include <vector>

#include "node/storage.h"
#include "onion/crypto.h"
#include "onion/encoding.h"
#include "swarm/account.h"

using namespace onionswarm;

namespace {

constexpr uint64_t kT = 1'795'780'800'000;        // 2026-11-27T12:00:00Z
constexpr uint64_t kFar = 4'102'444'800'000;      // 2100-01-01T00:00:00Z
constexpr uint64_t kExpired = 1'795'824'000'000;  // 2026-11-28T00:00:00Z

crypto::Ed25519KeyPair keys(uint8_t fill) {
  Bytes seed(32, fill);
  return crypto::Ed25519KeyPair::from_seed(seed).value();
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

struct Entry {
  node::StoredMessage m;
  bool deleted = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DB_DIR > messages.json\n", argv[0]);
    return 2;
  }
  crypto::init();
  const auto a = swarm::AccountId::user(keys(0x11).to_x25519().public_key());
  const auto b = swarm::AccountId::user(keys(0x22).to_x25519().public_key());
  const auto c = swarm::AccountId::group(keys(0x33).public_key());

  Bytes big(5000);  // larger than a 4 KiB page: stored on overflow pages
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 7 + 3);

  std::vector<Entry> entries;
  auto add = [&](const swarm::AccountId& acc, uint16_t ns, uint64_t ts, uint64_t expiry, Bytes data) {
    node::StoredMessage m;
    m.account = acc;
    m.ns = ns;
    m.timestamp_ms = ts;
    m.expiry_ms = expiry;
    m.hash = crypto::hash(data);
    m.data = std::move(data);
    entries.push_back({std::move(m)});
  };
  add(a, 0, kT, kFar, text("schema-1 fixture: A ns0 first"));
  add(a, 0, kT + 1000, kFar, text("schema-1 fixture: A ns0 second (same timestamp as third)"));
  add(a, 0, kT + 1000, kFar, text("schema-1 fixture: A ns0 third (same timestamp as second)"));
  add(a, 0, kT + 2000, kFar, text("schema-1 fixture: A ns0 deleted by its owner"));
  add(a, 5, kT + 3000, kFar - 86'400'000, text("schema-1 fixture: A ns5, a day shorter"));
  add(b, 0, kT, kFar, text("schema-1 fixture: B ns0"));
  add(b, 0, kT + 500, kExpired, text("schema-1 fixture: B ns0, expired on 2026-11-28"));
  add(b, 0, kT + 4000, kFar, big);
  add(c, 0, kT, kFar, text("schema-1 fixture: C (group) ns0 first"));
  add(c, 0, kT + 1, kFar, text("schema-1 fixture: C (group) ns0 second"));
  entries[3].deleted = true;

  node::StorageOptions options;
  options.path = argv[1];
  auto storage = node::Storage::open(options);
  if (!storage.ok()) {
    std::fprintf(stderr, "open: %s\n", storage.status().to_string().c_str());
    return 1;
  }
  for (const Entry& e : entries) {
    auto r = (*storage)->store(e.m);
    if (!r.ok() || *r != node::StoreResult::kNew) {
      std::fprintf(stderr, "store failed\n");
      return 1;
    }
  }
  for (const Entry& e : entries) {
    if (!e.deleted) continue;
    auto r = (*storage)->remove(e.m.account, e.m.ns, {e.m.hash});
    if (!r.ok() || *r != 1) {
      std::fprintf(stderr, "remove failed\n");
      return 1;
    }
  }
  if ((*storage)->schema_version() != 1) {
    std::fprintf(stderr, "not schema 1\n");
    return 1;
  }
  storage->reset();

  std::printf("{\n  \"schema_version\": 1,\n  \"written_by\": \"74c687b\",\n  \"messages\": [\n");
  for (size_t i = 0; i < entries.size(); ++i) {
    const node::StoredMessage& m = entries[i].m;
    std::printf(
        "    {\"account\": \"%s\", \"ns\": %u, \"timestamp_ms\": %llu, \"expiry_ms\": %llu,\n"
        "     \"hash\": \"%s\", \"deleted\": %s,\n     \"data\": \"%s\"}%s\n",
        m.account.to_string().c_str(), unsigned(m.ns), (unsigned long long)m.timestamp_ms,
        (unsigned long long)m.expiry_ms, to_hex(m.hash.view()).c_str(), entries[i].deleted ? "true" : "false",
        to_hex(m.data).c_str(), i + 1 < entries.size() ? "," : "");
  }
  std::printf("  ]\n}\n");
  return 0;
}
