#ifndef RETRYHTTP_JSON_CONFIG_HPP
#define RETRYHTTP_JSON_CONFIG_HPP

// Loading retry_config from the ticket's JSON shape:
//   {"retry": {"max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 10000, "retry_on": [502, 503, 504]}}
// Every error names the key path and what was expected; nothing is silently ignored or truncated. Needs
// Boost.JSON (link boost_json), which is why it is not part of config.hpp.

#include <retryhttp/config.hpp>
#include <retryhttp/detail/json_reading.hpp>

#include <string>
#include <string_view>

namespace retryhttp {

/// The keys a "retry" object may hold.
inline constexpr std::string_view retry_config_keys[] = {
    "max_retries",       "base_delay_ms", "max_delay_ms", "retry_on", "retry_unsafe_when_not_sent",
    "attempt_timeout_ms"};

/// Reads a "retry" object found at `path`. Keys it lacks keep their value from `defaults`; the result is
/// validated as a whole (base_delay_ms at most max_delay_ms). Throws config_error.
inline retry_config retry_config_from_json(const boost::json::value& retry, std::string_view path = "retry",
                                           retry_config defaults = {}) {
  const std::string prefix(path);
  const auto& object = detail::json_object(retry, prefix);
  detail::reject_unknown_keys(object, prefix,
                              {retry_config_keys[0], retry_config_keys[1], retry_config_keys[2],
                               retry_config_keys[3], retry_config_keys[4], retry_config_keys[5]});
  retry_config config = defaults;
  const auto max_ms = config_limits::max_delay.count();
  if (const auto* value = object.if_contains("max_retries"))
    config.max_retries = static_cast<unsigned>(
        detail::json_integer(*value, detail::join_key(prefix, "max_retries"), 0, config_limits::max_retries));
  if (const auto* value = object.if_contains("base_delay_ms"))
    config.base_delay = std::chrono::milliseconds(detail::json_integer(
        *value, detail::join_key(prefix, "base_delay_ms"), 0, max_ms, "a number of milliseconds"));
  if (const auto* value = object.if_contains("max_delay_ms"))
    config.max_delay = std::chrono::milliseconds(detail::json_integer(
        *value, detail::join_key(prefix, "max_delay_ms"), 0, max_ms, "a number of milliseconds"));
  if (const auto* value = object.if_contains("attempt_timeout_ms"))
    config.attempt_timeout =
        std::chrono::milliseconds(detail::json_integer(*value, detail::join_key(prefix, "attempt_timeout_ms"),
                                                       0, max_ms, "a number of milliseconds (0: none)"));
  if (const auto* value = object.if_contains("retry_unsafe_when_not_sent"))
    config.retry_unsafe_when_not_sent =
        detail::json_bool(*value, detail::join_key(prefix, "retry_unsafe_when_not_sent"));
  if (const auto* value = object.if_contains("retry_on")) {
    const std::string key = detail::join_key(prefix, "retry_on");
    if (!value->is_array())
      throw config_error(key, "an array of HTTP statuses such as [502, 503, 504]",
                         detail::describe_json(*value));
    status_set statuses;
    std::size_t index = 0;
    for (const auto& element : value->get_array()) {
      statuses.insert(static_cast<unsigned>(
          detail::json_integer(element, detail::index_key(key, index), config_limits::min_retry_status,
                               config_limits::max_retry_status, "an HTTP error status")));
      ++index;
    }
    config.retry_on = statuses;
  }
  validate(config, prefix);
  return config;
}

/// Parses a whole document of the ticket's shape, {"retry": {...}}. A document without "retry" gives the
/// defaults; any other top-level key is an error. Throws config_error.
inline retry_config load_retry_config(std::string_view json_text) {
  const boost::json::value document = detail::parse_json_strict(json_text);
  const auto& root = detail::json_object(document, "");
  detail::reject_unknown_keys(root, "", {"retry"});
  if (const auto* retry = root.if_contains("retry")) return retry_config_from_json(*retry, "retry");
  return retry_config{};
}

}  // namespace retryhttp

#endif  // RETRYHTTP_JSON_CONFIG_HPP
