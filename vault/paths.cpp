#include "vault/paths.h"

namespace ps::vault::paths {
namespace {

std::string auth_base(const MountPath& mount) { return "auth/" + mount.str(); }

// The needs for one role name (a real role, or "+" for the policy).
std::vector<Need> needs_for(const MountPath& managed, const std::string& r, const Usage& usage) {
  const std::string base = auth_base(managed) + "/role/" + r;
  std::vector<Need> out = {
      {base + "/policies", {"read", "update"}, "read and write the agents' token_policies"},
      {auth_base(managed) + "/role", {"list"}, "find orphan roles (reconcile)"},
      {kLookupSelf, {"read"}, "the sidecar's own token"},
      {kRenewSelf, {"update"}, "renew the sidecar's own token"},
  };
  std::vector<std::string> role_caps = {"read"};  // TTL ceiling check (reconcile)
  if (usage.create_roles) role_caps.push_back("create");
  if (usage.delete_orphan_roles) role_caps.push_back("delete");
  out.push_back({base, role_caps, "read roles; create missing ones / delete orphans if enabled"});
  if (usage.destroy_secret_ids) {
    out.push_back({base + "/secret-id", {"list"}, "revocation: list the role's secret IDs"});
    out.push_back({base + "/secret-id-accessor/lookup", {"update"},
                   "revocation: when each secret ID was created"});
    out.push_back({base + "/secret-id-accessor/destroy", {"update"},
                   "revocation: destroy secret IDs issued before a demotion"});
  }
  if (usage.revoke_tokens) {
    out.push_back({kTokenAccessors, {"list", "sudo"}, "revocation: list token accessors"});
    out.push_back({kLookupAccessor, {"update"}, "revocation: each token's role and policies"});
    out.push_back({kRevokeAccessor, {"update"}, "revocation: revoke tokens issued before"});
  }
  for (const std::string& p : usage.tier_policies) {
    out.push_back({acl_policy(p), {"read"}, "check: the tier policy exists"});
  }
  return out;
}

}  // namespace

std::string login(const MountPath& auth_mount) { return auth_base(auth_mount) + "/login"; }
std::string roles(const MountPath& mount) { return auth_base(mount) + "/role"; }
std::string role(const MountPath& mount, const RoleName& r) { return roles(mount) + "/" + r.str(); }
std::string role_policies(const MountPath& mount, const RoleName& r) {
  return role(mount, r) + "/policies";
}
std::string secret_ids(const MountPath& mount, const RoleName& r) {
  return role(mount, r) + "/secret-id";
}
std::string secret_id_accessor_lookup(const MountPath& mount, const RoleName& r) {
  return role(mount, r) + "/secret-id-accessor/lookup";
}
std::string secret_id_accessor_destroy(const MountPath& mount, const RoleName& r) {
  return role(mount, r) + "/secret-id-accessor/destroy";
}
std::string acl_policy(const std::string& name) { return "sys/policies/acl/" + name; }

std::vector<Need> needs(const MountPath& managed, const RoleName& role, const Usage& usage) {
  return needs_for(managed, role.str(), usage);
}

std::string policy_hcl(const MountPath& managed, const Usage& usage) {
  std::string out =
      "# policy-sidecar: least privilege for the managed AppRole mount \"" + managed.str() +
      "\".\n# Keep the sidecar's own login role on ANOTHER mount: `+` below matches every role\n"
      "# of this mount.\n";
  for (const Need& n : needs_for(managed, "+", usage)) {
    out += "\n# " + n.why + "\npath \"" + n.path + "\" {\n  capabilities = [";
    for (std::size_t i = 0; i < n.capabilities.size(); ++i) {
      out += (i ? ", \"" : "\"") + n.capabilities[i] + "\"";
    }
    out += "]\n}\n";
  }
  return out;
}

}  // namespace ps::vault::paths
