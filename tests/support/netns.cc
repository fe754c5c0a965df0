#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace onionswarm::test {
namespace {

constexpr const char* kTable = "onionswarm_observer";
constexpr const char* kBridge = "br0";
constexpr size_t kMaxHostName = 8;

bool valid_host_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxHostName) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

Status command_error(const std::string& what, const CommandResult& r) {
  return error(Code::kIo, what + " failed (exit " + std::to_string(r.exit_code) + "): " + r.err + r.out);
}

// The nftables table of count_sources(): one dynamic set, keyed by IPv4
// source address, whose elements carry a packet counter.
std::string counter_ruleset() {
  return std::string("table ip ") + kTable +
         " {\n"
         "  set by_source { type ipv4_addr; size 65535; flags dynamic; counter; }\n"
         "  chain input {\n"
         "    type filter hook input priority -300; policy accept;\n"
         "    add @by_source { ip saddr }\n"
         "  }\n"
         "}\n";
}

}  // namespace

std::string find_tool(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  dirs.push_back("/usr/sbin");
  dirs.push_back("/sbin");
  for (const auto& d : dirs) {
    const std::string p = d + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::string NetLab::unavailable_reason() {
  if (::geteuid() != 0) return "network namespaces need root (CAP_NET_ADMIN); this test runs as uid " +
                               std::to_string(::geteuid());
  const std::string ip = find_tool("ip"), nft = find_tool("nft");
  if (ip.empty()) return "the `ip` tool (Debian package iproute2) is not installed";
  if (nft.empty()) return "the `nft` tool (Debian package nftables) is not installed";
  const std::string probe = "os" + std::to_string(::getpid()) + "-probe";
  auto add = run_command({ip, "netns", "add", probe}, "", std::chrono::seconds(20));
  if (add.exit_code != 0) return "cannot create a network namespace (`ip netns add`): " + add.err;
  std::string reason;
  auto table = run_command({ip, "netns", "exec", probe, nft, "-f", "-"}, counter_ruleset(), std::chrono::seconds(20));
  if (table.exit_code != 0) reason = "cannot load an nftables table in a namespace: " + table.err;
  run_command({ip, "netns", "del", probe}, "", std::chrono::seconds(20));
  return reason;
}

NetLab::NetLab()
    : prefix_("os" + std::to_string(::getpid()) + "-"), ip_(find_tool("ip")), nft_(find_tool("nft")) {
  if (ip_.empty() || nft_.empty()) {
    status_ = error(Code::kUnavailable, "ip or nft not installed");
    return;
  }
  const std::string br = ns("br");
  if (auto r = ip({"netns", "add", br}); r.exit_code != 0) {
    status_ = command_error("ip netns add " + br, r);
    return;
  }
  hosts_.push_back("br");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"-n", br, "link", "add", kBridge, "type", "bridge"},
        std::vector<std::string>{"-n", br, "link", "set", kBridge, "up"}}) {
    if (auto r = ip(args); r.exit_code != 0) {
      status_ = command_error("ip link (bridge)", r);
      return;
    }
  }
}

NetLab::~NetLab() {
  for (pid_t pid : std::vector<pid_t>(pids_)) stop(pid, std::chrono::seconds(10));
  // Deleting a namespace deletes the veth end in it, and so its peer.
  for (auto it = hosts_.rbegin(); it != hosts_.rend(); ++it) ip({"netns", "del", ns(*it)});
}

CommandResult NetLab::ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {ip_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, "", std::chrono::seconds(20));
}

Status NetLab::add_host(const std::string& name, const std::string& address) {
  if (!status_.ok()) return status_;
  if (!valid_host_name(name) || name == "br") return error(Code::kInvalidArgument, "bad host name '" + name + "'");
  const std::string host = ns(name), br = ns("br");
  const std::string port = "v" + std::to_string(++next_port_);
  if (auto r = ip({"netns", "add", host}); r.exit_code != 0) return command_error("ip netns add " + host, r);
  hosts_.push_back(name);
  // IPv6 off before the link exists: no router solicitations or MLD
  // reports wander between hosts.
  auto no_v6 = run(name,
                   {"/bin/sh", "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && "
                    "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"},
                   std::chrono::seconds(20));
  if (no_v6.exit_code != 0) return command_error("disabling IPv6 in " + host, no_v6);
  const std::vector<std::vector<std::string>> steps = {
      {"-n", br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host},
      {"-n", br, "link", "set", port, "master", kBridge, "up"},
      {"-n", host, "addr", "add", address + "/15", "dev", "eth0"},
      {"-n", host, "link", "set", "eth0", "up"},
      {"-n", host, "link", "set", "lo", "up"},
  };
  for (const auto& step : steps) {
    if (auto r = ip(step); r.exit_code != 0) return command_error("ip " + step[2] + " " + step[3] + " (" + host + ")", r);
  }
  return Status();
}

pid_t NetLab::spawn(const std::string& name, const std::vector<std::string>& argv, const std::string& log_path) {
  const std::string netns_file = "/run/netns/" + ns(name);
  const int ns_fd = ::open(netns_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) return -1;
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& s : copy) args.push_back(s.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setns(ns_fd, CLONE_NEWNET) != 0) ::_exit(126);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(ns_fd);
  if (pid > 0) pids_.push_back(pid);
  return pid;
}

bool NetLab::alive(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) return true;
  std::erase(pids_, pid);
  return false;
}

int NetLab::stop(pid_t pid, std::chrono::milliseconds grace) {
  if (std::find(pids_.begin(), pids_.end(), pid) == pids_.end()) return -1;  // not ours, or reaped
  ::kill(pid, SIGTERM);
  int code = reap(pid, grace);
  if (code == -1 && ::waitpid(pid, nullptr, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    code = reap(pid, std::chrono::seconds(10));
  }
  std::erase(pids_, pid);
  return code;
}

CommandResult NetLab::run(const std::string& name, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout, const std::string& stdin_data) {
  std::vector<std::string> full = {ip_, "netns", "exec", ns(name)};
  full.insert(full.end(), argv.begin(), argv.end());
  return run_command(full, stdin_data, timeout);
}

Status NetLab::count_sources(const std::string& name) {
  auto r = run(name, {nft_, "-f", "-"}, std::chrono::seconds(20), counter_ruleset());
  if (r.exit_code != 0) return command_error("nft -f (" + ns(name) + ")", r);
  return Status();
}

Result<std::map<std::string, uint64_t>> NetLab::source_packets(const std::string& name) {
  auto r = run(name, {nft_, "-j", "list", "set", "ip", kTable, "by_source"}, std::chrono::seconds(20));
  if (r.exit_code != 0) return command_error("nft -j list set (" + ns(name) + ")", r);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.contains("nftables") || !j["nftables"].is_array())
    return error(Code::kInvalidArgument, "nft -j printed no JSON: " + r.out.substr(0, 200));
  std::map<std::string, uint64_t> out;
  for (const auto& item : j["nftables"]) {
    if (!item.contains("set")) continue;
    const auto& set = item["set"];
    if (!set.contains("elem")) continue;  // no packet yet
    for (const auto& e : set["elem"]) {
      // {"elem": {"val": "198.18.0.11", "counter": {"packets": 6, "bytes": 338}}}
      if (!e.is_object() || !e.contains("elem")) continue;
      const auto& el = e["elem"];
      if (!el.contains("val") || !el["val"].is_string() || !el.contains("counter"))
        return error(Code::kInvalidArgument, "unexpected nft set element: " + e.dump());
      out[el["val"].get<std::string>()] += el["counter"]["packets"].get<uint64_t>();
    }
  }
  return out;
}

}  // namespace onionswarm::test
