#ifndef RETRYHTTP_TESTING_FAKE_CLOCK_HPP
#define RETRYHTTP_TESTING_FAKE_CLOCK_HPP

// Virtual time for tests. Nothing here reads the wall clock or blocks: a wait moves virtual time forward at
// once, running the events scheduled on the way (such as a stop request), and is recorded so a test can
// assert every delay exactly. Copies share one timeline, so a test, a fake_transport and a client can each
// hold one.

#include <retryhttp/testing/impl/config.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <utility>
#include <vector>

namespace retryhttp::testing {

class fake_clock {
 public:
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<fake_clock, duration>;
  static constexpr bool is_steady = true;

  /// One sleep_until() call, as the client made it.
  struct recorded_wait {
    time_point from;   ///< when the wait began
    time_point until;  ///< when it was asked to end
    time_point woke;   ///< when it ended: `until`, or the instant of the stop that interrupted it
    bool interrupted;  ///< ended by a stop request

    duration requested() const noexcept { return until - from; }
    duration waited() const noexcept { return woke - from; }
  };

  /// The wall-clock time at a new timeline's start, unless given: 2026-01-01T00:00:00Z.
  static constexpr std::chrono::sys_seconds default_wall_origin{std::chrono::seconds{1'767'225'600}};

  /// A new timeline, starting at `start`; its wall clock reads `wall_origin` then.
  explicit fake_clock(time_point start = time_point{},
                      std::chrono::system_clock::time_point wall_origin = default_wall_origin)
      : state_(make_state(start, wall_origin)) {}

  time_point now() const {
    std::lock_guard lock(state_->mutex);
    return state_->now;
  }

  /// Wall-clock time that moves with virtual time: what a Retry-After HTTP-date is measured against when the
  /// response has no Date header.
  std::chrono::system_clock::time_point wall_now() const {
    std::lock_guard lock(state_->mutex);
    return state_->wall_origin
           + std::chrono::duration_cast<std::chrono::system_clock::duration>(state_->now - state_->start);
  }

  /// The Clock requirement: passes virtual time up to `until`, running due events in time order. Returns
  /// false at the instant a stop is requested on `stop` (by an event or before the call), true once `until`
  /// is reached. Waiting until time_point::max() with nothing that stops it is a test bug and throws
  /// std::logic_error.
  bool sleep_until(time_point until, std::stop_token stop = {}) { return pass_time(until, stop, true); }

  /// Like sleep_until, but not recorded as a wait: time spent inside an attempt (fake_transport latency).
  bool elapse_until(time_point until, std::stop_token stop = {}) { return pass_time(until, stop, false); }

  /// Moves time forward by `step`, running due events; nothing can interrupt it.
  void advance(duration step) { pass_time(now() + step, {}, false); }

  /// Runs `event` when virtual time reaches `when` (at once on the next pass if `when` is already past).
  /// Events at the same instant run in the order they were scheduled. Returns the event's id, for cancel().
  std::uint64_t at(time_point when, std::function<void()> event);
  std::uint64_t after(duration delay, std::function<void()> event) {
    return at(now() + delay, std::move(event));
  }

  /// Removes a scheduled event that has not run yet; false when it has run or was removed before.
  bool cancel(std::uint64_t id);

  /// Moves time to the earliest scheduled event and runs every event due then. Returns false, and leaves
  /// time as it is, when nothing is scheduled. This drives asynchronous waits and attempts in virtual time: a
  /// test runs its io_context until nothing is ready, calls this, and repeats.
  bool run_next_event();

  /// Adds a wait made elsewhere (an asynchronous wait) to the record that waits() returns.
  void record_wait(const recorded_wait& wait);

  /// Requests a stop on `source` at the virtual instant `when`: "canceled mid-wait", exactly.
  void request_stop_at(time_point when, std::stop_source source) {
    at(when, [source]() mutable { source.request_stop(); });
  }

  std::vector<recorded_wait> waits() const;
  /// The requested length of each recorded wait, in order: the delays the client chose.
  std::vector<duration> requested_delays() const;
  void clear_waits();

  /// The time since the clock's start.
  duration elapsed() const {
    std::lock_guard lock(state_->mutex);
    return state_->now - state_->start;
  }

 private:
  struct scheduled_event {
    time_point when;
    std::uint64_t sequence;
    std::function<void()> run;
  };
  struct state {
    explicit state(time_point start_time) : start(start_time), now(start_time) {}
    std::mutex mutex;
    time_point start;
    time_point now;
    std::chrono::system_clock::time_point wall_origin;
    std::uint64_t next_sequence = 0;
    std::vector<scheduled_event> events;
    std::vector<recorded_wait> waits;
  };

  static std::shared_ptr<state> make_state(time_point start,
                                           std::chrono::system_clock::time_point wall_origin);
  bool pass_time(time_point until, const std::stop_token& stop, bool record);
  bool finish(time_point from, time_point until, time_point woke, bool interrupted, bool record);

  std::shared_ptr<state> state_;
};

}  // namespace retryhttp::testing

#if !defined(RETRYHTTP_SEPARATE_COMPILATION)
#include <retryhttp/testing/impl/fake_clock.ipp>
#endif

#endif  // RETRYHTTP_TESTING_FAKE_CLOCK_HPP
