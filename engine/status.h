// Errors as values for engine/ and its callers.
//
// A Status carries a code that says what the caller should do next and a one-line message
// meant for an operator (never library text alone, never a secret). Codes follow Abseil's
// vocabulary: unavailable = retry later (e.g. the ledger stayed locked past the busy timeout),
// aborted = re-read and redo (e.g. the agent's tier changed under us), failed_precondition = do
// not retry until someone changes the state (e.g. the agent is not eligible).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ps::engine {

enum class Code {
  ok,
  invalid_argument,     // the caller passed something malformed
  not_found,            // the ledger file does not exist
  not_a_ledger,         // the file is not SQLite, or lacks the upstream tables/columns
  invalid_data,         // ledger rows violate the upstream contract (message names agent + value)
  failed_precondition,  // state forbids the operation (agent not eligible, read-only ledger)
  aborted,              // a concurrent change won (agent no longer at the expected tier)
  unavailable,          // transient: ledger busy/locked past the timeout, disk full
  internal,             // anything else SQLite reported
};

const char* code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status success() { return {}; }

  bool ok() const { return code_ == Code::ok; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::ok;
  std::string message_;
};

// A value or the Status explaining why there is none. REQUIRES for value(): ok().
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                   // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
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

}  // namespace ps::engine
