#ifndef RETRYHTTP_SEND_RESULT_HPP
#define RETRYHTTP_SEND_RESULT_HPP

// What send() returns: the delivered response, or why the call stopped (error()), how many attempts it made,
// and the last response or transport failure it saw.

#include <retryhttp/detail/messages.hpp>
#include <retryhttp/error.hpp>
#include <retryhttp/transport.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace retryhttp {

template <class Response>
class send_result {
 public:
  using response_type = Response;

  /// A response the policy delivers: any status that is not retried, or the first non-retryable one.
  static send_result delivered(Response response, unsigned attempts) {
    return send_result({}, attempts, std::move(response), {});
  }
  /// A call that stopped with `reason`; `last` is the last attempt's outcome, `request_line` its
  /// "METHOD target" for the message.
  /// `requested_wait` and `allowed_wait` describe a refused wait (deadline_exceeded, retry_after_too_long).
  static send_result failed(retryhttp::error reason, unsigned attempts, attempt_outcome<Response> last,
                            std::string request_line, std::chrono::nanoseconds requested_wait = {},
                            std::chrono::nanoseconds allowed_wait = {}) {
    send_result result =
        last.has_response() ? send_result(reason, attempts, std::move(last).response(), std::move(request_line))
                            : send_result(reason, attempts, std::move(last.failure()), std::move(request_line));
    result.requested_wait_ = requested_wait;
    result.allowed_wait_ = allowed_wait;
    return result;
  }
  /// A call that ended before its first attempt (a stop already requested, a deadline of zero).
  static send_result before_first_attempt(retryhttp::error reason, std::string request_line) {
    return send_result(reason, 0, std::monostate{}, std::move(request_line));
  }
  static send_result canceled_before_first_attempt(std::string request_line) {
    return before_first_attempt(retryhttp::error::canceled, std::move(request_line));
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
  bool has_response() const noexcept { return last_.index() == 1; }
  /// The response. Throws std::logic_error, with message() in its text, when there is none.
  const Response& response() const& { return checked_response(); }
  Response& response() & { return const_cast<Response&>(checked_response()); }
  Response&& response() && { return std::move(const_cast<Response&>(checked_response())); }

  /// The last attempt's transport failure, or nullptr when it produced a response or there was no attempt.
  const transport_failure* failure() const noexcept { return std::get_if<2>(&last_); }

  /// "request failed after 3 retries: 503 Service Unavailable"; for a success, "200 OK after 1 attempt".
  std::string message() const {
    std::string last;
    if (const auto* response = std::get_if<1>(&last_)) last = detail::status_text(response->result_int());
    if (const auto* failure = std::get_if<2>(&last_)) last = failure->message();
    if (ok()) return last + " after " + detail::plural(attempts_, "attempt", "attempts");
    return detail::failure_message(static_cast<retryhttp::error>(error_.value()), attempts_, request_line_,
                                   last, has_response(), requested_wait_, allowed_wait_);
  }

 private:
  using last_outcome = std::variant<std::monostate, Response, transport_failure>;

  template <class Last>
  send_result(retryhttp::error reason, unsigned attempts, Last&& last, std::string request_line)
      : error_(reason == retryhttp::error{} ? boost::system::error_code() : make_error_code(reason)),
        attempts_(attempts),
        last_(std::forward<Last>(last)),
        request_line_(std::move(request_line)) {}

  const Response& checked_response() const {
    if (const auto* response = std::get_if<1>(&last_)) return *response;
    throw std::logic_error("send_result has no response: " + message());
  }

  boost::system::error_code error_;
  unsigned attempts_ = 0;
  last_outcome last_;
  std::string request_line_;  // set only when the call failed
  std::chrono::nanoseconds requested_wait_{0};
  std::chrono::nanoseconds allowed_wait_{0};
};

}  // namespace retryhttp

#endif  // RETRYHTTP_SEND_RESULT_HPP
