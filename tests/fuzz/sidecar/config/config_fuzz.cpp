// Fuzzes config parsing and validation: parse_config() over the whole input (the JSON config
// file the daemon and the CLI read). Property: an accepted config's error path is ok and a
// refused one says so with the "config: " prefix the docs promise.
#include <cstdint>
#include <string_view>

#include "sidecar/config/config.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = ps::sidecar::parse_config(text, "fuzz.json");
  if (!config.ok()) {
    ps::fuzz::check(config.status().message().rfind("config: ", 0) == 0);
  }
  return 0;
}
