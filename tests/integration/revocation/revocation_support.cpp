#include "tests/integration/revocation/revocation_support.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include <httplib.h>

#include "tls/tls.h"

namespace ps::testing::revocation {

using nlohmann::json;

PolicyList tier_policies(std::int64_t tier) { return {"t" + std::to_string(tier) + "-observer"}; }

// ---- VaultClient ----------------------------------------------------------------------------

VaultClient::VaultClient(const std::string& address, const std::string& ca_file,
                         std::string root_token)
    : ca_(ca_file), root_token_(std::move(root_token)) {
  const auto colon = address.rfind(':');
  const auto slashes = address.find("//");
  if (colon == std::string::npos || slashes == std::string::npos) {
    throw std::runtime_error("bad Vault address " + address);
  }
  host_ = address.substr(slashes + 2, colon - slashes - 2);
  port_ = std::stoi(address.substr(colon + 1));
}

VaultClient::~VaultClient() = default;

VaultClient::Reply VaultClient::call(const std::string& token, const std::string& method,
                                     const std::string& path, const json& body) {
  for (int attempt = 0;; ++attempt) {
    if (!http_) {
      tls::ClientConfig cfg;
      cfg.ca_file = ca_;
      auto client_tls = tls::ClientTls::create(cfg, nullptr);
      if (!client_tls.ok()) throw std::runtime_error("test TLS: " + client_tls.status().message());
      http_ = (*client_tls)->make_client(host_, port_);
      http_->set_keep_alive(true);
      http_->set_tcp_nodelay(true);
      http_->set_connection_timeout(std::chrono::seconds{10});
      http_->set_read_timeout(std::chrono::seconds{30});
    }
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.headers.emplace("X-Vault-Request", "true");
    if (!token.empty()) req.headers.emplace("X-Vault-Token", token);
    if (!body.is_null()) {
      req.body = body.dump();
      req.headers.emplace("Content-Type", "application/json");
    }
    auto res = http_->send(req);
    if (!res) {
      http_.reset();  // reconnect (the emulator may have closed an idle connection)
      if (attempt == 0) continue;
      throw std::runtime_error("Vault request " + method + " " + path + " failed: " +
                               httplib::to_string(res.error()));
    }
    return Reply::from(res->status, res->body);
  }
}

std::optional<PolicyList> VaultClient::role_policies(const std::string& role) {
  auto r = root("GET", "/v1/auth/approle/role/" + role + "/policies");
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) {
    throw std::runtime_error("role " + role + ": HTTP " + std::to_string(r.status));
  }
  PolicyList out = r.body["data"]["token_policies"].get<PolicyList>();
  std::sort(out.begin(), out.end());
  return out;
}

void VaultClient::put_role(const std::string& role, const PolicyList& policies) {
  auto r = root("POST", "/v1/auth/approle/role/" + role, {{"token_policies", policies}});
  if (r.status != 204 && r.status != 200) {
    throw std::runtime_error("put_role " + role + ": HTTP " + std::to_string(r.status));
  }
}

VaultClient::Credentials VaultClient::new_secret_id(const std::string& role) {
  const std::string base = "/v1/auth/approle/role/" + role;
  auto& role_id = role_ids_[role];
  if (role_id.empty()) {
    auto r = root("GET", base + "/role-id");
    if (r.status != 200) throw std::runtime_error("role-id of " + role + ": " + r.body.dump());
    role_id = r.body["data"]["role_id"].get<std::string>();
  }
  auto secret = root("POST", base + "/secret-id", json::object());
  if (secret.status != 200) throw std::runtime_error("secret-id of " + role + ": " + secret.body.dump());
  Credentials c;
  c.role = role;
  c.secret_id = secret.body["data"]["secret_id"].get<std::string>();
  c.secret_id_accessor = secret.body["data"]["secret_id_accessor"].get<std::string>();
  return c;
}

VaultClient::Credentials VaultClient::login_with(const std::string& role,
                                                 const Credentials& secret) {
  Credentials c = secret;
  auto login = call("", "POST", "/v1/auth/approle/login",
                    {{"role_id", role_ids_.at(role)}, {"secret_id", c.secret_id}});
  if (login.status != 200) throw std::runtime_error("login as " + role + ": " + login.body.dump());
  c.token = login.body["auth"]["client_token"].get<std::string>();
  c.accessor = login.body["auth"]["accessor"].get<std::string>();
  c.policies = login.body["auth"]["policies"].get<PolicyList>();
  std::sort(c.policies.begin(), c.policies.end());
  return c;
}

VaultClient::Credentials VaultClient::login(const std::string& role) {
  return login_with(role, new_secret_id(role));
}

int VaultClient::login_status(const std::string& role, const std::string& secret_id) {
  const auto& role_id = role_ids_.at(role);
  return call("", "POST", "/v1/auth/approle/login", {{"role_id", role_id}, {"secret_id", secret_id}})
      .status;
}

int VaultClient::lookup_self(const std::string& token) {
  return call(token, "GET", "/v1/auth/token/lookup-self").status;
}

std::vector<std::string> VaultClient::secret_id_accessors(const std::string& role) {
  auto r = root("GET", "/v1/auth/approle/role/" + role + "/secret-id?list=true");
  if (r.status != 200) return {};
  return r.body["data"]["keys"].get<std::vector<std::string>>();
}

bool VaultClient::has_secret_id(const std::string& role, const std::string& accessor) {
  const auto all = secret_id_accessors(role);
  return std::find(all.begin(), all.end(), accessor) != all.end();
}

// ---- violations -----------------------------------------------------------------------------

std::int64_t insert_violation(RawLedger& raw, const NewViolation& v) {
  const std::string now = iso_at(std::chrono::system_clock::now(), std::chrono::seconds{0});
  raw.exec("INSERT INTO violations (" + std::string(v.id ? "id, " : "") +
           "timestamp, agent_id, violation_type, severity, description, acknowledged) VALUES (" +
           (v.id ? std::to_string(*v.id) + ", " : "") + q(now) + ", " + q(v.agent) + ", " +
           q(v.violation_type) + ", " + q(v.severity) + ", 'written by the test', " +
           (v.acknowledged ? "1" : "0") + ")");
  return v.id ? *v.id : raw.integer("SELECT last_insert_rowid()");
}

// ---- RuleModel ------------------------------------------------------------------------------

RuleModel::Rule RuleModel::parse(const json& j) {
  if (j.is_string() && j == "none") return {Rule::none, 0};
  if (j.is_string() && j == "demote_one") return {Rule::demote_one, 0};
  if (j.is_object() && j.contains("demote_to")) return {Rule::demote_to, j["demote_to"].get<std::int64_t>()};
  throw std::runtime_error("test rule model: unknown rule " + j.dump());
}

RuleModel::RuleModel(const json& revocation) {
  severity_ = {{"critical", {Rule::demote_to, 0}},
               {"high", {Rule::demote_one, 0}},
               {"medium", {Rule::none, 0}},
               {"low", {Rule::none, 0}}};
  if (revocation.contains("acknowledged")) act_on_acknowledged_ = revocation["acknowledged"] == "act";
  if (!revocation.contains("rules")) return;
  const json& rules = revocation["rules"];
  if (rules.contains("severity")) {
    for (const auto& [k, v] : rules["severity"].items()) severity_[k] = parse(v);
  }
  if (rules.contains("violation_type")) {
    for (const auto& [k, v] : rules["violation_type"].items()) type_[k] = parse(v);
  }
}

RuleModel::Decision RuleModel::decide(const std::string& violation_type,
                                      const std::string& severity, bool acknowledged,
                                      std::int64_t tier) const {
  if (acknowledged && !act_on_acknowledged_) return {"no_action", tier};
  auto apply = [&](const Rule& r) -> Decision {
    switch (r.kind) {
      case Rule::none: return {"no_action", tier};
      case Rule::demote_one: return {"demoted", std::max<std::int64_t>(0, tier - 1)};
      case Rule::demote_to: return {"demoted", std::min(tier, r.tier)};
    }
    return {"no_action", tier};
  };
  if (auto it = type_.find(violation_type); it != type_.end()) return apply(it->second);
  // Trimmed (C locale white space) and lowercased.
  std::size_t b = 0, e = severity.size();
  while (b < e && std::isspace(static_cast<unsigned char>(severity[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(severity[e - 1]))) --e;
  std::string s = severity.substr(b, e - b);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = severity_.find(s);
  if (it == severity_.end()) return {"invalid_severity", tier};
  return apply(it->second);
}

// ---- replay and invariants ------------------------------------------------------------------

namespace {

std::vector<std::string> split(const std::string& row) {
  std::vector<std::string> f;
  std::size_t p = 0;
  for (;;) {
    const auto bar = row.find('|', p);
    f.push_back(row.substr(p, bar == std::string::npos ? std::string::npos : bar - p));
    if (bar == std::string::npos) return f;
    p = bar + 1;
  }
}

}  // namespace

Replay replay(RawLedger& raw, const RuleModel& rules, std::map<std::string, std::int64_t> tiers,
              std::int64_t after_id, std::optional<std::int64_t> up_to_id) {
  Replay out;
  // hex() keeps agent ids with '|' or newlines intact through the row rendering.
  const std::string sql =
      "SELECT id, hex(agent_id), hex(violation_type), hex(severity), acknowledged FROM violations "
      "WHERE id > " + std::to_string(after_id) +
      (up_to_id ? " AND id <= " + std::to_string(*up_to_id) : std::string()) + " ORDER BY id";
  auto unhex = [](const std::string& h) {
    std::string s;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
      s.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
    }
    return s;
  };
  for (const auto& row : raw.rows(sql)) {
    const auto f = split(row);
    const std::int64_t id = std::stoll(f[0]);
    const std::string agent = unhex(f[1]);
    auto it = tiers.find(agent);
    if (it == tiers.end()) {
      out.outcomes[id] = "unknown_agent";
      continue;
    }
    const auto d = rules.decide(unhex(f[2]), unhex(f[3]), f[4] != "0", it->second);
    out.outcomes[id] = d.outcome;
    if (d.outcome == "demoted") {
      ++out.demoting;
      it->second = d.to_tier;
    }
  }
  out.tiers = std::move(tiers);
  return out;
}

std::vector<std::string> exactly_once_problems(RawLedger& raw) {
  std::vector<std::string> p;
  auto add_rows = [&](const std::string& what, const std::string& sql) {
    for (const auto& r : raw.rows(sql)) p.push_back(what + ": " + r);
  };
  add_rows("violation without an outcome",
           "SELECT v.id FROM violations v WHERE NOT EXISTS (SELECT 1 FROM "
           "sidecar_violation_outcomes o WHERE o.violation_id = v.id)");
  add_rows("outcome without a violation",
           "SELECT o.violation_id FROM sidecar_violation_outcomes o WHERE NOT EXISTS (SELECT 1 "
           "FROM violations v WHERE v.id = o.violation_id)");
  add_rows("violation demoted more than once",
           "SELECT violation_id, COUNT(*) FROM sidecar_demotions WHERE violation_id IS NOT NULL "
           "GROUP BY violation_id HAVING COUNT(*) > 1");
  add_rows("violation-sourced demotion without violation_id",
           "SELECT id FROM sidecar_demotions WHERE source = 'violation' AND violation_id IS NULL");
  const std::int64_t demotions =
      raw.integer("SELECT COUNT(*) FROM sidecar_demotions WHERE source = 'violation'");
  const std::int64_t demoted =
      raw.integer("SELECT COUNT(*) FROM sidecar_violation_outcomes WHERE outcome = 'demoted'");
  if (demotions != demoted) {
    p.push_back("violation-sourced demotions " + std::to_string(demotions) +
                " != outcomes 'demoted' " + std::to_string(demoted));
  }
  add_rows("'demoted' outcome not pointing at its own demotion",
           "SELECT o.violation_id, o.demotion_id FROM sidecar_violation_outcomes o WHERE "
           "o.outcome = 'demoted' AND NOT EXISTS (SELECT 1 FROM sidecar_demotions d WHERE "
           "d.id = o.demotion_id AND d.violation_id = o.violation_id AND d.agent_id = o.agent_id "
           "AND d.source = 'violation')");
  add_rows("outcome other than 'demoted' with a demotion",
           "SELECT o.violation_id, o.outcome FROM sidecar_violation_outcomes o WHERE o.outcome <> "
           "'demoted' AND (o.demotion_id IS NOT NULL OR EXISTS (SELECT 1 FROM sidecar_demotions d "
           "WHERE d.violation_id = o.violation_id))");
  const std::int64_t unhandled = raw.integer(
      "SELECT COUNT(*) FROM violations v WHERE NOT EXISTS (SELECT 1 FROM "
      "sidecar_violation_outcomes o WHERE o.violation_id = v.id)");
  const std::int64_t mark =
      raw.integer("SELECT last_violation_id FROM sidecar_revocation_mark WHERE id = 1");
  const std::int64_t top = raw.integer("SELECT COALESCE(MAX(id), 0) FROM violations");
  if (unhandled == 0 && mark < top) {
    p.push_back("mark " + std::to_string(mark) + " below the highest violation " +
                std::to_string(top));
  }
  return p;
}

std::string problems_text(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) out += p + "\n";
  return out;
}

std::map<std::string, std::int64_t> ledger_tiers(RawLedger& raw) {
  std::map<std::string, std::int64_t> out;
  for (const auto& row : raw.rows("SELECT hex(agent_id), current_tier FROM agent_metrics")) {
    const auto f = split(row);
    std::string agent;
    for (std::size_t i = 0; i + 1 < f[0].size(); i += 2) {
      agent.push_back(static_cast<char>(std::stoi(f[0].substr(i, 2), nullptr, 16)));
    }
    out[agent] = std::stoll(f[1]);
  }
  return out;
}

std::string text(const std::optional<PolicyList>& policies) {
  if (!policies) return "<missing>";
  std::string out;
  for (const auto& p : *policies) out += (out.empty() ? "" : ",") + p;
  return out;
}

std::string text(const std::map<std::string, std::int64_t>& tiers) {
  std::string out;
  for (const auto& [agent, tier] : tiers) {
    out += (out.empty() ? "" : " ") + agent + "=" + std::to_string(tier);
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (end && *end == '\0' && n > 0 && n < 1000000) ? static_cast<int>(n) : fallback;
}

}  // namespace ps::testing::revocation
