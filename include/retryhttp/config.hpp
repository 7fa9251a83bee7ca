#ifndef RETRYHTTP_CONFIG_HPP
#define RETRYHTTP_CONFIG_HPP

// retry_config: the numbers that drive the retry loop, with its defaults, and their validation.
// Loading it from JSON lives in json_config.hpp so that this header costs nothing but the standard library.

#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace retryhttp {

/// A set of HTTP status codes (100..599) that fits in 80 bytes: membership is one shift and one mask, it is
/// constexpr, and copying a config never allocates.
class status_set {
 public:
  static constexpr unsigned min_status = 100;
  static constexpr unsigned max_status = 599;

  constexpr status_set() noexcept = default;
  constexpr status_set(std::initializer_list<unsigned> statuses) {
    for (unsigned status : statuses) insert(status);
  }

  /// Adds a status. Throws std::out_of_range for a number outside 100..599.
  constexpr void insert(unsigned status) {
    if (status < min_status || status > max_status)
      throw std::out_of_range("status_set: status outside 100..599");
    words_[status / 64] |= std::uint64_t{1} << (status % 64);
  }
  constexpr void erase(unsigned status) noexcept {
    if (status <= max_status) words_[status / 64] &= ~(std::uint64_t{1} << (status % 64));
  }
  constexpr bool contains(unsigned status) const noexcept {
    return status <= max_status && ((words_[status / 64] >> (status % 64)) & 1U) != 0;
  }
  constexpr bool empty() const noexcept {
    for (auto word : words_)
      if (word != 0) return false;
    return true;
  }
  constexpr std::size_t size() const noexcept {
    std::size_t count = 0;
    for (unsigned status = min_status; status <= max_status; ++status) count += contains(status) ? 1U : 0U;
    return count;
  }
  /// The statuses in ascending order (for printing and serialising; allocates).
  std::vector<unsigned> to_vector() const {
    std::vector<unsigned> statuses;
    for (unsigned status = min_status; status <= max_status; ++status)
      if (contains(status)) statuses.push_back(status);
    return statuses;
  }

  friend constexpr bool operator==(const status_set&, const status_set&) noexcept = default;

 private:
  std::array<std::uint64_t, (max_status / 64) + 1> words_{};
};

/// A retry budget, shared by every client that holds it (see budget.hpp). [retry.budget]
struct budget_config {
  enum class kind {
    none,          ///< no budget: each call retries up to max_retries
    token_bucket,  ///< gRPC's retryThrottling: retries while tokens > max_tokens / 2
    percent,       ///< Finagle-style: retries may add at most `percent` % to the calls, plus a reserve
  };
  kind type = kind::none;
  /// token_bucket: the bucket's size; each transient failure takes 1 token, each success returns token_ratio.
  /// [max_tokens, 1..1000]
  double max_tokens = 100;
  /// [token_ratio, 0.001..max_tokens]
  double token_ratio = 0.1;
  /// percent: retries allowed per 100 calls. [percent, 0..1000]
  double percent = 10;
  /// percent: retries allowed on top of the percentage, so a quiet client may still retry. [min_retries]
  unsigned min_retries = 10;

  friend bool operator==(const budget_config&, const budget_config&) = default;
};

/// Client-side rate limiting, shared by the clients of one endpoint (see rate_limiter.hpp).
/// [retry.rate_limit]
struct rate_limit_config {
  enum class kind {
    none,      ///< no limiter: every attempt is sent at once (the default)
    adaptive,  ///< the AWS SDKs' adaptive mode: a token bucket whose fill rate follows CUBIC on throttling
  };
  kind type = kind::none;
  /// Fail a call at once with error::rate_limited when no token is available, instead of waiting. [fail_fast]
  bool fail_fast = false;
  /// The longest wait for a token; a call that would wait as long or longer fails at once with
  /// error::rate_limited. Zero: no limit but the call's deadline. [max_wait_ms]
  std::chrono::milliseconds max_wait{0};
  /// Statuses that mean "throttled", besides a 503 that carries Retry-After. [throttle_on]
  status_set throttle_on{429};
  /// CUBIC's multiplicative decrease: after a throttle the fill rate is beta x the rate measured. [beta]
  double beta = 0.7;
  /// CUBIC's scale constant: how fast the fill rate grows back, in tokens per second per second cubed.
  /// [scale]
  double scale = 0.4;
  /// The weight of the newest half-second sample in the measured rate. [smoothing]
  double smoothing = 0.8;
  /// The lowest fill rate, in tokens per second. [min_rate]
  double min_rate = 0.5;

  friend bool operator==(const rate_limit_config&, const rate_limit_config&) = default;
};

/// The retry loop's configuration. The defaults are the specified ones: 3 retries, 500 ms base delay, 10 s
/// cap, retry on 502/503/504. Every field has a JSON key (shown in brackets) under the "retry" object.
struct retry_config {
  /// Re-sends after the first attempt; a call makes at most max_retries + 1 attempts. [max_retries]
  unsigned max_retries = 3;
  /// The first backoff delay; later ones grow from it as the Backoff policy says. [base_delay_ms]
  std::chrono::milliseconds base_delay{500};
  /// The cap of the exponential part of a delay. exponential_backoff adds up to half of it as jitter, as the
  /// specified formula does, so its delays reach up to 1.5 x max_delay. [max_delay_ms]
  std::chrono::milliseconds max_delay{10'000};
  /// Response statuses that are transient and retried. Every other status is the call's result. [retry_on]
  status_set retry_on{502, 503, 504};
  /// Whether a request the Idempotency policy calls unsafe may be retried after a failure that provably sent
  /// nothing (connection refused, name not resolved, connect timeout). Off, as specified: "for create:
  /// fail after first network error". [retry_unsafe_when_not_sent]
  bool retry_unsafe_when_not_sent = false;
  /// The time one attempt may take (connect, write and read), handed to the Transport; zero means no limit.
  /// [attempt_timeout_ms]
  std::chrono::milliseconds attempt_timeout{0};
  /// The time a whole call may take, all attempts and waits included; zero means no limit. A per-call
  /// deadline (call_options::deadline) overrides it. [deadline_ms]
  std::chrono::milliseconds deadline{0};
  /// Whether a Retry-After header (delta-seconds or HTTP-date) on a retried status replaces the backoff
  /// delay. [respect_retry_after]
  bool respect_retry_after = true;
  /// The longest Retry-After wait accepted; a longer one fails the call at once
  /// (error::retry_after_too_long). Empty: max_delay. [retry_after_max_ms]
  std::optional<std::chrono::milliseconds> retry_after_max;
  /// [budget]
  budget_config budget;
  /// [rate_limit]
  rate_limit_config rate_limit;

  /// The cap that applies to a Retry-After hint.
  constexpr std::chrono::milliseconds retry_after_cap() const noexcept {
    return retry_after_max.value_or(max_delay);
  }

  /// The configuration we recommend for a fleet: the default retries, delays and statuses; a retry budget
  /// that stops retrying while fewer than one attempt in three succeeds; an adaptive rate limiter that sheds
  /// what it cannot send within half a second once the server throttles; and a deadline of a minute per
  /// call. In retry-sim's overload experiment it adds less load than any peer's default when the server
  /// fails or throttles, and succeeds as often as the default configuration when the server fails up to
  /// half of the attempts (docs/simulation.md).
  static retry_config recommended() {
    // 429 stays out of retry_on: a create answered 429 would then be reported as "may have been applied",
    // though the server refused it. The limiter slows down on a 429 whether or not it is retried.
    retry_config config;
    // gRPC's bucket, with each success returning 2 tokens: it drains while fewer than 1 attempt in 3
    // succeeds, and stays full above that. Its 50 tokens above the threshold are what one outage costs.
    config.budget.type = budget_config::kind::token_bucket;
    config.budget.max_tokens = 100;
    config.budget.token_ratio = 2;
    // A short queue: a throttled server is better served by a call that fails now than by one sent late.
    config.rate_limit.type = rate_limit_config::kind::adaptive;
    config.rate_limit.max_wait = std::chrono::milliseconds{500};
    config.deadline = std::chrono::seconds{60};
    return config;
  }

  friend bool operator==(const retry_config&, const retry_config&) = default;
};

/// The bounds that validate() enforces. A value outside them is almost surely a typo (a delay in seconds
/// where milliseconds were meant), and the bounds keep every delay computation far from overflow.
struct config_limits {
  static constexpr unsigned max_retries = 1000;
  static constexpr std::chrono::milliseconds max_delay = std::chrono::hours{24};
  static constexpr unsigned min_retry_status = 400;  // only error statuses can be transient
  static constexpr unsigned max_retry_status = 599;
};

/// A configuration value that is missing, of the wrong type or out of range. key_path() names the key as the
/// JSON config spells it ("retry.max_retries", "retry.retry_on[2]"); what() reads
/// "retry.max_retries: expected an integer from 0 to 1000, got -1".
class config_error : public std::invalid_argument {
 public:
  [[gnu::cold]] config_error(std::string key_path, std::string expected, std::string got)
      : std::invalid_argument(compose(key_path, expected, got)),
        key_path_(std::move(key_path)),
        expected_(std::move(expected)),
        got_(std::move(got)) {}

  const std::string& key_path() const noexcept { return key_path_; }
  const std::string& expected() const noexcept { return expected_; }
  const std::string& got() const noexcept { return got_; }

 private:
  static std::string compose(const std::string& key_path, const std::string& expected,
                             const std::string& got) {
    std::string text = key_path.empty() ? std::string("config") : key_path;
    text += ": expected ";
    text += expected;
    if (!got.empty()) {
      text += ", got ";
      text += got;
    }
    return text;
  }

  std::string key_path_;
  std::string expected_;
  std::string got_;
};

namespace detail {
// validate()'s config_errors. The messages are built in these few functions, never at a check: validate() is
// compiled into every program that constructs a client, and each message built in place would be compiled
// with it.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_out_of_bounds(std::string_view prefix,
                                                                       std::string_view name,
                                                                       std::string_view expected,
                                                                       std::string got) {
  std::string path(prefix);
  if (!path.empty()) path += '.';
  path += name;
  throw config_error(std::move(path), std::string(expected), std::move(got));
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_integer_out_of_bounds(std::string_view prefix,
                                                                               std::string_view name,
                                                                               std::string_view expected,
                                                                               long long got) {
  throw_out_of_bounds(prefix, name, expected, std::to_string(got));
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_number_out_of_bounds(std::string_view prefix,
                                                                              std::string_view name,
                                                                              std::string_view expected,
                                                                              double got) {
  throw_out_of_bounds(prefix, name, expected, std::to_string(got));
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_base_delay_above_max(std::string_view prefix,
                                                                              const retry_config& config) {
  throw_out_of_bounds(prefix, "base_delay_ms",
                      "at most " + std::string(prefix) + (prefix.empty() ? "" : ".") + "max_delay_ms ("
                          + std::to_string(config.max_delay.count()) + ")",
                      std::to_string(config.base_delay.count()));
}

// The limits the messages below quote.
static_assert(config_limits::max_delay.count() == 86'400'000 && config_limits::max_retries == 1000
              && config_limits::min_retry_status == 400 && config_limits::max_retry_status == 599);

/// A delay or time limit in milliseconds, 0 to config_limits::max_delay.
inline void check_milliseconds(std::string_view prefix, std::string_view name,
                               std::chrono::milliseconds value, bool zero_means_no_limit) {
  if (value.count() >= 0 && value <= config_limits::max_delay) return;
  throw_integer_out_of_bounds(prefix, name,
                              zero_means_no_limit
                                  ? "a number of milliseconds from 0 to 86400000 (0: no limit)"
                                  : "a number of milliseconds from 0 to 86400000",
                              value.count());
}

/// A number from `low` to `high`.
inline void check_number(std::string_view prefix, std::string_view name, double value, double low,
                         double high, std::string_view expected) {
  if (!(value >= low && value <= high)) throw_number_out_of_bounds(prefix, name, expected, value);
}

/// Only error statuses (400 to 599) in `statuses`.
inline void check_error_statuses(std::string_view prefix, std::string_view name, const status_set& statuses) {
  for (unsigned status = status_set::min_status; status < config_limits::min_retry_status; ++status)
    if (statuses.contains(status))
      throw_integer_out_of_bounds(prefix, name, "only HTTP error statuses from 400 to 599", status);
}
}  // namespace detail

/// Throws config_error naming the first field that is out of bounds. `prefix` is prepended to key paths, so
/// errors read like the JSON config ("retry.base_delay_ms"); pass "" for bare names.
// Cold (compiled for size): it runs once per client, and every client's constructor compiles it.
[[gnu::cold]] inline void validate(const retry_config& config, std::string_view prefix = "retry") {
  if (config.max_retries > config_limits::max_retries)
    detail::throw_integer_out_of_bounds(prefix, "max_retries", "an integer from 0 to 1000",
                                        config.max_retries);
  detail::check_milliseconds(prefix, "base_delay_ms", config.base_delay, false);
  detail::check_milliseconds(prefix, "max_delay_ms", config.max_delay, false);
  if (config.base_delay > config.max_delay) detail::throw_base_delay_above_max(prefix, config);
  detail::check_milliseconds(prefix, "attempt_timeout_ms", config.attempt_timeout, true);
  detail::check_milliseconds(prefix, "deadline_ms", config.deadline, true);
  if (config.retry_after_max)
    detail::check_milliseconds(prefix, "retry_after_max_ms", *config.retry_after_max, false);
  const auto& budget = config.budget;
  if (budget.type == budget_config::kind::token_bucket) {
    detail::check_number(prefix, "budget.max_tokens", budget.max_tokens, 1, 1000, "a number from 1 to 1000");
    detail::check_number(prefix, "budget.token_ratio", budget.token_ratio, 0.001, budget.max_tokens,
                         "a number from 0.001 to max_tokens");
  }
  if (budget.type == budget_config::kind::percent)
    detail::check_number(prefix, "budget.percent", budget.percent, 0, 1000, "a number from 0 to 1000");
  if (budget.min_retries > 1'000'000)
    detail::throw_integer_out_of_bounds(prefix, "budget.min_retries", "an integer from 0 to 1000000",
                                        budget.min_retries);
  detail::check_error_statuses(prefix, "retry_on", config.retry_on);
  const auto& limit = config.rate_limit;
  detail::check_milliseconds(prefix, "rate_limit.max_wait_ms", limit.max_wait, true);
  detail::check_number(prefix, "rate_limit.beta", limit.beta, 0.01, 0.99, "a number from 0.01 to 0.99");
  detail::check_number(prefix, "rate_limit.scale", limit.scale, 0.001, 1000, "a number from 0.001 to 1000");
  detail::check_number(prefix, "rate_limit.smoothing", limit.smoothing, 0.01, 1, "a number from 0.01 to 1");
  detail::check_number(prefix, "rate_limit.min_rate", limit.min_rate, 0.001, 1e6,
                       "a number of tokens per second from 0.001 to 1e6");
  detail::check_error_statuses(prefix, "rate_limit.throttle_on", limit.throttle_on);
}

}  // namespace retryhttp

#endif  // RETRYHTTP_CONFIG_HPP
