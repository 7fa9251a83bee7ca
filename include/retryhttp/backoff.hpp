#ifndef RETRYHTTP_BACKOFF_HPP
#define RETRYHTTP_BACKOFF_HPP

// The Backoff concept and its policies. A policy is a prototype: start() hands each call a fresh schedule, so
// stateful strategies (decorrelated jitter) never share progress between calls, and a policy shared by
// threads stays correct. The config supplies the numbers (base, cap); the policy supplies the shape and the
// randomness.
//
// All arithmetic is on int64 nanoseconds and saturates: retry numbers up to UINT_MAX give the cap, never an
// overflow, a shift past 63 bits or an empty random range.

#include <retryhttp/detail/random.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>

namespace retryhttp {

/// Yields the delay before retry n, for n = 0, 1, 2, ... in order, once each. See docs/concepts/Backoff.md.
template <class S>
concept BackoffSchedule = std::move_constructible<S> && requires(S& schedule, unsigned retry) {
  { schedule.next_delay(retry) } -> std::same_as<std::chrono::nanoseconds>;
};

/// Hands out a fresh BackoffSchedule per call. See docs/concepts/Backoff.md.
template <class B>
concept Backoff = std::copy_constructible<B> && requires(const B& policy, std::chrono::nanoseconds base,
                                                         std::chrono::nanoseconds cap) {
  { policy.start(base, cap) } -> BackoffSchedule;
};

namespace detail {

/// min(base * 2^n, cap) without overflow; 0 when base or cap is not positive.
constexpr std::int64_t capped_exponential(std::int64_t base, std::int64_t cap, unsigned n) noexcept {
  if (base <= 0 || cap <= 0) return 0;
  if (base >= cap || n >= 63) return cap;
  // base * 2^n <= cap exactly when base <= floor(cap / 2^n).
  if (base > (cap >> n)) return cap;
  return base << n;
}

constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  // Both operands are non-negative here.
  return a > std::numeric_limits<std::int64_t>::max() - b ? std::numeric_limits<std::int64_t>::max() : a + b;
}

constexpr std::int64_t saturating_triple(std::int64_t a) noexcept {
  return a > std::numeric_limits<std::int64_t>::max() / 3 ? std::numeric_limits<std::int64_t>::max() : a * 3;
}

/// Base of the randomised policies: a seed source and a schedule factory.
template <class Schedule>
class seeded_backoff {
 public:
  using schedule = Schedule;

  /// Seeded from the kernel (getrandom); copies re-seed (decorrelated across clients).
  seeded_backoff() = default;
  /// Reproducible: the same seed gives the same delays, call after call, in this policy and its copies.
  explicit seeded_backoff(std::uint64_t seed) noexcept : seeds_(seed) {}

  Schedule start(std::chrono::nanoseconds base, std::chrono::nanoseconds cap) const noexcept {
    return Schedule(base.count(), cap.count(), seeds_.next_call_seed());
  }

  std::uint64_t seed() const noexcept { return seeds_.seed(); }

 private:
  seed_source seeds_;
};

/// What the randomised schedules share: the call's bounds and its generator.
class random_schedule {
 public:
  random_schedule(std::int64_t base, std::int64_t cap, std::uint64_t seed) noexcept
      : base_(base < 0 ? 0 : base), cap_(cap < 0 ? 0 : cap), random_(seed) {}

 protected:
  std::int64_t capped(unsigned retry) const noexcept { return capped_exponential(base_, cap_, retry); }

  std::int64_t base_;
  std::int64_t cap_;
  splitmix64 random_;
};

class exponential_schedule : public random_schedule {
 public:
  using random_schedule::random_schedule;
  std::chrono::nanoseconds next_delay(unsigned retry) noexcept {
    const std::int64_t d = capped(retry);
    // The specified formula: d + uniform[0, d/2). When d/2 is 0 the range is empty and the jitter is 0.
    const auto jitter = static_cast<std::int64_t>(random_.below(static_cast<std::uint64_t>(d / 2)));
    return std::chrono::nanoseconds(saturating_add(d, jitter));
  }
};

class full_jitter_schedule : public random_schedule {
 public:
  using random_schedule::random_schedule;
  std::chrono::nanoseconds next_delay(unsigned retry) noexcept {
    const auto d = static_cast<std::uint64_t>(capped(retry));
    return std::chrono::nanoseconds(static_cast<std::int64_t>(random_.between(0, d)));
  }
};

class equal_jitter_schedule : public random_schedule {
 public:
  using random_schedule::random_schedule;
  std::chrono::nanoseconds next_delay(unsigned retry) noexcept {
    const std::int64_t half = capped(retry) / 2;
    const auto jitter = static_cast<std::int64_t>(random_.between(0, static_cast<std::uint64_t>(half)));
    return std::chrono::nanoseconds(half + jitter);
  }
};

class decorrelated_jitter_schedule : public random_schedule {
 public:
  decorrelated_jitter_schedule(std::int64_t base, std::int64_t cap, std::uint64_t seed) noexcept
      : random_schedule(base, cap, seed), previous_(base_) {}
  /// Ignores `retry`: each delay grows from the previous one, so calls must come in order.
  std::chrono::nanoseconds next_delay(unsigned /*retry*/) noexcept {
    const auto high = static_cast<std::uint64_t>(saturating_triple(previous_));
    const auto drawn = static_cast<std::int64_t>(random_.between(static_cast<std::uint64_t>(base_), high));
    previous_ = drawn < cap_ ? drawn : cap_;
    return std::chrono::nanoseconds(previous_);
  }

 private:
  std::int64_t previous_;
};

}  // namespace detail

/// The specified formula, exactly: d = min(base * 2^n, max), delay = d + uniform[0, d/2).
/// Delays therefore lie in [d, 1.5 d): the jitter is added on top of the cap, as the specification writes it.
class exponential_backoff : public detail::seeded_backoff<detail::exponential_schedule> {
 public:
  using seeded_backoff::seeded_backoff;
};

/// "Full jitter" (Brooker, AWS 2015): uniform[0, min(base * 2^n, max)]. Spreads clients best, least total
/// work.
class full_jitter_backoff : public detail::seeded_backoff<detail::full_jitter_schedule> {
 public:
  using seeded_backoff::seeded_backoff;
};

/// "Equal jitter": d/2 + uniform[0, d/2] with d = min(base * 2^n, max). Never waits less than half of d.
class equal_jitter_backoff : public detail::seeded_backoff<detail::equal_jitter_schedule> {
 public:
  using seeded_backoff::seeded_backoff;
};

/// "Decorrelated jitter": min(max, uniform[base, previous * 3]), previous starting at base. Stateful per
/// call. With base 0 every delay is 0.
class decorrelated_jitter_backoff : public detail::seeded_backoff<detail::decorrelated_jitter_schedule> {
 public:
  using seeded_backoff::seeded_backoff;
};

/// min(base * 2^n, max) with no randomness. Clients that fail together retry together: prefer a jittered
/// policy.
class no_jitter_backoff {
 public:
  class schedule {
   public:
    constexpr schedule(std::int64_t base, std::int64_t cap) noexcept : base_(base), cap_(cap) {}
    constexpr std::chrono::nanoseconds next_delay(unsigned retry) const noexcept {
      return std::chrono::nanoseconds(detail::capped_exponential(base_, cap_, retry));
    }

   private:
    std::int64_t base_;
    std::int64_t cap_;
  };
  constexpr schedule start(std::chrono::nanoseconds base, std::chrono::nanoseconds cap) const noexcept {
    return {base.count(), cap.count()};
  }
};

/// The base delay before every retry, min(base, max); no growth, no randomness.
class constant_backoff {
 public:
  class schedule {
   public:
    constexpr explicit schedule(std::int64_t delay) noexcept : delay_(delay) {}
    constexpr std::chrono::nanoseconds next_delay(unsigned /*retry*/) const noexcept {
      return std::chrono::nanoseconds(delay_);
    }

   private:
    std::int64_t delay_;
  };
  constexpr schedule start(std::chrono::nanoseconds base, std::chrono::nanoseconds cap) const noexcept {
    const std::int64_t delay = base < cap ? base.count() : cap.count();
    return schedule(delay < 0 ? 0 : delay);
  }
};

}  // namespace retryhttp

#endif  // RETRYHTTP_BACKOFF_HPP
