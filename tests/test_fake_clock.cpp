#include <retryhttp/testing/fake_clock.hpp>

#include <retryhttp/clock.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stop_token>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_fake_clock {

using namespace std::chrono_literals;
using retryhttp::testing::fake_clock;

TEST_CASE("fake_clock models Clock and starts at its given instant", "[fake_clock]") {
  STATIC_REQUIRE(retryhttp::Clock<fake_clock>);
  fake_clock clock;
  CHECK(clock.now() == fake_clock::time_point{});
  fake_clock later{fake_clock::time_point{5s}};
  CHECK(later.now().time_since_epoch() == 5s);
  CHECK(later.elapsed() == 0s);
}

TEST_CASE("sleep_until moves virtual time at once and records the wait", "[fake_clock]") {
  fake_clock clock;
  CHECK(clock.sleep_until(clock.now() + 750ms));
  CHECK(clock.now().time_since_epoch() == 750ms);
  CHECK(clock.sleep_until(clock.now() + 2s, {}));
  const auto waits = clock.waits();
  REQUIRE(waits.size() == 2);
  CHECK(waits[0].requested() == 750ms);
  CHECK(waits[1].from.time_since_epoch() == 750ms);
  CHECK(waits[1].waited() == 2s);
  CHECK_FALSE(waits[1].interrupted);
  CHECK(clock.requested_delays() == std::vector<std::chrono::nanoseconds>{750ms, 2s});
  // A time in the past does not move time backwards.
  CHECK(clock.sleep_until(fake_clock::time_point{1s}));
  CHECK(clock.now().time_since_epoch() == 2750ms);
  clock.clear_waits();
  CHECK(clock.waits().empty());
}

TEST_CASE("copies share one timeline", "[fake_clock]") {
  fake_clock clock;
  fake_clock copy = clock;  // NOLINT(performance-unnecessary-copy-initialization)
  copy.advance(3s);
  CHECK(clock.now().time_since_epoch() == 3s);
}

TEST_CASE("events run when time reaches them, in time order, and may schedule more", "[fake_clock]") {
  fake_clock clock;
  std::vector<int> order;
  clock.at(fake_clock::time_point{2s}, [&] { order.push_back(2); });
  clock.at(fake_clock::time_point{1s}, [&] {
    order.push_back(1);
    clock.after(500ms, [&] { order.push_back(15); });
  });
  clock.at(fake_clock::time_point{2s}, [&] { order.push_back(22); });
  clock.at(fake_clock::time_point{9s}, [&] { order.push_back(9); });
  clock.advance(5s);
  CHECK(order == std::vector<int>{1, 15, 2, 22});
  CHECK(clock.now().time_since_epoch() == 5s);
}

TEST_CASE("a stop at a virtual instant ends the wait exactly there", "[fake_clock]") {
  fake_clock clock;
  std::stop_source source;
  clock.request_stop_at(fake_clock::time_point{1200ms}, source);
  CHECK_FALSE(clock.sleep_until(fake_clock::time_point{10s}, source.get_token()));
  CHECK(clock.now().time_since_epoch() == 1200ms);
  const auto waits = clock.waits();
  REQUIRE(waits.size() == 1);
  CHECK(waits[0].interrupted);
  CHECK(waits[0].requested() == 10s);
  CHECK(waits[0].waited() == 1200ms);
  // Once stopped, further waits return false at once without moving time.
  CHECK_FALSE(clock.sleep_until(fake_clock::time_point{20s}, source.get_token()));
  CHECK(clock.now().time_since_epoch() == 1200ms);
}

TEST_CASE("a stop scheduled after the wait's end does not interrupt it", "[fake_clock]") {
  fake_clock clock;
  std::stop_source source;
  clock.request_stop_at(fake_clock::time_point{5s}, source);
  CHECK(clock.sleep_until(fake_clock::time_point{4s}, source.get_token()));
  CHECK_FALSE(source.stop_requested());
}

TEST_CASE("elapse_until passes time without recording a wait", "[fake_clock]") {
  fake_clock clock;
  CHECK(clock.elapse_until(fake_clock::time_point{300ms}));
  CHECK(clock.now().time_since_epoch() == 300ms);
  CHECK(clock.waits().empty());
}

TEST_CASE("waiting forever with nothing to stop it is a test bug", "[fake_clock]") {
  fake_clock clock;
  CHECK_THROWS_AS(clock.sleep_until(fake_clock::time_point::max()), std::logic_error);
  std::stop_source source;
  clock.request_stop_at(fake_clock::time_point{1s}, source);
  CHECK_FALSE(clock.sleep_until(fake_clock::time_point::max(), source.get_token()));
  CHECK(clock.now().time_since_epoch() == 1s);
}

}  // namespace test_fake_clock
