#include "sidecar/sync/reconciler.h"

#include <algorithm>
#include <thread>

namespace ps::sidecar {
namespace {

using vault::ErrorCode;

constexpr std::size_t kMaxErrorsKept = 100;

// Errors reading one role that say nothing about Vault as a whole.
bool is_role_problem(ErrorCode code) {
  switch (code) {
    case ErrorCode::permission_denied:
    case ErrorCode::invalid_request:
    case ErrorCode::not_found:
    case ErrorCode::bad_response:
    case ErrorCode::unexpected_status:
    case ErrorCode::invalid_argument:
    case ErrorCode::role_missing:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct Reconciler::Page {
  std::vector<engine::AgentSyncView> agents;
  std::vector<std::optional<vault::RoleName>> roles;  // nullopt: not read
  std::vector<std::optional<vault::Result<std::optional<PolicyList>>>> found;
  std::vector<std::int64_t> token_ttl_s;  // the longest a token of the role may live
  std::optional<vault::Error> global_error;  // set by the first Vault-wide failure
  std::mutex mu;                             // guards global_error
};

Reconciler::Reconciler(OutboxFactory open_outbox, VaultApiFactory make_vault,
                       std::shared_ptr<const DesiredState> desired, ReconcileConfig config,
                       Clock& clock, RandomSource random, Logger& log, SyncEvents& events,
                       ReconcilerOptions options)
    : open_outbox_(std::move(open_outbox)),
      make_vault_(std::move(make_vault)),
      desired_(std::move(desired)),
      config_(config),
      clock_(clock),
      random_(std::move(random)),
      log_(log),
      events_(events),
      options_(std::move(options)) {
  if (!options_.limiter) options_.limiter = std::make_shared<RateLimiter>(0, clock_);
  config_.concurrency = std::max<std::int64_t>(1, config_.concurrency);
  config_.page_size = std::max<std::int64_t>(1, config_.page_size);
}

Reconciler::~Reconciler() = default;

vault::VaultApi& Reconciler::api(std::size_t i) {
  // REQUIRES run_mu_ held by the pass; apis_ is sized before reading threads start.
  if (apis_.size() <= i) apis_.resize(i + 1);
  if (!apis_[i]) apis_[i] = make_vault_();
  return *apis_[i];
}

void Reconciler::trigger() { triggered_.store(true); }
void Reconciler::request_stop() { stop_.store(true); }

std::chrono::milliseconds Reconciler::next_interval() {
  const double base = config_.interval_s * 1000.0;
  const double factor = 1.0 + config_.jitter * (2.0 * random_() - 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, base * factor)));
}

void Reconciler::add_line(ReconcileReport& report, PlanLine line) {
  if (options_.on_plan_line) options_.on_plan_line(line);
  if (report.plan.size() < options_.max_plan_lines) {
    report.plan.push_back(std::move(line));
  } else {
    ++report.plan_truncated;
  }
}

namespace {

std::string lower_ascii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Vault's mount default when a role sets neither token_ttl nor token_max_ttl (768 h).
constexpr std::int64_t kMountDefaultTtlS = 768 * 3600;

std::int64_t longest_token_ttl(const vault::RoleInfo& info) {
  if (info.token_max_ttl > 0) return info.token_max_ttl;
  if (info.token_ttl > 0) return std::max(info.token_ttl, info.token_period);
  if (info.token_period > 0) return info.token_period;  // periodic: renewable forever
  return kMountDefaultTtlS;
}

}  // namespace

// Calls read(k, i) for every i < n with up to `concurrency` threads; k is the thread's index,
// so its client is api(k). A read that returns false (a Vault-wide failure) stops every thread
// from starting another.
void Reconciler::read_in_parallel(std::size_t n,
                                  const std::function<bool(std::size_t, std::size_t)>& read) {
  const std::size_t threads_wanted =
      std::min<std::size_t>(static_cast<std::size_t>(config_.concurrency), std::max<std::size_t>(n, 1));
  if (apis_.size() < threads_wanted) apis_.resize(threads_wanted);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> abort{false};
  auto work = [&](std::size_t k) {
    while (!abort.load()) {
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      if (!read(k, i)) abort.store(true);
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t k = 1; k < threads_wanted; ++k) threads.emplace_back(work, k);
  work(0);
  for (auto& t : threads) t.join();
}

// Reads the page's roles. The first Vault-wide failure is the page's global_error.
void Reconciler::read_roles(Page& page) {
  const std::size_t n = page.agents.size();
  page.found.assign(n, std::nullopt);
  page.token_ttl_s.assign(n, 0);
  read_in_parallel(n, [&](std::size_t k, std::size_t i) {
    if (!page.roles[i]) return true;
    options_.limiter->acquire();
    auto result = api(k).read_role(*page.roles[i]);
    if (!result) {
      page.found[i] = result.error();
      if (is_role_problem(result.error().code)) return true;
      std::lock_guard<std::mutex> lock(page.mu);
      if (!page.global_error) page.global_error = result.error();
      return false;
    }
    if (!*result) {
      page.found[i] = std::optional<PolicyList>{};
    } else {
      const vault::RoleInfo& info = **result;
      // A role read back with empty token_policies shows the legacy `policies`.
      page.found[i] = std::optional<PolicyList>(info.token_policies.empty() ? info.policies
                                                                            : info.token_policies);
      page.token_ttl_s[i] = longest_token_ttl(info);
    }
    return true;
  });
}

// One agent of a page: in sync, explained by a queued or parked push, or drift.
void Reconciler::reconcile_agent(bool dry_run, const Page& page, std::size_t i,
                                 ReconcileReport& report, engine::ReconcileWrites& writes) {
  ReconcileSummary& sum = report.summary;
  const engine::AgentSyncView& v = page.agents[i];
  ++sum.agents;
  if (v.problem) {
    ++sum.errors;
    if (report.errors.size() < kMaxErrorsKept) report.errors.push_back(*v.problem);
    return;
  }
  // Frozen: tier 0's, whatever the ledger says. A role shared by agents whose ids differ only
  // in case: the lowest tier among them.
  std::int64_t tier = frozen_ ? 0 : *v.tier;
  if (auto c = collisions_.find(lower_ascii(v.agent_id)); c != collisions_.end()) {
    tier = std::min(tier, c->second.lowest_tier);
  }
  const PolicyList expected = desired_->policies_for_tier(tier);
  PlanLine line{v.agent_id, "", tier, expected, std::nullopt, "", ""};
  if (!page.roles[i]) {
    ++sum.errors;
    line.kind = "invalid_role";
    line.action = "none";
    return add_line(report, std::move(line));
  }
  line.role = page.roles[i]->str();
  agent_roles_.insert(line.role);
  const auto& found = *page.found[i];
  if (found.ok() && *found) line.found = canonical(**found);  // shown as a sorted set

  const auto& row = v.row;
  const bool row_current =
      row && row->tier == tier && canonical(row->policies) == canonical(expected);
  if (row_current && row->state == engine::OutboxState::failed) {
    // A parked push for the current tier: retried, whatever the drift mode.
    ++sum.parked;
    line.kind = "parked";
    line.action = "retry";
    if (!dry_run) writes.requeues.push_back({v.agent_id, row->revision});
    return add_line(report, std::move(line));
  }
  if (!found.ok()) {
    ++sum.errors;
    if (report.errors.size() < kMaxErrorsKept) {
      report.errors.push_back("agent '" + v.agent_id + "' (role " + line.role +
                              "): " + found.error().describe());
    }
    return;
  }
  check_token_ttl(line.role, page.token_ttl_s[i], report);
  if (*found && desired_->matches(**found, expected)) {
    ++sum.in_sync;
    return;
  }
  if (row_current && row->state == engine::OutboxState::pending) {
    ++sum.pending;
    line.kind = "pending";
    line.action = "wait";
    return add_line(report, std::move(line));
  }
  record_drift(dry_run, v, std::move(line), !*found, report, writes);
}

// roles.max_token_ttl_s: tokens that may outlive a demotion by that much are reported.
void Reconciler::check_token_ttl(const std::string& role, std::int64_t ttl_s,
                                 ReconcileReport& report) {
  const std::int64_t ceiling = desired_->roles().max_token_ttl_s;
  if (ceiling <= 0 || ttl_s <= ceiling) return;
  ++report.summary.long_ttl_roles;
  if (report.long_ttl_roles.size() < options_.max_plan_lines) report.long_ttl_roles.push_back(role);
  log_.warn("reconcile.long_token_ttl",
            "the role's tokens may live longer than roles.max_token_ttl_s",
            {{"role", role}, {"token_ttl_s", ttl_s}, {"max_token_ttl_s", ceiling}});
}

// Vault differs and nothing queued explains it: counted, reported, recorded and (mode correct)
// repaired through the outbox.
void Reconciler::record_drift(bool dry_run, const engine::AgentSyncView& v, PlanLine line,
                              bool missing, ReconcileReport& report,
                              engine::ReconcileWrites& writes) {
  ReconcileSummary& sum = report.summary;
  const DriftMode mode = config_.drift_mode;
  missing ? ++sum.missing_roles : ++sum.drifted;
  line.kind = missing ? "role_missing" : "policies";
  // The unjustified-privilege rule: a managed policy the ledger does not justify is removed in
  // every mode but ignore (detect included; never by a dry run).
  const bool excess = line.found && !desired_->unjustified(*line.found, line.expected).empty();
  if (excess) ++sum.privilege_excess;
  const bool repair = (mode == DriftMode::correct &&
                       (!missing || desired_->missing_role() == MissingRole::create)) ||
                      (excess && mode != DriftMode::ignore);
  line.action = !repair ? "report" : missing ? "create" : "repair";
  if (repair) ++sum.repairs;
  events_.on_drift_found({v.agent_id, line.role, line.kind, line.expected, line.found, mode,
                          line.action, dry_run});
  const nlohmann::json fields = {{"agent_id", v.agent_id},
                                 {"role", line.role},
                                 {"kind", line.kind},
                                 {"expected", line.expected},
                                 {"found", line.found ? nlohmann::json(*line.found) : nullptr},
                                 {"action", line.action},
                                 {"dry_run", dry_run}};
  // A dry run only plans: its findings are not events an operator must act on.
  log_.log(dry_run ? LogLevel::info : LogLevel::warn, "reconcile.drift",
           missing ? "role missing in Vault" : "role policies drifted", fields);
  if (!dry_run) {
    writes.drift.push_back(engine::DriftRecord{engine::format_isoformat_utc(writes.now),
                                               v.agent_id, line.role, line.kind, line.expected,
                                               line.found, std::string(to_string(mode)),
                                               line.action});
    if (repair) {
      writes.repairs.push_back(
          {desired_->change_for(v.agent_id, line.tier, engine::ChangeKind::repair, writes.now),
           v.row ? v.row->generation : 0, *v.tier, frozen_});
    }
  }
  add_line(report, std::move(line));
}

Status Reconciler::reconcile_page(bool dry_run, Page& page, ReconcileReport& report,
                                  engine::Outbox& outbox) {
  engine::ReconcileWrites writes;
  writes.now = clock_.wall_now();
  for (std::size_t i = 0; i < page.agents.size(); ++i) {
    reconcile_agent(dry_run, page, i, report, writes);
  }
  if (dry_run || (writes.drift.empty() && writes.repairs.empty() && writes.requeues.empty())) {
    return Status::success();
  }
  const std::int64_t planned = static_cast<std::int64_t>(writes.repairs.size());
  auto written = outbox.write_reconcile(writes);
  if (!written.ok()) return written.status();
  // Repairs overtaken by a newer change since the page was read are not written (that change
  // queued its own push).
  report.summary.repairs -= planned - written->repairs_written;
  return Status::success();
}

// Drift mode ignore: roles are not compared; parked pushes are still retried.
Status Reconciler::requeue_parked_only(bool dry_run, ReconcileReport& report) {
  auto stats = outbox_->stats(clock_.wall_now(), static_cast<std::int64_t>(options_.max_plan_lines));
  if (!stats.ok()) return stats.status();
  for (const auto& row : stats->failed_rows) {
    if (!row.role) continue;
    add_line(report, PlanLine{row.agent_id, *row.role, row.tier, row.policies, std::nullopt,
                              "parked", "retry"});
    ++report.summary.parked;
  }
  if (!dry_run) {
    auto requeued = outbox_->requeue_all_failed(clock_.wall_now());
    if (!requeued.ok()) return requeued.status();
    report.summary.parked = *requeued;
  }
  return Status::success();
}

Status Reconciler::walk_agents(bool dry_run, ReconcileReport& report) {
  std::string after;
  while (!stop_.load()) {
    Page page;
    auto agents = outbox_->agents_page(after, config_.page_size);
    if (!agents.ok()) return agents.status();
    if (agents->empty()) break;
    after = agents->back().agent_id;
    page.agents = std::move(agents).value();
    for (const auto& v : page.agents) {
      std::optional<vault::RoleName> role;
      if (!v.problem) {
        auto r = desired_->namer().role_for(v.agent_id);
        if (r) role = std::move(r).value();
      }
      page.roles.push_back(std::move(role));
    }
    read_roles(page);
    if (page.global_error) {
      report.summary.error = "Vault unavailable: " + page.global_error->describe();
      log_.warn("reconcile.vault_unavailable", "reconcile pass stopped: Vault unavailable",
                {{"error", std::string(vault::to_string(page.global_error->code))},
                 {"detail", page.global_error->message}});
      return Status::success();
    }
    if (Status s = reconcile_page(dry_run, page, report, *outbox_); !s.ok()) return s;
  }
  if (stop_.load()) report.summary.error = "stopped";
  return Status::success();
}

// Roles in the managed mount that fit the name template but belong to no agent of this pass:
// listed once, then read (and stripped) with the pass's reading threads, reported in listing
// order.
void Reconciler::reconcile_orphans(bool dry_run, ReconcileReport& report) {
  options_.limiter->acquire();
  auto roles = api(0).list_roles();
  if (!roles) {
    // The agents were reconciled; only the orphan check could not run (often: no `list` on
    // the mount's roles in the sidecar's policy). Counted and reported, not silent.
    ++report.summary.errors;
    if (report.errors.size() < kMaxErrorsKept) {
      report.errors.push_back("orphan roles not checked: " + roles.error().describe());
    }
    log_.warn("reconcile.orphans_unchecked", "could not list the roles of the managed mount",
              {{"error", roles.error().describe()}});
    return;
  }
  std::vector<vault::RoleName> orphans;
  for (const std::string& name : *roles) {
    auto role = vault::RoleName::parse(name);
    if (!role || !desired_->namer().agent_id_for(*role) || agent_roles_.count(role->str())) {
      continue;
    }
    orphans.push_back(std::move(role).value());
  }
  std::vector<std::optional<OrphanOutcome>> outcomes(orphans.size());
  read_in_parallel(orphans.size(), [&](std::size_t k, std::size_t i) {
    auto outcome = strip_orphan(dry_run, api(k), orphans[i]);
    if (!outcome) return is_role_problem(outcome.error().code);
    outcomes[i] = std::move(outcome).value();
    return true;
  });
  for (std::size_t i = 0; i < orphans.size(); ++i) {
    const std::string& role = orphans[i].str();
    ++report.summary.orphans;
    if (report.orphans.size() < options_.max_plan_lines) report.orphans.push_back(role);
    if (outcomes[i]) report_orphan(dry_run, role, *outcomes[i], report);
  }
}

// The unjustified-privilege rule for an orphan role: nothing justifies any managed policy.
// Runs on a reading thread: touches only its own client. nullopt: the role is gone meanwhile
// (the next pass looks again); an error: it could not be read.
vault::Result<std::optional<Reconciler::OrphanOutcome>> Reconciler::strip_orphan(
    bool dry_run, vault::VaultApi& vault, const vault::RoleName& role) {
  options_.limiter->acquire();
  auto found = vault.read_role_policies(role);
  if (!found) return found.error();
  if (!*found) return std::optional<OrphanOutcome>{};
  OrphanOutcome out;
  out.found = canonical(**found);
  out.excess = desired_->unjustified(**found, {});
  const bool act = !dry_run && config_.drift_mode != DriftMode::ignore;
  if (act && !out.excess.empty()) {
    PolicyList keep;
    for (const std::string& p : out.found) {
      if (!std::binary_search(out.excess.begin(), out.excess.end(), p)) keep.push_back(p);
    }
    options_.limiter->acquire();
    if (auto written = vault.write_role_policies(role, keep); written) {
      out.stripped = true;
    } else {
      out.error = written.error().describe();
    }
  }
  if (act && config_.delete_orphan_roles) {
    options_.limiter->acquire();
    out.deleted = vault.delete_role(role).ok();
  }
  return std::optional<OrphanOutcome>(std::move(out));
}

void Reconciler::report_orphan(bool dry_run, const std::string& role, const OrphanOutcome& out,
                               ReconcileReport& report) {
  if (out.stripped) ++report.summary.orphans_stripped;
  if (out.deleted) ++report.summary.orphans_deleted;
  nlohmann::json fields = {{"role", role}, {"found", out.found},
                           {"excess", out.excess}, {"dry_run", dry_run}};
  if (out.error) fields["error"] = *out.error;
  log_.log(dry_run ? LogLevel::info : LogLevel::warn, "reconcile.orphan",
           "role in the managed mount belongs to no ledger agent", fields);
}

void Reconciler::finish_report(bool dry_run, ReconcileReport& report, Clock::SteadyTime start) {
  report.summary.complete = !report.summary.error.has_value();
  report.summary.duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() - start);
  events_.on_reconcile_done(report.summary);
  const auto& s = report.summary;
  log_.info("reconcile.done", s.complete ? "reconcile pass done" : "reconcile pass incomplete",
            {{"dry_run", dry_run},
             {"mode", std::string(to_string(s.mode))},
             {"frozen", s.frozen},
             {"agents", s.agents},
             {"in_sync", s.in_sync},
             {"drifted", s.drifted},
             {"missing_roles", s.missing_roles},
             {"pending", s.pending},
             {"parked", s.parked},
             {"repairs", s.repairs},
             {"orphans", s.orphans},
             {"errors", s.errors},
             {"duration_ms", s.duration.count()}});
}

Result<ReconcileReport> Reconciler::run(bool dry_run) {
  std::lock_guard<std::mutex> lock(run_mu_);
  const auto start = clock_.steady_now();
  ReconcileReport report;
  report.summary.dry_run = dry_run;
  report.summary.mode = config_.drift_mode;
  if (!outbox_) {
    auto opened = open_outbox_();
    if (!opened.ok()) return opened.status();
    outbox_ = std::move(opened).value();
  }
  auto frozen = outbox_->frozen();
  if (!frozen.ok()) return frozen.status();
  frozen_ = report.summary.frozen = *frozen;
  auto collisions = outbox_->role_collisions();
  if (!collisions.ok()) return collisions.status();
  collisions_ = std::move(collisions).value();
  report.summary.role_collisions = static_cast<std::int64_t>(collisions_.size());
  for (const auto& [role_key, c] : collisions_) {
    log_.warn("reconcile.role_collision", "agents whose ids differ only in case share one role",
              {{"agents", c.agents}, {"lowest_tier", c.lowest_tier}});
  }
  agent_roles_.clear();
  if (!dry_run && options_.open_steps) {
    if (auto steps = options_.open_steps(); steps.ok()) {
      (void)(*steps)->requeue_failed(clock_.wall_now());
    }
  }
  if (config_.drift_mode == DriftMode::ignore) {
    if (Status s = requeue_parked_only(dry_run, report); !s.ok()) return s;
  } else {
    if (Status s = walk_agents(dry_run, report); !s.ok()) return s;
    if (!report.summary.error) reconcile_orphans(dry_run, report);
  }
  finish_report(dry_run, report, start);
  return report;
}

void Reconciler::run_loop(
    const std::function<bool()>& should_stop,
    const std::function<void(const Result<ReconcileReport>&)>& done) {
  auto stop = [&] { return stop_.load() || (should_stop && should_stop()); };
  while (!stop()) {
    triggered_.store(false);
    auto report = run(false);
    if (!report.ok()) log_.error("reconcile.ledger_error", report.status().message());
    if (done) done(report);
    const bool scheduled = config_.interval_s > 0;
    const auto end = clock_.steady_now() + next_interval();
    while (!stop() && !triggered_.load()) {
      const auto now = clock_.steady_now();
      if (scheduled && now >= end) break;
      auto slice = options_.wait_slice;
      if (scheduled) {
        slice = std::min(slice, std::chrono::duration_cast<std::chrono::milliseconds>(end - now) +
                                    std::chrono::milliseconds{1});
      }
      clock_.sleep_for(slice);
    }
  }
}

}  // namespace ps::sidecar
