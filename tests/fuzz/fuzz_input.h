// Splitting a fuzz input into fields, for the libFuzzer targets under tests/fuzz/.
//
// Inputs are text so the seed corpora (tests/fuzz/corpus/<target>/) stay readable: the first
// `n` lines are fields, the rest (after the n-th '\n') is the payload. Missing lines are empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ps::fuzz {

struct Split {
  std::vector<std::string_view> fields;
  std::string_view rest;
};

inline Split split_lines(const std::uint8_t* data, std::size_t size, std::size_t n) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Split out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto nl = in.find('\n');
    if (nl == std::string_view::npos) {
      out.fields.push_back(in);
      in = {};
      continue;
    }
    out.fields.push_back(in.substr(0, nl));
    in.remove_prefix(nl + 1);
  }
  out.rest = in;
  return out;
}

// A property the target checks; abort() makes libFuzzer record the input as a crash.
inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace ps::fuzz
