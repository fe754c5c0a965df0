#include "onion/padding.h"

namespace onionswarm::onion {

size_t bucket_for(size_t n) {
  for (size_t b : kBuckets)
    if (n <= b) return b;
  return 0;
}

}  // namespace onionswarm::onion
