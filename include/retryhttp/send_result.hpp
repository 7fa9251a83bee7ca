#ifndef RETRYHTTP_SEND_RESULT_HPP
#define RETRYHTTP_SEND_RESULT_HPP

// What send() returns: the delivered response, or why the call stopped (error()), how many attempts it made,
// and the last response or transport failure it saw.

#include <retryhttp/detail/messages.hpp>
#include <retryhttp/error.hpp>
#include <retryhttp/transport.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace retryhttp {

namespace detail {
/// Converts to what `make()` returns, so that optional::emplace(elide_into{make}) constructs the result of
/// make() in place (guaranteed copy elision) instead of moving it in.
template <class F>
struct elide_into {
  F make;
  operator std::invoke_result_t<F&>() { return make(); }
};
template <class F>
elide_into(F) -> elide_into<F>;
}  // namespace detail

template <class Response>
class send_result {
 public:
  using response_type = Response;

  /// A call that has not ended yet; a retry driver fills it in place (emplace_outcome, then deliver or fail),
  /// so that the last attempt's response is never moved once more on its way out.
  send_result() = default;

  /// A response the policy delivers: any status that is not retried, or the first non-retryable one.
  static send_result delivered(Response response, unsigned attempts) {
    send_result result;
    result.last_.emplace(std::move(response));
    result.deliver(attempts);
    return result;
  }
  /// A call that stopped with `reason`; `last` is the last attempt's outcome, `request_line` its
  /// "METHOD target" for the message.
  /// `requested_wait` and `allowed_wait` describe a refused wait (deadline_exceeded, retry_after_too_long).
  static send_result failed(retryhttp::error reason, unsigned attempts, attempt_outcome<Response> last,
                            std::string request_line, std::chrono::nanoseconds requested_wait = {},
                            std::chrono::nanoseconds allowed_wait = {}) {
    send_result result;
    result.last_.emplace(std::move(last));
    result.fail(reason, attempts, std::move(request_line), requested_wait, allowed_wait);
    return result;
  }
  /// A call that ended before its first attempt (a stop already requested, a deadline of zero).
  static send_result before_first_attempt(retryhttp::error reason, std::string request_line) {
    send_result result;
    result.fail(reason, 0, std::move(request_line));
    return result;
  }
  static send_result canceled_before_first_attempt(std::string request_line) {
    return before_first_attempt(retryhttp::error::canceled, std::move(request_line));
  }

  // ---- For retry drivers (basic_client::send, async_send) ----
  /// Constructs the next attempt's outcome in place from `make()`, replacing the previous one.
  template <class Make>
  attempt_outcome<Response>& emplace_outcome(Make&& make) {
    return last_.emplace(detail::elide_into{std::forward<Make>(make)});
  }
  void deliver(unsigned attempts) noexcept {
    error_.clear();
    attempts_ = attempts;
  }
  void fail(retryhttp::error reason, unsigned attempts, std::string request_line,
            std::chrono::nanoseconds requested_wait = {}, std::chrono::nanoseconds allowed_wait = {}) {
    error_ = make_error_code(reason);
    attempts_ = attempts;
    request_line_ = std::move(request_line);
    requested_wait_ = requested_wait;
    allowed_wait_ = allowed_wait;
  }

  /// For deadline_exceeded and retry_after_too_long: the wait that was refused, and what was allowed.
  std::chrono::nanoseconds requested_wait() const noexcept { return requested_wait_; }
  std::chrono::nanoseconds allowed_wait() const noexcept { return allowed_wait_; }

  /// True when a response was delivered. Its status may still be 404 or 500: those are answers, not failures.
  bool ok() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return ok(); }

  /// Empty on success; else a retryhttp::error (retries_exhausted, may_have_been_applied, ...).
  const boost::system::error_code& error() const noexcept { return error_; }
  unsigned attempts() const noexcept { return attempts_; }
  unsigned retries() const noexcept { return attempts_ == 0 ? 0 : attempts_ - 1; }

  /// Whether there is a response: the delivered one, or the last one of a failed call (a final 503).
  bool has_response() const noexcept { return last_ && last_->has_response(); }
  /// The response. Throws std::logic_error, with message() in its text, when there is none.
  const Response& response() const& { return checked_response(); }
  Response& response() & { return const_cast<Response&>(checked_response()); }
  Response&& response() && { return std::move(const_cast<Response&>(checked_response())); }

  /// The last attempt's transport failure, or nullptr when it produced a response or there was no attempt.
  const transport_failure* failure() const noexcept {
    return last_ && !last_->has_response() ? &last_->failure() : nullptr;
  }

  /// "request failed after 3 retries: 503 Service Unavailable"; for a success, "200 OK after 1 attempt".
  std::string message() const {
    std::string last;
    if (has_response()) last = detail::status_text(last_->response().result_int());
    if (const auto* failed = failure()) last = failed->message();
    if (ok()) return last + " after " + detail::plural(attempts_, "attempt", "attempts");
    return detail::failure_message(static_cast<retryhttp::error>(error_.value()), attempts_, request_line_,
                                   last, has_response(), requested_wait_, allowed_wait_);
  }

 private:
  const Response& checked_response() const {
    if (has_response()) return last_->response();
    throw std::logic_error("send_result has no response: " + message());
  }

  boost::system::error_code error_;
  unsigned attempts_ = 0;
  std::optional<attempt_outcome<Response>> last_;
  std::string request_line_;  // set only when the call failed
  std::chrono::nanoseconds requested_wait_{0};
  std::chrono::nanoseconds allowed_wait_{0};
};

}  // namespace retryhttp

#endif  // RETRYHTTP_SEND_RESULT_HPP
