// The retry loop: runs one attempt after another until success, a give_up error, or a stop
// rule of the BackoffPolicy. Waiting goes through the injected Clock, so tests read the exact
// schedule from SimulatedClock::sleeps() without sleeping.
//
// Rules, in order, after a failed attempt:
//  - give_up: return the error at once.
//  - reauthenticate: the first time in this call, ask the TokenSource for a newer token and,
//    if it has one, retry immediately (this retry is not delayed, and is allowed even when
//    max_attempts is reached). A second rejection, no TokenSource, or a give_up from the
//    re-authentication returns the error. A retryable re-authentication failure (Vault down,
//    auth backoff) is handled like any retryable error below.
//  - retry: stop if max_attempts attempts were made; otherwise wait
//      max(backoff.next(), min(retry_after, max_retry_after))
//    unless that wait would end past max_total from the first attempt (then stop).
// When it stops, the last error is returned unchanged.
//
// To make the loop interruptible (daemon shutdown), pass `should_stop` (checked before every
// wait) and a Clock whose sleep_for returns early when stopping.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <utility>

#include "vault/api.h"
#include "vault/backoff.h"
#include "engine/base/clock.h"
#include "vault/error.h"

namespace ps::vault {

struct RetryEvent {
  Operation operation;
  const Error& error;                // what failed
  std::chrono::milliseconds delay;   // the wait before the next attempt
  unsigned attempt;                  // attempts made so far (1 = the first failed)
};
using RetryObserver = std::function<void(const RetryEvent&)>;

struct RetryContext {
  Clock& clock;
  BackoffPolicy policy;
  RandomSource random;
  TokenSource* tokens = nullptr;     // null: reauthenticate errors are returned
  RetryObserver on_retry;            // optional, for metrics and logs
  std::function<bool()> should_stop; // optional; true = return the last error now
};

// `attempt` is a callable returning Result<T>.
template <class Attempt>
auto retry_call(const RetryContext& ctx, Operation op, Attempt&& attempt)
    -> decltype(attempt()) {
  Backoff backoff(ctx.policy, ctx.random);
  const auto start = ctx.clock.steady_now();
  unsigned attempts = 0;
  bool reauthenticated = false;
  while (true) {
    auto result = attempt();
    ++attempts;
    if (result.ok()) return result;
    Error error = result.error();
    if (error.action == Action::give_up) return result;
    if (error.action == Action::reauthenticate) {
      if (ctx.tokens == nullptr || reauthenticated) return result;
      auto renewed = ctx.tokens->reauthenticate(error.token_generation);
      if (renewed.ok()) {
        reauthenticated = true;
        continue;
      }
      if (renewed.error().action != Action::retry) return std::move(renewed).error();
      error = std::move(renewed).error();
    }
    if (ctx.policy.max_attempts != 0 && attempts >= ctx.policy.max_attempts) return error;
    auto delay = backoff.next();
    if (error.retry_after) {
      auto server_wait = std::min<std::chrono::milliseconds>(*error.retry_after,
                                                             ctx.policy.max_retry_after);
      delay = std::max(delay, server_wait);
    }
    if (ctx.policy.max_total.count() != 0 &&
        (ctx.clock.steady_now() - start) + delay > ctx.policy.max_total) {
      return error;
    }
    if (ctx.should_stop && ctx.should_stop()) return error;
    if (ctx.on_retry) ctx.on_retry(RetryEvent{op, error, delay, attempts});
    ctx.clock.sleep_for(delay);
  }
}

}  // namespace ps::vault
