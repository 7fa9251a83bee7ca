#ifndef RETRYHTTP_OBSERVER_HPP
#define RETRYHTTP_OBSERVER_HPP

// Observability hooks, chosen at compile time: basic_client's Observer parameter may have any of
// on_attempt(const attempt_event&), on_retry(const retry_event&), on_give_up(const give_up_event&) and
// on_call_end(const call_end_event&). The
// client calls only the ones that exist (if constexpr), so an observer without a hook, or no_observer, costs
// nothing: no call, no event built, no storage ([[no_unique_address]]). BM_Send/observer in benchmarks/ shows
// it. A member with a hook's name that cannot be called so is a compile-time error (observer_hook_check).

#include <retryhttp/decision.hpp>
#include <retryhttp/detail/member_name.hpp>
#include <retryhttp/error.hpp>
#include <retryhttp/idempotency.hpp>
#include <retryhttp/retry_step.hpp>
#include <retryhttp/transport.hpp>

#include <chrono>
#include <string_view>
#include <type_traits>

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
  std::chrono::nanoseconds allowed_wait{};  ///< what was allowed instead (the time left, the cap), or 0
};

/// When a call ends, delivered or failed: one event per call, the place for per-call metrics.
struct call_end_event {
  const request_header& request;
  unsigned attempts;                ///< 0 when the call ended before its first attempt
  bool delivered;                   ///< a response was delivered (any status the client does not retry)
  error reason;                     ///< why it failed, when !delivered
  std::chrono::nanoseconds waited;  ///< time spent between attempts (the waits), on the client's clock
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
template <class O>
concept observes_call_ends = requires(O& observer, const call_end_event& event) {
  observer.on_call_end(event);
};

// A hook with a wrong signature must not be skipped in silence, as a missing one is: names_on_attempt<O>()
// and the others say whether O has a member of the hook's name at all (detail/member_name.hpp).
RETRYHTTP_DETAIL_MEMBER_NAME_PROBE(on_attempt)
RETRYHTTP_DETAIL_MEMBER_NAME_PROBE(on_retry)
RETRYHTTP_DETAIL_MEMBER_NAME_PROBE(on_give_up)
RETRYHTTP_DETAIL_MEMBER_NAME_PROBE(on_call_end)

/// Each hook O names is callable as the client calls it (an O& and a const event&); a hook O does not name is
/// fine.
template <class O>
concept on_attempt_is_callable = !names_on_attempt<O>() || observes_attempts<O>;
template <class O>
concept on_retry_is_callable = !names_on_retry<O>() || observes_retries<O>;
template <class O>
concept on_give_up_is_callable = !names_on_give_up<O>() || observes_give_ups<O>;
template <class O>
concept on_call_end_is_callable = !names_on_call_end<O>() || observes_call_ends<O>;
template <class O>
concept observer_hooks_are_callable = on_attempt_is_callable<O> && on_retry_is_callable<
    O> && on_give_up_is_callable<O> && on_call_end_is_callable<O>;

/// basic_client's check of its Observer parameter: one error per hook that is there but cannot be called.
template <class O>
struct observer_hook_check {
  static_assert(on_attempt_is_callable<O>,
                "retryhttp: Observer::on_attempt must be callable with const attempt_event&");
  static_assert(on_retry_is_callable<O>,
                "retryhttp: Observer::on_retry must be callable with const retry_event&");
  static_assert(on_give_up_is_callable<O>,
                "retryhttp: Observer::on_give_up must be callable with const give_up_event&");
  static_assert(on_call_end_is_callable<O>,
                "retryhttp: Observer::on_call_end must be callable with const call_end_event&");
  static constexpr bool value = observer_hooks_are_callable<O>;
};
}  // namespace detail

}  // namespace retryhttp

#endif  // RETRYHTTP_OBSERVER_HPP
