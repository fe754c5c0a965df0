// Names the calling thread for the operator's tools (top -H, ps -L, perf,
// gdb). Linux keeps at most 15 characters; longer names are cut.
#pragma once

#include <pthread.h>

#include <string>

namespace onionswarm::node {

inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace onionswarm::node
