#include "sidecar/server/serve_events.h"

#include <chrono>

#include "vault/types.h"

namespace ps::sidecar::server {
namespace {

nlohmann::json policies_json(const std::vector<std::string>& p) { return nlohmann::json(p); }

nlohmann::json drift_fields(const DriftEvent& e) {
  nlohmann::json j = {{"agent_id", e.agent_id},
                      {"role", e.role},
                      {"kind", e.kind},
                      {"expected", policies_json(e.expected)},
                      {"mode", std::string(to_string(e.mode))},
                      {"action", e.action}};
  j["found"] = e.found ? policies_json(*e.found) : nlohmann::json(nullptr);
  return j;
}

}  // namespace

void ServeEvents::audit(std::string_view event, const nlohmann::json& fields) {
  if (!audit_) return;
  if (auto s = audit_->record(event, fields); !s.ok()) {
    metrics_.audit_failures.inc();
    log_.error("audit.failed", s.message(), {{"audit_event", std::string(event)}});
  }
}

void ServeEvents::on_synced(const SyncedEvent& e) {
  metrics_.sync_results.inc({"synced"});
  const auto observe = [&](const char* stage, std::chrono::microseconds d) {
    metrics_.sync_stage_duration.observe({stage}, std::chrono::duration<double>(d).count());
  };
  const PushStages& st = e.stages;
  observe("queued", st.queued);
  // A request that was not made (no pre-read under roles.exclusive) is not a zero-length one.
  if (st.read.count() > 0) observe("read", st.read);
  if (st.write.count() > 0) observe("write", st.write);
  if (st.readback.count() > 0) observe("readback", st.readback);
  observe("finish", st.finish);
}

void ServeEvents::on_retry_scheduled(const RetryScheduledEvent&) {
  metrics_.sync_results.inc({"retry"});
  metrics_.sync_retries.inc();
}

void ServeEvents::on_parked(const ParkedEvent& e) {
  metrics_.sync_results.inc({"parked"});
  audit("sync.parked", {{"agent_id", e.agent_id},
                        {"role", e.role},
                        {"tier", e.tier},
                        {"generation", e.generation},
                        {"reason", e.reason},
                        {"message", e.message}});
}

void ServeEvents::on_superseded(const SupersededEvent&) {
  metrics_.sync_results.inc({"superseded"});
}

void ServeEvents::on_vault_unavailable(const VaultUnavailableEvent&) {
  metrics_.vault_up.set(0);
}

void ServeEvents::on_vault_available() {
  metrics_.vault_up.set(1);
}

void ServeEvents::on_drift_found(const DriftEvent& e) {
  if (e.dry_run) return;  // a plan, not a finding: the report carries it
  metrics_.drift_found.inc();
  audit("drift.found", drift_fields(e));
}

void ServeEvents::on_drift_corrected(const DriftEvent& e) {
  std::int64_t left = excess_privilege_.load();
  while (left > 0 && !excess_privilege_.compare_exchange_weak(left, left - 1)) {
  }
  metrics_.drift_corrected.inc();
  log_.info("reconcile.corrected", "drifted role repaired", drift_fields(e));
  audit("drift.corrected", drift_fields(e));
}

void ServeEvents::on_reconcile_done(const ReconcileSummary& s) {
  if (!s.dry_run) {
    excess_privilege_.store(s.privilege_excess);
    excess_unrepaired_.store(s.mode == DriftMode::ignore);
  }
  if (!s.dry_run && s.complete) metrics_.orphan_roles.set(static_cast<double>(s.orphans));
  if (!s.dry_run) metrics_.role_collisions.set(static_cast<double>(s.role_collisions));
  const double seconds = std::chrono::duration<double>(s.duration).count();
  metrics_.reconcile_duration.observe({s.dry_run ? "true" : "false"}, seconds);
  metrics_.reconcile_runs.inc({s.complete ? "ok" : "error"});
}

void ServeEvents::on_promoted(const PromotedEvent& e) {
  const auto& r = e.record;
  const std::string source(to_string(e.source));
  metrics_.promotions.inc({source, "promoted"});
  nlohmann::json fields = {{"source", source},         {"agent_id", r.agent_id},
                           {"from_tier", r.from_tier}, {"to_tier", r.to_tier},
                           {"promotion_id", r.id},     {"approved_by", r.approved_by}};
  if (e.webhook_id) fields["webhook_id"] = *e.webhook_id;
  if (e.review_id) fields["review_id"] = *e.review_id;
  switch (e.source) {
    case ChangeSource::webhook:
      log_.info("promotion.approved", "promoted by a signed approval", fields);
      break;
    case ChangeSource::auto_promotion:
      log_.info("promotion.auto", "promoted automatically (no manual review needed)", fields);
      break;
    default:
      log_.info("promotion.recorded", "promoted", fields);
      break;
  }
  audit("promotion", fields);
}

void ServeEvents::on_promotion_refused(const PromotionRefusedEvent& e) {
  metrics_.promotions.inc(
      {std::string(to_string(e.source)), is_refusal(e.status.code()) ? "refused" : "error"});
}

void ServeEvents::on_denied(const DeniedEvent& e) {
  const auto& r = e.record;
  metrics_.denials.inc({"recorded"});
  nlohmann::json fields = {{"agent_id", r.agent_id},     {"tier", r.current_tier},
                           {"target_tier", r.target_tier}, {"denial_id", r.id},
                           {"denied_by", r.denied_by}};
  if (e.webhook_id) fields["webhook_id"] = *e.webhook_id;
  if (r.review_id) fields["review_id"] = *r.review_id;
  log_.info("promotion.denied", "denial recorded; tier unchanged", fields);
  audit("denial", fields);
}

void ServeEvents::on_denial_refused(const DenialRefusedEvent& e) {
  metrics_.denials.inc({is_refusal(e.status.code()) ? "refused" : "error"});
}

void ServeEvents::on_demoted(const DemotedEvent& e) {
  const auto& r = e.record;
  metrics_.revocations.inc({std::string(engine::to_string(r.source))});
  const nlohmann::json fields = {{"source", std::string(to_string(e.source))},
                                 {"agent_id", r.agent_id},
                                 {"from_tier", r.from_tier},
                                 {"to_tier", r.to_tier},
                                 {"demotion_id", r.id},
                                 {"demoted_by", r.demoted_by},
                                 {"reason", r.reason},
                                 {"violation_id", r.violation_id ? nlohmann::json(*r.violation_id)
                                                                 : nlohmann::json(nullptr)}};
  log_.info("demotion.recorded", "demoted", fields);
  audit("demotion", fields);
}

void ServeEvents::on_violation_handled(const ViolationHandledEvent& e) {
  const auto& o = e.outcome;
  metrics_.violations.inc({o.outcome});
  if (o.below_mark) metrics_.violations.inc({"below_mark"});
  if (o.outcome == "demoted" && !o.below_mark) return;  // on_demoted logs and audits it
  const nlohmann::json fields = {{"violation_id", o.violation.id},
                                 {"agent_id", o.violation.agent_id},
                                 {"severity", o.violation.severity},
                                 {"violation_type", o.violation.violation_type},
                                 {"outcome", o.outcome},
                                 {"rule", o.rule},
                                 {"below_mark", o.below_mark}};
  // Bad input is worth a warning (someone should look); a rule of none is routine.
  const bool bad = o.outcome != "no_action" && o.outcome != "demoted";
  log_.log(bad || o.below_mark ? LogLevel::warn : LogLevel::info, "revocation.violation",
           o.below_mark ? "violation found below the mark (inserted late with an explicit id)"
                        : "violation handled",
           fields);
  if (o.below_mark) audit("violation.below_mark", fields);
}

void ServeEvents::on_freeze_changed(const FreezeEvent& e) {
  metrics_.frozen.set(e.frozen ? 1 : 0);
  if (e.frozen) metrics_.revocations.inc({"freeze"}, static_cast<double>(e.agents));
  const nlohmann::json fields = {{"frozen", e.frozen}, {"reason", e.reason}, {"by", e.by},
                                 {"agents", e.agents}, {"demoted", e.demoted}};
  log_.warn(e.frozen ? "freeze.on" : "freeze.off",
            e.frozen ? "kill switch on: every agent at tier 0" : "kill switch off", fields);
  audit(e.frozen ? "freeze" : "unfreeze", fields);
}

void ServeEvents::on_revocation_step(const RevocationStepEvent& e) {
  metrics_.revocation_steps.inc({e.step, e.result});
  if (e.result == "done" || e.result == "parked") {
    audit("revocation.step", {{"agent_id", e.agent_id}, {"role", e.role}, {"step", e.step},
                              {"result", e.result}, {"detail", e.detail},
                              {"error", e.error_code}});
  }
}

void ServeEvents::on_commit_batch(const CommitBatchEvent& e) {
  metrics_.commit_batch_size.observe(static_cast<double>(e.promotions));
  metrics_.commit_duration.observe(e.seconds);
}

void ServeEvents::on_evaluation_done(const EvaluationPass& pass) {
  metrics_.agents.set({"eligible"}, static_cast<double>(pass.eligible));
  metrics_.agents.set({"pending_review"}, static_cast<double>(pass.pending_review));
  metrics_.agents.set({"not_eligible"}, static_cast<double>(pass.not_eligible));
  metrics_.agents.set({"invalid"}, static_cast<double>(pass.invalid));
  metrics_.evaluation_duration.observe(pass.seconds);
}

vault::RequestObserver vault_request_metrics(ServeMetrics& metrics) {
  return [&metrics](const vault::RequestEvent& e) {
    const std::string op(vault::to_string(e.operation));
    const std::string status = e.http_status != 0 ? std::to_string(e.http_status)
                               : e.error         ? std::string(vault::to_string(*e.error))
                                                 : "unknown";
    metrics.vault_requests.inc({op, status});
    metrics.vault_request_duration.observe({op}, std::chrono::duration<double>(e.latency).count());
  };
}

}  // namespace ps::sidecar::server
