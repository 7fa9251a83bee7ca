#ifndef RETRYHTTP_CLOCK_HPP
#define RETRYHTTP_CLOCK_HPP

// The Clock concept and the real clock. The client reads time and waits only through its Clock, which is the
// seam where testing::fake_clock substitutes virtual time.

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

namespace retryhttp {

/// now() and an interruptible wait. See docs/concepts/Clock.md for the requirements table.
///
/// The time arithmetic required is the client's own (client.hpp, async.hpp): a delay rounded *up* to
/// C::duration and added to now(), and the time between two readings in nanoseconds. So a clock coarser than
/// nanoseconds with an integer rep (std::chrono::milliseconds) is a Clock: it waits at least the delay asked.
/// (`t + std::chrono::nanoseconds{}` is not required: for such a clock it is a finer time_point, which does
/// not convert back.)
template <class C>
concept Clock = requires {
  typename C::duration;
  typename C::time_point;
}
&&requires(C& clock, const C& const_clock, typename C::time_point until, std::stop_token stop) {
  { const_clock.now() } -> std::same_as<typename C::time_point>;
  { clock.sleep_until(until, stop) } -> std::same_as<bool>;
  {
    until + std::chrono::ceil<typename C::duration>(std::chrono::nanoseconds{})
    } -> std::convertible_to<typename C::time_point>;
  std::chrono::duration_cast<std::chrono::nanoseconds>(until - until);
};

/// The real clock: std::chrono::steady_clock, so a change of the wall-clock time never shortens or stretches
/// a backoff. Stateless and empty: a client holding it pays no storage for it.
struct system_clock {
  using clock_type = std::chrono::steady_clock;
  using duration = clock_type::duration;
  using time_point = clock_type::time_point;
  static constexpr bool is_steady = true;

  static time_point now() noexcept { return clock_type::now(); }

  /// Waits until `until` or until `stop` is requested, whichever comes first; returns true when the time was
  /// reached, false when stopped. A stop requested before the call returns false at once. The wake-up on a
  /// stop is driven by the stop callback that condition_variable_any registers, not by polling.
  static bool sleep_until(time_point until, std::stop_token stop) {
    if (stop.stop_requested()) return false;
    if (!stop.stop_possible()) {
      std::this_thread::sleep_until(until);
      return true;
    }
    std::mutex mutex;
    std::condition_variable_any wakeup;
    std::unique_lock lock(mutex);
    // The predicate is "never satisfied": only the deadline or the stop ends the wait.
    wakeup.wait_until(lock, stop, until, [] { return false; });
    return !stop.stop_requested();
  }
};

}  // namespace retryhttp

#endif  // RETRYHTTP_CLOCK_HPP
