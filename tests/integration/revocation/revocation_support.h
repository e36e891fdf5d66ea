// Shared pieces of the revocation end-to-end tests (tests/integration/revocation):
//  - VaultClient: a kept-alive TLS connection to the emulator for checks (role policies,
//    AppRole logins as the agent would do them, lookup-self with the agent's token, the
//    role's secret IDs);
//  - violations written as the platform writes them (raw SQL on another connection);
//  - RuleModel: the revocation rules re-implemented from the config's JSON, independent of
//    sidecar/, to replay violations in id order and get the tiers and outcomes they must give;
//  - exactly_once_problems(): the ledger invariants every test checks (one outcome per
//    violation, one demotion per demoting violation and none for the others, the mark).
// Setup failures throw std::runtime_error.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/emulator_process.h"
#include "tests/support/test_support.h"

namespace httplib {
class SSLClient;
}

namespace ps::testing::revocation {

using PolicyList = std::vector<std::string>;

// The policies the default roles config gives a tier ("t<N>-observer").
PolicyList tier_policies(std::int64_t tier);

class VaultClient {
 public:
  // `address` https://127.0.0.1:PORT, `ca_file` the dev CA.
  VaultClient(const std::string& address, const std::string& ca_file, std::string root_token);
  ~VaultClient();
  VaultClient(const VaultClient&) = delete;
  VaultClient& operator=(const VaultClient&) = delete;

  using Reply = EmulatorProcess::Reply;
  // A request with `token` (none when empty). Throws when no answer came (after one retry on a
  // fresh connection).
  Reply call(const std::string& token, const std::string& method, const std::string& path,
             const nlohmann::json& body = nullptr);
  Reply root(const std::string& method, const std::string& path,
             const nlohmann::json& body = nullptr) {
    return call(root_token_, method, path, body);
  }

  // auth/approle/role/<role>: token_policies sorted, nullopt when the role is missing.
  std::optional<PolicyList> role_policies(const std::string& role);
  void put_role(const std::string& role, const PolicyList& policies);

  // What an agent holds after an AppRole login.
  struct Credentials {
    std::string role;
    std::string secret_id;
    std::string secret_id_accessor;
    std::string token;
    std::string accessor;
    PolicyList policies;  // the token's, sorted
  };
  // A new secret ID (as root, like the platform's provisioning), then the agent's login with
  // role_id + secret_id. Throws unless both succeed.
  Credentials login(const std::string& role);
  // Only the secret ID (as root); login_with() logs in with it later.
  Credentials new_secret_id(const std::string& role);
  Credentials login_with(const std::string& role, const Credentials& secret);
  // Logs in again with an existing secret ID: the HTTP status (200, or 400 once destroyed).
  int login_status(const std::string& role, const std::string& secret_id);
  // GET auth/token/lookup-self with the token: 200 alive, 403 revoked.
  int lookup_self(const std::string& token);
  // The role's secret-ID accessors (empty when none or the role is missing).
  std::vector<std::string> secret_id_accessors(const std::string& role);
  bool has_secret_id(const std::string& role, const std::string& accessor);

 private:
  std::string host_;
  int port_ = 0;
  std::string ca_;
  std::string root_token_;
  std::unique_ptr<httplib::SSLClient> http_;
  std::map<std::string, std::string> role_ids_;
};

// One violations row as the platform writes it.
struct NewViolation {
  std::string agent;
  std::string severity = "critical";
  std::string violation_type = "scope_exceeded";
  bool acknowledged = false;
  std::optional<std::int64_t> id;  // an explicit id (a late insert below the mark)
};
// Inserts it on `raw` (now as the timestamp) and returns its id.
std::int64_t insert_violation(RawLedger& raw, const NewViolation& v);

// The revocation rules from the config's `revocation` JSON (defaults of
// sidecar/config/revocation_config.h where it says nothing).
class RuleModel {
 public:
  explicit RuleModel(const nlohmann::json& revocation = nlohmann::json::object());

  struct Decision {
    // demoted (to_tier, possibly the same tier: revoked in place), no_action,
    // invalid_severity
    std::string outcome;
    std::int64_t to_tier = 0;
  };
  Decision decide(const std::string& violation_type, const std::string& severity,
                  bool acknowledged, std::int64_t tier) const;

 private:
  struct Rule {
    enum Kind { none, demote_one, demote_to } kind = none;
    std::int64_t tier = 0;
  };
  static Rule parse(const nlohmann::json& j);
  std::map<std::string, Rule> severity_;
  std::map<std::string, Rule> type_;
  bool act_on_acknowledged_ = true;
};

// The expected result of violations handled once each, in id order.
struct Replay {
  std::map<std::string, std::int64_t> tiers;        // agent -> tier afterwards
  std::map<std::int64_t, std::string> outcomes;     // violation id -> outcome
  std::int64_t demoting = 0;                        // outcomes "demoted"
};
// Applies the violations with id in (after_id, up_to_id] (all of them when unset) of the
// ledger to `tiers` (the agents' tiers before them; agents missing there are unknown_agent).
Replay replay(RawLedger& raw, const RuleModel& rules, std::map<std::string, std::int64_t> tiers,
              std::int64_t after_id, std::optional<std::int64_t> up_to_id = std::nullopt);

// The exactly-once invariants of the revocation tables; one line per problem (empty: none).
//  - every violations row has exactly one outcome row, and every outcome row a violation;
//  - no violation has more than one sidecar_demotions row;
//  - violation-sourced demotions == outcomes 'demoted', each such outcome pointing at the
//    demotion row of its own violation and agent; other outcomes have no demotion;
//  - the mark is the highest violation id when every violation is handled.
std::vector<std::string> exactly_once_problems(RawLedger& raw);
// The problems one per line ("" when none).
std::string problems_text(const std::vector<std::string>& problems);

// agent -> current_tier of every agent_metrics row.
std::map<std::string, std::int64_t> ledger_tiers(RawLedger& raw);

// Printable forms for assertions: "a,b" ("<missing>" for nullopt); "agent=tier ...".
std::string text(const std::optional<PolicyList>& policies);
std::string text(const std::map<std::string, std::int64_t>& tiers);

// Seconds since `start` (steady clock), for the reported figures.
double seconds_since(std::chrono::steady_clock::time_point start);

// Reads a positive integer from the environment (`fallback` when unset or not a number).
int env_int(const char* name, int fallback);

}  // namespace ps::testing::revocation
