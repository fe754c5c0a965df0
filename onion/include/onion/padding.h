// Fixed size buckets: a hop learns only which bucket a body falls into.
#pragma once

#include <array>
#include <cstddef>

namespace onionswarm::onion {

// Bucket sizes in bytes, ascending. The last is the largest body allowed:
// an answer. A request's destination layer is at most kMaxRequestBucket, so
// the largest bucket only ever carries answers: it is sized so that a full
// default page of retrieved 1 KiB messages (100 envelopes of 1,433 bytes in
// the binary retrieve answer, swarm/rpc.h) travels as one answer. 4096 is
// there for the store of a 1 KiB text (about 2,100 bytes of JSON): without
// it, such a store was padded to 8192, four times its size, at every hop.
inline constexpr std::array<size_t, 7> kBuckets = {512, 2048, 4096, 8192, 32768, 131072, 163840};
inline constexpr size_t kMaxRequestBucket = 131072;

// The smallest bucket >= n, or 0 when n is larger than the largest bucket.
size_t bucket_for(size_t n);

}  // namespace onionswarm::onion
