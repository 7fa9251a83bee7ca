#include <retryhttp/json_config.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_json_config {

using namespace std::chrono_literals;
using retryhttp::config_error;
using retryhttp::load_retry_config;
using retryhttp::retry_config;

namespace {
/// The config_error a document is refused with; fails the test when it is accepted.
config_error refusal_of(const std::string& json) {
  try {
    (void)load_retry_config(json);
  } catch (const config_error& error) {
    return error;
  }
  FAIL("accepted: " << json);
  throw std::logic_error("FAIL returned");  // FAIL ends the test case by throwing
}
}  // namespace

TEST_CASE("the ticket's JSON gives the ticket's config", "[json_config]") {
  const auto config = load_retry_config(R"({
    "retry": {"max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 10000, "retry_on": [502, 503, 504]}
  })");
  CHECK(config == retry_config{});
}

TEST_CASE("every key changes the config; missing keys keep their defaults", "[json_config]") {
  const auto config = load_retry_config(R"({"retry": {
    "max_retries": 5, "base_delay_ms": 100, "max_delay_ms": 2000, "retry_on": [429, 503],
    "retry_unsafe_when_not_sent": true, "attempt_timeout_ms": 1500}})");
  CHECK(config.max_retries == 5);
  CHECK(config.base_delay == 100ms);
  CHECK(config.max_delay == 2s);
  CHECK(config.retry_on.to_vector() == std::vector<unsigned>{429, 503});
  CHECK(config.retry_unsafe_when_not_sent);
  CHECK(config.attempt_timeout == 1500ms);

  const auto partial = load_retry_config(R"({"retry": {"max_retries": 0}})");
  CHECK(partial.max_retries == 0);
  CHECK(partial.base_delay == 500ms);
  CHECK(partial.retry_on == retryhttp::status_set{502, 503, 504});

  CHECK(load_retry_config("{}") == retry_config{});
  CHECK(load_retry_config(R"({"retry": {}})") == retry_config{});
  CHECK(load_retry_config(R"({"retry": {"retry_on": []}})").retry_on.empty());
}

TEST_CASE("an integral number written with an exponent loses nothing and is accepted", "[json_config]") {
  CHECK(load_retry_config(R"({"retry": {"base_delay_ms": 1e3, "max_delay_ms": 2.0E4}})").base_delay == 1s);
}

TEST_CASE("a bad config names the key path and what was expected", "[json_config]") {
  using row = std::tuple<std::string, std::string, std::string>;
  const auto [json, key, message] = GENERATE(table<std::string, std::string, std::string>({
      row{R"({"retry": {"max_retries": "3"}})", "retry.max_retries",
          R"(retry.max_retries: expected an integer from 0 to 1000, got "3" (a string))"},
      row{R"({"retry": {"max_retries": -1}})", "retry.max_retries",
          "retry.max_retries: expected an integer from 0 to 1000, got -1"},
      row{R"({"retry": {"max_retries": 3.5}})", "retry.max_retries",
          "retry.max_retries: expected an integer from 0 to 1000, got 3.5"},
      row{R"({"retry": {"max_retries": 1001}})", "retry.max_retries",
          "retry.max_retries: expected an integer from 0 to 1000, got 1001"},
      row{R"({"retry": {"max_retries": 18446744073709551615}})", "retry.max_retries",
          "retry.max_retries: expected an integer from 0 to 1000, got 18446744073709551615"},
      row{R"({"retry": {"max_retries": 1e300}})", "retry.max_retries",
          "retry.max_retries: expected an integer from 0 to 1000, got 1e+300"},
      row{R"({"retry": {"max_retries": null}})", "retry.max_retries",
          "retry.max_retries: expected an integer from 0 to 1000, got null"},
      row{R"({"retry": {"base_delay_ms": -500}})", "retry.base_delay_ms",
          "retry.base_delay_ms: expected a number of milliseconds from 0 to 86400000, got -500"},
      row{R"({"retry": {"base_delay_ms": true}})", "retry.base_delay_ms",
          "retry.base_delay_ms: expected a number of milliseconds from 0 to 86400000, got true"},
      row{R"({"retry": {"max_delay_ms": 86400001}})", "retry.max_delay_ms",
          "retry.max_delay_ms: expected a number of milliseconds from 0 to 86400000, got 86400001"},
      row{R"({"retry": {"base_delay_ms": 20000}})", "retry.base_delay_ms",
          "retry.base_delay_ms: expected at most retry.max_delay_ms (10000), got 20000"},
      row{R"({"retry": {"base_delay_ms": 600, "max_delay_ms": 500}})", "retry.base_delay_ms",
          "retry.base_delay_ms: expected at most retry.max_delay_ms (500), got 600"},
      row{R"({"retry": {"retry_on": 503}})", "retry.retry_on",
          "retry.retry_on: expected an array of HTTP statuses such as [502, 503, 504], got 503"},
      row{R"({"retry": {"retry_on": [502, 99]}})", "retry.retry_on[1]",
          "retry.retry_on[1]: expected an HTTP error status from 400 to 599, got 99"},
      row{R"({"retry": {"retry_on": [600]}})", "retry.retry_on[0]",
          "retry.retry_on[0]: expected an HTTP error status from 400 to 599, got 600"},
      row{R"({"retry": {"retry_on": [200]}})", "retry.retry_on[0]",
          "retry.retry_on[0]: expected an HTTP error status from 400 to 599, got 200"},
      row{R"({"retry": {"retry_on": ["503"]}})", "retry.retry_on[0]",
          R"(retry.retry_on[0]: expected an HTTP error status from 400 to 599, got "503" (a string))"},
      row{R"({"retry": {"retry_unsafe_when_not_sent": "yes"}})", "retry.retry_unsafe_when_not_sent",
          R"(retry.retry_unsafe_when_not_sent: expected true or false, got "yes" (a string))"},
      row{R"({"retry": {"attempt_timeout_ms": -1}})", "retry.attempt_timeout_ms",
          "retry.attempt_timeout_ms: expected a number of milliseconds (0: none) from 0 to 86400000, got -1"},
      row{R"({"retry": {"max_retry": 3}})", "retry.max_retry",
          "retry.max_retry: expected one of the keys max_retries, base_delay_ms, max_delay_ms, retry_on, "
          "retry_unsafe_when_not_sent, attempt_timeout_ms, deadline_ms, respect_retry_after, "
          "retry_after_max_ms, "
          "budget, rate_limit, got an unknown key"},
      row{R"({"retries": {}})", "retries", "retries: expected one of the keys retry, got an unknown key"},
      row{R"({"retry": [1, 2]})", "retry", "retry: expected an object, got an array"},
      row{R"({"retry": {"max_retries": 3, "max_retries": 5}})", "retry.max_retries",
          "retry.max_retries: expected each key at most once, got the key a second time"},
      row{R"([])", "", "config: expected an object, got an array"},
      row{R"("retry")", "", R"(config: expected an object, got "retry" (a string))"},
      row{"{\"retry\": {\"max_retries\": 3,\n  \"base_delay_ms\" 500}}", "",
          "config: expected a JSON document, got invalid JSON at line 2, column 19 (syntax error)"},
      row{"", "", "config: expected a JSON document, got invalid JSON at line 1, column 1 (incomplete JSON)"},
      row{R"({"retry": {}} {})", "",
          "config: expected a single JSON document, got more text at line 1, column 15"},
  }));
  CAPTURE(json);
  const config_error error = refusal_of(json);
  CHECK(error.key_path() == key);
  CHECK(std::string(error.what()) == message);
}

TEST_CASE("a duplicate key deep inside the document is named by its path", "[json_config]") {
  try {
    (void)load_retry_config(R"({"retry": {"retry_on": [502, {"a": 1, "a": 2}]}})");
    FAIL("accepted a duplicate key");
  } catch (const config_error& error) {
    CHECK(error.key_path() == "retry.retry_on[1].a");
  }
}

TEST_CASE("retry_config_from_json reads a retry object at any path, over given defaults", "[json_config]") {
  retry_config defaults;
  defaults.max_retries = 7;
  const auto value = boost::json::parse(R"({"base_delay_ms": 50})");
  const auto config = retryhttp::retry_config_from_json(value, "client.retry", defaults);
  CHECK(config.max_retries == 7);
  CHECK(config.base_delay == 50ms);
  try {
    (void)retryhttp::retry_config_from_json(boost::json::parse(R"({"max_retries": -2})"), "client.retry");
    FAIL("accepted -2");
  } catch (const config_error& error) {
    CHECK(error.key_path() == "client.retry.max_retries");
  }
}

TEST_CASE("deadline, Retry-After and budget keys", "[json_config]") {
  const auto config = load_retry_config(R"({"retry": {"deadline_ms": 30000, "respect_retry_after": false,
    "retry_after_max_ms": 60000, "budget": {"kind": "token_bucket", "max_tokens": 10, "token_ratio": 0.5}}})");
  CHECK(config.deadline == 30s);
  CHECK_FALSE(config.respect_retry_after);
  CHECK(config.retry_after_max == std::chrono::milliseconds(60s));
  CHECK(config.retry_after_cap() == 60s);
  CHECK(config.budget.type == retryhttp::budget_config::kind::token_bucket);
  CHECK(config.budget.max_tokens == 10);
  CHECK(config.budget.token_ratio == 0.5);
  CHECK(retry_config{}.retry_after_cap() == 10s);  // default: max_delay

  const auto percent =
      load_retry_config(R"({"retry": {"budget": {"kind": "percent", "percent": 20, "min_retries": 3}}})");
  CHECK(percent.budget.type == retryhttp::budget_config::kind::percent);
  CHECK(percent.budget.percent == 20);
  CHECK(percent.budget.min_retries == 3);
  CHECK(load_retry_config(R"({"retry": {"budget": {"kind": "none"}}})").budget == retryhttp::budget_config{});
}

TEST_CASE("bad deadline, Retry-After and budget values name their key", "[json_config]") {
  using row = std::tuple<std::string, std::string>;
  const auto [json, key] = GENERATE(table<std::string, std::string>({
      row{R"({"retry": {"deadline_ms": -1}})", "retry.deadline_ms"},
      row{R"({"retry": {"respect_retry_after": 1}})", "retry.respect_retry_after"},
      row{R"({"retry": {"retry_after_max_ms": "1m"}})", "retry.retry_after_max_ms"},
      row{R"({"retry": {"budget": {}}})", "retry.budget.kind"},
      row{R"({"retry": {"budget": {"kind": "leaky"}}})", "retry.budget.kind"},
      row{R"({"retry": {"budget": {"kind": "token_bucket", "max_tokens": 0}}})", "retry.budget.max_tokens"},
      row{R"({"retry": {"budget": {"kind": "token_bucket", "max_tokens": 2000}}})",
          "retry.budget.max_tokens"},
      row{R"({"retry": {"budget": {"kind": "token_bucket", "token_ratio": "0.1"}}})",
          "retry.budget.token_ratio"},
      row{R"({"retry": {"budget": {"kind": "token_bucket", "percent": 10}}})", "retry.budget.percent"},
      row{R"({"retry": {"budget": {"kind": "percent", "percent": -5}}})", "retry.budget.percent"},
      row{R"({"retry": {"budget": {"kind": "percent", "min_retries": 1.5}}})", "retry.budget.min_retries"},
      row{R"({"retry": {"budget": 10}})", "retry.budget"},
  }));
  CAPTURE(json);
  const config_error error = refusal_of(json);
  CHECK(error.key_path() == key);
}

TEST_CASE("rate_limit keys", "[json_config][rate_limiter]") {
  const auto config = load_retry_config(R"({"retry": {"rate_limit": {"kind": "adaptive", "fail_fast": true,
    "max_wait_ms": 250, "throttle_on": [429, 420], "beta": 0.5, "scale": 0.8, "smoothing": 0.6,
    "min_rate": 2}}})");
  const auto& limit = config.rate_limit;
  CHECK(limit.type == retryhttp::rate_limit_config::kind::adaptive);
  CHECK(limit.fail_fast);
  CHECK(limit.max_wait == 250ms);
  CHECK(limit.throttle_on.to_vector() == std::vector<unsigned>{420, 429});
  CHECK(limit.beta == 0.5);
  CHECK(limit.scale == 0.8);
  CHECK(limit.smoothing == 0.6);
  CHECK(limit.min_rate == 2);
  // Only the kind is required; the rest keeps the AWS SDKs' constants.
  const auto plain = load_retry_config(R"({"retry": {"rate_limit": {"kind": "adaptive"}}})").rate_limit;
  CHECK(plain.throttle_on.to_vector() == std::vector<unsigned>{429});
  CHECK(plain.beta == 0.7);
  CHECK_FALSE(plain.fail_fast);
  CHECK(load_retry_config(R"({"retry": {"rate_limit": {"kind": "none"}}})") == retry_config{});
}

TEST_CASE("bad rate_limit values name their key", "[json_config][rate_limiter]") {
  using row = std::tuple<std::string, std::string, std::string>;
  const auto [json, key, message] = GENERATE(table<std::string, std::string, std::string>({
      row{R"({"retry": {"rate_limit": {}}})", "retry.rate_limit.kind", "no kind"},
      row{R"({"retry": {"rate_limit": {"kind": "cubic"}}})", "retry.rate_limit.kind",
          R"(expected "none" or "adaptive")"},
      row{R"({"retry": {"rate_limit": {"kind": "none", "beta": 0.7}}})", "retry.rate_limit.beta", ""},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "beta": 1.5}}})", "retry.rate_limit.beta",
          "retry.rate_limit.beta: expected a number from 0.01 to 0.99, got 1.5"},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "scale": 0}}})", "retry.rate_limit.scale", ""},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "smoothing": "high"}}})",
          "retry.rate_limit.smoothing", ""},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "min_rate": 0}}})", "retry.rate_limit.min_rate",
          "tokens per second"},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "fail_fast": "yes"}}})",
          "retry.rate_limit.fail_fast", ""},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "max_wait_ms": -1}}})",
          "retry.rate_limit.max_wait_ms", ""},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "throttle_on": [200]}}})",
          "retry.rate_limit.throttle_on[0]", ""},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "throttle_on": 429}}})",
          "retry.rate_limit.throttle_on", ""},
      row{R"({"retry": {"rate_limit": {"kind": "adaptive", "burst": 3}}})", "retry.rate_limit.burst", ""},
      row{R"({"retry": {"rate_limit": true}})", "retry.rate_limit", ""},
  }));
  CAPTURE(json);
  const config_error error = refusal_of(json);
  CHECK(error.key_path() == key);
  CHECK_THAT(error.what(), Catch::Contains(message));
}

}  // namespace test_json_config
