// The real vault-emulator as a separate process over TLS on 127.0.0.1 port 0, for the vault
// client's integration tests: start, wait for its VAULT_ADDR line, drive its admin fault API,
// read its request log, stop. Setup failures throw std::runtime_error.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/vault/test_support.h"
#include "tls/tls.h"

namespace httplib {
class SSLClient;
}

namespace ps::vault::testing {

// Dev PKI (tls/dev_pki.h) written once per TempDir.
struct DevPki {
  explicit DevPki(const TempDir& dir);
  std::string ca, server, server_key, client, client_key, expired, expired_key, wrong_host,
      wrong_host_key, other_ca, other_server, other_server_key, other_client, other_client_key;
};

struct EmulatorOptions {
  std::string cert;
  std::string key;
  std::string client_ca;  // --tls-client-ca when set
  bool require_request_header = false;
  std::string root_token = "root-7c1d2f0e9a";
  std::string admin_token = "admin-55e0b3a1c4";
};

class EmulatorProcess {
 public:
  // Starts the emulator with --dev, an admin token and a request log in `dir`.
  EmulatorProcess(const TempDir& dir, const DevPki& pki, EmulatorOptions options);
  ~EmulatorProcess();
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  const std::string& address() const { return address_; }  // https://127.0.0.1:<port>
  int port() const { return port_; }
  const EmulatorOptions& options() const { return options_; }

  struct Reply {
    int status = 0;
    nlohmann::json body;  // null when empty or not JSON
  };
  // A request with the root token (setup and checks), through a separate connection.
  Reply root(const std::string& method, const std::string& path,
             const nlohmann::json& body = nullptr);
  // The admin API (/_emulator/...). Throws on a non-2xx answer.
  Reply admin(const std::string& method, const std::string& path,
              const nlohmann::json& body = nullptr);

  void seal() { admin("POST", "/_emulator/seal"); }
  void unseal() { admin("POST", "/_emulator/unseal"); }
  void fault(const nlohmann::json& spec) { admin("POST", "/_emulator/faults", spec); }
  void clear_faults() { admin("DELETE", "/_emulator/faults"); }

  // Every line of the JSON-lines request log.
  std::vector<nlohmann::json> request_log() const;
  // The /v1 requests of the log (admin calls left out).
  std::vector<nlohmann::json> vault_requests() const;
  // The emulator's stderr so far.
  std::string stderr_text() const;

  // Creates role `name` with `fields`, a secret id, and writes role_id/secret_id files into
  // `dir` as <name>.role_id / <name>.secret_id. Returns {role_id, secret_id}.
  std::pair<std::string, std::string> make_approle(const TempDir& dir, const std::string& name,
                                                   const nlohmann::json& fields);
  // Writes an ACL policy (JSON document).
  void put_policy(const std::string& name, const nlohmann::json& document);

 private:
  Reply request(const std::string& method, const std::string& path, const nlohmann::json& body,
                const std::vector<std::pair<std::string, std::string>>& headers);

  EmulatorOptions options_;
  std::string log_path_;
  std::string stderr_path_;
  std::string ca_;
  pid_t pid_ = -1;
  std::string address_;
  int port_ = 0;
  std::shared_ptr<tls::ClientTls> tls_;
};

// The emulator binary ($PS_BUILD_DIR/vault/emulator/vault-emulator).
std::string emulator_binary();

}  // namespace ps::vault::testing
