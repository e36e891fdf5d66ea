#include "sidecar/sync/revocation_runner.h"

#include <algorithm>
#include <map>
#include <set>

namespace ps::sidecar {
namespace {

using engine::StepOutcome;
using vault::ErrorCode;

// The fewest Vault requests a step makes before its first write (list, lookup, then the
// destroy or revoke): a step is started only with this many request deadlines of lease left.
constexpr int kRequestsPerStep = 3;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// When the token was issued, in Unix milliseconds. creation_time is whole seconds: a token
// issued after the demotion in the same second would look older than the cutoff and be
// revoked although it carries the new policies. issue_time (RFC 3339 with fractions) is
// precise; only without it does the whole second decide (the safe side: revoke).
std::int64_t issued_at_ms(const vault::TokenInfo& token) {
  if (auto ms = vault::rfc3339_unix_ms(token.issue_time)) return *ms;
  return token.creation_time * 1000;
}

}  // namespace

struct RevocationRunner::Work {
  engine::RevocationStep step;
  std::optional<vault::RoleName> role;
  StepOutcome outcome;
  bool finished = false;  // outcome decided
  bool lost = false;      // another worker took the step over: released, no more writes
  engine::WallTime lease_until{};
};

RevocationRunner::RevocationRunner(StepsFactory open_steps,
                                   std::shared_ptr<const DesiredState> desired,
                                   RateLimiter& limiter, Clock& clock, Logger& log,
                                   SyncEvents& events,
                                   std::function<std::chrono::milliseconds(std::int64_t)> backoff,
                                   LeaseBudget budget)
    : open_steps_(std::move(open_steps)),
      desired_(std::move(desired)),
      limiter_(limiter),
      clock_(clock),
      log_(log),
      events_(events),
      backoff_(std::move(backoff)),
      budget_(budget) {}

bool RevocationRunner::open() {
  if (steps_) return true;
  if (unavailable_ || !open_steps_) return false;
  auto opened = open_steps_();
  if (!opened.ok()) {
    // An older schema without the steps table: nothing to do (write commands migrate first).
    if (opened.status().code() == Code::failed_precondition) unavailable_ = true;
    return false;
  }
  steps_ = std::move(opened).value();
  return true;
}

std::optional<engine::WallTime> RevocationRunner::next_due() {
  if (!open()) return std::nullopt;
  auto due = steps_->next_due();
  return due.ok() ? *due : std::nullopt;
}

bool RevocationRunner::hold_lease(Work& w) {
  if (w.lost) return false;
  auto held = keep_lease(clock_.wall_now(), w.lease_until, budget_.before_write(), lease_,
                         [&](engine::WallTime until) {
                           return steps_->renew_lease(w.step.id, w.step.revision, owner_, until);
                         });
  if (held.ok() && *held) return true;
  w.lost = true;
  w.finished = true;
  w.outcome.kind = StepOutcome::Kind::released;
  nlohmann::json fields = {{"agent_id", w.step.agent_id}, {"step_id", w.step.id}};
  if (!held.ok()) fields["detail"] = held.status().message();
  log_.warn("revocation.lease_lost",
            held.ok() ? "the step was taken over before the write; not writing"
                      : "the step's lease could not be renewed; not writing",
            fields);
  return false;
}

bool RevocationRunner::lease_short(int requests) const {
  return lease_until_ - clock_.wall_now() < budget_.before_start(requests);
}

void RevocationRunner::fail(Work& w, const vault::Error& error) {
  if (w.lost) return;  // released to its new owner whatever happened since
  w.finished = true;
  w.outcome.error_code = std::string(vault::to_string(error.code));
  w.outcome.message = error.describe();
  // A step's own problem is parked until someone acts; a step's not_found is retried.
  if (error.code != ErrorCode::not_found && vault::concerns_one_item(error.code)) {
    w.outcome.kind = StepOutcome::Kind::parked;
    return;
  }
  vault_error_ = error;
  w.outcome.kind = StepOutcome::Kind::retry;
  w.outcome.next_attempt_at = clock_.wall_now() + backoff_(w.step.attempts + 1);
}

void RevocationRunner::destroy_secret_ids(vault::VaultApi& api, Work& w) {
  limiter_.acquire();
  auto accessors = api.list_secret_id_accessors(*w.role);
  if (!accessors) {
    if (accessors.error().code != ErrorCode::invalid_request) return fail(w, accessors.error());
    // Vault answers 400 for the secret IDs of a role that does not exist: none to destroy.
    accessors = std::vector<std::string>{};
  }
  const std::int64_t cutoff = engine::to_unix_ms(w.step.cutoff);
  std::int64_t destroyed = 0, kept = 0;
  for (const std::string& accessor : *accessors) {
    limiter_.acquire();
    auto info = api.lookup_secret_id_accessor(*w.role, accessor);
    if (!info) return fail(w, info.error());
    if (!*info) continue;  // destroyed meanwhile
    // An unreadable creation time is treated as old: the safe side of a revocation.
    const auto created = vault::rfc3339_unix_ms((*info)->creation_time);
    if (created && *created >= cutoff) {
      ++kept;
      continue;
    }
    limiter_.acquire();
    if (!hold_lease(w)) return;
    auto gone = api.destroy_secret_id_accessor(*w.role, accessor);
    if (!gone && gone.error().code != ErrorCode::not_found) return fail(w, gone.error());
    ++destroyed;
  }
  w.finished = true;
  w.outcome.kind = StepOutcome::Kind::done;
  w.outcome.detail = "destroyed " + std::to_string(destroyed) + " secret ID(s); kept " +
                     std::to_string(kept) + " created after the demotion";
}

// One listing and one lookup per token accessor for every token step of the batch.
void RevocationRunner::revoke_tokens(vault::VaultApi& api, std::vector<Work*>& steps) {
  limiter_.acquire();
  auto accessors = api.list_token_accessors();
  if (!accessors) {
    for (Work* w : steps) fail(*w, accessors.error());
    return;
  }
  std::map<std::string, std::vector<Work*>> by_role;
  for (Work* w : steps) by_role[w->role->str()].push_back(w);
  std::map<Work*, std::int64_t> revoked;
  for (const std::string& accessor : *accessors) {
    limiter_.acquire();
    auto token = api.lookup_token_accessor(accessor);
    if (!token) {
      // Revoked or expired since the listing: nothing to do.
      if (token.error().code == ErrorCode::invalid_request ||
          token.error().code == ErrorCode::not_found) {
        continue;
      }
      for (Work* w : steps) fail(*w, token.error());
      return;
    }
    auto role = token->meta.find("role_name");
    if (role == token->meta.end()) continue;
    auto it = by_role.find(lower(role->second));
    if (it == by_role.end()) continue;
    for (Work* w : it->second) {
      const bool before = issued_at_ms(*token) < engine::to_unix_ms(w->step.cutoff);
      const PolicyList justified = desired_->policies_for_tier(w->step.tier);
      bool unjustified = false;
      for (const std::string& p : canonical(token->policies)) {
        const auto& managed = desired_->managed();
        if (std::binary_search(managed.begin(), managed.end(), p) &&
            !std::binary_search(justified.begin(), justified.end(), p)) {
          unjustified = true;
        }
      }
      if (!before && !unjustified) continue;
      limiter_.acquire();
      if (!hold_lease(*w)) continue;  // another step of the role may still hold its claim
      auto done = api.revoke_token_accessor(accessor);
      if (!done && done.error().code != ErrorCode::invalid_request &&
          done.error().code != ErrorCode::not_found) {
        for (Work* s : steps) fail(*s, done.error());
        return;
      }
      ++revoked[w];
      break;  // the token is gone for every step of this role
    }
  }
  for (Work* w : steps) {
    if (w->lost) continue;
    w->finished = true;
    w->outcome.kind = StepOutcome::Kind::done;
    w->outcome.detail = "revoked " + std::to_string(revoked[w]) + " token(s) of role " +
                        w->role->str() + " (" + std::to_string(accessors->size()) +
                        " token accessor(s) checked)";
  }
}

void RevocationRunner::report(const Work& w) {
  RevocationStepEvent e{w.step.agent_id, w.step.role.value_or(""),
                        std::string(engine::to_string(w.step.kind)),
                        w.outcome.kind == StepOutcome::Kind::done    ? "done"
                        : w.outcome.kind == StepOutcome::Kind::retry ? "retry"
                        : w.outcome.kind == StepOutcome::Kind::parked ? "parked"
                                                                      : "released",
                        w.outcome.detail.value_or(""), w.outcome.error_code.value_or(""),
                        w.outcome.message.value_or("")};
  events_.on_revocation_step(e);
  nlohmann::json fields = {{"agent_id", e.agent_id}, {"role", e.role},
                           {"step", e.step},         {"result", e.result},
                           {"detail", e.detail},     {"demotion_id", w.step.demotion_id}};
  if (!e.error_code.empty()) fields["error"] = e.error_code;
  const LogLevel level = w.outcome.kind == StepOutcome::Kind::parked ? LogLevel::warn
                         : w.outcome.kind == StepOutcome::Kind::done ? LogLevel::info
                                                                     : LogLevel::debug;
  log_.log(level, "revocation.step", e.message.empty() ? "revocation step " + e.result : e.message,
           fields);
}

Result<RevocationRunner::Batch> RevocationRunner::run_batch(vault::VaultApi& api,
                                                            const engine::ClaimRequest& claim) {
  Batch batch;
  if (!open()) return batch;
  auto claimed = steps_->claim_due(claim);
  if (!claimed.ok()) return claimed.status();
  batch.claimed = static_cast<std::int64_t>(claimed->size());
  if (claimed->empty()) return batch;  // nothing to do, nothing to record
  vault_error_.reset();
  owner_ = claim.owner;
  lease_ = claim.lease;
  lease_until_ = claim.now + claim.lease;
  int started = 0;  // steps begun; the rest of the batch is released once the lease runs short
  std::vector<Work> work(claimed->size());
  std::vector<Work*> token_steps;
  for (std::size_t i = 0; i < claimed->size(); ++i) {
    Work& w = work[i];
    w.step = (*claimed)[i];
    w.outcome.id = w.step.id;
    w.outcome.revision = w.step.revision;
    w.lease_until = lease_until_;
    if (w.step.role) {
      if (auto role = vault::RoleName::parse(*w.step.role)) w.role = *role;
    }
    if (!w.role) {
      w.finished = true;
      w.outcome.kind = StepOutcome::Kind::parked;
      w.outcome.error_code = "invalid_role_name";
      w.outcome.message = "the agent id names no Vault role";
    } else if (w.step.kind == engine::RevocationStepKind::revoke_tokens) {
      token_steps.push_back(&w);
    } else if (!vault_error_ && (started == 0 || !lease_short(kRequestsPerStep))) {
      ++started;
      destroy_secret_ids(api, w);
    }
  }
  if (!token_steps.empty() && !vault_error_ && (started == 0 || !lease_short(kRequestsPerStep))) {
    revoke_tokens(api, token_steps);
  }
  std::vector<StepOutcome> outcomes;
  for (Work& w : work) {
    if (!w.finished) w.outcome.kind = StepOutcome::Kind::released;  // after a Vault-wide failure
    outcomes.push_back(w.outcome);
  }
  auto applied = steps_->finish(outcomes, clock_.wall_now());
  if (!applied.ok()) return applied.status();
  for (std::size_t i = 0; i < work.size(); ++i) {
    if (work[i].lost) ++batch.lease_lost;
    if (!(*applied)[i] || work[i].outcome.kind == StepOutcome::Kind::released) continue;
    report(work[i]);
    switch (work[i].outcome.kind) {
      case StepOutcome::Kind::done: ++batch.done; break;
      case StepOutcome::Kind::retry: ++batch.retried; break;
      case StepOutcome::Kind::parked: ++batch.parked; break;
      case StepOutcome::Kind::released: break;
    }
  }
  batch.vault_error = vault_error_;
  return batch;
}

}  // namespace ps::sidecar
