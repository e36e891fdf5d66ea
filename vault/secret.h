// A string that must never be printed: Vault tokens, secret ids.
//
// Secret has no stream operator and no implicit conversion, so it cannot slip into a log line
// or an error message by accident; the one way to the bytes is reveal(), used only where the
// value goes onto the wire (a header or a request body).
#pragma once

#include <string>
#include <utility>

namespace ps::vault {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

  friend bool operator==(const Secret& a, const Secret& b) { return a.value_ == b.value_; }

 private:
  std::string value_;
};

}  // namespace ps::vault
