// Errors as values that say what to do next, and vault::Result<T>.
//
// Every failure of a Vault call becomes an Error whose `action` tells the caller what to do:
//   retry           transient (network, timeout, 429, 412, 5xx except 501, sealed, standby):
//                   try again after a backoff, at least `retry_after` when set;
//   reauthenticate  the token was rejected (403 containing "invalid token"): get a new token,
//                   then try again;
//   give_up         retrying cannot help (400, plain 403 = policy problem, 404, 501, TLS
//                   certificate failures, invalid arguments): report it.
// The action is decided by a switch on HTTP status, transport error and ErrorCode. Only two of
// Vault's documented texts are read: "invalid token" in a 403 and "Vault is sealed" in a 503
// (plus, per operation, AppRole's documented plain-error 500s; see refine_for_operation).
//
// Messages never contain a token, secret id or request body; Vault's own error strings are
// included after redaction of every secret the client knows (see VaultClient).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "engine/base/status.h"

namespace ps::vault {

enum class Action { retry, reauthenticate, give_up };

enum class ErrorCode {
  transport,            // connect/read/write failure, dropped connection        -> retry
  timeout,              // connect or read timeout                               -> retry
  tls_handshake,        // handshake failed without a certificate verdict        -> retry
  tls_certificate,      // server certificate not trusted / wrong host / expired -> give_up
  tls_config,           // client TLS material unusable                          -> give_up
  rate_limited,         // 429 (Retry-After honoured)                            -> retry
  precondition_failed,  // 412 (missing X-Vault-Request at an Agent listener)   -> retry
  server_error,         // 5xx other than 501 and the ones below                 -> retry
  sealed,               // 503 "Vault is sealed"                                 -> retry
  standby,              // 307 redirect to the active node, 503 no active node   -> retry
  not_implemented,      // 501 (uninitialised Vault)                             -> give_up
  invalid_token,        // 403 containing "invalid token"                        -> reauthenticate
  permission_denied,    // plain 403: the token's policy does not allow it       -> give_up
  not_found,            // 404 (reads turn it into an empty result instead)      -> give_up
  role_missing,         // a role-scoped write found no role (404 / AppRole 500) -> give_up
  invalid_request,      // 400, and AppRole's "at least one constraint" 500      -> give_up
  unexpected_status,    // any other status                                      -> give_up
  bad_response,         // a 2xx whose body is not what the API documents        -> give_up
  invalid_argument,     // refused before any request (bad role name, mount...)  -> give_up
  auth_unavailable,     // no usable token and none can be obtained right now    -> per case
};

std::string_view to_string(Action action);
std::string_view to_string(ErrorCode code);

// Errors that concern the one role or item a request was about (retrying cannot help until
// someone acts), as opposed to Vault as a whole (sealed, down, throttled, the sidecar's own
// token): role_missing, permission_denied, invalid_request, not_found, bad_response,
// unexpected_status, invalid_argument. The sync worker parks such a push; the revocation
// runner parks such a step.
bool concerns_one_item(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::unexpected_status;
  Action action = Action::give_up;
  int http_status = 0;                             // 0 when no HTTP answer was received
  std::optional<std::chrono::seconds> retry_after;  // from Retry-After, or the auth backoff
  std::string message;                             // human-readable, secret-free
  // For invalid_token: the generation of the rejected token (see TokenSource), so the retry
  // loop re-authenticates only if nobody has done so already.
  std::uint64_t token_generation = 0;

  static Error make(ErrorCode code, Action action, std::string message, int http_status = 0) {
    Error e;
    e.code = code;
    e.action = action;
    e.http_status = http_status;
    e.message = std::move(message);
    return e;
  }
  // "code (HTTP n): message" for logs.
  std::string describe() const;
};

// The transport failures the client can see, independent of the HTTP library.
enum class TransportFailure {
  connection,        // could not connect / connection refused
  connect_timeout,
  read,              // read failed or connection closed before an answer
  read_timeout,
  deadline,          // the request's whole deadline passed (a trickling or stalled server)
  write,
  tls_handshake,
  tls_verification,  // certificate chain, expiry or host name rejected
  tls_loading,       // client-side certificate/CA material could not be loaded
  other,
};

// Classifies an HTTP answer that is not a success. `errors` is Vault's {"errors":[...]} list
// (empty when absent); `retry_after` the parsed Retry-After header, if any.
Error classify_http(int status, const std::vector<std::string>& errors,
                    std::optional<std::chrono::seconds> retry_after);

// Classifies a request that got no HTTP answer.
Error classify_transport(TransportFailure failure, std::string detail);

// Parses a Retry-After header value given as delta-seconds ("2"). HTTP-dates, negative or
// malformed values give nullopt (Vault sends seconds).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

// A value or an Error: the project's one Result template (engine/base/status.h) with the Vault
// error as its payload.
template <class T>
using Result = ps::Result<T, Error>;

}  // namespace ps::vault
