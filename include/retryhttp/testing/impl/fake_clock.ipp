#ifndef RETRYHTTP_TESTING_IMPL_FAKE_CLOCK_IPP
#define RETRYHTTP_TESTING_IMPL_FAKE_CLOCK_IPP

// fake_clock's functions (see impl/config.hpp for where they are compiled).

#include <retryhttp/testing/fake_clock.hpp>

#include <algorithm>

namespace retryhttp::testing {

RETRYHTTP_TESTING_DECL std::shared_ptr<fake_clock::state> fake_clock::make_state(
    time_point start, std::chrono::system_clock::time_point wall_origin) {
  // Not make_shared: its in-place control block instantiates allocator machinery for each type, which every
  // test with the fakes would compile; the fakes' shared state is made once per fake.
  std::shared_ptr<state> made(new state(start));
  made->wall_origin = wall_origin;
  return made;
}

RETRYHTTP_TESTING_DECL std::uint64_t fake_clock::at(time_point when, std::function<void()> event) {
  std::lock_guard lock(state_->mutex);
  const std::uint64_t id = state_->next_sequence++;
  state_->events.push_back({when, id, std::move(event)});
  return id;
}

RETRYHTTP_TESTING_DECL bool fake_clock::cancel(std::uint64_t id) {
  std::lock_guard lock(state_->mutex);
  const auto found = std::find_if(state_->events.begin(), state_->events.end(),
                                  [id](const scheduled_event& event) { return event.sequence == id; });
  if (found == state_->events.end()) return false;
  state_->events.erase(found);
  return true;
}

RETRYHTTP_TESTING_DECL bool fake_clock::run_next_event() {
  time_point next;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->events.empty()) return false;
    next =
        std::min_element(state_->events.begin(), state_->events.end(),
                         [](const scheduled_event& a, const scheduled_event& b) { return a.when < b.when; })
            ->when;
  }
  pass_time(std::max(next, now()), {}, false);
  return true;
}

RETRYHTTP_TESTING_DECL void fake_clock::record_wait(const recorded_wait& wait) {
  std::lock_guard lock(state_->mutex);
  state_->waits.push_back(wait);
}

RETRYHTTP_TESTING_DECL std::vector<fake_clock::recorded_wait> fake_clock::waits() const {
  std::lock_guard lock(state_->mutex);
  return state_->waits;
}

RETRYHTTP_TESTING_DECL std::vector<fake_clock::duration> fake_clock::requested_delays() const {
  std::vector<duration> delays;
  for (const auto& wait : waits()) delays.push_back(wait.requested());
  return delays;
}

RETRYHTTP_TESTING_DECL void fake_clock::clear_waits() {
  std::lock_guard lock(state_->mutex);
  state_->waits.clear();
}

RETRYHTTP_TESTING_DECL bool fake_clock::pass_time(time_point until, const std::stop_token& stop,
                                                  bool record) {
  const time_point from = now();
  if (stop.stop_requested()) return finish(from, until, from, true, record);
  for (;;) {
    std::function<void()> event;
    {
      std::lock_guard lock(state_->mutex);
      auto due = std::min_element(state_->events.begin(), state_->events.end(),
                                  [](const scheduled_event& a, const scheduled_event& b) {
                                    return a.when != b.when ? a.when < b.when : a.sequence < b.sequence;
                                  });
      if (due == state_->events.end() || due->when > until) break;
      state_->now = std::max(state_->now, due->when);
      event = std::move(due->run);
      state_->events.erase(due);
    }
    event();  // outside the lock: an event may schedule more events or read the time
    if (stop.stop_requested()) return finish(from, until, now(), true, record);
  }
  if (until == time_point::max())
    throw std::logic_error("fake_clock: waiting forever with no scheduled event that stops the wait");
  std::lock_guard lock(state_->mutex);
  state_->now = std::max(state_->now, until);
  if (record) state_->waits.push_back({from, until, state_->now, false});
  return true;
}

RETRYHTTP_TESTING_DECL bool fake_clock::finish(time_point from, time_point until, time_point woke,
                                               bool interrupted, bool record) {
  if (record) {
    std::lock_guard lock(state_->mutex);
    state_->waits.push_back({from, until, woke, interrupted});
  }
  return !interrupted;
}

}  // namespace retryhttp::testing

#endif  // RETRYHTTP_TESTING_IMPL_FAKE_CLOCK_IPP
