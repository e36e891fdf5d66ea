// ClientTls: checked material in an immutable snapshot, turned into httplib::SSLClient
// objects on demand.
//
// How trust is pinned to the configured CAs: httplib 0.11.4 loads its trust lazily on the
// first connection, and when it was given no CA *path* it calls
// SSL_CTX_set_default_verify_paths(), adding the system store (and $SSL_CERT_FILE /
// $SSL_CERT_DIR) even to a store set with set_ca_cert_store(). Giving it the path instead would
// make it re-read the file at connect time, after our checks, so a broken rotation would break
// connections instead of keeping the old CA. So the CAs loaded here are installed with
// SSL_CTX_set_cert_verify_callback() as the verification's only trust anchors
// (X509_STORE_CTX_set0_trusted_stack): whatever httplib puts in the context's store is never
// consulted. So that httplib does not parse the whole system bundle into that unused store
// for every client (tens of milliseconds of CPU each under OpenSSL 3), it is given a CA
// directory that cannot exist (kNoCaDirectory): a hashed-directory lookup reads nothing until
// it is consulted, and it never is.
//
// How the server name works: httplib uses its host both for SNI and for its own hostname check,
// so the client is built for host = server name and set_hostname_addr_map() sends the
// connection to the real address. OpenSSL checks the name too (X509_VERIFY_PARAM, no CN
// fallback), so both checks must pass.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls/ossl.h"
#include "tls/tls.h"

namespace ps::tls {
namespace {

using detail::CertAndKey;
using detail::FileWatch;
using detail::X509StackPtr;

// Under /dev/null, which is not a directory: no file can ever be found there.
constexpr const char* kNoCaDirectory = "/dev/null/policy-sidecar-pins-its-cas";

constexpr std::string_view kSkipVerifyWarning =
    "client TLS: certificate verification is DISABLED (skip_verify / VAULT_SKIP_VERIFY): the "
    "server's identity is not checked; use only for testing";

struct ClientMaterial {
  ClientConfig config;
  X509StackPtr trusted;  // null: no CA configured, the system trust store is used
  CertAndKey identity;   // cert null: no client certificate
};

bool same_files(const ClientConfig& a, const ClientConfig& b) {
  return a.ca_file == b.ca_file && a.ca_dir == b.ca_dir && a.cert_file == b.cert_file &&
         a.key_file == b.key_file;
}

// The configured trust anchors (CA file, else CA directory); null when neither is set.
Result<X509StackPtr> load_trusted(const ClientConfig& config, FileWatch* watch, const LogFn& log) {
  if (!config.ca_file.empty()) {
    watch->add(config.ca_file);
    return detail::load_certs(config.ca_file);
  }
  if (!config.ca_dir.empty()) return detail::load_ca_dir(config.ca_dir, watch, log);
  return X509StackPtr();
}

Result<std::shared_ptr<ClientMaterial>> load_client_material(const ClientConfig& config,
                                                             FileWatch* watch, const LogFn& log) {
  if (config.cert_file.empty() != config.key_file.empty()) {
    return Status(Code::invalid_argument,
                  "client TLS: a client certificate needs its key and a key needs its certificate");
  }
  auto out = std::make_shared<ClientMaterial>();
  out->config = config;
  auto trusted = load_trusted(config, watch, log);
  if (!trusted.ok()) return trusted.status();
  out->trusted = std::move(*trusted);
  if (config.cert_file.empty()) return out;
  watch->add(config.cert_file);
  watch->add(config.key_file);
  auto identity = detail::load_cert_and_key(config.cert_file, config.key_file);
  if (!identity.ok()) return identity.status();
  out->identity = std::move(*identity);
  if (X509_cmp_current_time(X509_get0_notAfter(out->identity.cert.get())) < 0) {
    detail::log_to(log, LogLevel::warn,
                   "client certificate " + config.cert_file + " has expired; servers will refuse it");
  }
  return out;
}

bool is_ip_literal(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// The numeric address httplib should connect to for `host`; empty when it does not resolve.
std::string numeric_address(const std::string& host) {
  if (is_ip_literal(host)) return host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0 || result == nullptr) return {};
  char buf[NI_MAXHOST];
  std::string out;
  if (getnameinfo(result->ai_addr, result->ai_addrlen, buf, sizeof buf, nullptr, 0,
                  NI_NUMERICHOST) == 0) {
    out = buf;
  }
  freeaddrinfo(result);
  return out;
}

int verify_with_configured_cas(X509_STORE_CTX* ctx, void* arg) {
  const auto* material = static_cast<const ClientMaterial*>(arg);
  X509_STORE_CTX_set0_trusted_stack(ctx, material->trusted.get());
  return X509_verify_cert(ctx);
}

class ClientTlsImpl final : public ClientTls {
 public:
  explicit ClientTlsImpl(LogFn log) : log_(std::move(log)) {}

  Status load(const ClientConfig& config, bool initial) {
    std::lock_guard<std::mutex> reload_lock(reload_mu_);
    if (config.skip_verify) detail::log_to(log_, LogLevel::warn, kSkipVerifyWarning);
    FileWatch watch;
    auto material = load_client_material(config, &watch, log_);
    ERR_clear_error();
    std::lock_guard<std::mutex> lock(mu_);
    if (!material.ok()) {
      // See ServerTls: a failed reload of the same files marks this version as seen.
      if (!initial && material_ && same_files(config, material_->config)) {
        watch_ = std::move(watch);
      }
      detail::log_to(log_, LogLevel::error,
                     std::string(initial ? "client TLS: cannot load: "
                                         : "client TLS: reload failed, keeping the current "
                                           "material: ") + material.status().message());
      return material.status();
    }
    material_ = std::move(*material);
    watch_ = std::move(watch);
    if (!initial) generation_.fetch_add(1);
    std::string trust = !config.ca_file.empty() ? "CA file " + config.ca_file
                        : !config.ca_dir.empty() ? "CA directory " + config.ca_dir
                                                 : std::string("the system trust store");
    detail::log_to(log_, LogLevel::info,
                   std::string(initial ? "client TLS: loaded, trusting " : "client TLS: reloaded, trusting ") +
                       trust +
                       (config.cert_file.empty() ? std::string()
                                                 : ", client certificate " + config.cert_file));
    return Status::success();
  }

  Status reload() override {
    ClientConfig config;
    {
      std::lock_guard<std::mutex> lock(mu_);
      config = material_->config;
    }
    return load(config, false);
  }

  Status reload(const ClientConfig& config) override { return load(config, false); }

  bool files_changed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_.changed();
  }

  std::uint64_t generation() const override { return generation_.load(); }

  std::unique_ptr<httplib::SSLClient> make_client(const std::string& host,
                                                  int port) const override {
    std::shared_ptr<const ClientMaterial> m;
    {
      std::lock_guard<std::mutex> lock(mu_);
      m = material_;
    }
    const ClientConfig& config = m->config;
    const std::string name = config.server_name.empty() ? host : config.server_name;
    auto client = std::make_unique<httplib::SSLClient>(name, port);
    if (name != host) {
      std::string address = numeric_address(host);
      if (address.empty()) {
        detail::log_to(log_, LogLevel::error, "client TLS: cannot resolve " + host);
        // Never fall back to connecting to the server name itself: a non-numeric mapping
        // makes every connection attempt fail instead.
        address = "unresolved-host";
      }
      client->set_hostname_addr_map({{name, address}});
    }
    SSL_CTX* ctx = client->ssl_context();
    if (ctx == nullptr) return client;  // is_valid() is false; requests fail
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    bool ok = true;
    if (m->identity.cert) {
      ok = SSL_CTX_use_cert_and_key(ctx, m->identity.cert.get(), m->identity.key.get(),
                                    m->identity.chain.get(), 1) == 1;
    }
    if (config.skip_verify) {
      client->enable_server_certificate_verification(false);
    } else {
      client->enable_server_certificate_verification(true);
      X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
      X509_VERIFY_PARAM_set_hostflags(
          param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
      ok = ok && (is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                                      : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0)) == 1;
      if (m->trusted) {
        // Like Vault's Go client, any configured CA is an anchor, an intermediate too.
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
        client->set_ca_cert_path("", kNoCaDirectory);
        ok = ok && detail::keep_alive_with(ctx, m);
        if (ok) {
          SSL_CTX_set_cert_verify_callback(ctx, verify_with_configured_cas,
                                           const_cast<ClientMaterial*>(m.get()));
        }
      }
    }
    if (!ok) {
      // Failing closed: a context without the checks must not reach the network.
      detail::log_to(log_, LogLevel::error,
                     "client TLS: cannot set up a TLS context: " + detail::openssl_errors());
      client->set_hostname_addr_map({{name, "tls-setup-failed"}});
    }
    ERR_clear_error();
    return client;
  }

 private:
  const LogFn log_;
  std::mutex reload_mu_;   // serialises load()
  mutable std::mutex mu_;  // guards material_ and watch_
  std::shared_ptr<const ClientMaterial> material_;
  FileWatch watch_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace

Result<std::shared_ptr<ClientTls>> ClientTls::create(const ClientConfig& config, LogFn log) {
  auto tls = std::make_shared<ClientTlsImpl>(std::move(log));
  if (Status loaded = tls->load(config, true); !loaded.ok()) return loaded;
  return std::shared_ptr<ClientTls>(std::move(tls));
}

}  // namespace ps::tls
