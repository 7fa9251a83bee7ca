#ifndef RETRYHTTP_DETAIL_MESSAGES_HPP
#define RETRYHTTP_DETAIL_MESSAGES_HPP

// The words of a failed call, in one non-template place: formatting is done once here, whatever the
// Transport or Body types, which keeps the client template thin (as fmt keeps format() over vformat()).

#include <retryhttp/error.hpp>

#include <boost/beast/http/status.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>

namespace retryhttp::detail {

// Plain concatenation, not fmt: every translation unit with a client includes this header, and fmt's
// format.h cost it a tenth of a second to parse. (format.hpp, which formats for fmt, still uses fmt.)

/// The parts, one after the other.
inline std::string concat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (const auto part : parts) size += part.size();
  std::string text;
  text.reserve(size);
  for (const auto part : parts) text += part;
  return text;
}

/// `value` in decimal.
inline std::string decimal(unsigned value) {
  char digits[16];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  return std::string(digits, end);
}

/// "503 Service Unavailable"; a status Beast has no reason phrase for is just its number.
inline std::string status_text(unsigned status) {
  const auto reason = boost::beast::http::obsolete_reason(boost::beast::http::int_to_status(status));
  if (reason.empty() || reason == "<unknown-status>") return decimal(status);
  return concat({decimal(status), " ", std::string_view(reason.data(), reason.size())});
}

inline std::string plural(unsigned count, std::string_view one, std::string_view many) {
  return concat({decimal(count), " ", count == 1 ? one : many});
}

/// "585 ms", "1.48 s", "120 s": a duration as a person reads it.
inline std::string human_duration(std::chrono::nanoseconds d) {
  const double ms = std::chrono::duration<double, std::milli>(d).count();
  char text[64];
  if (ms < 1000)
    std::snprintf(text, sizeof text, "%.0f ms", ms);
  else if (ms < 10'000)
    std::snprintf(text, sizeof text, "%.3g s", ms / 1000);
  else
    std::snprintf(text, sizeof text, "%.0f s", ms / 1000);
  return text;
}

/// The message of a call that ended with `reason` after `attempts` attempts. `request_line` is "POST
/// /v1/vms"; `last` describes the last outcome ("503 Service Unavailable", "connection refused") or is empty;
/// `last_was_response` tells which of the two it is.
inline std::string failure_message(error reason, unsigned attempts, std::string_view request_line,
                                   std::string_view last, bool last_was_response,
                                   std::chrono::nanoseconds requested_wait = {},
                                   std::chrono::nanoseconds allowed_wait = {}) {
  const std::string ended = last.empty() ? std::string() : concat({"; the last attempt ended with ", last});
  const unsigned retries = attempts == 0 ? 0 : attempts - 1;
  const std::string tried = plural(attempts, "attempt", "attempts");
  switch (reason) {
    case error::retries_exhausted:
      // The specified wording: "request failed after 3 retries: 503 Service Unavailable".
      return concat({"request failed after ", plural(retries, "retry", "retries"), ": ", last});
    case error::may_have_been_applied:
      if (last_was_response)
        return concat(
            {request_line,
             " may have been applied and was not retried: it is not idempotent, and the server answered ",
             last});
      return concat(
          {request_line,
           " may have been applied and was not retried: it is not idempotent, and the attempt failed "
           "after the request was sent (",
           last, ")"});
    case error::not_retryable:
      return concat(
          {request_line,
           " was not retried: it is not idempotent and its attempt failed before anything was sent (", last,
           "); nothing was applied (retry_unsafe_when_not_sent allows such retries)"});
    case error::canceled:
      if (last.empty()) return concat({"request canceled after ", tried});
      return concat({"request canceled after ", tried, "; the last one ended with ", last});
    case error::deadline_exceeded:
      if (requested_wait.count() > 0)
        return concat({"deadline exceeded after ", tried, ": the next wait of ",
                       human_duration(requested_wait), " would end past the call's deadline (",
                       human_duration(allowed_wait), " left)", ended});
      return concat({"deadline exceeded after ", tried, ended});
    case error::budget_exhausted:
      return concat({"retry budget exhausted after ", tried, ": ", last});
    case error::retry_after_too_long:
      return concat({"the server asked to wait ", human_duration(requested_wait),
                     " (Retry-After), more than the ", human_duration(allowed_wait),
                     " allowed (retry_after_max_ms); not retried after ", tried, ": ", last});
    case error::permanent_failure:
      return concat({request_line,
                     " failed and was not retried, since sending it again would fail the same way: ", last});
    case error::rate_limited:
      // The server throttled this endpoint: the limiter's next token is further away than the call may wait.
      return concat(
          {"rate limited after ", tried,
           ": the server is throttling this endpoint, and the client-side rate limiter's next token is ",
           human_duration(requested_wait), " away, ",
           allowed_wait.count() > 0 ? concat({"more than the ", human_duration(allowed_wait), " allowed"})
                                    : std::string("and the call may not wait (fail_fast)"),
           ended});
  }
  return concat({"request failed: ", make_error_code(reason).message()});
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_MESSAGES_HPP
