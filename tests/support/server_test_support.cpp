#include "tests/support/server_test_support.h"

#include "tls/digest.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "sidecar/server/webhook_signature.h"

namespace ps::testing {

void create_ledger(const std::string& path) { RawLedger raw(path, true); }

void seed_ready_agent(RawLedger& raw, const std::string& agent, int tier,
                      std::chrono::system_clock::time_point now) {
  raw.metrics(agent, tier, 60, 30, 60);
  const char* actions[] = {"generate_plan", "ansible_check", "terraform_plan", "ansible_run",
                           "terraform_apply"};
  for (const char* a : actions) {
    raw.action(agent, iso_at(now, -std::chrono::hours(24)), a, "EXECUTE", 1);
  }
}

void seed_new_agent(RawLedger& raw, const std::string& agent, int tier) {
  raw.metrics(agent, tier, 0, 0, 0);
}

std::vector<std::string> dump_ledger(RawLedger& raw) {
  std::vector<std::string> out;
  for (const auto& table :
       raw.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name")) {
    for (const auto& row : raw.rows("SELECT * FROM \"" + table + "\" ORDER BY rowid")) {
      out.push_back(table + "|" + row);
    }
  }
  return out;
}

std::string make_secret(const std::string& key) {
  return "whsec_" + tls::base64_encode(key);
}

std::string approval_body(const std::string& agent, int target_tier, const std::string& approver,
                          const std::string& type) {
  nlohmann::ordered_json j;
  j["type"] = type;
  j["data"] = {{"agent_id", agent}, {"target_tier", target_tier}, {"approver", approver},
               {"rationale", "reviewed in test"}};
  return j.dump();
}

SignedHeaders sign_approval(const std::string& secret, const std::string& id,
                            std::int64_t timestamp, const std::string& body) {
  auto s = sidecar::WebhookSecret::parse(secret);
  if (!s.ok()) throw std::runtime_error("bad test secret");
  const std::string ts = std::to_string(timestamp);
  return {id, ts, sidecar::server::sign_webhook(*s, id, ts, body)};
}

}  // namespace ps::testing
