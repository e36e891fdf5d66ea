#include "vault/error.h"

#include <charconv>

namespace ps::vault {

std::string_view to_string(Action action) {
  switch (action) {
    case Action::retry: return "retry";
    case Action::reauthenticate: return "reauthenticate";
    case Action::give_up: return "give_up";
  }
  return "unknown";
}

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::transport: return "transport";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::tls_handshake: return "tls_handshake";
    case ErrorCode::tls_certificate: return "tls_certificate";
    case ErrorCode::tls_config: return "tls_config";
    case ErrorCode::rate_limited: return "rate_limited";
    case ErrorCode::precondition_failed: return "precondition_failed";
    case ErrorCode::server_error: return "server_error";
    case ErrorCode::sealed: return "sealed";
    case ErrorCode::standby: return "standby";
    case ErrorCode::not_implemented: return "not_implemented";
    case ErrorCode::invalid_token: return "invalid_token";
    case ErrorCode::permission_denied: return "permission_denied";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::role_missing: return "role_missing";
    case ErrorCode::invalid_request: return "invalid_request";
    case ErrorCode::unexpected_status: return "unexpected_status";
    case ErrorCode::bad_response: return "bad_response";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::auth_unavailable: return "auth_unavailable";
  }
  return "unknown";
}

std::string Error::describe() const {
  std::string out(to_string(code));
  if (http_status != 0) out += " (HTTP " + std::to_string(http_status) + ")";
  if (!message.empty()) out += ": " + message;
  return out;
}

namespace {

bool any_contains(const std::vector<std::string>& errors, std::string_view needle) {
  for (const auto& e : errors) {
    if (e.find(needle) != std::string::npos) return true;
  }
  return false;
}

// Vault wraps plain Go errors in go-multierror's layout ("1 error occurred:\n\t* msg\n\n");
// flatten it so a message stays on one line, and drop control bytes.
std::string flatten_one(const std::string& raw) {
  std::vector<std::string> parts;
  std::size_t header = raw.find(" occurred:");
  bool multierror = header != std::string::npos && raw.find('\n') > header;
  std::string current;
  auto flush = [&] {
    while (!current.empty() && current.back() == ' ') current.pop_back();
    if (!current.empty()) parts.push_back(current);
    current.clear();
  };
  std::size_t i = multierror ? header + std::string_view(" occurred:").size() : 0;
  for (; i < raw.size(); ++i) {
    char c = raw[i];
    if (multierror && c == '\n') {
      flush();
      continue;
    }
    if (multierror && current.empty() && (c == '\t' || c == ' ' || c == '*')) continue;
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) continue;
    if (c == ' ' && (current.empty() || current.back() == ' ')) continue;
    current += c;
  }
  flush();
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

std::string flatten(const std::vector<std::string>& errors) {
  constexpr std::size_t kMaxLength = 512;
  std::string out;
  for (const auto& raw : errors) {
    std::string one = flatten_one(raw);
    if (one.empty()) continue;
    if (!out.empty()) out += "; ";
    out += one;
  }
  if (out.size() > kMaxLength) out = out.substr(0, kMaxLength) + "...";
  return out;
}

std::string status_message(int status, const std::vector<std::string>& errors) {
  std::string text = flatten(errors);
  std::string out = "Vault answered " + std::to_string(status);
  if (!text.empty()) out += ": " + text;
  return out;
}

}  // namespace

Error classify_http(int status, const std::vector<std::string>& errors,
                    std::optional<std::chrono::seconds> retry_after) {
  ErrorCode code = ErrorCode::unexpected_status;
  Action action = Action::give_up;
  switch (status) {
    case 307:
    case 308:
      code = ErrorCode::standby;
      action = Action::retry;
      break;
    case 400:
    case 413:
      code = ErrorCode::invalid_request;
      break;
    case 403:
      // Vault 1.17+ sends "permission denied" and "invalid token" for a bad, expired or
      // revoked token; a valid token lacking the capability gets "permission denied" only.
      if (any_contains(errors, "invalid token")) {
        code = ErrorCode::invalid_token;
        action = Action::reauthenticate;
      } else {
        code = ErrorCode::permission_denied;
      }
      break;
    case 404:
      code = ErrorCode::not_found;
      break;
    case 408:
      code = ErrorCode::timeout;
      action = Action::retry;
      break;
    case 412:
      code = ErrorCode::precondition_failed;
      action = Action::retry;
      break;
    case 429:
      code = ErrorCode::rate_limited;
      action = Action::retry;
      break;
    case 501:
      code = ErrorCode::not_implemented;
      break;
    case 503:
      code = any_contains(errors, "Vault is sealed") ? ErrorCode::sealed : ErrorCode::server_error;
      action = Action::retry;
      break;
    default:
      if (status >= 500 && status <= 599) {
        code = ErrorCode::server_error;
        action = Action::retry;
      }
      break;
  }
  Error e = Error::make(code, action, status_message(status, errors), status);
  if (action == Action::retry) e.retry_after = retry_after;
  return e;
}

Error classify_transport(TransportFailure failure, std::string detail) {
  ErrorCode code = ErrorCode::transport;
  Action action = Action::retry;
  std::string what;
  switch (failure) {
    case TransportFailure::connection: what = "could not connect"; break;
    case TransportFailure::connect_timeout:
      code = ErrorCode::timeout;
      what = "connect timed out";
      break;
    case TransportFailure::read: what = "connection failed while reading the answer"; break;
    case TransportFailure::read_timeout:
      code = ErrorCode::timeout;
      what = "no answer within the read timeout";
      break;
    case TransportFailure::deadline:
      code = ErrorCode::timeout;
      what = "the request did not finish within its deadline (vault.timeout_s)";
      break;
    case TransportFailure::write: what = "connection failed while sending the request"; break;
    case TransportFailure::tls_handshake:
      code = ErrorCode::tls_handshake;
      what = "TLS handshake failed";
      break;
    case TransportFailure::tls_verification:
      // Like the Go client: certificate errors are not retried, a retry cannot fix trust.
      code = ErrorCode::tls_certificate;
      action = Action::give_up;
      what = "server certificate rejected";
      break;
    case TransportFailure::tls_loading:
      code = ErrorCode::tls_config;
      action = Action::give_up;
      what = "client TLS material could not be loaded";
      break;
    case TransportFailure::other: what = "request failed"; break;
  }
  if (!detail.empty()) what += " (" + detail + ")";
  return Error::make(code, action, std::move(what));
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.size() > 9) return std::nullopt;
  long long seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc{} || ptr != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds{seconds};
}

bool concerns_one_item(ErrorCode code) {
  switch (code) {
    case ErrorCode::role_missing:
    case ErrorCode::permission_denied:
    case ErrorCode::invalid_request:
    case ErrorCode::not_found:
    case ErrorCode::bad_response:
    case ErrorCode::unexpected_status:
    case ErrorCode::invalid_argument:
      return true;
    default:
      return false;
  }
}

}  // namespace ps::vault
