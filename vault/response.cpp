#include "vault/response.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>

namespace ps::vault {
namespace {

using nlohmann::json;

Error bad_response(const std::string& what) {
  return Error::make(ErrorCode::bad_response, Action::give_up,
                     "Vault's answer was not as documented: " + what);
}

std::optional<json> parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::string str(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

// Numeric fields of one JSON object, range-checked (see kMaxTtlSeconds in types.h). An absent
// or null field is 0; anything else outside [lo, hi] - a float such as 1e300, a negative TTL,
// NaN (not JSON, but a string "NaN"), a bool - is remembered as the first error and read as 0.
class Numbers {
 public:
  Numbers(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  std::int64_t get(const char* key, std::int64_t lo, std::int64_t hi) {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return 0;
    std::optional<std::int64_t> value;
    if (it->is_number_unsigned()) {
      const auto u = it->get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(hi)) value = static_cast<std::int64_t>(u);
    } else if (it->is_number_integer()) {
      const auto i = it->get<std::int64_t>();
      if (i >= lo && i <= hi) value = i;
    } else if (it->is_number_float()) {
      // Compared as doubles before any cast: every bound is exact in a double (<= 2^53).
      const double d = it->get<double>();
      if (std::isfinite(d) && d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) {
        value = static_cast<std::int64_t>(d);
      }
    } else if (it->is_string()) {
      // Some Vault fields are json.Number: a decimal integer in a string.
      const std::string& text = it->get_ref<const std::string&>();
      std::int64_t i = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
      if (ec == std::errc{} && end == text.data() + text.size() && i >= lo && i <= hi) value = i;
    }
    if (value) return *value;
    if (!error) {
      std::string shown = it->dump();
      if (shown.size() > 32) shown = shown.substr(0, 32) + "...";
      error = bad_response("`" + where_ + key + "` = " + shown + " is not a number in " +
                           std::to_string(lo) + ".." + std::to_string(hi));
    }
    return 0;
  }
  std::int64_t ttl(const char* key) { return get(key, 0, kMaxTtlSeconds); }
  std::int64_t count(const char* key) { return get(key, 0, kMaxCount); }
  std::int64_t unix_seconds(const char* key) { return get(key, 0, kMaxUnixSeconds); }

  std::optional<Error> error;

 private:
  const json& obj_;
  std::string where_;  // "auth." / "data." / ""
};

bool boolean(const json& obj, const char* key, bool fallback = false) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

std::vector<std::string> strings(const json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::map<std::string, std::string> string_map(const json& obj, const char* key) {
  std::map<std::string, std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

// The `data` object of a parsed answer; bad_response when there is none.
Result<json*> data_in(std::optional<json>& top) {
  if (!top) return bad_response("body is not a JSON object");
  auto it = top->find("data");
  if (it == top->end() || !it->is_object()) return bad_response("no `data` object");
  return &*it;
}

// The `data` object of an envelope.
Result<json> data_of(const std::string& body) {
  auto top = parse_object(body);
  auto data = data_in(top);
  if (!data) return data.error();
  return std::move(**data);  // moved out of `top`, which dies here
}

bool any_contains(const std::vector<std::string>& errors, std::string_view needle) {
  for (const auto& e : errors) {
    if (e.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> parse_errors(const std::string& body) {
  auto j = parse_object(body);
  if (!j) return {};
  return strings(*j, "errors");
}

Error classify_answer(Operation op, const HttpAnswer& answer) {
  const auto errors = parse_errors(answer.body);
  Error e = classify_http(answer.status, errors, answer.retry_after);
  auto refine = [&](ErrorCode code) {
    e.code = code;
    e.action = Action::give_up;
    e.retry_after.reset();
  };
  switch (op) {
    case Operation::write_role_policies:
    case Operation::write_role:
      if (answer.status == 404) refine(ErrorCode::role_missing);
      if (answer.status == 500 &&
          any_contains(errors, "at least one constraint should be enabled on the role")) {
        refine(ErrorCode::invalid_request);
      }
      break;
    case Operation::destroy_secret_id_accessor:
      if (answer.status == 500 && any_contains(errors, "failed to find accessor entry")) {
        refine(ErrorCode::not_found);
      } else if (answer.status == 500 && any_contains(errors, "does not exist")) {
        refine(ErrorCode::role_missing);
      }
      break;
    case Operation::renew_self:
      if (answer.status == 500 && any_contains(errors, "does not exist during renewal")) {
        refine(ErrorCode::role_missing);
      }
      break;
    default:
      break;
  }
  return e;
}

Result<Health> parse_health(const HttpAnswer& answer) {
  Health h;
  h.http_status = answer.status;
  switch (answer.status) {
    case 200: h.state = HealthState::active; break;
    case 429: h.state = HealthState::standby; break;
    case 472: h.state = HealthState::dr_secondary; break;
    case 473: h.state = HealthState::performance_standby; break;
    case 474: h.state = HealthState::ha_unhealthy; break;
    case 501: h.state = HealthState::uninitialized; break;
    case 503: h.state = HealthState::sealed; break;
    case 530: h.state = HealthState::removed; break;
    default: return classify_answer(Operation::health, answer);
  }
  auto j = parse_object(answer.body);
  // A table code without a health body did not come from Vault's handler (a proxy's 503,
  // say): report it as the status it is.
  if (!j || !j->contains("initialized")) {
    if (answer.status == 200) return bad_response("sys/health body is not a health object");
    return classify_answer(Operation::health, answer);
  }
  h.initialized = boolean(*j, "initialized");
  h.sealed = boolean(*j, "sealed");
  h.standby = boolean(*j, "standby");
  h.performance_standby = boolean(*j, "performance_standby");
  h.version = str(*j, "version");
  h.cluster_name = str(*j, "cluster_name");
  h.cluster_id = str(*j, "cluster_id");
  Numbers n(*j, "");
  h.server_time_utc = n.unix_seconds("server_time_utc");
  h.replication_dr_mode = str(*j, "replication_dr_mode");
  h.replication_performance_mode = str(*j, "replication_performance_mode");
  if (n.error) return *n.error;
  return h;
}

Result<Leader> parse_leader(const std::string& body) {
  auto j = parse_object(body);
  if (!j || !j->contains("ha_enabled")) return bad_response("sys/leader body");
  Leader l;
  l.ha_enabled = boolean(*j, "ha_enabled");
  l.is_self = boolean(*j, "is_self");
  l.performance_standby = boolean(*j, "performance_standby");
  l.leader_address = str(*j, "leader_address");
  l.leader_cluster_address = str(*j, "leader_cluster_address");
  l.active_time = str(*j, "active_time");
  return l;
}

Result<SealStatus> parse_seal_status(const std::string& body) {
  auto j = parse_object(body);
  if (!j || !j->contains("sealed")) return bad_response("sys/seal-status body");
  SealStatus s;
  s.type = str(*j, "type");
  s.initialized = boolean(*j, "initialized");
  s.sealed = boolean(*j, "sealed", true);
  Numbers n(*j, "");
  // Shamir shares: at most 255.
  s.t = static_cast<int>(n.get("t", 0, 255));
  s.n = static_cast<int>(n.get("n", 0, 255));
  s.progress = static_cast<int>(n.get("progress", 0, 255));
  s.version = str(*j, "version");
  s.storage_type = str(*j, "storage_type");
  s.cluster_name = str(*j, "cluster_name");
  if (n.error) return *n.error;
  return s;
}

Result<RoleInfo> parse_role(const std::string& body) {
  auto top = parse_object(body);  // parsed once: `data` and `warnings` both come from it
  auto d = data_in(top);
  if (!d) return d.error();
  const json& data = **d;
  RoleInfo r;
  r.token_policies = strings(data, "token_policies");
  r.policies = strings(data, "policies");
  r.bind_secret_id = boolean(data, "bind_secret_id", true);
  r.local_secret_ids = boolean(data, "local_secret_ids");
  r.secret_id_bound_cidrs = strings(data, "secret_id_bound_cidrs");
  r.token_bound_cidrs = strings(data, "token_bound_cidrs");
  Numbers n(data, "data.");
  r.secret_id_num_uses = n.count("secret_id_num_uses");
  r.secret_id_ttl = n.ttl("secret_id_ttl");
  r.token_ttl = n.ttl("token_ttl");
  r.token_max_ttl = n.ttl("token_max_ttl");
  r.token_explicit_max_ttl = n.ttl("token_explicit_max_ttl");
  r.token_period = n.ttl("token_period");
  r.token_num_uses = n.count("token_num_uses");
  if (n.error) return *n.error;
  r.token_no_default_policy = boolean(data, "token_no_default_policy");
  r.token_type = str(data, "token_type");
  r.warnings = strings(*top, "warnings");
  return r;
}

Result<std::vector<std::string>> parse_role_policies(const std::string& body) {
  auto d = data_of(body);
  if (!d) return d.error();
  auto it = d->find("token_policies");
  if (it == d->end() || it->is_null()) {
    if (d->contains("policies")) return strings(*d, "policies");
    return bad_response("no `data.token_policies`");
  }
  if (!it->is_array()) return bad_response("`data.token_policies` is not a list");
  return strings(*d, "token_policies");
}

Result<std::vector<std::string>> parse_keys(const std::string& body) {
  auto d = data_of(body);
  if (!d) return d.error();
  auto it = d->find("keys");
  if (it == d->end() || !it->is_array()) return bad_response("no `data.keys` list");
  return strings(*d, "keys");
}

Result<AuthInfo> parse_auth(const std::string& body) {
  auto j = parse_object(body);
  if (!j) return bad_response("body is not a JSON object");
  auto it = j->find("auth");
  if (it == j->end() || !it->is_object()) return bad_response("no `auth` object");
  const json& auth = *it;
  AuthInfo a;
  a.client_token = Secret(str(auth, "client_token"));
  if (a.client_token.empty()) return bad_response("no `auth.client_token`");
  a.accessor = str(auth, "accessor");
  a.policies = strings(auth, "policies");
  a.token_policies = strings(auth, "token_policies");
  a.metadata = string_map(auth, "metadata");
  Numbers n(auth, "auth.");
  a.lease_duration = n.ttl("lease_duration");
  if (n.error) return *n.error;
  a.renewable = boolean(auth, "renewable");
  a.token_type = str(auth, "token_type");
  a.orphan = boolean(auth, "orphan");
  a.warnings = strings(*j, "warnings");
  return a;
}

Result<std::map<std::string, std::vector<std::string>>> parse_capabilities(
    const std::string& body, const std::vector<std::string>& paths) {
  auto d = data_of(body);
  if (!d) return d.error();
  std::map<std::string, std::vector<std::string>> out;
  for (const std::string& p : paths) {
    auto caps = strings(*d, p.c_str());
    out[p] = caps.empty() ? std::vector<std::string>{"deny"} : caps;
  }
  return out;
}

Result<SecretIdInfo> parse_secret_id_info(const std::string& body) {
  auto d = data_of(body);
  if (!d) return d.error();
  const json& data = *d;
  SecretIdInfo s;
  s.accessor = str(data, "secret_id_accessor");
  s.creation_time = str(data, "creation_time");
  s.expiration_time = str(data, "expiration_time");
  Numbers n(data, "data.");
  s.num_uses = n.count("secret_id_num_uses");
  s.ttl = n.ttl("secret_id_ttl");
  if (n.error) return *n.error;
  return s;
}

Result<TokenInfo> parse_token_info(const std::string& body) {
  auto d = data_of(body);
  if (!d) return d.error();
  const json& data = *d;
  TokenInfo t;
  t.accessor = str(data, "accessor");
  t.policies = strings(data, "policies");
  t.path = str(data, "path");
  t.display_name = str(data, "display_name");
  t.meta = string_map(data, "meta");
  Numbers n(data, "data.");
  t.ttl = n.ttl("ttl");
  t.creation_ttl = n.ttl("creation_ttl");
  t.explicit_max_ttl = n.ttl("explicit_max_ttl");
  t.num_uses = n.count("num_uses");
  t.creation_time = n.unix_seconds("creation_time");
  if (n.error) return *n.error;
  t.expire_time = str(data, "expire_time");
  t.issue_time = str(data, "issue_time");
  t.type = str(data, "type");
  t.renewable = boolean(data, "renewable");
  t.orphan = boolean(data, "orphan");
  return t;
}

Result<std::string> role_spec_json(const RoleSpec& spec) {
  json j = json::object();
  auto put = [&j](const char* key, const auto& field) {
    if (field) j[key] = *field;
  };
  put("token_policies", spec.token_policies);
  put("bind_secret_id", spec.bind_secret_id);
  put("secret_id_bound_cidrs", spec.secret_id_bound_cidrs);
  put("secret_id_num_uses", spec.secret_id_num_uses);
  put("secret_id_ttl", spec.secret_id_ttl);
  put("token_ttl", spec.token_ttl);
  put("token_max_ttl", spec.token_max_ttl);
  put("token_explicit_max_ttl", spec.token_explicit_max_ttl);
  put("token_period", spec.token_period);
  put("token_num_uses", spec.token_num_uses);
  put("token_no_default_policy", spec.token_no_default_policy);
  put("token_bound_cidrs", spec.token_bound_cidrs);
  put("token_type", spec.token_type);
  return dump_json(j);
}

Result<std::string> dump_json(const nlohmann::json& value) {
  try {
    return value.dump();
  } catch (const nlohmann::json::exception&) {
    // Only invalid UTF-8 in a string gets here; the value itself is not shown (it may be a
    // secret read from a file).
    return Error::make(ErrorCode::invalid_argument, Action::give_up,
                       "a request field is not valid UTF-8");
  }
}

}  // namespace ps::vault
