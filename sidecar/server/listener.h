// The daemon's HTTP(S) listener: cpp-httplib's SSLServer made by tls::ServerTls (so a reload
// of the certificate, key or client CA applies to the next handshake), or a plain Server when
// listener.tls_disable is set (serve refuses that off loopback, see validate_serve_config).
//
// Routes:
//   POST /v1/webhooks/approval   ApprovalWebhook            (signature, no bearer token)
//   GET  /v1/sys/health          HealthChecker              (no auth)
//   GET  /metrics                MetricsRegistry            (no auth)
//   /v1/agents/{id}, /v1/eligible, /v1/promotions, /v1/sync, /v1/reconcile   OperatorApi
// Anything else: 404 {"errors": []} (Vault's shape).
//
// Limits, checked before a body is read: a request with Transfer-Encoding gets 411 (httplib
// 0.11.4 does not bound chunked bodies), a POST without Content-Length 411, a Content-Length
// far above listener.max_request_bytes 413; these answers close the connection (the unread
// body is never parsed). A Content-Length somewhat above the limit (up to 4x, at least 1 MiB)
// is read and discarded by httplib (payload_max_length) and answered 413 on a connection that
// stays usable. Socket reads and writes time out after listener.read_timeout_s; an idle
// kept-alive connection is closed after listener.idle_timeout_s (and after 100 requests).
//
// Shutdown: stop() closes the listening socket; requests already being handled finish and
// are answered (drain() waits for them). Thread-safe: stop(), drain(), port() from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "engine/base/mutex.h"
#include "engine/base/status.h"
#include "sidecar/config/config_serve.h"
#include "sidecar/config/log.h"
#include "sidecar/server/webhook.h"
#include "sidecar/server/health.h"
#include "sidecar/server/metrics.h"
#include "sidecar/server/operator_api.h"
#include "sidecar/server/serve_metrics.h"
#include "tls/tls.h"
#include "engine/base/clock.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace ps::sidecar::server {

struct Routes {
  ApprovalWebhook* webhook = nullptr;
  OperatorApi* api = nullptr;
  HealthChecker* health = nullptr;
  MetricsRegistry* registry = nullptr;
  ServeMetrics* metrics = nullptr;
  std::string version;
  bool metrics_auth = true;  // api.metrics_auth: /metrics wants the API's bearer token
};

class Listener {
 public:
  // Worker threads serving connections (a kept-alive connection holds one while open).
  static constexpr std::size_t kThreads = 32;

  // Builds the server and binds the address (port 0: any free port). `tls` null = plain HTTP.
  // unavailable when the address cannot be bound.
  static Result<std::unique_ptr<Listener>> create(const ListenerConfig& config,
                                                          std::shared_ptr<tls::ServerTls> tls,
                                                          Routes routes, Logger& log,
                                                          const Clock& clock);
  ~Listener();

  int port() const { return port_; }
  bool tls() const { return tls_ != nullptr; }
  // Serves until stop(). Returns when the listening socket is closed and httplib's worker
  // threads have finished (idle kept-alive connections can hold that up to idle_timeout_s).
  void run();
  void stop();
  // Waits until no request is being handled or `deadline` passes; true when drained.
  bool drain(Clock::SteadyTime deadline);
  std::size_t in_flight() const;

 private:
  Listener(ListenerConfig config, std::shared_ptr<tls::ServerTls> tls,
           std::unique_ptr<httplib::Server> server, Routes routes, Logger& log,
           const Clock& clock);
  void install_routes();  // limits, handlers, then add_routes()
  void add_routes();
  void webhook_route(const httplib::Request& req, httplib::Response& res);
  bool admit(const httplib::Request& req, httplib::Response& res);
  void refuse_and_close(const httplib::Request& req, httplib::Response& res, int status,
                        const std::string& message);
  std::string too_large_message() const;
  void finished(const httplib::Request& req, const httplib::Response& res);
  void api_route(const httplib::Request& req, httplib::Response& res, const std::string& route);

  const ListenerConfig config_;
  const std::shared_ptr<tls::ServerTls> tls_;
  const std::unique_ptr<httplib::Server> server_;
  const Routes routes_;
  Logger& log_;
  const Clock& clock_;
  int port_ = 0;

  mutable ps::Mutex mu_;
  ps::CondVar idle_cv_;
  std::set<const httplib::Request*> in_flight_ GUARDED_BY(mu_);
  // Refused with the body unread: the connection is closed once the answer is written.
  std::set<const httplib::Request*> close_after_answer_ GUARDED_BY(mu_);
};

}  // namespace ps::sidecar::server
