// `policy-sidecar check`: the preflight (like `nginx -t` or `vault operator diagnose`). Each
// check is one line: ok, warn (works, but look) or fail (what would break, naming the key,
// file or Vault path).
//
// Local (also with --offline, which the systemd unit runs as ExecStartPre):
//   serve-config   the serve-only parts (listener TLS files, plain HTTP only on loopback)
//   secret-files   webhook secrets and the API token: readable, private
//   listener-tls   the listener's certificate and key load
//   roles          the role template and tier policies
//   vault-config   the vault section with VAULT_* over it: address, TLS files, the auth method
//                  and where it comes from, the login mount apart from the managed mount
//   ledger         reachable, an upstream ledger, its schema not newer than this build,
//                  migrations pending (serve applies them at start)
// Vault (not with --offline; a sealed Vault at boot must not stop the service starting):
//   vault          reachable, initialized, unsealed, active
//   token          the sidecar's own token is obtained and valid; its TTL
//   capabilities   sys/capabilities-self on every path this configuration makes the sidecar
//                  use (vault/paths.h: the list the client builds its requests from)
//   tier-policies  every policy named in roles.tier_policies exists in Vault
#pragma once

#include <string>
#include <vector>

#include "sidecar/cli/commands.h"
#include "sidecar/config/config.h"

namespace ps::sidecar {

struct CheckItem {
  enum class Level { ok, warn, fail };
  std::string name;
  Level level = Level::ok;
  std::string detail;
};
const char* to_string(CheckItem::Level level);

struct PreflightInput {
  const Config& config;
  std::string db_path;
  const CliEnvironment& env;
  bool offline = false;
};

std::vector<CheckItem> run_preflight(const PreflightInput& input);

// The least-privilege Vault policy (HCL) for this configuration (check --policy).
Result<std::string> sidecar_policy_hcl(const Config& config);

}  // namespace ps::sidecar
