#ifndef RETRYHTTP_DETAIL_MESSAGES_HPP
#define RETRYHTTP_DETAIL_MESSAGES_HPP

// The words of a failed call, in one non-template place: formatting is done once here, whatever the
// Transport or Body types, which keeps the client template thin (as fmt keeps format() over vformat()).

#include <retryhttp/error.hpp>

#include <fmt/format.h>
#include <boost/beast/http/status.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace retryhttp::detail {

/// "503 Service Unavailable"; a status Beast has no reason phrase for is just its number.
inline std::string status_text(unsigned status) {
  const auto reason = boost::beast::http::obsolete_reason(boost::beast::http::int_to_status(status));
  if (reason.empty() || reason == "<unknown-status>") return fmt::format("{}", status);
  return fmt::format("{} {}", status, std::string_view(reason.data(), reason.size()));
}

inline std::string plural(unsigned count, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", count, count == 1 ? one : many);
}

/// "585 ms", "1.48 s", "120 s": a duration as a person reads it.
inline std::string human_duration(std::chrono::nanoseconds d) {
  const double ms = std::chrono::duration<double, std::milli>(d).count();
  if (ms < 1000) return fmt::format("{:.0f} ms", ms);
  if (ms < 10'000) return fmt::format("{:.3g} s", ms / 1000);
  return fmt::format("{:.0f} s", ms / 1000);
}

/// The message of a call that ended with `reason` after `attempts` attempts. `request_line` is "POST
/// /v1/vms"; `last` describes the last outcome ("503 Service Unavailable", "connection refused") or is empty;
/// `last_was_response` tells which of the two it is.
inline std::string failure_message(error reason, unsigned attempts, std::string_view request_line,
                                   std::string_view last, bool last_was_response,
                                   std::chrono::nanoseconds requested_wait = {},
                                   std::chrono::nanoseconds allowed_wait = {}) {
  const std::string ended =
      last.empty() ? std::string() : fmt::format("; the last attempt ended with {}", last);
  const unsigned retries = attempts == 0 ? 0 : attempts - 1;
  switch (reason) {
    case error::retries_exhausted:
      // The ticket's words: "request failed after 3 retries: 503 Service Unavailable".
      return fmt::format("request failed after {}: {}", plural(retries, "retry", "retries"), last);
    case error::may_have_been_applied:
      if (last_was_response)
        return fmt::format(
            "{} may have been applied and was not retried: it is not idempotent, and the server answered {}",
            request_line, last);
      return fmt::format(
          "{} may have been applied and was not retried: it is not idempotent, and the attempt failed after "
          "the "
          "request was sent ({})",
          request_line, last);
    case error::not_retryable:
      return fmt::format(
          "{} was not retried: it is not idempotent and its attempt failed before anything was sent ({}); "
          "nothing "
          "was applied (retry_unsafe_when_not_sent allows such retries)",
          request_line, last);
    case error::canceled:
      if (last.empty())
        return fmt::format("request canceled after {}", plural(attempts, "attempt", "attempts"));
      return fmt::format("request canceled after {}; the last one ended with {}",
                         plural(attempts, "attempt", "attempts"), last);
    case error::deadline_exceeded:
      if (requested_wait.count() > 0)
        return fmt::format(
            "deadline exceeded after {}: the next wait of {} would end past the call's deadline ({} "
            "left){}",
            plural(attempts, "attempt", "attempts"), human_duration(requested_wait),
            human_duration(allowed_wait), ended);
      return fmt::format("deadline exceeded after {}{}", plural(attempts, "attempt", "attempts"), ended);
    case error::budget_exhausted:
      return fmt::format("retry budget exhausted after {}: {}", plural(attempts, "attempt", "attempts"),
                         last);
    case error::retry_after_too_long:
      return fmt::format(
          "the server asked to wait {} (Retry-After), more than the {} allowed (retry_after_max_ms); not "
          "retried "
          "after {}: {}",
          human_duration(requested_wait), human_duration(allowed_wait),
          plural(attempts, "attempt", "attempts"), last);
    case error::permanent_failure:
      return fmt::format("{} failed and was not retried, since sending it again would fail the same way: {}",
                         request_line, last);
  }
  return fmt::format("request failed: {}", make_error_code(reason).message());
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_MESSAGES_HPP
