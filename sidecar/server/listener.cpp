#include <utility>  // GCC 12 + C++20: before Asio's headers

#include "sidecar/server/listener.h"

#include "engine/base/mutex.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace ps::sidecar::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;
using TlsStream = asio::ssl::stream<tcp::socket>;

Steady::duration seconds(double s) {
  return std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(s));
}

bool plain_digits(std::string_view v) {
  if (v.empty() || v.size() > 18) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

RouteAnswer refusal(int status, std::string_view message) {
  return json_answer({status, errors_body(message), {}, false});
}

tcp::socket& lowest(tcp::socket& s) { return s; }
tcp::socket& lowest(TlsStream& s) { return s.next_layer(); }

// What a connection is doing: it decides which deadline applies and what stop() may close.
// Bytes a read may bring beyond the head cap (the buffer's limit is the cap plus this).
constexpr std::size_t kReadSlack = 16384;

enum class Phase { handshake, idle, head, body, handling, writing, shutting_down, closed };

// How long a close_notify may take to leave; a peer that does not take it in time is cut.
constexpr std::chrono::seconds kShutdownBound{1};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void start() = 0;
  // stop(): closes the connection unless a request is being read, handled or answered (that
  // one is answered with Connection: close).
  virtual void stop_if_idle() = 0;
};

}  // namespace

// Owns the IO context, the acceptor, the worker pool and the connection bookkeeping. Every
// member without a lock is touched only on the IO thread.
class Listener::Impl {
 public:
  Impl(const ListenerConfig& config, std::shared_ptr<tls::ServerTls> tls, Routes routes,
       Logger& log, const Clock& clock)
      : config_(config),
        server_tls_(std::move(tls)),
        routes_(std::move(routes), config.max_request_bytes, log, clock),
        log_(log),
        acceptor_(ioc_),
        retry_timer_(ioc_) {}
  ~Impl() { workers_.join(); }

  Status open(const ListenerConfig& config);
  void run() { ioc_.run(); }
  void stop();
  bool drain(Clock::SteadyTime deadline, const Clock& clock);
  std::size_t in_flight() const {
    ps::MutexLock lock(mu_);
    return in_flight_;
  }
  int port() const { return port_; }
  bool tls() const { return ssl_.has_value(); }

  // For sessions (IO thread).
  const ListenerConfig& config() const { return config_; }
  const RouteTable& routes() const { return routes_; }
  asio::io_context& ioc() { return ioc_; }
  asio::thread_pool& workers() { return workers_; }
  bool stopping() const { return stopping_; }
  void forget(SessionBase* s, const std::string& peer);
  void request_started() {
    ps::MutexLock lock(mu_);
    ++in_flight_;
  }
  void request_ended() {
    {
      ps::MutexLock lock(mu_);
      --in_flight_;
    }
    idle_cv_.notify_all();
  }

 private:
  void accept();
  void on_accept(const boost::system::error_code& ec, tcp::socket socket);
  // `reason`: max_connections or max_connections_per_peer (the metric label).
  void refuse(tcp::socket& socket, const std::string& peer, const char* reason);

  const ListenerConfig config_;
  const std::shared_ptr<tls::ServerTls> server_tls_;
  const RouteTable routes_;
  Logger& log_;
  int port_ = 0;

  mutable ps::Mutex mu_;
  ps::CondVar idle_cv_;
  std::size_t in_flight_ GUARDED_BY(mu_) = 0;

  // Declared before ioc_: sessions destroyed with the context still find them.
  std::map<SessionBase*, std::weak_ptr<SessionBase>> sessions_;
  std::map<std::string, std::size_t> per_peer_;
  bool stopping_ = false;
  std::optional<asio::ssl::context> ssl_;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  asio::thread_pool workers_{Listener::kWorkers};
};

namespace {

// One connection. Runs on the IO thread except for the route, which a worker runs on a copy of
// the request; its answer comes back to the IO thread. A single timer carries whichever
// deadline applies now; when it fires the socket's pending operation is cancelled.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Listener::Impl& server, Stream stream, std::string peer)
      : server_(server),
        stream_(std::move(stream)),
        peer_(std::move(peer)),
        timer_(server.ioc()),
        // Bounds what one read may take in: a head over the cap fails before the buffer fills.
        buffer_(static_cast<std::size_t>(server.config().max_header_bytes) + kReadSlack) {}
  ~Session() override { server_.forget(this, peer_); }

  void start() override;
  void stop_if_idle() override;

 private:
  const ListenerConfig& config() const { return server_.config(); }
  void next_request();
  void read();
  void on_read(const beast::error_code& ec);
  void on_timeout();
  // Which limit a timeout that just fired was: the phase's deadline, or a read stall.
  const char* timeout_reason(bool head) const {
    if (Steady::now() < deadline_) return "read_timeout";
    return head ? "head_timeout" : "request_timeout";
  }
  // A body up to this size over max_request_bytes is read and dropped before the 413, so a
  // plain client that writes its whole body first still sees the answer; beyond it, 413 at once.
  std::uint64_t discard_limit() const {
    return std::max<std::uint64_t>(static_cast<std::uint64_t>(config().max_request_bytes) * 4, 1u << 20);
  }
  void discard(std::uint64_t length);
  void discard_more();
  bool expects_continue() const;
  void send_continue();
  std::optional<RouteAnswer> check_head();
  void handle();
  void answer(RouteAnswer a, bool close);
  void on_written(const beast::error_code& ec);
  void arm(Steady::time_point at);
  void close();
  void close_gracefully();
  std::string path() const;

  Listener::Impl& server_;
  Stream stream_;
  const std::string peer_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  Phase phase_ = Phase::handshake;
  Steady::time_point started_;   // of the connection, then of each request's first byte
  Steady::time_point deadline_;  // of the current phase
  bool timed_out_ = false;
  bool in_flight_ = false;
  bool close_after_answer_ = false;
  bool discarding_ = false;
  std::uint64_t discard_left_ = 0;
  unsigned served_ = 0;
};

template <class Stream>
void Session<Stream>::start() {
  started_ = Steady::now();
  deadline_ = started_ + seconds(config().head_timeout_s);
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    arm(deadline_);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](const beast::error_code& ec) {
                              if (self->phase_ == Phase::closed) return;
                              if (self->timed_out_) return self->on_timeout();
                              if (ec) return self->close();
                              self->phase_ = Phase::head;
                              self->parser_.reset();
                              self->next_request();
                            });
  } else {
    phase_ = Phase::head;
    next_request();
  }
}

// A fresh parser with the limits; the first request's head deadline runs from the accept, a
// later one's from its first byte (until then the idle deadline applies).
template <class Stream>
void Session<Stream>::next_request() {
  if (server_.stopping() && phase_ == Phase::idle) return close_gracefully();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(config().max_header_bytes));
  parser_->body_limit(discard_limit());
  if (phase_ == Phase::idle) deadline_ = Steady::now() + seconds(config().idle_timeout_s);
  read();
}

template <class Stream>
void Session<Stream>::read() {
  const auto stall = Steady::now() + seconds(config().read_timeout_s);
  arm(phase_ == Phase::idle ? deadline_ : std::min(deadline_, stall));
  http::async_read_some(stream_, buffer_, *parser_,
                        [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
                          self->on_read(ec);
                        });
}

// The order: a deadline that passed wins over whatever the read brought; then parse errors
// (the listener's own refusals); then the head checks once, when the head is complete; then
// the body until the message is done.
template <class Stream>
void Session<Stream>::on_read(const beast::error_code& ec) {
  if (phase_ == Phase::closed || phase_ == Phase::shutting_down) return;
  if (timed_out_) return on_timeout();
  if (ec == http::error::header_limit) {
    server_.routes().refused("header_too_large");
    return answer(refusal(431, "request head larger than " +
                                   std::to_string(config().max_header_bytes) +
                                   " bytes (listener.max_header_bytes)"), true);
  }
  if (ec == http::error::body_limit) return answer(refusal(413, server_.routes().too_large_message()), true);
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec.category() != http::make_error_code(http::error::bad_target).category()) {
    if (ec) return close();
  } else if (ec) {
    return answer(refusal(400, std::string("malformed request: ") + ec.message()), true);
  }
  if (phase_ == Phase::idle) {  // the next request's first bytes
    phase_ = Phase::head;
    started_ = Steady::now();
    deadline_ = started_ + seconds(config().head_timeout_s);
  }
  if (phase_ == Phase::head && parser_->is_header_done()) {
    if (auto refused = check_head()) return answer(std::move(*refused), true);
    const auto length = parser_->content_length();
    if (length && *length > static_cast<std::uint64_t>(config().max_request_bytes)) {
      return discard(*length);
    }
    phase_ = Phase::body;
    in_flight_ = true;
    server_.request_started();
    deadline_ = started_ + seconds(config().request_timeout_s);
    if (!parser_->is_done() && expects_continue()) return send_continue();
  }
  if (parser_->is_done()) return handle();
  read();
}

template <class Stream>
void Session<Stream>::discard(std::uint64_t length) {
  discarding_ = true;
  deadline_ = started_ + seconds(config().request_timeout_s);
  const std::uint64_t have = std::min<std::uint64_t>(buffer_.size(), length);
  buffer_.consume(static_cast<std::size_t>(have));
  discard_left_ = length - have;
  discard_more();
}

// Reads the refused body through the (bounded) buffer and drops it; the deadlines still apply.
template <class Stream>
void Session<Stream>::discard_more() {
  if (discard_left_ == 0) return answer(refusal(413, server_.routes().too_large_message()), true);
  arm(std::min(deadline_, Steady::now() + seconds(config().read_timeout_s)));
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(discard_left_, kReadSlack));
  stream_.async_read_some(buffer_.prepare(n), [self = this->shared_from_this()](
                                                  const beast::error_code& ec, std::size_t got) {
    if (self->phase_ == Phase::closed) return;
    if (self->timed_out_) self->server_.routes().refused(self->timeout_reason(false));
    if (ec || self->timed_out_) return self->close();
    self->buffer_.commit(got);
    self->buffer_.consume(got);
    self->discard_left_ -= std::min<std::uint64_t>(got, self->discard_left_);
    self->discard_more();
  });
}

template <class Stream>
void Session<Stream>::on_timeout() {
  if (phase_ == Phase::body) {
    server_.routes().refused(timeout_reason(false));
    return answer(refusal(400, "malformed request: the request did not arrive whole in time "
                               "(listener.read_timeout_s, listener.request_timeout_s)"),
                  true);
  }
  // An idle kept-alive connection: a sound TLS session, ended with a close_notify. A head or
  // handshake that never came (counted): a client holding on or trickling, just cut.
  if (phase_ == Phase::idle) return close_gracefully();
  if (phase_ == Phase::handshake || phase_ == Phase::head) {
    server_.routes().refused(timeout_reason(true));
  }
  close();
}

// Strict framing, decided by the listener before any body byte is used: exactly one
// Content-Length of plain digits (none for a body-less GET), never Transfer-Encoding.
template <class Stream>
std::optional<RouteAnswer> Session<Stream>::check_head() {
  const auto& req = parser_->get();
  std::size_t fields = 0, lengths = 0;
  std::string length;
  for (const auto& f : req) {
    ++fields;
    if (f.name() == http::field::transfer_encoding) {
      return refusal(400, "Transfer-Encoding is not accepted: send the body with a Content-Length");
    }
    if (f.name() == http::field::content_length) {
      ++lengths;
      length = std::string(f.value());
    }
  }
  if (fields > static_cast<std::size_t>(config().max_headers)) {
    server_.routes().refused("too_many_headers");
    return refusal(431, "more than " + std::to_string(config().max_headers) +
                            " header fields (listener.max_headers)");
  }
  if (lengths > 1) return refusal(400, "more than one Content-Length");
  if (lengths == 1 && !plain_digits(length)) return refusal(400, "invalid Content-Length");
  if (lengths == 0 && req.method() == http::verb::post) {
    return refusal(411, "a Content-Length is required");
  }
  return std::nullopt;
}

template <class Stream>
bool Session<Stream>::expects_continue() const {
  const auto it = parser_->get().find(http::field::expect);
  return it != parser_->get().end() && beast::iequals(it->value(), "100-continue");
}

// curl sends `Expect: 100-continue` with larger bodies and waits for this before sending them.
template <class Stream>
void Session<Stream>::send_continue() {
  static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  asio::async_write(stream_, asio::buffer(kContinue),
                    [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
                      if (ec || self->timed_out_ || self->phase_ == Phase::closed) {
                        return self->on_read(ec ? ec : beast::error_code());
                      }
                      self->read();
                    });
}

template <class Stream>
void Session<Stream>::handle() {
  phase_ = Phase::handling;
  timer_.cancel();
  auto& req = parser_->get();
  ParsedRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  for (const auto& f : req) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  r.body = std::move(req.body());
  r.peer = peer_;
  const bool keep = req.keep_alive() && served_ + 1 < Listener::kKeepAliveMaxCount;
  // The work guard keeps run() going while the route runs (nothing else may be pending then).
  asio::post(server_.workers(), [self = this->shared_from_this(), r = std::move(r), keep,
                                 work = asio::make_work_guard(server_.ioc())]() mutable {
    RouteAnswer a = self->server_.routes().serve(r);
    auto& ioc = self->server_.ioc();
    asio::post(ioc, [self = std::move(self), a = std::move(a), keep]() mutable {
      self->answer(std::move(a), !keep);
    });
  });
}

template <class Stream>
void Session<Stream>::answer(RouteAnswer a, bool close) {
  if (phase_ == Phase::closed) return;
  close = close || close_after_answer_ || server_.stopping();
  phase_ = Phase::writing;
  timed_out_ = false;
  const std::string method = parser_ && parser_->is_header_done()
                                 ? std::string(parser_->get().method_string()) : "";
  server_.routes().finished(method, path(), a.status, peer_);
  auto& res = response_.emplace();
  res.version(11);
  res.result(static_cast<unsigned>(a.status));
  res.set(http::field::content_type, a.content_type);
  for (auto& [name, value] : a.headers) res.set(name, value);
  res.keep_alive(!close);
  res.body() = std::move(a.body);
  res.prepare_payload();
  close_after_answer_ = close;
  arm(Steady::now() + seconds(std::max(config().read_timeout_s, config().request_timeout_s)));
  http::async_write(stream_, res,
                    [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
                      self->on_written(ec);
                    });
}

template <class Stream>
void Session<Stream>::on_written(const beast::error_code& ec) {
  if (in_flight_) {
    in_flight_ = false;
    server_.request_ended();
  }
  if (ec || timed_out_ || phase_ == Phase::closed) return close();
  if (close_after_answer_) return close_gracefully();
  ++served_;
  response_.reset();
  phase_ = Phase::idle;
  next_request();
}

template <class Stream>
void Session<Stream>::arm(Steady::time_point at) {
  timer_.expires_at(at);  // cancels the wait in progress (its handler sees operation_aborted)
  timer_.async_wait([self = this->shared_from_this()](const beast::error_code& ec) {
    if (ec || self->phase_ == Phase::closed || self->phase_ == Phase::handling) return;
    self->timed_out_ = true;
    beast::error_code ignored;
    lowest(self->stream_).cancel(ignored);
  });
}

template <class Stream>
void Session<Stream>::stop_if_idle() {
  if (phase_ == Phase::idle) return close_gracefully();
  if (phase_ == Phase::handshake || (phase_ == Phase::head && !in_flight_)) return close();
  close_after_answer_ = true;
}

template <class Stream>
void Session<Stream>::close() {
  if (phase_ == Phase::closed) return;
  if (in_flight_) {
    in_flight_ = false;
    server_.request_ended();
  }
  phase_ = Phase::closed;
  timer_.cancel();
  beast::error_code ignored;
  auto& socket = lowest(stream_);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

// Ends a connection whose TLS session is sound (after its last answer, or idle): our
// close_notify, then the socket, so the client can tell a complete answer from a cut one. Only
// ours is sent (marking the peer's as received makes SSL_shutdown finish at once): waiting for
// the peer's, which TLS does not require of the side that closes, would let a client hold the
// connection or make us read what a flooding one still sends. The write is bounded by
// kShutdownBound on the connection's timer; it never blocks the IO thread.
template <class Stream>
void Session<Stream>::close_gracefully() {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    if (phase_ == Phase::closed || phase_ == Phase::shutting_down) return;
    phase_ = Phase::shutting_down;
    timed_out_ = false;
    beast::error_code ignored;
    lowest(stream_).cancel(ignored);  // an idle connection's pending read: nothing more is read
    ::SSL_set_shutdown(stream_.native_handle(), SSL_RECEIVED_SHUTDOWN);
    arm(Steady::now() + kShutdownBound);
    stream_.async_shutdown(
        [self = this->shared_from_this()](const beast::error_code&) { self->close(); });
  } else {
    close();
  }
}

template <class Stream>
std::string Session<Stream>::path() const {
  if (!parser_ || !parser_->is_header_done()) return "";
  const auto raw = parser_->get().target();
  const std::string_view target(raw.data(), raw.size());
  return url_decode(target.substr(0, target.find('?')), false);
}

}  // namespace

// ---- Listener::Impl --------------------------------------------------------------------------

Status Listener::Impl::open(const ListenerConfig& config) {
  auto hp = parse_host_port(config.address);
  if (!hp.ok()) return Status(Code::invalid_argument, "listener.address: " + hp.status().message());
  if (server_tls_) {
    tls::SslCtxPtr ctx = server_tls_->make_ssl_ctx();
    if (!ctx) return Status(Code::unavailable, "cannot set up the listener's TLS context");
    ssl_.emplace(ctx.release());  // the asio context owns it from here
  }
  const Status cannot(Code::unavailable, "cannot listen on " + config.address +
                                             " (address in use, not local, or not permitted)");
  boost::system::error_code ec;
  tcp::resolver resolver(ioc_);
  const auto found = resolver.resolve(hp->host, std::to_string(hp->port),
                                      tcp::resolver::numeric_service, ec);
  if (ec || found.empty()) return cannot;
  const tcp::endpoint endpoint = found.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return cannot;
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec || port_ == 0) return cannot;
  accept();
  return Status::success();
}

void Listener::Impl::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

// Caps are checked at accept: a refused connection costs one accept and one close (no
// handshake, no parse). An accept error (out of descriptors) is retried after a pause rather
// than in a busy loop.
void Listener::Impl::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (stopping_ || !acceptor_.is_open()) return;
  if (ec) {
    log_.warn("http.accept", ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(50));
    retry_timer_.async_wait([this](const boost::system::error_code& e) {
      if (!e && !stopping_) accept();
    });
    return;
  }
  boost::system::error_code peer_ec;
  const std::string peer = socket.remote_endpoint(peer_ec).address().to_string();
  if (peer_ec) {
    accept();
    return;
  }
  if (sessions_.size() >= static_cast<std::size_t>(config_.max_connections)) {
    refuse(socket, peer, "max_connections");
  } else if (per_peer_[peer] >= static_cast<std::size_t>(config_.max_connections_per_peer)) {
    refuse(socket, peer, "max_connections_per_peer");
  } else {
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::shared_ptr<SessionBase> s;
    if (ssl_) {
      s = std::make_shared<Session<TlsStream>>(*this, TlsStream(std::move(socket), *ssl_), peer);
    } else {
      s = std::make_shared<Session<tcp::socket>>(*this, std::move(socket), peer);
    }
    ++per_peer_[peer];
    sessions_.emplace(s.get(), s);
    s->start();
  }
  accept();
}

void Listener::Impl::refuse(tcp::socket& socket, const std::string& peer, const char* reason) {
  boost::system::error_code ignored;
  if (!ssl_) {
    // Plain HTTP: a best-effort 503 that never blocks the IO thread.
    static const std::string k503 =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Cache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 37\r\n\r\n"
        "{\"errors\":[\"too many connections\"]}\n";
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(k503), ignored);
  }
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  routes_.refused(reason);
  if (log_.enabled(LogLevel::debug)) {
    log_.debug("http.refused", "connection refused at accept",
               {{"remote", peer}, {"limit", std::string("listener.") + reason}});
  }
  if (per_peer_[peer] == 0) per_peer_.erase(peer);
}

void Listener::Impl::forget(SessionBase* s, const std::string& peer) {
  sessions_.erase(s);
  const auto it = per_peer_.find(peer);
  if (it != per_peer_.end() && --it->second == 0) per_peer_.erase(it);
}

void Listener::Impl::stop() {
  asio::post(ioc_, [this] {
    if (stopping_) return;
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    std::vector<std::shared_ptr<SessionBase>> live;
    for (auto& [raw, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) s->stop_if_idle();
  });
}

bool Listener::Impl::drain(Clock::SteadyTime deadline, const Clock& clock) {
  ps::MutexLock lock(mu_);
  // Steady waits in slices: the injected clock is real in the daemon; tests do not drain.
  while (in_flight_ != 0) {
    if (clock.steady_now() >= deadline) return false;
    idle_cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
  return true;
}

// ---- Listener --------------------------------------------------------------------------------

Result<std::unique_ptr<Listener>> Listener::create(const ListenerConfig& config,
                                                   std::shared_ptr<tls::ServerTls> tls,
                                                   Routes routes, Logger& log, const Clock& clock) {
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(config, std::move(tls), std::move(routes), log, clock);
    if (Status opened = impl->open(config); !opened.ok()) return opened;
  } catch (const std::exception& e) {
    return Status(Code::unavailable, std::string("cannot set up the listener: ") + e.what());
  }
  std::unique_ptr<Listener> l(new Listener(std::move(impl)));
  l->clock_ = &clock;
  return l;
}

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

int Listener::port() const { return impl_->port(); }
bool Listener::tls() const { return impl_->tls(); }
void Listener::run() { impl_->run(); }
void Listener::stop() { impl_->stop(); }
bool Listener::drain(Clock::SteadyTime deadline) { return impl_->drain(deadline, *clock_); }
std::size_t Listener::in_flight() const { return impl_->in_flight(); }

}  // namespace ps::sidecar::server
