// The listener's routes, apart from the transport: the event-driven server in listener.cpp
// parses and frames a request, then hands it here (on a worker thread) and writes back what
// comes out. No Asio/Beast in this unit, so the routing is compiled and read on its own.
//
// Routes:
//   POST /v1/webhooks/approval   ApprovalWebhook            (signature, no bearer token)
//   GET  /v1/sys/health          health_answer()            (details only with the API token)
//   GET  /metrics                MetricsRegistry            (the API token unless metrics_auth false)
//   GET  /v1/agents/<any bytes>, /v1/eligible, /v1/promotions, /v1/sync, /v1/freeze;
//   POST /v1/reconcile, /v1/freeze, /v1/unfreeze             OperatorApi
// Anything else: 404 {"errors": []} (Vault's shape). Every answer has Cache-Control: no-store
// and a Content-Type; a 503 carries Retry-After when the handler gave one.
//
// Thread-safe: serve() and finished() run concurrently on the listener's worker threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/base/clock.h"
#include "sidecar/config/log.h"
#include "sidecar/server/health.h"
#include "sidecar/server/metrics.h"
#include "sidecar/server/operator_api.h"
#include "sidecar/server/serve_metrics.h"
#include "sidecar/server/webhook.h"

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

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A request the listener has read whole and found well framed.
struct ParsedRequest {
  std::string method;
  std::string target;  // as sent: path and query, still percent-encoded
  HeaderList headers;
  std::string body;
  std::string peer;  // the client's IP address as text
  // The first header of that name (case-insensitive); "" when absent.
  std::string header(std::string_view name) const;
};

struct RouteAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;  // besides Content-Type and Content-Length
};

// Percent-decoding as cpp-httplib did it: %XX becomes the byte (any value, NUL included),
// a malformed escape stays as it is; `plus_is_space` for query strings.
std::string url_decode(std::string_view in, bool plus_is_space);
// "a=1&b=x+y" -> {{"a","1"},{"b","x y"}} (keys and values decoded; a key without '=' has "").
std::multimap<std::string, std::string> parse_query(std::string_view query);
// The metrics label for a decoded path: webhook, health, metrics, agents, eligible,
// promotions, sync, reconcile, or other.
std::string route_label(std::string_view path);

class RouteTable {
 public:
  RouteTable(Routes routes, std::int64_t max_request_bytes, Logger& log, const Clock& clock);

  // The answer to a framed request (never throws: an exception from a handler is logged and
  // answered 500).
  RouteAnswer serve(const ParsedRequest& request) const;
  // Counts an answered request (api/webhook request counters) and logs it at debug level.
  // Also used for answers the listener makes itself (400, 413, 431).
  void finished(const std::string& method, std::string_view path, int status,
                const std::string& peer) const;
  // 413's message, naming listener.max_request_bytes.
  std::string too_large_message() const;
  // Counts a connection the listener closed on one of its limits (policy_sidecar_listener_
  // refused_total); `reason` is one of kListenerRefusalReasons (serve_metrics.h).
  void refused(const char* reason) const;

 private:
  RouteAnswer dispatch(const ParsedRequest& request, const std::string& path,
                       const ApiRequest& api_request) const;
  RouteAnswer webhook_route(const ParsedRequest& request) const;
  RouteAnswer metrics_route(const ApiRequest& api_request) const;
  RouteAnswer api_route(const ParsedRequest& request, const std::string& path,
                        const std::string& route, ApiRequest api_request) const;

  const Routes routes_;
  const std::int64_t max_request_bytes_;
  Logger& log_;
  const Clock& clock_;
};

// The JSON answer for a handler's HttpAnswer (Retry-After, Idempotent-Replayed,
// WWW-Authenticate on 401, Cache-Control: no-store).
RouteAnswer json_answer(const HttpAnswer& a);

}  // namespace ps::sidecar::server
