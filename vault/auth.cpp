#include "vault/auth.h"

#include <algorithm>
#include <cmath>

namespace ps::vault {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

seconds ceil_seconds(Clock::SteadyTime::duration d) {
  auto s = std::chrono::ceil<seconds>(d);
  return s.count() < 0 ? seconds{0} : s;
}

}  // namespace

AuthManager::AuthManager(AuthConfig config, std::unique_ptr<VaultApi> api, Clock& clock,
                         RandomSource random, LogFn log)
    : config_(std::move(config)),
      api_(std::move(api)),
      clock_(clock),
      random_(random),
      log_(std::move(log)),
      backoff_(config_.backoff, random),
      token_watch_(config_.token_file) {
  next_due_ = clock_.steady_now();
  not_before_ = next_due_;
  next_file_check_ = next_due_;
}

bool AuthManager::can_acquire() const {
  return config_.method != AuthMethod::token || generation_ == 0;
}

Error AuthManager::backing_off(Clock::SteadyTime now) const {
  Error e = Error::make(ErrorCode::auth_unavailable, Action::retry,
                        "no usable Vault token yet; next authentication attempt in " +
                            std::to_string(ceil_seconds(not_before_ - now).count()) + "s");
  if (last_error_) e.message += " (last failure: " + last_error_->message + ")";
  e.retry_after = ceil_seconds(not_before_ - now);
  return e;
}

Error AuthManager::fail(Clock::SteadyTime now, const Error& cause, const char* what) {
  Error e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const milliseconds delay = backoff_.next();
    not_before_ = now + delay;
    ++failures_;
    e = Error::make(ErrorCode::auth_unavailable, Action::retry,
                    std::string(what) + ": " + cause.describe());
    e.retry_after = ceil_seconds(delay);
    last_error_ = e;
  }
  if (log_) {
    log_(LogLevel::warn, "vault auth: " + e.message + "; next attempt in " +
                             std::to_string(e.retry_after->count()) + "s");
  }
  return e;
}

void AuthManager::learn_ttl(Clock::SteadyTime now, std::int64_t ttl_seconds, bool renewable,
                            std::int64_t creation_ttl) {
  // The parsers refuse TTLs outside 0..kMaxTtlSeconds; clamped again here because a time
  // point of now + 2^63 ns would overflow (undefined) and this is where it would happen.
  ttl_seconds = std::clamp<std::int64_t>(ttl_seconds, 0, kMaxTtlSeconds);
  creation_ttl = std::clamp<std::int64_t>(creation_ttl, 0, kMaxTtlSeconds);
  ttl_known_ = true;
  expires_ = ttl_seconds > 0;
  expires_at_ = now + seconds{ttl_seconds};
  expires_at_wall_ = clock_.wall_now() + seconds{ttl_seconds};
  renewable_ = renewable;
  if (creation_ttl > 0) creation_ttl_ = creation_ttl;
}

void AuthManager::schedule_after_ttl(Clock::SteadyTime now, Next action) {
  if (!expires_ || action == Next::none) {
    next_ = Next::none;
    return;
  }
  const double remaining_ms =
      static_cast<double>(duration_cast<milliseconds>(expires_at_ - now).count());
  double r = random_ ? std::clamp(random_(), 0.0, 1.0) : 0.0;
  const double delay = std::max(0.0, remaining_ms * config_.renew_fraction *
                                         (1.0 - config_.renew_jitter * r));
  next_ = action;
  next_due_ = now + milliseconds{static_cast<std::int64_t>(delay)};
}

Result<void> AuthManager::acquire(Clock::SteadyTime now) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now < not_before_) return backing_off(now);
  }
  switch (config_.method) {
    case AuthMethod::token: {
      std::lock_guard<std::mutex> lock(mu_);
      if (generation_ == 0) {
        token_ = config_.token;
        generation_ = 1;
        rejected_ = false;
        next_ = Next::lookup;
        next_due_ = now;
        ++logins_;
        return {};
      }
      break;
    }
    case AuthMethod::token_file: return load_token_file(now, true);
    case AuthMethod::approle: return login(now);
  }
  return fail(now,
              Error::make(ErrorCode::invalid_token, Action::give_up,
                          "the configured token was rejected and the token method cannot log "
                          "in again (set a new VAULT_TOKEN, or use approle or token_file)"),
              "token auth");
}

Result<void> AuthManager::load_token_file(Clock::SteadyTime now, bool force) {
  token_watch_.remember();  // before reading: a write after this is noticed next time
  auto read = read_secret_file(config_.token_file, config_.require_private_files);
  if (!read) return fail(now, read.error(), "reading the Vault token file");
  std::uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (token_ && *token_ == read.value()) {
      if (!rejected_) return {};
      if (!force) return {};
    } else {
      token_ = std::move(read).value();
      generation = ++generation_;
      rejected_ = false;
      ttl_known_ = false;
      next_ = Next::lookup;
      next_due_ = now;
      ++logins_;
      backoff_.reset();
      failures_ = 0;
      last_error_.reset();
    }
  }
  if (generation == 0) {
    return fail(now,
                Error::make(ErrorCode::invalid_token, Action::retry,
                            "the file still holds the token Vault rejected; waiting for Vault "
                            "Agent to write a new one"),
                "token file");
  }
  if (log_) {
    log_(LogLevel::info, "vault auth: loaded a token from " + config_.token_file +
                             " (generation " + std::to_string(generation) + ")");
  }
  return {};
}

Result<void> AuthManager::login(Clock::SteadyTime now) {
  auto role_id = read_secret_file(config_.role_id_file, config_.require_private_files);
  if (!role_id) return fail(now, role_id.error(), "reading the AppRole role_id file");
  auto secret_id = read_secret_file(config_.secret_id_file, config_.require_private_files);
  if (!secret_id) return fail(now, secret_id.error(), "reading the AppRole secret_id file");
  auto auth = api_->approle_login(role_id.value(), secret_id.value());
  if (!auth) return fail(now, auth.error(), "AppRole login");
  std::int64_t ttl = auth->lease_duration;
  bool renewable = auth->renewable;
  std::uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    token_ = std::move(auth->client_token);
    generation = ++generation_;
    rejected_ = false;
    creation_ttl_ = 0;
    learn_ttl(now, ttl, renewable, ttl);
    schedule_after_ttl(now, renewable ? Next::renew : Next::relogin);
    backoff_.reset();
    failures_ = 0;
    last_error_.reset();
    ++logins_;
  }
  if (log_) {
    log_(LogLevel::info, "vault auth: AppRole login succeeded (generation " +
                             std::to_string(generation) + ", ttl " + std::to_string(ttl) +
                             "s, " + (renewable ? "renewable" : "not renewable") + ")");
  }
  return {};
}

void AuthManager::lookup(Clock::SteadyTime now) {
  Secret token;
  std::uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!token_) return;
    token = *token_;
    generation = generation_;
  }
  auto info = api_->lookup_self(token);
  if (info) {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_) return;
    learn_ttl(now, info->ttl, info->renewable, info->creation_ttl);
    Next action = Next::none;
    switch (config_.method) {
      case AuthMethod::token: action = info->renewable ? Next::renew : Next::none; break;
      case AuthMethod::token_file: action = Next::refresh; break;
      case AuthMethod::approle: action = info->renewable ? Next::renew : Next::relogin; break;
    }
    schedule_after_ttl(now, action);
    backoff_.reset();
    failures_ = 0;
    last_error_.reset();
    return;
  }
  const Error& err = info.error();
  if (err.action == Action::reauthenticate) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (generation == generation_) rejected_ = true;
    }
    if (log_) log_(LogLevel::warn, "vault auth: Vault rejected the token: " + err.describe());
    (void)acquire(now);
    return;
  }
  if (err.action == Action::retry) {
    (void)fail(now, err, "looking up the token");
    std::lock_guard<std::mutex> lock(mu_);
    next_due_ = not_before_;
    return;
  }
  // give_up: typically the token's policy lacks lookup-self. Keep using the token; its TTL is
  // unknown, so it is not renewed on schedule.
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_ = Next::none;
    last_error_ = err;
  }
  if (log_) {
    log_(LogLevel::warn, "vault auth: cannot look up the token, so it will not be renewed on "
                         "schedule: " + err.describe());
  }
}

void AuthManager::renew(Clock::SteadyTime now) {
  Secret token;
  std::uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!token_) return;
    token = *token_;
    generation = generation_;
  }
  auto auth = api_->renew_self(token, seconds{0});
  if (auth) {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_) return;
    ++renewals_;
    learn_ttl(now, auth->lease_duration, auth->renewable, 0);
    // A renewal that gives back less than a third of the original TTL has hit the max TTL:
    // log in again before it runs out instead of renewing a dying token.
    const bool capped = creation_ttl_ > 0 && auth->lease_duration * 3 < creation_ttl_;
    Next action = auth->renewable ? Next::renew : Next::none;
    if (config_.method == AuthMethod::approle && (capped || !auth->renewable)) {
      action = Next::relogin;
    }
    schedule_after_ttl(now, action);
    backoff_.reset();
    failures_ = 0;
    last_error_.reset();
    return;
  }
  const Error& err = auth.error();
  if (err.action == Action::reauthenticate) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (generation == generation_) rejected_ = true;
    }
    if (log_) {
      log_(LogLevel::warn, "vault auth: renewal refused, token rejected: " + err.describe());
    }
    (void)acquire(now);
    return;
  }
  if (err.action == Action::retry) {
    (void)fail(now, err, "renewing the token");
    std::lock_guard<std::mutex> lock(mu_);
    next_due_ = not_before_;
    return;
  }
  // give_up (not renewable, role deleted): AppRole logs in again; a fixed token is used until
  // Vault rejects it.
  if (log_) log_(LogLevel::warn, "vault auth: renewal failed: " + err.describe());
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = err;
  renewable_ = false;
  if (config_.method == AuthMethod::approle) {
    next_ = Next::relogin;
    next_due_ = now;
  } else {
    next_ = Next::none;
  }
}

void AuthManager::poll_token_file(Clock::SteadyTime now) {
  if (config_.method != AuthMethod::token_file) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now < next_file_check_) return;
    next_file_check_ = now + config_.token_file_check_interval;
  }
  if (token_watch_.changed()) (void)load_token_file(now, false);
}

Clock::SteadyTime AuthManager::tick() {
  std::lock_guard<std::mutex> io(io_mu_);
  const auto now = clock_.steady_now();
  poll_token_file(now);
  Next next;
  Clock::SteadyTime due;
  bool need_token = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    need_token = !token_ || rejected_;
    next = next_;
    due = next_due_;
  }
  if (need_token) {
    if (can_acquire()) (void)acquire(now);
  } else if (next != Next::none && now >= due) {
    switch (next) {
      case Next::lookup:
      case Next::refresh: lookup(now); break;
      case Next::renew: renew(now); break;
      case Next::relogin:
        if (config_.method == AuthMethod::approle && !login(now)) {
          std::lock_guard<std::mutex> lock(mu_);
          next_due_ = not_before_;
        }
        break;
      case Next::acquire: (void)acquire(now); break;
      case Next::none: break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  // With nothing scheduled, wake up now and then anyway (cheap; keeps run() responsive).
  auto wake = now + std::chrono::minutes{1};
  if (!token_ || rejected_) {
    if (can_acquire()) wake = std::max(now, not_before_);
  } else if (next_ != Next::none) {
    wake = next_due_;
  }
  if (config_.method == AuthMethod::token_file) wake = std::min(wake, next_file_check_);
  return wake;
}

void AuthManager::run(const std::function<bool()>& should_stop, milliseconds max_sleep) {
  while (!should_stop()) {
    const auto due = tick();
    auto wait = duration_cast<milliseconds>(due - clock_.steady_now());
    // A floor keeps a zero backoff draw from spinning.
    wait = std::clamp(wait, milliseconds{10}, std::max(max_sleep, milliseconds{10}));
    if (should_stop()) break;
    clock_.sleep_for(wait);
  }
}

Result<TokenGrant> AuthManager::current_token() {
  if (config_.method == AuthMethod::token_file) {
    bool check = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      check = clock_.steady_now() >= next_file_check_;
    }
    if (check) {
      std::lock_guard<std::mutex> io(io_mu_);
      poll_token_file(clock_.steady_now());
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (token_ && !rejected_) return TokenGrant{*token_, generation_};
  }
  std::lock_guard<std::mutex> io(io_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (token_ && !rejected_) return TokenGrant{*token_, generation_};
  }
  auto acquired = acquire(clock_.steady_now());
  if (!acquired) return std::move(acquired).error();
  std::lock_guard<std::mutex> lock(mu_);
  if (!token_ || rejected_) return backing_off(clock_.steady_now());
  return TokenGrant{*token_, generation_};
}

Result<void> AuthManager::reauthenticate(std::uint64_t rejected_generation) {
  std::lock_guard<std::mutex> io(io_mu_);
  bool newly_rejected = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (token_ && !rejected_ && generation_ != rejected_generation) return {};
    if (token_ && generation_ == rejected_generation && !rejected_) {
      rejected_ = true;
      newly_rejected = true;
    }
  }
  if (newly_rejected && log_) {
    log_(LogLevel::warn, "vault auth: Vault rejected the token (generation " +
                             std::to_string(rejected_generation) + "); re-authenticating");
  }
  return acquire(clock_.steady_now());
}

TokenStatus AuthManager::status() const {
  const auto now = clock_.steady_now();
  std::lock_guard<std::mutex> lock(mu_);
  TokenStatus s;
  s.method = config_.method;
  s.has_token = token_.has_value();
  s.generation = generation_;
  s.ttl_known = ttl_known_;
  s.expires = expires_;
  s.renewable = renewable_;
  s.valid = token_.has_value() && !rejected_ && !(ttl_known_ && expires_ && now >= expires_at_);
  if (ttl_known_ && expires_) {
    s.ttl = std::max(seconds{0}, duration_cast<seconds>(expires_at_ - now));
    s.expires_at = expires_at_wall_;
  }
  s.consecutive_failures = failures_;
  s.last_error = last_error_;
  s.logins = logins_;
  s.renewals = renewals_;
  return s;
}

}  // namespace ps::vault
