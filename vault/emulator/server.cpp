#include "vault/emulator/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>

#include <openssl/err.h>

#include "engine/base/mutex.h"
#include "vault/emulator/core.h"
#include "vault/emulator/http_parse.h"
#include "vault/emulator/util.h"

namespace ps::vault::emulator {
namespace {

void set_timeout(int fd, int option, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

bool write_all(SSL* ssl, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    int n = SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off));
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool read_more(SSL* ssl, std::string& buf) {
  char tmp[16384];
  int n = SSL_read(ssl, tmp, sizeof tmp);
  if (n <= 0) return false;
  buf.append(tmp, static_cast<std::size_t>(n));
  return true;
}

std::string plain_error(int status, const std::string& text) {
  HttpResponse r;
  r.status = status;
  r.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  r.body = text;
  return http::serialize_response(r, false, false, http::http_date(std::chrono::system_clock::now()));
}

// True when the peer closed its side (EOF, reset, or a TLS alert such as close_notify).
bool peer_gone(int fd) {
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  unsigned char first = 0;
  ssize_t n = recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || (n == 1 && first == 0x15);
}

}  // namespace

Server::Server(Emulator& emulator, SSL_CTX* ctx, ServerOptions options, RequestLog* log,
               LogFn errors)
    : emu_(emulator), ctx_(ctx), options_(std::move(options)), log_(log), errors_(std::move(errors)) {}

Server::~Server() { stop(); }

namespace {

// The socket address for a numeric IPv4 or IPv6 host; nullopt for anything else.
struct SocketAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};
std::optional<SocketAddress> numeric_address(const std::string& host, int port) {
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in);
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    a.family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in6);
    return a;
  }
  return std::nullopt;
}

}  // namespace

Status Server::listen() {
  auto addr = numeric_address(options_.host, options_.port);
  if (!addr) {
    return Status(Code::invalid_argument,
                  "listen address must be a numeric IP address: " + options_.host);
  }
  int fd = socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    return io_error(err, "socket");
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr->addr), addr->len) != 0 ||
      ::listen(fd, 128) != 0) {
    int err = errno;
    close(fd);
    return io_error(err, "cannot listen on " + options_.host + ":" + std::to_string(options_.port));
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = addr->family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                                  : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  listen_fd_ = fd;
  return Status::success();
}

void Server::start() { acceptor_ = std::thread([this] { accept_loop(); }); }

void Server::stop() {
  if (stopping_.exchange(true)) {
    if (acceptor_.joinable()) acceptor_.join();
    return;
  }
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
  ps::MutexLock lock(mu_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (active_ != 0 && idle_.wait_until(lock, deadline) != std::cv_status::timeout) {
  }
}

void Server::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
    if (fd < 0) continue;
    char ip[INET6_ADDRSTRLEN] = "";
    if (peer.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, ip, sizeof ip);
    } else {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, ip, sizeof ip);
    }
    {
      ps::MutexLock lock(mu_);
      if (stopping_) {
        close(fd);
        break;
      }
      open_fds_.insert(fd);
      ++active_;
    }
    std::thread([this, fd, peer_ip = std::string(ip)] { serve(fd, peer_ip); }).detach();
  }
}

namespace {

// How a `hang` fault's wait ended: it elapsed, or the peer left or the server stopped first.
enum class HangEnd { elapsed, abandoned };

// One accepted TLS connection and the requests read from it, in order. Every path that ends
// the connection calls finish() exactly once; when a request ends it, that happens inside the
// request's Settle scope, so the connection is released before the request counts as settled.
class Connection {
 public:
  Connection(int fd, SSL* ssl, std::string peer, Emulator& emu, const ServerOptions& options,
             RequestLog* log, const std::atomic<bool>& stopping, std::function<void()> release,
             CommitPipeline& commits)
      : fd_(fd), ssl_(ssl), peer_(std::move(peer)), emu_(emu), options_(options), log_(log),
        stopping_(stopping), release_(std::move(release)), commits_(commits),
        max_body_(emu.options().max_request_size) {}

  // Performs the TLS handshake; false (connection finished) when it fails.
  bool handshake(const LogFn& errors);
  // Serves requests until the connection ends or the server stops, then finishes it.
  void serve_all();

 private:
  // Serves one request; false when the connection has been finished.
  bool serve_one();
  // Reads the next request head into `head`; false when the connection has been finished.
  bool read_head(http::RequestHead* head);
  // Reads the request body (Content-Length or chunked); false when finished.
  bool read_body(const http::RequestHead& head, HttpRequest* req);
  // Parses Content-Length into *length, refusing a bad or oversized one; false when finished.
  bool check_length(const std::string& value, const HttpRequest& req, std::size_t* length);
  // Answers 413 to a Content-Length over the limit and drains (part of) the body; finishes.
  void reject_oversized(unsigned long long declared, const HttpRequest& req);
  // Decodes a chunked body into req->body; false when finished.
  bool read_chunked(HttpRequest* req);
  // Reads `length` body bytes into req->body; false when finished.
  bool read_sized(std::size_t length, HttpRequest* req);
  // Dispatches the request and writes the answer; false when finished.
  bool answer(const http::RequestHead& head, const HttpRequest& req);
  // Waits out a `hang` fault, giving up early when the peer leaves or the server stops.
  HangEnd wait_hang(std::chrono::milliseconds hang);
  // Writes an error answer that ends the connection, logs it and finishes.
  void refuse(const HttpRequest& req, int status, const std::string& message);
  // Writes the request-log line for `req` (status 0: no answer was sent).
  void log(const HttpRequest& req, int status);
  // Frees the TLS session (after close_notify when graceful) and releases the socket.
  void finish(bool graceful);

  int fd_;
  SSL* ssl_;
  std::string peer_;
  Emulator& emu_;
  const ServerOptions& options_;
  RequestLog* log_;
  const std::atomic<bool>& stopping_;
  std::function<void()> release_;
  CommitPipeline& commits_;
  const std::size_t max_body_;
  std::string buf_;  // bytes read but not yet consumed
};

void Connection::finish(bool graceful) {
  if (ssl_ != nullptr) {
    if (graceful) SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  ERR_clear_error();
  release_();
}

bool Connection::handshake(const LogFn& errors) {
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1 || SSL_accept(ssl_) != 1) {
    if (errors) errors(LogLevel::debug, "TLS handshake with " + peer_ + " failed");
    finish(false);
    return false;
  }
  return true;
}

void Connection::serve_all() {
  while (!stopping_) {
    if (!serve_one()) return;
  }
  finish(true);
}

bool Connection::serve_one() {
  http::RequestHead head;
  if (!read_head(&head)) return false;
  // Numbered for GET /_emulator/stats (received / settled); settled when this request is
  // done here, i.e. after its request-log line was written or it ended without one.
  struct Settle {
    Emulator& emu;
    const std::uint64_t number;
    ~Settle() { emu.request_settled(number); }
  } settle{emu_, emu_.request_received()};

  HttpRequest req;
  req.method = head.method;
  http::split_target(head.target, &req.path, &req.query);
  req.headers = head.headers;
  req.remote_addr = peer_;
  if (!read_body(head, &req)) return false;
  return answer(head, req);
}

bool Connection::read_head(http::RequestHead* head) {
  std::size_t consumed = 0;
  set_timeout(fd_, SO_RCVTIMEO, options_.idle_timeout);
  http::HeadStatus hs;
  while ((hs = http::parse_head(buf_, options_.max_head_bytes, head, &consumed)) ==
         http::HeadStatus::incomplete) {
    if (!read_more(ssl_, buf_)) {
      finish(buf_.empty());
      return false;
    }
    set_timeout(fd_, SO_RCVTIMEO, options_.io_timeout);
  }
  if (hs != http::HeadStatus::ok) {
    write_all(ssl_, hs == http::HeadStatus::too_large ? plain_error(431, "431 Request Header Fields Too Large")
                                                     : plain_error(400, "400 Bad Request"));
    finish(true);
    return false;
  }
  buf_.erase(0, consumed);
  set_timeout(fd_, SO_RCVTIMEO, options_.io_timeout);
  return true;
}

bool Connection::read_body(const http::RequestHead& head, HttpRequest* req) {
  const std::string* te = head.header("Transfer-Encoding");
  const std::string* cl = head.header("Content-Length");
  const std::string* expect = head.header("Expect");
  bool chunked = te != nullptr && to_lower(*te).find("chunked") != std::string::npos;
  std::size_t length = 0;
  if (!chunked && cl != nullptr && !check_length(*cl, *req, &length)) return false;
  if (expect != nullptr && to_lower(*expect) == "100-continue" && (chunked || length > 0)) {
    write_all(ssl_, "HTTP/1.1 100 Continue\r\n\r\n");
  }
  return chunked ? read_chunked(req) : read_sized(length, req);
}

bool Connection::check_length(const std::string& value, const HttpRequest& req,
                              std::size_t* length) {
  char* end = nullptr;
  unsigned long long n = std::strtoull(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0') {
    refuse(req, 400, "invalid Content-Length");
    return false;
  }
  if (n > max_body_) {
    reject_oversized(n, req);
    return false;
  }
  *length = static_cast<std::size_t>(n);
  return true;
}

void Connection::reject_oversized(unsigned long long declared, const HttpRequest& req) {
  // Answer first, then read (and drop) what the client is still sending, so that a client
  // that writes the whole body before reading sees the 413 instead of a broken pipe.
  HttpResponse r = error_response(413, {"failed to parse JSON input: http: request body too large"});
  r.set_header("Cache-Control", "no-store");
  write_all(ssl_, http::serialize_response(r, false, false, http::http_date(std::chrono::system_clock::now())));
  log(req, 413);
  std::size_t left = static_cast<std::size_t>(std::min<unsigned long long>(declared, 4ull * max_body_)) -
                     std::min(buf_.size(), static_cast<std::size_t>(declared));
  buf_.clear();
  while (left > 0 && !stopping_ && read_more(ssl_, buf_)) {
    left -= std::min(left, buf_.size());
    buf_.clear();
  }
  finish(true);
}

bool Connection::read_chunked(HttpRequest* req) {
  http::ChunkedDecoder decoder(max_body_);
  http::ChunkedDecoder::Status st;
  while ((st = decoder.feed(buf_, &req->body)) == http::ChunkedDecoder::Status::need_more) {
    if (!read_more(ssl_, buf_)) {
      finish(false);
      return false;
    }
  }
  if (st == http::ChunkedDecoder::Status::too_large) {
    refuse(*req, 413, "failed to parse JSON input: http: request body too large");
    return false;
  }
  if (st == http::ChunkedDecoder::Status::bad) {
    refuse(*req, 400, "invalid chunked body");
    return false;
  }
  return true;
}

bool Connection::read_sized(std::size_t length, HttpRequest* req) {
  while (buf_.size() < length) {
    if (!read_more(ssl_, buf_)) {
      finish(false);
      return false;
    }
  }
  req->body = buf_.substr(0, length);
  buf_.erase(0, length);
  return true;
}

bool Connection::answer(const http::RequestHead& head, const HttpRequest& req) {
  Outcome out = emu_.dispatch(req);
  if (out.kind == Outcome::Kind::drop) {
    log(req, 0);
    finish(false);  // no answer, no close_notify: the client sees the connection vanish
    return false;
  }
  if (out.kind == Outcome::Kind::hang) {
    if (wait_hang(out.hang) == HangEnd::abandoned) {
      log(req, 0);
      finish(false);
      return false;
    }
    out.response = emu_.handle(req);
  }
  if (out.kind == Outcome::Kind::delay) {
    // The latency model: no lock of the core is held while waiting.
    if (out.commit) {
      commits_.commit(out.hang);
    } else {
      std::this_thread::sleep_for(out.hang);
    }
    out.response = emu_.handle(req);
  }
  bool keep = head.keep_alive() && !stopping_;
  bool ok = write_all(ssl_, http::serialize_response(out.response, keep, req.method == "HEAD",
                                                     http::http_date(std::chrono::system_clock::now())));
  log(req, out.response.status);
  if (!ok || !keep) {
    finish(ok);
    return false;
  }
  return true;
}

HangEnd Connection::wait_hang(std::chrono::milliseconds hang) {
  auto deadline = std::chrono::steady_clock::now() + hang;
  bool gave_up = false;
  while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
    if (peer_gone(fd_)) {
      gave_up = true;
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(20)));
  }
  return gave_up || stopping_ ? HangEnd::abandoned : HangEnd::elapsed;
}

void Connection::refuse(const HttpRequest& req, int status, const std::string& message) {
  HttpResponse r = error_response(status, {message});
  r.set_header("Cache-Control", "no-store");
  write_all(ssl_, http::serialize_response(r, false, false, http::http_date(std::chrono::system_clock::now())));
  log(req, status);
  finish(true);
}

void Connection::log(const HttpRequest& req, int status) {
  if (log_ != nullptr) log_->write(req.method, req.path, req.query, status);
}

}  // namespace

void Server::serve(int fd, std::string peer) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_timeout(fd, SO_RCVTIMEO, options_.handshake_timeout);
  set_timeout(fd, SO_SNDTIMEO, options_.io_timeout);
  auto release = [this, fd] {
    ps::MutexLock lock(mu_);
    open_fds_.erase(fd);
    close(fd);
  };
  {
    Connection conn(fd, SSL_new(ctx_), std::move(peer), emu_, options_, log_, stopping_,
                    release, commits_);
    if (conn.handshake(errors_)) conn.serve_all();
  }
  // Counted out only here, not when the connection is released: its last request settles
  // after that (Emulator::request_settled), and stop() returning lets main destroy the
  // Emulator, so no connection thread may still be inside it then.
  ps::MutexLock lock(mu_);
  --active_;
  idle_.notify_all();
}

}  // namespace ps::vault::emulator
