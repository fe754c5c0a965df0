#include "onion/wire.h"

#include <string>

namespace onionswarm::wire {
namespace {

bool known_type(uint8_t t) {
  switch (static_cast<Type>(t)) {
    case Type::kOnionRequest:
    case Type::kOnionResponse:
    case Type::kError:
    case Type::kReplicate:
    case Type::kReplicateAck:
    case Type::kSyncRequest:
    case Type::kSyncResponse:
    case Type::kReplicateDelete:
    case Type::kReplicateBatch:
    case Type::kReplicateBatchAck:
    case Type::kGossip:
    case Type::kGossipResponse:
      return true;
  }
  return false;
}

}  // namespace

Bytes encode_header(const Header& h) {
  Bytes out;
  out.reserve(kHeaderSize);
  out.push_back(h.version);
  out.push_back(static_cast<uint8_t>(h.type));
  put_u64(out, h.request_id);
  return out;
}

// The version is checked before the type: a newer peer may use types this
// version does not know, and "unsupported version" is the useful answer.
Result<Header> decode_header(ByteView b) {
  if (b.size() != kHeaderSize)
    return error(Code::kInvalidArgument,
                 "header must be " + std::to_string(kHeaderSize) + " bytes, got " + std::to_string(b.size()));
  if (b[0] != kVersion)
    return error(Code::kInvalidArgument, "unsupported protocol version " + std::to_string(b[0]));
  if (!known_type(b[1])) return error(Code::kInvalidArgument, "unknown message type " + std::to_string(b[1]));
  Header h;
  h.version = b[0];
  h.type = static_cast<Type>(b[1]);
  h.request_id = get_u64(b.data() + 2);
  return h;
}

}  // namespace onionswarm::wire
