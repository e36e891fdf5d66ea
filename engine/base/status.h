// Errors as values, for the whole project: Status (a code and an operator-facing message) and
// Result<T, E> (a value or the error explaining why there is none).
//
// Who uses it: every layer. engine/ and sidecar/ report Status; the Vault client reports
// vault::Error (its retry Action is the payload) through the same Result template
// (vault::Result<T> = ps::Result<T, vault::Error>); tls/ and the emulator report Status.
//
// Codes follow Abseil's vocabulary and say what the caller should do next:
//   unavailable         retry later (the ledger stayed locked past the busy timeout, disk full)
//   aborted             re-read and redo (the agent's tier changed under us)
//   failed_precondition do not retry until someone changes the state (agent not eligible)
//   permission_denied   the caller may not do this (an approver not in the configured lists)
// A message is one line meant for an operator: never library text alone, never a secret.
#pragma once

#include <cassert>
#include <concepts>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ps {

enum class Code {
  ok,
  invalid_argument,     // the caller passed something malformed
  not_found,            // the named thing (ledger file, agent, file) does not exist
  not_a_ledger,         // the file is not SQLite, or lacks the upstream tables/columns
  invalid_data,         // stored rows violate their contract (message names agent + value)
  failed_precondition,  // state forbids the operation (agent not eligible, read-only ledger)
  aborted,              // a concurrent change won (agent no longer at the expected tier)
  unavailable,          // transient: ledger busy/locked past the timeout, disk full
  permission_denied,    // the actor is not allowed to make this decision
  internal,             // anything else a library reported
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

// A value or the error E explaining why there is none. REQUIRES for value(): ok();
// for error(): !ok(). With E = Status, status() is also defined when ok() (then it is ok).
template <class T, class E = Status>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {   // NOLINT: implicit
    if constexpr (std::same_as<E, Status>) assert(!std::get<1>(v_).ok());
  }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const& { return std::get<1>(v_); }
  E&& error() && { return std::get<1>(std::move(v_)); }

  const Status& status() const
    requires std::same_as<E, Status>
  {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

// No value, only success or an error (Status itself plays this role for E = Status).
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const E& error() const& { return *error_; }
  E&& error() && { return std::move(*error_); }

 private:
  std::optional<E> error_;
};

}  // namespace ps
