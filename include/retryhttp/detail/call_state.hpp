#ifndef RETRYHTTP_DETAIL_CALL_STATE_HPP
#define RETRYHTTP_DETAIL_CALL_STATE_HPP

// The per-call state of the retry loop, apart from any driver: how many attempts were made and the call's
// backoff schedule, with the side effects that go with a step: the retry budget's accounting of each outcome
// and its withdrawal for each retry. The rules themselves are next_step() (retry_step.hpp).
// basic_client::send and the asynchronous driver both hold one of these per call, so both follow one set of
// rules.

#include <retryhttp/backoff.hpp>
#include <retryhttp/budget.hpp>
#include <retryhttp/config.hpp>
#include <retryhttp/retry_step.hpp>

#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>

namespace retryhttp::detail {

template <BackoffSchedule Schedule>
class call_state {
 public:
  using step = retry_step;

  explicit call_state(Schedule schedule) noexcept(std::is_nothrow_move_constructible_v<Schedule>)
      : schedule_(std::move(schedule)) {}

  /// Number of attempts made so far; the next attempt's number is attempts() + 1.
  unsigned attempts() const noexcept { return attempts_; }
  /// Time spent in waits between attempts, as the driver measured it (only when an observer asks for it).
  std::chrono::nanoseconds waited() const noexcept { return waited_; }
  void add_wait(std::chrono::nanoseconds wait) noexcept { waited_ += wait; }

  /// Records one attempt's outcome and says what to do next (and, for a retry, how long to wait first).
  /// `retry_after`: the server's hint, if any; `time_left`: until the call's deadline, if it has one;
  /// `budget`: the shared retry budget, if any.
  retry_step after_attempt(const retry_config& config, observed_outcome outcome, bool idempotent,
                           std::optional<std::chrono::nanoseconds> retry_after = std::nullopt,
                           std::optional<std::chrono::nanoseconds> time_left = std::nullopt,
                           retry_budget* budget = nullptr) {
    const unsigned retries_made = attempts_++;
    if (budget) {
      const bool transient =
          outcome.what != observed_outcome::kind::response || config.retry_on.contains(outcome.status);
      if (transient)
        budget->on_transient_failure();
      else
        budget->on_success();
    }
    const retry_step next =
        next_step(config, step_input{outcome, idempotent, retries_made, retry_after, time_left},
                  [&] { return schedule_.next_delay(retries_made); });
    if (next.retries() && budget && !budget->try_retry()) return refused_step(error::budget_exhausted);
    return next;
  }

 private:
  Schedule schedule_;
  unsigned attempts_ = 0;
  std::chrono::nanoseconds waited_{0};
};

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_CALL_STATE_HPP
