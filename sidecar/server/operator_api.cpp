#include "sidecar/server/operator_api.h"

#include <nlohmann/json.hpp>

#include "engine/rules/evaluation_json.h"
#include "engine/rules/pyjson.h"
#include "engine/rules/timestamp.h"
#include "sidecar/server/webhook_signature.h"
#include "engine/ledger/revocation.h"
#include "sidecar/sync/outbox_json.h"
#include "vault/names.h"
#include "tls/digest.h"

namespace ps::sidecar::server {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::int64_t kDefaultLimit = 20;
constexpr std::int64_t kMaxLimit = 1000;
constexpr std::size_t kMaxAgentIdBytes = 512;

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

HttpAnswer error_answer(int status, const std::string& message) {
  HttpAnswer a;
  a.status = status;
  a.body = errors_body(message);
  return a;
}

ojson evaluation_object(const engine::Evaluation& e) {
  std::string text;
  engine::PyJsonWriter w(text, engine::PyJsonWriter::Style::compact);
  engine::write_evaluation(w, e);
  return ojson::parse(text);
}

ojson sql_value(const engine::SqlValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return nullptr;
}

ojson optional_text(const std::optional<std::string>& s) { return s ? ojson(*s) : ojson(nullptr); }

// The single value of `name`, or nullopt; a parameter given twice is an error (ambiguous).
Result<std::optional<std::string>> single_param(const ApiRequest& r, const std::string& name) {
  auto range = r.params.equal_range(name);
  if (range.first == range.second) return std::optional<std::string>{};
  if (std::next(range.first) != range.second) {
    return Status(Code::invalid_argument, "parameter " + name + " given more than once");
  }
  return std::optional<std::string>(range.first->second);
}

}  // namespace

bool is_valid_agent_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxAgentIdBytes) return false;
  std::size_t i = 0;
  while (i < id.size()) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > id.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(id[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates, beyond U+10FFFF, and C1 controls are refused.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF || (cp >= 0x80 && cp <= 0x9F)) {
      return false;
    }
    i += len;
  }
  return true;
}

HttpAnswer data_answer(const std::string& data_json, int status) {
  HttpAnswer a;
  a.status = status;
  a.body = "{\"data\":" + data_json + "}";
  return a;
}

std::optional<HttpAnswer> OperatorApi::authorize(const ApiRequest& r) const {
  auto settings = d_.settings.get();
  if (settings->api_token.empty()) {
    return error_answer(404, "the operator API is disabled (api.token_file is not set)");
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (r.authorization.size() <= kBearer.size() ||
      r.authorization.compare(0, kBearer.size(), kBearer) != 0) {
    return error_answer(401, "missing bearer token (Authorization: Bearer <token>)");
  }
  // Digests have a fixed length, so the comparison time says nothing about the token.
  const std::string given = tls::sha256_hex(std::string_view(r.authorization).substr(kBearer.size()));
  if (!tls::constant_time_equal(given, tls::sha256_hex(settings->api_token))) {
    return error_answer(403, "permission denied");
  }
  return std::nullopt;
}

HttpAnswer OperatorApi::unavailable(const Status& s, std::string_view what) const {
  d_.log.error("api.unavailable", s.message(), {{"what", std::string(what)}});
  HttpAnswer a = error_answer(503, std::string(what) + " is unavailable; retry later");
  a.retry_after_s = s.code() == Code::unavailable ? 1 : 5;
  return a;
}

HttpAnswer OperatorApi::agent(const ApiRequest&, std::string_view agent_id) {
  if (!is_valid_agent_id(agent_id)) {
    return error_answer(400, "invalid agent id: 1 to 512 bytes of UTF-8 without control characters");
  }
  const std::string id(agent_id);
  auto lease = d_.ledgers.acquire();
  if (!lease.ok()) return unavailable(lease.status(), "the ledger");
  const auto now = d_.clock.wall_now();
  auto facts = lease->ledger().agent_facts(id, now);
  if (!facts.ok()) {
    if (facts.status().code() == Code::invalid_data) {
      return error_answer(409, "invalid ledger data: " + facts.status().message());
    }
    lease->discard();
    return unavailable(facts.status(), "the ledger");
  }
  if (!*facts) return error_answer(404, "agent not found in metrics");
  auto settings = d_.settings.get();
  const engine::Evaluation e = engine::evaluate(*facts, *settings->rules, now);

  ojson data;
  data["agent_id"] = id;
  data["current_tier"] = e.current_tier;
  data["evaluation"] = evaluation_object(e);
  data["sync"] = nullptr;
  if (d_.open_outbox) {
    auto outbox = d_.open_outbox();
    if (!outbox.ok()) return unavailable(outbox.status(), "the outbox");
    auto row = (*outbox)->row(id);
    if (!row.ok()) return unavailable(row.status(), "the outbox");
    if (*row) data["sync"] = outbox_row_json(**row, now);
  }
  auto denials = lease->ledger().denials(id, 5);
  if (!denials.ok()) {
    lease->discard();
    return unavailable(denials.status(), "the ledger");
  }
  ojson list = ojson::array();
  for (const auto& d : *denials) {
    list.push_back({{"denial_id", d.id}, {"timestamp", d.timestamp}, {"tier", d.current_tier},
                    {"target_tier", d.target_tier}, {"denied_by", d.denied_by},
                    {"rationale", optional_text(d.rationale)}, {"review_id", optional_text(d.review_id)}});
  }
  data["recent_denials"] = list;
  return data_answer(dump(data));
}

HttpAnswer OperatorApi::eligible(const ApiRequest&) {
  auto lease = d_.ledgers.acquire();
  if (!lease.ok()) return unavailable(lease.status(), "the ledger");
  auto settings = d_.settings.get();
  const auto now = d_.clock.wall_now();
  ojson agents = ojson::array();
  ojson skipped = ojson::array();
  std::vector<engine::Evaluation> promotable;
  const Status s = lease->ledger().scan_agents(now, [&](engine::AgentScanItem&& item) {
    if (item.problem) {
      skipped.push_back({{"agent_id", item.problem->agent_id}, {"problem", item.problem->message}});
      return;
    }
    engine::Evaluation e = engine::evaluate(std::move(item.facts), *settings->rules, now);
    if (engine::is_promotable(e.status)) promotable.push_back(std::move(e));
  });
  if (!s.ok()) {
    lease->discard();
    return unavailable(s, "the ledger");
  }
  for (const auto& e : promotable) agents.push_back(evaluation_object(e));
  ojson data;
  data["agents"] = agents;
  data["skipped"] = skipped;
  return data_answer(dump(data));
}

HttpAnswer OperatorApi::promotions(const ApiRequest& r) {
  auto agent = single_param(r, "agent_id");
  auto limit_text = single_param(r, "limit");
  if (!agent.ok()) return error_answer(400, agent.status().message());
  if (!limit_text.ok()) return error_answer(400, limit_text.status().message());
  // GCC 12 warns (falsely) about a copied optional<string> here; keep the value apart.
  const std::string filter = agent->value_or("");
  if (!filter.empty() && !is_valid_agent_id(filter)) return error_answer(400, "invalid agent_id");
  std::int64_t limit = kDefaultLimit;
  if (*limit_text) {
    const std::string& t = **limit_text;
    bool digits = !t.empty() && t.size() <= 7;
    for (char c : t) digits = digits && c >= '0' && c <= '9';
    if (!digits || std::stoll(t) < 1 || std::stoll(t) > kMaxLimit) {
      return error_answer(400, "limit must be an integer from 1 to 1000");
    }
    limit = std::stoll(t);
  }
  auto lease = d_.ledgers.acquire();
  if (!lease.ok()) return unavailable(lease.status(), "the ledger");
  auto history = lease->ledger().promotion_history(
      filter.empty() ? std::nullopt : std::optional<std::string>(filter), limit);
  if (!history.ok()) {
    lease->discard();
    return unavailable(history.status(), "the ledger");
  }
  ojson rows = ojson::array();
  for (const auto& row : history->rows) {
    ojson o;
    for (std::size_t i = 0; i < history->columns.size() && i < row.size(); ++i) {
      o[history->columns[i]] = sql_value(row[i]);
    }
    rows.push_back(std::move(o));
  }
  return data_answer(dump(ojson{{"promotions", rows}}));
}

HttpAnswer OperatorApi::sync(const ApiRequest&) {
  if (!d_.open_outbox) return error_answer(503, "Vault sync is not configured");
  auto outbox = d_.open_outbox();
  if (!outbox.ok()) return unavailable(outbox.status(), "the outbox");
  const auto now = d_.clock.wall_now();
  auto stats = (*outbox)->stats(now, 100);
  if (!stats.ok()) return unavailable(stats.status(), "the outbox");
  ojson data;
  data["pending"] = stats->pending;
  data["synced"] = stats->synced;
  data["failed"] = stats->failed;
  data["in_flight"] = stats->leased;
  if (stats->oldest_pending_since) {
    data["oldest_pending_since"] = engine::format_isoformat_utc(*stats->oldest_pending_since);
    data["oldest_pending_age_s"] =
        std::chrono::duration_cast<std::chrono::seconds>(now - *stats->oldest_pending_since).count();
  } else {
    data["oldest_pending_since"] = nullptr;
    data["oldest_pending_age_s"] = nullptr;
  }
  ojson failed = ojson::array();
  for (const auto& row : stats->failed_rows) {
    failed.push_back(outbox_row_json(row, now));
  }
  data["failed_rows"] = failed;
  return data_answer(dump(data));
}

HttpAnswer OperatorApi::reconcile(const ApiRequest& r) {
  auto dry = single_param(r, "dry_run");
  if (!dry.ok()) return error_answer(400, dry.status().message());
  bool dry_run = false;
  if (*dry) {
    if (**dry == "true" || **dry == "1") {
      dry_run = true;
    } else if (**dry != "false" && **dry != "0") {
      return error_answer(400, "dry_run must be true or false");
    }
  }
  if (!d_.reconcile) return error_answer(503, "Vault sync is not configured");
  auto report = d_.reconcile(dry_run);
  if (!report.ok()) return unavailable(report.status(), "the reconciler");
  const ReconcileSummary& s = report->summary;
  ojson summary = {{"dry_run", s.dry_run},   {"mode", std::string(to_string(s.mode))},
                   {"complete", s.complete}, {"error", optional_text(s.error)},
                   {"agents", s.agents},     {"in_sync", s.in_sync},
                   {"drifted", s.drifted},   {"missing_roles", s.missing_roles},
                   {"pending", s.pending},   {"parked", s.parked},
                   {"repairs", s.repairs},   {"errors", s.errors},
                   {"duration_ms", s.duration.count()}};
  ojson plan = ojson::array();
  for (const auto& line : report->plan) {
    plan.push_back({{"agent_id", line.agent_id},
                    {"role", line.role},
                    {"tier", line.tier},
                    {"expected", line.expected},
                    {"found", line.found ? ojson(*line.found) : ojson(nullptr)},
                    {"kind", line.kind},
                    {"action", line.action}});
  }
  ojson data = {{"summary", summary},
                {"plan", plan},
                {"plan_truncated", report->plan_truncated},
                {"errors", report->errors}};
  return data_answer(dump(data));  // an incomplete pass says so in summary.complete/error
}

namespace {

// The optional JSON body of a freeze/unfreeze: {"reason": text, "by": text}; "" when absent.
Result<std::pair<std::string, std::string>> reason_and_by(const std::string& body) {
  if (body.empty()) return std::pair<std::string, std::string>{};
  const auto doc = ojson::parse(body, nullptr, false);
  if (!doc.is_object()) return Status(Code::invalid_argument, "the body must be a JSON object");
  std::pair<std::string, std::string> out;
  for (const auto& [key, value] : doc.items()) {
    if (key != "reason" && key != "by") {
      return Status(Code::invalid_argument, "unknown field: " + vault::preview(key));
    }
    if (!value.is_string() || value.get<std::string>().size() > 1024) {
      return Status(Code::invalid_argument, key + " must be a string of at most 1024 bytes");
    }
    (key == "reason" ? out.first : out.second) = value.get<std::string>();
  }
  return out;
}

}  // namespace

HttpAnswer OperatorApi::freeze_state(const ApiRequest&) {
  auto lease = d_.ledgers.acquire();
  if (!lease.ok()) return unavailable(lease.status(), "the ledger");
  auto state = engine::Revocations(lease->ledger()).freeze_state();
  if (!state.ok()) {
    lease->discard();
    return unavailable(state.status(), "the ledger");
  }
  return data_answer(dump(ojson{{"frozen", state->frozen},
                                {"reason", state->reason},
                                {"by", state->by},
                                {"since", optional_text(state->since)}}));
}

HttpAnswer OperatorApi::freeze(const ApiRequest& r) {
  if (!d_.tier_changes) return error_answer(503, "tier changes are not available");
  auto fields = reason_and_by(r.body);
  if (!fields.ok()) return error_answer(400, fields.status().message());
  if (fields->first.empty()) return error_answer(400, "missing field: reason");
  const std::string by = fields->second.empty() ? "operator-api" : fields->second;
  auto result = d_.tier_changes->freeze(fields->first, by, ChangeSource::api);
  if (!result.ok()) {
    if (result.status().code() == Code::failed_precondition) {
      return error_answer(409, result.status().message());
    }
    return unavailable(result.status(), "the ledger");
  }
  return data_answer(dump(ojson{{"frozen", true},
                                {"agents", result->agents},
                                {"demoted", result->demoted},
                                {"skipped", result->invalid.size()}}));
}

HttpAnswer OperatorApi::unfreeze(const ApiRequest& r) {
  if (!d_.tier_changes) return error_answer(503, "tier changes are not available");
  auto fields = reason_and_by(r.body);
  if (!fields.ok()) return error_answer(400, fields.status().message());
  const std::string by = fields->second.empty() ? "operator-api" : fields->second;
  if (Status s = d_.tier_changes->unfreeze(by, ChangeSource::api); !s.ok()) {
    if (s.code() == Code::failed_precondition) return error_answer(409, s.message());
    return unavailable(s, "the ledger");
  }
  return data_answer(dump(ojson{{"frozen", false}}));
}

}  // namespace ps::sidecar::server
