// The reconciler: compares every agent's desired state (its tier in the ledger, mapped by
// roles.tier_policies) with the token_policies Vault holds, and records, reports or repairs
// the differences (architecture "Data flow" step 4).
//
// A pass walks agent_metrics in agent order, reconcile.page_size agents at a time; for each
// page it reads the roles from Vault with reconcile.concurrency threads (one VaultApi, i.e.
// one keep-alive connection, each; requests through the shared RateLimiter), then decides per
// agent, then writes the page's records in one ledger transaction:
//   - a pending outbox row for the agent's current tier: the push will fix it ("wait");
//   - a parked (failed) row: requeued ("retry"), in every drift mode;
//   - Vault matches (DesiredState::matches): in sync;
//   - otherwise drift ("policies", or "role_missing"): recorded in sidecar_drift, counted,
//     logged and reported (SyncEvents::on_drift_found); in mode correct, repaired through the
//     outbox (a new generation; a missing role only when roles.missing_role = create).
// While frozen (the kill switch), every agent's desired state is tier 0's whatever its ledger
// tier says. The unjustified-privilege rule (DesiredState::unjustified): a managed tier policy
// the ledger does not justify is removed in every mode but ignore (detect repairs such drift
// too; only under-privilege is merely reported there) - for every agent, frozen or not, and for
// orphan roles (roles in the mount that fit the name template but belong to no ledger agent,
// compared after the template's lowercasing; read with the same reading threads; deleting
// them is opt-in, reconcile.delete_orphan_roles). Each pass also requeues parked revocation
// steps.
// Mode ignore reads nothing from Vault (only requeues parked rows). A dry run reads but writes
// nothing and changes nothing: its plan says what a real pass would do.
// A Vault-wide failure (down, sealed, own token) stops the pass (report.error, complete =
// false); an error reading one role is counted and the pass goes on.
//
// Threading: run() may be called from any thread; passes are serialised. run_loop() and
// trigger() for the daemon.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "sidecar/config/log.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/events.h"
#include "sidecar/sync/rate_limiter.h"
#include "sidecar/sync/revocation_runner.h"  // StepsFactory
#include "sidecar/config/sync_settings.h"
#include "sidecar/sync/sync_worker.h"  // OutboxFactory, VaultApiFactory
#include "engine/base/clock.h"

namespace ps::sidecar {

// One difference, as the plan shows it.
struct PlanLine {
  std::string agent_id;
  std::string role;                // empty when the agent id cannot name a role
  std::int64_t tier = 0;
  PolicyList expected;             // the tier's policies
  std::optional<PolicyList> found; // nullopt: the role does not exist (or was not read)
  // policies | role_missing (drift); pending (a queued push will fix it); parked (a parked
  // push is retried); invalid_role (the id cannot name a role).
  std::string kind;
  // report | repair | create | wait | retry | none (dry run: what would be done)
  std::string action;
};

struct ReconcileReport {
  ReconcileSummary summary;
  // Every difference in agent order, up to ReconcilerOptions::max_plan_lines (the rest are
  // counted in plan_truncated; on_plan_line sees all).
  std::vector<PlanLine> plan;
  std::int64_t plan_truncated = 0;
  std::vector<std::string> errors;  // per-agent problems (at most 100 kept)
  std::vector<std::string> orphans; // orphan role names (at most max_plan_lines kept)
  std::vector<std::string> long_ttl_roles;  // tokens may outlive roles.max_token_ttl_s
  // True when Vault differs from the ledger in any way a pass can see (drift, missing role,
  // pending or parked pushes): `--detailed-exitcode` 2.
  bool differences() const { return !plan.empty() || plan_truncated > 0; }
};

struct ReconcilerOptions {
  std::shared_ptr<RateLimiter> limiter;  // null = unlimited for this reconciler
  std::size_t max_plan_lines = 10000;
  // Sees every plan line as it is decided (the CLI prints them); called on run()'s thread.
  std::function<void(const PlanLine&)> on_plan_line;
  std::chrono::milliseconds wait_slice{100};  // interruptible waits in run_loop()
  StepsFactory open_steps;  // parked revocation steps are requeued each pass; empty: not
};

class Reconciler {
 public:
  Reconciler(OutboxFactory open_outbox, VaultApiFactory make_vault,
             std::shared_ptr<const DesiredState> desired, ReconcileConfig config, Clock& clock,
             RandomSource random, Logger& log, SyncEvents& events,
             ReconcilerOptions options = {});
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // One pass (see above). Errors: the ledger could not be read or written. A Vault outage is
  // not an error of run(): it ends the pass early with summary.complete = false.
  Result<ReconcileReport> run(bool dry_run);

  // The wait before the next scheduled pass: interval_s +- jitter (uniform).
  std::chrono::milliseconds next_interval();

  // Runs a pass at once, then on schedule (and on trigger()) until should_stop() or
  // request_stop(); `done` (optional) sees each report.
  void run_loop(const std::function<bool()>& should_stop,
                const std::function<void(const Result<ReconcileReport>&)>& done = {});
  // Asks run_loop() for a pass now.
  void trigger();
  void request_stop();

 private:
  struct Page;
  // What reading (and, unless a dry run, stripping) one orphan role did.
  struct OrphanOutcome {
    PolicyList found;                  // sorted
    PolicyList excess;                 // managed policies nothing justifies
    bool stripped = false;
    bool deleted = false;
    std::optional<std::string> error;  // the strip failed
  };
  Status reconcile_page(bool dry_run, Page& page, ReconcileReport& report,
                                engine::Outbox& outbox);
  void check_token_ttl(const std::string& role, std::int64_t ttl_s, ReconcileReport& report);
  void reconcile_agent(bool dry_run, const Page& page, std::size_t i, ReconcileReport& report,
                       engine::ReconcileWrites& writes);
  void record_drift(bool dry_run, const engine::AgentSyncView& agent, PlanLine line,
                    bool missing, ReconcileReport& report, engine::ReconcileWrites& writes);
  void read_in_parallel(std::size_t n,
                        const std::function<bool(std::size_t, std::size_t)>& read);
  void read_roles(Page& page);
  Status walk_agents(bool dry_run, ReconcileReport& report);
  Status requeue_parked_only(bool dry_run, ReconcileReport& report);
  void reconcile_orphans(bool dry_run, ReconcileReport& report);
  vault::Result<std::optional<OrphanOutcome>> strip_orphan(bool dry_run, vault::VaultApi& vault,
                                                          const vault::RoleName& role);
  void report_orphan(bool dry_run, const std::string& role, const OrphanOutcome& outcome,
                     ReconcileReport& report);
  void finish_report(bool dry_run, ReconcileReport& report, Clock::SteadyTime start);
  vault::VaultApi& api(std::size_t i);
  void add_line(ReconcileReport& report, PlanLine line);

  OutboxFactory open_outbox_;
  VaultApiFactory make_vault_;
  std::shared_ptr<const DesiredState> desired_;
  ReconcileConfig config_;
  Clock& clock_;
  RandomSource random_;
  Logger& log_;
  SyncEvents& events_;
  ReconcilerOptions options_;

  std::mutex run_mu_;  // one pass at a time; guards apis_ and outbox_
  std::vector<std::unique_ptr<vault::VaultApi>> apis_;  // one per reading thread
  std::unique_ptr<engine::Outbox> outbox_;
  std::set<std::string> agent_roles_;  // this pass's agents' roles (orphan detection)
  bool frozen_ = false;                // this pass's
  std::map<std::string, engine::Outbox::Collision> collisions_;  // this pass's

  std::atomic<bool> stop_{false};
  std::atomic<bool> triggered_{false};
};

}  // namespace ps::sidecar
