#include "vault/client.h"

#include "engine/base/mutex.h"

#include "vault/paths.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <openssl/err.h>

#include <charconv>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

namespace ps::vault {

using nlohmann::json;

struct VaultClient::Request {
  Request(Operation o, const char* m, std::string p) : op(o), method(m), path(std::move(p)) {}
  Operation op;
  const char* method = "GET";
  std::string path;                  // absolute, starting with /v1/
  std::optional<std::string> body;   // JSON
  Auth auth = Auth::none;
  const Secret* token = nullptr;     // explicit token (lookup_self / renew_self)
  std::vector<const Secret*> secrets;  // redacted from error text, besides the token
  std::vector<int> also_accept;      // non-2xx statuses handed back as answers
  std::uint64_t token_generation = 0;
};

// A duplicate of the socket httplib opens during a request, so the watchdog can shut it down
// while httplib connects or runs the TLS handshake: httplib holds its socket lock then, and
// its stop() would wait for the handshake to end. The duplicate is ours: its number cannot be
// reused by another thread's socket while we hold it; it is closed when the request ends.
struct VaultClient::SocketSlot {
  ps::Mutex mu;
  int fd GUARDED_BY(mu) = -1;
  bool cut GUARDED_BY(mu) = false;  // the deadline passed; shut down any socket adopted later

  void adopt(int sock) {
    ps::MutexLock lock(mu);
    if (fd >= 0) ::close(fd);
    fd = ::fcntl(sock, F_DUPFD_CLOEXEC, 0);
    if (cut && fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  void shut_down() {
    ps::MutexLock lock(mu);
    cut = true;
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  void reset() {
    ps::MutexLock lock(mu);
    if (fd >= 0) ::close(fd);
    fd = -1;
    cut = false;
  }
};

namespace {

void redact(std::string& text, const std::string& secret) {
  // Very short values would redact ordinary words; real tokens and ids are long.
  if (secret.size() < 4) return;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "<redacted>");
  }
}

bool is_success(int status) { return status >= 200 && status < 300; }

Error not_authenticated(std::string why) {
  return Error::make(ErrorCode::auth_unavailable, Action::give_up, std::move(why));
}

std::string openssl_reason() {
  unsigned long code = ERR_peek_last_error();
  if (code == 0) return {};
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : std::string();
}

}  // namespace

VaultClient::VaultClient(ClientOptions options, std::shared_ptr<tls::ClientTls> tls,
                         std::shared_ptr<TokenSource> tokens, Clock& clock, LogFn log,
                         RequestObserver observer)
    : options_(std::move(options)),
      tls_(std::move(tls)),
      tokens_(std::move(tokens)),
      clock_(clock),
      log_(std::move(log)),
      observer_(std::move(observer)),
      connections_(std::make_shared<std::atomic<std::uint64_t>>(0)),
      socket_slot_(std::make_shared<SocketSlot>()) {}

VaultClient::~VaultClient() { socket_slot_->reset(); }

std::uint64_t VaultClient::connections_opened() const { return connections_->load(); }

std::string VaultClient::role_base(const RoleName& role) const {
  return "/v1/" + paths::role(options_.mount, role);
}

Result<void> VaultClient::ensure_connection() {
  const std::uint64_t generation = tls_ ? tls_->generation() : 0;
  if (http_ && !broken_ && generation == tls_generation_) return {};
  if (http_ && generation != tls_generation_ && log_) {
    log_(LogLevel::info, "vault: TLS material was reloaded; opening a new connection");
  }
  http_.reset();
  const auto& ep = options_.endpoint;
  try {
    if (ep.tls) {
      if (!tls_) {
        return Error::make(ErrorCode::tls_config, Action::give_up,
                           "https address but no TLS client material");
      }
      http_ = tls_->make_client(ep.host, ep.port);
    } else {
      http_ = std::make_unique<httplib::ClientImpl>(ep.host, ep.port);
    }
  } catch (const std::exception& e) {
    return Error::make(ErrorCode::tls_config, Action::give_up,
                       std::string("could not set up the connection: ") + e.what());
  }
  if (!http_) {
    return Error::make(ErrorCode::tls_config, Action::give_up,
                       "the TLS client material gave no client");
  }
  http_->set_keep_alive(true);
  http_->set_follow_location(false);
  http_->set_url_encode(false);
  http_->set_tcp_nodelay(true);  // small request/answer pairs on one connection
  http_->set_compress(false);
  http_->set_connection_timeout(std::min(options_.connect_timeout, options_.request_timeout));
  http_->set_read_timeout(options_.request_timeout);
  http_->set_write_timeout(options_.request_timeout);
  std::weak_ptr<std::atomic<std::uint64_t>> counter = connections_;
  std::weak_ptr<SocketSlot> slot = socket_slot_;
  http_->set_socket_options([counter, slot](socket_t sock) {
    httplib::default_socket_options(sock);
    if (auto c = counter.lock()) ++*c;
    if (auto s = slot.lock()) s->adopt(sock);
  });
  tls_generation_ = generation;
  broken_ = false;
  return {};
}

namespace {

// The httplib request for a Vault call: X-Vault-Request always, the token and namespace when
// set, the JSON body when there is one.
httplib::Request http_request(const char* method, const std::string& path, const Secret* token,
                              const std::optional<std::string>& body,
                              const std::string& vault_namespace) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers.emplace("X-Vault-Request", "true");
  if (token != nullptr) req.headers.emplace("X-Vault-Token", token->reveal());
  if (!vault_namespace.empty()) {
    req.headers.emplace("X-Vault-Namespace", vault_namespace);
  }
  if (body) {
    req.body = *body;
    req.headers.emplace("Content-Type", "application/json");
  }
  return req;
}

// The classified Error for an httplib transport failure, with the OpenSSL or certificate
// detail that explains it. `read_timed_out` tells a read timeout from another read error
// (httplib reports both as Error::Read); `http` is the client that failed.
template <typename ReadTimedOut>
Error transport_error(httplib::Error error, ReadTimedOut read_timed_out, httplib::ClientImpl* http) {
  TransportFailure failure = TransportFailure::other;
  std::string detail;
  switch (error) {
    case httplib::Error::Connection: failure = TransportFailure::connection; break;
    case httplib::Error::ConnectionTimeout: failure = TransportFailure::connect_timeout; break;
    case httplib::Error::Read:
      failure = read_timed_out() ? TransportFailure::read_timeout : TransportFailure::read;
      detail = openssl_reason();
      break;
    case httplib::Error::Write: failure = TransportFailure::write; break;
    case httplib::Error::SSLLoadingCerts: failure = TransportFailure::tls_loading; break;
    case httplib::Error::SSLServerVerification: {
      failure = TransportFailure::tls_verification;
      long verdict = X509_V_OK;
      if (auto* ssl = dynamic_cast<httplib::SSLClient*>(http)) {
        verdict = ssl->get_openssl_verify_result();
      }
      detail = verdict != X509_V_OK ? X509_verify_cert_error_string(verdict)
                                    : "host name does not match the certificate";
      break;
    }
    case httplib::Error::SSLConnection: {
      unsigned long code = ERR_peek_last_error();
      failure = (code != 0 && ERR_GET_LIB(code) == ERR_LIB_SSL &&
                 ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED)
                    ? TransportFailure::tls_verification
                    : TransportFailure::tls_handshake;
      detail = openssl_reason();
      break;
    }
    default: detail = httplib::to_string(error); break;
  }
  return classify_transport(failure, detail);
}

// The body of an answer, read through a content receiver that stops past `cap` bytes.
struct CappedBody {
  explicit CappedBody(std::size_t c) : cap(c) {}
  std::size_t cap;
  std::string text;
  bool too_large = false;

  // Refuses an answer whose Content-Length already says it is too large.
  bool check_head(const httplib::Response& response) {
    if (!response.has_header("Content-Length")) return true;
    const std::string value = response.get_header_value("Content-Length");
    std::uint64_t length = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && length > cap)) {
      too_large = true;
      return false;
    }
    (void)end;
    return true;
  }
  bool append(const char* data, std::size_t n) {
    if (n > cap - text.size()) {
      too_large = true;
      return false;
    }
    text.append(data, n);
    return true;
  }
};

// The status, body and Retry-After of an answer.
HttpAnswer answer_of(httplib::Response& response, std::string body) {
  HttpAnswer answer;
  answer.status = response.status;
  answer.body = std::move(body);
  if (response.has_header("Retry-After")) {
    answer.retry_after = parse_retry_after(response.get_header_value("Retry-After"));
  }
  return answer;
}

}  // namespace

Result<HttpAnswer> VaultClient::send(const Request& request) {
  const auto started = clock_.steady_now();
  auto report = [&](int status, std::optional<ErrorCode> code) {
    if (!observer_) return;
    observer_(RequestEvent{request.op, status, code,
                           std::chrono::duration_cast<std::chrono::microseconds>(
                               clock_.steady_now() - started)});
  };
  if (auto connected = ensure_connection(); !connected.ok()) {
    report(0, connected.error().code);
    return std::move(connected).error();
  }
  httplib::Request req = http_request(request.method, request.path, request.token, request.body,
                                      options_.vault_namespace);
  CappedBody body(options_.max_reply_bytes);
  req.response_handler = [&body](const httplib::Response& r) { return body.check_head(r); };
  req.content_receiver = [&body](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    return body.append(data, n);
  };
  ERR_clear_error();
  std::optional<httplib::Result> res;
  const bool cut = send_before_deadline(req, res);
  if (cut || !res || !*res) broken_ = true;
  if (cut) {
    Error err = classify_transport(TransportFailure::deadline,
                                   std::to_string(options_.request_timeout.count()) + " ms");
    report(0, err.code);
    return err;
  }
  if (!res) {
    Error err = classify_transport(TransportFailure::other, "the HTTP library failed");
    report(0, err.code);
    return err;
  }
  if (!*res) {
    if (body.too_large) {
      Error err = Error::make(ErrorCode::bad_response, Action::give_up,
                              "Vault's answer is larger than vault.max_reply_bytes (" +
                                  std::to_string(options_.max_reply_bytes) +
                                  " bytes); not read further");
      report(0, err.code);
      return err;
    }
    auto read_timed_out = [&] {
      return (clock_.steady_now() - started) + std::chrono::milliseconds{50} >=
             options_.request_timeout;
    };
    Error err = transport_error(res->error(), read_timed_out, http_.get());
    report(0, err.code);
    return err;
  }
  HttpAnswer answer = answer_of(**res, std::move(body.text));
  report(answer.status, std::nullopt);
  return answer;
}

bool VaultClient::send_before_deadline(const httplib::Request& req,
                                       std::optional<httplib::Result>& res) {
  // The watchdog cuts the request at its deadline: the socket duplicate unblocks a connect
  // or TLS handshake (under httplib's socket lock), stop() a request in flight.
  httplib::ClientImpl* http = http_.get();
  std::shared_ptr<SocketSlot> slot = socket_slot_;
  watchdog_.arm(std::chrono::steady_clock::now() + options_.request_timeout, [http, slot] {
    slot->shut_down();
    http->stop();
  });
  try {
    res.emplace(http_->send(req));
  } catch (const std::exception&) {
    res.reset();
  }
  const bool cut = watchdog_.disarm();
  socket_slot_->reset();
  return cut;
}

Result<HttpAnswer> VaultClient::send_with_source(Request request) {
  std::optional<TokenGrant> grant;
  if (request.auth == Auth::source) {
    if (!tokens_) return not_authenticated("no token source is configured for this client");
    auto current = tokens_->current_token();
    if (!current) return current.error();
    grant = std::move(current).value();
    if (!is_header_safe(grant->token.reveal())) {
      return not_authenticated("the token holds bytes not allowed in an HTTP header (not shown)");
    }
    request.token = &grant->token;
    request.token_generation = grant->generation;
  }
  auto answer = send(request);
  if (!answer) return answer;
  const int status = answer->status;
  if (is_success(status)) return answer;
  for (int accepted : request.also_accept) {
    if (accepted == status) return answer;
  }
  Error e = classify_answer(request.op, *answer);
  e.token_generation = request.token_generation;
  if (request.token != nullptr) redact(e.message, request.token->reveal());
  for (const Secret* s : request.secrets) redact(e.message, s->reveal());
  return e;
}

Result<std::optional<HttpAnswer>> VaultClient::send_allowing_absent(Request request) {
  const Operation op = request.op;
  request.also_accept = {404};
  auto answer = send_with_source(std::move(request));
  if (!answer) return answer.error();
  if (answer->status != 404) return std::optional<HttpAnswer>(std::move(answer).value());
  if (!parse_errors(answer->body).empty()) return classify_answer(op, *answer);
  return std::optional<HttpAnswer>{};
}

// ---- operations ----

Result<Health> VaultClient::health() {
  Request r{Operation::health, "GET", "/v1/sys/health"};
  r.also_accept = {429, 472, 473, 474, 501, 503, 530};
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return parse_health(*answer);
}

Result<Leader> VaultClient::leader() {
  auto answer = send_with_source(Request{Operation::leader, "GET", "/v1/sys/leader"});
  if (!answer) return answer.error();
  return parse_leader(answer->body);
}

Result<SealStatus> VaultClient::seal_status() {
  auto answer = send_with_source(Request{Operation::seal_status, "GET", "/v1/sys/seal-status"});
  if (!answer) return answer.error();
  return parse_seal_status(answer->body);
}

Result<AuthInfo> VaultClient::approle_login(const Secret& role_id, const Secret& secret_id) {
  auto body = dump_json(json{{"role_id", role_id.reveal()}, {"secret_id", secret_id.reveal()}});
  if (!body) return body.error();
  Request r{Operation::approle_login, "POST", "/v1/" + paths::login(options_.login_mount)};
  r.body = std::move(body).value();
  r.secrets = {&role_id, &secret_id};
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return parse_auth(answer->body);
}

Result<TokenInfo> VaultClient::lookup_self(const Secret& token) {
  if (!is_header_safe(token.reveal())) {
    return not_authenticated("the token holds bytes not allowed in an HTTP header (not shown)");
  }
  Request r{Operation::lookup_self, "GET", std::string("/v1/") + paths::kLookupSelf};
  r.token = &token;
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return parse_token_info(answer->body);
}

Result<AuthInfo> VaultClient::renew_self(const Secret& token, std::chrono::seconds increment) {
  if (!is_header_safe(token.reveal())) {
    return not_authenticated("the token holds bytes not allowed in an HTTP header (not shown)");
  }
  json body = json::object();
  if (increment.count() > 0) body["increment"] = increment.count();
  Request r{Operation::renew_self, "POST", std::string("/v1/") + paths::kRenewSelf};
  r.body = body.dump();
  r.token = &token;
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return parse_auth(answer->body);
}

Result<std::optional<RoleInfo>> VaultClient::read_role(const RoleName& role) {
  Request r{Operation::read_role, "GET", role_base(role)};
  r.auth = Auth::source;
  auto answer = send_allowing_absent(std::move(r));
  if (!answer) return answer.error();
  if (!answer->has_value()) return std::optional<RoleInfo>{};
  auto parsed = parse_role((*answer)->body);
  if (!parsed) return parsed.error();
  return std::optional<RoleInfo>(std::move(parsed).value());
}

Result<std::optional<std::vector<std::string>>> VaultClient::read_role_policies(
    const RoleName& role) {
  Request r{Operation::read_role_policies, "GET", "/v1/" + paths::role_policies(options_.mount, role)};
  r.auth = Auth::source;
  auto answer = send_allowing_absent(std::move(r));
  if (!answer) return answer.error();
  if (!answer->has_value()) return std::optional<std::vector<std::string>>{};
  auto parsed = parse_role_policies((*answer)->body);
  if (!parsed) return parsed.error();
  return std::optional<std::vector<std::string>>(std::move(parsed).value());
}

Result<void> VaultClient::write_role_policies(const RoleName& role,
                                              const std::vector<std::string>& token_policies) {
  auto body = dump_json(json{{"token_policies", token_policies}});
  if (!body) return body.error();
  Request r{Operation::write_role_policies, "POST", "/v1/" + paths::role_policies(options_.mount, role)};
  r.auth = Auth::source;
  r.body = std::move(body).value();
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return {};
}

Result<std::vector<std::string>> VaultClient::list_roles() {
  Request r{Operation::list_roles, "GET", "/v1/" + paths::roles(options_.mount) + "?list=true"};
  r.auth = Auth::source;
  auto answer = send_allowing_absent(std::move(r));
  if (!answer) return answer.error();
  if (!answer->has_value()) return std::vector<std::string>{};
  return parse_keys((*answer)->body);
}

Result<void> VaultClient::write_role(const RoleName& role, const RoleSpec& spec) {
  auto body = role_spec_json(spec);
  if (!body) return body.error();
  Request r{Operation::write_role, "POST", role_base(role)};
  r.auth = Auth::source;
  r.body = std::move(body).value();
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return {};
}

Result<void> VaultClient::delete_role(const RoleName& role) {
  Request r{Operation::delete_role, "DELETE", role_base(role)};
  r.auth = Auth::source;
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return {};
}

Result<std::vector<std::string>> VaultClient::list_secret_id_accessors(const RoleName& role) {
  Request r{Operation::list_secret_id_accessors, "GET", "/v1/" + paths::secret_ids(options_.mount, role) + "?list=true"};
  r.auth = Auth::source;
  auto answer = send_allowing_absent(std::move(r));
  if (!answer) return answer.error();
  if (!answer->has_value()) return std::vector<std::string>{};
  return parse_keys((*answer)->body);
}

Result<void> VaultClient::destroy_secret_id_accessor(const RoleName& role,
                                                     const std::string& accessor) {
  auto body = dump_json(json{{"secret_id_accessor", accessor}});
  if (!body) return body.error();
  Request r{Operation::destroy_secret_id_accessor, "POST",
            "/v1/" + paths::secret_id_accessor_destroy(options_.mount, role)};
  r.auth = Auth::source;
  r.body = std::move(body).value();
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return {};
}

Result<std::optional<SecretIdInfo>> VaultClient::lookup_secret_id_accessor(
    const RoleName& role, const std::string& accessor) {
  auto body = dump_json(json{{"secret_id_accessor", accessor}});
  if (!body) return body.error();
  Request r{Operation::lookup_secret_id_accessor, "POST",
            "/v1/" + paths::secret_id_accessor_lookup(options_.mount, role)};
  r.auth = Auth::source;
  r.body = std::move(body).value();
  // Vault answers an unknown accessor with 404 "failed to find accessor entry ...".
  r.also_accept = {404};
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  if (answer->status == 404) return std::optional<SecretIdInfo>{};
  auto info = parse_secret_id_info(answer->body);
  if (!info) return info.error();
  return std::optional<SecretIdInfo>(std::move(info).value());
}

Result<std::map<std::string, std::vector<std::string>>> VaultClient::capabilities_self(
    const std::vector<std::string>& paths) {
  auto body = dump_json(json{{"paths", paths}});
  if (!body) return body.error();
  Request r{Operation::capabilities_self, "POST", std::string("/v1/") + paths::kCapabilitiesSelf};
  r.auth = Auth::source;
  r.body = std::move(body).value();
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return parse_capabilities(answer->body, paths);
}

Result<bool> VaultClient::policy_exists(const std::string& name) {
  Request r{Operation::read_policy, "GET", "/v1/" + paths::acl_policy(name)};
  r.auth = Auth::source;
  auto answer = send_allowing_absent(std::move(r));
  if (!answer) return answer.error();
  return answer->has_value();
}

Result<std::vector<std::string>> VaultClient::list_token_accessors() {
  Request r{Operation::list_token_accessors, "GET", std::string("/v1/") + paths::kTokenAccessors + "?list=true"};
  r.auth = Auth::source;
  auto answer = send_allowing_absent(std::move(r));
  if (!answer) return answer.error();
  if (!answer->has_value()) return std::vector<std::string>{};
  return parse_keys((*answer)->body);
}

Result<TokenInfo> VaultClient::lookup_token_accessor(const std::string& accessor) {
  auto body = dump_json(json{{"accessor", accessor}});
  if (!body) return body.error();
  Request r{Operation::lookup_token_accessor, "POST", std::string("/v1/") + paths::kLookupAccessor};
  r.auth = Auth::source;
  r.body = std::move(body).value();
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return parse_token_info(answer->body);
}

Result<void> VaultClient::revoke_token_accessor(const std::string& accessor) {
  auto body = dump_json(json{{"accessor", accessor}});
  if (!body) return body.error();
  Request r{Operation::revoke_token_accessor, "POST", std::string("/v1/") + paths::kRevokeAccessor};
  r.auth = Auth::source;
  r.body = std::move(body).value();
  auto answer = send_with_source(std::move(r));
  if (!answer) return answer.error();
  return {};
}

}  // namespace ps::vault
