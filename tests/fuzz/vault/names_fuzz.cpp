// Fuzzes role-name templating (vault/names.h). Input: line 1 the name template, line 2 the
// mount, the rest the agent id. Properties: a role made for an agent parses as a RoleName and
// maps back to the lowercased agent id; an error preview is short and printable.
#include <cctype>
#include <cstdint>
#include <string>

#include "vault/names.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ps::vault;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = ps::fuzz::split_lines(data, size, 2);
  (void)MountPath::parse(in.fields[1]);
  (void)RoleName::parse(in.rest);
  (void)is_header_safe(in.rest);
  (void)is_valid_namespace(in.rest);
  // preview: at most 48 bytes of text (an escape may cross it: 47 + 4) and "...", all visible.
  const std::string shown = preview(in.rest);
  ps::fuzz::check(shown.size() <= 47 + 4 + 3);
  for (char c : shown) ps::fuzz::check(c >= 0x21 && c <= 0x7e);

  auto namer = RoleNamer::create(in.fields[0], in.fields[1]);
  if (!namer.ok()) return 0;
  auto role = namer->role_for(in.rest);
  if (!role.ok()) return 0;
  ps::fuzz::check(RoleName::parse(role->str()).ok());
  std::string lowered(in.rest);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto back = namer->agent_id_for(*role);
  ps::fuzz::check(back.has_value() && *back == lowered);
  (void)namer->role_path(*role);
  return 0;
}
