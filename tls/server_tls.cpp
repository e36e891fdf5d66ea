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

bool same_files(const ServerConfig& a, const ServerConfig& b) {
  return a.cert_file == b.cert_file && a.key_file == b.key_file &&
         a.client_ca_file == b.client_ca_file;
}

struct ServerMaterial {
  CertAndKey identity;
  StorePtr client_ca_store;     // null: no client certificate asked for
  NameStackPtr client_ca_names;  // the CA names sent in CertificateRequest
};

// The client CA names sent in CertificateRequest.
Result<NameStackPtr> subject_names(STACK_OF(X509) * cas) {
  NameStackPtr names(sk_X509_NAME_new_null());
  if (!names) return Status(Code::internal, "out of memory");
  for (int i = 0; i < sk_X509_num(cas); ++i) {
    X509_NAME* name = X509_NAME_dup(X509_get_subject_name(sk_X509_value(cas, i)));
    if (name == nullptr || sk_X509_NAME_push(names.get(), name) == 0) {
      X509_NAME_free(name);
      return Status(Code::internal, "out of memory");
    }
  }
  return names;
}

Status load_client_ca(const std::string& file, ServerMaterial* out) {
  auto cas = detail::load_certs(file);
  if (!cas.ok()) return cas.status();
  auto store = detail::make_store(cas->get());
  if (!store.ok()) return store.status();
  auto names = subject_names(cas->get());
  if (!names.ok()) return names.status();
  out->client_ca_store = std::move(*store);
  out->client_ca_names = std::move(*names);
  return Status::success();
}

Result<std::shared_ptr<ServerMaterial>> load_server_material(const ServerConfig& config,
                                                             FileWatch* watch, const LogFn& log) {
  if (config.cert_file.empty() || config.key_file.empty()) {
    return Status(Code::invalid_argument,
                  "server TLS needs both a certificate file and a key file");
  }
  watch->add(config.cert_file);
  watch->add(config.key_file);
  if (!config.client_ca_file.empty()) watch->add(config.client_ca_file);

  auto out = std::make_shared<ServerMaterial>();
  auto identity = detail::load_cert_and_key(config.cert_file, config.key_file);
  if (!identity.ok()) return identity.status();
  out->identity = std::move(*identity);
  if (X509_cmp_current_time(X509_get0_notAfter(out->identity.cert.get())) < 0) {
    detail::log_to(log, LogLevel::warn,
                   "server certificate " + config.cert_file + " has expired; clients will refuse it");
  }
  if (config.client_ca_file.empty()) return out;
  if (Status ca = load_client_ca(config.client_ca_file, out.get()); !ca.ok()) return ca;
  return out;
}

class ServerTlsImpl final : public ServerTls,
                            public std::enable_shared_from_this<ServerTlsImpl> {
 public:
  explicit ServerTlsImpl(LogFn log) : log_(std::move(log)) {}

  Status load(const ServerConfig& config, bool initial) {
    std::lock_guard<std::mutex> reload_lock(reload_mu_);
    FileWatch watch;
    auto material = load_server_material(config, &watch, log_);
    ERR_clear_error();
    std::lock_guard<std::mutex> lock(mu_);
    if (!material.ok()) {
      // A failed reload of the same files counts as having looked at this version of them,
      // so a file watcher does not retry (and log) the same broken file forever.
      if (same_files(config, config_) && !initial) watch_ = std::move(watch);
      detail::log_to(log_, LogLevel::error,
                     std::string(initial ? "server TLS: cannot load: " :
                                           "server TLS: reload failed, keeping the current "
                                           "certificate: ") + material.status().message());
      return material.status();
    }
    config_ = config;
    material_ = std::move(*material);
    watch_ = std::move(watch);
    detail::log_to(log_, LogLevel::info,
                   std::string(initial ? "server TLS: loaded " : "server TLS: reloaded ") +
                       config.cert_file +
                       (config.client_ca_file.empty()
                            ? std::string(" (no client certificate required)")
                            : " (client certificates required, CA " + config.client_ca_file + ")"));
    return Status::success();
  }

  Status reload() override {
    ServerConfig config;
    {
      std::lock_guard<std::mutex> lock(mu_);
      config = config_;
    }
    return load(config, false);
  }

  Status reload(const ServerConfig& config) override { return load(config, false); }

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

Result<std::shared_ptr<ServerTls>> ServerTls::create(const ServerConfig& config, LogFn log) {
  auto tls = std::make_shared<ServerTlsImpl>(std::move(log));
  if (Status loaded = tls->load(config, true); !loaded.ok()) return loaded;
  return std::shared_ptr<ServerTls>(std::move(tls));
}

}  // namespace ps::tls
