#include "tests/support/emulator_process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/test/unit_test.hpp>
#include <httplib.h>

#include "tests/support/files.h"
#include "tests/support/test_support.h"
#include "tls/dev_pki.h"
#include "tls/tls.h"

extern char** environ;

namespace ps::testing {

using nlohmann::json;

namespace {

// The harness's and the clients' TLS writes go through OpenSSL's socket BIO, which can raise
// SIGPIPE when the emulator has closed the connection (drop faults, stops). The daemon and
// the emulator ignore SIGPIPE too; the emulator is spawned with the default action, so it is
// tested with its own handling.
struct IgnoreSigpipe {
  IgnoreSigpipe() { ::signal(SIGPIPE, SIG_IGN); }
};
BOOST_TEST_GLOBAL_FIXTURE(IgnoreSigpipe);

std::vector<json> read_json_lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

std::string emulator_binary() {
  const char* build = std::getenv("PS_BUILD_DIR");
  if (build == nullptr) throw std::runtime_error("PS_BUILD_DIR is not set (run through ctest)");
  return std::string(build) + "/vault/emulator/vault-emulator";
}

DevPki::DevPki(const TempDir& dir) {
  const std::string d = dir.file("pki");
  if (Status written = tls::devpki::write_dev_set(d); !written.ok()) {
    throw std::runtime_error(written.message());
  }
  auto f = [&](const char* name) { return d + "/" + name; };
  ca = f("ca.pem");
  server = f("server.pem");
  server_key = f("server-key.pem");
  client = f("client.pem");
  client_key = f("client-key.pem");
  expired = f("expired.pem");
  expired_key = f("expired-key.pem");
  wrong_host = f("wrong-host.pem");
  wrong_host_key = f("wrong-host-key.pem");
  other_ca = f("other-ca.pem");
  other_server = f("other-server.pem");
  other_server_key = f("other-server-key.pem");
  other_client = f("other-client.pem");
  other_client_key = f("other-client-key.pem");
}

void EmulatorProcess::spawn(const std::vector<std::string>& args, const std::string& stderr_file) {
  stderr_path_ = stderr_file;
  std::vector<std::string> argv = {emulator_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, stderr_file.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  const CStringArray cargv(argv);
  const SpawnDefaultSigpipe attr;
  const int rc = ::posix_spawn(&pid_, cargv.get()[0], &fa, attr.get(), cargv.get(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  out_fd_ = out[0];
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  first_line_ = read_first_line(std::chrono::seconds{30});
  const std::string prefix = "VAULT_ADDR=";
  if (first_line_.rfind(prefix, 0) == 0) {
    address_ = first_line_.substr(prefix.size());
    port_ = std::stoi(address_.substr(address_.rfind(':') + 1));
  }
}

std::string EmulatorProcess::read_first_line(std::chrono::seconds timeout) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw std::runtime_error("vault-emulator printed no line in time; stderr: " +
                               stderr_text());
    }
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char c;
    if (::read(out_fd_, &c, 1) != 1 || c == '\n') return line;  // EOF: it exited first
    line.push_back(c);
  }
}

EmulatorProcess::EmulatorProcess(const std::vector<std::string>& args,
                                 const std::string& stderr_file) {
  spawn(args, stderr_file);
}

EmulatorProcess::EmulatorProcess(const TempDir& dir, const DevPki& pki, EmulatorOptions options)
    : options_(std::move(options)) {
  if (options_.cert.empty()) {
    options_.cert = pki.server;
    options_.key = pki.server_key;
  }
  static int counter = 0;
  const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(++counter);
  log_path_ = dir.file("requests-" + tag + ".jsonl");
  // The harness trusts both dev CAs, so it can reach an emulator serving either.
  const std::string ca = dir.file("harness-ca-" + tag + ".pem");
  write_file(ca, read_text_file(pki.ca) + read_text_file(pki.other_ca));

  std::vector<std::string> args = {"--listen",         "127.0.0.1:0",        "--tls-cert",
                                   options_.cert,      "--tls-key",          options_.key,
                                   "--dev",            "--dev-root-token",   options_.root_token,
                                   "--admin-token",    options_.admin_token, "--request-log",
                                   log_path_};
  if (!options_.client_ca.empty()) {
    args.push_back("--tls-client-ca");
    args.push_back(options_.client_ca);
  }
  if (options_.require_request_header) args.push_back("--require-request-header");
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  spawn(args, dir.file("emulator-" + tag + ".stderr"));
  if (address_.empty()) {
    const std::string err = stderr_text();
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw std::runtime_error("vault-emulator did not start: stdout \"" + first_line_ +
                             "\", stderr: " + err);
  }

  tls::ClientConfig cfg;
  cfg.ca_file = ca;
  if (!options_.client_ca.empty()) {
    cfg.cert_file = client_cert_ = pki.client;
    cfg.key_file = client_key_ = pki.client_key;
  }
  auto created = tls::ClientTls::create(cfg, nullptr);
  if (!created.ok()) throw std::runtime_error("harness TLS: " + created.status().message());
  tls_ = *created;
}

EmulatorProcess::~EmulatorProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    bool exited = false;
    for (int i = 0; i < 100 && !exited; ++i) {
      exited = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

std::string EmulatorProcess::rest_of_stdout() {
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out_fd_, buf, sizeof buf)) > 0) all.append(buf, static_cast<std::size_t>(n));
  return all;
}

int EmulatorProcess::stop(int sig) {
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

std::string EmulatorProcess::stderr_text() const { return read_text_file(stderr_path_); }

EmulatorProcess::Reply EmulatorProcess::send(
    const std::string& method, const std::string& path, const json& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  if (!tls_) throw std::runtime_error("the harness client needs the (dir, pki, options) start");
  auto client = tls_->make_client("127.0.0.1", port_);
  client->set_connection_timeout(std::chrono::seconds{10});
  client->set_read_timeout(std::chrono::seconds{30});
  httplib::Request req;
  req.method = method;
  req.path = path;
  for (const auto& [k, v] : headers) req.headers.emplace(k, v);
  req.headers.emplace("X-Vault-Request", "true");
  if (!body.is_null()) {
    req.body = body.dump();
    req.headers.emplace("Content-Type", "application/json");
  }
  auto res = client->send(req);
  if (!res) {
    throw std::runtime_error("harness request " + method + " " + path + " failed: " +
                             httplib::to_string(res.error()));
  }
  return Reply::from(res->status, res->body);
}

EmulatorProcess::Reply EmulatorProcess::Reply::from(int status, const std::string& body_text) {
  Reply r;
  r.status = status;
  if (!body_text.empty()) {
    r.body = json::parse(body_text, nullptr, false);
    if (r.body.is_discarded()) r.body = nullptr;
  }
  return r;
}

EmulatorProcess::Reply EmulatorProcess::root(const std::string& method, const std::string& path,
                                             const json& body) {
  return send(method, path, body, {{"X-Vault-Token", options_.root_token}});
}

EmulatorProcess::Reply EmulatorProcess::admin(const std::string& method,
                                              const std::string& path, const json& body) {
  auto r = send(method, path, body, {{"X-Emulator-Admin-Token", options_.admin_token}});
  if (r.status < 200 || r.status > 299) {
    throw std::runtime_error("admin " + method + " " + path + " answered " +
                             std::to_string(r.status) + ": " + r.body.dump());
  }
  return r;
}

json EmulatorProcess::stats() {
  // Not through the harness's verifying client: some tests make the emulator serve an
  // expired or foreign certificate on purpose, and this is the harness's own child.
  std::unique_ptr<httplib::SSLClient> client =
      client_cert_.empty()
          ? std::make_unique<httplib::SSLClient>("127.0.0.1", port_)
          : std::make_unique<httplib::SSLClient>("127.0.0.1", port_, client_cert_, client_key_);
  client->enable_server_certificate_verification(false);
  client->set_connection_timeout(std::chrono::seconds{10});
  client->set_read_timeout(std::chrono::seconds{30});
  auto res = client->Get("/_emulator/stats", httplib::Headers{
                                                 {"X-Emulator-Admin-Token", options_.admin_token},
                                                 {"X-Vault-Request", "true"}});
  if (!res || res->status != 200) {
    throw std::runtime_error("GET /_emulator/stats failed: " +
                             (res ? std::to_string(res->status) + " " + res->body
                                  : httplib::to_string(res.error())));
  }
  return json::parse(res->body);
}

std::vector<json> EmulatorProcess::request_log() {
  // The emulator writes a request's line just after sending its answer, so the line of an
  // answer the test has just read may still be on its way. A barrier on the emulator's own
  // counters (GET /_emulator/stats, vault/emulator/README.md): every request it received
  // before the first stats call below has a lower number than that call, and all their lines
  // are written once `settled` reaches that number.
  const std::uint64_t before = stats()["received"].get<std::uint64_t>() - 1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  for (std::uint64_t settled = 0;;) {
    settled = stats()["settled"].get<std::uint64_t>();
    if (settled >= before) break;
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the emulator settled only " + std::to_string(settled) + " of " +
                               std::to_string(before) + " requests in 30 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  return read_json_lines(log_path_);
}

std::vector<json> EmulatorProcess::vault_requests() {
  std::vector<json> out;
  for (auto& j : request_log()) {
    if (j.value("path", "").rfind("/v1/", 0) == 0) out.push_back(j);
  }
  return out;
}

std::pair<std::string, std::string> EmulatorProcess::make_approle(const TempDir& dir,
                                                                  const std::string& name,
                                                                  const json& fields) {
  const std::string base = "/v1/auth/approle/role/" + name;
  auto created = root("POST", base, fields);
  if (created.status != 204 && created.status != 200) {
    throw std::runtime_error("creating role " + name + ": " + std::to_string(created.status));
  }
  auto role_id = root("GET", base + "/role-id");
  auto secret = root("POST", base + "/secret-id", json::object());
  if (role_id.status != 200 || secret.status != 200) {
    throw std::runtime_error("role-id/secret-id for " + name + " failed");
  }
  std::pair<std::string, std::string> out{role_id.body["data"]["role_id"].get<std::string>(),
                                          secret.body["data"]["secret_id"].get<std::string>()};
  write_file(dir.file(name + ".role_id"), out.first + "\n");
  write_file(dir.file(name + ".secret_id"), out.second + "\n");
  return out;
}

void EmulatorProcess::put_policy(const std::string& name, const json& document) {
  auto r = root("PUT", "/v1/sys/policies/acl/" + name, json{{"policy", document.dump()}});
  if (r.status != 204 && r.status != 200) {
    throw std::runtime_error("policy " + name + ": " + std::to_string(r.status));
  }
}

}  // namespace ps::testing
