#ifndef RETRYHTTP_RATE_LIMITER_HPP
#define RETRYHTTP_RATE_LIMITER_HPP

// Adaptive client-side rate limiting, as the AWS SDKs' "adaptive" retry mode does it: a token bucket in front
// of every attempt, first attempts included, whose fill rate follows a CUBIC curve (RFC 8312, TCP's
// congestion window) on the server's throttling responses: cut to beta x the rate measured at a throttle,
// then grown back along a cubic that flattens near the rate that was throttled. Shared by the clients of one
// endpoint, as a retry budget is: a budget bounds how many retries a fleet adds; the limiter bounds the rate
// of all its attempts to what the server has shown it takes.
//
// Idle until the first throttling response, so a client that is never throttled pays one relaxed atomic load
// per attempt. Time comes from the caller (the client's Clock, as a duration since its epoch), so the limiter
// works on virtual time and needs no clock of its own. The waiting is the caller's too: acquire() reserves a
// token and says how long to wait for it, and the client waits on its Clock (sleep_until, or a timer for
// async_send), so a wait is cancellable, bounded by the deadline, and recorded by testing::fake_clock like a
// backoff.

#include <retryhttp/config.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>

namespace retryhttp {

/// A token bucket whose fill rate adapts to throttling. Thread-safe; share one between the clients of an
/// endpoint through a std::shared_ptr (basic_client::share_rate_limiter). All times are the callers' Clock
/// readings as durations since its epoch: the clients that share a limiter must share a Clock.
class adaptive_rate_limiter {
 public:
  /// What the limiter is doing.
  enum class phase : unsigned char {
    idle,       ///< never throttled: lets everything through and measures nothing
    measuring,  ///< throttled once: lets everything through while it measures the rate of responses
    limiting,   ///< every attempt takes a token
  };

  /// The answer to acquire().
  struct grant {
    /// Whether the attempt may be sent (after `wait`).
    bool granted = true;
    /// Granted: the wait before sending, zero when a token was there. Refused: the wait that would have been
    /// needed.
    std::chrono::nanoseconds wait{0};

    explicit operator bool() const noexcept { return granted; }
  };

  /// The limiter's state, for tests and metrics.
  struct snapshot {
    phase current = phase::idle;
    double fill_rate = 0;      ///< tokens per second (limiting)
    double max_capacity = 0;   ///< the bucket's size (limiting)
    double tokens = 0;         ///< at the last update; negative while attempts wait for reserved tokens
    double measured_rate = 0;  ///< responses per second, smoothed (measuring, limiting)
    double last_max_rate = 0;  ///< CUBIC's W_max: the rate that was throttled
    std::chrono::nanoseconds last_throttle{0};
  };

  /// The length of one measurement of the response rate, as AWS's RateClocker.
  static constexpr std::chrono::nanoseconds measure_window = std::chrono::milliseconds{500};
  /// A wait limit that never refuses.
  static constexpr std::chrono::nanoseconds no_wait_limit = std::chrono::nanoseconds::max();

  /// Uses the CUBIC constants, the minimum rate and the throttling statuses of `config` (validate() bounds
  /// them); its `type` is not looked at.
  explicit adaptive_rate_limiter(const rate_limit_config& config = {}) noexcept : config_(config) {}

  adaptive_rate_limiter(const adaptive_rate_limiter&) = delete;
  adaptive_rate_limiter& operator=(const adaptive_rate_limiter&) = delete;

  const rate_limit_config& config() const noexcept { return config_; }

  /// Whether calls must ask acquire() and report every response: false until the first throttle. The flag
  /// guards no data read outside the mutex, so a relaxed load is enough: a call that reads a stale false is
  /// let through and not counted, as it would have been a moment earlier.
  bool engaged() const noexcept { return phase_.load(std::memory_order_relaxed) != phase::idle; }
  phase current_phase() const noexcept { return phase_.load(std::memory_order_relaxed); }

  /// Whether a response with `status` (and, for a 503, a Retry-After field or not) is a throttle.
  bool is_throttle(unsigned status, bool has_retry_after) const noexcept {
    return config_.throttle_on.contains(status) || (status == 503 && has_retry_after);
  }

  /// Takes a token for an attempt at `now`. A token in the bucket is granted at once. Otherwise the next one
  /// is reserved and granted with the wait until it is filled, if that wait is shorter than `wait_limit`; a
  /// wait as long or longer is refused and reserves nothing. A granted wait that is then not waited out (a
  /// stop) must be given back with release(). Before the limiter limits, everything is granted at once.
  grant acquire(std::chrono::nanoseconds now, std::chrono::nanoseconds wait_limit = no_wait_limit) noexcept {
    if (phase_.load(std::memory_order_relaxed) != phase::limiting) return {};
    std::lock_guard lock(mutex_);
    refill(now);
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return {};
    }
    const auto wait = wait_for(1 - tokens_);
    if (wait >= wait_limit) return {false, wait};
    tokens_ -= 1;
    return {true, wait};
  }

  /// Gives back a token acquire() reserved for an attempt that was not sent.
  void release(std::chrono::nanoseconds now) noexcept {
    if (phase_.load(std::memory_order_relaxed) != phase::limiting) return;
    std::lock_guard lock(mutex_);
    refill(now);
    tokens_ = std::min(tokens_ + 1, max_capacity_);
  }

  /// Reports a response (or a transport failure, as not throttled) received at `now`. A client reports only
  /// throttles while the limiter is idle; after that, every outcome (so the response rate is measured).
  ///
  /// The first throttle starts a measurement of the response rate; the limiting starts with its first sample,
  /// at beta x that rate. (AWS measures from the start, so its first throttle is answered at once; here the
  /// success path of a client never throttled measures nothing, which costs the first throttle up to
  /// measure_window of delay.) From then on, as AWS: a throttle sets CUBIC's W_max to the smaller of the
  /// measured and the current rate and the fill rate to beta x that (once per measure_window: later throttles
  /// of the same burst are counted, not cut for again); any other outcome sets the fill rate to
  /// scale x (t - K)^3 + W_max, t the seconds since the last throttle and K = cbrt(W_max x (1 - beta) /
  /// scale), the time the cubic takes to climb back to W_max. The fill rate never exceeds twice the measured
  /// rate, nor falls below min_rate.
  void on_response(bool throttled, std::chrono::nanoseconds now) noexcept {
    if (!throttled && phase_.load(std::memory_order_relaxed) == phase::idle) return;
    std::lock_guard lock(mutex_);
    phase current = phase_.load(std::memory_order_relaxed);
    if (current == phase::idle) {
      last_window_ = window_start(now);
      phase_.store(phase::measuring, std::memory_order_relaxed);
      current = phase::measuring;
    }
    const double measured = record(now);
    if (current == phase::measuring) {
      if (!has_measurement_) return;
      // The throttle that started the measurement is answered now, from the first rate measured.
      last_refill_ = now;
      set_max_rate(throttle(measured, now), measured, now);
      tokens_ = max_capacity_;
      phase_.store(phase::limiting, std::memory_order_relaxed);
      return;
    }
    // A throttle within measure_window of the last cut is the same congestion event: it answers an attempt
    // sent before that cut, or in the burst that caused it, so it does not cut again (TCP cuts once per round
    // trip). AWS cuts at every throttle, which turns a burst of throttled answers into a collapse to
    // min_rate.
    if (throttled && now - last_throttle_ < measure_window) return;
    const double rate =
        throttled ? throttle(std::min(measured, fill_rate_), now) : cubic(seconds(now - last_throttle_));
    set_max_rate(rate, measured, now);
  }

  snapshot state() const {
    std::lock_guard lock(mutex_);
    return {phase_.load(std::memory_order_relaxed),
            fill_rate_,
            max_capacity_,
            tokens_,
            measured_,
            w_max_,
            last_throttle_};
  }

  /// CUBIC's rate `t` seconds after a throttle at `w_max` (the formula on_response uses; for tests).
  static double cubic_rate(double w_max, double t, double beta, double scale) noexcept {
    const double k = std::cbrt(w_max * (1 - beta) / scale);
    return scale * (t - k) * (t - k) * (t - k) + w_max;
  }

 private:
  static double seconds(std::chrono::nanoseconds d) noexcept {
    return std::chrono::duration<double>(d).count();
  }

  // The wait until `missing` tokens are filled, rounded up to the nanosecond.
  std::chrono::nanoseconds wait_for(double missing) const noexcept {
    const double ns = std::ceil(missing / fill_rate_ * 1e9);
    // A day is far past any deadline validate() allows; the bound keeps the conversion defined.
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(ns, 86'400e9)));
  }

  static std::chrono::nanoseconds window_start(std::chrono::nanoseconds now) noexcept {
    auto start = now - now % measure_window;
    if (now % measure_window < std::chrono::nanoseconds(0)) start -= measure_window;
    return start;
  }

  void refill(std::chrono::nanoseconds now) noexcept {
    if (now <= last_refill_) return;
    tokens_ = std::min(max_capacity_, tokens_ + seconds(now - last_refill_) * fill_rate_);
    last_refill_ = now;
  }

  // AWS's RateClocker: responses counted per window; when a response falls in a later window, the count over
  // the windows passed is the newest sample, blended into the measured rate (the first sample taken as is).
  double record(std::chrono::nanoseconds now) noexcept {
    ++count_;
    const auto window = window_start(now);
    if (window > last_window_) {
      const double sample = static_cast<double>(count_) / seconds(window - last_window_);
      measured_ =
          has_measurement_ ? sample * config_.smoothing + measured_ * (1 - config_.smoothing) : sample;
      has_measurement_ = true;
      count_ = 0;
      last_window_ = window;
    }
    return measured_;
  }

  // CUBIC's multiplicative decrease at a throttle of `rate`.
  double throttle(double rate, std::chrono::nanoseconds now) noexcept {
    w_max_ = rate;
    last_throttle_ = now;
    return rate * config_.beta;
  }

  double cubic(double since_throttle) const noexcept {
    return cubic_rate(w_max_, since_throttle, config_.beta, config_.scale);
  }

  // AWS's TokenBucket.max_rate setter: the fill rate (never above twice the measured rate, never below
  // min_rate) and a bucket of one second's tokens, at least one.
  void set_max_rate(double rate, double measured, std::chrono::nanoseconds now) noexcept {
    refill(now);
    const double capped = std::min(rate, 2 * measured);
    fill_rate_ = std::max(capped, config_.min_rate);
    max_capacity_ = std::max(capped, 1.0);
    tokens_ = std::min(tokens_, max_capacity_);
  }

  rate_limit_config config_;
  std::atomic<phase> phase_{phase::idle};
  mutable std::mutex mutex_;
  // The bucket.
  double fill_rate_ = 0;
  double max_capacity_ = 0;
  double tokens_ = 0;
  std::chrono::nanoseconds last_refill_{0};
  // The response rate.
  std::uint64_t count_ = 0;
  std::chrono::nanoseconds last_window_{0};
  double measured_ = 0;
  bool has_measurement_ = false;
  // CUBIC.
  double w_max_ = 0;
  std::chrono::nanoseconds last_throttle_{0};
};

/// The limiter a config asks for, or nullptr for kind::none. Share the pointer to share the limiter.
inline std::shared_ptr<adaptive_rate_limiter> make_rate_limiter(const rate_limit_config& config) {
  if (config.type == rate_limit_config::kind::adaptive)  // not make_shared: see make_retry_budget
    return std::shared_ptr<adaptive_rate_limiter>(new adaptive_rate_limiter(config));
  return nullptr;
}

}  // namespace retryhttp

#endif  // RETRYHTTP_RATE_LIMITER_HPP
