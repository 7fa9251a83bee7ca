#ifndef RETRYHTTP_JSON_CONFIG_HPP
#define RETRYHTTP_JSON_CONFIG_HPP

// Loading retry_config from the configuration's JSON shape:
//   {"retry": {"max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 10000, "retry_on": [502, 503, 504]}}
// Every error names the key path and what was expected; nothing is silently ignored or truncated. Needs
// Boost.JSON (link boost_json), which is why it is not part of config.hpp.

#include <retryhttp/config.hpp>
#include <retryhttp/detail/json_reading.hpp>

#include <string>
#include <string_view>

namespace retryhttp {

/// The keys a "retry" object may hold.
inline constexpr std::string_view retry_config_keys[] = {"max_retries",
                                                         "base_delay_ms",
                                                         "max_delay_ms",
                                                         "retry_on",
                                                         "retry_unsafe_when_not_sent",
                                                         "attempt_timeout_ms",
                                                         "deadline_ms",
                                                         "respect_retry_after",
                                                         "retry_after_max_ms",
                                                         "budget",
                                                         "rate_limit"};

/// Reads a "budget" object: {"kind": "token_bucket", "max_tokens": 100, "token_ratio": 0.1} or
/// {"kind": "percent", "percent": 10, "min_retries": 10} or {"kind": "none"}. Throws config_error.
inline budget_config budget_config_from_json(const boost::json::value& value, const std::string& path) {
  const auto& object = detail::json_object(value, path);
  budget_config budget;
  const std::string kind_key = detail::join_key(path, "kind");
  const char* kinds = "\"none\", \"token_bucket\" or \"percent\"";
  const auto* kind = object.if_contains("kind");
  if (!kind) throw config_error(kind_key, kinds, "no kind");
  const std::string name = detail::json_string(*kind, kind_key);
  auto number = [&](const char* key, double low, double high, double fallback) {
    const auto* field = object.if_contains(key);
    if (!field) return fallback;
    const std::string at = detail::join_key(path, key);
    const std::string expected = "a number from " + detail::describe_json(boost::json::value(low)) + " to "
                                 + detail::describe_json(boost::json::value(high));
    if (!field->is_number()) throw config_error(at, expected, detail::describe_json(*field));
    const double real = field->to_number<double>();
    if (!(real >= low && real <= high)) throw config_error(at, expected, detail::describe_json(*field));
    return real;
  };
  if (name == "none") {
    detail::reject_unknown_keys(object, path, {"kind"});
  } else if (name == "token_bucket") {
    detail::reject_unknown_keys(object, path, {"kind", "max_tokens", "token_ratio"});
    budget.type = budget_config::kind::token_bucket;
    budget.max_tokens = number("max_tokens", 1, 1000, budget.max_tokens);
    budget.token_ratio = number("token_ratio", 0.001, budget.max_tokens, budget.token_ratio);
  } else if (name == "percent") {
    detail::reject_unknown_keys(object, path, {"kind", "percent", "min_retries"});
    budget.type = budget_config::kind::percent;
    budget.percent = number("percent", 0, 1000, budget.percent);
    if (const auto* min = object.if_contains("min_retries"))
      budget.min_retries = static_cast<unsigned>(
          detail::json_integer(*min, detail::join_key(path, "min_retries"), 0, 1'000'000));
  } else {
    throw config_error(kind_key, kinds, detail::describe_json(*kind));
  }
  return budget;
}

/// Reads a "rate_limit" object: {"kind": "adaptive", "fail_fast": false, "max_wait_ms": 0, "throttle_on":
/// [429], "beta": 0.7, "scale": 0.4, "smoothing": 0.8, "min_rate": 0.5} (every key but kind optional) or
/// {"kind": "none"}. Throws config_error.
inline rate_limit_config rate_limit_config_from_json(const boost::json::value& value,
                                                     const std::string& path) {
  const auto& object = detail::json_object(value, path);
  rate_limit_config limit;
  const std::string kind_key = detail::join_key(path, "kind");
  const char* kinds = "\"none\" or \"adaptive\"";
  const auto* kind = object.if_contains("kind");
  if (!kind) throw config_error(kind_key, kinds, "no kind");
  const std::string name = detail::json_string(*kind, kind_key);
  if (name == "none") {
    detail::reject_unknown_keys(object, path, {"kind"});
    return limit;
  }
  if (name != "adaptive") throw config_error(kind_key, kinds, detail::describe_json(*kind));
  detail::reject_unknown_keys(
      object, path,
      {"kind", "fail_fast", "max_wait_ms", "throttle_on", "beta", "scale", "smoothing", "min_rate"});
  limit.type = rate_limit_config::kind::adaptive;
  auto number = [&](const char* key, double low, double high, double fallback, const char* unit) {
    const auto* field = object.if_contains(key);
    if (!field) return fallback;
    const std::string at = detail::join_key(path, key);
    const std::string expected = std::string(unit) + " from " + detail::describe_json(boost::json::value(low))
                                 + " to " + detail::describe_json(boost::json::value(high));
    if (!field->is_number()) throw config_error(at, expected, detail::describe_json(*field));
    const double real = field->to_number<double>();
    if (!(real >= low && real <= high)) throw config_error(at, expected, detail::describe_json(*field));
    return real;
  };
  if (const auto* fail_fast = object.if_contains("fail_fast"))
    limit.fail_fast = detail::json_bool(*fail_fast, detail::join_key(path, "fail_fast"));
  if (const auto* max_wait = object.if_contains("max_wait_ms"))
    limit.max_wait = std::chrono::milliseconds(
        detail::json_integer(*max_wait, detail::join_key(path, "max_wait_ms"), 0,
                             config_limits::max_delay.count(), "a number of milliseconds (0: no limit)"));
  limit.beta = number("beta", 0.01, 0.99, limit.beta, "a number");
  limit.scale = number("scale", 0.001, 1000, limit.scale, "a number");
  limit.smoothing = number("smoothing", 0.01, 1, limit.smoothing, "a number");
  limit.min_rate = number("min_rate", 0.001, 1e6, limit.min_rate, "a number of tokens per second");
  if (const auto* statuses = object.if_contains("throttle_on")) {
    const std::string key = detail::join_key(path, "throttle_on");
    if (!statuses->is_array())
      throw config_error(key, "an array of HTTP statuses such as [429]", detail::describe_json(*statuses));
    status_set set;
    std::size_t index = 0;
    for (const auto& element : statuses->get_array()) {
      set.insert(static_cast<unsigned>(
          detail::json_integer(element, detail::index_key(key, index), config_limits::min_retry_status,
                               config_limits::max_retry_status, "an HTTP error status")));
      ++index;
    }
    limit.throttle_on = set;
  }
  return limit;
}

/// Reads a "retry" object found at `path`. Keys it lacks keep their value from `defaults`; the result is
/// validated as a whole (base_delay_ms at most max_delay_ms). Throws config_error.
inline retry_config retry_config_from_json(const boost::json::value& retry, std::string_view path = "retry",
                                           retry_config defaults = {}) {
  const std::string prefix(path);
  const auto& object = detail::json_object(retry, prefix);
  detail::reject_unknown_keys(
      object, prefix,
      {retry_config_keys[0], retry_config_keys[1], retry_config_keys[2], retry_config_keys[3],
       retry_config_keys[4], retry_config_keys[5], retry_config_keys[6], retry_config_keys[7],
       retry_config_keys[8], retry_config_keys[9], retry_config_keys[10]});
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
  if (const auto* value = object.if_contains("deadline_ms"))
    config.deadline = std::chrono::milliseconds(detail::json_integer(
        *value, detail::join_key(prefix, "deadline_ms"), 0, max_ms, "a number of milliseconds (0: none)"));
  if (const auto* value = object.if_contains("respect_retry_after"))
    config.respect_retry_after = detail::json_bool(*value, detail::join_key(prefix, "respect_retry_after"));
  if (const auto* value = object.if_contains("retry_after_max_ms"))
    config.retry_after_max = std::chrono::milliseconds(detail::json_integer(
        *value, detail::join_key(prefix, "retry_after_max_ms"), 0, max_ms, "a number of milliseconds"));
  if (const auto* value = object.if_contains("budget"))
    config.budget = budget_config_from_json(*value, detail::join_key(prefix, "budget"));
  if (const auto* value = object.if_contains("rate_limit"))
    config.rate_limit = rate_limit_config_from_json(*value, detail::join_key(prefix, "rate_limit"));
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

/// Parses a whole document of this shape, {"retry": {...}}. A document without "retry" gives the
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
