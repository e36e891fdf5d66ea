// AppRole per-field endpoints (role/:name/policies, token-ttl, ...; path_role.go) and
// role-id. They have no existence check: a write to a missing role is ErrUnsupportedPath.
#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {
std::string qt(const std::string& s) { return safe_dump(json(s)); }
}  // namespace

VaultResponse Emulator::Core::role_field_read(Call& c) {
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::nil();
  const std::string& field = c.args[2];
  json d;
  if (field == "policies") {
    d = {{"token_policies", r->token_policies}};
    if (!r->policies.empty()) d["policies"] = r->policies;
  } else if (field == "bound-cidr-list") {
    VaultResponse res = VaultResponse::ok({{"bound_cidr_list", nullptr}});
    res.warnings.push_back(
        "The \"bound_cidr_list\" field is deprecated and will be removed. Please use "
        "\"secret_id_bound_cidrs\" instead.");
    return res;
  } else if (field == "secret-id-bound-cidrs") {
    d = {{"secret_id_bound_cidrs",
          r->secret_id_bound_cidrs ? json(*r->secret_id_bound_cidrs) : json(nullptr)}};
  } else if (field == "token-bound-cidrs") {
    d = {{"token_bound_cidrs", r->token_bound_cidrs}};
  } else if (field == "bind-secret-id") {
    d = {{"bind_secret_id", r->bind_secret_id}};
  } else if (field == "secret-id-num-uses") {
    d = {{"secret_id_num_uses", r->secret_id_num_uses}};
  } else if (field == "secret-id-ttl") {
    d = {{"secret_id_ttl", r->secret_id_ttl}};
  } else if (field == "period") {
    d = {{"token_period", r->token_period}};
    if (r->period > 0) d["period"] = r->period;
  } else if (field == "token-num-uses") {
    d = {{"token_num_uses", r->token_num_uses}};
  } else if (field == "token-ttl") {
    d = {{"token_ttl", r->token_ttl}};
  } else if (field == "token-max-ttl") {
    d = {{"token_max_ttl", r->token_max_ttl}};
  } else if (field == "local-secret-ids") {
    d = {{"local_secret_ids", r->local_secret_ids}};
  }
  return VaultResponse::ok(std::move(d));
}

VaultResponse Emulator::Core::role_field_write(Call& c) {
  Mount* m = mount_of(c);
  Role* existing = role_of(c);
  // Per-field endpoints have no existence check: a missing role is ErrUnsupportedPath.
  if (existing == nullptr) return VaultResponse::error(404, "unsupported path");
  Role r = copy_role_settings(*existing);
  const Fields& f = c.fields;
  const std::string& field = c.args[2];
  if (field == "policies") {
    if (f.has("token_policies")) {
      r.token_policies = sanitize_policies(f.slice("token_policies"), false);
      r.policies = f.has("policies") ? r.token_policies : std::vector<std::string>{};
    } else if (f.has("policies")) {
      r.policies = sanitize_policies(f.slice("policies"), false);
      r.token_policies = r.policies;
    } else {
      return VaultResponse::bad("missing token_policies");
    }
  } else if (field == "bound-cidr-list" || field == "secret-id-bound-cidrs") {
    const char* name = field == "bound-cidr-list" ? "bound_cidr_list" : "secret_id_bound_cidrs";
    if (f.has(name)) {
      auto cidrs = f.slice(name);
      if (cidrs.empty()) return VaultResponse::bad("missing bound_cidr_list");
      if (!all_valid_cidrs(cidrs)) return VaultResponse::bad("failed to validate CIDR blocks");
      r.secret_id_bound_cidrs = cidrs;
    }
  } else if (field == "token-bound-cidrs") {
    if (f.has("token_bound_cidrs")) {
      auto cidrs = f.slice("token_bound_cidrs");
      if (Status addrs = check_addrs(cidrs); !addrs.ok()) {
        return VaultResponse::bad("failed to parse token_bound_cidrs: " + addrs.message());
      }
      r.token_bound_cidrs = cidrs;
    }
  } else if (field == "bind-secret-id") {
    if (!f.has("bind_secret_id")) return VaultResponse::bad("missing bind_secret_id");
    r.bind_secret_id = f.boolean("bind_secret_id");
  } else if (field == "secret-id-num-uses") {
    if (!f.has("secret_id_num_uses")) return VaultResponse::bad("missing secret_id_num_uses");
    r.secret_id_num_uses = f.integer("secret_id_num_uses");
    if (r.secret_id_num_uses < 0) return VaultResponse::bad("secret_id_num_uses cannot be negative");
  } else if (field == "secret-id-ttl") {
    if (!f.has("secret_id_ttl")) return VaultResponse::bad("missing secret_id_ttl");
    r.secret_id_ttl = f.integer("secret_id_ttl");
  } else if (field == "period") {
    if (f.has("token_period")) {
      r.token_period = f.integer("token_period");
      r.period = f.has("period") ? r.token_period : 0;
    } else if (f.has("period")) {
      r.period = f.integer("period");
      r.token_period = r.period;
    } else {
      return VaultResponse::bad("missing period");
    }
    if (r.token_period > kMountMaxTtl) {
      return VaultResponse::bad("period of " + qt(go_duration(r.period)) +
                         " is greater than the backend's maximum lease TTL of " +
                         qt(go_duration(kMountMaxTtl)));
    }
  } else if (field == "token-num-uses") {
    if (!f.has("token_num_uses")) return VaultResponse::bad("missing token_num_uses");
    r.token_num_uses = f.integer("token_num_uses");
  } else if (field == "token-ttl") {
    if (!f.has("token_ttl")) return VaultResponse::bad("missing token_ttl");
    r.token_ttl = f.integer("token_ttl");
    if (r.token_max_ttl > 0 && r.token_ttl > r.token_max_ttl) {
      return VaultResponse::bad("token_ttl should not be greater than token_max_ttl");
    }
  } else if (field == "token-max-ttl") {
    if (!f.has("token_max_ttl")) return VaultResponse::bad("missing token_max_ttl");
    r.token_max_ttl = f.integer("token_max_ttl");
    if (r.token_max_ttl > 0 && r.token_ttl > r.token_max_ttl) {
      return VaultResponse::bad("token_max_ttl should be greater than or equal to token_ttl");
    }
  }
  return set_role(*m, r, r.role_id);
}

VaultResponse Emulator::Core::role_field_delete(Call& c) {
  Mount* m = mount_of(c);
  Role* existing = role_of(c);
  if (existing == nullptr) return VaultResponse::nil();
  Role r = copy_role_settings(*existing);
  const std::string& field = c.args[2];
  if (field == "policies") {
    r.token_policies.clear();
    r.policies.clear();
  } else if (field == "bound-cidr-list" || field == "secret-id-bound-cidrs") {
    r.secret_id_bound_cidrs.reset();
  } else if (field == "token-bound-cidrs") {
    r.token_bound_cidrs.clear();
  } else if (field == "bind-secret-id") {
    r.bind_secret_id = true;
  } else if (field == "secret-id-num-uses") {
    r.secret_id_num_uses = 0;
  } else if (field == "secret-id-ttl") {
    r.secret_id_ttl = 0;
  } else if (field == "period") {
    r.token_period = r.period = 0;
  } else if (field == "token-num-uses") {
    r.token_num_uses = 0;
  } else if (field == "token-ttl") {
    r.token_ttl = 0;
  } else if (field == "token-max-ttl") {
    r.token_max_ttl = 0;
  }
  return set_role(*m, r, r.role_id);
}

VaultResponse Emulator::Core::role_id_read(Call& c) {
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::nil();
  return VaultResponse::ok({{"role_id", r->role_id}});
}

VaultResponse Emulator::Core::role_id_write(Call& c) {
  Mount* m = mount_of(c);
  Role* existing = role_of(c);
  if (existing == nullptr) return VaultResponse::error(404, "unsupported path");
  Role r = copy_role_settings(*existing);
  std::string previous = r.role_id;
  r.role_id = c.fields.str("role_id");
  if (r.role_id.empty()) return VaultResponse::bad("missing role_id");
  return set_role(*m, r, previous);
}

}  // namespace ps::vault::emulator
