// The AppRole auth method (builtin/credential/approle): routing and roles, with Vault's status
// codes and error texts. Per-field endpoints and role IDs are in approle_fields.cpp, secret IDs
// in approle_secret_id.cpp, login in login.cpp.
#include <algorithm>
#include <cctype>

#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {

using FT = FieldType;

// framework.GenericNameRegex: \w(([\w-.]+)?\w)? anchored, \w being ASCII [A-Za-z0-9_].
bool valid_role_name(std::string_view s) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (s.empty() || !word(s.front()) || !word(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return word(c) || c == '-' || c == '.'; });
}

std::string qt(const std::string& s) { return safe_dump(json(s)); }

const Route kRoleList{{}, nullptr, &Emulator::Core::role_list, nullptr, nullptr,
                      nullptr, false, "approle"};

const Route kRole{{{"role_name", FT::string},
                   {"bind_secret_id", FT::boolean},
                   {"bound_cidr_list", FT::comma_slice},
                   {"secret_id_bound_cidrs", FT::comma_slice},
                   {"policies", FT::comma_slice},
                   {"secret_id_num_uses", FT::integer},
                   {"secret_id_ttl", FT::duration},
                   {"period", FT::duration},
                   {"role_id", FT::string},
                   {"local_secret_ids", FT::boolean},
                   {"token_bound_cidrs", FT::comma_slice},
                   {"token_explicit_max_ttl", FT::duration},
                   {"token_max_ttl", FT::duration},
                   {"token_no_default_policy", FT::boolean},
                   {"token_period", FT::duration},
                   {"token_policies", FT::comma_slice},
                   {"token_type", FT::string},
                   {"token_ttl", FT::duration},
                   {"token_num_uses", FT::integer}},
                  &Emulator::Core::role_read,
                  nullptr,
                  &Emulator::Core::role_write,
                  &Emulator::Core::role_delete,
                  &Emulator::Core::role_exists,
                  false,
                  "approle"};

Route field_route(std::vector<FieldSpec> fields, bool writable = true) {
  fields.push_back({"role_name", FT::string});
  return Route{std::move(fields),
               &Emulator::Core::role_field_read,
               nullptr,
               writable ? &Emulator::Core::role_field_write : nullptr,
               writable ? &Emulator::Core::role_field_delete : nullptr,
               nullptr,
               false,
               "approle"};
}

const std::map<std::string, Route>& field_routes() {
  static const std::map<std::string, Route> routes = {
      {"policies", field_route({{"policies", FT::comma_slice}, {"token_policies", FT::comma_slice}})},
      {"bound-cidr-list", field_route({{"bound_cidr_list", FT::comma_slice}})},
      {"secret-id-bound-cidrs", field_route({{"secret_id_bound_cidrs", FT::comma_slice}})},
      {"token-bound-cidrs", field_route({{"token_bound_cidrs", FT::comma_slice}})},
      {"bind-secret-id", field_route({{"bind_secret_id", FT::boolean}})},
      {"secret-id-num-uses", field_route({{"secret_id_num_uses", FT::integer}})},
      {"secret-id-ttl", field_route({{"secret_id_ttl", FT::duration}})},
      {"period", field_route({{"period", FT::duration}, {"token_period", FT::duration}})},
      {"token-num-uses", field_route({{"token_num_uses", FT::integer}})},
      {"token-ttl", field_route({{"token_ttl", FT::duration}})},
      {"token-max-ttl", field_route({{"token_max_ttl", FT::duration}})},
      {"local-secret-ids", field_route({}, /*writable=*/false)},
  };
  return routes;
}

const Route kRoleId{{{"role_name", FT::string}, {"role_id", FT::string}},
                    &Emulator::Core::role_id_read, nullptr, &Emulator::Core::role_id_write,
                    nullptr, nullptr, false, "approle"};

const std::vector<FieldSpec> kSecretIdFields = {{"role_name", FT::string},
                                                {"metadata", FT::string},
                                                {"cidr_list", FT::comma_slice},
                                                {"token_bound_cidrs", FT::comma_slice},
                                                {"num_uses", FT::integer},
                                                {"ttl", FT::duration}};

const Route kSecretId{kSecretIdFields, nullptr, &Emulator::Core::secret_id_list,
                      &Emulator::Core::secret_id_create, nullptr, nullptr, false, "approle"};

Route custom_secret_id_route() {
  auto fields = kSecretIdFields;
  fields.push_back({"secret_id", FT::string});
  return Route{fields, nullptr, nullptr, &Emulator::Core::secret_id_create,
               nullptr, nullptr, false, "approle"};
}
const Route kCustomSecretId = custom_secret_id_route();

const Route kSecretIdLookup{{{"role_name", FT::string}, {"secret_id", FT::string}},
                            nullptr, nullptr, &Emulator::Core::secret_id_lookup,
                            nullptr, nullptr, false, "approle"};
const Route kSecretIdDestroy{{{"role_name", FT::string}, {"secret_id", FT::string}},
                             nullptr, nullptr, &Emulator::Core::secret_id_destroy,
                             &Emulator::Core::secret_id_destroy, nullptr, false, "approle"};
const Route kAccessorLookup{{{"role_name", FT::string}, {"secret_id_accessor", FT::string}},
                            nullptr, nullptr, &Emulator::Core::secret_id_accessor_lookup,
                            nullptr, nullptr, false, "approle"};
const Route kAccessorDestroy{{{"role_name", FT::string}, {"secret_id_accessor", FT::string}},
                             nullptr, nullptr, &Emulator::Core::secret_id_accessor_destroy,
                             &Emulator::Core::secret_id_accessor_destroy, nullptr, false, "approle"};
const Route kLogin{{{"role_id", FT::string}, {"secret_id", FT::string}},
                   nullptr, nullptr, &Emulator::Core::approle_login,
                   nullptr, nullptr, true, "approle"};
const Route kTidy{{}, nullptr, nullptr, &Emulator::Core::approle_tidy,
                  nullptr, nullptr, false, "approle"};

// The token_type field (after the default-service/default-batch rewrite, with its warning);
// the 400 answer for an unknown type.
std::optional<VaultResponse> apply_token_type(const Fields& f, Role& role,
                                              std::vector<std::string>& warnings) {
  std::string tt = f.str("token_type");
  if (tt == "default-service") {
    tt = "service";
    warnings.push_back("default-service has no useful meaning; adjusting to service");
  } else if (tt == "default-batch") {
    tt = "batch";
    warnings.push_back("default-batch has no useful meaning; adjusting to batch");
  }
  if (tt == "" || tt == "default") role.token_type = "default";
  else if (tt == "service" || tt == "batch") role.token_type = tt;
  else return VaultResponse::bad("invalid 'token_type' value " + qt(tt));
  return std::nullopt;
}

// tokenutil.ParseTokenFields: the token_* fields onto `role`; the 400 answer for the first
// bad value.
std::optional<VaultResponse> apply_token_fields(const Fields& f, Role& role,
                                                std::vector<std::string>& warnings) {
  if (f.has("token_bound_cidrs")) {
    auto v = f.slice("token_bound_cidrs");
    if (Status addrs = check_addrs(v); !addrs.ok()) return VaultResponse::bad(addrs.message());
    role.token_bound_cidrs = v;
  }
  if (f.has("token_explicit_max_ttl")) role.token_explicit_max_ttl = f.integer("token_explicit_max_ttl");
  if (f.has("token_max_ttl")) role.token_max_ttl = f.integer("token_max_ttl");
  if (role.token_max_ttl < 0) return VaultResponse::bad("'token_max_ttl' cannot be negative");
  if (f.has("token_no_default_policy")) role.token_no_default_policy = f.boolean("token_no_default_policy");
  if (f.has("token_period")) role.token_period = f.integer("token_period");
  if (role.token_period < 0) return VaultResponse::bad("'token_period' cannot be negative");
  if (f.has("token_policies")) role.token_policies = f.slice("token_policies");
  if (f.has("token_type")) {
    if (auto bad = apply_token_type(f, role, warnings)) return bad;
  }
  if (role.token_type == "batch") {
    if (role.token_period != 0) {
      return VaultResponse::bad("'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens");
    }
    if (role.token_num_uses != 0) {
      return VaultResponse::bad("'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count");
    }
  }
  if (f.has("token_ttl")) role.token_ttl = f.integer("token_ttl");
  if (role.token_ttl < 0) return VaultResponse::bad("'token_ttl' cannot be negative");
  if (role.token_ttl > 0 && role.token_max_ttl > 0 && role.token_ttl > role.token_max_ttl) {
    return VaultResponse::bad("'token_ttl' cannot be greater than 'token_max_ttl'");
  }
  if (f.has("token_num_uses")) role.token_num_uses = f.integer("token_num_uses");
  if (role.token_num_uses < 0) return VaultResponse::bad("'token_num_uses' cannot be negative");
  return std::nullopt;
}

// The AppRole fields proper (local_secret_ids, role_id, bind_secret_id, secret-ID CIDRs, uses
// and TTL) onto `role`; the 400 answer for the first bad value.
std::optional<VaultResponse> apply_role_fields(const Fields& f, bool create, Role& role) {
  if (f.has("local_secret_ids")) {
    if (!create) return VaultResponse::bad("local_secret_ids can only be modified during role creation");
    role.local_secret_ids = f.boolean("local_secret_ids");
  }
  if (f.has("role_id")) {
    role.role_id = f.str("role_id");
  } else if (create) {
    role.role_id = random_uuid();
  }
  if (role.role_id.empty()) return VaultResponse::bad("invalid role_id supplied, or failed to generate a role_id");
  if (f.has("bind_secret_id")) role.bind_secret_id = f.boolean("bind_secret_id");
  else if (create) role.bind_secret_id = true;
  if (f.has("secret_id_bound_cidrs")) role.secret_id_bound_cidrs = f.slice("secret_id_bound_cidrs");
  else if (f.has("bound_cidr_list")) role.secret_id_bound_cidrs = f.slice("bound_cidr_list");
  if (role.secret_id_bound_cidrs && !all_valid_cidrs(*role.secret_id_bound_cidrs)) {
    return VaultResponse::bad("invalid CIDR blocks");
  }
  if (f.has("secret_id_num_uses")) role.secret_id_num_uses = f.integer("secret_id_num_uses");
  if (role.secret_id_num_uses < 0) return VaultResponse::bad("secret_id_num_uses cannot be negative");
  if (f.has("secret_id_ttl")) role.secret_id_ttl = f.integer("secret_id_ttl");
  return std::nullopt;
}

// tokenutil.UpgradeValue for the deprecated policies and period, then the mount's maximum TTL:
// the 400 answer for a longer period, a warning for a longer token_max_ttl.
std::optional<VaultResponse> upgrade_deprecated_fields(const Fields& f, Role& role,
                                                       std::vector<std::string>& warnings) {
  if (!f.has("token_policies")) {
    if (f.has("policies")) {
      role.policies = sanitize_policies(f.slice("policies"), false);
      role.token_policies = role.policies;
    }
  } else {
    role.policies = f.has("policies") ? role.token_policies : std::vector<std::string>{};
  }
  if (!f.has("token_period")) {
    if (f.has("period")) {
      role.period = f.integer("period");
      role.token_period = role.period;
    }
  } else {
    role.period = f.has("period") ? role.token_period : 0;
  }
  if (role.period > kMountMaxTtl) {
    return VaultResponse::bad("period of " + qt(go_duration(role.period)) +
                       " is greater than the backend's maximum lease TTL of " +
                       qt(go_duration(kMountMaxTtl)));
  }
  if (role.token_max_ttl > kMountMaxTtl) {
    warnings.push_back(
        "token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' max "
        "TTL value will be truncated");
  }
  return std::nullopt;
}

}  // namespace

// parseutil.ParseAddrs accepts addresses and CIDR blocks.
Status check_addrs(const std::vector<std::string>& addrs) {
  for (const auto& a : addrs) {
    if (!valid_cidr(a)) {
      return Status(Code::invalid_argument, "Unable to convert " + qt(a) +
                                                " to an IPv4 or IPv6 address, or a UNIX Socket");
    }
  }
  return Status::success();
}

bool all_valid_cidrs(const std::vector<std::string>& cidrs) {
  return std::all_of(cidrs.begin(), cidrs.end(), [](const std::string& c) { return valid_cidr(c); });
}

// Keeps the (possibly large) secret-ID maps out of the copy a write works on.
Role copy_role_settings(Role& role) {
  auto secrets = std::move(role.secret_ids);
  auto accessors = std::move(role.accessors);
  Role copy = role;
  role.secret_ids = std::move(secrets);
  role.accessors = std::move(accessors);
  return copy;
}

Match Emulator::Core::route_approle(const std::string& mount, const std::string& rest) {
  Match m;
  m.kind = Match::Kind::unsupported_path;
  m.args = {mount};
  auto route_to = [&](const Route& r) {
    m.kind = Match::Kind::route;
    m.route = &r;
    return m;
  };
  if (rest == "login") return route_to(kLogin);
  if (rest == "role" || rest == "role/") return route_to(kRoleList);
  if (rest == "tidy/secret-id") return route_to(kTidy);
  if (!starts_with(rest, "role/")) return m;
  std::string after = rest.substr(5);
  auto slash = after.find('/');
  std::string name = after.substr(0, slash);
  if (!valid_role_name(name)) return m;
  m.args.push_back(name);
  if (slash == std::string::npos) return route_to(kRole);
  std::string field = after.substr(slash + 1);
  if (field == "role-id") return route_to(kRoleId);
  if (field == "secret-id" || field == "secret-id/") return route_to(kSecretId);
  if (field == "custom-secret-id") return route_to(kCustomSecretId);
  if (field == "secret-id/lookup" || field == "secret-id/lookup/") return route_to(kSecretIdLookup);
  if (field == "secret-id/destroy" || field == "secret-id/destroy/") return route_to(kSecretIdDestroy);
  if (field == "secret-id-accessor/lookup" || field == "secret-id-accessor/lookup/") {
    return route_to(kAccessorLookup);
  }
  if (field == "secret-id-accessor/destroy" || field == "secret-id-accessor/destroy/") {
    return route_to(kAccessorDestroy);
  }
  const auto& fr = field_routes();
  if (auto it = fr.find(field); it != fr.end()) {
    m.args.push_back(field);
    return route_to(it->second);
  }
  return m;
}

Mount* Emulator::Core::mount_of(Call& c) {
  auto it = state.mounts.find(c.args.at(0));
  return it == state.mounts.end() ? nullptr : &it->second;
}

Role* Emulator::Core::role_of(Call& c) {
  Mount* m = mount_of(c);
  if (m == nullptr || c.args.size() < 2) return nullptr;
  auto it = m->roles.find(to_lower(c.args[1]));
  return it == m->roles.end() ? nullptr : &it->second;
}

bool Emulator::Core::role_exists(Call& c) { return role_of(c) != nullptr; }

VaultResponse Emulator::Core::role_list(Call& c) {
  std::vector<std::string> keys;
  Mount* m = mount_of(c);
  keys.reserve(m->roles.size());
  for (const auto& [name, r] : m->roles) keys.push_back(name);
  return VaultResponse::keys(std::move(keys));
}

VaultResponse Emulator::Core::role_read(Call& c) {
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::nil();
  json d = {{"bind_secret_id", r->bind_secret_id},
            {"secret_id_bound_cidrs",
             r->secret_id_bound_cidrs ? json(*r->secret_id_bound_cidrs) : json(nullptr)},
            {"secret_id_num_uses", r->secret_id_num_uses},
            {"secret_id_ttl", r->secret_id_ttl},
            {"local_secret_ids", r->local_secret_ids},
            {"token_bound_cidrs", r->token_bound_cidrs},
            {"token_explicit_max_ttl", r->token_explicit_max_ttl},
            {"token_max_ttl", r->token_max_ttl},
            {"token_no_default_policy", r->token_no_default_policy},
            {"token_period", r->token_period},
            {"token_policies", r->token_policies.empty() ? r->policies : r->token_policies},
            {"token_type", r->token_type},
            {"token_ttl", r->token_ttl},
            {"token_num_uses", r->token_num_uses}};
  if (r->period != 0) d["period"] = r->period;
  if (!r->policies.empty()) d["policies"] = r->policies;
  if (r->token_period == 0 && r->period > 0) d["token_period"] = r->period;
  VaultResponse res = VaultResponse::ok(std::move(d));
  bool constrained = r->bind_secret_id ||
                     (r->secret_id_bound_cidrs && !r->secret_id_bound_cidrs->empty()) ||
                     !r->token_bound_cidrs.empty();
  if (!constrained) {
    res.warnings.push_back(
        "Role does not have any constraints set on it. Updates to this role will require a "
        "constraint to be set");
  }
  return res;
}

VaultResponse Emulator::Core::set_role(Mount& m, Role& updated, const std::string& previous_role_id) {
  bool constrained = updated.bind_secret_id ||
                     (updated.secret_id_bound_cidrs && !updated.secret_id_bound_cidrs->empty()) ||
                     !updated.token_bound_cidrs.empty();
  if (!constrained) return VaultResponse::error(500, "at least one constraint should be enabled on the role");
  if (auto idx = m.role_ids.find(updated.role_id);
      idx != m.role_ids.end() && idx->second != updated.name) {
    return VaultResponse::error(500, "role_id already in use");
  }
  if (!previous_role_id.empty() && previous_role_id != updated.role_id) {
    m.role_ids.erase(previous_role_id);
  }
  auto it = m.roles.find(updated.name);
  if (it != m.roles.end()) {
    updated.secret_ids = std::move(it->second.secret_ids);
    updated.accessors = std::move(it->second.accessors);
    it->second = std::move(updated);
  } else {
    it = m.roles.emplace(updated.name, std::move(updated)).first;
  }
  m.role_ids[it->second.role_id] = it->second.name;
  return VaultResponse::nil();
}

VaultResponse Emulator::Core::role_write(Call& c) {
  Mount* m = mount_of(c);
  const std::string& raw_name = c.args[1];
  if (raw_name.size() > 4096) return VaultResponse::bad("role_name is longer than maximum of 4096 bytes");
  const Fields& f = c.fields;
  bool create = c.op == Operation::create;
  Role* existing = role_of(c);
  if (existing == nullptr && !create) {
    return VaultResponse::bad("role name " + qt(raw_name) + " doesn't exist", 404);
  }
  Role role;
  if (existing != nullptr) {
    role = copy_role_settings(*existing);
  } else {
    role.name = to_lower(raw_name);
  }
  const std::string previous_role_id = role.role_id;
  std::vector<std::string> warnings;
  if (auto bad = apply_token_fields(f, role, warnings)) return std::move(*bad);
  if (auto bad = apply_role_fields(f, create, role)) return std::move(*bad);
  if (auto bad = upgrade_deprecated_fields(f, role, warnings)) return std::move(*bad);
  VaultResponse stored = set_role(*m, role, previous_role_id);
  if (stored.kind != VaultResponse::Kind::nil) return stored;
  if (warnings.empty()) return VaultResponse::nil();
  VaultResponse r = VaultResponse::ok(nullptr);
  r.warnings = std::move(warnings);
  return r;
}

VaultResponse Emulator::Core::role_delete(Call& c) {
  Mount* m = mount_of(c);
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::nil();
  // Issued tokens are deliberately left alone, as in Vault.
  m->role_ids.erase(r->role_id);
  m->roles.erase(r->name);
  return VaultResponse::nil();
}

}  // namespace ps::vault::emulator
