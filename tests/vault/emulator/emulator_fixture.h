// A dev-mode emulator core on a simulated clock, driven with plain HTTP-shaped requests.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/simulated_clock.h"
#include "vault/emulator/emulator.h"

namespace ps::vault::emulator::testing {

using nlohmann::json;

inline Options dev_options() {
  Options o;
  o.dev = true;
  o.root_token = "root-token-for-tests";
  o.admin_token = "admin-token-for-tests";
  return o;
}

// A request from 127.0.0.1 with the token (when not empty) in X-Vault-Token.
inline HttpRequest request(const std::string& method, const std::string& path,
                           const std::string& query = "", const std::string& token = "") {
  HttpRequest r;
  r.method = method;
  r.path = path;
  r.query = query;
  r.remote_addr = "127.0.0.1";
  if (!token.empty()) r.headers.push_back({"X-Vault-Token", token});
  return r;
}

struct Reply {
  int status = 0;
  json body;  // parsed JSON, or null for an empty / non-JSON body
  std::string raw;
  HttpResponse http;

  const std::string* header(std::string_view n) const { return http.header(n); }
  // The single error string of an {"errors":[...]} body ("" when absent).
  std::string error() const {
    if (!body.is_object() || !body.contains("errors") || body["errors"].empty()) return "";
    return body["errors"][0].get<std::string>();
  }
};

class Vault {
 public:
  explicit Vault(Options options = dev_options()) : emu(options, clock), root(options.root_token) {}

  Reply call(const std::string& method, const std::string& path, const json& body = nullptr,
             const std::string& token = "\x01root", std::vector<Header> headers = {},
             const std::string& query = "") {
    HttpRequest r = request(method, path, query);
    r.headers = std::move(headers);
    std::string t = token == "\x01root" ? root : token;
    if (!t.empty()) r.headers.push_back({"X-Vault-Token", t});
    if (!body.is_null()) r.body = body.dump();
    return to_reply(emu.handle(r));
  }
  Reply raw_call(HttpRequest r) { return to_reply(emu.handle(r)); }

  static Reply to_reply(HttpResponse h) {
    Reply out;
    out.status = h.status;
    out.raw = h.body;
    out.body = h.body.empty() ? json(nullptr) : json::parse(h.body, nullptr, false);
    if (out.body.is_discarded()) out.body = nullptr;
    out.http = std::move(h);
    return out;
  }

  Reply get(const std::string& path, const std::string& token = "\x01root") {
    return call("GET", path, nullptr, token);
  }
  Reply post(const std::string& path, const json& body, const std::string& token = "\x01root") {
    return call("POST", path, body, token);
  }
  Reply list(const std::string& path, const std::string& token = "\x01root") {
    return call("LIST", path, nullptr, token);
  }
  Reply del(const std::string& path, const std::string& token = "\x01root") {
    return call("DELETE", path, nullptr, token);
  }
  Reply admin(const std::string& method, const std::string& path, const json& body = nullptr) {
    HttpRequest r = request(method, path);
    r.headers.push_back({"X-Emulator-Admin-Token", "admin-token-for-tests"});
    if (!body.is_null()) r.body = body.dump();
    return to_reply(emu.handle(r));
  }

  // Creates a role and one secret ID; returns {role_id, secret_id}.
  std::pair<std::string, std::string> role_with_secret(const std::string& name,
                                                       const json& role_body = json::object()) {
    post("/v1/auth/approle/role/" + name, role_body);
    std::string role_id = get("/v1/auth/approle/role/" + name + "/role-id").body["data"]["role_id"];
    std::string secret =
        post("/v1/auth/approle/role/" + name + "/secret-id", json::object()).body["data"]["secret_id"];
    return {role_id, secret};
  }
  // Logs in and returns the auth block.
  json login(const std::string& role_id, const std::string& secret_id) {
    return post("/v1/auth/approle/login", {{"role_id", role_id}, {"secret_id", secret_id}}, "")
        .body["auth"];
  }
  std::string put_policy(const std::string& name, const json& doc) {
    auto r = post("/v1/sys/policies/acl/" + name, {{"policy", doc.dump()}});
    return std::to_string(r.status);
  }

  SimulatedClock clock;
  Emulator emu;
  std::string root;
};

inline const char* kPermissionDenied = "1 error occurred:\n\t* permission denied\n\n";
inline const char* kInvalidToken = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n";

}  // namespace ps::vault::emulator::testing
