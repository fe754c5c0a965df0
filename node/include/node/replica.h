// The JSON form of a stored message as it travels between swarm members
// (replication pushes and catch-up fetches):
//   {"account": hex, "namespace": n, "timestamp": ms, "expiry": ms, "data": base64}
// The hash is never sent: the receiver computes it from the data.
#pragma once

#include <nlohmann/json.hpp>

#include "node/storage.h"
#include "onion/status.h"

namespace onionswarm::node {

nlohmann::json replica_to_json(const StoredMessage& m);
// Strict: kInvalidArgument for a missing or mistyped field, a bad account,
// a namespace over 65535, bad or oversized base64.
Result<StoredMessage> replica_from_json(const nlohmann::json& j);

}  // namespace onionswarm::node
