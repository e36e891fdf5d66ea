#include "tests/support/ledger_gen.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "engine/rules/timestamp.h"

namespace ps::testing {
namespace {

using Clock = std::chrono::system_clock;

// Small RAII helpers over the C API: the generator deliberately does not use engine/, so a
// bug there cannot hide in the data the tests compare it against.
struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("ledger generator: " + msg);
    }
  }
};

struct Stmt {
  sqlite3* db;
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* d, const char* sql) : db(d) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("ledger generator: ") + sqlite3_errmsg(db));
    }
  }
  ~Stmt() { sqlite3_finalize(s); }
  void text(int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void integer(int i, std::int64_t v) { sqlite3_bind_int64(s, i, v); }
  void real(int i, double v) { sqlite3_bind_double(s, i, v); }
  void null(int i) { sqlite3_bind_null(s, i); }
  void run() {
    if (sqlite3_step(s) != SQLITE_DONE) {
      throw std::runtime_error(std::string("ledger generator: ") + sqlite3_errmsg(db));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

const std::vector<std::string> kRequired[5] = {
    {"generate_plan"},
    {"ansible_check", "terraform_plan"},
    {"ansible_run", "terraform_apply"},
    {},
    {},
};
const std::array<std::int64_t, 5> kMinRuns = {5, 10, 25, 50, 50};
const std::array<std::int64_t, 5> kMinConsecutive = {3, 5, 10, 25, 25};
const std::vector<std::string> kAllTypes = {
    "generate_plan", "ansible_check", "terraform_plan", "ansible_run", "terraform_apply",
    "read_logs",     "query_metrics", "restart_service", "http_request"};
const char* kDecisions[] = {"EXECUTE", "PLAN_ONLY", "DENIED", "ESCALATE"};

enum class Profile { meets, misses, inactive, violator };

struct Agent {
  std::string id;
  std::int64_t tier = 0;
  Profile profile = Profile::meets;
  std::vector<std::string> types;
  double success = 0.9;       // P(success = 1) for finished actions
  double exec_success = 0.9;  // ... for EXECUTE decisions
  std::int64_t runs = 0, consecutive = 0, total = 0;
};

std::string iso(Clock::time_point t) { return engine::format_isoformat_utc(t); }

// The same instant in SQLite's own text shapes, which datetime() parses too.
std::string iso_variant(Clock::time_point t, int variant) {
  std::string s = iso(t);  // YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00
  if (variant == 1) return s.substr(0, 10) + " " + s.substr(11, 8);
  return s.substr(0, s.size() - 6) + "Z";
}

std::string agent_name(std::int64_t i) {
  char buf[64];
  switch (i % 997) {
    case 11: std::snprintf(buf, sizeof buf, "agent-\xC3\xA9t\xC3\xA9-%06lld", static_cast<long long>(i)); break;
    case 23: std::snprintf(buf, sizeof buf, "bot-\xF0\x9F\xA4\x96-%06lld", static_cast<long long>(i)); break;
    case 37: std::snprintf(buf, sizeof buf, "agent \"quoted\" \\%06lld", static_cast<long long>(i)); break;
    case 41: std::snprintf(buf, sizeof buf, "Ops-Agent-%06lld", static_cast<long long>(i)); break;
    default: std::snprintf(buf, sizeof buf, "agent-%06lld", static_cast<long long>(i));
  }
  return buf;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("ledger generator: cannot read schema " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The seeded random source; every draw goes through it, in a fixed order, so the same seed
// gives the same ledger.
struct Random {
  std::mt19937_64 rng;
  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); }
  std::int64_t pick(std::int64_t lo, std::int64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  }
  bool chance(double p) { return uniform(0, 1) < p; }
};

// The window the generated history spans: actions from `start`, the 30-day rule window from
// `cutoff`.
struct Span {
  Clock::time_point now, start, cutoff;
};

// Creates the ledger file from the schema (replacing it when allowed) and opens a transaction.
void open_ledger(Db& db, const GenOptions& o) {
  if (sqlite3_open_v2(o.out.c_str(), &db.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    throw std::runtime_error("ledger generator: cannot create " + o.out);
  }
  db.exec(read_file(o.schema_path));
  db.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;");
  db.exec("BEGIN");
}

// Makes a `misses` agent fall short of its tier in one way: runs, consecutive runs, a required
// action type, or execution success.
void make_miss(Agent& a, std::size_t tier, Random& r) {
  const int what = static_cast<int>(r.pick(0, 3));
  if (what == 0) a.runs = r.pick(0, kMinRuns[tier] - 1);
  if (what == 1 || (what == 0 && r.chance(0.3))) a.consecutive = r.pick(0, kMinConsecutive[tier] - 1);
  if (what == 2 && !kRequired[tier].empty()) {
    const std::string dropped = kRequired[tier][static_cast<std::size_t>(r.pick(0, 1)) % kRequired[tier].size()];
    std::erase(a.types, dropped);
    if (a.types.empty()) a.types.push_back("read_logs");
  }
  if (what == 3) a.exec_success = 0.03;
}

// The agents (tier, profile, metrics, action types) and, into *weights, how often each acts.
std::vector<Agent> make_agents(std::int64_t count, Random& r, std::vector<double>* weights) {
  std::vector<Agent> agents(static_cast<std::size_t>(count));
  weights->assign(agents.size(), 0.0);
  for (std::size_t i = 0; i < agents.size(); ++i) {
    Agent& a = agents[i];
    a.id = agent_name(static_cast<std::int64_t>(i));
    const double t = r.uniform(0, 1);
    a.tier = t < 0.35 ? 0 : t < 0.60 ? 1 : t < 0.80 ? 2 : t < 0.92 ? 3 : 4;
    const double p = r.uniform(0, 1);
    a.profile = p < 0.40 ? Profile::meets : p < 0.75 ? Profile::misses
              : p < 0.87 ? Profile::inactive : Profile::violator;
    const auto tier = static_cast<std::size_t>(a.tier);
    a.runs = kMinRuns[tier] + r.pick(0, 30);
    a.consecutive = std::min(a.runs, kMinConsecutive[tier] + r.pick(0, 12));
    a.types = kRequired[tier];
    for (int k = 0, extra = static_cast<int>(r.pick(1, 3)); k < extra; ++k) {
      a.types.push_back(kAllTypes[static_cast<std::size_t>(r.pick(0, 8))]);
    }
    if (a.profile == Profile::misses) make_miss(a, tier, r);
    a.consecutive = std::min(a.consecutive, a.runs);
    a.total = a.runs + r.pick(0, 25);
    (*weights)[i] = std::exp(std::normal_distribution<double>(0.0, 0.7)(r.rng));
  }
  return agents;
}

// One agent_metrics row per agent.
void insert_metrics(Db& db, const std::vector<Agent>& agents, const Span& span, Random& r) {
  Stmt m(db.db, "INSERT INTO agent_metrics (agent_id, current_tier, compliant_runs, "
                "consecutive_compliant, total_runs, last_active_at, created_at, updated_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  for (const Agent& a : agents) {
    m.text(1, a.id);
    m.integer(2, a.tier);
    m.integer(3, a.runs);
    m.integer(4, a.consecutive);
    m.integer(5, a.total);
    if (a.profile == Profile::inactive) {
      m.text(6, iso(span.now - std::chrono::hours(r.pick(24 * 31, 24 * 57))));
    } else if (r.chance(0.9)) {
      m.text(6, iso(span.now - std::chrono::seconds(r.pick(0, 86400 * 3))));
    }
    m.text(7, iso(span.start - std::chrono::hours(r.pick(0, 24 * 300))));
    if (r.chance(0.7)) m.text(8, iso(span.now - std::chrono::seconds(r.pick(0, 86400 * 20))));
    m.run();
  }
}

// Draws agents by weight: from all of them, or (inside the window) from the active ones.
class AgentDraw {
 public:
  AgentDraw(const std::vector<Agent>& agents, const std::vector<double>& weights)
      : all_(agents.size()), active_(agents.size()) {
    double acc_all = 0, acc_active = 0;
    for (std::size_t i = 0; i < agents.size(); ++i) {
      acc_all += weights[i];
      acc_active += agents[i].profile == Profile::inactive ? 0.0 : weights[i];
      all_[i] = acc_all;
      active_[i] = acc_active;
    }
  }
  // The index of the next agent to act (always below the agent count).
  std::size_t next(bool in_window, Random& r) const {
    std::size_t idx = in_window && active_.back() > 0 ? draw(active_, r) : draw(all_, r);
    return std::min(idx, all_.size() - 1);
  }

 private:
  static std::size_t draw(const std::vector<double>& cum, Random& r) {
    const double x = r.uniform(0, cum.back());
    return static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), x) - cum.begin());
  }
  std::vector<double> all_, active_;  // cumulative weights
};

// The decision logged for an action of this type.
const char* draw_decision(const std::string& type, Random& r) {
  if (type == "generate_plan") return r.chance(0.9) ? "PLAN_ONLY" : "EXECUTE";
  const double d = r.uniform(0, 1);
  return kDecisions[d < 0.65 ? 0 : d < 0.85 ? 1 : d < 0.93 ? 2 : 3];
}

// `count` actions in one global, time-ordered stream from span.start to a few minutes after
// span.now. Agents are drawn by weight; inactive agents only before the window starts.
void insert_actions(Db& db, const std::vector<Agent>& agents, const std::vector<double>& weights,
                    std::int64_t count, const Span& span, Random& r) {
  const AgentDraw agent_draw(agents, weights);
  Stmt ins(db.db, "INSERT INTO agent_actions (timestamp, agent_id, action, decision, success, "
                  "tier, target, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  const auto length = (span.now + std::chrono::minutes(10)) - span.start;
  const double step = static_cast<double>(length.count()) / static_cast<double>(std::max<std::int64_t>(count, 1));
  for (std::int64_t i = 0; i < count && !agents.empty(); ++i) {
    const auto t = span.start + Clock::duration(static_cast<Clock::rep>(step * (static_cast<double>(i) + 0.5)));
    const bool in_window = t >= span.cutoff + std::chrono::hours(1);
    const Agent& a = agents[agent_draw.next(in_window, r)];
    const std::string& type = a.types[static_cast<std::size_t>(r.pick(0, static_cast<std::int64_t>(a.types.size()) - 1))];
    const char* decision = draw_decision(type, r);
    const int variant = r.chance(0.03) ? 1 : r.chance(0.01) ? 2 : 0;
    ins.text(1, variant ? iso_variant(t, variant) : iso(t));
    ins.text(2, a.id);
    ins.text(3, type);
    ins.text(4, decision);
    if (!r.chance(0.02)) {
      const double p = decision[0] == 'E' ? a.exec_success : a.success;
      ins.integer(5, r.chance(p) ? 1 : 0);
    }
    ins.integer(6, a.tier);
    ins.text(7, "host-" + std::to_string(r.pick(1, 400)));
    if (r.chance(0.5)) ins.text(8, "{\"run\": " + std::to_string(i) + "}");
    ins.run();
  }
}

// Violations: 1-3 inside the window for violators, sometimes 1-2 older ones for anyone.
// Returns how many were written.
std::int64_t insert_violations(Db& db, const std::vector<Agent>& agents, const Span& span,
                               Random& r) {
  Stmt v(db.db, "INSERT INTO violations (timestamp, agent_id, violation_type, severity, "
                "description, acknowledged) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  const char* severities[] = {"low", "medium", "high", "critical"};
  const char* types[] = {"scope_exceeded", "unapproved_change", "secret_access", "rate_limit"};
  std::int64_t written = 0;
  for (const Agent& a : agents) {
    int in_window = a.profile == Profile::violator ? static_cast<int>(r.pick(1, 3)) : 0;
    int old = r.chance(0.15) ? static_cast<int>(r.pick(1, 2)) : 0;
    for (int k = 0; k < in_window + old; ++k) {
      const auto t = k < in_window ? span.now - std::chrono::seconds(r.pick(60, 86400 * 29))
                                   : span.now - std::chrono::seconds(r.pick(86400 * 31, 86400 * 58));
      v.text(1, iso(t));
      v.text(2, a.id);
      v.text(3, types[r.pick(0, 3)]);
      v.text(4, severities[r.pick(0, 3)]);
      v.text(5, "generated violation");
      v.integer(6, r.chance(0.5) ? 1 : 0);
      v.run();
      ++written;
    }
  }
  return written;
}

// Promotion history up to each agent's tier, with timestamp ties. Returns how many rows.
std::int64_t insert_promotions(Db& db, const std::vector<Agent>& agents, const Span& span,
                               Random& r) {
  Stmt p(db.db, "INSERT INTO promotions (timestamp, agent_id, from_tier, to_tier, approved_by, "
                "rationale, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  std::string last_ts;
  std::int64_t written = 0;
  for (const Agent& a : agents) {
    for (std::int64_t from = 0; from < a.tier; ++from) {
      if (!r.chance(0.3)) continue;
      const std::string ts = !last_ts.empty() && r.chance(0.1)
          ? last_ts : iso(span.now - std::chrono::seconds(r.pick(3600, 86400 * 58)));
      last_ts = ts;
      p.text(1, ts);
      p.text(2, a.id);
      p.integer(3, from);
      p.integer(4, from + 1);
      p.text(5, r.chance(0.5) ? "alice" : "bob");
      const double u = r.uniform(0, 1);
      if (u < 0.6) {
        p.text(6, "Agent meets all promotion criteria");
      } else if (u < 0.8) {
        p.text(6, "");
      }  // else NULL
      p.text(7, "{\"note\": \"generated\"}");
      p.run();
      ++written;
    }
  }
  return written;
}

// The invalid-* agents (GenOptions::invalid) and what is wrong with each.
std::vector<std::pair<std::string, std::string>> insert_invalid(Db& db, Clock::time_point now) {
  auto metrics = [&](const std::string& id, const std::string& tier, const std::string& runs,
                     const std::string& consecutive) {
    db.exec("INSERT INTO agent_metrics (agent_id, current_tier, compliant_runs, "
            "consecutive_compliant, total_runs) VALUES ('" + id + "', " + tier + ", " + runs +
            ", " + consecutive + ", 100)");
  };
  const std::string recent = iso(now - std::chrono::hours(2));
  metrics("invalid-tier-7", "7", "60", "30");
  metrics("invalid-tier-negative", "-1", "60", "30");
  metrics("invalid-negative-runs", "0", "-3", "3");
  metrics("invalid-text-tier", "'two'", "60", "30");
  metrics("invalid-real-consecutive", "1", "60", "2.5");
  metrics("invalid-action-timestamp", "0", "60", "30");
  db.exec("INSERT INTO agent_actions (timestamp, agent_id, action, decision, success) VALUES "
          "('" + recent + "', 'invalid-action-timestamp', 'generate_plan', 'PLAN_ONLY', 1), "
          "('not-a-date', 'invalid-action-timestamp', 'generate_plan', 'PLAN_ONLY', 1)");
  metrics("invalid-violation-timestamp", "0", "60", "30");
  db.exec("INSERT INTO agent_actions (timestamp, agent_id, action, decision, success) VALUES "
          "('" + recent + "', 'invalid-violation-timestamp', 'generate_plan', 'PLAN_ONLY', 1)");
  db.exec("INSERT INTO violations (timestamp, agent_id, violation_type) VALUES "
          "('2026-13-45T00:00:00+00:00', 'invalid-violation-timestamp', 'scope_exceeded')");
  return {
      {"invalid-tier-7", "current_tier = 7"},
      {"invalid-tier-negative", "current_tier = -1"},
      {"invalid-negative-runs", "compliant_runs = -3"},
      {"invalid-text-tier", "current_tier = 'two'"},
      {"invalid-real-consecutive", "consecutive_compliant = 2.5"},
      {"invalid-action-timestamp", "'not-a-date'"},
      {"invalid-violation-timestamp", "'2026-13-45T00:00:00+00:00'"},
  };
}

}  // namespace

GenSummary generate_ledger(const GenOptions& o) {
  struct stat st {};
  if (::stat(o.out.c_str(), &st) == 0) {
    if (!o.overwrite) throw std::runtime_error("ledger generator: " + o.out + " exists");
    ::unlink(o.out.c_str());
  }
  Random r{std::mt19937_64(o.seed)};
  Db db;
  open_ledger(db, o);

  GenSummary summary;
  const auto day = std::chrono::hours(24);
  const Span span{o.now, o.now - 58 * day, o.now - 30 * day};
  std::vector<double> weights;
  const std::vector<Agent> agents = make_agents(o.agents, r, &weights);
  insert_metrics(db, agents, span, r);
  insert_actions(db, agents, weights, o.actions, span, r);
  summary.actions = o.actions;
  summary.violations = insert_violations(db, agents, span, r);
  summary.promotions = insert_promotions(db, agents, span, r);
  if (o.invalid) summary.invalid_agents = insert_invalid(db, o.now);

  db.exec("COMMIT");
  db.exec("PRAGMA journal_mode = DELETE");
  summary.agents = o.agents + static_cast<std::int64_t>(summary.invalid_agents.size());
  return summary;
}

}  // namespace ps::testing
