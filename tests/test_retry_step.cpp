#include <retryhttp/retry_step.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_retry_step {

// The one step every driver calls after an attempt: the rules in their order, and what the step asks of the
// caller (the backoff delay, only when a retry is possible).

using namespace std::chrono_literals;
using retryhttp::action;
using retryhttp::delay_source;
using retryhttp::error;
using retryhttp::next_step;
using retryhttp::observed_outcome;
using retryhttp::retry_config;
using retryhttp::step_input;
using std::chrono::nanoseconds;

namespace {
constexpr auto fixed_delay = [] { return nanoseconds(700ms); };

// The step is constexpr: its headline cases hold at compile time.
static_assert(next_step(retry_config{}, step_input{observed_outcome::response(200), true, 0, {}, {}},
                        fixed_delay)
                  .verdict.next
              == action::deliver);
static_assert(
    next_step(retry_config{}, step_input{observed_outcome::response(503), true, 0, {}, {}}, fixed_delay).delay
    == nanoseconds(700ms));
static_assert(next_step(retry_config{}, step_input{observed_outcome::ambiguous(), false, 0, {}, {}},
                        fixed_delay)
                  .verdict.reason
              == error::may_have_been_applied);
}  // namespace

TEST_CASE("the backoff delay is asked for only when the rules allow a retry, once", "[retry_step]") {
  int asked = 0;
  const auto counting = [&] {
    ++asked;
    return nanoseconds(250ms);
  };
  const retry_config config;
  SECTION("a delivered response never draws a delay") {
    const auto step = next_step(config, {observed_outcome::response(200), true, 0, {}, {}}, counting);
    CHECK(step.verdict.next == action::deliver);
    CHECK(asked == 0);
  }
  SECTION("a create that may have been applied never draws a delay") {
    const auto step = next_step(config, {observed_outcome::ambiguous(), false, 0, {}, {}}, counting);
    CHECK(step.verdict.reason == error::may_have_been_applied);
    CHECK(asked == 0);
  }
  SECTION("retries exhausted never draws a delay") {
    const auto step = next_step(config, {observed_outcome::response(503), true, 3, {}, {}}, counting);
    CHECK(step.verdict.reason == error::retries_exhausted);
    CHECK(asked == 0);
  }
  SECTION("a retry draws one, and waits it") {
    const auto step = next_step(config, {observed_outcome::response(503), true, 0, {}, {}}, counting);
    CHECK(step.retries());
    CHECK(step.delay == nanoseconds(250ms));
    CHECK(step.source == delay_source::backoff);
    CHECK(asked == 1);
  }
  SECTION("a retry the server times still draws one, so a stateful schedule stays in step") {
    const auto step =
        next_step(config, {observed_outcome::response(503), true, 0, nanoseconds(2s), {}}, counting);
    CHECK(step.delay == nanoseconds(2s));
    CHECK(step.source == delay_source::retry_after);
    CHECK(asked == 1);
  }
}

TEST_CASE("Retry-After replaces the backoff up to its cap; past the cap the call fails naming both",
          "[retry_step]") {
  retry_config config;
  config.retry_after_max = 5s;
  const auto over =
      next_step(config, {observed_outcome::response(503), true, 0, nanoseconds(6s), {}}, fixed_delay);
  CHECK(over == retryhttp::refused_step(error::retry_after_too_long, 6s, 5s));
  const auto at_cap =
      next_step(config, {observed_outcome::response(503), true, 0, nanoseconds(5s), {}}, fixed_delay);
  CHECK(at_cap.retries());
  CHECK(at_cap.delay == nanoseconds(5s));
  config.respect_retry_after = false;
  const auto ignored =
      next_step(config, {observed_outcome::response(503), true, 0, nanoseconds(60s), {}}, fixed_delay);
  CHECK(ignored.delay == nanoseconds(700ms));
  CHECK(ignored.source == delay_source::backoff);
}

TEST_CASE("a wait that would end at or past the deadline is not started", "[retry_step]") {
  const retry_config config;
  const auto in_time =
      next_step(config, {observed_outcome::response(503), true, 0, {}, nanoseconds(701ms)}, fixed_delay);
  CHECK(in_time.retries());
  const auto at_deadline =
      next_step(config, {observed_outcome::response(503), true, 0, {}, nanoseconds(700ms)}, fixed_delay);
  CHECK(at_deadline == retryhttp::refused_step(error::deadline_exceeded, 700ms, 700ms));
  const auto past =
      next_step(config, {observed_outcome::response(503), true, 0, {}, nanoseconds(-5ms)}, fixed_delay);
  CHECK(past == retryhttp::refused_step(error::deadline_exceeded, 700ms, 0ns));
  // The cap is checked first: a hint over it is refused as such even when the deadline would refuse it too.
  retry_config capped;
  capped.retry_after_max = 1s;
  const auto both = next_step(
      capped, {observed_outcome::response(503), true, 0, nanoseconds(9s), nanoseconds(2s)}, fixed_delay);
  CHECK(both.verdict.reason == error::retry_after_too_long);
}

TEST_CASE("an attempt's timeout is the smaller of its own and the time left", "[retry_step]") {
  retry_config config;
  CHECK_FALSE(retryhttp::attempt_timeout(config, std::nullopt));
  CHECK(retryhttp::attempt_timeout(config, nanoseconds(3s)) == nanoseconds(3s));
  CHECK(retryhttp::attempt_timeout(config, nanoseconds(-1s)) == nanoseconds(0));
  config.attempt_timeout = 2s;
  CHECK(retryhttp::attempt_timeout(config, std::nullopt) == nanoseconds(2s));
  CHECK(retryhttp::attempt_timeout(config, nanoseconds(3s)) == nanoseconds(2s));
  CHECK(retryhttp::attempt_timeout(config, nanoseconds(1s)) == nanoseconds(1s));
}

TEST_CASE("a call ends before its first attempt on a stop, then on a deadline with no time left",
          "[retry_step]") {
  CHECK_FALSE(retryhttp::before_first_attempt(false, std::nullopt));
  CHECK_FALSE(retryhttp::before_first_attempt(false, nanoseconds(1)));
  CHECK(retryhttp::before_first_attempt(false, nanoseconds(0)) == error::deadline_exceeded);
  CHECK(retryhttp::before_first_attempt(true, nanoseconds(0)) == error::canceled);
  CHECK(retryhttp::before_first_attempt(true, std::nullopt) == error::canceled);
}

}  // namespace test_retry_step
