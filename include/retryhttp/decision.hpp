#ifndef RETRYHTTP_DECISION_HPP
#define RETRYHTTP_DECISION_HPP

// The retry decision as a pure function: given the config, what the attempt produced, whether the request is
// safe to re-send and how many retries were made, say whether to deliver, retry or fail, and why. Both the
// synchronous driver (basic_client::send) and an asynchronous one call this; neither decides on its own.

#include <retryhttp/config.hpp>
#include <retryhttp/error.hpp>

namespace retryhttp {

/// What the decision needs to know of an attempt's outcome: a status, or which kind of transport failure and
/// whether sending the request again could end any other way.
struct observed_outcome {
  enum class kind : unsigned char { response, not_sent, ambiguous };

  kind what = kind::response;
  unsigned status = 0;  // when what == kind::response
  /// A failure that would happen again (a response over a size limit, a request that cannot be written).
  bool permanent = false;

  static constexpr observed_outcome response(unsigned status) noexcept {
    return {kind::response, status, false};
  }
  static constexpr observed_outcome not_sent(bool permanent = false) noexcept {
    return {kind::not_sent, 0, permanent};
  }
  static constexpr observed_outcome ambiguous(bool permanent = false) noexcept {
    return {kind::ambiguous, 0, permanent};
  }

  friend constexpr bool operator==(const observed_outcome&, const observed_outcome&) noexcept = default;
};

enum class action : unsigned char {
  deliver,  ///< the response is the call's result (any status that is not retried, 2xx or 4xx alike)
  retry,    ///< wait the backoff delay, then send again
  fail,     ///< stop; the call fails with `reason`, carrying the last outcome
};

constexpr const char* to_string(action next) noexcept {
  switch (next) {
    case action::deliver:
      return "deliver";
    case action::retry:
      return "retry";
    case action::fail:
      return "fail";
  }
  return "?";
}

struct decision {
  action next = action::deliver;
  /// Why the call fails; meaningful only when next == action::fail.
  error reason{};

  friend constexpr bool operator==(const decision&, const decision&) noexcept = default;
};

/// The retry rules. `retries_made` counts re-sends before this outcome (0 after the first attempt).
///  - a status not in retry_on (2xx, 4xx, 500, ...) is delivered, never retried;
///  - a request that is not idempotent is never re-sent after an ambiguous failure or a retryable status:
///    it may have been applied (error::may_have_been_applied);
///  - a not-idempotent request whose attempt provably sent nothing is retried only when
///    retry_unsafe_when_not_sent is on (else error::not_retryable);
///  - a permanent failure (sending again would fail the same way) is never retried
///    (error::permanent_failure);
///  - anything else transient is retried until max_retries re-sends were made (then
///  error::retries_exhausted).
constexpr decision decide(const retry_config& config, observed_outcome outcome, bool idempotent,
                          unsigned retries_made) noexcept {
  using kind = observed_outcome::kind;
  if (outcome.what == kind::response && !config.retry_on.contains(outcome.status))
    return {action::deliver, {}};
  if (!idempotent) {
    if (outcome.what != kind::not_sent) return {action::fail, error::may_have_been_applied};
    if (!config.retry_unsafe_when_not_sent) return {action::fail, error::not_retryable};
  }
  if (outcome.permanent) return {action::fail, error::permanent_failure};
  if (retries_made >= config.max_retries) return {action::fail, error::retries_exhausted};
  return {action::retry, {}};
}

}  // namespace retryhttp

#endif  // RETRYHTTP_DECISION_HPP
