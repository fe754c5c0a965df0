// A small network of hosts made of Linux network namespaces, for tests that
// need distinct IP addresses (what a node or an observer sees of a client).
//
// Topology: one namespace holds a bridge; every host is a namespace of its
// own with an address in 198.18.0.0/15 on "eth0", a veth whose peer is a port
// of that bridge. Nothing is created in the namespace the test runs in, so
// the host's own network is untouched. Every host's IPv6 is disabled, so
// the only traffic between hosts is the IPv4 the test causes.
//
// Observation: count_sources() loads an nftables table into a host that
// counts the IPv4 packets arriving there (input hook) per source address;
// source_packets() reads it back with `nft -j`. This sees what the host's
// kernel received, whatever the program running there logs.
//
// Names are "os<pid>-<host>", so parallel test processes do not collide.
// The destructor stops every process started with spawn() (SIGTERM, then
// SIGKILL, by pid) and deletes every namespace it made, also when the test
// failed half way. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and the `ip`
// and `nft` tools: check unavailable_reason() first.
//
// Thread safety: not thread-safe; one thread per NetLab.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onion/status.h"
#include "test_support.h"

namespace onionswarm::test {

// Absolute path of a tool found in $PATH, /usr/sbin or /sbin; empty if none.
std::string find_tool(const std::string& name);

class NetLab {
 public:
  // Why a NetLab cannot be built on this machine (not root, a tool missing,
  // namespaces refused), or empty when it can. Makes and deletes a probe
  // namespace to find out.
  static std::string unavailable_reason();

  NetLab();  // makes the bridge namespace; see status()
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  // Not ok when the bridge namespace could not be made.
  const Status& status() const { return status_; }

  // A new host `name` (letters, digits, '-'; at most 8 characters) with IPv4
  // `address` (198.18.0.0/15, as "198.18.0.11").
  Status add_host(const std::string& name, const std::string& address);
  // The namespace name of host `name`.
  std::string ns(const std::string& name) const { return prefix_ + name; }

  // Starts argv inside host `name` (the process itself enters the namespace,
  // so the pid is the program's), stdout and stderr appended to log_path.
  // The NetLab stops it on destruction unless stop() did first. -1 on error.
  pid_t spawn(const std::string& name, const std::vector<std::string>& argv, const std::string& log_path);
  // SIGTERM, a bounded wait, then SIGKILL. Returns the exit code (-1 if it
  // was killed by a signal).
  int stop(pid_t pid, std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Whether a process started by spawn() is still running (reaps it if not).
  bool alive(pid_t pid);

  // Runs argv inside host `name` (`ip netns exec`), like run_command.
  CommandResult run(const std::string& name, const std::vector<std::string>& argv,
                    std::chrono::milliseconds timeout = std::chrono::seconds(90),
                    const std::string& stdin_data = "");

  // Loads the per-source packet counter into host `name` (before anything
  // runs there, so that it sees every packet).
  Status count_sources(const std::string& name);
  // IPv4 packets host `name` received so far, by source address.
  Result<std::map<std::string, uint64_t>> source_packets(const std::string& name);

 private:
  CommandResult ip(const std::vector<std::string>& args);

  Status status_;
  std::string prefix_;
  std::string ip_, nft_;
  std::vector<std::string> hosts_;  // in creation order
  std::vector<pid_t> pids_;         // started and not yet reaped
  int next_port_ = 0;
};

}  // namespace onionswarm::test
