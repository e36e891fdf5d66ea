// Turning Vault's HTTP answers into typed results and Errors. Internal to vault/ (used by
// VaultClient), public so the parsing and classification can be tested without a network.
// JSON exceptions stop here: every function returns a Result.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vault/error.h"
#include "vault/types.h"

namespace ps::vault {

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::optional<std::chrono::seconds> retry_after;
};

// Vault's {"errors":[...]} list; empty when the body is empty, not JSON or has no list.
std::vector<std::string> parse_errors(const std::string& body);

// The Error for a non-2xx answer to `op`: classify_http, then the per-operation rules:
//  - 404 on a role-scoped write (write_role_policies, write_role) -> role_missing;
//  - AppRole's plain-error 500s, by their documented texts: "at least one constraint should be
//    enabled on the role" (write_role) -> invalid_request; "failed to find accessor entry"
//    (destroy_secret_id_accessor) -> not_found; "role \"x\" does not exist" there, and
//    "does not exist during renewal" (renew_self) -> role_missing; all give_up.
Error classify_answer(Operation op, const HttpAnswer& answer);

// sys/health: every code of the default table is a Health; other statuses are Errors.
Result<Health> parse_health(const HttpAnswer& answer);
Result<Leader> parse_leader(const std::string& body);
Result<SealStatus> parse_seal_status(const std::string& body);
// The `data` of a role read.
Result<RoleInfo> parse_role(const std::string& body);
// `data.token_policies` of GET .../policies (falls back to legacy `data.policies` when
// token_policies is absent, as Vault's role read does).
Result<std::vector<std::string>> parse_role_policies(const std::string& body);
// `data.keys` of a list.
Result<std::vector<std::string>> parse_keys(const std::string& body);
// The `auth` block of a login or renew-self answer.
Result<AuthInfo> parse_auth(const std::string& body);
// The `data` of lookup-self / lookup-accessor.
Result<SecretIdInfo> parse_secret_id_info(const std::string& body);
// sys/capabilities-self: data.<path> lists (or top-level <path> keys, older servers), for
// each of `paths`; a path the answer leaves out is ["deny"].
Result<std::map<std::string, std::vector<std::string>>> parse_capabilities(
    const std::string& body, const std::vector<std::string>& paths);
Result<TokenInfo> parse_token_info(const std::string& body);

// The JSON body of a role create/update: only the fields set in `spec`. invalid_argument when
// a string is not valid UTF-8.
Result<std::string> role_spec_json(const RoleSpec& spec);
// json.dump() without exceptions: invalid_argument when a string is not valid UTF-8.
Result<std::string> dump_json(const nlohmann::json& value);

}  // namespace ps::vault
