#include "sidecar/server/webhook.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include <nlohmann/json.hpp>

#include "engine/rules/timestamp.h"
#include "sidecar/server/webhook_signature.h"
#include "tls/digest.h"
#include "vault/names.h"

namespace ps::sidecar::server {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::size_t kMaxIdBytes = 256;
constexpr std::size_t kMaxNameBytes = 512;
constexpr std::size_t kMaxRationaleBytes = 8192;

constexpr const char* kApproved = "promotion.approved";
constexpr const char* kDenied = "promotion.denied";

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// "application/json" with optional parameters (charset), case-insensitive media type.
bool is_json_media_type(std::string_view ct) {
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  while (!ct.empty() && ct.front() == ' ') ct.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  if (ct.size() != kJson.size()) return false;
  for (std::size_t i = 0; i < ct.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(ct[i])) != kJson[i]) return false;
  }
  return true;
}

std::int64_t unix_seconds(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string approval_answer(const engine::TierChange& c, const std::string& sync_state) {
  ojson data;
  data["promotion_id"] = c.promotion_id;
  data["agent_id"] = c.agent_id;
  data["from_tier"] = c.from_tier;
  data["to_tier"] = c.to_tier;
  data["sync_state"] = sync_state;
  return dump(ojson{{"data", data}});
}

std::string denial_answer(const engine::DenialRecord& r) {
  ojson data;
  data["denial_id"] = r.id;
  data["agent_id"] = r.agent_id;
  data["tier"] = r.current_tier;
  data["target_tier"] = r.target_tier;
  data["denied_by"] = r.denied_by;
  return dump(ojson{{"data", data}});
}

}  // namespace

std::string errors_body(std::string_view message) {
  return dump(ojson{{"errors", ojson::array({std::string(message)})}});
}

struct ApprovalWebhook::Parsed {
  std::string webhook_id;
  std::int64_t webhook_timestamp = 0;
  std::string body_sha256;
  bool approved = true;
  std::string agent_id;
  std::int64_t target_tier = 0;
  std::string approver;
  std::optional<std::string> rationale;
  std::optional<std::string> review_id;
};

std::string parse_approval_body(std::string_view body, std::string& type,
                       std::string& agent_id, std::int64_t& target_tier, std::string& approver,
                       std::optional<std::string>& rationale, std::optional<std::string>& review_id) {
  ojson doc;
  try {
    doc = ojson::parse(body.begin(), body.end());
  } catch (const ojson::exception&) {
    return "the body is not valid JSON";
  }
  if (!doc.is_object()) return "the body must be a JSON object";
  auto t = doc.find("type");
  if (t == doc.end()) return "missing field: type";
  if (!t->is_string() || (*t != kApproved && *t != kDenied)) {
    return "type must be \"promotion.approved\" or \"promotion.denied\"";
  }
  type = t->get<std::string>();
  auto data = doc.find("data");
  if (data == doc.end()) return "missing field: data";
  if (!data->is_object()) return "data must be an object";

  auto required_text = [&](const char* key, std::size_t max, std::string& out) -> std::string {
    auto it = data->find(key);
    if (it == data->end() || it->is_null()) return std::string("missing field: data.") + key;
    if (!it->is_string()) return std::string("data.") + key + " must be a string";
    const auto& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > max || has_control_chars(s)) {
      return std::string("data.") + key + " must be 1 to " + std::to_string(max) +
             " bytes without control characters";
    }
    out = s;
    return "";
  };
  auto optional_text = [&](const char* key, std::size_t max,
                           std::optional<std::string>& out) -> std::string {
    auto it = data->find(key);
    if (it == data->end() || it->is_null()) return "";
    if (!it->is_string()) return std::string("data.") + key + " must be a string";
    const auto& s = it->get_ref<const std::string&>();
    if (s.size() > max) return std::string("data.") + key + " is longer than " + std::to_string(max) + " bytes";
    out = s;
    return "";
  };

  if (auto e = required_text("agent_id", kMaxNameBytes, agent_id); !e.empty()) return e;
  auto tier = data->find("target_tier");
  if (tier == data->end() || tier->is_null()) return "missing field: data.target_tier";
  if (!tier->is_number_integer()) return "data.target_tier must be an integer";
  if (tier->is_number_unsigned() ? tier->get<std::uint64_t>() > 4
                                 : (tier->get<std::int64_t>() < 1 || tier->get<std::int64_t>() > 4)) {
    return "data.target_tier must be 1 to 4";
  }
  target_tier = tier->get<std::int64_t>();
  if (target_tier < 1) return "data.target_tier must be 1 to 4";
  if (auto e = required_text("approver", kMaxNameBytes, approver); !e.empty()) return e;
  if (auto e = optional_text("rationale", kMaxRationaleBytes, rationale); !e.empty()) return e;
  if (auto e = optional_text("review_id", kMaxIdBytes, review_id); !e.empty()) return e;
  return "";
}

HttpAnswer ApprovalWebhook::reject(int status, std::string_view reason_code,
                                   const std::string& message, std::string_view webhook_id,
                                   std::optional<int> retry_after) {
  const std::string id = vault::preview(webhook_id);
  if (d_.metrics) d_.metrics->webhook_rejections.inc({std::string(reason_code)});
  d_.log.warn("webhook.rejected", message,
              {{"webhook_id", id}, {"status", status}, {"reason", std::string(reason_code)}});
  if (d_.audit) {
    const nlohmann::json fields = {{"webhook_id", id},
                                   {"status", status},
                                   {"reason", std::string(reason_code)},
                                   {"detail", message}};
    if (Status s = d_.audit->record("webhook.rejected", fields); !s.ok()) {
      if (d_.metrics) d_.metrics->audit_failures.inc();
      d_.log.error("audit.failed", s.message(), {{"audit_event", "webhook.rejected"}});
    }
  }
  HttpAnswer a;
  a.status = status;
  a.body = errors_body(message);
  a.retry_after_s = retry_after;
  return a;
}

// Before the signature verified: the sender is nobody in particular, so the answer costs a
// counter and (sampled) a log line, never an audit write; and it spends the peer's budget.
HttpAnswer ApprovalWebhook::reject_unauthenticated(int status, std::string_view reason_code,
                                                   const std::string& message,
                                                   const WebhookHttpRequest& r,
                                                   std::optional<int> retry_after) {
  if (d_.metrics) d_.metrics->webhook_rejections.inc({std::string(reason_code)});
  UnauthenticatedGuard::Sample sample{true, 0};
  if (d_.guard) sample = d_.guard->rejected(r.peer, status != 429);
  if (sample.log) {
    d_.log.warn("webhook.rejected", message,
                {{"webhook_id", vault::preview(r.id)},
                 {"status", status},
                 {"reason", std::string(reason_code)},
                 {"peer", std::string(r.peer)},
                 {"suppressed", sample.suppressed},
                 {"authenticated", false}});
  }
  HttpAnswer a;
  a.status = status;
  a.body = errors_body(message);
  a.retry_after_s = retry_after;
  return a;
}

HttpAnswer ApprovalWebhook::ledger_unavailable(const Status& s, std::string_view webhook_id) {
  // The operator sees the SQLite detail in the log; the sender only learns to retry.
  d_.log.error("webhook.ledger_unavailable", s.message(), {{"webhook_id", std::string(webhook_id)}});
  return reject(503, "ledger_unavailable", "the ledger is unavailable; retry later", webhook_id,
                s.code() == Code::unavailable ? 1 : 5);
}

HttpAnswer ApprovalWebhook::replay(const engine::WebhookDelivery& stored,
                                   const std::string& body_sha256) {
  if (!tls::constant_time_equal(stored.body_sha256, body_sha256)) {
    return reject(409, "id_reused",
                  "webhook-id " + vault::preview(stored.webhook_id) +
                      " was already used for a different message",
                  stored.webhook_id);
  }
  d_.log.info("webhook.replayed", "repeated delivery answered from the ledger",
              {{"webhook_id", stored.webhook_id}, {"status", stored.http_status}});
  HttpAnswer a;
  a.status = stored.http_status;
  a.body = stored.response;
  a.replayed = true;
  return a;
}

std::optional<HttpAnswer> ApprovalWebhook::replay_if_stored(const Parsed& p) {
  auto lease = d_.ledgers.acquire();
  if (!lease.ok()) return std::nullopt;
  auto stored = lease->ledger().find_delivery(p.webhook_id);
  if (stored.ok() && *stored) return replay(**stored, p.body_sha256);
  if (!stored.ok()) lease->discard();
  return std::nullopt;
}

HttpAnswer ApprovalWebhook::handle(const WebhookHttpRequest& r) {
  if (d_.guard) {
    if (auto wait = d_.guard->check(r.peer)) {
      return reject_unauthenticated(429, "rate_limited",
                                    "too many unauthenticated requests from this address; "
                                    "retry later",
                                    r, *wait);
    }
  }
  auto settings = d_.settings.get();
  if (settings->webhook_secrets.empty()) {
    return reject_unauthenticated(
        404, "disabled", "the approval webhook is disabled (webhook.secrets_file is not set)", r);
  }
  const SignedMessage message{r.id, r.timestamp, r.signature, r.body};
  const SignatureVerdict verdict = verify_webhook(message, settings->webhook_secrets,
                                                  unix_seconds(d_.clock.wall_now()),
                                                  settings->tolerance_s);
  if (verdict != SignatureVerdict::ok) {
    const char* code = verdict == SignatureVerdict::stale    ? "stale"
                       : verdict == SignatureVerdict::future ? "future"
                       : verdict == SignatureVerdict::no_valid_signature ? "signature"
                                                                          : "headers";
    return reject_unauthenticated(401, code,
                                  std::string("webhook rejected: ") + verdict_reason(verdict), r);
  }
  if (r.id.size() > kMaxIdBytes || !is_visible_ascii(r.id)) {
    return reject(400, "malformed", "webhook-id must be 1 to 256 visible ASCII characters", r.id);
  }
  if (!is_json_media_type(r.content_type)) {
    return reject(415, "content_type", "Content-Type must be application/json", r.id);
  }

  Parsed p;
  p.webhook_id = std::string(r.id);
  p.webhook_timestamp = std::stoll(std::string(r.timestamp));  // verified digits
  std::string type;
  if (auto e = parse_approval_body(r.body, type, p.agent_id, p.target_tier, p.approver, p.rationale,
                          p.review_id);
      !e.empty()) {
    return reject(400, "malformed", e, r.id);
  }
  p.approved = type == kApproved;
  p.body_sha256 = tls::sha256_hex(r.body);

  {
    auto lease = d_.ledgers.acquire();
    if (!lease.ok()) return ledger_unavailable(lease.status(), r.id);
    auto stored = lease->ledger().find_delivery(p.webhook_id);
    if (!stored.ok()) {
      lease->discard();
      return ledger_unavailable(stored.status(), r.id);
    }
    if (*stored) return replay(**stored, p.body_sha256);
  }
  return decide(p);
}

HttpAnswer ApprovalWebhook::decide(const Parsed& p) {
  TierChangeService::Decision decision;
  decision.approve = p.approved;
  decision.agent_id = p.agent_id;
  decision.target_tier = p.target_tier;
  decision.actor = p.approver;
  decision.rationale = p.rationale;
  decision.review_id = p.review_id;
  engine::WebhookDelivery& delivery = decision.delivery;
  delivery.webhook_id = p.webhook_id;
  delivery.received_at = engine::format_isoformat_utc(d_.clock.wall_now());
  delivery.webhook_timestamp = p.webhook_timestamp;
  delivery.body_sha256 = p.body_sha256;
  delivery.event_type = p.approved ? kApproved : kDenied;
  delivery.agent_id = p.agent_id;
  delivery.target_tier = p.target_tier;
  delivery.actor = p.approver;
  delivery.review_id = p.review_id;
  delivery.http_status = 200;
  const std::string sync_state = d_.tier_changes.syncs_vault() ? "pending" : "unmanaged";
  decision.render_approval = [&](const engine::TierChange& c) {
    return approval_answer(c, sync_state);
  };
  decision.render_denial = denial_answer;

  auto decided = d_.tier_changes.decide(decision);
  if (!decided.ok()) return refused(p, decided.status());
  HttpAnswer a;
  a.body = std::move(decided->answer);
  return a;
}

HttpAnswer ApprovalWebhook::refused(const Parsed& p, const Status& st) {
  if (st.code() == Code::aborted || st.code() == Code::failed_precondition) {
    // A concurrent delivery of the same id may have committed first: answer as it was.
    if (auto replayed = replay_if_stored(p)) return *replayed;
  }
  switch (st.code()) {
    case Code::permission_denied:
      return reject(403, "forbidden", st.message(), p.webhook_id);
    case Code::aborted:
      return reject(409, "wrong_tier", st.message(), p.webhook_id);
    case Code::failed_precondition:
    case Code::invalid_data:
      return reject(409, p.approved ? "not_eligible" : "wrong_tier", st.message(), p.webhook_id);
    case Code::invalid_argument:
      return reject(400, "malformed", st.message(), p.webhook_id);
    default:
      return ledger_unavailable(st, p.webhook_id);
  }
}

}  // namespace ps::sidecar::server
