// Every Vault path the sidecar calls, built in one place. The client (vault/client.cpp) builds
// its requests from these functions, and the same module lists what each use needs - so the
// least-privilege policy (`policy-sidecar check --policy`) and the preflight
// (`policy-sidecar check`, through sys/capabilities-self) can never miss a path the code uses.
//
// Paths are relative to /v1/ (as Vault's policies write them). Two AppRole mounts are in play:
// the managed mount (vault.mount: the agents' roles) and the sidecar's own login mount
// (vault.auth.mount); keeping them apart is what lets the policy's `+` globs never cover the
// sidecar's own role (see vault/README.md, "Least-privilege policy and its caveat").
#pragma once

#include <string>
#include <vector>

#include "vault/names.h"

namespace ps::vault::paths {

std::string login(const MountPath& auth_mount);                    // auth/<m>/login
std::string roles(const MountPath& mount);                         // auth/<m>/role
std::string role(const MountPath& mount, const RoleName& role);    // auth/<m>/role/<r>
std::string role_policies(const MountPath& mount, const RoleName& role);  // .../policies
std::string secret_ids(const MountPath& mount, const RoleName& role);     // .../secret-id
std::string secret_id_accessor_lookup(const MountPath& mount, const RoleName& role);
std::string secret_id_accessor_destroy(const MountPath& mount, const RoleName& role);
inline constexpr const char* kLookupSelf = "auth/token/lookup-self";
inline constexpr const char* kRenewSelf = "auth/token/renew-self";
inline constexpr const char* kTokenAccessors = "auth/token/accessors";
inline constexpr const char* kLookupAccessor = "auth/token/lookup-accessor";
inline constexpr const char* kRevokeAccessor = "auth/token/revoke-accessor";
inline constexpr const char* kCapabilitiesSelf = "sys/capabilities-self";
std::string acl_policy(const std::string& name);                   // sys/policies/acl/<name>

// What the configuration makes the sidecar do (decides which paths it needs).
struct Usage {
  bool create_roles = false;        // roles.missing_role = create
  bool destroy_secret_ids = false;  // revocation.vault.destroy_secret_ids
  bool revoke_tokens = false;       // revocation.vault.revoke_tokens (sudo)
  bool delete_orphan_roles = false; // reconcile.delete_orphan_roles
  std::vector<std::string> tier_policies;  // every managed policy name (check reads them)
};

// One path and the capabilities the sidecar needs on it.
struct Need {
  std::string path;
  std::vector<std::string> capabilities;
  std::string why;
};

// Concrete paths for `role` (a managed role the preflight asks sys/capabilities-self about).
std::vector<Need> needs(const MountPath& managed, const RoleName& role, const Usage& usage);

// The least-privilege policy as HCL: the same needs with `+` standing for any role.
std::string policy_hcl(const MountPath& managed, const Usage& usage);

}  // namespace ps::vault::paths
