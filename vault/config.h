// Settings of the Vault client and of the sidecar's own authentication, and Vault's standard
// environment applied over them.
//
// Plaintext: only https:// addresses are accepted. http:// is accepted only when
// allow_plaintext_loopback is set explicitly AND the host is loopback (localhost, 127.0.0.0/8,
// ::1) - for a local Vault Agent listener with tls_disable. There is never a fallback from
// https to http, and VAULT_SKIP_VERIFY is explicit and warned about by tls/.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tls/tls.h"
#include "vault/backoff.h"
#include "vault/error.h"
#include "vault/secret.h"

namespace ps::vault {

enum class AuthMethod {
  token,       // a fixed token (VAULT_TOKEN or config); renewed if renewable, no re-login
  token_file,  // a Vault Agent file sink: re-read when it changes; the agent renews it
  approle,     // login with role_id/secret_id read from files at every login
};
std::string_view to_string(AuthMethod method);

struct AuthConfig {
  AuthMethod method = AuthMethod::token;
  // The AppRole mount the sidecar logs in through (method approle), relative to auth/. Keep it
  // apart from VaultConfig::mount (the agents' roles): a policy granting the agents' role paths
  // with `+` must never cover the sidecar's own role.
  std::string mount = "approle";
  // Where the method and its credentials came from, for the log and `check` ("default",
  // "config", "VAULT_TOKEN").
  std::string source = "default";
  // VAULT_TOKEN replaces a configured approle or token_file method only when this is set
  // (vault.auth.vault_token_overrides); without vault.auth in the config it is the source, as
  // with the vault CLI.
  bool vault_token_overrides = false;
  bool vault_token_ignored = false;  // set: VAULT_TOKEN was present and not used (said in logs)
  Secret token;                 // method token
  std::string token_file;       // method token_file
  std::string role_id_file;     // method approle
  std::string secret_id_file;   // method approle
  // Renewal is due after renew_fraction of the TTL, minus up to renew_jitter of that.
  double renew_fraction = 2.0 / 3.0;
  double renew_jitter = 0.1;
  // Backoff between failed logins/renewals (Vault Agent: min_backoff 1 s, max_backoff 5 m).
  BackoffPolicy backoff{};
  // How often current_token() looks at the token file (stat only; re-read on change).
  std::chrono::milliseconds token_file_check_interval{1000};
  // Refuse token/role-id/secret-id files readable by group or others (as ssh does with keys).
  // Off by default because Vault Agent's file sink writes mode 0640.
  bool require_private_files = false;
};

// The default cap on one answer's body. The largest answers the sidecar reads are lists:
// 100,000 secret-id accessors (36-character UUIDs, 39 bytes each in the JSON list) are
// 3.9 MB, so 8 MiB holds that with twice the room, and bounds what one hostile or broken
// answer can make a worker hold (plus about as much again while the JSON is parsed).
inline constexpr std::size_t kDefaultMaxReplyBytes = std::size_t{8} << 20;
inline constexpr std::size_t kMinMaxReplyBytes = 4096;
inline constexpr std::size_t kMaxMaxReplyBytes = std::size_t{1} << 30;

struct VaultConfig {
  std::string address = "https://127.0.0.1:8200";
  bool allow_plaintext_loopback = false;
  tls::ClientConfig tls;
  std::string vault_namespace;  // X-Vault-Namespace; empty = none
  std::string mount = "approle";  // AppRole mount, relative to auth/
  std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};
  // The deadline of one request (VAULT_CLIENT_TIMEOUT; Go client default 60 s): connect, TLS
  // handshake, sending and the whole answer, however slowly the server trickles it.
  std::chrono::milliseconds request_timeout{std::chrono::seconds{60}};
  // Cap on one answer's body (vault.max_reply_bytes); see kDefaultMaxReplyBytes.
  std::size_t max_reply_bytes = kDefaultMaxReplyBytes;
  BackoffPolicy retry{};
  AuthConfig auth;
};

// Reads one environment variable; nullopt when unset.
using EnvGetter = std::function<std::optional<std::string>(const char* name)>;

// Applies Vault's standard variables over `config`, as the Go client reads them (an empty
// value counts as unset):
//   VAULT_ADDR (VAULT_AGENT_ADDR wins when both are set), VAULT_CACERT, VAULT_CAPATH,
//   VAULT_CLIENT_CERT + VAULT_CLIENT_KEY (one without the other is an error),
//   VAULT_TLS_SERVER_NAME, VAULT_SKIP_VERIFY (Go strconv.ParseBool), VAULT_TOKEN (switches
//   auth to the token method), VAULT_NAMESPACE, VAULT_MAX_RETRIES (unsigned; sets
//   retry.max_attempts = n + 1), VAULT_CLIENT_TIMEOUT (seconds or Go duration: 30, 30s, 1m30s).
// On error `config` may be partly updated; the message names the variable (never a value
// of VAULT_TOKEN).
Result<void> apply_vault_environment(VaultConfig& config, const EnvGetter& env);

// Checks a whole configuration; the message names the offending setting.
Result<void> validate(const VaultConfig& config);

struct Endpoint {
  bool tls = true;
  std::string host;  // IPv6 without brackets
  int port = 443;
};
Result<Endpoint> parse_address(std::string_view address, bool allow_plaintext_loopback);

// Go's strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False.
std::optional<bool> parse_go_bool(std::string_view text);
// A bare non-negative integer (seconds) or a Go duration ("1h2m3.5s", "250ms", "1.5h"; units
// ns us µs ms s m h). Negative values and overflow give nullopt. Result in milliseconds
// (rounded down).
std::optional<std::chrono::milliseconds> parse_duration_seconds(std::string_view text);

}  // namespace ps::vault
