#include "onion/heap.h"

#include <malloc.h>

namespace onionswarm::heap {

bool keep_frame_buffers() {
  // Setting either also stops glibc from moving both thresholds on its own.
  const bool mapping = ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(kOwnMappingFrom)) == 1;
  const bool trim = ::mallopt(M_TRIM_THRESHOLD, static_cast<int>(kKeepFreeAtTop)) == 1;
  return mapping && trim;
}

}  // namespace onionswarm::heap
