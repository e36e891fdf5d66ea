// Fuzzes every Vault response parser (vault/response.h) and the RFC 3339 decoder: a reply body
// comes from the network, possibly from a hostile or broken peer. Input: line 1 the HTTP
// status (decimal), line 2 a capability path, the rest the body; every parser sees the body.
#include <charconv>
#include <cstdint>
#include <string>

#include "vault/response.h"
#include "vault/types.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ps::vault;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = ps::fuzz::split_lines(data, size, 2);
  int status = 0;
  (void)std::from_chars(in.fields[0].data(), in.fields[0].data() + in.fields[0].size(), status);
  const std::string body(in.rest);
  HttpAnswer answer{status, body, std::nullopt};

  (void)parse_errors(body);
  for (Operation op : {Operation::read_role_policies, Operation::write_role_policies,
                       Operation::write_role, Operation::destroy_secret_id_accessor,
                       Operation::renew_self, Operation::health}) {
    (void)classify_answer(op, answer);
  }
  (void)parse_health(answer);
  (void)parse_leader(body);
  (void)parse_seal_status(body);
  (void)parse_role(body);
  (void)parse_role_policies(body);
  (void)parse_keys(body);
  (void)parse_auth(body);
  (void)parse_secret_id_info(body);
  (void)parse_capabilities(body, {std::string(in.fields[1]), "auth/approle/role/x/policies"});
  (void)parse_token_info(body);
  (void)rfc3339_unix_ms(body);
  return 0;
}
