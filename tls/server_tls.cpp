// ServerTls: the material lives in an immutable snapshot swapped under a mutex; every
// SSL_CTX made here applies the snapshot current at ClientHello time to its SSL object, so a
// reload reaches the next handshake without touching contexts that servers already hold.
#include <httplib.h>

#include <mutex>

#include <openssl/err.h>

#include "tls/ossl.h"
#include "tls/tls.h"

namespace ps::tls {
namespace {

using detail::CertAndKey;
using detail::FileWatch;
using detail::NameStackPtr;
using detail::StorePtr;
using detail::X509StackPtr;

struct ServerMaterial {
  CertAndKey identity;
  StorePtr client_ca_store;     // null: no client certificate asked for
  NameStackPtr client_ca_names;  // the CA names sent in CertificateRequest
};

bool load_server_material(const ServerConfig& config, ServerMaterial* out, FileWatch* watch,
                          const LogFn& log, std::string* error) {
  if (config.cert_file.empty() || config.key_file.empty()) {
    *error = "server TLS needs both a certificate file and a key file";
    return false;
  }
  watch->add(config.cert_file);
  watch->add(config.key_file);
  if (!config.client_ca_file.empty()) watch->add(config.client_ca_file);

  if (!detail::load_cert_and_key(config.cert_file, config.key_file, &out->identity, error)) {
    return false;
  }
  if (X509_cmp_current_time(X509_get0_notAfter(out->identity.cert.get())) < 0) {
    detail::log_to(log, LogLevel::warn,
                   "server certificate " + config.cert_file + " has expired; clients will refuse it");
  }
  if (config.client_ca_file.empty()) return true;

  X509StackPtr cas;
  if (!detail::load_certs(config.client_ca_file, &cas, error)) return false;
  out->client_ca_store = detail::make_store(cas.get(), error);
  if (!out->client_ca_store) return false;
  out->client_ca_names.reset(sk_X509_NAME_new_null());
  if (!out->client_ca_names) {
    *error = "out of memory";
    return false;
  }
  for (int i = 0; i < sk_X509_num(cas.get()); ++i) {
    X509_NAME* name = X509_NAME_dup(X509_get_subject_name(sk_X509_value(cas.get(), i)));
    if (name == nullptr || sk_X509_NAME_push(out->client_ca_names.get(), name) == 0) {
      X509_NAME_free(name);
      *error = "out of memory";
      return false;
    }
  }
  return true;
}

class ServerTlsImpl final : public ServerTls,
                            public std::enable_shared_from_this<ServerTlsImpl> {
 public:
  explicit ServerTlsImpl(LogFn log) : log_(std::move(log)) {}

  bool load(const ServerConfig& config, bool initial, std::string* error) {
    std::lock_guard<std::mutex> reload_lock(reload_mu_);
    auto material = std::make_shared<ServerMaterial>();
    FileWatch watch;
    std::string reason;
    bool ok = load_server_material(config, material.get(), &watch, log_, &reason);
    ERR_clear_error();
    std::lock_guard<std::mutex> lock(mu_);
    bool same_config = config.cert_file == config_.cert_file &&
                       config.key_file == config_.key_file &&
                       config.client_ca_file == config_.client_ca_file;
    if (!ok) {
      // A failed reload of the same files counts as having looked at this version of them,
      // so a file watcher does not retry (and log) the same broken file forever.
      if (same_config && !initial) watch_ = std::move(watch);
      detail::log_to(log_, LogLevel::error,
                     std::string(initial ? "server TLS: cannot load: " :
                                           "server TLS: reload failed, keeping the current "
                                           "certificate: ") + reason);
      if (error) *error = reason;
      return false;
    }
    config_ = config;
    material_ = std::move(material);
    watch_ = std::move(watch);
    detail::log_to(log_, LogLevel::info,
                   std::string(initial ? "server TLS: loaded " : "server TLS: reloaded ") +
                       config.cert_file +
                       (config.client_ca_file.empty()
                            ? std::string(" (no client certificate required)")
                            : " (client certificates required, CA " + config.client_ca_file + ")"));
    return true;
  }

  bool reload(std::string* error) override {
    ServerConfig config;
    {
      std::lock_guard<std::mutex> lock(mu_);
      config = config_;
    }
    return load(config, false, error);
  }

  bool reload(const ServerConfig& config, std::string* error) override {
    return load(config, false, error);
  }

  bool files_changed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_.changed();
  }

  std::unique_ptr<httplib::SSLServer> make_httplib_server() override {
    return std::make_unique<httplib::SSLServer>(
        [self = shared_from_this()](SSL_CTX& ctx) { return self->configure(&ctx); });
  }

  SslCtxPtr make_ssl_ctx() override {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx || !configure(ctx.get())) return nullptr;
    return ctx;
  }

 private:
  std::shared_ptr<const ServerMaterial> current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return material_;
  }

  bool configure(SSL_CTX* ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    // Every handshake is a full one: a resumed session would skip the client-certificate
    // check against the CA current at that moment (and the new server certificate).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    static const unsigned char kSessionContext[] = "policy-sidecar";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    SSL_CTX_set_client_hello_cb(ctx, &ServerTlsImpl::on_client_hello, this);
    // The callback's `this` must live as long as the context.
    return detail::keep_alive_with(ctx, shared_from_this());
  }

  static int on_client_hello(SSL* ssl, int* alert, void* arg) {
    auto material = static_cast<ServerTlsImpl*>(arg)->current();
    if (!apply(ssl, *material)) {
      ERR_clear_error();
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
  }

  static bool apply(SSL* ssl, const ServerMaterial& m) {
    if (SSL_use_cert_and_key(ssl, m.identity.cert.get(), m.identity.key.get(),
                             m.identity.chain.get(), 1) != 1) {
      return false;
    }
    if (!m.client_ca_store) {
      SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
      return true;
    }
    STACK_OF(X509_NAME)* names = SSL_dup_CA_list(m.client_ca_names.get());
    if (names == nullptr) return false;
    SSL_set_client_CA_list(ssl, names);
    if (SSL_set1_verify_cert_store(ssl, m.client_ca_store.get()) != 1) return false;
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    return true;
  }

  const LogFn log_;
  std::mutex reload_mu_;  // serialises load(); held while reading files, never by handshakes
  mutable std::mutex mu_;  // guards config_, material_, watch_
  ServerConfig config_;
  std::shared_ptr<const ServerMaterial> material_;
  FileWatch watch_;
};

}  // namespace

std::shared_ptr<ServerTls> ServerTls::create(const ServerConfig& config, LogFn log,
                                             std::string* error) {
  auto tls = std::make_shared<ServerTlsImpl>(std::move(log));
  if (!tls->load(config, true, error)) return nullptr;
  return tls;
}

}  // namespace ps::tls
