// The node's long-term keys: an Ed25519 identity and the X25519 key derived
// from it (the CURVE server key and onion layer key). Stored as the hex seed
// in DATA_DIR/node.key, mode 0600, created on first start.
#pragma once

#include <string>

#include "onion/crypto.h"
#include "onion/status.h"

namespace onionswarm::node {

struct NodeKeys {
  crypto::Ed25519KeyPair ed25519;
  crypto::X25519KeyPair x25519;
};

// Loads DATA_DIR/node.key, or creates it (and DATA_DIR, mode 0700) when
// missing. kIo when unreadable/unwritable, kInvalidArgument when malformed
// or not a regular file, kUnauthorized when the file is accessible to group
// or others (any of mode 077 set): the node refuses to start on such a key.
Result<NodeKeys> load_or_create_node_keys(const std::string& data_dir);

}  // namespace onionswarm::node
