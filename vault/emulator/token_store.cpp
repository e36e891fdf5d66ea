// The token store (vault/token_store.go): lookup, renew, revoke, accessors and create, plus the
// TTL arithmetic Vault shares between issue and renewal (sdk/framework CalculateTTL).
#include <algorithm>

#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {

using FT = FieldType;
using Core = Emulator::Core;

Route token_route(std::vector<FieldSpec> fields, Handler read, Handler list, Handler write) {
  return Route{std::move(fields), read, list, write, nullptr, nullptr, false, "token"};
}

const std::vector<FieldSpec> kCreateFields = {
    {"id", FT::string},         {"policies", FT::comma_slice},   {"meta", FT::kv_map},
    {"no_parent", FT::boolean}, {"no_default_policy", FT::boolean}, {"ttl", FT::duration},
    {"explicit_max_ttl", FT::duration}, {"period", FT::duration}, {"display_name", FT::string},
    {"num_uses", FT::integer},  {"renewable", FT::boolean},      {"type", FT::string},
    {"lease", FT::duration},    {"entity_alias", FT::string}};

const std::map<std::string, Route>& token_routes() {
  static const std::map<std::string, Route> routes = {
      {"create", token_route(kCreateFields, nullptr, nullptr, &Core::token_create)},
      {"create-orphan", token_route(kCreateFields, nullptr, nullptr, &Core::token_create_orphan)},
      {"lookup", token_route({{"token", FT::string}}, &Core::token_lookup, nullptr, &Core::token_lookup)},
      {"lookup-self", token_route({{"token", FT::string}}, &Core::token_lookup_self, nullptr,
                                  &Core::token_lookup_self)},
      {"lookup-accessor", token_route({{"accessor", FT::string}}, nullptr, nullptr,
                                      &Core::token_lookup_accessor)},
      {"renew", token_route({{"token", FT::string}, {"increment", FT::duration}}, nullptr, nullptr,
                            &Core::token_renew)},
      {"renew-self", token_route({{"increment", FT::duration}}, nullptr, nullptr,
                                 &Core::token_renew_self)},
      {"renew-accessor", token_route({{"accessor", FT::string}, {"increment", FT::duration}},
                                     nullptr, nullptr, &Core::token_renew_accessor)},
      {"revoke", token_route({{"token", FT::string}}, nullptr, nullptr, &Core::token_revoke)},
      {"revoke-self", token_route({}, nullptr, nullptr, &Core::token_revoke_self)},
      {"revoke-accessor", token_route({{"accessor", FT::string}}, nullptr, nullptr,
                                      &Core::token_revoke_accessor)},
      {"accessors/", token_route({}, nullptr, &Core::token_accessors, nullptr)},
  };
  return routes;
}

std::string qt(const std::string& s) { return safe_dump(json(s)); }

}  // namespace

std::string human_duration(std::int64_t seconds) {
  std::string s = go_duration(seconds);
  if (ends_with(s, "m0s")) s.resize(s.size() - 2);
  if (auto idx = s.find("h0m"); idx != std::string::npos && idx > 0) {
    s = s.substr(0, idx + 1) + s.substr(idx + 3);
  }
  return s;
}

Result<TtlGrant> calculate_ttl(WallTime now_t, std::int64_t increment, std::int64_t backend_ttl,
                               std::int64_t period, std::int64_t backend_max_ttl,
                               std::int64_t explicit_max_ttl, WallTime start_t,
                               std::int64_t sys_default, std::int64_t sys_max) {
  TtlGrant r;
  std::int64_t now = unix_seconds(now_t);
  std::int64_t start = unix_seconds(start_t);
  std::int64_t max_ttl = sys_max;
  if (backend_max_ttl > 0 && backend_max_ttl < max_ttl) max_ttl = backend_max_ttl;
  if (explicit_max_ttl > 0 && explicit_max_ttl < max_ttl) max_ttl = explicit_max_ttl;
  std::optional<std::int64_t> max_valid_time;
  if (period > 0) {
    if (period > max_ttl) {
      r.warnings.push_back("period of " + qt(human_duration(period)) +
                           " exceeded the effective max_ttl of " + qt(human_duration(max_ttl)) +
                           "; period value is capped accordingly");
      period = max_ttl;
    }
    r.ttl = period;
    if (explicit_max_ttl > 0) max_valid_time = start + explicit_max_ttl;
  } else {
    r.ttl = increment > 0 ? increment : backend_ttl > 0 ? backend_ttl : sys_default;
    max_valid_time = start + max_ttl;
  }
  if (max_valid_time) {
    std::int64_t max_valid_ttl = *max_valid_time - now;
    if (max_valid_ttl <= 0) {
      return Status(Code::failed_precondition, "past the max TTL, cannot renew");
    }
    if (max_valid_ttl < r.ttl) {
      r.warnings.push_back("TTL of " + qt(human_duration(r.ttl)) +
                           " exceeded the effective max_ttl of " +
                           qt(human_duration(max_valid_ttl)) + "; TTL value is capped accordingly");
      r.ttl = max_valid_ttl;
    }
  }
  return r;
}

std::int64_t mount_default_ttl(const Mount& m) {
  return m.default_lease_ttl > 0 ? m.default_lease_ttl : kMountDefaultTtl;
}
std::int64_t mount_max_ttl(const Mount& m) {
  return m.max_lease_ttl > 0 ? m.max_lease_ttl : kMountMaxTtl;
}

Match Core::route_token(const std::string& rest) {
  Match m;
  const auto& routes = token_routes();
  auto it = routes.find(rest);
  if (it == routes.end() && ends_with(rest, "/")) it = routes.find(rest.substr(0, rest.size() - 1));
  if (it == routes.end()) {
    m.kind = Match::Kind::unsupported_path;
    return m;
  }
  m.kind = Match::Kind::route;
  m.route = &it->second;
  return m;
}

Token* Core::find_token(const std::string& id) {
  auto it = state.tokens.find(id);
  return it == state.tokens.end() ? nullptr : &it->second;
}

bool Core::token_valid(const Token& t) const { return !t.expire_time || now() < *t.expire_time; }

std::string Core::new_token_id(const std::string& type) const {
  return (type == "batch" ? "hvb." : "hvs.") + random_base62(type == "batch" ? 90 : 24);
}

Token& Core::store_token(Token t) {
  if (!t.accessor.empty()) state.accessors[t.accessor] = t.id;
  if (!t.parent.empty()) state.children[t.parent].push_back(t.id);
  std::string id = t.id;
  return state.tokens.insert_or_assign(id, std::move(t)).first->second;
}

void Core::revoke_token_tree(const std::string& root_id) {
  std::vector<std::string> stack{root_id};
  while (!stack.empty()) {
    std::string id = stack.back();
    stack.pop_back();
    if (auto ch = state.children.find(id); ch != state.children.end()) {
      stack.insert(stack.end(), ch->second.begin(), ch->second.end());
      state.children.erase(ch);
    }
    auto it = state.tokens.find(id);
    if (it == state.tokens.end()) continue;
    if (!it->second.accessor.empty()) state.accessors.erase(it->second.accessor);
    if (!it->second.parent.empty()) {
      if (auto p = state.children.find(it->second.parent); p != state.children.end()) {
        auto& v = p->second;
        v.erase(std::remove(v.begin(), v.end(), id), v.end());
      }
    }
    state.tokens.erase(it);
  }
}

json Core::token_lookup_data(const Token& t) const {
  WallTime n = now();
  std::int64_t ttl = 0;
  if (t.expire_time) {
    ttl = std::chrono::duration_cast<std::chrono::seconds>(*t.expire_time - n).count();
    if (ttl < 0) ttl = 0;
  }
  json d = {{"accessor", t.accessor},
            {"creation_time", unix_seconds(t.creation_time)},
            {"creation_ttl", t.creation_ttl},
            {"display_name", t.display_name},
            {"entity_id", t.entity_id},
            {"expire_time", t.expire_time ? json(rfc3339_nano(*t.expire_time)) : json(nullptr)},
            {"explicit_max_ttl", t.explicit_max_ttl},
            {"id", t.id},

            {"meta", t.meta ? json(*t.meta) : json(nullptr)},
            {"num_uses", t.num_uses},
            {"orphan", t.parent.empty()},
            {"path", t.path},
            {"policies", t.policies},
            {"ttl", ttl},
            {"type", t.type}};
  // Only a token with a lease (a TTL) has issue time and renewability, as in Vault.
  if (t.expire_time) {
    d["issue_time"] = rfc3339_nano(t.creation_time);
    d["renewable"] = t.renewable;
  }
  if (t.period != 0) d["period"] = t.period;
  if (!t.bound_cidrs.empty()) d["bound_cidrs"] = t.bound_cidrs;
  if (t.last_renewal) {
    d["last_renewal"] = rfc3339_nano(*t.last_renewal);
    d["last_renewal_time"] = unix_seconds(*t.last_renewal);
  }
  return d;
}

json Core::auth_block(const Token& t, const std::vector<std::string>& token_policies) const {
  return {{"client_token", t.id},
          {"accessor", t.accessor},
          {"policies", t.policies},
          {"token_policies", token_policies},
          {"metadata", t.meta ? json(*t.meta) : json(nullptr)},
          {"lease_duration", t.ttl},
          {"renewable", t.renewable},
          {"entity_id", t.entity_id},
          {"token_type", t.type},
          {"orphan", t.parent.empty()},
          {"mfa_requirement", nullptr},
          {"num_uses", t.num_uses}};
}

VaultResponse Core::token_lookup_self(Call& c) { return VaultResponse::ok(token_lookup_data(*c.token)); }

VaultResponse Core::token_lookup(Call& c) {
  std::string id = c.fields.str("token");
  if (id.empty()) id = c.token->id;
  Token* t = find_token(id);
  if (t == nullptr || !token_valid(*t)) return VaultResponse::bad("bad token", 403);
  return VaultResponse::ok(token_lookup_data(*t));
}

VaultResponse Core::token_lookup_accessor(Call& c) {
  std::string accessor = c.fields.str("accessor");
  if (accessor.empty()) return VaultResponse::error(400, "missing accessor");
  auto it = state.accessors.find(accessor);
  Token* t = it == state.accessors.end() ? nullptr : find_token(it->second);
  if (t == nullptr || !token_valid(*t)) return VaultResponse::error(400, "invalid accessor");
  json d = token_lookup_data(*t);
  d["id"] = "";
  return VaultResponse::ok(std::move(d));
}

VaultResponse Core::renew(Call& c, Token& t) {
  if (t.type == "batch") return VaultResponse::bad("batch tokens cannot be renewed");
  if (!t.expire_time) return VaultResponse::bad("lease not found or lease is not renewable");
  if (!t.renewable) return VaultResponse::bad("lease is not renewable");
  std::int64_t backend_ttl = t.creation_ttl, backend_max = 0, period = t.period;
  std::int64_t sys_default = kMountDefaultTtl, sys_max = kMountMaxTtl;
  if (!t.mount.empty()) {
    // approle's pathLoginRenew: only TTL, MaxTTL and Period come from the current role.
    const Role* role = nullptr;
    if (auto m = state.mounts.find(t.mount); m != state.mounts.end()) {
      if (auto r = m->second.roles.find(t.role_name); r != m->second.roles.end()) role = &r->second;
      sys_default = mount_default_ttl(m->second);
      sys_max = mount_max_ttl(m->second);
    }
    if (role == nullptr) {
      return VaultResponse::error(500, "role " + qt(t.role_name) + " does not exist during renewal");
    }
    backend_ttl = role->token_ttl;
    backend_max = role->token_max_ttl;
    period = role->token_period;
  }
  WallTime n = now();
  auto ttl = calculate_ttl(n, c.fields.integer("increment"), backend_ttl, period, backend_max,
                           t.explicit_max_ttl, t.creation_time, sys_default, sys_max);
  if (!ttl.ok()) return VaultResponse::bad(ttl.status().message());
  t.ttl = ttl->ttl;
  t.period = period;
  t.expire_time = n + std::chrono::seconds{ttl->ttl};
  t.last_renewal = n;
  VaultResponse r = VaultResponse::ok(nullptr);
  r.auth = auth_block(t, t.policies);
  r.warnings = ttl->warnings;
  return r;
}

VaultResponse Core::token_renew_self(Call& c) { return renew(c, *c.token); }

VaultResponse Core::token_renew(Call& c) {
  std::string id = c.fields.str("token");
  if (id.empty()) return VaultResponse::bad("missing token ID");
  Token* t = find_token(id);
  if (t == nullptr || !token_valid(*t)) return VaultResponse::bad("token not found");
  return renew(c, *t);
}

VaultResponse Core::token_renew_accessor(Call& c) {
  std::string accessor = c.fields.str("accessor");
  if (accessor.empty()) return VaultResponse::error(400, "missing accessor");
  auto it = state.accessors.find(accessor);
  Token* t = it == state.accessors.end() ? nullptr : find_token(it->second);
  if (t == nullptr || !token_valid(*t)) return VaultResponse::error(400, "invalid accessor");
  return renew(c, *t);
}

VaultResponse Core::token_revoke_self(Call& c) {
  c.revoke_caller_after = true;
  return VaultResponse::nil();
}

VaultResponse Core::token_revoke(Call& c) {
  std::string id = c.fields.str("token");
  if (id.empty()) return VaultResponse::bad("missing token ID");
  Token* t = find_token(id);
  if (t == nullptr) return VaultResponse::nil();
  if (t->type == "batch") return VaultResponse::bad("batch tokens cannot be revoked");
  revoke_token_tree(id);
  return VaultResponse::nil();
}

VaultResponse Core::token_revoke_accessor(Call& c) {
  std::string accessor = c.fields.str("accessor");
  if (accessor.empty()) return VaultResponse::error(400, "missing accessor");
  auto it = state.accessors.find(accessor);
  // Vault 1.10+ (GH-13661, handleUpdateRevokeAccessor): an accessor without a token is done
  // already, a 200 with a warning. An expired token counts as gone: Vault's expiration manager
  // has revoked it (and its children) by then, so the emulator drops it the same way here.
  const Token* held = it == state.accessors.end() ? nullptr : find_token(it->second);
  if (held == nullptr || !token_valid(*held)) {
    if (held != nullptr) revoke_token_tree(std::string(held->id));
    VaultResponse r = VaultResponse::ok(nullptr);
    r.warnings.push_back("No token found with this accessor");
    return r;
  }
  std::string id = it->second;
  if (c.token && c.token->id == id) {
    c.revoke_caller_after = true;
  } else {
    revoke_token_tree(id);
  }
  return VaultResponse::nil();
}

VaultResponse Core::token_accessors(Call&) {
  std::vector<std::string> keys;
  keys.reserve(state.accessors.size());
  for (const auto& [acc, id] : state.accessors) {
    auto t = state.tokens.find(id);
    if (t != state.tokens.end() && token_valid(t->second)) keys.push_back(acc);
  }
  std::sort(keys.begin(), keys.end());
  return VaultResponse::keys(std::move(keys));
}

VaultResponse Core::token_create(Call& c) { return create_token(c, false); }
VaultResponse Core::token_create_orphan(Call& c) { return create_token(c, true); }

namespace {

bool contains(const std::vector<std::string>& v, const char* s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// A token create request, validated: what the new token gets.
struct NewToken {
  std::string type;
  std::vector<std::string> policies;
  bool orphan = false;
  std::int64_t explicit_max = 0;
  std::int64_t period = 0;
  std::int64_t ttl = 0;
  bool renewable = true;
  std::string id;  // custom ID, empty for a generated one
  std::vector<std::string> warnings;
};

// The new token's policies: the parent's when none are requested, otherwise a subset of them
// (any, for root or sudo callers), plus `default` as Vault adds it; the 400 answer otherwise.
std::optional<VaultResponse> child_policies(const Fields& f, const Token& parent, bool is_sudo,
                                            NewToken& nt) {
  bool no_default = f.boolean("no_default_policy");
  std::vector<std::string> requested = f.slice("policies");
  bool add_default = false;
  if (requested.empty()) {
    requested = sanitize_policies(parent.policies, false);
  } else if (!is_sudo) {
    auto in = sanitize_policies(requested, false);
    auto par = sanitize_policies(parent.policies, false);
    for (const auto& p : in) {
      if (!contains(par, p.c_str())) return VaultResponse::bad("child policies must be subset of parent");
    }
    add_default = !no_default && contains(parent.policies, "default");
  } else {
    add_default = !no_default;
  }
  nt.policies = sanitize_policies(requested, add_default);
  if (no_default) nt.policies.erase(std::remove(nt.policies.begin(), nt.policies.end(), "default"), nt.policies.end());
  if (contains(nt.policies, "root") && !contains(parent.policies, "root")) {
    return VaultResponse::bad("root tokens may not be created without parent token being root");
  }
  return std::nullopt;
}

// The new token's TTLs, period and renewability (CalculateTTL from now); the error answer for
// a negative or unauthorised value.
std::optional<VaultResponse> token_lifetime(const Fields& f, const Token& parent, bool is_sudo,
                                            WallTime n, NewToken& nt) {
  nt.explicit_max = f.integer("explicit_max_ttl");
  if (nt.explicit_max < 0) return VaultResponse::bad("explicit_max_ttl must be positive");
  nt.period = f.integer("period");
  if (nt.period < 0) return VaultResponse::bad("period must be positive");
  if (nt.period > 0 && !is_sudo) return VaultResponse::bad("root or sudo privileges required to create periodic token");
  nt.ttl = f.has("ttl") ? f.integer("ttl") : f.integer("lease");
  if (nt.ttl < 0) return VaultResponse::bad("ttl must be positive");
  if (nt.period > 0 || nt.ttl > 0 || !contains(nt.policies, "root")) {
    auto r = calculate_ttl(n, 0, nt.ttl, nt.period, 0, nt.explicit_max, n);
    if (!r.ok()) return VaultResponse::error(500, r.status().message());
    nt.warnings = r->warnings;
    nt.ttl = r->ttl;
  }
  if (nt.ttl == 0 && nt.explicit_max > 0) nt.ttl = nt.explicit_max;
  nt.renewable = f.boolean("renewable", true);
  if (nt.ttl == 0) {
    if (parent.expire_time) {
      return VaultResponse::bad("expiring root tokens cannot create non-expiring root tokens");
    }
    nt.renewable = false;
  }
  return std::nullopt;
}

// The token for a validated create request (not yet stored).
Token child_token(const Core& core, const Fields& f, const Token& parent, bool orphan_path,
                  const NewToken& nt, WallTime n) {
  Token t;
  t.type = nt.type;
  t.id = nt.id.empty() ? core.new_token_id(nt.type) : nt.id;
  t.accessor = nt.type == "batch" ? "" : random_base62(24);
  t.policies = nt.policies;
  t.path = orphan_path ? "auth/token/create-orphan" : "auth/token/create";
  if (f.has("meta")) t.meta = f.kv("meta");
  std::string display = f.str("display_name");
  t.display_name = display.empty() ? "token" : "token-" + display;
  t.num_uses = f.integer("num_uses");
  t.parent = nt.orphan ? "" : parent.id;
  if (!nt.orphan) t.entity_id = parent.entity_id;
  if (!nt.orphan && nt.ttl != 0) t.bound_cidrs = parent.bound_cidrs;
  t.creation_time = n;
  t.creation_ttl = t.ttl = nt.ttl;
  if (nt.ttl > 0) t.expire_time = n + std::chrono::seconds{nt.ttl};
  t.explicit_max_ttl = nt.explicit_max;
  t.period = nt.period;
  t.renewable = nt.renewable && nt.type == "service";
  return t;
}

}  // namespace

VaultResponse Core::create_token(Call& c, bool orphan_path) {
  const Fields& f = c.fields;
  const Token& parent = *c.token;
  bool is_sudo = c.is_root || c.sudo;
  if (f.integer("num_uses") < 0) return VaultResponse::bad("number of uses cannot be negative");
  NewToken nt;
  nt.type = f.str("type", "service");
  if (nt.type.empty() || nt.type == "default") nt.type = "service";
  if (nt.type != "service" && nt.type != "batch") return VaultResponse::bad("invalid 'type' value " + qt(nt.type));
  if (auto bad = child_policies(f, parent, is_sudo, nt)) return std::move(*bad);
  nt.orphan = orphan_path;
  if (f.boolean("no_parent")) {
    if (!is_sudo) return VaultResponse::bad("root or sudo privileges required to create orphan token");
    nt.orphan = true;
  }
  WallTime n = now();
  if (auto bad = token_lifetime(f, parent, is_sudo, n, nt)) return std::move(*bad);
  nt.id = f.str("id");
  if (!nt.id.empty()) {
    if (!is_sudo) return VaultResponse::bad("root or sudo privileges required to specify token id");
    if (state.tokens.count(nt.id)) return VaultResponse::bad("cannot create a token with a duplicate ID");
    nt.warnings.push_back(
        "Supplying a custom ID for the token uses the weaker SHA1 hashing instead of the more "
        "secure SHA2-256 HMAC for token obfuscation. SHA1 hashed tokens on the wire leads to less "
        "secure lookups.");
  }
  Token& stored = store_token(child_token(*this, f, parent, orphan_path, nt, n));
  for (const auto& p : nt.policies) {
    if (p != "root" && !state.policies.count(p)) nt.warnings.push_back("Policy " + qt(p) + " does not exist");
  }
  VaultResponse r = VaultResponse::ok(nullptr);
  r.auth = auth_block(stored, nt.policies);
  r.warnings = std::move(nt.warnings);
  return r;
}

}  // namespace ps::vault::emulator
