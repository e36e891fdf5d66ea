// Shared fixture for the sync unit tests: a real ledger file (upstream schema, migrated) in a
// temp dir, a SimulatedClock, the in-memory FakeVault, a recording SyncEvents and a captured
// log. Tier changes go through the real Ledger::promote/demote with the real outbox hook.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/ledger/ledger.h"
#include "engine/ledger/outbox.h"
#include "engine/rules/rules.h"
#include "sidecar/config/log.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/events.h"
#include "sidecar/sync/outbox_hook.h"
#include "sidecar/sync/reconciler.h"
#include "sidecar/sync/sync_worker.h"
#include "tests/support/fake_vault.h"
#include "tests/support/test_support.h"
#include "tests/support/simulated_clock.h"

namespace ps::sidecar::testing {

using ps::testing::FakeVault;
using ps::testing::FakeVaultState;

// Every requirement switched off: any agent may be promoted one tier at a time.
engine::Rules permissive_rules();

struct RecordingEvents final : SyncEvents {
  std::mutex mu;
  std::vector<SyncedEvent> synced;
  std::vector<RetryScheduledEvent> retries;
  std::vector<ParkedEvent> parked;
  std::vector<SupersededEvent> superseded;
  std::vector<VaultUnavailableEvent> unavailable;
  int available = 0;
  std::vector<DriftEvent> drift_found;
  std::vector<DriftEvent> drift_corrected;
  std::vector<ReconcileSummary> reconciles;

  void on_synced(const SyncedEvent& e) override { add(synced, e); }
  void on_retry_scheduled(const RetryScheduledEvent& e) override { add(retries, e); }
  void on_parked(const ParkedEvent& e) override { add(parked, e); }
  void on_superseded(const SupersededEvent& e) override { add(superseded, e); }
  void on_vault_unavailable(const VaultUnavailableEvent& e) override { add(unavailable, e); }
  void on_vault_available() override {
    std::lock_guard<std::mutex> lock(mu);
    ++available;
  }
  void on_drift_found(const DriftEvent& e) override { add(drift_found, e); }
  void on_drift_corrected(const DriftEvent& e) override { add(drift_corrected, e); }
  void on_reconcile_done(const ReconcileSummary& s) override { add(reconciles, s); }

 private:
  template <class T>
  void add(std::vector<T>& v, const T& e) {
    std::lock_guard<std::mutex> lock(mu);
    v.push_back(e);
  }
};

class SyncFixture {
 public:
  explicit SyncFixture(RolesConfig roles = {});

  // agent_metrics rows (tier as given).
  void add_agent(const std::string& agent, std::int64_t tier);
  void add_agents(const std::string& prefix, int n, std::int64_t tier);

  // Real tier changes with the real hook (one ledger transaction each); REQUIRE success.
  engine::PromotionRecord promote(const std::string& agent);
  engine::DemotionRecord demote(const std::string& agent, std::int64_t to_tier);
  // Many promotions' ledger writes (tier, outbox row through engine::write_desired_state) in
  // ONE transaction: for tests that need many pending rows without a commit each.
  void promote_many(const std::vector<std::string>& agents);

  std::optional<engine::OutboxRow> row(const std::string& agent);
  engine::OutboxStats stats();
  std::vector<engine::SyncHistoryEntry> history(const std::string& agent);

  OutboxFactory outbox_factory() const;
  VaultApiFactory vault_factory() const;
  std::unique_ptr<SyncWorker> worker(SyncConfig config = {}, SyncWorkerOptions options = {});
  std::unique_ptr<Reconciler> reconciler(ReconcileConfig config = {},
                                         ReconcilerOptions options = {});

  // The role name of an agent under the default template.
  static std::string role_of(const std::string& agent) { return "agent-" + agent; }
  bool log_contains(const std::string& text);

  ps::testing::TempDir dir;
  std::string db;
  SimulatedClock clock;
  std::shared_ptr<FakeVaultState> vault = std::make_shared<FakeVaultState>();
  std::shared_ptr<const DesiredState> desired;
  HandoffFor handoff;  // promote() and demote() hand their rows to it (make_outbox_hook)
  RecordingEvents events;
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  Logger log;
  RandomSource random;

 private:
  std::unique_ptr<engine::Ledger> ledger_;
  std::unique_ptr<ps::testing::RawLedger> raw_;
};

}  // namespace ps::sidecar::testing
