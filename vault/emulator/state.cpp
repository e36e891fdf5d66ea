#include "vault/emulator/state.h"


namespace ps::vault::emulator {
namespace {

using nlohmann::json;

std::int64_t to_ns(WallTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
WallTime from_ns(std::int64_t ns) {
  return WallTime{std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds{ns})};
}

json secret_to_json(const SecretId& s) {
  return {{"secret_id", s.secret_id},
          {"accessor", s.accessor},
          {"num_uses", s.num_uses},
          {"ttl", s.ttl},
          {"creation_time", to_ns(s.creation_time)},
          {"expiration_time", to_ns(s.expiration_time)},
          {"last_updated_time", to_ns(s.last_updated_time)},
          {"metadata", s.metadata},
          {"cidr_list", s.cidr_list},
          {"token_bound_cidrs", s.token_bound_cidrs}};
}

SecretId secret_from_json(const json& j) {
  SecretId s;
  s.secret_id = j.at("secret_id").get<std::string>();
  s.accessor = j.at("accessor").get<std::string>();
  s.num_uses = j.at("num_uses").get<std::int64_t>();
  s.ttl = j.at("ttl").get<std::int64_t>();
  s.creation_time = from_ns(j.at("creation_time").get<std::int64_t>());
  s.expiration_time = from_ns(j.at("expiration_time").get<std::int64_t>());
  s.last_updated_time = from_ns(j.at("last_updated_time").get<std::int64_t>());
  s.metadata = j.at("metadata").get<std::map<std::string, std::string>>();
  s.cidr_list = j.at("cidr_list").get<std::vector<std::string>>();
  s.token_bound_cidrs = j.at("token_bound_cidrs").get<std::vector<std::string>>();
  return s;
}

json role_to_json(const Role& r) {
  json secrets = json::array();
  for (const auto& [id, s] : r.secret_ids) secrets.push_back(secret_to_json(s));
  return {{"name", r.name},
          {"role_id", r.role_id},
          {"bind_secret_id", r.bind_secret_id},
          {"secret_id_bound_cidrs",
           r.secret_id_bound_cidrs ? json(*r.secret_id_bound_cidrs) : json(nullptr)},
          {"secret_id_num_uses", r.secret_id_num_uses},
          {"secret_id_ttl", r.secret_id_ttl},
          {"local_secret_ids", r.local_secret_ids},
          {"token_bound_cidrs", r.token_bound_cidrs},
          {"token_explicit_max_ttl", r.token_explicit_max_ttl},
          {"token_max_ttl", r.token_max_ttl},
          {"token_no_default_policy", r.token_no_default_policy},
          {"token_period", r.token_period},
          {"token_policies", r.token_policies},
          {"token_type", r.token_type},
          {"token_ttl", r.token_ttl},
          {"token_num_uses", r.token_num_uses},
          {"policies", r.policies},
          {"period", r.period},
          {"secret_ids", secrets}};
}

Role role_from_json(const json& j) {
  Role r;
  r.name = j.at("name").get<std::string>();
  r.role_id = j.at("role_id").get<std::string>();
  r.bind_secret_id = j.at("bind_secret_id").get<bool>();
  if (!j.at("secret_id_bound_cidrs").is_null()) {
    r.secret_id_bound_cidrs = j.at("secret_id_bound_cidrs").get<std::vector<std::string>>();
  }
  r.secret_id_num_uses = j.at("secret_id_num_uses").get<std::int64_t>();
  r.secret_id_ttl = j.at("secret_id_ttl").get<std::int64_t>();
  r.local_secret_ids = j.at("local_secret_ids").get<bool>();
  r.token_bound_cidrs = j.at("token_bound_cidrs").get<std::vector<std::string>>();
  r.token_explicit_max_ttl = j.at("token_explicit_max_ttl").get<std::int64_t>();
  r.token_max_ttl = j.at("token_max_ttl").get<std::int64_t>();
  r.token_no_default_policy = j.at("token_no_default_policy").get<bool>();
  r.token_period = j.at("token_period").get<std::int64_t>();
  r.token_policies = j.at("token_policies").get<std::vector<std::string>>();
  r.token_type = j.at("token_type").get<std::string>();
  r.token_ttl = j.at("token_ttl").get<std::int64_t>();
  r.token_num_uses = j.at("token_num_uses").get<std::int64_t>();
  r.policies = j.at("policies").get<std::vector<std::string>>();
  r.period = j.at("period").get<std::int64_t>();
  for (const auto& sj : j.at("secret_ids")) {
    SecretId s = secret_from_json(sj);
    r.accessors[s.accessor] = s.secret_id;
    r.secret_ids.emplace(s.secret_id, std::move(s));
  }
  return r;
}

json token_to_json(const Token& t) {
  return {{"id", t.id},
          {"accessor", t.accessor},
          {"policies", t.policies},
          {"path", t.path},
          {"meta", t.meta ? json(*t.meta) : json(nullptr)},
          {"display_name", t.display_name},
          {"num_uses", t.num_uses},
          {"parent", t.parent},
          {"creation_time", to_ns(t.creation_time)},
          {"creation_ttl", t.creation_ttl},
          {"ttl", t.ttl},
          {"expire_time", t.expire_time ? json(to_ns(*t.expire_time)) : json(nullptr)},
          {"explicit_max_ttl", t.explicit_max_ttl},
          {"period", t.period},
          {"type", t.type},
          {"renewable", t.renewable},
          {"last_renewal", t.last_renewal ? json(to_ns(*t.last_renewal)) : json(nullptr)},
          {"entity_id", t.entity_id},
          {"bound_cidrs", t.bound_cidrs},
          {"mount", t.mount},
          {"role_name", t.role_name}};
}

Token token_from_json(const json& j) {
  Token t;
  t.id = j.at("id").get<std::string>();
  t.accessor = j.at("accessor").get<std::string>();
  t.policies = j.at("policies").get<std::vector<std::string>>();
  t.path = j.at("path").get<std::string>();
  if (!j.at("meta").is_null()) t.meta = j.at("meta").get<std::map<std::string, std::string>>();
  t.display_name = j.at("display_name").get<std::string>();
  t.num_uses = j.at("num_uses").get<std::int64_t>();
  t.parent = j.at("parent").get<std::string>();
  t.creation_time = from_ns(j.at("creation_time").get<std::int64_t>());
  t.creation_ttl = j.at("creation_ttl").get<std::int64_t>();
  t.ttl = j.at("ttl").get<std::int64_t>();
  if (!j.at("expire_time").is_null()) t.expire_time = from_ns(j.at("expire_time").get<std::int64_t>());
  t.explicit_max_ttl = j.at("explicit_max_ttl").get<std::int64_t>();
  t.period = j.at("period").get<std::int64_t>();
  t.type = j.at("type").get<std::string>();
  t.renewable = j.at("renewable").get<bool>();
  if (!j.at("last_renewal").is_null()) t.last_renewal = from_ns(j.at("last_renewal").get<std::int64_t>());
  t.entity_id = j.at("entity_id").get<std::string>();
  t.bound_cidrs = j.at("bound_cidrs").get<std::vector<std::string>>();
  t.mount = j.at("mount").get<std::string>();
  t.role_name = j.at("role_name").get<std::string>();
  return t;
}

}  // namespace

json state_to_json(const State& s) {
  json mounts = json::array();
  for (const auto& [path, m] : s.mounts) {
    json roles = json::array();
    for (const auto& [name, r] : m.roles) roles.push_back(role_to_json(r));
    mounts.push_back({{"path", m.path},
                      {"type", m.type},
                      {"accessor", m.accessor},
                      {"description", m.description},
                      {"default_lease_ttl", m.default_lease_ttl},
                      {"max_lease_ttl", m.max_lease_ttl},
                      {"token_type", m.token_type},
                      {"entity_ids", m.entity_ids},
                      {"roles", roles}});
  }
  json tokens = json::array();
  for (const auto& [id, t] : s.tokens) tokens.push_back(token_to_json(t));
  json policies = json::array();
  for (const auto& [name, p] : s.policies) policies.push_back({{"name", name}, {"policy", p.raw}});
  return {{"format", "ps-vault-emulator-state"},
          {"version", 1},
          {"initialized", s.initialized},
          {"sealed", s.sealed},
          {"cluster_name", s.cluster_name},
          {"cluster_id", s.cluster_id},
          {"mounts", mounts},
          {"tokens", tokens},
          {"policies", policies}};
}

namespace {

// The state_from_json helpers throw nlohmann::json::exception for a missing key or a value of
// the wrong type; state_from_text turns that into a Status.
std::map<std::string, Mount> mounts_from_json(const json& list) {
  std::map<std::string, Mount> mounts;
  for (const auto& mj : list) {
    Mount m;
    m.path = mj.at("path").get<std::string>();
    m.type = mj.at("type").get<std::string>();
    m.accessor = mj.at("accessor").get<std::string>();
    m.description = mj.at("description").get<std::string>();
    // Tuning came after the first state files: absent means never tuned.
    m.default_lease_ttl = mj.value("default_lease_ttl", std::int64_t{0});
    m.max_lease_ttl = mj.value("max_lease_ttl", std::int64_t{0});
    m.token_type = mj.value("token_type", std::string("default-service"));
    m.entity_ids = mj.at("entity_ids").get<std::unordered_map<std::string, std::string>>();
    for (const auto& rj : mj.at("roles")) {
      Role r = role_from_json(rj);
      m.role_ids[r.role_id] = r.name;
      m.roles.emplace(r.name, std::move(r));
    }
    mounts.emplace(m.path, std::move(m));
  }
  return mounts;
}

Result<std::map<std::string, Policy>> policies_from_json(const json& list) {
  std::map<std::string, Policy> policies;
  for (const auto& pj : list) {
    std::string name = pj.at("name").get<std::string>();
    auto p = parse_policy(name, pj.at("policy").get<std::string>());
    if (!p.ok()) {
      return Status(Code::invalid_argument, "policy " + name + ": " + p.status().message());
    }
    policies.emplace(name, std::move(*p));
  }
  return policies;
}

Result<State> state_from_json(const json& j) {
  if (j.value("format", "") != "ps-vault-emulator-state" || j.value("version", 0) != 1) {
    return Status(Code::invalid_argument, "not a vault-emulator state file (format/version)");
  }
  State s;
  s.initialized = j.at("initialized").get<bool>();
  s.sealed = j.at("sealed").get<bool>();
  s.cluster_name = j.at("cluster_name").get<std::string>();
  s.cluster_id = j.at("cluster_id").get<std::string>();
  s.mounts = mounts_from_json(j.at("mounts"));
  for (const auto& tj : j.at("tokens")) {
    Token t = token_from_json(tj);
    if (!t.accessor.empty()) s.accessors[t.accessor] = t.id;
    if (!t.parent.empty()) s.children[t.parent].push_back(t.id);
    s.tokens.emplace(t.id, std::move(t));
  }
  auto policies = policies_from_json(j.at("policies"));
  if (!policies.ok()) return policies.status();
  s.policies = std::move(*policies);
  return s;
}

}  // namespace

Result<State> state_from_text(const std::string& text) {
  try {
    return state_from_json(json::parse(text));
  } catch (const std::exception& e) {  // the JSON library's parse, key and type errors
    return Status(Code::invalid_argument, e.what());
  }
}

}  // namespace ps::vault::emulator
