#ifndef RETRYHTTP_ERROR_HPP
#define RETRYHTTP_ERROR_HPP

// Why a send() did not deliver a response. The codes live in one category, usable both as
// boost::system::error_code (what Beast and Asio report) and as std::error_code.

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>

#include <string>
#include <system_error>
#include <type_traits>

namespace retryhttp {

enum class error {
  /// Every attempt failed transiently and max_retries re-sends were made.
  retries_exhausted = 1,
  /// The failure is one the policy does not retry: an unsafe request whose attempt provably sent nothing,
  /// while
  /// retry_config::retry_unsafe_when_not_sent is off. Nothing was applied.
  not_retryable,
  /// An unsafe (non-idempotent) request failed after it may have reached the server (an ambiguous transport
  /// failure, or a retryable status such as 503 from a proxy). It was not re-sent: it may have been applied.
  may_have_been_applied,
  /// The caller's std::stop_token asked the call to stop, before an attempt, during one, or during a wait.
  canceled,
  /// The call's deadline left no time for the next attempt or wait; the wait that would end past it was not
  /// started.
  deadline_exceeded,
  /// The shared retry budget had nothing left: the last outcome is the result.
  budget_exhausted,
  /// The server's Retry-After asked for a wait longer than retry_after_max allows.
  retry_after_too_long,
  /// The attempt failed in a way that sending again would repeat: a response over the transport's size
  /// limits, a request the transport refuses to write (a control character in a field). Not retried.
  permanent_failure,
  /// The client-side rate limiter (rate_limiter.hpp), engaged because the server throttled the endpoint, had
  /// no token for the next attempt within the wait allowed: none with rate_limit.fail_fast, less than
  /// rate_limit.max_wait, or the time left before the call's deadline. The attempt was not sent.
  rate_limited,
};

namespace detail {

class error_category_impl final : public boost::system::error_category {
 public:
  // A fixed id makes two copies of the category (one per shared library) compare equal.
  constexpr error_category_impl() noexcept : boost::system::error_category(0x7e7a1f5c0b9d4e21ULL) {}
  const char* name() const noexcept override { return "retryhttp"; }
  // Cold (compiled for size): read only when a failure is printed; every program compiles it (it is virtual).
  [[gnu::cold]] std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::retries_exhausted:
        return "retries exhausted";
      case error::not_retryable:
        return "not retryable: the request is not idempotent and was never sent";
      case error::may_have_been_applied:
        return "the request is not idempotent and may have been applied; it was not retried";
      case error::canceled:
        return "canceled";
      case error::deadline_exceeded:
        return "deadline exceeded";
      case error::budget_exhausted:
        return "retry budget exhausted";
      case error::retry_after_too_long:
        return "Retry-After asks for a longer wait than allowed";
      case error::permanent_failure:
        return "the failure is not transient: sending again would fail the same way";
      case error::rate_limited:
        return "rate limited: the client-side rate limiter had no token in the time allowed";
    }
    return "unknown retryhttp error";
  }
};

}  // namespace detail

inline const boost::system::error_category& error_category() noexcept {
  static constexpr detail::error_category_impl instance;
  return instance;
}

inline boost::system::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace retryhttp

template <>
struct boost::system::is_error_code_enum<retryhttp::error> : std::true_type {};
template <>
struct std::is_error_code_enum<retryhttp::error> : std::true_type {};

#endif  // RETRYHTTP_ERROR_HPP
