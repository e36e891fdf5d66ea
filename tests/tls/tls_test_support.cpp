#include "tests/tls/tls_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "tests/support/poll.h"

namespace ps::tls::testing {
namespace {

void set_socket_timeouts(int fd) {
  timeval tv{};
  tv.tv_sec = 10;  // a safety net against a hung test, not a timing assertion
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_socket_timeouts(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

void replace_file(const std::string& path, const std::string& text, bool private_key) {
  std::string tmp = path + ".new";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), private_key ? 0600 : 0644);
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("rename failed");
}

void replace_with_copy(const std::string& src, const std::string& dst) {
  replace_file(dst, ps::testing::read_text_file(src), src.find("key") != std::string::npos);
}

DevSet::DevSet() {
  if (Status written = devpki::write_dev_set(dir.path()); !written.ok()) {
    throw std::runtime_error(written.message());
  }
}

ServerConfig DevSet::server(const std::string& stem, const std::string& client_ca) const {
  ServerConfig c;
  c.cert_file = (*this)(stem + ".pem");
  c.key_file = (*this)(stem + "-key.pem");
  if (!client_ca.empty()) c.client_ca_file = (*this)(client_ca);
  return c;
}

LogFn LogCapture::log() {
  return [this](LogLevel level, std::string_view message) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.emplace_back(level, std::string(message));
  };
}

std::size_t LogCapture::count(LogLevel level, const std::string& needle) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& [l, m] : entries_) {
    if (l == level && m.find(needle) != std::string::npos) ++n;
  }
  return n;
}

std::vector<std::string> LogCapture::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.second);
  return out;
}

bool LogCapture::any_contains(const std::string& needle) const {
  for (const std::string& m : messages()) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}

TestServer::TestServer(const std::shared_ptr<ServerTls>& tls) : server_(tls->make_httplib_server()) {
  if (!server_->is_valid()) throw std::runtime_error("SSL server is not valid");
  server_->Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hello", "text/plain");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("bind failed");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // Readiness by polling, not by a fixed sleep.
  ps::testing::poll_until([this] { return server_->is_running(); });
}

TestServer::~TestServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string get_hello(const ClientTls& tls, int port, const std::string& host) {
  auto client = tls.make_client(host, port);
  client->set_connection_timeout(10);
  client->set_read_timeout(10);
  auto res = client->Get("/hello");
  if (!res) return "error: " + httplib::to_string(res.error());
  if (res->status != 200) return "error: status " + std::to_string(res->status);
  return res->body;
}

RawHandshake raw_handshake(int port, const RawClientOptions& o) {
  RawHandshake out;
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (o.allow_legacy) SSL_CTX_set_security_level(ctx.get(), 0);
  if (o.min_version) SSL_CTX_set_min_proto_version(ctx.get(), o.min_version);
  if (o.max_version) SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
  if (!o.cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), o.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  int fd = connect_loopback(port);
  if (fd < 0) {
    out.error = "connect failed";
    return out;
  }
  SSL* ssl = SSL_new(ctx.get());
  SSL_set_fd(ssl, fd);
  ERR_clear_error();
  if (SSL_connect(ssl) == 1) {
    out.ok = true;
    out.peer.reset(SSL_get1_peer_certificate(ssl));
    SSL_shutdown(ssl);
  } else {
    out.error = detail::openssl_errors("handshake failed");
  }
  SSL_free(ssl);
  ::close(fd);
  return out;
}

std::string common_name(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

std::string serial_hex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string serial_hex_of_file(const std::string& pem_file) {
  auto certs = detail::load_certs(pem_file);
  if (!certs.ok()) throw std::runtime_error(certs.status().message());
  return serial_hex(sk_X509_value(certs->get(), 0));
}

RawHttpsServer::RawHttpsServer(SSL_CTX* ctx) : ctx_(ctx) {
  SSL_CTX_set_tlsext_servername_arg(ctx_, this);
  SSL_CTX_set_tlsext_servername_callback(ctx_, +[](SSL* ssl, int*, void* arg) {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    static_cast<RawHttpsServer*>(arg)->sni_ = name ? name : "";
    return SSL_TLSEXT_ERR_OK;
  });
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 4) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("raw server: cannot listen");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

void RawHttpsServer::serve() {
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  set_socket_timeouts(fd);
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    static const char kResponse[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        "Connection: close\r\n\r\nhello";
    SSL_write(ssl, kResponse, sizeof kResponse - 1);
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
  ::close(fd);
}

std::string RawHttpsServer::wait_for_sni() {
  if (thread_.joinable()) thread_.join();
  return sni_;
}

RawHttpsServer::~RawHttpsServer() {
  ::shutdown(listen_fd_, SHUT_RDWR);  // unblocks accept() when no client came
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

}  // namespace ps::tls::testing
