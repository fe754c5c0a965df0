// Process-wide settings of glibc's malloc for programs that move onion
// frames between threads: the node daemon and the clients.
//
// Why: by default glibc serves an allocation of 128 KiB or more with a
// fresh mmap and returns it with munmap, and shrinks a thread's heap
// whenever more than 128 KiB (later twice the largest such allocation) is
// free at its top. A fetch's answer is padded to 160 KiB and passes through
// several such buffers at every hop, so each one was new memory: every 4 KiB
// page of it faulted in again (13 µs a fault on a VM of 2026-12-07;
// docs/PERFORMANCE.md, "2026-12-07, later").
//
// Call once at the start of main, before any thread starts. Not for
// libraries: it changes the whole process.
#pragma once

#include <cstddef>

namespace onionswarm::heap {

// Allocations below this come from the heap, not from their own mmap: above
// the largest frame (a 163,840-byte answer plus its headers).
constexpr size_t kOwnMappingFrom = size_t{1} << 20;

// Free memory at the top of a heap up to this much is kept for the next
// frames rather than handed back to the kernel at once. A node still hands
// it back after each expiry sweep (malloc_trim), so a burst does not leave
// the process at its peak.
constexpr size_t kKeepFreeAtTop = size_t{4} << 20;

// Applies both. Returns false when glibc refused one of them (the process
// runs on with the defaults: slower, never wrong).
bool keep_frame_buffers();

}  // namespace onionswarm::heap
