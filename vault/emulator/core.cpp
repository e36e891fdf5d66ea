// The request pipeline, in Vault's order (http/handler.go, http/logical.go,
// vault/request_handling.go): generic headers -> sys/health|leader|seal-status answered
// locally -> sealed -> standby -> request building (verb, body, list) -> routing and
// existence check -> token and ACL (CheckToken) -> backend -> response translation.
#include <algorithm>

#include <cctype>

#include "engine/base/mutex.h"

#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string form_decode(std::string_view s) {
  std::string plus;
  for (char c : s) plus.push_back(c == '+' ? ' ' : c);
  auto d = percent_decode(plus);
  return d ? *d : plus;
}

// url.Values with parseQuery's rule: one value -> string, several -> array.
json parse_query(std::string_view query) {
  json out = json::object();
  if (query.empty()) return out;
  for (const auto& pair : split(query, '&')) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string k = form_decode(pair.substr(0, eq));
    std::string v = eq == std::string::npos ? "" : form_decode(pair.substr(eq + 1));
    if (k == "help") continue;
    if (!out.contains(k)) {
      out[k] = v;
    } else if (out[k].is_array()) {
      out[k].push_back(v);
    } else {
      out[k] = json::array({out[k], v});
    }
  }
  return out;
}

std::string first_query_value(std::string_view query, std::string_view key) {
  for (const auto& pair : split(query, '&')) {
    auto eq = pair.find('=');
    if (form_decode(pair.substr(0, eq)) == key) {
      return eq == std::string::npos ? "" : form_decode(pair.substr(eq + 1));
    }
  }
  return "";
}

const char* go_json_type(const json& j) {
  if (j.is_array()) return "array";
  if (j.is_string()) return "string";
  if (j.is_boolean()) return "bool";
  if (j.is_number()) return "number";
  return "null";
}

}  // namespace

// ----------------------------------------------------------------------------------------
// Core

std::shared_ptr<const Acl> Emulator::Core::acl_for(const std::vector<std::string>& policies) const {
  std::string key = join(policies, ",");
  {
    ps::MutexLock lock(acl_mu);
    if (auto it = acl_cache.find(key); it != acl_cache.end()) return it->second;
  }
  bool root = std::find(policies.begin(), policies.end(), "root") != policies.end();
  std::vector<const Policy*> ps;
  for (const auto& name : policies) {
    auto it = state.policies.find(name);
    ps.push_back(it == state.policies.end() ? nullptr : &it->second);
  }
  auto acl = Acl::build(ps, root);
  ps::MutexLock lock(acl_mu);
  acl_cache[key] = acl;
  return acl;
}

void Emulator::Core::policies_changed() {
  ps::MutexLock lock(acl_mu);
  acl_cache.clear();
}

void Emulator::Core::count(int status) {
  ps::MutexLock lock(admin_mu);
  ++stats.requests;
  ++stats.by_status[status];
}

Outcome Emulator::Core::dispatch(const HttpRequest& req) {
  if (starts_with(req.path, "/v1/")) {
    ps::MutexLock lock(admin_mu);
    std::string vpath = req.path.substr(4);
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      bool path_ok = it->match.empty() ||
                     (it->match[0] == '/' ? starts_with(req.path, it->match)
                                          : starts_with(vpath, it->match));
      bool method_ok = it->method.empty() || iequals(it->method, req.method);
      if (!path_ok || !method_ok) continue;
      Fault f = *it;
      if (--it->count <= 0) faults.erase(it);
      Outcome out;
      if (f.kind == "drop") {
        ++stats.dropped;
        out.kind = Outcome::Kind::drop;
        return out;
      }
      if (f.kind == "hang") {
        out.kind = Outcome::Kind::hang;
        out.hang = std::chrono::milliseconds{f.hang_ms};
        return out;
      }
      std::vector<std::string> errors;
      if (f.errors) {
        errors = *f.errors;
      } else if (f.status == 429) {
        errors = {"request path " + safe_dump(json(vpath)) + ": rate limit quota exceeded"};
      }
      out.response = error_response(f.status, errors);
      if (f.retry_after) out.response.set_header("Retry-After", std::to_string(*f.retry_after));
      if (f.status == 429 && rate_limit_headers) {
        std::int64_t reset = f.retry_after.value_or(1);
        out.response.set_header("X-RateLimit-Limit", "1");
        out.response.set_header("X-RateLimit-Remaining", "0");
        out.response.set_header("X-RateLimit-Reset", std::to_string(reset));
      }
      out.response.set_header("Cache-Control", "no-store");
      ++stats.requests;
      ++stats.by_status[f.status];
      return out;
    }
    if (auto delayed = latency_outcome(req.method, vpath)) return *delayed;
  }
  Outcome out;
  out.response = handle(req);
  return out;
}

// The latency model's wait for a /v1 request (REQUIRES(admin_mu) in core.h). Paths Vault answers from
// memory on the node itself (health, leader, seal status, init) take none.
std::optional<Outcome> Emulator::Core::latency_outcome(const std::string& method,
                                                       const std::string& vpath) {
  if (!latency.any()) return std::nullopt;
  if (vpath == "sys/health" || vpath == "sys/leader" || vpath == "sys/seal-status" ||
      vpath == "sys/init") {
    return std::nullopt;
  }
  const bool write = !(method == "GET" || method == "LIST" || method == "HEAD");
  std::mt19937_64* rng = &latency_rng;  // the lambda runs inside latency_for, under admin_mu
  const auto wait = latency_for(latency, write, [rng](std::int64_t n) {
    return std::uniform_int_distribution<std::int64_t>(0, n)(*rng);
  });
  if (wait.count() <= 0) return std::nullopt;
  Outcome out;
  out.kind = Outcome::Kind::delay;
  out.hang = wait;
  out.commit = write && latency.serialize_writes;
  return out;
}

HttpResponse Emulator::Core::handle(const HttpRequest& req) {
  if (starts_with(req.path, "/_emulator/") || req.path == "/_emulator") return handle_admin(req);
  HttpResponse resp = handle_v1(req);
  if (starts_with(req.path, "/v1/")) {
    resp.set_header("Cache-Control", "no-store");
    if (const auto* ns = req.header("X-Vault-Namespace")) resp.set_header("X-Vault-Namespace", *ns);
    count(resp.status);
  }
  return resp;
}

HttpResponse Emulator::Core::handle_v1(const HttpRequest& req) {
  if (!starts_with(req.path, "/v1/")) {
    HttpResponse r;
    r.status = 404;
    r.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
    r.body = "404 page not found\n";
    return r;
  }
  if (options.require_request_header) {
    const std::string* h = req.header("X-Vault-Request");
    if (h == nullptr || *h != "true") {
      return error_response(412, {"missing \"X-Vault-Request\" header"});
    }
  }
  auto decoded = percent_decode(req.path);
  if (!decoded) {
    HttpResponse r;
    r.status = 400;
    r.body = "400 Bad Request";
    return r;
  }
  std::string cleaned = clean_url_path(*decoded);
  if (cleaned != *decoded) {
    // net/http's ServeMux answers unclean paths ("..", "//") with a redirect.
    HttpResponse r;
    r.status = 301;
    std::string location = cleaned + (req.query.empty() ? "" : "?" + req.query);
    r.set_header("Location", location);
    r.set_header("Content-Type", "text/html; charset=utf-8");
    r.body = "<a href=\"" + location + "\">Moved Permanently</a>.\n\n";
    return r;
  }
  std::string vpath = decoded->substr(4);
  if (vpath == "sys/health") return sys_health(req, req.method);
  if (vpath == "sys/leader") return sys_leader(req);
  if (vpath == "sys/seal-status") return sys_seal_status(req);
  if (vpath == "sys/init") return sys_init(req);

  bool exclusive = !(req.method == "GET" || req.method == "LIST" || req.method == "HEAD");
  while (true) {
    std::optional<HttpResponse> r;
    if (exclusive) {
      ps::WriterLock lock(mu);
      r = handle_logical(req, vpath, true);
      changes.fetch_add(1, std::memory_order_relaxed);
    } else {
      ps::ReaderLock lock(mu);
      r = handle_logical(req, vpath, false);
    }
    if (r) return std::move(*r);
    exclusive = true;  // the token's use count must be decremented
  }
}

namespace {

// A sealed node's 503, a standby node's 307 or 503, or nullopt when this node serves requests.
std::optional<HttpResponse> sealed_or_standby(Emulator::Core& core, const HttpRequest& req)
    REQUIRES_SHARED(core.mu) {
  if (!core.state.initialized || core.state.sealed) return error_response(503, {"Vault is sealed"});
  ps::MutexLock lock(core.admin_mu);
  if (core.standby_mode == "redirect") {
    HttpResponse r;
    r.status = 307;
    r.set_header("Location", core.leader_address + req.path + (req.query.empty() ? "" : "?" + req.query));
    return r;
  }
  if (core.standby_mode == "no_leader") return error_response(503, {"no active Vault instance found"});
  return std::nullopt;
}

// Merges a write's body (form-encoded, or a JSON object) into `data`; the 400 answer when it
// does not parse.
std::optional<HttpResponse> merge_body(const HttpRequest& req, json& data) {
  const std::string* ctype = req.header("Content-Type");
  std::string body = trim(req.body);
  if (body.empty()) return std::nullopt;
  bool form = ctype && starts_with(to_lower(*ctype), "application/x-www-form-urlencoded") &&
              body[0] != '{' && body[0] != '[';
  if (form) {
    json form_data = parse_query(body);
    for (auto& [k, v] : form_data.items()) data[k] = v;
    return std::nullopt;
  }
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    try {
      json ignored = json::parse(body);
      (void)ignored;
    } catch (const json::exception& e) {
      // parse_error, or out_of_range for a number beyond a double ("1e999"), which used to
      // escape and abort the emulator.
      std::string what = e.what();
      if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
      return error_response(400, {"failed to parse JSON input: " + what});
    }
  }
  if (!parsed.is_object()) {
    return error_response(400, {std::string("failed to parse JSON input: json: cannot unmarshal ") +
                                go_json_type(parsed) +
                                " into Go value of type map[string]interface {}"});
  }
  for (auto& [k, v] : parsed.items()) data[k] = v;
  return std::nullopt;
}

// Sets call.op and call.data from the verb, the query and the body (buildLogicalRequest);
// the error answer for a malformed request or an unknown verb.
std::optional<HttpResponse> read_operation(const HttpRequest& req, const std::string& vpath,
                                           std::size_t max_request_size, Call& call) {
  const std::string& m = req.method;
  if (m == "GET") {
    call.op = Operation::read;
    std::string list = first_query_value(req.query, "list");
    if (!list.empty()) {
      auto b = parse_go_bool(list);
      if (!b) return error_response(400, {});
      if (*b) call.op = Operation::list;
    }
    if (call.op == Operation::read) call.data = parse_query(req.query);
    return std::nullopt;
  }
  if (m == "LIST") {
    call.op = Operation::list;
    call.data = parse_query(req.query);
    return std::nullopt;
  }
  if (m != "POST" && m != "PUT" && m != "PATCH" && m != "DELETE") return error_response(405, {});
  call.op = m == "DELETE" ? Operation::del : m == "PATCH" ? Operation::patch : Operation::update;
  if (call.op != Operation::del && ends_with(vpath, "/")) {
    return error_response(400, {"cannot write to a path ending in '/'"});
  }
  if (req.body.size() > max_request_size) {
    return error_response(413, {"failed to parse JSON input: http: request body too large"});
  }
  if (call.op == Operation::del) call.data = parse_query(req.query);
  return merge_body(req, call.data);
}

// CheckToken, first half: the caller's valid token (X-Vault-Token, else a Bearer
// Authorization header) into *token, or the 403 answer.
std::optional<HttpResponse> authenticate(Emulator::Core& core, const HttpRequest& req, Token** token)
    REQUIRES_SHARED(core.mu) {
  std::string token_id;
  if (const auto* t = req.header("X-Vault-Token")) {
    token_id = *t;
  } else if (const auto* a = req.header("Authorization")) {
    if (a->size() > 7 && iequals(a->substr(0, 7), "Bearer ")) token_id = trim(a->substr(7));
  }
  if (token_id.empty()) return error_response(403, {multierror("permission denied")});
  Token* tok = core.find_token(token_id);
  if (tok == nullptr || !core.token_valid(*tok) ||
      (!tok->bound_cidrs.empty() && !ip_in_any_cidr(req.remote_addr, tok->bound_cidrs))) {
    return error_response(403, {multierror(std::vector<std::string>{"permission denied", "invalid token"})});
  }
  *token = tok;
  return std::nullopt;
}

// CheckToken, second half: the existence check (create vs update) and the ACL for `tok`,
// which then counts a use; the 403 answer when the ACL denies the request.
std::optional<HttpResponse> authorize(Emulator::Core& core, Call& call, Token& tok,
                                      const Route* rt, const std::string& vpath)
    REQUIRES_SHARED(core.mu) {
  call.token = &tok;
  call.is_root = std::find(tok.policies.begin(), tok.policies.end(), "root") != tok.policies.end();

  if (rt && (call.op == Operation::update) ) {
    if (rt->exists) call.op = (core.*(rt->exists))(call) ? Operation::update : Operation::create;
  }
  auto acl = core.acl_for(tok.policies);
  AclDecision d = acl->check(call.op, vpath, call.data);
  call.sudo = d.sudo;
  if (!d.allowed || (Emulator::Core::root_protected(vpath) && !d.sudo)) {
    return error_response(403, {multierror("permission denied")});
  }
  if (tok.num_uses > 0) {
    if (--tok.num_uses == 0) call.revoke_caller_after = true;
  }
  return std::nullopt;
}

// The backend's answer: the route's handler for call.op with the validated fields, or the
// routing / unsupported-operation / field-validation error.
VaultResponse run_backend(Emulator::Core& core, Call& call, const Match& match,
                          const std::string& vpath) {
  if (match.kind == Match::Kind::no_handler) {
    return VaultResponse::bad("no handler for route " + safe_dump(json(vpath)) + ". route entry not found.", 404);
  }
  if (match.kind == Match::Kind::unsupported_path) return VaultResponse::error(404, "unsupported path");
  const Route* rt = match.route;
  Handler h = nullptr;
  switch (call.op) {
    case Operation::read: h = rt->read; break;
    case Operation::list: h = rt->list; break;
    case Operation::create:
    case Operation::update: h = rt->write; break;
    case Operation::del: h = rt->del; break;
    case Operation::patch: h = nullptr; break;
  }
  if (h == nullptr) return VaultResponse::error(405, "unsupported operation");
  auto fields = Fields::parse(call.data, rt->fields);
  if (!fields.ok()) return VaultResponse::bad(fields.status().message());
  call.fields = std::move(*fields);
  return (core.*h)(call);
}

}  // namespace

std::optional<HttpResponse> Emulator::Core::handle_logical(const HttpRequest& req,
                                                           const std::string& raw_vpath,
                                                           bool exclusive) {
  if (auto unavailable = sealed_or_standby(*this, req)) return unavailable;

  Call call{req, Operation::read, {}, json::object(), {}, nullptr, false, false, {}, false, false};
  call.exclusive = exclusive;
  std::string vpath = raw_vpath;
  if (auto malformed = read_operation(req, vpath, options.max_request_size, call)) return malformed;
  if (call.op == Operation::list && !ends_with(vpath, "/")) vpath += "/";
  call.path = vpath;

  Match match = route(vpath);
  call.args = match.args;
  const Route* rt = match.kind == Match::Kind::route ? match.route : nullptr;

  // CheckToken: the token first, then the ACL.
  if (rt == nullptr || !rt->unauthenticated) {
    Token* tok = nullptr;
    if (auto denied = authenticate(*this, req, &tok)) return denied;
    if (tok->num_uses > 0 && !exclusive) return std::nullopt;  // retry holding the writer lock
    if (auto denied = authorize(*this, call, *tok, rt, vpath)) return denied;
  }

  const std::string caller_id = call.token ? call.token->id : std::string();
  VaultResponse result = run_backend(*this, call, match, vpath);
  // By id: the handler may have revoked (erased) the caller's token already.
  if (call.revoke_caller_after && !caller_id.empty()) revoke_token_tree(caller_id);
  return to_http(call, rt, std::move(result));
}

HttpResponse Emulator::Core::to_http(const Call& call, const Route* route, VaultResponse result) {
  switch (result.kind) {
    case VaultResponse::Kind::nil:
      if (call.op == Operation::read || call.op == Operation::list) return error_response(404, {});
      return HttpResponse{204, {}, ""};
    case VaultResponse::Kind::error_response:
      return error_response(result.status ? result.status : 400, result.messages);
    case VaultResponse::Kind::error:
      return error_response(result.status ? result.status : 500, {multierror(result.messages)});
    case VaultResponse::Kind::response:
      break;
  }
  if (result.list) {
    const json& keys = result.data["keys"];
    if (!keys.is_array() || keys.empty()) return error_response(404, {});
  }
  if (route != nullptr && call.data.is_object()) {
    std::vector<std::string> ignored;
    for (const auto& item : call.data.items()) {
      const std::string& k = item.key();  // not a structured binding: clang 14 cannot capture one
      bool known = std::any_of(route->fields.begin(), route->fields.end(),
                               [&](const FieldSpec& f) { return f.name == k; });
      if (!known && !(call.op == Operation::list)) ignored.push_back(k);
    }
    if (!ignored.empty()) {
      result.warnings.push_back("Endpoint ignored these unrecognized parameters: [" +
                                join(ignored, " ") + "]");
    }
  }
  std::string body;
  body.reserve(256);
  body += "{\"request_id\":\"" + random_uuid() + "\",\"lease_id\":\"\",\"renewable\":false,";
  body += "\"lease_duration\":0,\"data\":" + safe_dump(result.data);
  body += ",\"wrap_info\":null,\"warnings\":";
  body += result.warnings.empty() ? "null" : safe_dump(json(result.warnings));
  body += ",\"auth\":" + safe_dump(result.auth);
  if (route != nullptr && route->mount_type[0] != '\0') {
    body += ",\"mount_type\":\"" + std::string(route->mount_type) + "\"";
  }
  body += "}\n";
  HttpResponse r;
  r.status = result.status ? result.status : 200;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(body);
  return r;
}

Match Emulator::Core::route(const std::string& vpath) {
  if (starts_with(vpath, "sys/")) return route_sys(vpath.substr(4));
  if (starts_with(vpath, "auth/token/")) return route_token(vpath.substr(11));
  if (starts_with(vpath, "auth/")) {
    std::string rest = vpath.substr(5);
    auto slash = rest.find('/');
    if (slash != std::string::npos) {
      std::string mount = rest.substr(0, slash);
      if (state.mounts.count(mount)) return route_approle(mount, rest.substr(slash + 1));
    }
  }
  return {};
}

bool Emulator::Core::root_protected(const std::string& p) {
  // PathsSpecial.Root of the system backend and the token store (prefix patterns end in '*').
  static const char* kRoot[] = {"sys/auth/*", "sys/remount", "sys/audit", "sys/audit/*",
                                "sys/raw", "sys/raw/*", "sys/rotate", "sys/config/cors",
                                "sys/config/auditing/*", "sys/config/ui/headers/*",
                                "sys/plugins/catalog/*", "sys/revoke-prefix/*",
                                "sys/revoke-force/*", "sys/leases/revoke-prefix/*",
                                "sys/leases/revoke-force/*", "sys/leases/lookup/*", "sys/leases",
                                "sys/internal/inspect/*", "auth/token/revoke-orphan/*",
                                "auth/token/accessors*"};
  for (const char* pat : kRoot) {
    std::string_view s(pat);
    if (s.back() == '*') {
      if (starts_with(p, s.substr(0, s.size() - 1))) return true;
    } else if (p == s) {
      return true;
    }
  }
  return false;
}

}  // namespace ps::vault::emulator
