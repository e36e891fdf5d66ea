#include "sidecar/sync/sync_worker.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "sidecar/sync/lease.h"

namespace ps::sidecar {
namespace {

using engine::PushOutcome;
using vault::ErrorCode;

// Runs `request` and adds its duration (in `clock`'s steady time) to `into`.
template <class F>
auto timed(Clock& clock, std::chrono::microseconds& into, F&& request) {
  const auto start = clock.steady_now();
  auto result = request();
  into += std::chrono::duration_cast<std::chrono::microseconds>(clock.steady_now() - start);
  return result;
}

// A server's Retry-After is honoured up to this (a confused server cannot park us for days).
constexpr std::chrono::milliseconds kMaxRetryAfter{std::chrono::minutes{5}};

// History rows kept; older ones are pruned every kPruneEvery pushes.
constexpr std::int64_t kHistoryKeep = 200000;
constexpr std::int64_t kPruneEvery = 20000;
// Vault requests of one push at most: read, write, create (after a 404), read back.
constexpr int kRequestsPerPush = 4;

std::string worker_owner_id() {
  static std::atomic<int> next{0};
  return this_process_lease_owner() + ":" + std::to_string(next.fetch_add(1));
}

std::chrono::milliseconds ceiling(const SyncConfig& c, std::int64_t n) {
  // min(max, initial * multiplier^n) without overflow.
  double ms = static_cast<double>(c.backoff_initial.count());
  const double cap = static_cast<double>(c.backoff_max.count());
  for (std::int64_t i = 0; i < n && ms < cap; ++i) ms *= c.backoff_multiplier;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(ms, cap)));
}

nlohmann::json row_fields(const engine::OutboxRow& row) {
  return {{"agent_id", row.agent_id},
          {"role", row.role.value_or("")},
          {"tier", row.tier},
          {"generation", row.generation}};
}

}  // namespace

SyncWorker::SyncWorker(OutboxFactory open_outbox, VaultApiFactory make_vault,
                       std::shared_ptr<const DesiredState> desired, SyncConfig config,
                       Clock& clock, RandomSource random, Logger& log, SyncEvents& events,
                       SyncWorkerOptions options)
    : open_outbox_(std::move(open_outbox)),
      make_vault_(std::move(make_vault)),
      desired_(std::move(desired)),
      config_(config),
      clock_(clock),
      random_(std::move(random)),
      log_(log),
      events_(events),
      options_(std::move(options)) {
  if (!options_.limiter) {
    options_.limiter = std::make_shared<RateLimiter>(config_.rate_limit_per_s, clock_);
  }
  if (options_.owner.empty()) options_.owner = worker_owner_id();
  if (!options_.finish) {
    options_.finish = [this](const std::vector<PushOutcome>& outcomes, std::string_view owner,
                             engine::WallTime now) { return outbox_->finish(outcomes, owner, now); };
  }
  if (!options_.owner_is_dead) options_.owner_is_dead = lease_owner_is_dead;
  pause_ = options_.pause ? options_.pause : std::make_shared<VaultPause>();
  if (options_.open_steps) {
    steps_ = std::make_unique<RevocationRunner>(
        options_.open_steps, desired_, *options_.limiter, clock_, log_, events_,
        [this](std::int64_t attempts) { return row_backoff(attempts); },
        LeaseBudget{options_.vault_request_deadline});
  }
}

SyncWorker::~SyncWorker() { retire_lease_owner(options_.owner); }

vault::VaultApi& SyncWorker::api() {
  if (!api_) api_ = make_vault_();
  return *api_;
}

std::optional<Handoff> SyncWorker::handoff() const {
  if (stopping()) return std::nullopt;
  return Handoff{options_.owner, config_.lease};
}

void SyncWorker::wake() { wakeup_.notify(); }
void SyncWorker::request_stop() {
  stop_.store(true);
  wakeup_.notify();
}

WorkerHealth SyncWorker::health() const {
  const VaultPause::Snapshot s = pause_->snapshot();
  WorkerHealth h;
  h.vault_available = s.failures == 0;
  h.consecutive_failures = s.failures;
  h.last_error = s.last_error;
  h.paused_until = s.until;
  return h;
}

std::chrono::milliseconds SyncWorker::row_backoff(std::int64_t attempts) const {
  const auto c = ceiling(config_, std::max<std::int64_t>(0, attempts - 1));
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(random_() * static_cast<double>(c.count())));
}

// A Vault-wide failure pauses every push. Half the delay is fixed so the probe rate has a
// floor (with full jitter a run of small random values would probe a sealed Vault in a
// loop); the other half spreads several sidecars apart.
void SyncWorker::enter_pause(const vault::Error& error) {
  const auto started = pause_->fail(clock_.steady_now(), this);
  if (!started) return;  // a sibling worker already paused the group for this outage
  const std::int64_t failures = *started;
  const auto c = ceiling(config_, failures - 1);
  std::chrono::milliseconds delay =
      c / 2 + std::chrono::milliseconds(static_cast<std::int64_t>(
                  random_() * static_cast<double>((c - c / 2).count())));
  if (error.retry_after) {
    delay = std::max(delay, std::min<std::chrono::milliseconds>(*error.retry_after,
                                                                kMaxRetryAfter));
  }
  pause_->pause_for(clock_.steady_now() + delay, error.describe());
  events_.on_vault_unavailable(VaultUnavailableEvent{std::string(vault::to_string(error.code)),
                                                     error.message, delay, failures});
  log_.warn("sync.vault_unavailable", "Vault unavailable; pausing pushes",
            {{"error", std::string(vault::to_string(error.code))},
             {"detail", error.message},
             {"pause_ms", delay.count()},
             {"consecutive_failures", failures}});
}

void SyncWorker::leave_pause() {
  if (!pause_->succeed()) return;
  events_.on_vault_available();
  log_.info("sync.vault_available", "Vault answers again; pushes resume");
}

PushOutcome SyncWorker::classify_failure(const engine::OutboxRow& row, const vault::Error& error,
                                         bool wrote, bool* vault_down) {
  PushOutcome o;
  o.agent_id = row.agent_id;
  o.revision = row.revision;
  o.generation = row.generation;
  o.wrote = wrote;
  o.error_code = std::string(vault::to_string(error.code));
  o.message = error.describe();
  if (vault::concerns_one_item(error.code)) {
    o.kind = PushOutcome::Kind::parked;
    return o;
  }
  // Everything else is about Vault as a whole (or our own token, or TLS): this row waits on
  // its own schedule and the worker pauses.
  *vault_down = true;
  auto delay = row_backoff(row.attempts + 1);
  if (error.retry_after) {
    delay = std::max(delay, std::min<std::chrono::milliseconds>(*error.retry_after,
                                                                kMaxRetryAfter));
  }
  o.kind = PushOutcome::Kind::retry;
  o.next_attempt_at = clock_.wall_now() + delay;
  enter_pause(error);
  return o;
}

bool SyncWorker::hold_lease(const engine::OutboxRow& row) {
  const LeaseBudget budget{options_.vault_request_deadline};
  auto held = keep_lease(clock_.wall_now(), lease_until_, budget.before_write(), config_.lease,
                         [&](engine::WallTime until) {
                           return outbox_->renew_lease(row.agent_id, row.revision,
                                                       options_.owner, until);
                         });
  if (held.ok() && *held) return true;
  lease_lost_ = true;
  auto fields = row_fields(row);
  if (!held.ok()) fields["detail"] = held.status().message();
  log_.warn("sync.lease_lost",
            held.ok() ? "the claim was taken over before the write; not writing"
                      : "the lease could not be renewed; not writing",
            fields);
  return false;
}

PushOutcome SyncWorker::released(const engine::OutboxRow& row) const {
  PushOutcome o;
  o.kind = PushOutcome::Kind::released;
  o.agent_id = row.agent_id;
  o.revision = row.revision;
  o.generation = row.generation;
  return o;
}

PushOutcome SyncWorker::create_role(const engine::OutboxRow& row, const vault::RoleName& role,
                                    bool* vault_down) {
  // roles.create's short lifetimes; a create applies Vault's defaults to the rest
  // (bind_secret_id true).
  const RoleCreateConfig& c = desired_->roles().create;
  vault::RoleSpec spec;
  spec.token_policies = sorted_set(row.policies);
  spec.token_ttl = c.token_ttl_s;
  spec.token_max_ttl = c.token_max_ttl_s;
  spec.secret_id_ttl = c.secret_id_ttl_s;
  spec.secret_id_num_uses = c.secret_id_num_uses;
  spec.token_type = c.token_type;
  if (!c.token_bound_cidrs.empty()) spec.token_bound_cidrs = c.token_bound_cidrs;
  options_.limiter->acquire();
  if (!hold_lease(row)) return released(row);
  auto created = timed(clock_, stages_.write, [&] { return api().write_role(role, spec); });
  if (!created) return classify_failure(row, created.error(), true, vault_down);
  log_.info("sync.role_created", "created the missing role", row_fields(row));
  return verify(row, role, *spec.token_policies, true, vault_down);
}

PushOutcome SyncWorker::verify(const engine::OutboxRow& row, const vault::RoleName& role,
                               const PolicyList& written, bool wrote, bool* vault_down) {
  options_.limiter->acquire();
  auto back = timed(clock_, stages_.readback, [&] { return api().read_role_policies(role); });
  if (!back) return classify_failure(row, back.error(), wrote, vault_down);
  PushOutcome o;
  o.agent_id = row.agent_id;
  o.revision = row.revision;
  o.generation = row.generation;
  o.wrote = wrote;
  if (!*back) {
    o.kind = PushOutcome::Kind::parked;
    o.error_code = "role_missing";
    o.message = "the role was deleted during the push";
    return o;
  }
  if (canonical(**back) != canonical(written)) {
    // Someone else wrote the role between our write and our read: try again soon, on this
    // row's own schedule (Vault itself is fine).
    o.kind = PushOutcome::Kind::retry;
    o.error_code = "readback_mismatch";
    o.message = "read-back differs from the list written (the role changed during the push)";
    o.next_attempt_at = clock_.wall_now() + row_backoff(row.attempts + 1);
    return o;
  }
  o.kind = PushOutcome::Kind::synced;
  o.policies_on_role = canonical(**back);
  o.verified_at = clock_.wall_now();
  return o;
}

PushOutcome SyncWorker::push(const engine::OutboxRow& row, bool* vault_down) {
  PushOutcome parked;
  parked.kind = PushOutcome::Kind::parked;
  parked.agent_id = row.agent_id;
  parked.revision = row.revision;
  parked.generation = row.generation;
  if (!row.role) {
    parked.error_code = "invalid_role_name";
    parked.message = row.last_error.value_or("the agent id cannot name a Vault role");
    return parked;
  }
  auto role = vault::RoleName::parse(*row.role);
  if (!role) {
    parked.error_code = "invalid_role_name";
    parked.message = role.error().message;
    return parked;
  }
  const PolicyList desired = sorted_set(row.policies);
  const auto missing = [&](bool wrote) {
    if (desired_->missing_role() == MissingRole::create) return create_role(row, *role, vault_down);
    PushOutcome o = parked;
    o.wrote = wrote;
    o.error_code = "role_missing";
    o.message = "role " + desired_->namer().role_path(*role) +
                " does not exist (create it, or set roles.missing_role to create)";
    return o;
  };

  PolicyList target = desired;
  if (!desired_->exclusive()) {
    options_.limiter->acquire();
    auto current = timed(clock_, stages_.read, [&] { return api().read_role_policies(*role); });
    if (!current) return classify_failure(row, current.error(), false, vault_down);
    if (!*current) return missing(false);
    target = desired_->merged(**current, desired);
    if (canonical(**current) == target) {
      // Already there (a repeat after a crash, or a no-op change): the read is the check.
      PushOutcome o = parked;
      o.kind = PushOutcome::Kind::synced;
      o.error_code.reset();
      o.policies_on_role = target;
      o.verified_at = clock_.wall_now();
      return o;
    }
  }
  options_.limiter->acquire();
  if (!hold_lease(row)) return released(row);
  auto written =
      timed(clock_, stages_.write, [&] { return api().write_role_policies(*role, target); });
  if (!written) {
    // The per-field endpoint cannot create: a missing role wrote nothing.
    if (written.error().code == ErrorCode::role_missing) return missing(false);
    return classify_failure(row, written.error(), true, vault_down);
  }
  if (options_.checkpoint) options_.checkpoint("sync.after_write");
  return verify(row, *role, target, true, vault_down);
}

void SyncWorker::report(const engine::OutboxRow& row, const PushOutcome& o,
                        const engine::FinishResult& result, std::chrono::milliseconds latency,
                        const PushStages& stages, PassStats& stats) {
  const std::string role = row.role.value_or("");
  if (result.kind == engine::FinishResult::Kind::gone) return;
  if (result.kind == engine::FinishResult::Kind::superseded &&
      o.kind == PushOutcome::Kind::released) {
    ++stats.released;  // never pushed: nothing to supersede
    return;
  }
  if (result.kind == engine::FinishResult::Kind::superseded) {
    ++stats.superseded;
    events_.on_superseded(SupersededEvent{row.agent_id, role, row.generation, result.generation});
    log_.debug("sync.superseded", "the row changed during the push; pushing the newer state",
               row_fields(row));
    return;
  }
  switch (o.kind) {
    case PushOutcome::Kind::synced: {
      ++stats.synced;
      events_.on_synced(SyncedEvent{row.agent_id, role, row.tier, row.generation, row.kind,
                                    o.policies_on_role, o.wrote, row.attempts, latency, stages});
      if (log_.enabled(LogLevel::debug)) {  // one per push: no fields built for nothing
        auto fields = row_fields(row);
        fields["policies"] = o.policies_on_role;
        fields["wrote"] = o.wrote;
        log_.debug("sync.synced", "Vault holds the desired policies", fields);
      }
      if (row.kind == engine::ChangeKind::repair) {
        events_.on_drift_corrected(DriftEvent{row.agent_id, role, "policies", row.policies,
                                              o.policies_on_role, DriftMode::correct,
                                              "corrected", false});
      }
      break;
    }
    case PushOutcome::Kind::retry: {
      ++stats.retried;
      const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(
          o.next_attempt_at - clock_.wall_now());
      events_.on_retry_scheduled(RetryScheduledEvent{row.agent_id, role, row.generation,
                                                     row.attempts + 1, delay,
                                                     o.error_code.value_or(""),
                                                     o.message.value_or("")});
      auto fields = row_fields(row);
      fields["error"] = o.error_code.value_or("");
      fields["attempt"] = row.attempts + 1;
      fields["retry_in_ms"] = delay.count();
      log_.info("sync.retry", o.message.value_or("push failed; retry scheduled"), fields);
      break;
    }
    case PushOutcome::Kind::parked: {
      ++stats.parked;
      events_.on_parked(ParkedEvent{row.agent_id, role, row.generation, row.tier,
                                    o.error_code.value_or(""), o.message.value_or("")});
      auto fields = row_fields(row);
      fields["reason"] = o.error_code.value_or("");
      log_.warn("sync.parked", o.message.value_or("push parked"), fields);
      break;
    }
    case PushOutcome::Kind::released:
      ++stats.released;
      break;
  }
}

Status SyncWorker::push_batch(const std::vector<engine::OutboxRow>& rows, PassStats& stats,
                              bool* vault_down) {
  struct Pushed {
    std::chrono::milliseconds latency{0};
    PushStages stages;
    bool lease_lost = false;
  };
  std::vector<PushOutcome> outcomes;
  outcomes.reserve(rows.size());
  std::vector<Pushed> pushed(rows.size());
  bool cut = false;
  const auto claimed_at = clock_.wall_now();
  const LeaseBudget budget{options_.vault_request_deadline};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const engine::OutboxRow& row = rows[i];
    lease_until_ = row.lease_until.value_or(clock_.wall_now() + config_.lease);
    // The batch is sized to its lease as it runs: a row is started only with time for all of
    // its requests left (the first always: it has the whole lease).
    const auto left = lease_until_ - clock_.wall_now();
    if (i > 0 && !cut && left < budget.before_start(kRequestsPerPush)) {
      cut = true;
      log_.info("sync.batch_cut", "the lease is running out; releasing the rest of the batch",
                {{"released", static_cast<std::int64_t>(rows.size() - i)}});
    }
    bool probe_now = false;
    const bool group_paused = !cut && !pause_->may_push(clock_.steady_now(), this, &probe_now);
    if (*vault_down || stopping() || cut || group_paused) {
      *vault_down = *vault_down || group_paused;
      outcomes.push_back(released(row));
      continue;
    }
    const auto start = clock_.steady_now();
    lease_lost_ = false;
    stages_ = {};
    stages_.queued = std::max(std::chrono::microseconds{0},
                              std::chrono::duration_cast<std::chrono::microseconds>(
                                  claimed_at - row.changed_at));
    outcomes.push_back(push(row, vault_down));
    pushed[i] = {std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() - start),
                 stages_, lease_lost_};
    if (!*vault_down) leave_pause();
  }
  if (options_.checkpoint) options_.checkpoint("sync.before_finish");
  std::chrono::microseconds finish{0};
  auto results = timed(clock_, finish, [&] {
    return options_.finish(outcomes, options_.owner, clock_.wall_now());
  });
  // On failure the leases stay ours; the next claim of this worker takes the rows again.
  if (!results.ok()) return results.status();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (pushed[i].lease_lost) {
      ++stats.lease_lost;
      continue;
    }
    pushed[i].stages.finish = finish;
    report(rows[i], outcomes[i], (*results)[i], pushed[i].latency, pushed[i].stages, stats);
  }
  since_prune_ += static_cast<std::int64_t>(outcomes.size());
  if (since_prune_ > kPruneEvery) {
    since_prune_ = 0;
    (void)outbox_->prune_history(kHistoryKeep);
  }
  return Status::success();
}

Result<PassStats> SyncWorker::run_once() {
  PassStats stats;
  if (!outbox_) {
    auto opened = open_outbox_();
    if (!opened.ok()) return opened.status();
    outbox_ = std::move(opened).value();
  }
  while (!stopping()) {
    bool probe = false;
    if (!pause_->may_push(clock_.steady_now(), this, &probe)) {
      stats.paused = true;
      break;
    }
    auto claimed = outbox_->claim_due(claim_request());
    if (!claimed.ok()) {
      if (probe) pause_->release_probe(this);
      return claimed.status();
    }
    if (claimed->empty()) {
      // Policies first: the revocation steps run once no push is due.
      bool vault_down = false;
      auto any = run_steps(stats, &vault_down);
      if (!any.ok()) return any.status();
      if (vault_down) stats.paused = true;
      if (probe && !vault_down) pause_->release_probe(this);  // nothing here to probe with
      if (!*any || vault_down) break;
      continue;
    }
    if (options_.checkpoint) options_.checkpoint("sync.after_claim");
    stats.claimed += static_cast<std::int64_t>(claimed->size());
    bool vault_down = false;
    if (Status s = push_batch(*claimed, stats, &vault_down); !s.ok()) return s;
    if (vault_down) {
      stats.paused = true;
      break;
    }
  }
  return stats;
}

engine::ClaimRequest SyncWorker::claim_request() const {
  engine::ClaimRequest claim{options_.owner, clock_.wall_now(), config_.batch_size, config_.lease,
                             options_.owner_is_dead};
  claim.partition = options_.partition;
  claim.partitions = options_.partitions;
  return claim;
}

Result<bool> SyncWorker::run_steps(PassStats& stats, bool* vault_down) {
  if (!steps_) return false;
  auto batch = steps_->run_batch(api(), claim_request());
  if (!batch.ok()) return batch.status();
  stats.steps_done += batch->done;
  stats.steps_pending += batch->retried + batch->parked;
  stats.lease_lost += batch->lease_lost;
  if (batch->vault_error) {
    *vault_down = true;
    enter_pause(*batch->vault_error);
  } else if (batch->claimed > 0) {
    leave_pause();
  }
  return batch->claimed > 0;
}

void SyncWorker::interruptible_wait(std::chrono::milliseconds d,
                                    const std::function<bool()>& should_stop) {
  (void)wakeup_.wait_for(clock_, d, [&] { return stopping() || (should_stop && should_stop()); });
}

void SyncWorker::run(const std::function<bool()>& should_stop) {
  auto stop = [&] { return stopping() || (should_stop && should_stop()); };
  while (!stop()) {
    auto pass = run_once();
    std::chrono::milliseconds wait = config_.poll_interval;
    if (!pass.ok()) {
      log_.error("sync.ledger_error", pass.status().message());
    } else if (pass->paused) {
      if (const auto until = pause_->snapshot().until) {
        wait = std::max(std::chrono::milliseconds{0},
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            *until - clock_.steady_now()));
      } else {
        wait = std::min(wait, std::chrono::milliseconds{50});  // a sibling is probing
      }
    } else if (outbox_) {
      // Sleep until the next row is due, if that is sooner than the poll interval. Rows due
      // now but not claimed are leased to another worker: wait the full interval for them.
      // The sooner of the next push and the next revocation step (max: none pending).
      auto next = engine::WallTime::max();
      if (auto due = outbox_->next_due(); due.ok() && *due) next = **due;
      if (steps_) {
        if (auto step = steps_->next_due()) next = std::min(next, *step);
      }
      const auto now = clock_.wall_now();
      if (next != engine::WallTime::max() && next > now) {
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(next - now) +
                                  std::chrono::milliseconds{1});
      }
    }
    if (wait.count() > 0) interruptible_wait(wait, should_stop);
  }
  stop_.store(true);  // no more hand-offs to this worker
  retire_lease_owner(options_.owner);
}

}  // namespace ps::sidecar
