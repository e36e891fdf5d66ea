#include "sidecar/sync/outbox_json.h"

#include <algorithm>
#include <cmath>

#include "engine/rules/timestamp.h"

namespace ps::sidecar {
namespace {

using ojson = nlohmann::ordered_json;

ojson text_or_null(const std::optional<std::string>& s) { return s ? ojson(*s) : ojson(nullptr); }

std::string iso(engine::WallTime t) { return engine::format_isoformat_utc(t); }

}  // namespace

double age_seconds(engine::WallTime since, engine::WallTime now) {
  const double s = std::chrono::duration<double>(now - since).count();
  return std::max(0.0, std::round(s * 10.0) / 10.0);
}

ojson outbox_row_json(const engine::OutboxRow& r, engine::WallTime now) {
  const bool pending = r.state == engine::OutboxState::pending;
  ojson j;
  j["agent_id"] = r.agent_id;
  j["role"] = text_or_null(r.role);
  j["tier"] = r.tier;
  j["policies"] = r.policies;
  j["state"] = std::string(engine::to_string(r.state));
  j["kind"] = std::string(engine::to_string(r.kind));
  j["generation"] = r.generation;
  j["synced_generation"] = r.synced_generation;
  j["attempts"] = r.attempts;
  j["next_attempt_at"] = pending ? ojson(iso(r.next_attempt_at)) : ojson(nullptr);
  j["changed_at"] = iso(r.changed_at);
  j["updated_at"] = r.updated_at;
  j["pending_since"] = r.pending_since ? ojson(iso(*r.pending_since)) : ojson(nullptr);
  j["pending_age_s"] = r.pending_since && r.state != engine::OutboxState::synced
                           ? ojson(age_seconds(*r.pending_since, now))
                           : ojson(nullptr);
  j["error_code"] = text_or_null(r.error_code);
  j["last_error"] = text_or_null(r.last_error);
  j["synced_at"] = text_or_null(r.synced_at);
  return j;
}

}  // namespace ps::sidecar
