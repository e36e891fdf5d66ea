#include "sidecar/server/listener_routes.h"

#include <chrono>
#include <exception>
#include <strings.h>

namespace ps::sidecar::server {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

RouteAnswer not_found() {
  RouteAnswer a;
  a.status = 404;
  a.body = "{\"errors\":[]}";
  a.headers.push_back({"Cache-Control", "no-store"});
  return a;
}

}  // namespace

std::string ParsedRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return "";
}

std::string url_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::multimap<std::string, std::string> parse_query(std::string_view query) {
  std::multimap<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    out.emplace(url_decode(key, true), url_decode(value, true));
  }
  return out;
}

std::string route_label(std::string_view p) {
  if (p == "/v1/webhooks/approval") return "webhook";
  if (p == "/v1/sys/health") return "health";
  if (p == "/metrics") return "metrics";
  if (p.rfind("/v1/agents/", 0) == 0) return "agents";
  if (p == "/v1/eligible" || p == "/v1/promotions" || p == "/v1/sync" || p == "/v1/reconcile") {
    return std::string(p.substr(4));
  }
  return "other";
}

RouteAnswer json_answer(const HttpAnswer& a) {
  RouteAnswer r;
  r.status = a.status;
  r.body = a.body;
  if (a.retry_after_s) r.headers.push_back({"Retry-After", std::to_string(*a.retry_after_s)});
  if (a.replayed) r.headers.push_back({"Idempotent-Replayed", "true"});
  if (a.status == 401) r.headers.push_back({"WWW-Authenticate", "Bearer"});
  r.headers.push_back({"Cache-Control", "no-store"});
  return r;
}

RouteTable::RouteTable(Routes routes, std::int64_t max_request_bytes, Logger& log,
                       const Clock& clock)
    : routes_(std::move(routes)), max_request_bytes_(max_request_bytes), log_(log), clock_(clock) {}

std::string RouteTable::too_large_message() const {
  return "request body larger than " + std::to_string(max_request_bytes_) +
         " bytes (listener.max_request_bytes)";
}

RouteAnswer RouteTable::serve(const ParsedRequest& request) const {
  const std::string_view target = request.target;
  const auto q = target.find('?');
  const std::string path = url_decode(target.substr(0, q), false);
  ApiRequest api_request;
  if (q != std::string_view::npos) api_request.params = parse_query(target.substr(q + 1));
  api_request.authorization = request.header("Authorization");
  try {
    return dispatch(request, path, api_request);
  } catch (const std::exception& e) {
    log_.error("http.exception", e.what(), {{"path", route_label(path)}});
  } catch (...) {
    log_.error("http.exception", "unknown exception", {{"path", route_label(path)}});
  }
  return json_answer({500, errors_body("internal error"), {}, false});
}

RouteAnswer RouteTable::dispatch(const ParsedRequest& request, const std::string& path,
                                 const ApiRequest& api_request) const {
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (path == "/v1/webhooks/approval") return post ? webhook_route(request) : not_found();
  if (path == "/v1/sys/health") {
    if (!get) return not_found();
    return json_answer(health_answer(*routes_.health, api_request, routes_.api, routes_.version));
  }
  if (path == "/metrics") return get ? metrics_route(api_request) : not_found();
  // Every byte after the prefix (newlines included) reaches the id validation (400), not a 404.
  if (path.size() > 11 && path.rfind("/v1/agents/", 0) == 0) {
    return get ? api_route(request, path, "agents", api_request) : not_found();
  }
  for (const char* route : {"eligible", "promotions", "sync"}) {
    if (path == std::string("/v1/") + route) {
      return get ? api_route(request, path, route, api_request) : not_found();
    }
  }
  for (const char* route : {"reconcile", "freeze", "unfreeze"}) {
    if (path != std::string("/v1/") + route) continue;
    if (post || (get && std::string_view(route) == "freeze")) {
      return api_route(request, path, route, api_request);
    }
    return not_found();
  }
  return not_found();
}

RouteAnswer RouteTable::metrics_route(const ApiRequest& api_request) const {
  if (routes_.metrics_auth) {
    if (!routes_.api) {
      return json_answer({404, errors_body("/metrics needs the API token (api.token_file), or "
                                           "api.metrics_auth false"), {}, false});
    }
    if (auto refused = routes_.api->authorize(api_request)) return json_answer(*refused);
  }
  RouteAnswer a;
  a.content_type = "text/plain; version=0.0.4; charset=utf-8";
  a.body = routes_.registry->render();
  a.headers.push_back({"Cache-Control", "no-store"});
  return a;
}

RouteAnswer RouteTable::api_route(const ParsedRequest& request, const std::string& path,
                                  const std::string& route, ApiRequest r) const {
  if (!routes_.api) return json_answer({404, errors_body("the operator API is disabled"), {}, false});
  if (auto refused = routes_.api->authorize(r)) return json_answer(*refused);
  OperatorApi& api = *routes_.api;
  if (route == "eligible") return json_answer(api.eligible(r));
  if (route == "promotions") return json_answer(api.promotions(r));
  if (route == "sync") return json_answer(api.sync(r));
  if (route == "reconcile") return json_answer(api.reconcile(r));
  if (route == "freeze") {
    r.body = request.body;
    return json_answer(request.method == "GET" ? api.freeze_state(r) : api.freeze(r));
  }
  if (route == "unfreeze") {
    r.body = request.body;
    return json_answer(api.unfreeze(r));
  }
  // agents: the path is decoded; the API validates what came out.
  return json_answer(api.agent(r, std::string_view(path).substr(11)));
}

RouteAnswer RouteTable::webhook_route(const ParsedRequest& req) const {
  const auto start = clock_.steady_now();
  HttpAnswer a;
  if (req.body.size() > static_cast<std::size_t>(max_request_bytes_)) {
    a = {413, errors_body(too_large_message()), {}, false};  // the listener's backstop
  } else if (!routes_.webhook) {
    a = {404, errors_body("the approval webhook is disabled"), {}, false};
  } else {
    const std::string id = req.header("webhook-id");
    const std::string ts = req.header("webhook-timestamp");
    const std::string sig = req.header("webhook-signature");
    const std::string ct = req.header("Content-Type");
    a = routes_.webhook->handle({id, ts, sig, ct, req.body, req.peer});
  }
  if (routes_.metrics) {
    const char* outcome = a.replayed ? "replayed" : a.status == 200 ? "decided" : "refused";
    routes_.metrics->webhook_duration.observe(
        {outcome}, std::chrono::duration<double>(clock_.steady_now() - start).count());
  }
  return json_answer(a);
}

void RouteTable::refused(const char* reason) const {
  if (routes_.metrics) routes_.metrics->listener_refused.inc({reason});
}

void RouteTable::finished(const std::string& method, std::string_view path, int status,
                          const std::string& peer) const {
  const std::string route = route_label(path);
  if (routes_.metrics) {
    if (route == "webhook") {
      routes_.metrics->webhook_requests.inc({std::to_string(status)});
    } else {
      routes_.metrics->api_requests.inc({route, std::to_string(status)});
    }
  }
  if (log_.enabled(LogLevel::debug)) {
    log_.debug("http.request", method + " " + route, {{"status", status}, {"remote", peer}});
  }
}

}  // namespace ps::sidecar::server
