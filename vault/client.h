// VaultClient: VaultApi over HTTP(S) with cpp-httplib, one kept-alive connection.
//
// Threading: a VaultClient is used by ONE thread at a time (it owns one connection and no
// lock). For concurrency, make one client per worker with VaultClientFactory; all of them can
// share one TokenSource (the thread-safe AuthManager) and one ClientTls.
//
// Connection: created lazily, kept alive across calls, and recreated when the ClientTls
// generation changes (certificate/CA reload) or after a transport failure. Redirects are not
// followed (a 307 from a standby is a retryable Error). Paths are built only from validated
// MountPath/RoleName values and fixed text; URL encoding by httplib is off, so the path that
// was validated is the path that is sent.
//
// Headers: X-Vault-Request: true always; X-Vault-Token for authenticated calls;
// X-Vault-Namespace when configured. Error messages never contain the token, role id,
// secret id or a request body: Vault's error strings are included only after every secret
// of the request is replaced by "<redacted>".
//
// Limits: each request has one deadline, options.request_timeout, for
// connect + TLS handshake + sending + the whole answer, enforced by a RequestWatchdog (a peer
// that trickles bytes cannot hold a request past it; the request fails with `timeout`, action
// retry, and the connection is dropped). The answer's body is read into a buffer capped at
// options.max_reply_bytes: a larger answer (by Content-Length or as it streams) fails with
// bad_response, action give_up, after at most that many bytes were kept. Header lines are
// httplib's (8 KiB each); their number is bounded only by the deadline.
//
// Metrics: every request that reached the wire (or failed on it) is reported to the optional
// RequestObserver with its operation, HTTP status or error code, and latency.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tls/tls.h"
#include "vault/api.h"
#include "engine/base/clock.h"
#include "vault/config.h"
#include "vault/response.h"

#include "vault/request_watchdog.h"

namespace httplib {
class ClientImpl;
struct Request;
class Result;
}  // namespace httplib

namespace ps::vault {

struct ClientOptions {
  Endpoint endpoint;
  MountPath mount;        // the managed AppRole mount (the agents' roles)
  MountPath login_mount;  // the sidecar's own AppRole login mount (vault.auth.mount)
  std::string vault_namespace;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};
  // The deadline of one request: connect, TLS handshake, sending and the whole answer.
  std::chrono::milliseconds request_timeout{std::chrono::seconds{60}};
  // Answers (status line and headers aside) larger than this fail with bad_response.
  std::size_t max_reply_bytes = kDefaultMaxReplyBytes;
};

class VaultClient final : public VaultApi {
 public:
  // `tls` is required for an https endpoint and ignored for http. `tokens` may be null: then
  // authenticated operations fail with auth_unavailable (give_up). `clock` must outlive the
  // client.
  VaultClient(ClientOptions options, std::shared_ptr<tls::ClientTls> tls,
              std::shared_ptr<TokenSource> tokens, Clock& clock, LogFn log,
              RequestObserver observer);
  ~VaultClient() override;
  VaultClient(const VaultClient&) = delete;
  VaultClient& operator=(const VaultClient&) = delete;

  Result<Health> health() override;
  Result<Leader> leader() override;
  Result<SealStatus> seal_status() override;
  Result<AuthInfo> approle_login(const Secret& role_id, const Secret& secret_id) override;
  Result<TokenInfo> lookup_self(const Secret& token) override;
  Result<AuthInfo> renew_self(const Secret& token, std::chrono::seconds increment) override;
  Result<std::optional<RoleInfo>> read_role(const RoleName& role) override;
  Result<std::optional<std::vector<std::string>>> read_role_policies(
      const RoleName& role) override;
  Result<void> write_role_policies(const RoleName& role,
                                   const std::vector<std::string>& token_policies) override;
  Result<std::vector<std::string>> list_roles() override;
  Result<void> write_role(const RoleName& role, const RoleSpec& spec) override;
  Result<void> delete_role(const RoleName& role) override;
  Result<std::vector<std::string>> list_secret_id_accessors(const RoleName& role) override;
  Result<void> destroy_secret_id_accessor(const RoleName& role,
                                          const std::string& accessor) override;
  Result<std::optional<SecretIdInfo>> lookup_secret_id_accessor(
      const RoleName& role, const std::string& accessor) override;
  Result<std::map<std::string, std::vector<std::string>>> capabilities_self(
      const std::vector<std::string>& paths) override;
  Result<bool> policy_exists(const std::string& name) override;
  Result<std::vector<std::string>> list_token_accessors() override;
  Result<TokenInfo> lookup_token_accessor(const std::string& accessor) override;
  Result<void> revoke_token_accessor(const std::string& accessor) override;

  // TCP connections opened so far (1 after any number of calls on a healthy keep-alive).
  std::uint64_t connections_opened() const;

 private:
  enum class Auth { none, source };
  struct Request;
  struct SocketSlot;

  // One request on the wire: any HTTP status is an answer; only transport failures are
  // Errors. Reports to the observer.
  Result<HttpAnswer> send(const Request& request);
  // http_->send(req) under the watchdog; true when the deadline cut it. `res` is empty when
  // httplib threw.
  bool send_before_deadline(const httplib::Request& req, std::optional<httplib::Result>& res);
  // Takes the token from the TokenSource when the request asks for it, sends, and turns a
  // status outside 2xx / request.also_accept into the classified Error, with the token and
  // request.secrets redacted from its message.
  Result<HttpAnswer> send_with_source(Request request);
  // For reads and lists: send_with_source with 404 accepted. Vault's 404 {"errors":[]} (a
  // missing role, a list without keys) is nullopt; a 404 with errors (no such mount, an
  // unsupported path) is the classified Error, like any other failure.
  Result<std::optional<HttpAnswer>> send_allowing_absent(Request request);
  // A connection for the next request: reopened when broken or after a TLS reload.
  Result<void> ensure_connection();
  std::string role_base(const RoleName& role) const;

  ClientOptions options_;
  std::shared_ptr<tls::ClientTls> tls_;
  std::shared_ptr<TokenSource> tokens_;
  Clock& clock_;
  LogFn log_;
  RequestObserver observer_;

  std::unique_ptr<httplib::ClientImpl> http_;
  std::uint64_t tls_generation_ = 0;
  bool broken_ = false;
  std::shared_ptr<std::atomic<std::uint64_t>> connections_;  // bumped by httplib's socket hook
  // The socket of a connection being opened during the current request (see SocketSlot).
  std::shared_ptr<SocketSlot> socket_slot_;
  RequestWatchdog watchdog_;
};

// Makes VaultClients that share configuration, TLS material, token source and observer.
// Thread-safe: make_client() may be called from any thread.
class VaultClientFactory {
 public:
  // Validates the address/mount/namespace/timeouts of `config` and, for https, loads its TLS
  // material (ClientTls::create). `clock` must outlive the factory and its clients.
  static Result<std::shared_ptr<VaultClientFactory>> create(const VaultConfig& config,
                                                            Clock& clock, LogFn log,
                                                            RequestObserver observer = {});
  // The same with TLS material made elsewhere (shared with a reloader, or a test's).
  static Result<std::shared_ptr<VaultClientFactory>> create(const VaultConfig& config,
                                                            std::shared_ptr<tls::ClientTls> tls,
                                                            Clock& clock, LogFn log,
                                                            RequestObserver observer = {});

  std::unique_ptr<VaultClient> make_client(std::shared_ptr<TokenSource> tokens) const;
  // The TLS material, for reload() on SIGHUP (null for plaintext).
  const std::shared_ptr<tls::ClientTls>& tls() const { return tls_; }
  const ClientOptions& options() const { return options_; }

 private:
  VaultClientFactory(ClientOptions options, std::shared_ptr<tls::ClientTls> tls, Clock& clock,
                     LogFn log, RequestObserver observer)
      : options_(std::move(options)),
        tls_(std::move(tls)),
        clock_(clock),
        log_(std::move(log)),
        observer_(std::move(observer)) {}

  ClientOptions options_;
  std::shared_ptr<tls::ClientTls> tls_;
  Clock& clock_;
  LogFn log_;
  RequestObserver observer_;
};

}  // namespace ps::vault
