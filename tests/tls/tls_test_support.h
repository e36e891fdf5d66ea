// Shared by the tls/ test suites: a temp directory holding the dev PKI, a log capture, a real
// httplib SSL server on 127.0.0.1 port 0, and a bare OpenSSL client/server for the checks
// httplib cannot express (reading the peer certificate, old protocol versions, SNI).
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/temp_dir.h"
#include "tls/dev_pki.h"
#include "tls/ossl.h"
#include "tls/tls.h"

namespace ps::tls::testing {

using detail::X509Ptr;

using ps::testing::read_text_file;
using ps::testing::TempDir;

// Writes `text` to `path` through a temporary file and rename(), as certificate tooling does.
void replace_file(const std::string& path, const std::string& text, bool private_key = false);
// Copies src over dst (with replace_file semantics).
void replace_with_copy(const std::string& src, const std::string& dst);

// The standard dev set (tls/dev_pki.h) in a temp directory.
struct DevSet {
  TempDir dir;
  DevSet();
  std::string operator()(const std::string& name) const { return dir.file(name); }
  ServerConfig server(const std::string& stem, const std::string& client_ca = "") const;
};

// Records everything logged through log().
class LogCapture {
 public:
  LogFn log();
  std::size_t count(LogLevel level, const std::string& needle) const;
  std::vector<std::string> messages() const;
  bool any_contains(const std::string& needle) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> entries_;
};

// An httplib SSL server from ServerTls::make_httplib_server() answering GET /hello with
// "hello", listening on 127.0.0.1 on a port the kernel picks.
class TestServer {
 public:
  explicit TestServer(const std::shared_ptr<ServerTls>& tls);
  ~TestServer();
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = -1;
};

// GET /hello through a client from ClientTls; returns the body, or "error: <httplib error>".
std::string get_hello(const ClientTls& tls, int port, const std::string& host = "127.0.0.1");

// One bare OpenSSL handshake against 127.0.0.1:port, without verifying the server.
struct RawClientOptions {
  int min_version = 0;  // 0 = library default
  int max_version = 0;
  bool allow_legacy = false;  // security level 0, so TLS 1.0/1.1 can be offered at all
  std::string cert_file;
  std::string key_file;
};
struct RawHandshake {
  bool ok = false;
  X509Ptr peer;
  std::string error;
};
RawHandshake raw_handshake(int port, const RawClientOptions& options = {});

std::string common_name(X509* cert);
std::string serial_hex(X509* cert);
std::string serial_hex_of_file(const std::string& pem_file);

// A one-connection HTTPS server on a bare SSL_CTX (ServerTls::make_ssl_ctx()), recording the
// SNI name the client sent.
class RawHttpsServer {
 public:
  explicit RawHttpsServer(SSL_CTX* ctx);
  ~RawHttpsServer();
  int port() const { return port_; }
  // Joins the connection thread and returns the SNI name ("" when none was sent).
  std::string wait_for_sni();

 private:
  void serve();
  SSL_CTX* ctx_;
  int listen_fd_ = -1;
  int port_ = -1;
  std::string sni_;
  std::thread thread_;
};

}  // namespace ps::tls::testing
