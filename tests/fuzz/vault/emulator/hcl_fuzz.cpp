// Fuzzes the emulator's policy parsers (vault/emulator/acl.h): the HCL subset parser and
// parse_policy (JSON, HCL or base64 of either), as PUT sys/policy/<name> feeds them.
#include <cstdint>
#include <string>

#include "vault/emulator/acl.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)ps::vault::emulator::parse_hcl(text);
  (void)ps::vault::emulator::parse_policy("fuzz", text);
  return 0;
}
