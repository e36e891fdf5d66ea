#include "sidecar/server/listener.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <httplib.h>

#include <cmath>
#include <cstdlib>

#include "engine/base/mutex.h"

namespace ps::sidecar::server {
namespace {


constexpr const char* kJson = "application/json";
constexpr std::size_t kKeepAliveMaxCount = 100;

void send(httplib::Response& res, const HttpAnswer& a) {
  res.status = a.status;
  if (a.retry_after_s) res.set_header("Retry-After", std::to_string(*a.retry_after_s));
  if (a.replayed) res.set_header("Idempotent-Replayed", "true");
  if (a.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  res.set_header("Cache-Control", "no-store");
  res.set_content(a.body, kJson);
}

// httplib 0.11.4 keeps a connection open after any answer unless the *request* asked to
// close it, and has no handle on the connection's socket. After refusing a request whose body
// is left unread, those bytes must never be parsed as a next request (request smuggling), so
// the refusal shuts the reading side of the connection's socket, found by its peer address
// among this process's sockets: the answer is still written, the next read sees EOF, and
// httplib closes the connection.
void stop_reading(const std::string& peer_addr, int peer_port, int local_port) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t plen = sizeof peer, llen = sizeof local;
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &plen) != 0) continue;
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &llen) != 0) continue;
    char text[INET6_ADDRSTRLEN] = {};
    int pport = 0, lport = 0;
    if (peer.ss_family == AF_INET) {
      const auto* p4 = reinterpret_cast<const sockaddr_in*>(&peer);
      ::inet_ntop(AF_INET, &p4->sin_addr, text, sizeof text);
      pport = ntohs(p4->sin_port);
      lport = ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      const auto* p6 = reinterpret_cast<const sockaddr_in6*>(&peer);
      ::inet_ntop(AF_INET6, &p6->sin6_addr, text, sizeof text);
      pport = ntohs(p6->sin6_port);
      lport = ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port);
    } else {
      continue;
    }
    if (pport == peer_port && lport == local_port && peer_addr == text) {
      ::shutdown(static_cast<int>(fd), SHUT_RD);
      break;
    }
  }
  ::closedir(dir);
}

std::string route_of(const httplib::Request& req) {
  const std::string& p = req.path;
  if (p == "/v1/webhooks/approval") return "webhook";
  if (p == "/v1/sys/health") return "health";
  if (p == "/metrics") return "metrics";
  if (p.rfind("/v1/agents/", 0) == 0) return "agents";
  if (p == "/v1/eligible" || p == "/v1/promotions" || p == "/v1/sync" || p == "/v1/reconcile") {
    return p.substr(4);
  }
  return "other";
}

// httplib takes seconds and microseconds.
std::pair<time_t, time_t> split_seconds(double s) {
  const double whole = std::floor(s);
  return {static_cast<time_t>(whole), static_cast<time_t>((s - whole) * 1e6)};
}

}  // namespace

Result<std::unique_ptr<Listener>> Listener::create(const ListenerConfig& config,
                                                           std::shared_ptr<tls::ServerTls> tls,
                                                           Routes routes, Logger& log,
                                                           const Clock& clock) {
  auto hp = parse_host_port(config.address);
  if (!hp.ok()) return Status(Code::invalid_argument, "listener.address: " + hp.status().message());
  std::unique_ptr<httplib::Server> server;
  if (tls) {
    server = tls->make_httplib_server();
  } else {
    server = std::make_unique<httplib::Server>();
  }
  if (!server->is_valid()) {
    return Status(Code::unavailable, "cannot set up the listener's TLS context");
  }
  std::unique_ptr<Listener> l(
      new Listener(config, std::move(tls), std::move(server), std::move(routes), log, clock));
  l->install_routes();
  int port = hp->port;
  if (port == 0) {
    port = l->server_->bind_to_any_port(hp->host);
    if (port < 0) port = 0;
  } else if (!l->server_->bind_to_port(hp->host, port)) {
    port = 0;
  }
  if (port == 0) {
    return Status(Code::unavailable, "cannot listen on " + config.address +
                                         " (address in use, not local, or not permitted)");
  }
  l->port_ = port;
  return l;
}

Listener::Listener(ListenerConfig config, std::shared_ptr<tls::ServerTls> tls,
                   std::unique_ptr<httplib::Server> server, Routes routes, Logger& log,
                   const Clock& clock)
    : config_(std::move(config)),
      tls_(std::move(tls)),
      server_(std::move(server)),
      routes_(std::move(routes)),
      log_(log),
      clock_(clock) {}

Listener::~Listener() = default;

void Listener::run() { server_->listen_after_bind(); }

void Listener::stop() { server_->stop(); }

std::size_t Listener::in_flight() const {
  ps::MutexLock lock(mu_);
  return in_flight_.size();
}

bool Listener::drain(Clock::SteadyTime deadline) {
  ps::MutexLock lock(mu_);
  // Steady waits in slices: the injected clock is real in the daemon; tests do not drain.
  while (!in_flight_.empty()) {
    if (clock_.steady_now() >= deadline) return false;
    idle_cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
  return true;
}

void Listener::refuse_and_close(const httplib::Request& req, httplib::Response& res, int status,
                                const std::string& message) {
  res.status = status;
  res.set_header("Connection", "close");
  res.set_content(errors_body(message), kJson);
  // Not now: httplib checks that the peer is alive (a peek read) before writing the answer.
  ps::MutexLock lock(mu_);
  close_after_answer_.insert(&req);
}

bool Listener::admit(const httplib::Request& req, httplib::Response& res) {
  {
    ps::MutexLock lock(mu_);
    in_flight_.insert(&req);
  }
  if (req.has_header("Transfer-Encoding")) {
    refuse_and_close(req, res, 411, "a Content-Length is required (chunked request bodies are not accepted)");
    return false;
  }
  const bool has_length = req.has_header("Content-Length");
  if (req.method == "POST" && !has_length) {
    refuse_and_close(req, res, 411, "a Content-Length is required");
    return false;
  }
  if (has_length) {
    const std::string v = req.get_header_value("Content-Length");
    bool digits = !v.empty() && v.size() <= 18;
    for (char c : v) digits = digits && c >= '0' && c <= '9';
    if (!digits) {
      refuse_and_close(req, res, 400, "invalid Content-Length");
      return false;
    }
    // Slightly too large: httplib reads and discards the body (payload_max_length) and answers
    // 413, so the connection stays usable. Far too large: refuse without reading it.
    const long long length = std::stoll(v);
    const long long read_and_discard_limit =
        std::max<long long>(config_.max_request_bytes * 4, 1 << 20);
    if (length > read_and_discard_limit) {
      refuse_and_close(req, res, 413, too_large_message());
      return false;
    }
  }
  return true;
}

std::string Listener::too_large_message() const {
  return "request body larger than " + std::to_string(config_.max_request_bytes) +
         " bytes (listener.max_request_bytes)";
}

void Listener::finished(const httplib::Request& req, const httplib::Response& res) {
  bool close = false;
  {
    ps::MutexLock lock(mu_);
    in_flight_.erase(&req);
    close = close_after_answer_.erase(&req) > 0;
  }
  // A body that was not read whole (refused early, too large, or the client stalled past the
  // read timeout) may still be arriving: never parse its rest as a request.
  if (!close && req.has_header("Content-Length")) {
    const std::string v = req.get_header_value("Content-Length");
    close = v.size() > 18 || req.body.size() != std::strtoull(v.c_str(), nullptr, 10);
  }
  if (close) stop_reading(req.remote_addr, req.remote_port, port_);
  idle_cv_.notify_all();
  const std::string route = route_of(req);
  if (route == "webhook") {
    if (routes_.metrics) routes_.metrics->webhook_requests.inc({std::to_string(res.status)});
  } else if (routes_.metrics) {
    routes_.metrics->api_requests.inc({route, std::to_string(res.status)});
  }
  if (log_.enabled(LogLevel::debug)) {
    log_.debug("http.request", req.method + " " + route,
               {{"status", res.status}, {"remote", req.remote_addr}});
  }
}

void Listener::api_route(const httplib::Request& req, httplib::Response& res,
                         const std::string& route) {
  ApiRequest r;
  r.params = {req.params.begin(), req.params.end()};
  r.authorization = req.get_header_value("Authorization");
  if (!routes_.api) {
    send(res, {404, errors_body("the operator API is disabled"), {}, false});
    return;
  }
  if (auto refused = routes_.api->authorize(r)) {
    send(res, *refused);
    return;
  }
  if (route == "eligible") return send(res, routes_.api->eligible(r));
  if (route == "promotions") return send(res, routes_.api->promotions(r));
  if (route == "sync") return send(res, routes_.api->sync(r));
  if (route == "reconcile") return send(res, routes_.api->reconcile(r));
  if (route == "freeze") {
    r.body = req.body;
    return send(res, req.method == "GET" ? routes_.api->freeze_state(r) : routes_.api->freeze(r));
  }
  if (route == "unfreeze") {
    r.body = req.body;
    return send(res, routes_.api->unfreeze(r));
  }
  // agents: httplib has URL-decoded the path; the API validates what came out.
  return send(res, routes_.api->agent(r, std::string_view(req.path).substr(11)));
}

void Listener::install_routes() {
  httplib::Server& s = *server_;
  s.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  const auto [read_s, read_us] = split_seconds(config_.read_timeout_s);
  s.set_read_timeout(read_s, read_us);
  s.set_write_timeout(read_s, read_us);
  s.set_keep_alive_timeout(static_cast<time_t>(std::ceil(config_.idle_timeout_s)));
  s.set_keep_alive_max_count(kKeepAliveMaxCount);
  s.set_payload_max_length(static_cast<std::size_t>(config_.max_request_bytes));
  s.set_tcp_nodelay(true);

  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return admit(req, res) ? httplib::Server::HandlerResponse::Unhandled
                           : httplib::Server::HandlerResponse::Handled;
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) { finished(req, res); });
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_.error("http.exception", what, {{"path", route_of(req)}});
    send(res, {500, errors_body("internal error"), {}, false});
  });
  // Answers httplib makes itself (400 unparsable, 404 no route, 413 via payload_max_length)
  // get a JSON body too.
  s.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      res.set_content("{\"errors\":[]}", kJson);
    } else {
      const std::string what = res.status == 413   ? too_large_message()
                               : res.status == 400 ? "malformed request"
                                                   : "request failed";
      res.set_content(errors_body(what), kJson);
    }
  });

  add_routes();
}

void Listener::add_routes() {
  httplib::Server& s = *server_;
  s.Post("/v1/webhooks/approval", [this](const httplib::Request& req, httplib::Response& res) {
    webhook_route(req, res);
  });
  s.Get("/v1/sys/health", [this](const httplib::Request& req, httplib::Response& res) {
    ApiRequest r;
    r.params = {req.params.begin(), req.params.end()};
    r.authorization = req.get_header_value("Authorization");
    send(res, health_answer(*routes_.health, r, routes_.api, routes_.version));
  });
  s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (routes_.metrics_auth) {
      ApiRequest r;
      r.authorization = req.get_header_value("Authorization");
      if (!routes_.api) {
        return send(res, {404, errors_body("/metrics needs the API token (api.token_file), or "
                                           "api.metrics_auth false"), {}, false});
      }
      if (auto refused = routes_.api->authorize(r)) return send(res, *refused);
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(routes_.registry->render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // [\s\S]: every byte, newlines included, reaches the id validation (400), not a 404.
  s.Get(R"(/v1/agents/[\s\S]+)", [this](const httplib::Request& req, httplib::Response& res) {
    api_route(req, res, "agents");
  });
  for (const char* route : {"eligible", "promotions", "sync"}) {
    s.Get(std::string("/v1/") + route, [this, route](const httplib::Request& req, httplib::Response& res) {
      api_route(req, res, route);
    });
  }
  for (const char* route : {"reconcile", "freeze", "unfreeze"}) {
    s.Post(std::string("/v1/") + route, [this, route](const httplib::Request& req, httplib::Response& res) {
      api_route(req, res, route);
    });
  }
  s.Get("/v1/freeze", [this](const httplib::Request& req, httplib::Response& res) {
    api_route(req, res, "freeze");
  });
}

void Listener::webhook_route(const httplib::Request& req, httplib::Response& res) {
  const auto start = clock_.steady_now();
  HttpAnswer a;
  if (req.body.size() > static_cast<std::size_t>(config_.max_request_bytes)) {
    a = {413, errors_body(too_large_message()), {}, false};  // payload_max_length's backstop
  } else if (!routes_.webhook) {
    a = {404, errors_body("the approval webhook is disabled"), {}, false};
  } else {
    const std::string id = req.get_header_value("webhook-id");
    const std::string ts = req.get_header_value("webhook-timestamp");
    const std::string sig = req.get_header_value("webhook-signature");
    const std::string ct = req.get_header_value("Content-Type");
    a = routes_.webhook->handle({id, ts, sig, ct, req.body, req.remote_addr});
  }
  send(res, a);
  if (routes_.metrics) {
    const char* outcome = a.replayed ? "replayed" : a.status == 200 ? "decided" : "refused";
    routes_.metrics->webhook_duration.observe(
        {outcome}, std::chrono::duration<double>(clock_.steady_now() - start).count());
  }
}

}  // namespace ps::sidecar::server
