// Fixed size buckets: a hop learns only which bucket a body falls into.
#pragma once

#include <array>
#include <cstddef>

namespace onionswarm::onion {

// Bucket sizes in bytes, ascending. The last is the largest body allowed.
inline constexpr std::array<size_t, 5> kBuckets = {512, 2048, 8192, 32768, 131072};

// The smallest bucket >= n, or 0 when n is larger than the largest bucket.
size_t bucket_for(size_t n);

}  // namespace onionswarm::onion
