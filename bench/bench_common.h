// Helpers shared by the bench/ tools: option parsing, latency summaries,
// process CPU time and a temporary directory. Header-only; bench code only.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace onionswarm::bench {

using Clock = std::chrono::steady_clock;

// A tool's name and usage text, for its error messages.
struct Tool {
  const char* name;
  const char* usage;
};

[[noreturn]] inline void usage_error(const Tool& tool, const std::string& msg) {
  std::fprintf(stderr, "%s: %s\n%s", tool.name, msg.c_str(), tool.usage);
  std::exit(2);
}

// A decimal option value in [lo, hi]; anything else is a usage error.
inline uint64_t parse_u64(const Tool& tool, const std::string& name, const std::string& v, uint64_t lo,
                          uint64_t hi) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 12) {
    usage_error(tool, name + " needs a non-negative integer");
  }
  uint64_t x = std::stoull(v);
  if (x < lo || x > hi) {
    usage_error(tool, name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return x;
}

// Walks argv: -h/--help prints the usage and exits 0; an option named in
// `flags` takes no value and goes to on_flag; every other option takes a
// value (--opt VALUE or --opt=VALUE) and goes to on_value, which reports an
// unknown option itself.
inline void for_each_option(const Tool& tool, int argc, char** argv, std::initializer_list<std::string> flags,
                            const std::function<void(const std::string&)>& on_flag,
                            const std::function<void(const std::string&, const std::string&)>& on_value) {
  for (int i = 1; i < argc; ++i) {
    std::string opt = argv[i];
    std::string val;
    bool has_val = false;
    if (auto eq = opt.find('='); opt.rfind("--", 0) == 0 && eq != std::string::npos) {
      val = opt.substr(eq + 1);
      opt = opt.substr(0, eq);
      has_val = true;
    }
    if (opt == "-h" || opt == "--help") {
      std::printf("%s", tool.usage);
      std::exit(0);
    }
    if (std::find(flags.begin(), flags.end(), opt) != flags.end()) {
      if (has_val) usage_error(tool, opt + " takes no value");
      on_flag(opt);
      continue;
    }
    if (!has_val) {
      if (i + 1 >= argc) usage_error(tool, opt + " needs a value");
      val = argv[++i];
    }
    on_value(opt, val);
  }
}

inline bool is_loopback(const std::string& address) {
  return address.rfind("tcp://127.0.0.1:", 0) == 0 || address.rfind("tcp://localhost:", 0) == 0;
}

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Summary {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// Nearest-rank percentiles.
inline Summary summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double p) {
    size_t k = size_t(std::ceil(p * double(v.size())));
    return v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
  };
  s.p50 = rank(0.50);
  s.p90 = rank(0.90);
  s.p99 = rank(0.99);
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  return s;
}

inline nlohmann::json to_json(const Summary& s) {
  return {{"count", s.n}, {"p50_ms", s.p50}, {"p90_ms", s.p90}, {"p99_ms", s.p99},
          {"max_ms", s.max}, {"mean_ms", s.mean}};
}

// utime + stime of a process in seconds, from /proc/PID/stat; nullopt when
// it cannot be read.
inline std::optional<double> process_cpu_s(long pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* s = std::fopen(path.c_str(), "r");
  if (!s) return std::nullopt;
  char buf[1024];
  size_t len = std::fread(buf, 1, sizeof buf - 1, s);
  std::fclose(s);
  buf[len] = '\0';
  // Fields after the command name (which may hold spaces) start past ')'.
  const char* p = std::strrchr(buf, ')');
  unsigned long long ut = 0, st = 0;
  if (!p || std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
    return std::nullopt;
  }
  return double(ut + st) / double(::sysconf(_SC_CLK_TCK));
}

// Removes a temporary directory on every exit path.
struct TempDir {
  std::string path;
  TempDir() = default;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }

  // A fresh directory TOOL.XXXXXX under the system's temporary directory;
  // false, with the reason on stderr, if none could be made.
  bool make(const Tool& tool) {
    std::string templ = (std::filesystem::temp_directory_path() / (std::string(tool.name) + ".XXXXXX")).string();
    if (!::mkdtemp(templ.data())) {
      std::fprintf(stderr, "%s: mkdtemp: %s\n", tool.name, std::strerror(errno));
      return false;
    }
    path = templ;
    return true;
  }
};

}  // namespace onionswarm::bench
