// TLS for policy-sidecar: client and server contexts on OpenSSL 3, with reload.
//
// Contract shared by the Vault client (vault/), the Vault emulator (vault/emulator/) and the
// sidecar's listener (sidecar/):
//  - Verification is always on for clients. Skipping it exists only as the explicit
//    ClientConfig::skip_verify, which logs a warning every time material is (re)loaded.
//    There is never a fallback to plaintext or to unverified TLS.
//  - TLS 1.2 is the minimum on both sides.
//  - Errors are ps::Status values (engine/base/status.h): not_found / permission_denied /
//    unavailable for a file that cannot be read, invalid_argument for unusable material or
//    settings, internal for OpenSSL or memory failures. A message names the file and the
//    reason and never contains key material.
//  - Reload: reload() re-reads the configured files. On success, new connections use the new
//    material (open connections keep theirs). On failure the old material stays in use and the
//    reason is returned (and logged).
//  - Thread-safe: reload() may run while other threads accept or connect.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "engine/base/log_level.h"
#include "engine/base/status.h"

namespace httplib {
class SSLServer;
class SSLClient;
}  // namespace httplib

namespace ps::tls {

struct ClientConfig {
  std::string ca_file;      // PEM bundle of trusted CAs (VAULT_CACERT); wins over ca_dir
  std::string ca_dir;       // directory of PEM CA files (VAULT_CAPATH): as Vault's client,
                            // every certificate in every file directly inside it, read at
                            // (re)load; c_rehash hash links work too
  std::string cert_file;    // client certificate for mTLS (VAULT_CLIENT_CERT)
  std::string key_file;     // its key (VAULT_CLIENT_KEY); one without the other is an error
  std::string server_name;  // SNI and hostname verification (VAULT_TLS_SERVER_NAME);
                            // empty = the host being connected to
  bool skip_verify = false; // VAULT_SKIP_VERIFY: explicit only, warned about on every load
};

struct ServerConfig {
  std::string cert_file;       // PEM certificate (chain allowed: leaf first)
  std::string key_file;        // PEM private key matching cert_file
  std::string client_ca_file;  // non-empty: clients must present a certificate from this CA
};

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Server-side material (certificate, key, optional client CA) that can be swapped at runtime.
class ServerTls {
 public:
  // Loads and checks the files (key matches certificate, CA parses). The error says why they
  // are unusable. The value is never null.
  static Result<std::shared_ptr<ServerTls>> create(const ServerConfig& config, LogFn log);
  virtual ~ServerTls() = default;

  // Re-reads the configured files (or `config`, when given). On failure keeps the current
  // material, logs and returns the reason.
  virtual Status reload() = 0;
  virtual Status reload(const ServerConfig& config) = 0;
  // True when any configured file's mtime/size/inode changed since the last (re)load. A failed
  // reload of the same files counts as having seen them (a watcher does not retry a broken
  // file forever); a file edited in place twice within one mtime tick at the same size is
  // not seen, so rotate files by rename.
  virtual bool files_changed() const = 0;

  // An httplib server whose every new handshake uses the material current at that moment.
  virtual std::unique_ptr<httplib::SSLServer> make_httplib_server() = 0;
  // The same for servers that drive OpenSSL themselves: a configured SSL_CTX whose
  // handshakes pick up the current material (via its client-hello callback: do not replace
  // it). The SSL_CTX keeps this ServerTls alive. nullptr on allocation failure.
  virtual SslCtxPtr make_ssl_ctx() = 0;
};

// Client-side settings, turned into ready httplib clients. Reload bumps generation() so a
// long-lived user (the Vault client) knows to drop its kept-alive connection and reconnect.
class ClientTls {
 public:
  // Loads and checks the files. The error says why they are unusable. Never null.
  static Result<std::shared_ptr<ClientTls>> create(const ClientConfig& config, LogFn log);
  virtual ~ClientTls() = default;

  // As ServerTls::reload; the skip_verify warning is logged on every call with it set.
  virtual Status reload() = 0;
  virtual Status reload(const ClientConfig& config) = 0;
  // As ServerTls::files_changed (the CA directory and each file in it are watched).
  virtual bool files_changed() const = 0;
  // 0 after create(); +1 on every successful reload.
  virtual std::uint64_t generation() const = 0;

  // A client for https://host:port using the current material: CA checks, SNI and hostname
  // verification against server_name (or host), TLS >= 1.2, client certificate when set.
  // Timeouts and keep-alive are left to the caller. `host` is a DNS name or an IP literal
  // without brackets. With a server_name, a DNS-name host is resolved here (first address).
  // Only the configured CA file/directory is trusted; with neither, the system trust store.
  // Never null; if the host does not resolve or the context cannot be set up, it is logged
  // and every request fails (never an unchecked connection).
  virtual std::unique_ptr<httplib::SSLClient> make_client(const std::string& host,
                                                          int port) const = 0;
};

}  // namespace ps::tls
