#ifndef RETRYHTTP_OBSERVER_HPP
#define RETRYHTTP_OBSERVER_HPP

// Observability hooks, chosen at compile time: basic_client's Observer parameter may have any of
// on_attempt(const attempt_event&), on_retry(const retry_event&) and on_give_up(const give_up_event&). The
// client calls only the ones that exist (if constexpr), so an observer without a hook, or no_observer, costs
// nothing: no call, no event built, no storage ([[no_unique_address]]). BM_Send/observer in benchmarks/ shows
// it.

#include <retryhttp/decision.hpp>
#include <retryhttp/error.hpp>
#include <retryhttp/idempotency.hpp>
#include <retryhttp/retry_step.hpp>
#include <retryhttp/transport.hpp>

#include <chrono>
#include <string_view>

namespace retryhttp {

/// After each attempt.
struct attempt_event {
  const request_header& request;
  unsigned attempt;                   ///< 1-based
  unsigned max_attempts;              ///< max_retries + 1
  observed_outcome outcome;           ///< status, or failure kind
  const transport_failure* failure;   ///< the failure, or nullptr for a response
  std::chrono::nanoseconds duration;  ///< on the client's clock
  std::string_view endpoint{};        ///< where the attempt went, if the Transport says (attempt_outcome)
};

/// Before each wait.
struct retry_event {
  const request_header& request;
  unsigned next_attempt;
  unsigned max_attempts;
  std::chrono::nanoseconds delay;
  delay_source source;
};

/// When a call fails (not when a response is delivered).
struct give_up_event {
  const request_header& request;
  error reason;
  unsigned attempts;
  std::chrono::nanoseconds requested_wait;  ///< the wait that was not started (deadline, Retry-After), or 0
};

/// The default: observes nothing, costs nothing.
struct no_observer {};

namespace detail {
template <class O>
concept observes_attempts = requires(O& observer, const attempt_event& event) {
  observer.on_attempt(event);
};
template <class O>
concept observes_retries = requires(O& observer, const retry_event& event) {
  observer.on_retry(event);
};
template <class O>
concept observes_give_ups = requires(O& observer, const give_up_event& event) {
  observer.on_give_up(event);
};
}  // namespace detail

}  // namespace retryhttp

#endif  // RETRYHTTP_OBSERVER_HPP
