#include <retryhttp/clock.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_clock {

// The only unit test on real time: it is what system_clock is. It asserts order and generous upper bounds,
// never exact durations. The wake-up latency itself is measured in benchmarks/ (BM_SystemClockStopLatency).

using namespace std::chrono_literals;
using retryhttp::system_clock;

TEST_CASE("system_clock::sleep_until reaches its time when nothing stops it", "[clock]") {
  std::stop_source never;
  const auto start = system_clock::now();
  CHECK(system_clock::sleep_until(start + 20ms, never.get_token()));
  CHECK(system_clock::now() - start >= 20ms);
  // Without a stop token it sleeps too.
  const auto second = system_clock::now();
  CHECK(system_clock::sleep_until(second + 5ms, {}));
  CHECK(system_clock::now() - second >= 5ms);
  // A time in the past returns at once.
  CHECK(system_clock::sleep_until(second - 1s, never.get_token()));
}

TEST_CASE("system_clock::sleep_until returns false at once when a stop was already requested", "[clock]") {
  std::stop_source source;
  source.request_stop();
  const auto start = system_clock::now();
  CHECK_FALSE(system_clock::sleep_until(start + 1h, source.get_token()));
  CHECK(system_clock::now() - start < 1s);
}

TEST_CASE("a stop requested mid-wait wakes system_clock::sleep_until early", "[clock]") {
  std::stop_source source;
  std::atomic<bool> result{true};
  std::atomic<std::int64_t> woke_ns{0};
  const auto start = system_clock::now();
  std::thread sleeper([&] {
    result = system_clock::sleep_until(start + 30s, source.get_token());
    woke_ns = (system_clock::now() - start).count();
  });
  // Give the sleeper time to start waiting, on the clock under test, then stop it.
  system_clock::sleep_until(start + 50ms, {});
  const auto stopped_at = system_clock::now() - start;
  source.request_stop();
  sleeper.join();
  CHECK_FALSE(result);
  // Generous bound for a loaded CI machine; the typical latency is tens of microseconds (docs/benchmarks.md).
  CHECK(std::chrono::nanoseconds(woke_ns.load()) - stopped_at < 2s);
}

TEST_CASE("system_clock is steady and empty", "[clock]") {
  STATIC_REQUIRE(system_clock::is_steady);
  STATIC_REQUIRE(std::is_empty_v<system_clock>);
  STATIC_REQUIRE(retryhttp::Clock<system_clock>);
}

}  // namespace test_clock
