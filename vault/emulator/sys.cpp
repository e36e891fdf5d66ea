// The system backend parts the emulator serves: health, leader and seal status (answered
// without a token, also when sealed: http/sys_health.go, sys_leader.go, sys_seal.go), ACL
// policies, auth mounts, capabilities and lease revocation by prefix.
#include <algorithm>

#include "engine/base/mutex.h"

#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {

using FT = FieldType;
using Core = Emulator::Core;

std::string qt(const std::string& s) { return safe_dump(json(s)); }

Route sys_route(std::vector<FieldSpec> fields, Handler read, Handler list, Handler write,
                Handler del) {
  return Route{std::move(fields), read, list, write, del, nullptr, false, "system"};
}

const Route kPolicyList = sys_route({}, nullptr, &Core::policy_list, nullptr, nullptr);
const Route kPolicy = sys_route({{"name", FT::string}, {"policy", FT::string}}, &Core::policy_read,
                                nullptr, &Core::policy_write, &Core::policy_delete);
const Route kLegacyPolicyList = sys_route({}, &Core::policy_list, &Core::policy_list, nullptr, nullptr);
const Route kLegacyPolicy = sys_route({{"name", FT::string}, {"rules", FT::string}, {"policy", FT::string}},
                                      &Core::policy_read, nullptr, &Core::policy_write,
                                      &Core::policy_delete);
const Route kAuthList = sys_route({}, &Core::auth_list, nullptr, nullptr, nullptr);
const Route kAuthMount = sys_route({{"path", FT::string}, {"type", FT::string},
                                    {"description", FT::string}, {"config", FT::kv_map},
                                    {"local", FT::boolean}, {"seal_wrap", FT::boolean},
                                    {"options", FT::kv_map}, {"plugin_name", FT::string}},
                                   nullptr, nullptr, &Core::auth_enable, &Core::auth_disable);
// Vault takes the TTLs as strings ("1h", "3600", "system"); JSON numbers convert to strings.
const Route kAuthTune = sys_route({{"default_lease_ttl", FT::string}, {"max_lease_ttl", FT::string},
                                   {"description", FT::string}, {"token_type", FT::string},
                                   {"listing_visibility", FT::string},
                                   {"audit_non_hmac_request_keys", FT::comma_slice},
                                   {"audit_non_hmac_response_keys", FT::comma_slice},
                                   {"passthrough_request_headers", FT::comma_slice},
                                   {"allowed_response_headers", FT::comma_slice},
                                   {"options", FT::kv_map}},
                                  &Core::auth_tune_read, nullptr, &Core::auth_tune_write, nullptr);
const Route kCapabilities = sys_route({{"token", FT::string}, {"path", FT::comma_slice},
                                       {"paths", FT::comma_slice}},
                                      nullptr, nullptr, &Core::capabilities, nullptr);
const Route kCapabilitiesSelf = sys_route({{"token", FT::string}, {"path", FT::comma_slice},
                                           {"paths", FT::comma_slice}},
                                          nullptr, nullptr, &Core::capabilities_self, nullptr);
const Route kRevokePrefix = sys_route({{"prefix", FT::string}, {"sync", FT::boolean}}, nullptr,
                                      nullptr, &Core::revoke_prefix, nullptr);

std::optional<std::int64_t> query_int(const std::string& query, const std::string& key,
                                      bool* bad) {
  for (const auto& pair : split(query, '&')) {
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != key) continue;
    std::string v = eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1)).value_or("");
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0') {
      *bad = true;
      return std::nullopt;
    }
    return n;
  }
  return std::nullopt;
}

std::optional<bool> query_bool(const std::string& query, const std::string& key, bool* bad) {
  for (const auto& pair : split(query, '&')) {
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != key) continue;
    std::string v = eq == std::string::npos ? "" : pair.substr(eq + 1);
    auto b = parse_go_bool(v);
    if (!b) *bad = true;
    return b;
  }
  return std::nullopt;
}

}  // namespace

HttpResponse Core::sys_health(const HttpRequest& req, const std::string& method) {
  if (method != "GET" && method != "HEAD") return error_response(405, {});
  bool bad = false;
  bool standby_ok = query_bool(req.query, "standbyok", &bad).value_or(false);
  bool perf_standby_ok = query_bool(req.query, "perfstandbyok", &bad).value_or(false);
  (void)perf_standby_ok;
  auto code = [&](const char* key, int def) {
    auto v = query_int(req.query, key, &bad);
    return v ? static_cast<int>(*v) : def;
  };
  int active = code("activecode", 200), standby_code = code("standbycode", 429);
  int sealed_code = code("sealedcode", 503), uninit_code = code("uninitcode", 501);
  code("drsecondarycode", 472);
  code("performancestandbycode", 473);
  code("haunhealthycode", 474);
  code("removedcode", 530);
  if (bad) return error_response(400, {});

  bool initialized, sealed;
  std::string cluster_name, cluster_id;
  {
    ps::ReaderLock lock(mu);
    initialized = state.initialized;
    sealed = state.sealed || !initialized;
    cluster_name = state.cluster_name;
    cluster_id = state.cluster_id;
  }
  bool standby;
  {
    ps::MutexLock lock(admin_mu);
    standby = standby_mode != "off";
  }
  if (sealed) standby = true;
  int status = active;
  if (!initialized) status = uninit_code;
  else if (sealed) status = sealed_code;
  else if (standby && !standby_ok) status = standby_code;

  if (method == "HEAD") {
    HttpResponse r;
    r.status = status;
    r.headers.push_back({"Content-Type", "application/json"});
    return r;
  }
  json body = {{"initialized", initialized},
               {"sealed", sealed},
               {"standby", standby},
               {"performance_standby", false},
               {"replication_performance_mode", "disabled"},
               {"replication_dr_mode", "disabled"},
               {"server_time_utc", unix_seconds(now())},
               {"version", options.version},
               {"enterprise", false},
               {"echo_duration_ms", 0},
               {"clock_skew_ms", 0},
               {"replication_primary_canary_age_ms", 0},
               {"removed_from_cluster", false},
               {"ha_connection_healthy", true}};
  if (!sealed) {
    body["cluster_name"] = cluster_name;
    body["cluster_id"] = cluster_id;
  }
  return json_response(status, body);
}

HttpResponse Core::sys_leader(const HttpRequest& req) {
  if (req.method != "GET") return error_response(405, {});
  {
    ps::ReaderLock lock(mu);
    if (!state.initialized || state.sealed) return error_response(503, {"Vault is sealed"});
  }
  ps::MutexLock lock(admin_mu);
  bool ha = standby_mode != "off";
  return json_response(200, {{"ha_enabled", ha},
                             {"is_self", false},
                             {"active_time", "0001-01-01T00:00:00Z"},
                             {"leader_address", ha ? leader_address : ""},
                             {"leader_cluster_address", ""},
                             {"performance_standby", false},
                             {"performance_standby_last_remote_wal", 0}});
}

HttpResponse Core::sys_seal_status(const HttpRequest& req) {
  if (req.method != "GET") return error_response(405, {});
  ps::ReaderLock lock(mu);
  bool sealed = state.sealed || !state.initialized;
  json body = {{"type", "shamir"},
               {"initialized", state.initialized},
               {"sealed", sealed},
               {"t", state.initialized ? 1 : 0},
               {"n", state.initialized ? 1 : 0},
               {"progress", 0},
               {"nonce", ""},
               {"version", options.version},
               {"build_date", "2024-09-24T19:48:40Z"},
               {"migration", false},
               {"recovery_seal", false},
               {"storage_type", "inmem"},
               {"removed_from_cluster", false}};
  if (!sealed) {
    body["cluster_name"] = state.cluster_name;
    body["cluster_id"] = state.cluster_id;
  }
  return json_response(200, body);
}

HttpResponse Core::sys_init(const HttpRequest& req) {
  ps::ReaderLock lock(mu);
  if (req.method == "GET") return json_response(200, {{"initialized", state.initialized}});
  if (req.method == "PUT" || req.method == "POST") {
    // Initialising (key shares, root token) is not emulated: --dev or --state provide the state.
    if (state.initialized) return error_response(400, {"Vault is already initialized"});
    return error_response(501, {"initialization is not supported by the emulator; start it with --dev"});
  }
  return error_response(405, {});
}

Match Core::route_sys(const std::string& rest) {
  Match m;
  m.kind = Match::Kind::unsupported_path;
  auto route_to = [&](const Route& r, std::vector<std::string> args = {}) {
    m.kind = Match::Kind::route;
    m.route = &r;
    m.args = std::move(args);
    return m;
  };
  if (rest == "policies/acl" || rest == "policies/acl/") return route_to(kPolicyList);
  if (starts_with(rest, "policies/acl/")) return route_to(kPolicy, {rest.substr(13), "policy"});
  if (rest == "policy" || rest == "policy/") return route_to(kLegacyPolicyList);
  if (starts_with(rest, "policy/")) return route_to(kLegacyPolicy, {rest.substr(7), "rules"});
  if (rest == "auth" || rest == "auth/") return route_to(kAuthList);
  if (starts_with(rest, "auth/") && ends_with(rest, "/tune")) {
    return route_to(kAuthTune, {rest.substr(5, rest.size() - 10)});
  }
  if (starts_with(rest, "auth/")) return route_to(kAuthMount, {rest.substr(5)});
  if (rest == "capabilities") return route_to(kCapabilities);
  if (rest == "capabilities-self") return route_to(kCapabilitiesSelf);
  for (const char* p : {"leases/revoke-prefix/", "revoke-prefix/", "leases/revoke-force/",
                        "revoke-force/"}) {
    if (starts_with(rest, p)) return route_to(kRevokePrefix, {rest.substr(std::string(p).size())});
  }
  return m;
}

VaultResponse Core::policy_list(Call& c) {
  std::vector<std::string> keys;
  for (const auto& [name, p] : state.policies) keys.push_back(name);
  keys.push_back("root");
  std::sort(keys.begin(), keys.end());
  VaultResponse r = VaultResponse::keys(keys);
  if (starts_with(c.path, "sys/policy")) r.data["policies"] = keys;  // the legacy API sends both
  return r;
}

VaultResponse Core::policy_read(Call& c) {
  std::string name = to_lower(trim(c.args[0]));
  auto it = state.policies.find(name);
  if (it == state.policies.end()) return VaultResponse::nil();
  json d = {{"name", name}, {c.args[1], it->second.raw}};
  if (c.args[1] == "rules") d["policy"] = it->second.raw;
  return VaultResponse::ok(std::move(d));
}

VaultResponse Core::policy_write(Call& c) {
  std::string name = to_lower(trim(c.args[0]));
  const std::string& key = c.args[1];
  std::string text = c.fields.str(key);
  if (text.empty() && key == "rules") text = c.fields.str("policy");
  if (text.empty()) return VaultResponse::bad("'" + key + "' parameter not supplied or empty");
  if (name == "root") return VaultResponse::bad("cannot update \"root\" policy");
  auto p = parse_policy(name, text);
  if (!p.ok()) return VaultResponse::bad(p.status().message());
  state.policies.insert_or_assign(name, std::move(*p));
  policies_changed();
  return VaultResponse::nil();
}

VaultResponse Core::policy_delete(Call& c) {
  std::string name = to_lower(trim(c.args[0]));
  if (name == "default") return VaultResponse::bad("cannot delete \"default\" policy");
  if (name == "root") return VaultResponse::bad("cannot delete \"root\" policy");
  state.policies.erase(name);
  policies_changed();
  return VaultResponse::nil();
}

VaultResponse Core::auth_list(Call&) {
  json d = json::object();
  // `config` shows the tuned values as stored (0 = the system value), unlike .../tune.
  auto entry = [&](const std::string& type, const std::string& accessor, const std::string& desc,
                   std::int64_t def_ttl = 0, std::int64_t max_ttl = 0,
                   const std::string& token_type = "default-service") {
    return json{{"type", type},
                {"description", desc},
                {"accessor", accessor},
                {"config", {{"default_lease_ttl", def_ttl}, {"max_lease_ttl", max_ttl},
                            {"force_no_cache", false}, {"token_type", token_type}}},
                {"local", false},
                {"seal_wrap", false},
                {"external_entropy_access", false},
                {"options", nullptr},
                {"plugin_version", ""},
                {"running_plugin_version", "v" + options.version + "+builtin.vault"},
                {"running_sha256", ""}};
  };
  d["token/"] = entry("token", "auth_token_00000000", "token based credentials");
  for (const auto& [path, m] : state.mounts) {
    d[path + "/"] = entry(m.type, m.accessor, m.description, m.default_lease_ttl, m.max_lease_ttl,
                          m.token_type);
  }
  return VaultResponse::ok(std::move(d));
}

VaultResponse Core::auth_enable(Call& c) {
  std::string path = c.args[0];
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string type = c.fields.str("type");
  if (type.empty()) type = c.fields.str("plugin_name");
  if (path.empty() || path.find('/') != std::string::npos) {
    return VaultResponse::bad("invalid backend path " + qt(path));
  }
  if (path == "token" || state.mounts.count(path)) {
    return VaultResponse::bad("path is already in use at " + path + "/");
  }
  if (type != "approle") return VaultResponse::bad("plugin not found in the catalog: " + type);
  Mount m;
  m.path = path;
  m.accessor = "auth_approle_" + random_base62(8);
  m.description = c.fields.str("description");
  state.mounts.emplace(path, std::move(m));
  return VaultResponse::nil();
}

VaultResponse Core::auth_disable(Call& c) {
  std::string path = c.args[0];
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path == "token") return VaultResponse::bad("token credential backend cannot be disabled");
  if (state.mounts.erase(path) > 0) {
    std::vector<std::string> doomed;
    for (const auto& [id, t] : state.tokens) {
      if (t.mount == path) doomed.push_back(id);
    }
    for (const auto& id : doomed) revoke_token_tree(id);
  }
  return VaultResponse::nil();
}

namespace {
// A tune TTL: "" = unchanged, "system" = back to the system value (0), else
// parseutil.ParseDurationSecond (logical_system.go handleTuneWriteCommon).
std::optional<std::int64_t> tune_ttl(const std::string& text, std::int64_t current) {
  if (text.empty()) return current;
  if (text == "system") return 0;
  auto d = parse_duration_seconds(text);
  if (!d || *d < 0) return std::nullopt;
  return d;
}
}  // namespace

VaultResponse Core::auth_tune_read(Call& c) {
  auto it = state.mounts.find(c.args[0]);
  if (it == state.mounts.end()) {
    return VaultResponse::bad("cannot fetch sysview for path " + qt("auth/" + c.args[0] + "/"));
  }
  const Mount& m = it->second;
  // The effective values: an untuned mount reports the system TTLs.
  return VaultResponse::ok(
      {{"description", m.description},
       {"default_lease_ttl", m.default_lease_ttl > 0 ? m.default_lease_ttl : kMountDefaultTtl},
       {"max_lease_ttl", m.max_lease_ttl > 0 ? m.max_lease_ttl : kMountMaxTtl},
       {"force_no_cache", false},
       {"token_type", m.token_type}});
}

// Fields apply in Vault's order (TTLs, description, token_type), each once it passed: a bad
// token_type after a good TTL leaves the TTL tuned, as in Vault.
VaultResponse Core::auth_tune_write(Call& c) {
  const std::string path = "auth/" + c.args[0] + "/";
  auto it = state.mounts.find(c.args[0]);
  if (it == state.mounts.end()) {
    return VaultResponse::bad("tune of path " + qt(path) + " failed: no mount entry found");
  }
  Mount& m = it->second;
  auto def = tune_ttl(c.fields.str("default_lease_ttl"), m.default_lease_ttl);
  if (!def) return VaultResponse::bad("time: invalid duration " + qt(c.fields.str("default_lease_ttl")));
  auto max = tune_ttl(c.fields.str("max_lease_ttl"), m.max_lease_ttl);
  if (!max) return VaultResponse::bad("time: invalid duration " + qt(c.fields.str("max_lease_ttl")));
  // Only two stored (non-system) values are compared; the effective default may exceed the
  // effective max, and CalculateTTL then caps the tokens.
  if (*def > 0 && *max > 0 && *max < *def) {
    return VaultResponse::bad("backend max lease TTL of " + std::to_string(*max) +
                              " would be less than backend default lease TTL of " +
                              std::to_string(*def));
  }
  m.default_lease_ttl = *def;
  m.max_lease_ttl = *max;
  if (c.fields.has("description")) m.description = c.fields.str("description");
  if (c.fields.has("token_type")) {
    std::string t = c.fields.str("token_type");
    if (t.empty()) t = "default-service";
    if (t != "default-service" && t != "default-batch" && t != "service" && t != "batch") {
      return VaultResponse::bad("invalid value for 'token_type'");
    }
    m.token_type = t;
  }
  return VaultResponse::nil();
}

namespace {
VaultResponse capabilities_of(const Acl& acl, const Fields& f) {
  std::vector<std::string> paths = f.slice("paths");
  if (paths.empty()) paths = f.slice("path");
  json d = json::object();
  for (const auto& p : paths) d[p] = acl.capabilities(p);
  if (paths.size() == 1) d["capabilities"] = d[paths[0]];
  return VaultResponse::ok(std::move(d));
}
}  // namespace

VaultResponse Core::capabilities_self(Call& c) {
  return capabilities_of(*acl_for(c.token->policies), c.fields);
}

VaultResponse Core::capabilities(Call& c) {
  std::string id = c.fields.str("token");
  Token* t = id.empty() ? nullptr : find_token(id);
  if (t == nullptr || !token_valid(*t)) return VaultResponse::error(400, "bad token");
  return capabilities_of(*acl_for(t->policies), c.fields);
}

VaultResponse Core::revoke_prefix(Call& c) {
  std::string prefix = c.args[0];
  if (!prefix.empty() && prefix.back() != '/') prefix += "/";
  std::vector<std::string> doomed;
  for (const auto& [id, t] : state.tokens) {
    // Only tokens with a lease (a TTL) can be revoked through sys/leases.
    if (!t.expire_time) continue;
    if (starts_with(t.path + "/" + t.accessor, prefix)) doomed.push_back(id);
  }
  for (const auto& id : doomed) {
    if (c.token && id == c.token->id) {
      c.revoke_caller_after = true;
    } else {
      revoke_token_tree(id);
    }
  }
  return VaultResponse::nil();
}

}  // namespace ps::vault::emulator
