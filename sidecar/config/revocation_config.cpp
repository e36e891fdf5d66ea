#include "sidecar/config/revocation_config.h"

#include "sidecar/config/config.h"
#include "sidecar/config/config_read.h"

namespace ps::sidecar {
namespace {

using namespace config_read;

constexpr const char* kSeverities[] = {"low", "medium", "high", "critical"};

Status parse_rule(const json& v, const std::string& path, RevocationRule& out) {
  if (v.is_string() && v == "none") {
    out = {RevocationRule::Kind::none, 0};
    return Status::success();
  }
  if (v.is_string() && v == "demote_one") {
    out = {RevocationRule::Kind::demote_one, 0};
    return Status::success();
  }
  if (v.is_object() && v.size() == 1 && v.contains("demote_to")) {
    std::int64_t tier = 0;
    if (Status s = read_int(v["demote_to"], key_path(path, "demote_to"), tier, 0, 4); !s.ok()) {
      return s;
    }
    out = {RevocationRule::Kind::demote_to, tier};
    return Status::success();
  }
  return invalid(path, "must be \"none\", \"demote_one\" or {\"demote_to\": 0..4}");
}

Status parse_severity_rules(const json& v, const std::string& path, RevocationConfig& c) {
  if (Status s = require_object(v, path); !s.ok()) return s;
  for (const auto& [key, value] : v.items()) {
    const std::string p = key_path(path, key);
    if (std::find(std::begin(kSeverities), std::end(kSeverities), key) == std::end(kSeverities)) {
      return unknown(p, "low, medium, high, critical");
    }
    if (Status s = parse_rule(value, p, c.by_severity[key]); !s.ok()) return s;
  }
  return Status::success();
}

Status parse_type_rules(const json& v, const std::string& path, RevocationConfig& c) {
  if (Status s = require_object(v, path); !s.ok()) return s;
  for (const auto& [key, value] : v.items()) {
    const std::string p = key_path(path, key);
    if (key.empty()) return invalid(p, "a violation_type must not be empty");
    if (Status s = parse_rule(value, p, c.by_type[key]); !s.ok()) return s;
  }
  return Status::success();
}

Status parse_rules(const json& v, const std::string& path, RevocationConfig& c) {
  if (Status s = require_object(v, path); !s.ok()) return s;
  for (const auto& [key, value] : v.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "severity") {
      s = parse_severity_rules(value, p, c);
    } else if (key == "violation_type") {
      s = parse_type_rules(value, p, c);
    } else {
      s = unknown(p, "severity, violation_type");
    }
    if (!s.ok()) return s;
  }
  return Status::success();
}

Status parse_vault_steps(const json& v, const std::string& path, RevocationConfig& c) {
  if (Status s = require_object(v, path); !s.ok()) return s;
  for (const auto& [key, value] : v.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "destroy_secret_ids") {
      s = read_bool(value, p, c.destroy_secret_ids);
    } else if (key == "revoke_tokens") {
      s = read_bool(value, p, c.revoke_tokens);
    } else {
      s = unknown(p, "destroy_secret_ids, revoke_tokens");
    }
    if (!s.ok()) return s;
  }
  return Status::success();
}

Status parse_acknowledged(const json& v, const std::string& path, RevocationConfig& c) {
  if (!v.is_string() || (v != "act" && v != "skip")) {
    return invalid(path, "must be \"act\" or \"skip\"");
  }
  c.act_on_acknowledged = v == "act";
  return Status::success();
}

}  // namespace

std::string RevocationRule::describe() const {
  switch (kind) {
    case Kind::none: return "none";
    case Kind::demote_one: return "demote_one";
    case Kind::demote_to: return "demote_to " + std::to_string(tier);
  }
  return "none";
}

Status parse_revocation_section(const json& section, const std::string& path, Config& config) {
  if (Status s = require_object(section, path); !s.ok()) return s;
  RevocationConfig& c = config.revocation;
  for (const auto& [key, value] : section.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "watch") {
      s = read_bool(value, p, c.watch);
    } else if (key == "poll_interval_s") {
      s = read_seconds(value, p, c.poll_interval, 0.05);
    } else if (key == "batch") {
      s = read_int(value, p, c.batch, 1, 100000);
    } else if (key == "cooldown_days") {
      s = read_int(value, p, c.cooldown_days, 0, 3650);
    } else if (key == "acknowledged") {
      s = parse_acknowledged(value, p, c);
    } else if (key == "rules") {
      s = parse_rules(value, p, c);
    } else if (key == "vault") {
      s = parse_vault_steps(value, p, c);
    } else {
      s = unknown(p, "watch, poll_interval_s, batch, cooldown_days, acknowledged, rules, vault");
    }
    if (!s.ok()) return s;
  }
  return Status::success();
}

}  // namespace ps::sidecar
