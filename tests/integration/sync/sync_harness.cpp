#include "tests/integration/sync/sync_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <httplib.h>

#include "engine/ledger/ledger.h"
#include "engine/ledger/outbox.h"
#include "engine/ledger/sqlite.h"
#include "engine/rules/rules_config.h"
#include "sidecar/config/config.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/outbox_hook.h"
#include "tests/support/files.h"

extern char** environ;

namespace ps::sidecar::itest {

using nlohmann::json;

namespace {

// The sidecar must see only what the test gives it.
const std::vector<std::string> kInheritedVariablesRemoved = {
    "VAULT_ADDR",      "VAULT_TOKEN",       "VAULT_CACERT",      "VAULT_CAPATH",
    "VAULT_AGENT_ADDR", "VAULT_NAMESPACE",  "VAULT_SKIP_VERIFY", "VAULT_MAX_RETRIES",
    "VAULT_CLIENT_TIMEOUT", "PS_TEST_CRASH_AT"};

}  // namespace

json permissive_rules_json() {
  json off = {{"min_compliant_runs", 0},
              {"min_consecutive_compliant", 0},
              {"required_action_types", json::array()},
              {"min_successful_modifications", 0},
              {"max_violations_30d", 1000000},
              {"requires_manual_review", false}};
  return {{"0", off}, {"1", off}, {"2", off}, {"3", off}};
}

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
             const std::string& out_file, const std::string& err_file)
    : out_file_(out_file), err_file_(err_file) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const ps::testing::CStringArray envp(
      ps::testing::merged_environment(env, kInheritedVariablesRemoved));
  const ps::testing::CStringArray args(argv);
  const ps::testing::SpawnDefaultSigpipe attr;  // the CLI is tested with its own handling
  const int rc = ::posix_spawn(&pid_, args.get()[0], &fa, attr.get(), args.get(), envp.get());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
}

Child::~Child() {
  if (!status_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    (void)wait();
  }
}

void Child::kill(int sig) {
  if (!status_) ::kill(pid_, sig);
}

int Child::wait() {
  if (status_) return *status_;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return *status_;
}

std::optional<int> Child::wait_for(std::chrono::milliseconds limit) {
  if (status_) return status_;
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

std::string Child::out() const { return ps::testing::read_text_file(out_file_); }
std::string Child::err() const { return ps::testing::read_text_file(err_file_); }

SyncWorld::SyncWorld(WorldOptions options) : pki(vdir), root_token("root-sync-4b1c") {
  ps::testing::EmulatorOptions eo;
  eo.cert = pki.server;
  eo.key = pki.server_key;
  eo.root_token = root_token;
  emu = std::make_unique<ps::testing::EmulatorProcess>(vdir, pki, eo);
  db = vdir.file("governance.db");
  config = vdir.file("policy-sidecar.json");
  { ps::testing::RawLedger create(db, true); }
  write_config(options);
  auto migrated = cli({"migrate"});
  if (migrated.exit_code != 0) throw std::runtime_error("migrate failed: " + migrated.err);
}

SyncWorld::~SyncWorld() = default;

ps::testing::EmulatorProcess::Reply SyncWorld::root(const std::string& method,
                                                           const std::string& path,
                                                           const json& body) {
  if (!http_) {
    tls::ClientConfig cfg;
    cfg.ca_file = pki.ca;
    auto client_tls = tls::ClientTls::create(cfg, nullptr);
    if (!client_tls.ok()) {
      throw std::runtime_error("harness TLS: " + client_tls.status().message());
    }
    http_ = (*client_tls)->make_client("127.0.0.1", emu->port());
    http_->set_keep_alive(true);
    http_->set_read_timeout(std::chrono::seconds{30});
  }
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers.emplace("X-Vault-Token", root_token);
  if (!body.is_null()) {
    req.body = body.dump();
    req.headers.emplace("Content-Type", "application/json");
  }
  auto res = http_->send(req);
  if (!res) {
    http_.reset();  // reconnect next time
    throw std::runtime_error("harness request " + method + " " + path + " failed");
  }
  ps::testing::EmulatorProcess::Reply r;
  r.status = res->status;
  if (!res->body.empty()) {
    r.body = json::parse(res->body, nullptr, false);
    if (r.body.is_discarded()) r.body = nullptr;
  }
  return r;
}

void SyncWorld::write_config(const WorldOptions& options) {
  json vault = {{"ca_cert", pki.ca}, {"timeout_s", 5}, {"connect_timeout_s", 5}};
  vault.merge_patch(options.vault);
  json sync = {{"rate_limit_per_s", 0},
               {"poll_interval_ms", 100},
               {"backoff", {{"initial_ms", 100}, {"multiplier", 2}, {"max_ms", 1000}}}};
  sync.merge_patch(options.sync);
  json reconcile = {{"drift_mode", "correct"}, {"concurrency", 2}, {"page_size", 50}};
  reconcile.merge_patch(options.reconcile);
  // The worlds move agents up and down at will: no cooldown after a demotion unless a test
  // asks for one.
  json revocation = {{"cooldown_days", 0}};
  revocation.merge_patch(options.revocation);
  json doc = {{"ledger", {{"busy_timeout_ms", 20000}}},
              {"rules", permissive_rules_json()},
              {"vault", vault},
              {"roles", options.roles},
              {"sync", sync},
              {"reconcile", reconcile},
              {"revocation", revocation}};
  ps::testing::write_file(config, doc.dump(2));
}

void SyncWorld::add_agent(const std::string& agent, std::int64_t tier) {
  ps::testing::RawLedger raw(db);
  raw.metrics(agent, tier, 0, 0);
}

void SyncWorld::add_agents(const std::string& prefix, int n, std::int64_t tier) {
  ps::testing::RawLedger raw(db);
  raw.exec("BEGIN");
  for (int i = 0; i < n; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%05d", prefix.c_str(), i);
    raw.metrics(name, tier, 0, 0);
  }
  raw.exec("COMMIT");
}

std::vector<std::string> SyncWorld::names(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%05d", prefix.c_str(), i);
    out.push_back(name);
  }
  return out;
}

void SyncWorld::promote_in_process(const std::vector<std::string>& agents) {
  auto cfg = load_config_file(config);
  if (!cfg.ok()) throw std::runtime_error(cfg.status().message());
  auto desired = DesiredState::create(cfg->roles, cfg->vault.mount);
  if (!desired.ok()) throw std::runtime_error(desired.status().message());
  auto ledger = engine::Ledger::open({db, 20000, false});
  if (!ledger.ok()) throw std::runtime_error(ledger.status().message());
  const auto hook = make_outbox_hook(*desired);
  for (const auto& agent : agents) {
    engine::PromotionRequest req;
    req.agent_id = agent;
    req.approved_by = "itest";
    req.now = std::chrono::system_clock::now();
    auto r = (*ledger)->promote(req, cfg->rules, hook);
    if (!r.ok()) throw std::runtime_error("promote " + agent + ": " + r.status().message());
  }
}

void SyncWorld::promote_in_one_transaction(const std::vector<std::string>& agents) {
  auto cfg = load_config_file(config);
  if (!cfg.ok()) throw std::runtime_error(cfg.status().message());
  auto desired = DesiredState::create(cfg->roles, cfg->vault.mount);
  if (!desired.ok()) throw std::runtime_error(desired.status().message());
  auto conn = engine::sqlite::Connection::open_existing(db, 20000);
  if (!conn.ok()) throw std::runtime_error(conn.status().message());
  auto tx = engine::sqlite::Transaction::begin(**conn, engine::sqlite::Transaction::Kind::write);
  if (!tx.ok()) throw std::runtime_error(tx.status().message());
  engine::LedgerTx ltx(**conn);
  const auto now = std::chrono::system_clock::now();
  const std::string now_iso = engine::format_isoformat_utc(now);
  for (const auto& agent : agents) {
    auto tier = (*conn)->prepare("SELECT current_tier FROM agent_metrics WHERE agent_id = ?1");
    tier->bind(1, std::string_view(agent));
    if (!tier->step().value()) throw std::runtime_error("no agent " + agent);
    const std::int64_t from = tier->column_int(0);
    auto up = (*conn)->prepare(
        "UPDATE agent_metrics SET current_tier = ?1, updated_at = ?2 WHERE agent_id = ?3");
    up->bind(1, from + 1).bind(2, std::string_view(now_iso)).bind(3, std::string_view(agent));
    if (!up->run().ok()) throw std::runtime_error("update " + agent);
    auto ins = (*conn)->prepare(
        "INSERT INTO promotions (timestamp, agent_id, from_tier, to_tier, approved_by, rationale, "
        "evidence) VALUES (?1, ?2, ?3, ?4, 'itest', 'bulk', '{}')");
    ins->bind(1, std::string_view(now_iso)).bind(2, std::string_view(agent)).bind(3, from)
        .bind(4, from + 1);
    if (!ins->run().ok()) throw std::runtime_error("insert " + agent);
    auto s = engine::write_desired_state(
        ltx, (*desired)->change_for(agent, from + 1, engine::ChangeKind::promotion, now));
    if (!s.ok()) throw std::runtime_error(s.message());
  }
  if (!tx->commit().ok()) throw std::runtime_error("commit");
}

void SyncWorld::set_role(const std::string& agent, const PolicyList& policies) {
  auto r = root("POST", "/v1/auth/approle/role/" + role_of(agent),
                 {{"token_policies", policies}});
  if (r.status != 204 && r.status != 200) {
    throw std::runtime_error("set_role " + agent + ": " + std::to_string(r.status));
  }
}

void SyncWorld::delete_role(const std::string& agent) {
  root("DELETE", "/v1/auth/approle/role/" + role_of(agent));
}

std::optional<PolicyList> SyncWorld::role(const std::string& agent) {
  auto r = root("GET", "/v1/auth/approle/role/" + role_of(agent) + "/policies");
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) throw std::runtime_error("role " + agent + ": " + std::to_string(r.status));
  PolicyList out = r.body["data"]["token_policies"].get<PolicyList>();
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> SyncWorld::env(const std::optional<std::string>& token) const {
  std::vector<std::string> e = {"VAULT_ADDR=" + emu->address(), "POLICY_SIDECAR_DB=" + db};
  const std::string t = token.value_or(root_token);
  if (!t.empty()) e.push_back("VAULT_TOKEN=" + t);
  return e;
}

std::vector<std::string> SyncWorld::argv(const std::vector<std::string>& args) const {
  std::vector<std::string> a = {ps::testing::sidecar_binary(), "--config", config};
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

ps::testing::ProcessResult SyncWorld::cli(const std::vector<std::string>& args,
                                          const std::vector<std::string>& extra_env) {
  auto e = env();
  e.insert(e.end(), extra_env.begin(), extra_env.end());
  // Clear VAULT_* the test process may have, as Child does.
  for (const char* name : {"VAULT_CAPATH", "VAULT_AGENT_ADDR", "VAULT_NAMESPACE",
                           "VAULT_SKIP_VERIFY", "VAULT_MAX_RETRIES", "VAULT_CLIENT_TIMEOUT",
                           "PS_TEST_CRASH_AT", "VAULT_CACERT"}) {
    bool given = false;
    for (const auto& kv : e) given |= kv.rfind(std::string(name) + "=", 0) == 0;
    if (!given && std::getenv(name)) e.push_back(std::string(name) + "=");
  }
  return ps::testing::run_process(argv(args), e);
}

std::unique_ptr<Child> SyncWorld::spawn(const std::vector<std::string>& args,
                                        const std::vector<std::string>& extra_env) {
  auto e = env();
  e.insert(e.end(), extra_env.begin(), extra_env.end());
  const std::string tag = std::to_string(++children_);
  return std::make_unique<Child>(argv(args), e, vdir.file("child-" + tag + ".out"),
                                 vdir.file("child-" + tag + ".err"));
}

std::int64_t SyncWorld::sql_int(const std::string& sql) {
  ps::testing::RawLedger raw(db);
  return raw.integer(sql);
}

std::vector<std::string> SyncWorld::sql_rows(const std::string& sql) {
  ps::testing::RawLedger raw(db);
  return raw.rows(sql);
}

std::map<std::string, PolicyList> SyncWorld::desired_sets() {
  std::map<std::string, PolicyList> out;
  for (const auto& row : sql_rows("SELECT agent_id, policies FROM sidecar_outbox")) {
    const auto bar = row.find('|');
    PolicyList p = json::parse(row.substr(bar + 1)).get<PolicyList>();
    std::sort(p.begin(), p.end());
    out[row.substr(0, bar)] = p;
  }
  return out;
}

std::size_t SyncWorld::requests(const std::string& prefix, std::optional<int> status) {
  std::size_t n = 0;
  for (const auto& r : emu->vault_requests()) {
    if (r.value("path", "").rfind(prefix, 0) != 0) continue;
    if (status && r.value("status", 0) != *status) continue;
    ++n;
  }
  return n;
}

std::vector<std::string> SyncWorld::login_accessors(const std::string& role_name) {
  std::vector<std::string> out;
  auto list = root("GET", "/v1/auth/token/accessors?list=true");
  if (list.status != 200) return out;
  for (const auto& a : list.body["data"]["keys"]) {
    auto info = root("POST", "/v1/auth/token/lookup-accessor", {{"accessor", a}});
    if (info.status != 200) continue;
    const auto& meta = info.body["data"]["meta"];
    if (meta.is_object() && meta.value("role_name", "") == role_name) {
      out.push_back(a.get<std::string>());
    }
  }
  return out;
}

}  // namespace ps::sidecar::itest
