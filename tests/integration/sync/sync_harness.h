// The Vault sync integration harness: the real vault-emulator over TLS (dev PKI) and the real
// policy-sidecar binary on a real ledger file, both as separate processes.
//
//   SyncWorld w;                       // emulator, ledger, config (permissive rules)
//   w.add_agent("a1", 0); w.set_role("a1", {"t0-observer"});
//   w.cli({"promote", "a1", "--approved-by", "ops"});
//   w.cli({"sync"});                   // VAULT_ADDR / VAULT_CACERT / VAULT_TOKEN set
//   BOOST_TEST(w.role("a1") == ...);
//
// Reuses tests/support's EmulatorProcess (start, admin fault API, request log). Setup failures
// throw (a test that cannot set up fails loudly).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"
#include "tests/support/emulator_process.h"

namespace httplib {
class SSLClient;
}

namespace ps::sidecar::itest {

using PolicyList = std::vector<std::string>;

// A background child process (stdout/stderr to files) that can be killed.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
        const std::string& out_file, const std::string& err_file);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  void kill(int sig);
  // Waits for the exit; 128 + signal when killed. Idempotent.
  int wait();
  // Waits at most `limit`; nullopt while still running.
  std::optional<int> wait_for(std::chrono::milliseconds limit);
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_file_, err_file_;
};

struct WorldOptions {
  nlohmann::json roles = nlohmann::json::object();      // merged into the config's roles
  nlohmann::json sync = nlohmann::json::object();       // merged over the fast test defaults
  nlohmann::json reconcile = nlohmann::json::object();
  nlohmann::json vault = nlohmann::json::object();
  nlohmann::json revocation = nlohmann::json::object();  // over cooldown_days 0
};

class SyncWorld {
 public:
  explicit SyncWorld(WorldOptions options = {});

  // Ledger rows (raw SQL, as the platform writes them).
  void add_agent(const std::string& agent, std::int64_t tier);
  void add_agents(const std::string& prefix, int n, std::int64_t tier);  // prefix00000...

  // Promotes every agent one tier in this process, through the real Ledger::promote and outbox
  // hook with the config file's roles (quicker than one CLI process per agent).
  void promote_in_process(const std::vector<std::string>& agents);
  static std::vector<std::string> names(const std::string& prefix, int n);
  // The same tier changes written in ONE ledger transaction (tier, promotions row, outbox row
  // through engine::write_desired_state): for tests that need many pending rows quickly.
  void promote_in_one_transaction(const std::vector<std::string>& agents);

  // Emulator state through the root token.
  void set_role(const std::string& agent, const PolicyList& policies);
  void delete_role(const std::string& agent);
  std::optional<PolicyList> role(const std::string& agent);  // sorted; nullopt when missing
  static std::string role_of(const std::string& agent) { return "agent-" + agent; }

  // Rewrites the config file (e.g. another drift mode).
  void write_config(const WorldOptions& options);

  // The environment the sidecar runs with: VAULT_ADDR, VAULT_CACERT, VAULT_TOKEN (root unless
  // `token` given; empty token = none), POLICY_SIDECAR_DB.
  std::vector<std::string> env(const std::optional<std::string>& token = std::nullopt) const;
  std::vector<std::string> argv(const std::vector<std::string>& args) const;
  ps::testing::ProcessResult cli(const std::vector<std::string>& args,
                                 const std::vector<std::string>& extra_env = {});
  std::unique_ptr<Child> spawn(const std::vector<std::string>& args,
                               const std::vector<std::string>& extra_env = {});

  // Raw reads of the ledger (independent of engine/).
  std::int64_t sql_int(const std::string& sql);
  std::vector<std::string> sql_rows(const std::string& sql);
  // agent -> desired policies of its outbox row (sorted), for every row.
  std::map<std::string, PolicyList> desired_sets();

  // /v1 requests of the emulator's log whose path starts with `prefix` (and status, if given).
  std::size_t requests(const std::string& prefix, std::optional<int> status = std::nullopt);

  // Finds the accessors of tokens logged in through AppRole role `role_name`.
  std::vector<std::string> login_accessors(const std::string& role_name);

  ps::testing::TempDir vdir;
  ps::testing::DevPki pki;
  std::unique_ptr<ps::testing::EmulatorProcess> emu;
  std::string db;
  std::string config;
  std::string root_token;

  ~SyncWorld();
  // A root-token request on the harness's own kept-alive connection (thousands of role reads
  // would otherwise pay a TLS handshake each).
  ps::testing::EmulatorProcess::Reply root(const std::string& method,
                                                  const std::string& path,
                                                  const nlohmann::json& body = nullptr);

 private:
  int children_ = 0;
  std::unique_ptr<httplib::SSLClient> http_;
};

// `policy-sidecar` permissive rules: any agent may be promoted one tier at a time.
nlohmann::json permissive_rules_json();

}  // namespace ps::sidecar::itest
