#ifndef RETRYHTTP_FORMAT_HPP
#define RETRYHTTP_FORMAT_HPP

// {fmt} formatters for retryhttp's outcome types, so logs and observers write them directly:
//   fmt::format("{}", observed_outcome)   -> "503 Service Unavailable" | "not sent" | "ambiguous"
//   fmt::format("{}", transport_failure)  -> "connection refused (not sent)"
//   fmt::format("{}", delay_source)       -> "backoff" | "Retry-After"
//   fmt::format("{}", error)              -> "retries exhausted"
//   fmt::format("{}", action)             -> "retry"
//   fmt::format("{}", send_result)        -> its message()
//   fmt::format("{}", attempt_event)      -> "attempt 2 of 4: GET /v1/vms -> 503 Service Unavailable", with
//                                            " (127.0.0.1:8080)" after the target when the Transport names
//                                            the endpoint.
// No formatter prints a request's fields, and the credential a Beast transport adds
// (beast_transport_options::authorization) is never in the request an event refers to.
//   fmt::format("{}", retry_event)        -> "wait 1.48 s (backoff) before attempt 3 of 4"

#include <retryhttp/decision.hpp>
#include <retryhttp/detail/messages.hpp>
#include <retryhttp/detail/printable.hpp>
#include <retryhttp/error.hpp>
#include <retryhttp/observer.hpp>
#include <retryhttp/send_result.hpp>
#include <retryhttp/transport.hpp>

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace retryhttp::detail {
inline std::string describe_outcome(const observed_outcome& outcome) {
  switch (outcome.what) {
    case observed_outcome::kind::response:
      return status_text(outcome.status);
    case observed_outcome::kind::not_sent:
      return "not sent";
    case observed_outcome::kind::ambiguous:
      return "ambiguous";
  }
  return "?";
}
}  // namespace retryhttp::detail

template <>
struct fmt::formatter<retryhttp::observed_outcome> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const retryhttp::observed_outcome& outcome, Context& context) const {
    return fmt::formatter<std::string_view>::format(retryhttp::detail::describe_outcome(outcome), context);
  }
};

template <>
struct fmt::formatter<retryhttp::failure_kind> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(retryhttp::failure_kind kind, Context& context) const {
    return fmt::formatter<std::string_view>::format(retryhttp::to_string(kind), context);
  }
};

template <>
struct fmt::formatter<retryhttp::transport_failure> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const retryhttp::transport_failure& failure, Context& context) const {
    return fmt::formatter<std::string_view>::format(
        fmt::format("{} ({})", failure.message(), retryhttp::to_string(failure.kind)), context);
  }
};

template <>
struct fmt::formatter<retryhttp::delay_source> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(retryhttp::delay_source source, Context& context) const {
    return fmt::formatter<std::string_view>::format(retryhttp::to_string(source), context);
  }
};

template <>
struct fmt::formatter<retryhttp::action> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(retryhttp::action next, Context& context) const {
    return fmt::formatter<std::string_view>::format(retryhttp::to_string(next), context);
  }
};

template <>
struct fmt::formatter<retryhttp::error> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(retryhttp::error reason, Context& context) const {
    return fmt::formatter<std::string_view>::format(make_error_code(reason).message(), context);
  }
};

template <class Response>
struct fmt::formatter<retryhttp::send_result<Response>> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const retryhttp::send_result<Response>& result, Context& context) const {
    return fmt::formatter<std::string_view>::format(result.message(), context);
  }
};

template <>
struct fmt::formatter<retryhttp::attempt_event> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const retryhttp::attempt_event& event, Context& context) const {
    const auto method = event.request.method_string();
    const auto target = event.request.target();
    std::string outcome = event.failure ? fmt::format("{}", *event.failure)
                                        : retryhttp::detail::describe_outcome(event.outcome);
    const std::string where =
        event.endpoint.empty() ? std::string() : " (" + retryhttp::detail::printable(event.endpoint) + ")";
    return fmt::formatter<std::string_view>::format(
        fmt::format("attempt {} of {}: {} {}{} -> {}", event.attempt, event.max_attempts,
                    std::string_view(method.data(), method.size()),
                    std::string_view(target.data(), target.size()), where, outcome),
        context);
  }
};

template <>
struct fmt::formatter<retryhttp::retry_event> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const retryhttp::retry_event& event, Context& context) const {
    return fmt::formatter<std::string_view>::format(
        fmt::format("wait {} ({}) before attempt {} of {}", retryhttp::detail::human_duration(event.delay),
                    retryhttp::to_string(event.source), event.next_attempt, event.max_attempts),
        context);
  }
};

#endif  // RETRYHTTP_FORMAT_HPP
