#include "onion/padding.h"

namespace onionswarm::onion {
namespace {

template <size_t N>
size_t smallest_at_least(const std::array<size_t, N>& ladder, size_t n) {
  for (size_t b : ladder)
    if (n <= b) return b;
  return 0;
}

}  // namespace

size_t bucket_for(size_t n) { return smallest_at_least(kBuckets, n); }

size_t request_bucket_for(size_t n) { return smallest_at_least(kRequestBuckets, n); }

bool request_padding_ok(size_t padded, size_t n) {
  if (padded == 0) return false;
  if (padded == request_bucket_for(n)) return true;
  return padded == bucket_for(n) && padded <= kMaxRequestBucket;
}

}  // namespace onionswarm::onion
