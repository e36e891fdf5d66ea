// The AppRole auth method's secret IDs (builtin/credential/approle path_role.go): issue
// (generated and custom), list, lookup and destroy by value or accessor, and tidy.
#include <algorithm>

#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {

std::string qt(const std::string& s) { return safe_dump(json(s)); }

// strutil.ParseArbitraryKeyValues: base64 or not, JSON object of strings or "k=v,k2=v2".
// The error (invalid_argument) has Vault's text.
Result<std::map<std::string, std::string>> parse_metadata(const std::string& input) {
  auto invalid = [](std::string why) { return Status(Code::invalid_argument, std::move(why)); };
  std::map<std::string, std::string> out;
  if (input.empty()) return out;
  json j = json::parse(input, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (!v.is_string()) {
        return invalid("failed to parse the input: json: cannot unmarshal " +
                       std::string(v.type_name()) + " into Go value of type string");
      }
      out[k] = v.get<std::string>();
    }
  } else {
    for (const auto& pair : split(input, ',')) {
      auto eq = pair.find('=');
      if (eq == std::string::npos) {
        return invalid("failed to parse the input: invalid key/value pair " + qt(pair) +
                       ": format must be key=value");
      }
      out[trim(pair.substr(0, eq))] = trim(pair.substr(eq + 1));
    }
  }
  for (const auto& [k, v] : out) {
    if (!k.empty() && v.empty()) return invalid("invalid value for key " + qt(k));
  }
  return out;
}

json secret_id_data(const SecretId& s) {
  return {{"secret_id_accessor", s.accessor},
          {"secret_id_num_uses", s.num_uses},
          {"secret_id_ttl", s.ttl},
          {"creation_time", rfc3339_nano(s.creation_time)},
          {"expiration_time", rfc3339_nano(s.expiration_time)},
          {"last_updated_time", rfc3339_nano(s.last_updated_time)},
          {"metadata", s.metadata},
          {"cidr_list", s.cidr_list},
          {"token_bound_cidrs", s.token_bound_cidrs}};
}

}  // namespace

VaultResponse Emulator::Core::secret_id_create(Call& c) {
  const std::string& name = c.args[1];
  Role* r = role_of(c);
  const Fields& f = c.fields;
  bool custom = ends_with(c.path, "/custom-secret-id");
  std::string secret = custom ? f.str("secret_id") : random_uuid();
  if (secret.empty()) return VaultResponse::bad("missing secret_id");
  if (r == nullptr) return VaultResponse::bad("role " + qt(name) + " does not exist", 404);
  if (!r->bind_secret_id) return VaultResponse::bad("bind_secret_id is not set on the role");
  auto cidrs = f.slice("cidr_list");
  if (!all_valid_cidrs(cidrs)) return VaultResponse::bad("failed to validate CIDR blocks");
  std::vector<std::string> role_cidrs = r->secret_id_bound_cidrs.value_or(std::vector<std::string>{});
  if (!cidrs_subset(cidrs, role_cidrs)) {
    return VaultResponse::error(500, "failed to verify subset relationship between CIDR blocks on the role " +
                                  qt(join(role_cidrs, ",")) +
                                  " and CIDR blocks on the secret ID " + qt(join(cidrs, ",")));
  }
  auto token_cidrs = f.slice("token_bound_cidrs");
  if (!all_valid_cidrs(token_cidrs)) return VaultResponse::bad("failed to validate token CIDR blocks");
  if (!cidrs_subset(token_cidrs, r->token_bound_cidrs)) {
    return VaultResponse::error(500, "failed to verify subset relationship between CIDR blocks on the role " +
                                  qt(join(r->token_bound_cidrs, ",")) +
                                  " and CIDR blocks on the secret ID " + qt(join(token_cidrs, ",")));
  }
  std::int64_t num_uses = r->secret_id_num_uses;
  if (f.has("num_uses")) {
    num_uses = f.integer("num_uses");
    if (num_uses < 0) return VaultResponse::bad("num_uses cannot be negative");
    if ((num_uses == 0 && r->secret_id_num_uses > 0) ||
        (r->secret_id_num_uses > 0 && num_uses > r->secret_id_num_uses)) {
      return VaultResponse::bad("num_uses cannot be higher than the role's secret_id_num_uses");
    }
  }
  std::int64_t ttl = r->secret_id_ttl;
  if (f.has("ttl")) {
    ttl = f.integer("ttl");
    if ((ttl == 0 && r->secret_id_ttl > 0) || (r->secret_id_ttl > 0 && ttl > r->secret_id_ttl)) {
      return VaultResponse::bad("ttl cannot be longer than the role's secret_id_ttl");
    }
  }
  SecretId s;
  auto metadata = parse_metadata(f.str("metadata"));
  if (!metadata.ok()) {
    return VaultResponse::bad("failed to parse metadata: " + metadata.status().message());
  }
  s.metadata = std::move(*metadata);
  if (r->secret_ids.count(secret)) {
    return VaultResponse::error(500, "failed to store secret_id: SecretID is already registered");
  }
  s.secret_id = secret;
  s.accessor = random_uuid();
  s.num_uses = num_uses;
  s.ttl = ttl;
  s.creation_time = s.last_updated_time = now();
  if (ttl > 0) s.expiration_time = s.creation_time + std::chrono::seconds{ttl};
  s.cidr_list = cidrs;
  s.token_bound_cidrs = token_cidrs;
  json d = {{"secret_id", s.secret_id},
            {"secret_id_accessor", s.accessor},
            {"secret_id_ttl", s.ttl},
            {"secret_id_num_uses", s.num_uses}};
  r->accessors[s.accessor] = s.secret_id;
  r->secret_ids.emplace(s.secret_id, std::move(s));
  return VaultResponse::ok(std::move(d));
}

VaultResponse Emulator::Core::secret_id_list(Call& c) {
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::bad("role " + qt(c.args[1]) + " does not exist");
  std::vector<std::string> keys;
  keys.reserve(r->accessors.size());
  for (const auto& [acc, id] : r->accessors) keys.push_back(acc);
  std::sort(keys.begin(), keys.end());
  return VaultResponse::keys(std::move(keys));
}

VaultResponse Emulator::Core::secret_id_lookup(Call& c) {
  std::string secret = c.fields.str("secret_id");
  if (secret.empty()) return VaultResponse::bad("missing secret_id");
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::error(500, "role " + qt(c.args[1]) + " does not exist");
  auto it = r->secret_ids.find(secret);
  if (it == r->secret_ids.end()) return VaultResponse::nil();
  return VaultResponse::ok(secret_id_data(it->second));
}

VaultResponse Emulator::Core::secret_id_destroy(Call& c) {
  std::string secret = c.fields.str("secret_id");
  if (secret.empty()) return VaultResponse::bad("missing secret_id");
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::error(500, "role " + qt(c.args[1]) + " does not exist");
  auto it = r->secret_ids.find(secret);
  if (it != r->secret_ids.end()) {
    r->accessors.erase(it->second.accessor);
    r->secret_ids.erase(it);
  }
  return VaultResponse::nil();
}

VaultResponse Emulator::Core::secret_id_accessor_lookup(Call& c) {
  std::string accessor = c.fields.str("secret_id_accessor");
  if (accessor.empty()) return VaultResponse::bad("missing secret_id_accessor");
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::error(500, "role " + qt(c.args[1]) + " does not exist");
  auto it = r->accessors.find(accessor);
  if (it == r->accessors.end()) {
    return VaultResponse::bad("failed to find accessor entry for secret_id_accessor: " + qt(accessor), 404);
  }
  return VaultResponse::ok(secret_id_data(r->secret_ids.at(it->second)));
}

VaultResponse Emulator::Core::secret_id_accessor_destroy(Call& c) {
  std::string accessor = c.fields.str("secret_id_accessor");
  if (accessor.empty()) return VaultResponse::bad("missing secret_id_accessor");
  Role* r = role_of(c);
  if (r == nullptr) return VaultResponse::error(500, "role " + qt(c.args[1]) + " does not exist");
  auto it = r->accessors.find(accessor);
  if (it == r->accessors.end()) {
    return VaultResponse::error(500, "failed to find accessor entry for secret_id_accessor: " + qt(accessor));
  }
  r->secret_ids.erase(it->second);
  r->accessors.erase(it);
  return VaultResponse::nil();
}

void Emulator::Core::tidy_secret_ids() {
  WallTime t = now();
  for (auto& [path, m] : state.mounts) {
    for (auto& [name, r] : m.roles) {
      for (auto it = r.secret_ids.begin(); it != r.secret_ids.end();) {
        if (it->second.expiration_time != WallTime{} && t > it->second.expiration_time) {
          r.accessors.erase(it->second.accessor);
          it = r.secret_ids.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
}

VaultResponse Emulator::Core::approle_tidy(Call&) {
  tidy_secret_ids();
  VaultResponse r = VaultResponse::ok(nullptr);
  r.status = 202;
  r.warnings.push_back(
      "Tidy operation successfully started. Any information from the operation will be printed "
      "to Vault's server logs.");
  return r;
}

}  // namespace ps::vault::emulator
