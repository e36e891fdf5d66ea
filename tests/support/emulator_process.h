// The one harness for the real vault-emulator executable ($PS_BUILD_DIR/vault/emulator/
// vault-emulator) as a separate process over TLS on 127.0.0.1 port 0, for every suite that
// needs it (the emulator's own process tests, the Vault client, the sync and serve
// integration tests).
//
// Two ways to start it:
//  - EmulatorProcess(args, stderr_file): exactly the given arguments, for tests of the command
//    line itself. The constructor returns once the first stdout line is read; first_line() is
//    empty when the process exited before printing one (bad arguments, unusable files).
//  - EmulatorProcess(dir, pki, options): --dev with a root token, an admin token and a request
//    log in `dir`; throws std::runtime_error (with the emulator's stderr) unless it printed
//    VAULT_ADDR. Adds root/admin requests through the harness's own TLS client, the admin
//    fault API and the request log.
// The destructor sends SIGTERM, waits up to 5 s, then SIGKILL.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"

namespace ps::tls {
class ClientTls;
}

namespace ps::testing {

// The emulator binary ($PS_BUILD_DIR/vault/emulator/vault-emulator).
std::string emulator_binary();

// The dev PKI (tls/dev_pki.h) written into <dir>/pki, by file.
struct DevPki {
  explicit DevPki(const TempDir& dir);
  std::string ca, server, server_key, client, client_key, expired, expired_key, wrong_host,
      wrong_host_key, other_ca, other_server, other_server_key, other_client, other_client_key;
};

struct EmulatorOptions {
  std::string cert;  // empty: the dev server certificate
  std::string key;
  std::string client_ca;  // --tls-client-ca when set
  bool require_request_header = false;
  std::string root_token = "root-7c1d2f0e9a";
  std::string admin_token = "admin-55e0b3a1c4";
  std::vector<std::string> extra_args;  // appended to the command line
};

class EmulatorProcess {
 public:
  EmulatorProcess(const std::vector<std::string>& args, const std::string& stderr_file);
  EmulatorProcess(const TempDir& dir, const DevPki& pki, EmulatorOptions options = {});
  ~EmulatorProcess();
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  // "VAULT_ADDR=https://127.0.0.1:PORT", or "" when the process exited first.
  const std::string& first_line() const { return first_line_; }
  // https://127.0.0.1:<port> ("" when it did not start); the port (0 likewise).
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const EmulatorOptions& options() const { return options_; }
  // Everything the process wrote to stdout after the first line (reads until EOF).
  std::string rest_of_stdout();
  // Sends `sig` and returns the exit status (128 + signal when killed by one).
  int stop(int sig = SIGTERM);
  // The emulator's stderr so far.
  std::string stderr_text() const;

  // ---- started with (dir, pki, options) ----
  struct Reply {
    int status = 0;
    nlohmann::json body;  // null when empty or not JSON
    // From an answer's status and body text.
    static Reply from(int status, const std::string& body_text);
  };
  // A request on a new connection of the harness (X-Vault-Request: true, JSON body when
  // given). Throws when no answer came.
  Reply send(const std::string& method, const std::string& path, const nlohmann::json& body,
             const std::vector<std::pair<std::string, std::string>>& headers);
  // With the root token (setup and checks).
  Reply root(const std::string& method, const std::string& path,
             const nlohmann::json& body = nullptr);
  // The admin API (/_emulator/...). Throws on a non-2xx answer.
  Reply admin(const std::string& method, const std::string& path,
              const nlohmann::json& body = nullptr);

  void seal() { admin("POST", "/_emulator/seal"); }
  void unseal() { admin("POST", "/_emulator/unseal"); }
  void fault(const nlohmann::json& spec) { admin("POST", "/_emulator/faults", spec); }
  void clear_faults() { admin("DELETE", "/_emulator/faults"); }

  // GET /_emulator/stats (see vault/emulator/README.md).
  nlohmann::json stats();
  // Every line of the JSON-lines request log, once the line of every request the emulator
  // received before this call is written (a barrier on its stats counters; the lines of the
  // barrier's own stats calls may or may not be there yet). Throws after 30 s.
  std::vector<nlohmann::json> request_log();
  // The /v1 requests of the log (admin calls left out), with the same barrier.
  std::vector<nlohmann::json> vault_requests();

  // Creates role `name` with `fields`, a secret id, and writes role_id/secret_id files into
  // `dir` as <name>.role_id / <name>.secret_id. Returns {role_id, secret_id}.
  std::pair<std::string, std::string> make_approle(const TempDir& dir, const std::string& name,
                                                   const nlohmann::json& fields);
  // Writes an ACL policy (JSON document).
  void put_policy(const std::string& name, const nlohmann::json& document);

 private:
  void spawn(const std::vector<std::string>& argv, const std::string& stderr_file);
  std::string read_first_line(std::chrono::seconds timeout);

  EmulatorOptions options_;
  std::string log_path_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string first_line_;
  std::string address_;
  int port_ = 0;
  std::shared_ptr<tls::ClientTls> tls_;
  std::string client_cert_, client_key_;  // presented when the emulator wants a client CA
};

}  // namespace ps::testing
