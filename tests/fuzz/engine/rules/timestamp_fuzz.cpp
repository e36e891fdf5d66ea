// Fuzzes the ledger's timestamp decoding (engine/rules/timestamp.h: every ledger read decodes
// timestamps with parse_iso8601). Property: a decoded instant formats (isoformat, microseconds)
// to text that decodes to the same instant truncated to microseconds.
#include <chrono>
#include <cstdint>
#include <string_view>

#include "engine/rules/timestamp.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ps::engine;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = parse_iso8601(text);
  if (!t) return 0;
  const auto text2 = format_isoformat_utc(*t);
  auto t2 = parse_iso8601(text2);
  ps::fuzz::check(t2.has_value());
  ps::fuzz::check(std::chrono::floor<std::chrono::microseconds>(*t) ==
                  std::chrono::floor<std::chrono::microseconds>(*t2));
  return 0;
}
