// Random but realistic governance ledgers, created from the upstream schema, for tests, the
// demo and the benchmark.
//
// Every tier; agents that meet their tier's requirements (ELIGIBLE / PENDING_REVIEW), miss
// one or two (runs, consecutive runs, an action type, modifications, violations), have no
// action in the 30-day window (the reference engine's NULL-sum crash), or sit at tier 4.
// Actions are spread over ~60 days before `now` (a few minutes after it too: clock skew),
// inserted in timestamp order like an append-only log, with a few timestamps in SQLite's
// "YYYY-MM-DD HH:MM:SS" and "...Z" shapes. Agent ids include non-ASCII and quote characters.
// Promotion history has timestamp ties. Same options + seed = same file.
//
// With `invalid`, agents named invalid-* carry data that breaks the upstream contract (see
// GenSummary::invalid_agents); everything else stays valid.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ps::testing {

struct GenOptions {
  std::string out;          // must not exist (unless overwrite)
  std::string schema_path;  // the upstream schema SQL
  std::int64_t agents = 1000;
  std::int64_t actions = 50000;
  std::uint64_t seed = 1;
  std::chrono::system_clock::time_point now;
  bool invalid = false;
  bool overwrite = false;
};

struct GenSummary {
  std::int64_t agents = 0, actions = 0, violations = 0, promotions = 0;
  // Agent id -> what is wrong with it (only with GenOptions::invalid).
  std::vector<std::pair<std::string, std::string>> invalid_agents;
};

// Throws std::runtime_error with a one-line message on failure (test support, not product).
GenSummary generate_ledger(const GenOptions& options);

}  // namespace ps::testing
