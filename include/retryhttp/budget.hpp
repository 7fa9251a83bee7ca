#ifndef RETRYHTTP_BUDGET_HPP
#define RETRYHTTP_BUDGET_HPP

// Retry budgets: a limit on retries shared by every client that holds the same budget, so that when a backend
// is down the whole fleet's retries add a bounded fraction of load instead of multiplying it by max_retries
// + 1. Both models are lock-free: the success path is one relaxed load (and, below the cap, one
// compare-exchange).

#include <retryhttp/config.hpp>

#include <atomic>
#include <cstdint>
#include <memory>

namespace retryhttp {

namespace detail {
/// Adds `delta` to `value` without passing `cap`, lock-free; a value already at the cap costs one load.
inline void add_capped(std::atomic<std::int64_t>& value, std::int64_t delta, std::int64_t cap) noexcept {
  std::int64_t current = value.load(std::memory_order_relaxed);
  while (current < cap) {
    const std::int64_t next = current + delta < cap ? current + delta : cap;
    if (value.compare_exchange_weak(current, next, std::memory_order_relaxed)) return;
  }
}
}  // namespace detail

/// What the client tells a budget, and what it asks. Implementations must be thread-safe.
class retry_budget {
 public:
  virtual ~retry_budget() = default;
  /// A new logical call starts (its first attempt).
  virtual void on_call() noexcept {}
  /// An attempt ended with an outcome that is not transient (any delivered status).
  virtual void on_success() noexcept {}
  /// An attempt ended with a transient outcome (a status in retry_on, a transport failure).
  virtual void on_transient_failure() noexcept {}
  /// Whether a retry may start now. A budget that says yes has accounted for the retry.
  virtual bool try_retry() noexcept = 0;
};

/// gRPC's retryThrottling (gRFC A6): the bucket starts full at max_tokens; each transient failure takes 1
/// token, each success returns token_ratio; retries are allowed while tokens > max_tokens / 2. Tokens are
/// kept in thousandths, as gRPC does, in one atomic.
class token_bucket_budget final : public retry_budget {
 public:
  token_bucket_budget(double max_tokens, double token_ratio) noexcept
      : max_(static_cast<std::int64_t>(max_tokens * 1000)),
        ratio_(static_cast<std::int64_t>(token_ratio * 1000)),
        tokens_(max_) {}

  void on_success() noexcept override { detail::add_capped(tokens_, ratio_, max_); }
  void on_transient_failure() noexcept override {
    std::int64_t current = tokens_.load(std::memory_order_relaxed);
    while (current > 0) {
      const std::int64_t next = current > 1000 ? current - 1000 : 0;
      if (tokens_.compare_exchange_weak(current, next, std::memory_order_relaxed)) return;
    }
  }
  bool try_retry() noexcept override { return tokens_.load(std::memory_order_relaxed) * 2 > max_; }

  /// The current tokens, for tests and metrics.
  double tokens() const noexcept {
    return static_cast<double>(tokens_.load(std::memory_order_relaxed)) / 1000;
  }

 private:
  std::int64_t max_;
  std::int64_t ratio_;
  std::atomic<std::int64_t> tokens_;
};

/// A percentage budget in the style of Finagle's RetryBudget: each call deposits percent/100 of a retry, each
/// retry withdraws one, and min_retries are always available so a quiet client can still retry. The balance
/// is capped at min_retries + percent retries (what 100 calls earn), which stands in for Finagle's time
/// window: old deposits cannot pile up into a retry storm. Sustained load under total failure tends to 1 +
/// percent/100 times the calls.
class percent_budget final : public retry_budget {
 public:
  percent_budget(double percent, unsigned min_retries) noexcept
      : deposit_(static_cast<std::int64_t>(percent * 10)),
        cap_(static_cast<std::int64_t>(min_retries) * 1000 + static_cast<std::int64_t>(percent * 1000)),
        balance_(static_cast<std::int64_t>(min_retries) * 1000) {}

  void on_call() noexcept override { detail::add_capped(balance_, deposit_, cap_); }
  bool try_retry() noexcept override {
    std::int64_t current = balance_.load(std::memory_order_relaxed);
    while (current >= 1000) {
      if (balance_.compare_exchange_weak(current, current - 1000, std::memory_order_relaxed)) return true;
    }
    return false;
  }

  /// Retries available now, for tests and metrics.
  double available() const noexcept {
    return static_cast<double>(balance_.load(std::memory_order_relaxed)) / 1000;
  }

 private:
  std::int64_t deposit_;
  std::int64_t cap_;
  std::atomic<std::int64_t> balance_;
};

/// The budget a config asks for, or nullptr for kind::none. Share the pointer to share the budget.
inline std::shared_ptr<retry_budget> make_retry_budget(const budget_config& config) {
  // shared_ptr(new), not make_shared: every program with a client compiles this, and make_shared's in-place
  // control block instantiates allocator machinery for each type; a budget is made once per client.
  switch (config.type) {
    case budget_config::kind::token_bucket:
      return std::shared_ptr<retry_budget>(new token_bucket_budget(config.max_tokens, config.token_ratio));
    case budget_config::kind::percent:
      return std::shared_ptr<retry_budget>(new percent_budget(config.percent, config.min_retries));
    case budget_config::kind::none:
      break;
  }
  return nullptr;
}

}  // namespace retryhttp

#endif  // RETRYHTTP_BUDGET_HPP
