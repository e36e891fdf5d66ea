// The config file's `revocation` section: how violations the platform writes turn into
// demotions, what happens in Vault after a demotion, and the cooldown after one.
//
//   "revocation": {
//     "watch": true,                 // serve polls the violations table (default true)
//     "poll_interval_s": 2,
//     "batch": 500,                  // violations per transaction
//     "cooldown_days": 7,            // no promotion this long after any demotion
//     "acknowledged": "act",         // "act" (acknowledged is not forgiven) | "skip"
//     "rules": {
//       "severity": {"critical": {"demote_to": 0}, "high": "demote_one",
//                    "medium": "none", "low": "none"},
//       "violation_type": {"credential_leak": {"demote_to": 0}}   // wins over severity
//     },
//     "vault": {"destroy_secret_ids": true, "revoke_tokens": false}
//   }
// A rule is "none", "demote_one" or {"demote_to": N} (N 0..4). Severity keys are low, medium,
// high, critical (given ones replace the defaults; the others keep theirs). Errors name the
// key path like every other section.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"

namespace ps::sidecar {

struct Config;

struct RevocationRule {
  enum class Kind { none, demote_one, demote_to };
  Kind kind = Kind::none;
  std::int64_t tier = 0;  // demote_to
  // "none" | "demote_one" | "demote_to 2"
  std::string describe() const;
  bool operator==(const RevocationRule&) const = default;
};

struct RevocationConfig {
  bool watch = true;
  std::chrono::milliseconds poll_interval{2000};
  std::int64_t batch = 500;
  std::int64_t cooldown_days = 7;
  bool act_on_acknowledged = true;
  // By severity (lowercase low/medium/high/critical) and by violation_type (exact).
  std::map<std::string, RevocationRule> by_severity = {
      {"critical", {RevocationRule::Kind::demote_to, 0}},
      {"high", {RevocationRule::Kind::demote_one, 0}},
      {"medium", {RevocationRule::Kind::none, 0}},
      {"low", {RevocationRule::Kind::none, 0}}};
  std::map<std::string, RevocationRule> by_type;
  // The Vault-side steps after a demotion (the role's token_policies always change first).
  bool destroy_secret_ids = true;
  // Needs `sudo` on auth/token/accessors (listing every token accessor): opt-in.
  bool revoke_tokens = false;
};

Status parse_revocation_section(const nlohmann::ordered_json& section, const std::string& path,
                                Config& config);

}  // namespace ps::sidecar
