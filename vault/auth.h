// The sidecar's own authentication to Vault: one thread-safe token manager shared by every
// VaultClient (it is their TokenSource).
//
// Methods (AuthConfig::method):
//  - token: the configured token (VAULT_TOKEN). lookup-self learns its TTL; renewed at about
//    2/3 of the TTL when renewable. Once Vault rejects it nothing can replace it: requests fail
//    with auth_unavailable until the configuration changes.
//  - token_file: the token a Vault Agent file sink writes; re-read when the file changes (and
//    at once when Vault rejects the token). The agent owns its lifetime, so it is not renewed
//    here; lookup-self refreshes the TTL shown in status().
//  - approle: login with role_id/secret_id read from their files at every login. Renewed at
//    about 2/3 of the TTL; logs in again when renewal fails, when the TTL is capped (renewal
//    gives less than a third of the original TTL) or when Vault rejects the token.
//
// Timing: tick() does what is due (first login or lookup, renewal, re-login, file check) and
// returns when it wants to run next; it never sleeps. Call it from one background thread (or
// use run()). Renewal is due at ttl * renew_fraction * (1 - renew_jitter * random()).
//
// Floods: every failed login, renewal or lookup pushes the next attempt back by the auth
// backoff (Vault Agent's 1 s doubling to 5 min by default, full jitter); while it runs,
// current_token() and reauthenticate() answer auth_unavailable with retry_after instead of
// calling Vault. Acquisition failures are always Action::retry with code auth_unavailable:
// they concern the sidecar as a whole (pause, not park an agent's change).
//
// Secrets: the token, role id and secret id are never logged or put in an Error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "tls/tls.h"
#include "vault/api.h"
#include "vault/backoff.h"
#include "engine/base/clock.h"
#include "vault/config.h"
#include "vault/secret_file.h"

namespace ps::vault {

struct TokenStatus {
  AuthMethod method = AuthMethod::token;
  bool has_token = false;
  bool valid = false;            // held, not rejected, not past its known expiry
  std::uint64_t generation = 0;  // grows with every new token
  bool ttl_known = false;        // lookup/login told us the TTL
  bool expires = false;          // false for tokens without TTL (root)
  std::chrono::seconds ttl{0};   // left now, when ttl_known && expires
  std::optional<Clock::WallTime> expires_at;
  bool renewable = false;
  unsigned consecutive_failures = 0;
  std::optional<Error> last_error;  // the latest auth failure, cleared on success
  std::uint64_t logins = 0;         // successful AppRole logins / token file loads
  std::uint64_t renewals = 0;       // successful renewals
};

class AuthManager final : public TokenSource {
 public:
  // `api` performs login, lookup-self and renew-self (it needs no TokenSource); it is used
  // under this manager's lock only, so a single-thread VaultClient is fine. `clock` must
  // outlive the manager. REQUIRES: validate() accepted `config`.
  AuthManager(AuthConfig config, std::unique_ptr<VaultApi> api, Clock& clock,
              RandomSource random, LogFn log);

  Result<TokenGrant> current_token() override;
  Result<void> reauthenticate(std::uint64_t rejected_generation) override;

  // Does what is due now. Returns the steady time at which it next wants to run.
  Clock::SteadyTime tick();
  // Calls tick() until should_stop() is true, sleeping through `clock` in slices of at most
  // `max_sleep` so a stop request is noticed.
  void run(const std::function<bool()>& should_stop,
           std::chrono::milliseconds max_sleep = std::chrono::seconds{1});

  TokenStatus status() const;

 private:
  enum class Next { acquire, lookup, renew, relogin, refresh, none };

  // All REQUIRE io_mu_ held (not mu_).
  Result<void> acquire(Clock::SteadyTime now);
  Result<void> login(Clock::SteadyTime now);
  Result<void> load_token_file(Clock::SteadyTime now, bool force);
  void lookup(Clock::SteadyTime now);
  void renew(Clock::SteadyTime now);
  void poll_token_file(Clock::SteadyTime now);
  Error fail(Clock::SteadyTime now, const Error& cause, const char* what);
  void learn_ttl(Clock::SteadyTime now, std::int64_t ttl_seconds, bool renewable,
                 std::int64_t creation_ttl);
  void schedule_after_ttl(Clock::SteadyTime now, Next action);
  Error backing_off(Clock::SteadyTime now) const;
  bool can_acquire() const;  // REQUIRES io_mu_ (generation_ is only written under it)

  const AuthConfig config_;
  const std::unique_ptr<VaultApi> api_;
  Clock& clock_;
  RandomSource random_;
  LogFn log_;

  std::mutex io_mu_;  // serialises Vault calls and file reads; taken before mu_
  mutable std::mutex mu_;
  // Guarded by mu_:
  std::optional<Secret> token_;
  std::uint64_t generation_ = 0;  // written under io_mu_ and mu_
  bool rejected_ = false;
  bool ttl_known_ = false;
  bool expires_ = false;
  bool renewable_ = false;
  std::int64_t creation_ttl_ = 0;
  Clock::SteadyTime expires_at_{};
  Clock::WallTime expires_at_wall_{};
  Next next_ = Next::acquire;
  Clock::SteadyTime next_due_{};
  Clock::SteadyTime not_before_{};  // auth backoff: no Vault auth call before this
  Backoff backoff_;
  unsigned failures_ = 0;
  std::optional<Error> last_error_;
  std::uint64_t logins_ = 0;
  std::uint64_t renewals_ = 0;
  FileWatch token_watch_;
  Clock::SteadyTime next_file_check_{};
};

// A fixed token and nothing else: for tests and one-shot tools. reauthenticate() always fails
// (give_up).
class StaticTokenSource final : public TokenSource {
 public:
  explicit StaticTokenSource(Secret token) : token_(std::move(token)) {}
  Result<TokenGrant> current_token() override { return TokenGrant{token_, 1}; }
  Result<void> reauthenticate(std::uint64_t) override {
    return Error::make(ErrorCode::auth_unavailable, Action::give_up,
                       "the token was rejected and a static token cannot be replaced");
  }

 private:
  Secret token_;
};

}  // namespace ps::vault
