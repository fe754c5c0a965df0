// Fixed size buckets: a hop learns only which bucket a body falls into.
#pragma once

#include <array>
#include <cstddef>

namespace onionswarm::onion {

// Bucket sizes in bytes, ascending, for answers (final response bodies). The
// last is the largest body allowed: it is sized so that a full default page
// of retrieved 1 KiB messages (100 envelopes of 1,433 bytes in the binary
// retrieve answer, swarm/rpc.h) travels as one answer. The first release
// padded requests on this ladder too (up to kMaxRequestBucket).
inline constexpr std::array<size_t, 6> kBuckets = {512, 2048, 8192, 32768, 131072, 163840};
// Bucket sizes for requests (destination layers). 4096 is there for the
// store of a 1 KiB text (about 2,100 bytes of JSON): on the answer ladder
// such a store is padded to 8192, four times its size, at every hop.
// Answers stay on kBuckets, so that clients of the first release, which
// check an answer's padding against kBuckets, still read every answer.
inline constexpr std::array<size_t, 6> kRequestBuckets = {512, 2048, 4096, 8192, 32768, 131072};
inline constexpr size_t kMaxRequestBucket = kRequestBuckets.back();

// The smallest answer bucket >= n, or 0 when n is larger than the largest.
size_t bucket_for(size_t n);
// The smallest request bucket >= n, or 0 when n is larger than the largest.
size_t request_bucket_for(size_t n);
// Whether a destination layer of `padded` bytes is correctly padded for n
// bytes of header and payload: padded == request_bucket_for(n), or, as the
// first release padded requests, padded == bucket_for(n) <= kMaxRequestBucket.
bool request_padding_ok(size_t padded, size_t n);

}  // namespace onionswarm::onion
