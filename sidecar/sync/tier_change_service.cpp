#include "sidecar/sync/tier_change_service.h"

#include <algorithm>
#include <utility>

#include "engine/base/mutex.h"
#include "sidecar/sync/revocation_rules.h"
#include "vault/names.h"

namespace ps::sidecar {
namespace {

bool listed(const std::vector<std::string>& names, const std::string& actor) {
  return std::find(names.begin(), names.end(), actor) != names.end();
}

bool requirement(const engine::Rules& rules, std::int64_t from_tier, engine::RequirementKey key) {
  const auto requirements = rules.for_tier(from_tier);
  return requirements && requirements->get_bool(key);
}

}  // namespace

TierChangeService::TierChangeService(TierChangeServiceDeps deps,
                                     std::shared_ptr<const DesiredState> desired)
    : d_(std::move(deps)),
      committer_(d_.ledgers, d_.clock, d_.max_batch,
                 [events = &d_.events](std::size_t size, double seconds) {
                   events->on_commit_batch({size, seconds});
                 },
                 d_.finish_hold),
      desired_(std::move(desired)) {}

void TierChangeService::set_desired(std::shared_ptr<const DesiredState> desired) {
  ps::MutexLock lock(desired_mu_);
  desired_ = std::move(desired);
}

bool TierChangeService::syncs_vault() const {
  ps::MutexLock lock(desired_mu_);
  return desired_ != nullptr;
}

// The outbox row and, for demotions, the revocation steps the settings enable.
engine::TierChangeHook TierChangeService::change_hook(const ServeSettings& settings) const {
  ps::MutexLock lock(desired_mu_);
  if (!desired_) return {};
  return chain_hooks(make_outbox_hook(desired_, d_.checkpoint, d_.handoff),
                     make_revocation_steps_hook(desired_, settings.revocation.destroy_secret_ids,
                                                settings.revocation.revoke_tokens));
}

Result<std::vector<engine::FinishResult>> TierChangeService::record_pushes(
    const std::vector<engine::PushOutcome>& outcomes, std::string_view owner,
    engine::WallTime now) {
  return committer_.finish(outcomes, owner, now);
}

void TierChangeService::committed(std::string_view agent_id) {
  if (d_.on_committed && syncs_vault()) d_.on_committed(agent_id);
}

template <class T>
Result<T> TierChangeService::with_writer(const std::function<Result<T>(engine::Ledger&)>& work) {
  auto lease = d_.ledgers.acquire();
  if (!lease.ok()) return lease.status();
  Result<T> result = Status(Code::internal, "not run");
  {
    ps::MutexLock write(d_.ledgers.write_mutex());
    result = work(lease->ledger());
  }
  if (!result.ok() && !is_refusal(result.status().code())) lease->discard();
  return result;
}

bool TierChangeService::needs_person(const engine::Rules& rules, std::int64_t from_tier) {
  return requirement(rules, from_tier, engine::RequirementKey::requires_manual_review) ||
         requirement(rules, from_tier, engine::RequirementKey::requires_admin_approval);
}

Status TierChangeService::authorize(const std::string& actor, std::int64_t target_tier) const {
  const auto settings = d_.settings.get();
  const engine::Rules& rules = *settings->rules;
  const std::int64_t from = target_tier - 1;
  const std::string who = "approver " + vault::preview(actor) + " may not decide Tier " +
                          std::to_string(target_tier);
  if (requirement(rules, from, engine::RequirementKey::requires_admin_approval)) {
    if (listed(settings->admins, actor)) return Status::success();
    return {Code::permission_denied, who + ": it requires admin approval (webhook.admins)"};
  }
  if (requirement(rules, from, engine::RequirementKey::requires_manual_review) &&
      !listed(settings->reviewers, actor) && !listed(settings->admins, actor)) {
    return {Code::permission_denied, who + ": it requires manual review (webhook.reviewers)"};
  }
  return Status::success();
}

// Inside the promotion's transaction: a freeze or an unhandled demoting violation refuses it,
// so an approval racing a violation can never end above where the violation puts the agent.
std::function<Status(engine::LedgerTx&)> TierChangeService::promotion_guard(
    const std::string& agent_id, const ServeSettings& settings) const {
  return [agent_id, revocation = settings.revocation](engine::LedgerTx& tx) -> Status {
    auto frozen = engine::freeze_state(tx);
    if (!frozen.ok()) return frozen.status();
    if (frozen->frozen) {
      return {Code::failed_precondition, "promotions are frozen since " +
                                             frozen->since.value_or("?") + " by " + frozen->by +
                                             ": " + frozen->reason};
    }
    auto violations = engine::unhandled_violations(tx, agent_id);
    if (!violations.ok()) return violations.status();
    for (const engine::ViolationRow& v : *violations) {
      if (!demotes(revocation, v)) continue;
      return {Code::failed_precondition,
              "Agent " + agent_id + " has an unhandled violation (id " + std::to_string(v.id) +
                  ", " + v.violation_type + ", severity " + v.severity +
                  ") that demotes it; no promotion until it is applied"};
    }
    return Status::success();
  };
}

Result<engine::PromotionRecord> TierChangeService::commit_promotion(
    engine::PromotionRequest request, const ServeSettings& settings,
    engine::TierChangeHook extra) {
  request.precondition = promotion_guard(request.agent_id, settings);
  auto record = committer_.promote(std::move(request), settings.rules,
                                   chain_hooks(change_hook(settings), std::move(extra)));
  if (record.ok()) committed(record->agent_id);
  return record;
}

void TierChangeService::report_promotion(const Result<engine::PromotionRecord>& record,
                                         ChangeSource source, const std::string& agent_id,
                                         const Decision* decision) {
  std::optional<std::string> webhook_id;
  if (decision) webhook_id = decision->delivery.webhook_id;
  if (record.ok()) {
    d_.events.on_promoted(
        {source, *record, webhook_id, decision ? decision->review_id : std::nullopt});
  } else {
    d_.events.on_promotion_refused({source, agent_id, record.status(), webhook_id});
  }
}

Status TierChangeService::refuse_reserved_actor(const std::string& actor) {
  if (actor != kAutoApprover) return Status::success();
  return {Code::invalid_argument, std::string("the approver name ") + kAutoApprover +
                                      " is reserved for the sidecar's automatic promotions"};
}

Result<engine::PromotionRecord> TierChangeService::promote(const Promotion& p) {
  if (Status s = refuse_reserved_actor(p.approved_by); !s.ok()) return s;
  engine::PromotionRequest request;
  request.agent_id = p.agent_id;
  request.approved_by = p.approved_by;
  request.rationale = p.rationale;
  request.expected_from_tier = p.expected_from_tier;
  request.now = p.at.value_or(d_.clock.wall_now());
  auto record = commit_promotion(std::move(request), *d_.settings.get(), {});
  report_promotion(record, p.source, p.agent_id, nullptr);
  return record;
}

// Runs last inside the auto-promotion's transaction (after the outbox row is written): the
// "needs no person" decision again, under the settings in effect at commit. A SIGHUP between
// the scan (or the snapshot below) and the commit can make the step need a reviewer, or
// change the rules the agent was evaluated with; either way nothing commits, and the next
// evaluation pass decides under the new rules.
engine::TierChangeHook TierChangeService::auto_recheck(
    std::shared_ptr<const engine::Rules> decided_with) const {
  return [this, decided_with = std::move(decided_with)](
             engine::LedgerTx&, const engine::TierChange& change) -> Status {
    const auto now = d_.settings.get();
    if (needs_person(*now->rules, change.from_tier)) {
      return {Code::failed_precondition,
              "the step from Tier " + std::to_string(change.from_tier) +
                  " needs a reviewer or an admin under the rules in effect at commit; "
                  "not promoted automatically"};
    }
    if (now->rules != decided_with) {
      return {Code::aborted,
              "the promotion rules were reloaded after " + change.agent_id +
                  " was evaluated; not promoted automatically (the next evaluation decides)"};
    }
    return Status::success();
  };
}

Result<engine::PromotionRecord> TierChangeService::promote_automatically(
    const std::string& agent_id, std::int64_t from_tier) {
  const auto settings = d_.settings.get();
  Result<engine::PromotionRecord> record = Status(Code::internal, "not run");
  if (needs_person(*settings->rules, from_tier)) {
    record = Status(Code::failed_precondition,
                    "the step from Tier " + std::to_string(from_tier) +
                        " now needs a reviewer or an admin; not promoted automatically");
  } else {
    engine::PromotionRequest request;
    request.agent_id = agent_id;
    request.approved_by = kAutoApprover;
    request.expected_from_tier = from_tier;
    request.now = d_.clock.wall_now();
    record = commit_promotion(std::move(request), *settings, auto_recheck(settings->rules));
  }
  report_promotion(record, ChangeSource::auto_promotion, agent_id, nullptr);
  return record;
}

Result<TierChangeService::Decided> TierChangeService::decide(const Decision& decision) {
  if (Status s = refuse_reserved_actor(decision.actor); !s.ok()) return s;
  if (Status s = authorize(decision.actor, decision.target_tier); !s.ok()) return s;
  return decision.approve ? approve(decision, *d_.settings.get()) : deny(decision);
}

Result<TierChangeService::Decided> TierChangeService::approve(const Decision& decision,
                                                              const ServeSettings& settings) {
  engine::PromotionRequest request;
  request.agent_id = decision.agent_id;
  request.approved_by = decision.actor;
  request.rationale = decision.rationale;
  request.expected_from_tier = decision.target_tier - 1;
  request.now = d_.clock.wall_now();
  std::string answer;
  auto record_answer = [&](engine::LedgerTx& tx, const engine::TierChange& change) -> Status {
    engine::WebhookDelivery delivery = decision.delivery;
    delivery.response = decision.render_approval(change);
    delivery.promotion_id = change.promotion_id;
    if (Status s = engine::record_delivery(tx, delivery); !s.ok()) return s;
    answer = std::move(delivery.response);
    return Status::success();
  };
  auto record = commit_promotion(std::move(request), settings, record_answer);
  report_promotion(record, ChangeSource::webhook, decision.agent_id, &decision);
  if (!record.ok()) return record.status();
  return Decided{std::move(answer), *record, std::nullopt};
}

Result<TierChangeService::Decided> TierChangeService::deny(const Decision& decision) {
  engine::DenialRequest request;
  request.agent_id = decision.agent_id;
  request.target_tier = decision.target_tier;
  request.denied_by = decision.actor;
  request.rationale = decision.rationale;
  request.review_id = decision.review_id;
  request.webhook_id = decision.delivery.webhook_id;
  request.now = d_.clock.wall_now();
  std::string answer;
  auto record_answer = [&](engine::LedgerTx& tx, const engine::DenialRecord& r) -> Status {
    engine::WebhookDelivery delivery = decision.delivery;
    delivery.received_at = r.timestamp;
    delivery.response = decision.render_denial(r);
    delivery.denial_id = r.id;
    if (Status s = engine::record_delivery(tx, delivery); !s.ok()) return s;
    answer = std::move(delivery.response);
    return Status::success();
  };
  auto record = with_writer<engine::DenialRecord>(
      [&](engine::Ledger& ledger) { return ledger.deny(request, record_answer); });
  if (!record.ok()) {
    d_.events.on_denial_refused(
        {decision.agent_id, record.status(), decision.delivery.webhook_id});
    return record.status();
  }
  d_.events.on_denied({*record, decision.delivery.webhook_id});
  return Decided{std::move(answer), std::nullopt, *record};
}

Result<engine::DemotionRecord> TierChangeService::demote(const Demotion& demotion) {
  engine::DemotionRequest request;
  request.agent_id = demotion.agent_id;
  request.to_tier = demotion.to_tier;
  request.demoted_by = demotion.demoted_by;
  request.reason = demotion.reason;
  request.expected_from_tier = demotion.expected_from_tier;
  request.now = demotion.at.value_or(d_.clock.wall_now());
  const auto hook = change_hook(*d_.settings.get());
  auto record = with_writer<engine::DemotionRecord>(
      [&](engine::Ledger& ledger) { return ledger.demote(request, hook); });
  if (!record.ok()) return record;
  committed(record->agent_id);
  d_.events.on_demoted({demotion.source, *record});
  return record;
}

void TierChangeService::count(ViolationPass& pass, const engine::ViolationOutcome& o) const {
  ++pass.handled;
  if (o.below_mark) ++pass.below_mark;
  if (o.outcome == "demoted") {
    (o.demotion && o.demotion->to_tier < o.demotion->from_tier ? pass.demoted
                                                              : pass.revoked_in_place)++;
  } else if (o.outcome == "no_action") {
    ++pass.no_action;
  } else if (o.outcome == "invalid_severity") {
    ++pass.invalid_severity;
  } else if (o.outcome == "unknown_agent") {
    ++pass.unknown_agent;
  } else if (o.outcome == "invalid_agent_data") {
    ++pass.invalid_agent_data;
  }
}

Result<TierChangeService::ViolationPass> TierChangeService::scan_violations(
    std::optional<std::int64_t> from_id, std::string by) {
  ViolationPass pass;
  for (;;) {
    const auto settings = d_.settings.get();
    engine::ViolationScan scan;
    scan.now = d_.clock.wall_now();
    scan.limit = settings->revocation.batch;
    scan.from_id = from_id;
    scan.by = by;
    const RevocationConfig rules = settings->revocation;
    const auto hook = change_hook(*settings);
    auto result = with_writer<engine::ViolationScanResult>([&](engine::Ledger& ledger) {
      return engine::Revocations(ledger).apply_violations(
          scan,
          [&](const engine::ViolationRow& v, std::int64_t tier) {
            return decide_violation(rules, v, tier);
          },
          hook);
    });
    if (!result.ok()) return result.status();
    bool demoted = false;
    for (const auto& o : result->outcomes) {
      count(pass, o);
      d_.events.on_violation_handled({o});
      if (o.demotion) {
        demoted = true;
        d_.events.on_demoted({ChangeSource::violation, *o.demotion});
      }
    }
    if (demoted) committed({});
    pass.mark = result->mark_after;
    if (!result->more) return pass;
    if (from_id && !result->outcomes.empty()) from_id = result->outcomes.back().violation.id + 1;
  }
}

Result<engine::FreezeResult> TierChangeService::freeze(const std::string& reason,
                                                       const std::string& by,
                                                       ChangeSource source) {
  const auto hook = change_hook(*d_.settings.get());
  const engine::FreezeRequest request{reason, by, d_.clock.wall_now()};
  auto result = with_writer<engine::FreezeResult>([&](engine::Ledger& ledger) {
    return engine::Revocations(ledger).freeze(request, hook);
  });
  if (!result.ok()) return result;
  committed({});
  d_.events.on_freeze_changed({true, reason, by + " (" + std::string(to_string(source)) + ")",
                               result->agents, result->demoted});
  return result;
}

Status TierChangeService::unfreeze(const std::string& by, ChangeSource source) {
  auto done = with_writer<bool>([&](engine::Ledger& ledger) -> Result<bool> {
    if (Status s = engine::Revocations(ledger).unfreeze(by, d_.clock.wall_now()); !s.ok()) {
      return s;
    }
    return true;
  });
  if (!done.ok()) return done.status();
  d_.events.on_freeze_changed({false, "", by + " (" + std::string(to_string(source)) + ")", 0, 0});
  return Status::success();
}

}  // namespace ps::sidecar
