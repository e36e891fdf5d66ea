// End-to-end harness for `policy-sidecar serve`: a temp dir with the dev PKI, a ledger, the
// webhook secret and API token files (mode 0600), a running vault-emulator, and the daemon as
// a separate process over TLS on 127.0.0.1 (port 0, read back from its stdout).
// Setup failures throw std::runtime_error (with the daemon's stderr when it did not start).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/emulator_process.h"
#include "tests/support/server_test_support.h"
#include "tests/support/test_support.h"

namespace ps::testing::serve {

// A child process: stdout piped (read line by line), stderr appended to a file.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::string& stderr_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The rest of the first stdout line starting with `prefix`; "" on EOF or timeout.
  std::string wait_for_line(std::string_view prefix, std::chrono::milliseconds timeout);
  void signal(int sig);
  // The exit status (128 + signal when killed), or nullopt if still running at the timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffered_;
};

struct HttpReply {
  int status = 0;  // 0: no answer (connection failed or closed)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(const std::string& name) const;  // case-insensitive; "" if absent
  nlohmann::json json() const;
};

class ServeEnv {
 public:
  static constexpr const char* kAdminToken = "emulator-admin";
  static constexpr const char* kRootToken = "root";

  // `emulator`: start a vault-emulator (--dev) too.
  explicit ServeEnv(bool emulator = true);
  ~ServeEnv();

  const std::string& dir() const { return dir_.path(); }
  std::string file(const std::string& name) const { return dir_.file(name); }
  const std::string& db() const { return db_; }
  RawLedger& raw() { return *raw_; }
  const std::string& secret() const { return secret_; }
  const std::string& api_token() const { return token_; }
  std::string ca() const { return file("pki/ca.pem"); }
  const std::string& vault_addr() const { return vault_addr_; }

  // The test configuration (listener on 127.0.0.1:0 with the dev server certificate, webhook
  // reviewers ["rev"] and admins ["adm"], roles created when missing, reconcile only at
  // start), with `patch` merged over it (JSON merge patch), written to a new file.
  std::string write_config(const nlohmann::json& patch = nlohmann::json::object());

  // Starts `policy-sidecar serve --config path` (VAULT_TOKEN=root) and waits for its address.
  void start_serve(const std::string& config_path, std::vector<std::string> env = {});
  // Starts it expecting failure: returns the exit status; `err` gets stderr.
  int start_serve_expect_failure(const std::string& config_path, std::string& err,
                                 std::vector<std::string> env = {});
  ChildProcess& serve() { return *serve_; }
  int port() const { return port_; }
  std::string serve_log() const;
  // SIGTERM and wait (exit status; throws if it does not exit within `timeout`).
  int stop_serve(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // HTTPS to the daemon (a new connection each), verifying its certificate with the dev CA.
  HttpReply get(const std::string& path, const std::string& bearer = "");
  HttpReply post(const std::string& path, const std::string& body,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const std::string& content_type = "application/json");
  // A signed approval delivery (timestamp = now + skew).
  HttpReply send_approval(const std::string& body, const std::string& id,
                          std::int64_t skew_s = 0, const std::string& secret = "");
  // Raw bytes over TLS; reads the answer until the server closes or `timeout`.
  std::string raw_request(const std::string& bytes, std::chrono::milliseconds timeout);
  // Opens a TLS connection, writes `bytes` (possibly an incomplete request, possibly nothing),
  // then reads until the server closes it. What was read, and whether it was closed before
  // `limit` (false: still open when the limit passed).
  struct Closed {
    bool closed = false;
    bool close_notify = false;  // closed with a TLS close_notify (SSL_ERROR_ZERO_RETURN)
    std::string received;
  };
  Closed wait_for_close(const std::string& bytes, std::chrono::milliseconds limit);
  // The SHA-256 fingerprint (hex) of the certificate the daemon presents now.
  std::string served_certificate_fingerprint();

  // Vault (the emulator) as root: the role's token_policies, or nullopt when it is missing.
  std::optional<std::vector<std::string>> role_policies(const std::string& role);
  // Writes the role's token_policies as root (an edit behind the sidecar's back).
  int set_role_policies(const std::string& role, const std::vector<std::string>& policies);
  // POST to the emulator's admin API (seal, unseal, faults).
  int emulator_admin(const std::string& path, const std::string& body = "{}");

  // Polls `done` every 100 ms up to `timeout`.
  static bool eventually(const std::function<bool()>& done,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // The value of one metric series in /metrics ("name{labels}"), or nullopt.
  std::optional<double> metric(const std::string& series);

 private:
  TempDir dir_;
  DevPki pki_;  // <dir>/pki
  std::string db_;
  std::unique_ptr<RawLedger> raw_;
  std::string secret_;
  std::string token_;
  std::unique_ptr<EmulatorProcess> emulator_;
  std::string vault_addr_;
  int vault_port_ = 0;
  std::unique_ptr<ChildProcess> serve_;
  int port_ = 0;
  int configs_ = 0;
};

// Unix seconds now.
std::int64_t unix_now();

}  // namespace ps::testing::serve
