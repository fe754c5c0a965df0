// Errors as values. Every fallible function in onionswarm returns a Status or
// a Result<T>; exceptions from libraries are caught at the adapter and never
// cross a module boundary.
//
// The error code says what the caller should do:
//   kInvalidArgument  the input is malformed; do not retry it unchanged.
//   kUnauthorized     signature/credential missing or wrong; do not retry.
//   kStale            timestamp outside the allowed window; fix the clock.
//   kReplay           this signed request was seen before; sign a new one.
//   kNotFound         the thing asked for does not exist.
//   kExists           already stored (idempotent success for stores).
//   kFull             quota reached; nothing was changed.
//   kStorageFull      the node's disk or database map is (nearly) full;
//                     nothing was changed; try another node.
//   kWrongSwarm       ask the swarm named in the answer instead.
//   kUnavailable      transient: a hop or node did not answer; retry/rebuild.
//   kTimeout          no answer in time; retry on another path.
//   kBusy             over a rate or in-flight limit; back off.
//   kIo               local disk or database failure.
//   kInternal         a bug; report it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace onionswarm {

enum class Code {
  kOk = 0,
  kInvalidArgument,
  kUnauthorized,
  kStale,
  kReplay,
  kNotFound,
  kExists,
  kFull,
  kWrongSwarm,
  kUnavailable,
  kTimeout,
  kBusy,
  kIo,
  kInternal,
  kConflict,  // a compare-and-set failed: re-read the current state and retry
  kStorageFull,  // the node's disk or LMDB map is (nearly) full; nothing was changed
};

// Stable lower_snake name of a code, used on the wire ("invalid_argument").
std::string_view code_name(Code code);
// Inverse of code_name; unknown names map to kInternal.
Code code_from_name(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: message"
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status error(Code code, std::string message) { return Status(code, std::move(message)); }

// A value or a non-ok Status. Access value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be ok

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace onionswarm
