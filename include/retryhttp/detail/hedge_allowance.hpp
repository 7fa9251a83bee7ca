#ifndef RETRYHTTP_DETAIL_HEDGE_ALLOWANCE_HPP
#define RETRYHTTP_DETAIL_HEDGE_ALLOWANCE_HPP

// What hedging_transport bounds its hedges with besides the retry budget, apart from Asio so that retry-sim
// drives the same code. A budget bounds hedges only while answers fail (a token bucket refills on every
// success), but a server that is slow on every answer, and answers them all, is when hedging would double the
// load: so each hedgeable attempt earns a fraction of a hedge, and a hedge spends one.

#include <retryhttp/budget.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace retryhttp::detail {

/// hedging_options' defaults, here so that what models hedging without Asio uses the same.
struct hedging_defaults {
  static constexpr std::chrono::milliseconds delay{100};
  static constexpr double max_hedged_fraction = 0.1;
  static constexpr unsigned hedge_burst = 10;
};

/// A balance of hedges in thousandths (a fraction is rounded to a thousandth): each hedgeable attempt adds
/// `fraction` of a hedge, up to `burst`
/// hedges; a hedge takes one. It starts full, so a client's first slow answers are hedged. Over a long run at
/// most fraction x attempts + burst hedges are sent. Lock-free; a refused hedge costs one load.
class hedge_allowance {
 public:
  hedge_allowance(double fraction, unsigned burst)
      : deposit_(checked_fraction(fraction)), cap_(checked_burst(burst) * unit), balance_(cap_) {}

  void on_attempt() noexcept {
    if (deposit_ > 0) add_capped(balance_, deposit_, cap_);
  }
  bool try_take() noexcept {
    std::int64_t current = balance_.load(std::memory_order_relaxed);
    while (current >= unit)
      if (balance_.compare_exchange_weak(current, current - unit, std::memory_order_relaxed)) return true;
    return false;
  }
  /// Gives back a hedge taken and then not sent (the budget refused it).
  void refund() noexcept { add_capped(balance_, unit, cap_); }

  /// The hedges available now, for tests and metrics.
  double available() const noexcept {
    return static_cast<double>(balance_.load(std::memory_order_relaxed)) / static_cast<double>(unit);
  }

 private:
  static constexpr std::int64_t unit = 1000;
  static std::int64_t checked_fraction(double fraction) {
    if (!(fraction >= 0 && fraction <= 1))
      throw std::invalid_argument("hedging_options::max_hedged_fraction: expected a fraction from 0 to 1");
    return static_cast<std::int64_t>(std::llround(fraction * unit));
  }
  static std::int64_t checked_burst(unsigned burst) {
    // No hedge could ever be saved up, whatever the fraction: hedging off, silently.
    if (burst == 0) throw std::invalid_argument("hedging_options::hedge_burst: expected at least 1");
    return static_cast<std::int64_t>(burst);
  }
  std::int64_t deposit_;
  std::int64_t cap_;
  std::atomic<std::int64_t> balance_;
};

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_HEDGE_ALLOWANCE_HPP
