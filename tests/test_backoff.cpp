#include <retryhttp/backoff.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_backoff {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
namespace rh = retryhttp;

namespace {
template <class Policy>
std::vector<nanoseconds> first_delays(const Policy& policy, unsigned count, nanoseconds base = 500ms,
                                      nanoseconds cap = 10s) {
  auto schedule = policy.start(base, cap);
  std::vector<nanoseconds> delays;
  for (unsigned n = 0; n < count; ++n) delays.push_back(schedule.next_delay(n));
  return delays;
}
constexpr nanoseconds capped(unsigned n, nanoseconds base = 500ms, nanoseconds cap = 10s) {
  return nanoseconds(rh::detail::capped_exponential(base.count(), cap.count(), n));
}
}  // namespace

TEST_CASE("the capped exponential is min(base * 2^n, cap) and saturates", "[backoff]") {
  CHECK(capped(0) == 500ms);
  CHECK(capped(1) == 1s);
  CHECK(capped(2) == 2s);
  CHECK(capped(3) == 4s);
  CHECK(capped(4) == 8s);
  CHECK(capped(5) == 10s);
  CHECK(capped(62) == 10s);
  CHECK(capped(63) == 10s);
  CHECK(capped(64) == 10s);
  CHECK(capped(INT_MAX) == 10s);
  CHECK(capped(UINT_MAX) == 10s);
  // A cap at the edge of int64 still never overflows.
  const auto huge = nanoseconds(INT64_MAX);
  CHECK(capped(62, 1ns, huge) == nanoseconds(std::int64_t{1} << 62));
  CHECK(capped(63, 1ns, huge) == huge);
  CHECK(capped(INT_MAX, 3ns, huge) == huge);
  // Degenerate bounds.
  CHECK(capped(0, 0ns, 10s) == 0ns);
  CHECK(capped(5, 0ns, 0ns) == 0ns);
  CHECK(capped(0, 20s, 10s) == 10s);  // base above cap: the cap
  CHECK(capped(3, -5ns, 10s) == 0ns);
}

TEST_CASE("exponential_backoff is the ticket's formula: every delay in [d, 1.5 d) over 1,000 seeds",
          "[backoff]") {
  // d = min(base * 2^n, max); delay = d + uniform[0, d/2). Eight retries reach the cap and stay there.
  constexpr unsigned retries = 8;
  std::vector<double> jitter_share_sum(retries, 0.0);
  for (std::uint64_t seed = 0; seed < 1000; ++seed) {
    const auto delays = first_delays(rh::exponential_backoff{seed}, retries);
    for (unsigned n = 0; n < retries; ++n) {
      const auto d = capped(n);
      CAPTURE(seed, n, delays[n].count(), d.count());
      REQUIRE(delays[n] >= d);
      REQUIRE(delays[n] < d + d / 2);
      jitter_share_sum[n] +=
          static_cast<double>((delays[n] - d).count()) / static_cast<double>((d / 2).count());
    }
  }
  // The jitter is really uniform over [0, d/2): its mean share is 1/2 (a policy without jitter gives 0).
  for (unsigned n = 0; n < retries; ++n) {
    CAPTURE(n);
    CHECK(jitter_share_sum[n] / 1000 == Approx(0.5).margin(0.03));
  }
}

TEST_CASE("a seed fixes the delays exactly; different seeds and calls differ", "[backoff]") {
  const auto a = first_delays(rh::exponential_backoff{42}, 4);
  const auto b = first_delays(rh::exponential_backoff{42}, 4);
  CHECK(a == b);
  // The exact values for seed 42: a change of generator or formula shows up here.
  CHECK(a == std::vector<nanoseconds>{585'822'980ns, 1'477'873'363ns, 2'486'349'536ns, 4'134'715'786ns});
  CHECK(first_delays(rh::exponential_backoff{43}, 4) != a);

  // One policy, two calls: each call has its own stream, reproducible as a sequence.
  const rh::exponential_backoff policy{42};
  const auto first_call = first_delays(policy, 4);
  const auto second_call = first_delays(policy, 4);
  CHECK(first_call == a);
  CHECK(second_call != first_call);
  const rh::exponential_backoff replay{42};
  (void)first_delays(replay, 4);
  CHECK(first_delays(replay, 4) == second_call);
}

TEST_CASE("a seeded policy's copy replays its sequence; an unseeded policy's copy is decorrelated",
          "[backoff]") {
  const rh::full_jitter_backoff seeded{7};
  const rh::full_jitter_backoff seeded_copy = seeded;  // NOLINT(performance-unnecessary-copy-initialization)
  CHECK(first_delays(seeded, 6) == first_delays(seeded_copy, 6));

  const rh::full_jitter_backoff unseeded;
  const rh::full_jitter_backoff unseeded_copy =
      unseeded;  // NOLINT(performance-unnecessary-copy-initialization)
  CHECK(unseeded_copy.seed() != unseeded.seed());
  CHECK(first_delays(unseeded, 6) != first_delays(unseeded_copy, 6));
}

TEST_CASE("no division by zero nor empty range when d/2 is 0", "[backoff]") {
  for (auto base : {0ns, 1ns}) {
    CAPTURE(base.count());
    CHECK(first_delays(rh::exponential_backoff{1}, 3, base, base)[2] == base);
    CHECK(first_delays(rh::equal_jitter_backoff{1}, 3, base, base)[2] <= base);
    CHECK(first_delays(rh::full_jitter_backoff{1}, 3, base, base)[2] <= base);
    CHECK(first_delays(rh::decorrelated_jitter_backoff{1}, 3, base, base)[2] == base);
    CHECK(first_delays(rh::no_jitter_backoff{}, 3, base, base)[2] == base);
    CHECK(first_delays(rh::constant_backoff{}, 3, base, base)[2] == base);
  }
}

TEST_CASE("retry numbers up to UINT_MAX give the cap, for every policy", "[backoff]") {
  const nanoseconds cap = 10s;
  auto exponential = rh::exponential_backoff{3}.start(500ms, cap);
  auto full = rh::full_jitter_backoff{3}.start(500ms, cap);
  auto equal = rh::equal_jitter_backoff{3}.start(500ms, cap);
  auto plain = rh::no_jitter_backoff{}.start(500ms, cap);
  for (unsigned n : {63U, 64U, 1000U, static_cast<unsigned>(INT_MAX), UINT_MAX}) {
    CAPTURE(n);
    const auto e = exponential.next_delay(n);
    CHECK((e >= cap && e < cap + cap / 2));
    CHECK(full.next_delay(n) <= cap);
    const auto q = equal.next_delay(n);
    CHECK((q >= cap / 2 && q <= cap));
    CHECK(plain.next_delay(n) == cap);
  }
}

TEST_CASE("full jitter draws from [0, d], equal jitter from [d/2, d]", "[backoff]") {
  for (std::uint64_t seed = 0; seed < 1000; ++seed) {
    const auto full = first_delays(rh::full_jitter_backoff{seed}, 7);
    const auto equal = first_delays(rh::equal_jitter_backoff{seed}, 7);
    for (unsigned n = 0; n < 7; ++n) {
      CAPTURE(seed, n);
      REQUIRE(full[n] >= 0ns);
      REQUIRE(full[n] <= capped(n));
      REQUIRE(equal[n] >= capped(n) / 2);
      REQUIRE(equal[n] <= capped(n));
    }
  }
  // Full jitter really spreads: over 1,000 seeds the first delay covers the low and the high end.
  nanoseconds low = 1h;
  nanoseconds high = 0ns;
  for (std::uint64_t seed = 0; seed < 1000; ++seed) {
    const auto first = first_delays(rh::full_jitter_backoff{seed}, 1)[0];
    low = std::min(low, first);
    high = std::max(high, first);
  }
  CHECK(low < 50ms);
  CHECK(high > 450ms);
}

TEST_CASE("decorrelated jitter is min(cap, uniform[base, previous * 3])", "[backoff]") {
  for (std::uint64_t seed = 0; seed < 1000; ++seed) {
    auto schedule = rh::decorrelated_jitter_backoff{seed}.start(500ms, 10s);
    nanoseconds previous = 500ms;
    for (unsigned n = 0; n < 12; ++n) {
      const auto delay = schedule.next_delay(n);
      CAPTURE(seed, n, delay.count(), previous.count());
      REQUIRE(delay >= 500ms);
      REQUIRE(delay <= std::min<nanoseconds>(10s, previous * 3));
      previous = delay;
    }
  }
}

TEST_CASE("no_jitter and constant backoff are exact", "[backoff]") {
  CHECK(first_delays(rh::no_jitter_backoff{}, 6) == std::vector<nanoseconds>{500ms, 1s, 2s, 4s, 8s, 10s});
  CHECK(first_delays(rh::constant_backoff{}, 3, 250ms, 10s) == std::vector<nanoseconds>{250ms, 250ms, 250ms});
  CHECK(first_delays(rh::constant_backoff{}, 2, 20s, 10s) == std::vector<nanoseconds>{10s, 10s});
}

TEST_CASE("a policy shared by threads gives every call its own stream", "[backoff][threads]") {
  const rh::exponential_backoff shared{99};
  constexpr int threads = 4;
  constexpr int calls_per_thread = 500;
  std::vector<std::vector<nanoseconds>> firsts(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (int c = 0; c < calls_per_thread; ++c) firsts[t].push_back(shared.start(500ms, 10s).next_delay(3));
    });
  for (auto& worker : workers) worker.join();
  std::set<std::int64_t> distinct;
  for (const auto& delays : firsts)
    for (auto delay : delays) {
      REQUIRE(delay >= 4s);
      REQUIRE(delay < 6s);
      distinct.insert(delay.count());
    }
  // 2,000 calls, each with its own per-call seed: no two draws of a 2e9-wide range coincide in practice.
  CHECK(distinct.size() == threads * calls_per_thread);
}

}  // namespace test_backoff
