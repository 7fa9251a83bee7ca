#ifndef RETRYHTTP_DETAIL_CALL_STATE_HPP
#define RETRYHTTP_DETAIL_CALL_STATE_HPP

// The per-call state of the retry loop, apart from any driver: how many attempts were made and the call's
// backoff schedule. basic_client::send drives it synchronously; async_send will drive the same object from an
// async_compose state machine, so both follow one set of rules.

#include <retryhttp/backoff.hpp>
#include <retryhttp/config.hpp>
#include <retryhttp/decision.hpp>

#include <chrono>
#include <utility>

namespace retryhttp::detail {

template <BackoffSchedule Schedule>
class call_state {
 public:
  struct step {
    decision verdict;
    std::chrono::nanoseconds delay{
        0};  // the wait before the next attempt, when verdict.next == action::retry
  };

  explicit call_state(Schedule schedule) noexcept(std::is_nothrow_move_constructible_v<Schedule>)
      : schedule_(std::move(schedule)) {}

  /// Number of attempts made so far; the next attempt's number is attempts() + 1.
  unsigned attempts() const noexcept { return attempts_; }

  /// Records one attempt's outcome and says what to do next (and, for a retry, how long to wait first).
  step after_attempt(const retry_config& config, observed_outcome outcome, bool idempotent) {
    const unsigned retries_made = attempts_++;
    step next{decide(config, outcome, idempotent, retries_made)};
    if (next.verdict.next == action::retry) next.delay = schedule_.next_delay(retries_made);
    return next;
  }

 private:
  Schedule schedule_;
  unsigned attempts_ = 0;
};

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_CALL_STATE_HPP
