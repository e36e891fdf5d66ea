// The admin (fault injection) API under /_emulator/, per docs: emulator-contract.md.
// Every call needs X-Emulator-Admin-Token; without --admin-token the API does not exist (404).
#include <openssl/crypto.h>

#include "engine/base/mutex.h"

#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {

HttpResponse no_content() { return HttpResponse{204, {}, ""}; }

bool same_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The request body as a JSON object, or the 400 answer.
Result<json, HttpResponse> parse_body(const HttpRequest& req) {
  if (trim(req.body).empty()) return json::object();
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return error_response(400, {"request body must be a JSON object"});
  }
  return j;
}

Result<Fault> parse_fault(const json& j) {
  auto invalid = [](std::string why) { return Status(Code::invalid_argument, std::move(why)); };
  Fault f;
  try {
    f.kind = j.value("kind", "");
    if (f.kind != "status" && f.kind != "hang" && f.kind != "drop") {
      return invalid("kind must be one of status, hang, drop");
    }
    f.count = j.value("count", 1);
    if (f.count < 1) return invalid("count must be at least 1");
    f.match = j.value("match", "");
    f.method = j.value("method", "");
    f.status = j.value("status", 503);
    if (f.status < 100 || f.status > 999) return invalid("status must be an HTTP status code");
    if (j.contains("errors")) f.errors = j.at("errors").get<std::vector<std::string>>();
    if (j.contains("retry_after") && !j.at("retry_after").is_null()) {
      f.retry_after = j.at("retry_after").get<std::int64_t>();
    }
    f.hang_ms = j.value("hang_ms", 5000);
    if (f.hang_ms < 0) return invalid("hang_ms must not be negative");
  } catch (const json::exception& e) {
    return invalid(std::string("invalid fault: ") + e.what());
  }
  return f;
}

// GET /_emulator/stats: the request counters.
HttpResponse admin_stats(Emulator::Core& core) {
  ps::MutexLock lock(core.admin_mu);
  const Stats now = core.stats_now();
  json by_status = json::object();
  for (const auto& [code, n] : now.by_status) by_status[std::to_string(code)] = n;
  return json_response(200, {{"requests", now.requests},
                             {"dropped", now.dropped},
                             {"by_status", by_status},
                             {"received", now.received},
                             {"settled", now.settled}});
}

// POST /_emulator/seal and /_emulator/unseal.
HttpResponse admin_seal(Emulator::Core& core, bool seal) {
  ps::WriterLock lock(core.mu);
  if (!core.state.initialized) return error_response(400, {"Vault is not initialized"});
  core.state.sealed = seal;
  core.changes.fetch_add(1);
  return no_content();
}

// POST /_emulator/tokens/expire and /_emulator/tokens/revoke: the token named by accessor or
// by value is expired from now on, or revoked with its children.
HttpResponse admin_token(Emulator::Core& core, const json& j, bool expire) {
  std::string accessor = j.value("accessor", ""), token = j.value("token", "");
  if (accessor.empty() == token.empty()) {
    return error_response(400, {"exactly one of accessor or token is required"});
  }
  ps::WriterLock lock(core.mu);
  std::string id = token;
  if (!accessor.empty()) {
    auto it = core.state.accessors.find(accessor);
    id = it == core.state.accessors.end() ? "" : it->second;
  }
  Token* t = id.empty() ? nullptr : core.find_token(id);
  if (t == nullptr) return error_response(404, {"token not found"});
  if (expire) {
    t->expire_time = core.now();
  } else {
    core.revoke_token_tree(id);
  }
  core.changes.fetch_add(1);
  return no_content();
}

// POST /_emulator/standby: off, redirect (to leader_address) or no_leader.
HttpResponse admin_standby(Emulator::Core& core, const json& j) {
  std::string mode = j.value("mode", "");
  if (mode != "off" && mode != "redirect" && mode != "no_leader") {
    return error_response(400, {"mode must be one of off, redirect, no_leader"});
  }
  std::string leader = j.value("leader_address", "");
  if (mode == "redirect" && leader.empty()) {
    return error_response(400, {"leader_address is required for mode redirect"});
  }
  while (!leader.empty() && leader.back() == '/') leader.pop_back();
  ps::MutexLock lock(core.admin_mu);
  core.standby_mode = mode;
  core.leader_address = leader;
  return no_content();
}

// POST /_emulator/rate-limit-headers: X-RateLimit-* headers on injected 429s.
HttpResponse admin_rate_limit_headers(Emulator::Core& core, const json& j) {
  if (!j.contains("enabled") || !j["enabled"].is_boolean()) {
    return error_response(400, {"enabled must be a boolean"});
  }
  ps::MutexLock lock(core.admin_mu);
  core.rate_limit_headers = j["enabled"].get<bool>();
  return no_content();
}

}  // namespace

HttpResponse Emulator::Core::handle_admin(const HttpRequest& req) {
  if (options.admin_token.empty()) return error_response(404, {});
  const std::string* given = req.header("X-Emulator-Admin-Token");
  if (given == nullptr || !same_secret(*given, options.admin_token)) {
    return error_response(403, {"permission denied"});
  }
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/_emulator/stats" && m == "GET") return admin_stats(*this);
  if (p == "/_emulator/latency" && m == "GET") {
    ps::MutexLock lock(admin_mu);
    return json_response(200, latency_to_json(latency));
  }
  if ((p == "/_emulator/seal" || p == "/_emulator/unseal") && m == "POST") {
    return admin_seal(*this, p == "/_emulator/seal");
  }
  if (p == "/_emulator/faults" && m == "DELETE") {
    ps::MutexLock lock(admin_mu);
    faults.clear();
    return no_content();
  }
  auto body = parse_body(req);
  if (!body.ok()) return body.error();
  const json& j = *body;

  if (p == "/_emulator/faults" && m == "POST") {
    auto f = parse_fault(j);
    if (!f.ok()) return error_response(400, {f.status().message()});
    ps::MutexLock lock(admin_mu);
    faults.push_back(std::move(*f));
    return no_content();
  }
  if ((p == "/_emulator/tokens/expire" || p == "/_emulator/tokens/revoke") && m == "POST") {
    return admin_token(*this, j, p == "/_emulator/tokens/expire");
  }
  if (p == "/_emulator/standby" && m == "POST") return admin_standby(*this, j);
  if (p == "/_emulator/latency" && m == "POST") {
    auto settings = latency_from_json(j);
    if (!settings.ok()) return error_response(400, {settings.status().message()});
    ps::MutexLock lock(admin_mu);
    latency = *settings;
    return no_content();
  }
  if (p == "/_emulator/rate-limit-headers" && m == "POST") return admin_rate_limit_headers(*this, j);
  return error_response(404, {});
}

}  // namespace ps::vault::emulator
