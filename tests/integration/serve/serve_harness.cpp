#include "tests/integration/serve/serve_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "tests/support/poll.h"
#include "tls/dev_pki.h"

extern char** environ;

namespace ps::testing::serve {
namespace {

// The test process is a client of a daemon that closes connections (SIGTERM under load,
// refusals): httplib's TLS writes go through OpenSSL's socket BIO, which raises SIGPIPE when
// the peer has gone, and that would kill the test instead of failing one request. Children get
// the default disposition back (ChildProcess), so the daemon is tested with its own handling.
struct IgnoreSigpipe {
  IgnoreSigpipe() { ::signal(SIGPIPE, SIG_IGN); }
};
BOOST_TEST_GLOBAL_FIXTURE(IgnoreSigpipe);

using namespace std::chrono_literals;

void write_private(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), 0600);
}

std::string sidecar_path() { return build_dir() + "/sidecar/policy-sidecar"; }

HttpReply to_reply(const httplib::Result& r) {
  HttpReply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  for (const auto& [k, v] : r->headers) out.headers.emplace_back(k, v);
  return out;
}

// A connected TLS session to 127.0.0.1:port (verification against `ca` unless empty).
struct TlsConn {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  int fd = -1;
  ~TlsConn() {
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }
  bool open(int port, const std::string& ca, std::chrono::milliseconds timeout) {
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ca.empty()) {
      SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    }
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    return SSL_connect(ssl) == 1;
  }
};

}  // namespace

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- ChildProcess ---------------------------------------------------------------------------

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                           const std::string& stderr_file) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, stderr_file.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  const CStringArray cenv(merged_environment(env));
  const CStringArray cargv(argv);
  const SpawnDefaultSigpipe attr;  // the daemon is tested with its own SIGPIPE handling
  const int rc = posix_spawn(&pid_, cargv.get()[0], &fa, attr.get(), cargv.get(), cenv.get());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  out_fd_ = out[0];
  if (rc != 0) throw std::runtime_error("posix_spawn " + argv[0] + " failed");
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

std::string ChildProcess::wait_for_line(std::string_view prefix, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto nl = buffered_.find('\n'); nl != std::string::npos; nl = buffered_.find('\n')) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100))) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) return "";
    buffered_.append(buf, static_cast<std::size_t>(n));
  }
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

// ---- HttpReply ------------------------------------------------------------------------------

std::string HttpReply::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

nlohmann::json HttpReply::json() const { return nlohmann::json::parse(body); }

// ---- ServeEnv -------------------------------------------------------------------------------

ServeEnv::ServeEnv(bool emulator) : pki_(dir_) {
  db_ = file("ledger.db");
  create_ledger(db_);
  raw_ = std::make_unique<RawLedger>(db_);
  secret_ = make_secret("serve-e2e-key-0123456789abcdefghij");
  write_private(file("secrets"), secret_ + "\n");
  token_ = "operator-token-0123456789abcdef";
  write_private(file("api-token"), token_ + "\n");
  if (emulator) {
    EmulatorOptions options;
    options.root_token = kRootToken;
    options.admin_token = kAdminToken;
    emulator_ = std::make_unique<EmulatorProcess>(dir_, pki_, options);
    vault_addr_ = emulator_->address();
    vault_port_ = emulator_->port();
  }
}

ServeEnv::~ServeEnv() {
  serve_.reset();
  emulator_.reset();
}

std::string ServeEnv::write_config(const nlohmann::json& patch) {
  nlohmann::json c = {
      {"ledger", {{"path", db_}}},
      {"vault", {{"address", vault_addr_.empty() ? "https://127.0.0.1:1" : vault_addr_},
                 {"ca_cert", ca()},
                 {"timeout_s", 5},
                 {"connect_timeout_s", 2}}},
      {"roles", {{"missing_role", "create"}}},
      {"sync", {{"poll_interval_ms", 200}, {"backoff", {{"initial_ms", 200}, {"max_ms", 2000}}}}},
      {"reconcile", {{"interval_s", 0}}},
      {"listener",
       {{"address", "127.0.0.1:0"},
        {"tls_cert", file("pki/server.pem")},
        {"tls_key", file("pki/server-key.pem")},
        {"read_timeout_s", 2}}},
      {"webhook", {{"secrets_file", file("secrets")}, {"reviewers", {"rev"}}, {"admins", {"adm"}}}},
      {"api", {{"token_file", file("api-token")}}},
      {"audit", {{"path", file("audit.jsonl")}}},
      {"evaluate", {{"interval_s", 3600}}},
      {"log", {{"level", "debug"}}},
  };
  c.merge_patch(patch);
  const std::string path = file("config-" + std::to_string(++configs_) + ".json");
  std::ofstream(path) << c.dump(2);
  return path;
}

void ServeEnv::start_serve(const std::string& config_path, std::vector<std::string> env) {
  // A default the caller's own VAULT_TOKEN=... overrides (later entries win).
  env.insert(env.begin(), std::string("VAULT_TOKEN=") + kRootToken);
  serve_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{sidecar_path(), "serve", "--config", config_path}, env,
      file("serve.log"));
  const std::string addr = serve_->wait_for_line("POLICY_SIDECAR_ADDR=", 20s);
  if (addr.empty()) {
    throw std::runtime_error("policy-sidecar serve did not start:\n" + serve_log());
  }
  port_ = std::stoi(addr.substr(addr.rfind(':') + 1));
}

int ServeEnv::start_serve_expect_failure(const std::string& config_path, std::string& err,
                                         std::vector<std::string> env) {
  // A default the caller's own VAULT_TOKEN=... overrides (later entries win).
  env.insert(env.begin(), std::string("VAULT_TOKEN=") + kRootToken);
  const std::string log = file("serve-fail-" + std::to_string(++configs_) + ".log");
  ChildProcess p({sidecar_path(), "serve", "--config", config_path}, env, log);
  auto status = p.wait_exit(20s);
  err = read_text_file(log);
  if (!status) throw std::runtime_error("serve did not exit:\n" + err);
  return *status;
}

std::string ServeEnv::serve_log() const { return read_text_file(file("serve.log")); }

int ServeEnv::stop_serve(std::chrono::milliseconds timeout) {
  serve_->signal(SIGTERM);
  auto status = serve_->wait_exit(timeout);
  if (!status) throw std::runtime_error("serve did not exit after SIGTERM");
  return *status;
}

HttpReply ServeEnv::get(const std::string& path, const std::string& bearer) {
  httplib::SSLClient cli("127.0.0.1", port_);
  cli.set_ca_cert_path(ca().c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_read_timeout(30, 0);
  httplib::Headers h;
  if (!bearer.empty()) h.emplace("Authorization", "Bearer " + bearer);
  return to_reply(cli.Get(path.c_str(), h));
}

HttpReply ServeEnv::post(const std::string& path, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         const std::string& content_type) {
  httplib::SSLClient cli("127.0.0.1", port_);
  cli.set_ca_cert_path(ca().c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_read_timeout(30, 0);
  httplib::Headers h(headers.begin(), headers.end());
  return to_reply(cli.Post(path.c_str(), h, body, content_type.c_str()));
}

HttpReply ServeEnv::send_approval(const std::string& body, const std::string& id,
                                  std::int64_t skew_s, const std::string& secret) {
  auto s = sign_approval(secret.empty() ? secret_ : secret, id, unix_now() + skew_s, body);
  return post("/v1/webhooks/approval", body,
              {{"webhook-id", s.id}, {"webhook-timestamp", s.timestamp},
               {"webhook-signature", s.signature}});
}

std::string ServeEnv::raw_request(const std::string& bytes, std::chrono::milliseconds timeout) {
  TlsConn c;
  if (!c.open(port_, ca(), timeout)) return "";
  if (!bytes.empty() && SSL_write(c.ssl, bytes.data(), static_cast<int>(bytes.size())) <= 0) return "";
  std::string out;
  char buf[4096];
  for (;;) {
    const int n = SSL_read(c.ssl, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    // One complete answer is enough (the server may keep the connection open).
    const auto end = out.find("\r\n\r\n");
    const auto cl = out.find("Content-Length: ");
    if (end != std::string::npos && cl != std::string::npos && cl < end &&
        out.size() >= end + 4 + std::stoul(out.substr(cl + 16))) {
      break;
    }
  }
  return out;
}

ServeEnv::Closed ServeEnv::wait_for_close(const std::string& bytes,
                                          std::chrono::milliseconds limit) {
  Closed out;
  TlsConn c;
  if (!c.open(port_, ca(), limit)) return out;
  if (!bytes.empty() && SSL_write(c.ssl, bytes.data(), static_cast<int>(bytes.size())) <= 0) {
    return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const int n = SSL_read(c.ssl, buf, sizeof buf);
    if (n > 0) {
      out.received.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    const int err = SSL_get_error(c.ssl, n);
    if (err == SSL_ERROR_ZERO_RETURN) {
      out.closed = true;
      out.close_notify = n == 0;
      break;
    }
    if (err == SSL_ERROR_SYSCALL && errno != EAGAIN && errno != EWOULDBLOCK) {
      out.closed = true;  // EOF or reset without close_notify
      break;
    }
    if (err == SSL_ERROR_SSL) {
      out.closed = true;
      break;
    }
    // SO_RCVTIMEO expired (EAGAIN): the limit has passed.
  }
  return out;
}

std::string ServeEnv::served_certificate_fingerprint() {
  TlsConn c;
  if (!c.open(port_, "", 5s)) return "";
  X509* cert = SSL_get1_peer_certificate(c.ssl);
  if (!cert) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  X509_free(cert);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 0xF]);
  }
  return hex;
}

std::optional<std::vector<std::string>> ServeEnv::role_policies(const std::string& role) {
  httplib::SSLClient cli("127.0.0.1", vault_port_);
  cli.set_ca_cert_path(ca().c_str());
  cli.enable_server_certificate_verification(true);
  auto r = cli.Get(("/v1/auth/approle/role/" + role).c_str(),
                   httplib::Headers{{"X-Vault-Token", kRootToken}});
  if (!r || r->status == 404) return std::nullopt;
  if (r->status != 200) throw std::runtime_error("emulator read_role: HTTP " + std::to_string(r->status));
  return nlohmann::json::parse(r->body)["data"]["token_policies"].get<std::vector<std::string>>();
}

int ServeEnv::set_role_policies(const std::string& role, const std::vector<std::string>& policies) {
  httplib::SSLClient cli("127.0.0.1", vault_port_);
  cli.set_ca_cert_path(ca().c_str());
  cli.enable_server_certificate_verification(true);
  auto r = cli.Post(("/v1/auth/approle/role/" + role + "/policies").c_str(),
                    httplib::Headers{{"X-Vault-Token", kRootToken}},
                    nlohmann::json{{"token_policies", policies}}.dump(), "application/json");
  return r ? r->status : 0;
}

int ServeEnv::emulator_admin(const std::string& path, const std::string& body) {
  httplib::SSLClient cli("127.0.0.1", vault_port_);
  cli.set_ca_cert_path(ca().c_str());
  cli.enable_server_certificate_verification(true);
  auto r = cli.Post(path.c_str(), httplib::Headers{{"X-Emulator-Admin-Token", kAdminToken}}, body,
                    "application/json");
  return r ? r->status : 0;
}

bool ServeEnv::eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  return ps::testing::poll_until(done, timeout, 100ms);
}

std::optional<double> ServeEnv::metric(const std::string& series) {
  const HttpReply r = get("/metrics", api_token());
  if (r.status != 200) return std::nullopt;
  std::size_t pos = 0;
  while ((pos = r.body.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || r.body[pos - 1] == '\n') {
      const auto end = r.body.find('\n', pos);
      return std::stod(r.body.substr(pos + series.size() + 1, end - pos - series.size() - 1));
    }
    ++pos;
  }
  return std::nullopt;
}

}  // namespace ps::testing::serve
