#ifndef RETRYHTTP_DETAIL_MESSAGES_HPP
#define RETRYHTTP_DETAIL_MESSAGES_HPP

// The words of a failed call, in one non-template place: formatting is done once here, whatever the
// Transport or Body types, which keeps the client template thin (as fmt keeps format() over vformat()).

#include <retryhttp/error.hpp>

#include <fmt/format.h>
#include <boost/beast/http/status.hpp>

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

/// The message of a call that ended with `reason` after `attempts` attempts. `request_line` is "POST
/// /v1/vms"; `last` describes the last outcome ("503 Service Unavailable", "connection refused") or is empty;
/// `last_was_response` tells which of the two it is.
inline std::string failure_message(error reason, unsigned attempts, std::string_view request_line,
                                   std::string_view last, bool last_was_response) {
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
  }
  return fmt::format("request failed: {}", make_error_code(reason).message());
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_MESSAGES_HPP
