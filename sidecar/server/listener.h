// The daemon's HTTP(S) listener: an event-driven server on Boost.Asio + Beast. One IO thread
// (the caller of run()) accepts, handshakes, reads and writes every connection; the routes
// (listener_routes.h), which may touch the ledger, run on a small worker pool, so neither an
// idle kept-alive connection nor a slow client ever holds a thread a request needs. TLS comes
// from tls::ServerTls::make_ssl_ctx() (a reload of the certificate, key or client CA applies to
// the next handshake; client certificates are required when listener.tls_client_ca is set);
// plain HTTP when `tls` is null (serve refuses that off loopback, see validate_serve_config).
//
// Limits (ListenerConfig; every refusal below closes the connection after the answer):
//  - connections: at most max_connections in total and max_connections_per_peer per client
//    address; one over either is closed at accept (plain HTTP: a 503 first), never queued;
//  - deadlines: TLS handshake + request head within head_timeout_s of the first byte (of the
//    connection, or of the next request on a kept-alive one); the whole request (head and
//    body) within request_timeout_s; no read or write stalls longer than read_timeout_s; an
//    idle kept-alive connection is closed after idle_timeout_s (and after 100 requests). A
//    body that misses its deadline is answered 400; a head that misses it is just closed;
//  - head: request line + headers over max_header_bytes, or more than max_headers header
//    fields: 431 (at most max_header_bytes plus one read buffer of bytes is ever read);
//  - framing, checked before a body is read: Transfer-Encoding (any), more than one
//    Content-Length (equal values included), a Content-Length that is not plain digits: 400;
//    a POST without Content-Length: 411; a Content-Length over max_request_bytes: 413 (up to
//    4x the limit, at least 1 MiB, the body is read and dropped first, never stored).
//    Nothing after a refused request is ever parsed as another request.
// Closing: after an answer, and an idle kept-alive connection, with a TLS close_notify first
// (ours only, its write bounded by 1 s); a handshake or head that missed its deadline, a failed
// handshake, a read or write error: the socket is just closed.
// Closes at accept, by a deadline (not the idle one) and by a header cap are counted through
// RouteTable::refused (policy_sidecar_listener_refused_total{reason}).
//
// Shutdown: stop() closes the listening socket and every connection not in the middle of a
// request; requests already being read or handled finish, are answered (Connection: close)
// and their connections closed; run() then returns. drain() waits for them.
// Thread-safe: stop(), drain(), in_flight() and port() from any thread.
#pragma once

#include <cstddef>
#include <memory>

#include "engine/base/clock.h"
#include "engine/base/status.h"
#include "sidecar/config/config_serve.h"
#include "sidecar/config/log.h"
#include "sidecar/server/listener_routes.h"
#include "tls/tls.h"

namespace ps::sidecar::server {

class Listener {
 public:
  // Threads running the routes (the webhook, the operator API, health, metrics).
  static constexpr std::size_t kWorkers = 8;
  // A kept-alive connection is closed after this many requests.
  static constexpr unsigned kKeepAliveMaxCount = 100;

  // Builds the server and binds the address (port 0: any free port). `tls` null = plain HTTP.
  // unavailable when the address cannot be bound or the TLS context cannot be made.
  static Result<std::unique_ptr<Listener>> create(const ListenerConfig& config,
                                                  std::shared_ptr<tls::ServerTls> tls,
                                                  Routes routes, Logger& log, const Clock& clock);
  ~Listener();

  int port() const;
  bool tls() const;
  // Serves until stop(); returns once the listening socket and every connection are closed.
  void run();
  void stop();
  // Waits until no request is being read or handled, or `deadline` passes; true when drained.
  bool drain(Clock::SteadyTime deadline);
  std::size_t in_flight() const;

  class Impl;

 private:
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  const Clock* clock_ = nullptr;
};

}  // namespace ps::sidecar::server
