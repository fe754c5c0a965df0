// The two forms a replica travels in (node/replica.h): the JSON object of
// hand-overs and catch-up, and the binary batch of new stores' pushes, with
// one test per class of bad input.
#include "node/replica.h"

#include <gtest/gtest.h>

#include "swarm/rpc.h"

namespace onionswarm::node {
namespace {

StoredMessage message(size_t size, uint8_t prefix = swarm::kUserPrefix) {
  StoredMessage m;
  m.account.prefix = prefix;
  auto key = crypto::random_bytes(32);
  std::copy(key.begin(), key.end(), m.account.key.begin());
  m.ns = 0x1234;
  m.timestamp_ms = 1'700'000'000'123;
  m.expiry_ms = 1'700'086'400'123;
  m.data = crypto::random_bytes(size);
  m.hash = crypto::hash(m.data);
  return m;
}

Bytes batch_of(const std::vector<StoredMessage>& ms) {
  Bytes out;
  put_u16(out, uint16_t(ms.size()));
  for (const auto& m : ms) append_replica_record(out, m);
  return out;
}

void expect_same(const StoredMessage& a, const StoredMessage& b) {
  EXPECT_EQ(a.account, b.account);
  EXPECT_EQ(a.ns, b.ns);
  EXPECT_EQ(a.timestamp_ms, b.timestamp_ms);
  EXPECT_EQ(a.expiry_ms, b.expiry_ms);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.hash, b.hash);
}

void expect_refused(const Bytes& body, const std::string& why) {
  auto r = parse_replica_batch(body);
  ASSERT_FALSE(r.ok()) << why;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
}

TEST(ReplicaJson, RoundTrips) {
  auto m = message(100);
  auto back = replica_from_json(replica_to_json(m));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same(*back, m);
}

TEST(ReplicaBatch, RoundTripsEveryRecordInOrder) {
  std::vector<StoredMessage> ms = {message(1), message(1024, swarm::kGroupPrefix),
                                   message(swarm::rpc::kMaxDataBytes)};
  const Bytes body = batch_of(ms);
  EXPECT_EQ(body.size(), 2 + 3 * kReplicaRecordHeader + 1 + 1024 + swarm::rpc::kMaxDataBytes);
  auto r = parse_replica_batch(body);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), ms.size());
  for (size_t i = 0; i < ms.size(); ++i) expect_same((*r)[i], ms[i]);
}

TEST(ReplicaBatch, HoldsTheLargestCount) {
  std::vector<StoredMessage> ms(kMaxReplicaBatch, message(16));
  auto r = parse_replica_batch(batch_of(ms));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->size(), kMaxReplicaBatch);
}

TEST(ReplicaBatch, RefusesBodiesShorterThanTheCount) {
  expect_refused({}, "shorter than its count");
  expect_refused({0x00}, "shorter than its count");
}

TEST(ReplicaBatch, RefusesACountOfZeroOrOverTheLimit) {
  expect_refused({0x00, 0x00}, "count must be 1..1024, got 0");
  Bytes over = batch_of(std::vector<StoredMessage>(kMaxReplicaBatch + 1, message(1)));
  expect_refused(over, "got 1025");
  Bytes huge = {0xff, 0xff};
  expect_refused(huge, "got 65535");
}

TEST(ReplicaBatch, RefusesACountLargerThanTheRecords) {
  Bytes body = batch_of({message(10), message(10)});
  body[1] = 3;  // claims three
  expect_refused(body, "record 2: truncated");
}

TEST(ReplicaBatch, RefusesBytesAfterTheLastRecord) {
  Bytes body = batch_of({message(10), message(10)});
  body[1] = 1;  // claims one of two
  expect_refused(body, "bytes after the last record");
  Bytes one = batch_of({message(10)});
  one.push_back(0);
  expect_refused(one, "1 bytes after the last record");
}

TEST(ReplicaBatch, RefusesATruncatedRecordHeader) {
  Bytes body = batch_of({message(10)});
  body.resize(2 + kReplicaRecordHeader - 1);
  expect_refused(body, "record 0: truncated");
}

TEST(ReplicaBatch, RefusesTruncatedData) {
  Bytes body = batch_of({message(10)});
  body.pop_back();
  expect_refused(body, "record 0: data truncated");
}

TEST(ReplicaBatch, RefusesAnUnknownAccountPrefix) {
  Bytes body = batch_of({message(10), message(10)});
  body[2 + kReplicaRecordHeader + 10] = 0x04;  // the second record's prefix
  expect_refused(body, "record 1: account id must start with 05 or 03");
}

TEST(ReplicaBatch, RefusesEmptyAndOversizedData) {
  Bytes empty = batch_of({message(10)});
  empty.resize(2 + kReplicaRecordHeader);
  std::fill(empty.end() - 4, empty.end(), 0);  // length 0
  expect_refused(empty, "record 0: data must be 1..65536 bytes");

  Bytes over = batch_of({message(10)});
  const uint32_t len = swarm::rpc::kMaxDataBytes + 1;
  over.resize(2 + kReplicaRecordHeader - 4);
  put_u32(over, len);
  over.resize(over.size() + len, 0xab);
  expect_refused(over, "record 0: data must be 1..65536 bytes");

  Bytes lying = batch_of({message(10)});
  lying.resize(2 + kReplicaRecordHeader - 4);
  put_u32(lying, 0xffffffff);  // a length no frame can hold
  expect_refused(lying, "record 0: data must be");
}

TEST(ReplicaBatch, ReportsHeldResults) {
  EXPECT_TRUE(replica_held(uint8_t(ReplicaResult::kNew)));
  EXPECT_TRUE(replica_held(uint8_t(ReplicaResult::kExists)));
  for (auto r : {ReplicaResult::kRefused, ReplicaResult::kFull, ReplicaResult::kFailed})
    EXPECT_FALSE(replica_held(uint8_t(r)));
  EXPECT_FALSE(replica_held(0xff));
}

}  // namespace
}  // namespace onionswarm::node
