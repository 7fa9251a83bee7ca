#ifndef RETRYHTTP_RETRY_STEP_HPP
#define RETRYHTTP_RETRY_STEP_HPP

// One retry step: every rule that decides what follows an attempt, in one function that returns an
// inspectable step. The status and idempotency rules (decide()), the server's Retry-After and its cap, and
// the call's deadline, in that order. The drivers (basic_client::send, its asynchronous driver, retry-sim)
// only sequence steps and do the side effects: the attempt, the budget's accounting and withdrawal, the wait.
//
// Pure but for one thing the caller hands in: the backoff schedule's next delay, asked for only when the
// rules so far allow a retry, so that the success path never draws a random number and a stateful schedule
// (decorrelated jitter) advances once per retry, even one the server timed.

#include <retryhttp/config.hpp>
#include <retryhttp/decision.hpp>
#include <retryhttp/error.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

namespace retryhttp {

/// Where a wait's length came from.
enum class delay_source : unsigned char {
  backoff,      ///< the Backoff policy
  retry_after,  ///< the server's Retry-After header
};

constexpr const char* to_string(delay_source source) noexcept {
  return source == delay_source::backoff ? "backoff" : "Retry-After";
}

/// What is known when the step after an attempt is decided.
struct step_input {
  observed_outcome outcome;
  /// Whether the request may be re-sent after an ambiguous failure (the Idempotency policy's verdict).
  bool idempotent = false;
  /// Re-sends made before this attempt: 0 after the first attempt.
  unsigned retries_made = 0;
  /// The wait the server asked for (Retry-After, parsed), if any.
  std::optional<std::chrono::nanoseconds> retry_after;
  /// Time left until the call's deadline, if it has one (may be zero or negative).
  std::optional<std::chrono::nanoseconds> time_left;
};

/// What follows an attempt.
struct retry_step {
  decision verdict;
  /// The wait before the next attempt, when verdict.next == action::retry.
  std::chrono::nanoseconds delay{0};
  delay_source source = delay_source::backoff;
  /// For deadline_exceeded and retry_after_too_long: the wait that was refused ...
  std::chrono::nanoseconds requested_wait{0};
  /// ... and what was allowed (the time left, or the Retry-After cap).
  std::chrono::nanoseconds allowed_wait{0};

  constexpr bool retries() const noexcept { return verdict.next == action::retry; }
  friend constexpr bool operator==(const retry_step&, const retry_step&) noexcept = default;
};

/// A step that fails the call with `reason`, naming the wait refused and the one allowed.
constexpr retry_step refused_step(error reason, std::chrono::nanoseconds requested = {},
                                  std::chrono::nanoseconds allowed = {}) noexcept {
  return retry_step{{action::fail, reason}, {}, delay_source::backoff, requested, allowed};
}

/// The step after an attempt. `next_delay()` returns the backoff schedule's delay for this retry; it is
/// called only when decide() says retry. Order: decide(); the backoff delay; a Retry-After hint replacing it
/// (or failing the call when over the cap); the deadline (a wait that would end at or past it is not
/// started). A retry budget's permission comes after, in the driver: a retry that the cap or the deadline
/// refuses never takes a budget token.
template <class NextDelay>
constexpr retry_step next_step(const retry_config& config, const step_input& in, NextDelay&& next_delay) {
  const decision verdict = decide(config, in.outcome, in.idempotent, in.retries_made);
  if (verdict.next != action::retry) return retry_step{verdict};

  std::chrono::nanoseconds delay = next_delay();
  delay_source source = delay_source::backoff;
  if (in.retry_after && config.respect_retry_after) {
    const std::chrono::nanoseconds cap = config.retry_after_cap();
    if (*in.retry_after > cap) return refused_step(error::retry_after_too_long, *in.retry_after, cap);
    delay = *in.retry_after;
    source = delay_source::retry_after;
  }
  if (in.time_left && delay >= *in.time_left)
    return refused_step(error::deadline_exceeded, delay,
                        std::max(*in.time_left, std::chrono::nanoseconds(0)));
  // Built whole in one return: filling a step field by field, then copying it out, cost a store-forwarding
  // stall that took BM_DecisionPlusDelay from 3 to 20 ns.
  return retry_step{verdict, delay, source};
}

/// The timeout of the next attempt: the smaller of retry_config::attempt_timeout (when set) and the time left
/// until the call's deadline (when it has one, never below zero); none when neither applies.
constexpr std::optional<std::chrono::nanoseconds> attempt_timeout(
    const retry_config& config, std::optional<std::chrono::nanoseconds> time_left) noexcept {
  std::optional<std::chrono::nanoseconds> timeout;
  if (config.attempt_timeout.count() > 0) timeout = config.attempt_timeout;
  if (time_left) {
    const auto remaining = std::max(*time_left, std::chrono::nanoseconds(0));
    if (!timeout || remaining < *timeout) timeout = remaining;
  }
  return timeout;
}

/// Why a call ends before its first attempt, if it does: a stop already requested, or a deadline with no
/// time left.
constexpr std::optional<error> before_first_attempt(
    bool stop_requested, std::optional<std::chrono::nanoseconds> time_left) noexcept {
  if (stop_requested) return error::canceled;
  if (time_left && time_left->count() <= 0) return error::deadline_exceeded;
  return std::nullopt;
}

}  // namespace retryhttp

#endif  // RETRYHTTP_RETRY_STEP_HPP
