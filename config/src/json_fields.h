// Private helpers for the strict config parsers: typed access to JSON values
// with errors that name the JSON pointer (RFC 6901) of the offending value,
// and a size-capped file read. Nothing here throws.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "onion/status.h"

namespace onionswarm::config::detail {

using Json = nlohmann::json;

// JSON pointer of member `key` of the value at `base` ("" is the document).
inline std::string child_pointer(const std::string& base, std::string_view key) {
  std::string out = base + "/";
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

inline std::string child_pointer(const std::string& base, size_t index) {
  return base + "/" + std::to_string(index);
}

// kInvalidArgument "<pointer>: <what>"; the document itself is "/".
inline Status field_error(const std::string& pointer, std::string_view what) {
  return error(Code::kInvalidArgument, (pointer.empty() ? std::string("/") : pointer) + ": " + std::string(what));
}

inline const char* type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a fractional number";
    default:
      return "an unsupported value";
  }
}

inline Status expect_type(const Json& v, const std::string& pointer, bool ok, std::string_view wanted) {
  if (ok) return Status();
  return field_error(pointer, "expected " + std::string(wanted) + ", got " + type_name(v));
}

// The value must be an object whose keys are all in `allowed`.
inline Status check_object(const Json& v, const std::string& pointer,
                           std::initializer_list<std::string_view> allowed) {
  if (Status s = expect_type(v, pointer, v.is_object(), "an object"); !s.ok()) return s;
  for (const auto& [key, value] : v.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) {
      // Cap the echoed key: it comes from the input.
      std::string shown = key.size() > 64 ? key.substr(0, 64) + "..." : key;
      return field_error(child_pointer(pointer, shown), "unknown key");
    }
  }
  return Status();
}

inline Result<std::string> get_string(const Json& v, const std::string& pointer) {
  if (Status s = expect_type(v, pointer, v.is_string(), "a string"); !s.ok()) return s;
  return v.get<std::string>();
}

// A non-negative integer in [min, max]. Fractional numbers (1.0 included)
// are wrong types; negative or too large integers are out of range.
inline Result<uint64_t> get_uint(const Json& v, const std::string& pointer, uint64_t min, uint64_t max) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    return field_error(pointer, "out of range: must be between " + std::to_string(min) + " and " +
                                    std::to_string(max));
  }
  if (Status s = expect_type(v, pointer, v.is_number_unsigned(), "an integer"); !s.ok()) return s;
  uint64_t n = v.get<uint64_t>();
  if (n < min || n > max) {
    return field_error(pointer, "out of range: " + std::to_string(n) + " is not between " +
                                    std::to_string(min) + " and " + std::to_string(max));
  }
  return n;
}

// The whole file at path. kIo if it cannot be opened or read;
// kInvalidArgument if it is larger than max_bytes. Messages start with path.
inline Result<std::string> read_file_capped(const std::string& path, size_t max_bytes) {
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> f(std::fopen(path.c_str(), "rb"));
  if (!f) return error(Code::kIo, path + ": cannot open: " + std::strerror(errno));
  std::string out;
  char buf[64 * 1024];
  while (true) {
    size_t n = std::fread(buf, 1, sizeof buf, f.get());
    if (n > 0) {
      if (out.size() + n > max_bytes) {
        return error(Code::kInvalidArgument,
                     path + ": file too large (limit " + std::to_string(max_bytes) + " bytes)");
      }
      out.append(buf, n);
    }
    if (n < sizeof buf) {
      if (std::ferror(f.get())) return error(Code::kIo, path + ": cannot read: " + std::strerror(errno));
      break;
    }
  }
  return out;
}

// Prefixes a non-ok status's message with "<path>: ".
inline Status with_file(const std::string& path, const Status& s) {
  return error(s.code(), path + ": " + s.message());
}

}  // namespace onionswarm::config::detail
