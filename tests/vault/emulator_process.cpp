#include "tests/vault/emulator_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/test/unit_test.hpp>
#include <httplib.h>

#include "tls/dev_pki.h"

namespace ps::vault::testing {

using nlohmann::json;

namespace {
// httplib's TLS writes go through OpenSSL's socket BIO, which can raise SIGPIPE when the peer
// has gone (dropped-connection faults). The daemon ignores SIGPIPE too.
struct IgnoreSigpipe {
  IgnoreSigpipe() { ::signal(SIGPIPE, SIG_IGN); }
};
BOOST_TEST_GLOBAL_FIXTURE(IgnoreSigpipe);
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

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

EmulatorProcess::EmulatorProcess(const TempDir& dir, const DevPki& pki, EmulatorOptions options)
    : options_(std::move(options)) {
  static int counter = 0;
  const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(++counter);
  log_path_ = dir.file("requests-" + tag + ".jsonl");
  stderr_path_ = dir.file("emulator-" + tag + ".stderr");
  // The harness trusts both dev CAs, so it can reach an emulator serving either.
  ca_ = dir.file("harness-ca-" + tag + ".pem");
  write_file(ca_, read_all(pki.ca) + read_all(pki.other_ca));

  std::vector<std::string> args = {emulator_binary(),      "--listen",
                                   "127.0.0.1:0",          "--tls-cert",
                                   options_.cert,          "--tls-key",
                                   options_.key,           "--dev",
                                   "--dev-root-token",     options_.root_token,
                                   "--admin-token",        options_.admin_token,
                                   "--request-log",        log_path_};
  if (!options_.client_ca.empty()) {
    args.push_back("--tls-client-ca");
    args.push_back(options_.client_ca);
  }
  if (options_.require_request_header) args.push_back("--require-request-header");

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (err >= 0) ::dup2(err, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{out[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  const std::string prefix = "VAULT_ADDR=";
  if (line.rfind(prefix, 0) != 0 || line.find('\n') == std::string::npos) {
    std::string err = stderr_text();
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw std::runtime_error("vault-emulator did not start: stdout \"" + line + "\", stderr: " +
                             err);
  }
  address_ = line.substr(prefix.size(), line.find('\n') - prefix.size());
  port_ = std::stoi(address_.substr(address_.rfind(':') + 1));

  tls::ClientConfig cfg;
  cfg.ca_file = ca_;
  if (!options_.client_ca.empty()) {
    cfg.cert_file = pki.client;
    cfg.key_file = pki.client_key;
  }
  auto created = tls::ClientTls::create(cfg, nullptr);
  if (!created.ok()) throw std::runtime_error("harness TLS: " + created.status().message());
  tls_ = *created;
}

EmulatorProcess::~EmulatorProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

EmulatorProcess::Reply EmulatorProcess::request(
    const std::string& method, const std::string& path, const json& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
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
  Reply r;
  r.status = res->status;
  if (!res->body.empty()) {
    r.body = json::parse(res->body, nullptr, false);
    if (r.body.is_discarded()) r.body = nullptr;
  }
  return r;
}

EmulatorProcess::Reply EmulatorProcess::root(const std::string& method, const std::string& path,
                                             const json& body) {
  return request(method, path, body, {{"X-Vault-Token", options_.root_token}});
}

EmulatorProcess::Reply EmulatorProcess::admin(const std::string& method,
                                              const std::string& path, const json& body) {
  auto r = request(method, path, body, {{"X-Emulator-Admin-Token", options_.admin_token}});
  if (r.status < 200 || r.status > 299) {
    throw std::runtime_error("admin " + method + " " + path + " answered " +
                             std::to_string(r.status) + ": " + r.body.dump());
  }
  return r;
}

namespace {

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

std::vector<json> EmulatorProcess::request_log() const {
  // The emulator writes a line just after sending its answer, so the line of the answer the
  // test has just read may still be on its way: read until two reads agree.
  auto last = read_json_lines(log_path_);
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{30});
    auto now = read_json_lines(log_path_);
    if (now.size() == last.size()) return now;
    last = std::move(now);
  }
  return last;
}

std::vector<json> EmulatorProcess::vault_requests() const {
  std::vector<json> out;
  for (auto& j : request_log()) {
    if (j.value("path", "").rfind("/v1/", 0) == 0) out.push_back(j);
  }
  return out;
}

std::string EmulatorProcess::stderr_text() const { return read_all(stderr_path_); }

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

}  // namespace ps::vault::testing
