// Requests a destination node handles, and their answers: JSON objects whose
// binary fields are base64 (data, signatures) or hex (keys, hashes, account
// ids). Every request parses itself strictly; the parse is the spec (also
// docs/PROTOCOL.md, "Requests").
//
//   {"method": "store"|"retrieve"|"delete"|"info"|"get_swarm", "params": {...}}
//
// Signed requests (retrieve, delete, and stores outside namespace 0 of a 05
// account) carry "pubkey_ed25519" (hex) and "signature" (base64): an Ed25519
// signature over signing_bytes(request), a canonical encoding of the whole
// request (method, account, namespace, timestamp and every parameter).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "onion/bytes.h"
#include "onion/crypto.h"
#include "onion/status.h"
#include "swarm/account.h"
#include "swarm/swarms.h"

namespace onionswarm::swarm::rpc {

inline constexpr uint64_t kMaxClockSkewMs = 60'000;           // signed requests and store timestamps
inline constexpr uint64_t kDefaultTtlMs = 14ull * 24 * 3600 * 1000;
inline constexpr uint64_t kMaxTtlMs = 30ull * 24 * 3600 * 1000;
inline constexpr size_t kMaxDataBytes = 64 * 1024;             // largest message blob
inline constexpr uint32_t kDefaultRetrieveLimit = 100;
inline constexpr uint32_t kMaxRetrieveLimit = 500;
inline constexpr size_t kMaxDeleteHashes = 1000;
inline constexpr size_t kMaxRequestBytes = 128 * 1024;

struct Auth {
  crypto::Ed25519PublicKey pubkey;
  crypto::Signature signature;
};

struct StoreRequest {
  AccountId account;
  uint16_t ns = 0;
  uint64_t timestamp_ms = 0;  // client clock; part of the storage key
  uint64_t ttl_ms = kDefaultTtlMs;
  Bytes data;
  std::optional<Auth> auth;   // required unless ns == 0 of a 05 account
};

struct RetrieveRequest {
  AccountId account;
  uint16_t ns = 0;
  uint64_t timestamp_ms = 0;  // signing time
  uint64_t after_timestamp_ms = 0;
  crypto::Hash after_hash;    // all zero: from after_timestamp_ms inclusive
  uint32_t limit = kDefaultRetrieveLimit;
  // "format":"binary": the answer comes in the binary retrieve format
  // (retrieve_response_binary below), up to one largest padding bucket.
  bool binary = false;
  Auth auth;
};

struct DeleteRequest {
  AccountId account;
  uint16_t ns = 0;
  uint64_t timestamp_ms = 0;
  std::vector<crypto::Hash> hashes;
  Auth auth;
};

struct InfoRequest {};

struct GetSwarmRequest {
  AccountId account;
};

using Request = std::variant<StoreRequest, RetrieveRequest, DeleteRequest, InfoRequest, GetSwarmRequest>;

const char* method_name(const Request& r);

// Strict parse: kInvalidArgument naming the offending field for unknown
// methods, missing or extra fields, wrong types, out-of-range numbers, bad
// base64/hex, bad account ids, oversized data. Depth and size bounded.
Result<Request> parse_request(ByteView json);
Bytes serialize_request(const Request& r);

// The canonical bytes a signed request's signature covers:
//   "onionswarm/req/v1" LF method LF account_hex LF namespace LF timestamp LF <method part>
// store:    ttl LF hex(BLAKE2b-256(data))
// retrieve: after_timestamp LF hex(after_hash) LF limit [LF "binary"]
// delete:   count LF hex(hash_1) "," ... "," hex(hash_n)
// Numbers are decimal without leading zeros. info/get_swarm are never signed.
Bytes signing_bytes(const Request& r);

// Sets auth on a store/retrieve/delete request: pubkey and signature by key.
void sign_request(Request& r, const crypto::Ed25519KeyPair& key);

// ---- answers ---------------------------------------------------------------

struct StoredItem {
  crypto::Hash hash;
  uint64_t timestamp_ms = 0;
  uint64_t expiry_ms = 0;
  Bytes data;
};

// Every answer is {"status":"ok", ...} or
// {"status":"error","code":code_name,"message":text[, "swarm":{...}]}.
Bytes error_response(const Status& status);
Bytes wrong_swarm_response(const Swarm& swarm, std::string_view message);
// A hop's error for a layer whose timestamp is outside its window: `stale`
// "layer timestamp out of range" with the hop's clock, "now_ms", so that a
// client whose clock is far off can learn the network's time from it.
Bytes stale_layer_response(uint64_t now_ms);
// The "now_ms" of a stale_layer_response; nullopt for any other answer
// (another code, no or a malformed now_ms, not JSON).
std::optional<uint64_t> stale_layer_clock(ByteView answer);

nlohmann::json swarm_to_json(const Swarm& swarm);
Result<Swarm> swarm_from_json(const nlohmann::json& j);

struct StoreAnswer {
  bool existed = false;
  crypto::Hash hash;
  // X25519 keys of the swarm members known to hold the message durably
  // (the answering node first). Empty only in answers from older nodes.
  std::vector<crypto::X25519PublicKey> holders;
};
struct RetrieveAnswer {
  std::vector<StoredItem> messages;
  bool more = false;
  uint64_t now_ms = 0;  // the node's clock
  // The node has not caught up with its swarm peers since it started or
  // joined its swarm (docs/PROTOCOL.md 8.3): it may still lack messages
  // older than the client's cursor, so the client keeps its cursor.
  bool catching_up = false;
};
struct InfoAnswer {
  std::string version;
  std::string network_id;
  uint64_t nodes = 0;
  uint64_t now_ms = 0;
  std::optional<uint64_t> swarm_id;
  crypto::Ed25519PublicKey ed25519;
  crypto::X25519PublicKey x25519;
};

Bytes store_response(const StoreAnswer& a);
Bytes retrieve_response(const RetrieveAnswer& a);

// The binary retrieve answer, for a retrieve with "format":"binary". No
// base64 and no JSON around the messages, so a default page of 1 KiB
// messages fits one answer. Integers are big-endian:
//   tag(1) = kBinaryRetrieveTag || flags(1): bit 0 "more", bit 1
//   "catching_up", the others zero
//   || now_ms(8) || count(4) || count x item
//   item = hash(32) || timestamp_ms(8) || expiry_ms(8) || data_len(4) || data
// and nothing after the last item. Errors are still the JSON error object,
// which starts with '{'.
inline constexpr uint8_t kBinaryRetrieveTag = 0x01;
inline constexpr size_t kBinaryRetrieveHeader = 1 + 1 + 8 + 4;
inline constexpr size_t kBinaryRetrieveItemHeader = crypto::kHashSize + 8 + 8 + 4;
Bytes retrieve_response_binary(const RetrieveAnswer& a);
// True when an answer body is in the binary retrieve format (by its tag).
bool is_binary_retrieve_answer(ByteView body);
// Strict: kInvalidArgument for a wrong tag or flags, more than
// kMaxRetrieveLimit items, an item that is empty, over kMaxDataBytes or
// beyond the end, and trailing bytes.
Result<RetrieveAnswer> parse_retrieve_answer_binary(ByteView body);
Bytes delete_response(size_t deleted);
Bytes info_response(const InfoAnswer& a);
Bytes get_swarm_response(const Swarm& swarm);

// An answer that is an error: the Status, plus the swarm for kWrongSwarm.
struct ErrorAnswer {
  Status status;
  std::optional<Swarm> swarm;
};
// Parses an answer: the "ok" object, or ErrorAnswer. kInvalidArgument when
// the answer itself is malformed.
Result<std::variant<nlohmann::json, ErrorAnswer>> parse_response(ByteView json);

Result<StoreAnswer> parse_store_answer(const nlohmann::json& ok);
Result<RetrieveAnswer> parse_retrieve_answer(const nlohmann::json& ok);
Result<size_t> parse_delete_answer(const nlohmann::json& ok);
Result<InfoAnswer> parse_info_answer(const nlohmann::json& ok);
Result<Swarm> parse_get_swarm_answer(const nlohmann::json& ok);

}  // namespace onionswarm::swarm::rpc
