#include "sidecar/sync/tier_change_service.h"

#include <algorithm>
#include <utility>

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
      committer_(d_.ledgers, d_.max_batch,
                 [events = &d_.events](std::size_t size, double seconds) {
                   events->on_commit_batch({size, seconds});
                 }),
      desired_(std::move(desired)) {}

void TierChangeService::set_desired(std::shared_ptr<const DesiredState> desired) {
  std::lock_guard<std::mutex> lock(desired_mu_);
  desired_ = std::move(desired);
}

bool TierChangeService::syncs_vault() const {
  std::lock_guard<std::mutex> lock(desired_mu_);
  return desired_ != nullptr;
}

engine::TierChangeHook TierChangeService::outbox_hook() const {
  std::lock_guard<std::mutex> lock(desired_mu_);
  if (!desired_) return {};
  return make_outbox_hook(desired_, d_.checkpoint);
}

void TierChangeService::committed() {
  if (d_.on_committed && syncs_vault()) d_.on_committed();
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

Result<engine::PromotionRecord> TierChangeService::commit_promotion(
    engine::PromotionRequest request, std::shared_ptr<const engine::Rules> rules,
    engine::TierChangeHook extra) {
  auto record = committer_.promote(std::move(request), std::move(rules),
                                   chain_hooks(outbox_hook(), std::move(extra)));
  if (record.ok()) committed();
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

Result<engine::PromotionRecord> TierChangeService::promote(const Promotion& p) {
  engine::PromotionRequest request;
  request.agent_id = p.agent_id;
  request.approved_by = p.approved_by;
  request.rationale = p.rationale;
  request.expected_from_tier = p.expected_from_tier;
  request.now = p.at.value_or(d_.clock.wall_now());
  auto record = commit_promotion(std::move(request), d_.settings.get()->rules, {});
  report_promotion(record, p.source, p.agent_id, nullptr);
  return record;
}

Result<engine::PromotionRecord> TierChangeService::promote_automatically(
    const std::string& agent_id, std::int64_t from_tier) {
  // One rules snapshot for the "needs no person" decision and the promotion itself.
  auto rules = d_.settings.get()->rules;
  Result<engine::PromotionRecord> record = Status(Code::internal, "not run");
  if (needs_person(*rules, from_tier)) {
    record = Status(Code::failed_precondition,
                    "the step from Tier " + std::to_string(from_tier) +
                        " now needs a reviewer or an admin; not promoted automatically");
  } else {
    engine::PromotionRequest request;
    request.agent_id = agent_id;
    request.approved_by = kAutoApprover;
    request.expected_from_tier = from_tier;
    request.now = d_.clock.wall_now();
    record = commit_promotion(std::move(request), std::move(rules), {});
  }
  report_promotion(record, ChangeSource::auto_promotion, agent_id, nullptr);
  return record;
}

Result<TierChangeService::Decided> TierChangeService::decide(const Decision& decision) {
  if (Status s = authorize(decision.actor, decision.target_tier); !s.ok()) {
    if (decision.approve) {
      d_.events.on_promotion_refused(
          {ChangeSource::webhook, decision.agent_id, s, decision.delivery.webhook_id});
    } else {
      d_.events.on_denial_refused({decision.agent_id, s, decision.delivery.webhook_id});
    }
    return s;
  }
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
  auto record = commit_promotion(std::move(request), settings.rules, record_answer);
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
  Result<engine::DenialRecord> record = Status(Code::internal, "not run");
  auto lease = d_.ledgers.acquire();
  if (!lease.ok()) {
    record = lease.status();
  } else {
    std::lock_guard<std::mutex> write(d_.ledgers.write_mutex());
    record = lease->ledger().deny(request, record_answer);
    if (!record.ok() && !is_refusal(record.status().code())) lease->discard();
  }
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
  Result<engine::DemotionRecord> record = Status(Code::internal, "not run");
  auto lease = d_.ledgers.acquire();
  if (!lease.ok()) return lease.status();
  {
    std::lock_guard<std::mutex> write(d_.ledgers.write_mutex());
    record = lease->ledger().demote(request, outbox_hook());
  }
  if (!record.ok()) {
    if (!is_refusal(record.status().code())) lease->discard();
    return record;
  }
  committed();
  d_.events.on_demoted({demotion.source, *record});
  return record;
}

}  // namespace ps::sidecar
