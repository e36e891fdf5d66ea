#include "vault/config.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "vault/names.h"

namespace ps::vault {
namespace {

Error invalid(std::string message) {
  return Error::make(ErrorCode::invalid_argument, Action::give_up, std::move(message));
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' ||
                        s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Built by appending: "\"" + preview(...) (operator+ on a literal and a temporary string) trips
// a GCC 12 -Wrestrict false positive at -O2/-O3.
std::string not_a_namespace(std::string_view untrusted) {
  std::string message = "\"";
  message += preview(untrusted);
  message += "\" is not a namespace path";
  return message;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8 in dotted-quad form.
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') ++dots;
    else if (!is_digit(c)) return false;
  }
  return dots == 3;
}

}  // namespace

std::string_view to_string(AuthMethod method) {
  switch (method) {
    case AuthMethod::token: return "token";
    case AuthMethod::token_file: return "token_file";
    case AuthMethod::approle: return "approle";
  }
  return "unknown";
}

std::optional<bool> parse_go_bool(std::string_view t) {
  if (t == "1" || t == "t" || t == "T" || t == "TRUE" || t == "true" || t == "True") return true;
  if (t == "0" || t == "f" || t == "F" || t == "FALSE" || t == "false" || t == "False") {
    return false;
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> parse_duration_seconds(std::string_view text) {
  constexpr double kMaxMs = 1e15;  // ~31,000 years: anything above is a typo
  if (text.empty()) return std::nullopt;
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && is_digit(c);
  if (all_digits) {
    if (text.size() > 12) return std::nullopt;
    return std::chrono::milliseconds{std::stoll(std::string(text)) * 1000};
  }
  if (text.front() == '+') text.remove_prefix(1);
  if (text == "0") return std::chrono::milliseconds{0};
  double total_ms = 0;
  while (!text.empty()) {
    std::size_t i = 0;
    std::string number;
    while (i < text.size() && (is_digit(text[i]) || text[i] == '.')) number += text[i++];
    if (number.empty() || number == "." ||
        number.find('.') != number.rfind('.')) {
      return std::nullopt;
    }
    text.remove_prefix(i);
    static constexpr std::pair<std::string_view, double> kUnits[] = {
        {"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"\xce\xbcs", 1e-3},
        {"ms", 1.0},  {"s", 1e3},   {"m", 60e3},         {"h", 3600e3}};
    double scale = 0;
    std::size_t unit_len = 0;
    for (const auto& [unit, factor] : kUnits) {
      if (text.substr(0, unit.size()) == unit && unit.size() > unit_len) {
        scale = factor;
        unit_len = unit.size();
      }
    }
    if (unit_len == 0) return std::nullopt;
    text.remove_prefix(unit_len);
    total_ms += std::strtod(number.c_str(), nullptr) * scale;
    if (!std::isfinite(total_ms) || total_ms > kMaxMs) return std::nullopt;
  }
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::floor(total_ms))};
}

Result<Endpoint> parse_address(std::string_view address, bool allow_plaintext_loopback) {
  Endpoint ep;
  auto scheme_end = address.find("://");
  if (scheme_end == std::string_view::npos) {
    return invalid("Vault address \"" + preview(address) +
                   "\" has no scheme (expected https://host[:port])");
  }
  std::string scheme(address.substr(0, scheme_end));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = address.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return invalid("Vault address \"" + preview(address) +
                   "\" must be scheme://host[:port] without path, query or user");
  }
  std::string_view port_text;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return invalid("Vault address: unclosed IPv6 '['");
    ep.host = std::string(rest.substr(1, close - 1));
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("Vault address: junk after IPv6 address");
      port_text = after.substr(1);
      has_port = true;
    }
    for (char c : ep.host) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) {
        return invalid("Vault address: bad IPv6 address");
      }
    }
  } else {
    auto colon = rest.find(':');
    ep.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      has_port = true;
    }
    for (char c : ep.host) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
        return invalid("Vault address \"" + preview(address) + "\" has an invalid host");
      }
    }
  }
  if (ep.host.empty()) return invalid("Vault address \"" + preview(address) + "\" has no host");
  if (scheme == "https") {
    ep.tls = true;
    ep.port = 443;
  } else if (scheme == "http") {
    ep.tls = false;
    ep.port = 80;
    if (!allow_plaintext_loopback) {
      return invalid("Vault address \"" + preview(address) +
                     "\" is plaintext http://; only https:// is accepted (plain HTTP needs the "
                     "explicit allow_plaintext_loopback setting and a loopback host)");
    }
    if (!is_loopback(ep.host)) {
      return invalid("Vault address \"" + preview(address) +
                     "\": plain http:// is allowed only to a loopback host");
    }
  } else {
    return invalid("Vault address \"" + preview(address) + "\": scheme must be https");
  }
  if (has_port) {
    if (port_text.empty() || port_text.size() > 5) return invalid("Vault address: bad port");
    int port = 0;
    for (char c : port_text) {
      if (!is_digit(c)) return invalid("Vault address: bad port");
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return invalid("Vault address: port out of range");
    ep.port = port;
  }
  return ep;
}

Result<void> apply_vault_environment(VaultConfig& config, const EnvGetter& env) {
  auto get = [&env](const char* name) -> std::optional<std::string> {
    auto v = env(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
  };
  auto fail = [](const char* name, const std::string& why) {
    return invalid(std::string(name) + ": " + why);
  };

  if (auto v = get("VAULT_AGENT_ADDR")) {
    auto ep = parse_address(*v, config.allow_plaintext_loopback);
    if (!ep) return fail("VAULT_AGENT_ADDR", ep.error().message);
    config.address = *v;
  } else if (auto a = get("VAULT_ADDR")) {
    auto ep = parse_address(*a, config.allow_plaintext_loopback);
    if (!ep) return fail("VAULT_ADDR", ep.error().message);
    config.address = *a;
  }
  if (auto v = get("VAULT_CACERT")) config.tls.ca_file = *v;
  if (auto v = get("VAULT_CAPATH")) config.tls.ca_dir = *v;
  auto cert = get("VAULT_CLIENT_CERT");
  auto key = get("VAULT_CLIENT_KEY");
  if (cert.has_value() != key.has_value()) {
    return fail(cert ? "VAULT_CLIENT_KEY" : "VAULT_CLIENT_CERT",
                "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set together");
  }
  if (cert) {
    config.tls.cert_file = *cert;
    config.tls.key_file = *key;
  }
  if (auto v = get("VAULT_TLS_SERVER_NAME")) config.tls.server_name = *v;
  if (auto v = get("VAULT_SKIP_VERIFY")) {
    auto b = parse_go_bool(*v);
    if (!b) return fail("VAULT_SKIP_VERIFY", "not a boolean (use true or false)");
    config.tls.skip_verify = *b;
  }
  if (auto v = get("VAULT_TOKEN")) {
    std::string token = trim(*v);
    if (!is_header_safe(token)) {
      return fail("VAULT_TOKEN", "contains characters a token cannot have (value not shown)");
    }
    // A configured approle or token_file method is not silently replaced by an exported token.
    const bool configured_other =
        config.auth.source == "config" && config.auth.method != AuthMethod::token;
    if (!configured_other || config.auth.vault_token_overrides) {
      config.auth.method = AuthMethod::token;
      config.auth.token = Secret(std::move(token));
      config.auth.source = "VAULT_TOKEN";
    } else {
      config.auth.vault_token_ignored = true;
    }
  }
  if (auto v = get("VAULT_NAMESPACE")) {
    if (!is_valid_namespace(*v)) {
      return fail("VAULT_NAMESPACE", not_a_namespace(*v));
    }
    config.vault_namespace = *v;
  }
  if (auto v = get("VAULT_MAX_RETRIES")) {
    bool digits = v->size() <= 9;
    for (char c : *v) digits = digits && is_digit(c);
    if (!digits) return fail("VAULT_MAX_RETRIES", "not an unsigned integer");
    config.retry.max_attempts = static_cast<unsigned>(std::stoul(*v)) + 1;
  }
  if (auto v = get("VAULT_CLIENT_TIMEOUT")) {
    auto d = parse_duration_seconds(*v);
    if (!d) return fail("VAULT_CLIENT_TIMEOUT", "not seconds or a duration like 30s or 1m");
    if (d->count() <= 0) return fail("VAULT_CLIENT_TIMEOUT", "must be greater than zero");
    config.request_timeout = *d;
  }
  return {};
}

Result<void> validate(const VaultConfig& config) {
  auto fail = [](const char* key, const std::string& why) {
    return invalid(std::string(key) + ": " + why);
  };
  if (auto ep = parse_address(config.address, config.allow_plaintext_loopback); !ep) {
    return fail("vault.address", ep.error().message);
  }
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    return fail("vault.tls", "client certificate and key must be set together");
  }
  if (!is_valid_namespace(config.vault_namespace)) {
    return fail("vault.namespace", not_a_namespace(config.vault_namespace));
  }
  if (auto m = MountPath::parse(config.mount); !m) return fail("vault.mount", m.error().message);
  if (auto m = MountPath::parse(config.auth.mount); !m) {
    return fail("vault.auth.mount", m.error().message);
  }
  if (config.connect_timeout.count() <= 0) return fail("vault.connect_timeout", "must be > 0");
  if (config.request_timeout.count() <= 0) return fail("vault.request_timeout", "must be > 0");
  if (config.max_reply_bytes < kMinMaxReplyBytes || config.max_reply_bytes > kMaxMaxReplyBytes) {
    return fail("vault.max_reply_bytes", "must be between " + std::to_string(kMinMaxReplyBytes) +
                                             " and " + std::to_string(kMaxMaxReplyBytes));
  }
  if (Status retry = config.retry.validate(); !retry.ok()) {
    return fail("vault.retry", retry.message());
  }
  const auto& auth = config.auth;
  if (Status backoff = auth.backoff.validate(); !backoff.ok()) {
    return fail("vault.auth.backoff", backoff.message());
  }
  if (!(auth.renew_fraction > 0.0 && auth.renew_fraction < 1.0)) {
    return fail("vault.auth.renew_fraction", "must be between 0 and 1");
  }
  if (!(auth.renew_jitter >= 0.0 && auth.renew_jitter < 1.0)) {
    return fail("vault.auth.renew_jitter", "must be in [0, 1)");
  }
  switch (auth.method) {
    case AuthMethod::token:
      if (auth.token.empty()) {
        return fail("vault.auth", "method token needs a token (VAULT_TOKEN)");
      }
      if (!is_header_safe(auth.token.reveal())) {
        return fail("vault.auth.token", "contains characters a token cannot have");
      }
      break;
    case AuthMethod::token_file:
      if (auth.token_file.empty()) return fail("vault.auth.token_file", "is empty");
      break;
    case AuthMethod::approle:
      if (auth.role_id_file.empty()) return fail("vault.auth.role_id_file", "is empty");
      if (auth.secret_id_file.empty()) return fail("vault.auth.secret_id_file", "is empty");
      break;
  }
  return {};
}

}  // namespace ps::vault
