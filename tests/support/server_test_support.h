// Helpers shared by the serve tests (unit and integration): ledgers with agents ready for
// their next tier, a dump of every table to prove "nothing changed", signed approvals.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/test_support.h"

namespace ps::testing {

// A ledger from the upstream schema at `path` (not migrated).
void create_ledger(const std::string& path);

// Inserts `agent` at `tier` with a record that meets the default rules of every tier, so the
// next promotion is ELIGIBLE (T0, T1) or PENDING_REVIEW (T2, T3) at `now`.
void seed_ready_agent(RawLedger& raw, const std::string& agent, int tier,
                      std::chrono::system_clock::time_point now);
// An agent at `tier` with no record (NOT_ELIGIBLE).
void seed_new_agent(RawLedger& raw, const std::string& agent, int tier);

// Every row of every table, as "table|cell|cell..." lines, tables in name order.
std::vector<std::string> dump_ledger(RawLedger& raw);

// A Standard Webhooks secret for tests: "whsec_" + base64 of `key`.
std::string make_secret(const std::string& key);

// {"type": type, "data": {"agent_id", "target_tier", "approver"[, "rationale"]}}
std::string approval_body(const std::string& agent, int target_tier, const std::string& approver,
                          const std::string& type = "promotion.approved");

struct SignedHeaders {
  std::string id;
  std::string timestamp;
  std::string signature;
};
SignedHeaders sign_approval(const std::string& secret, const std::string& id,
                            std::int64_t timestamp, const std::string& body);

}  // namespace ps::testing
