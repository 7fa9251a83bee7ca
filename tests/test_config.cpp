#include <retryhttp/config.hpp>

#include <catch2/catch.hpp>

#include <chrono>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_config {

using namespace std::chrono_literals;
using retryhttp::config_error;
using retryhttp::retry_config;
using retryhttp::status_set;

TEST_CASE("the defaults are the ticket's: 3 retries, 500 ms, 10 s, retry on 502/503/504", "[config]") {
  const retry_config config;
  CHECK(config.max_retries == 3);
  CHECK(config.base_delay == 500ms);
  CHECK(config.max_delay == 10s);
  CHECK(config.retry_on == status_set{502, 503, 504});
  CHECK(config.retry_on.size() == 3);
  CHECK_FALSE(config.retry_on.contains(500));
  CHECK_FALSE(config.retry_on.contains(429));
  CHECK_FALSE(config.retry_unsafe_when_not_sent);
  CHECK(config.attempt_timeout == 0ms);
  CHECK_NOTHROW(retryhttp::validate(config));
}

TEST_CASE("a status_set holds exactly the statuses inserted, and rejects numbers outside 100..599",
          "[config]") {
  status_set set{100, 429, 503, 599};
  CHECK(set.to_vector() == std::vector<unsigned>{100, 429, 503, 599});
  CHECK(set.contains(599));
  CHECK_FALSE(set.contains(598));
  CHECK_FALSE(set.contains(600));
  CHECK_FALSE(set.contains(0));
  CHECK_FALSE(set.contains(1'000'000));
  set.erase(429);
  CHECK_FALSE(set.contains(429));
  CHECK(set.size() == 3);
  CHECK_THROWS_AS(set.insert(99), std::out_of_range);
  CHECK_THROWS_AS(set.insert(600), std::out_of_range);
  CHECK(status_set{}.empty());
  static_assert(status_set{502, 503}.contains(503), "status_set is usable in constant expressions");
}

TEST_CASE("validate names the field and the expectation of each bad value", "[config]") {
  retry_config config;
  std::string key;
  std::string message;

  SECTION("too many retries") {
    config.max_retries = 1001;
    key = "retry.max_retries";
    message = "retry.max_retries: expected an integer from 0 to 1000, got 1001";
  }
  SECTION("a negative base delay") {
    config.base_delay = -1ms;
    key = "retry.base_delay_ms";
    message = "retry.base_delay_ms: expected a number of milliseconds from 0 to 86400000, got -1";
  }
  SECTION("a cap over a day") {
    config.max_delay = 25h;
    key = "retry.max_delay_ms";
    message = "retry.max_delay_ms: expected a number of milliseconds from 0 to 86400000, got 90000000";
  }
  SECTION("base above max") {
    config.base_delay = 20s;
    key = "retry.base_delay_ms";
    message = "retry.base_delay_ms: expected at most retry.max_delay_ms (10000), got 20000";
  }
  SECTION("a negative attempt timeout") {
    config.attempt_timeout = -5ms;
    key = "retry.attempt_timeout_ms";
    message =
        "retry.attempt_timeout_ms: expected a number of milliseconds from 0 to 86400000 (0: no limit), got "
        "-5";
  }
  SECTION("a success status to retry on") {
    config.retry_on.insert(200);
    key = "retry.retry_on";
    message = "retry.retry_on: expected only HTTP error statuses from 400 to 599, got 200";
  }
  CAPTURE(message);
  try {
    retryhttp::validate(config);
    FAIL("validate accepted a bad config");
  } catch (const config_error& error) {
    CHECK(error.key_path() == key);
    CHECK(std::string(error.what()) == message);
  }
}

TEST_CASE("validate uses the given key prefix, or bare names", "[config]") {
  retry_config config;
  config.max_retries = 5000;
  try {
    retryhttp::validate(config, "");
    FAIL("validate accepted 5000 retries");
  } catch (const config_error& error) {
    CHECK(error.key_path() == "max_retries");
  }
}

TEST_CASE("the edges of every range are valid", "[config]") {
  retry_config config;
  config.max_retries = 0;
  config.base_delay = 0ms;
  config.max_delay = 0ms;
  CHECK_NOTHROW(retryhttp::validate(config));
  config.max_retries = 1000;
  config.base_delay = 24h;
  config.max_delay = 24h;
  config.attempt_timeout = 24h;
  config.retry_on = {400, 429, 599};
  CHECK_NOTHROW(retryhttp::validate(config));
}

TEST_CASE("the recommended configuration is valid and says what it adds to the ticket's", "[config]") {
  const auto config = retryhttp::retry_config::recommended();
  CHECK_NOTHROW(retryhttp::validate(config));
  CHECK(config.max_retries == retryhttp::retry_config{}.max_retries);
  CHECK(config.base_delay == retryhttp::retry_config{}.base_delay);
  CHECK(config.retry_on == retryhttp::retry_config{}.retry_on);  // 429 slows the limiter, is not retried
  CHECK(config.budget.type == retryhttp::budget_config::kind::token_bucket);
  CHECK(config.rate_limit.type == retryhttp::rate_limit_config::kind::adaptive);
  CHECK(config.deadline.count() > 0);
}

TEST_CASE("rate_limit values out of bounds name their key", "[config][rate_limiter]") {
  retryhttp::retry_config config;
  config.rate_limit.beta = 1;
  CHECK_THROWS_WITH(retryhttp::validate(config),
                    "retry.rate_limit.beta: expected a number from 0.01 to 0.99, got 1.000000");
  config.rate_limit = {};
  config.rate_limit.throttle_on = {200};
  CHECK_THROWS_WITH(retryhttp::validate(config), Catch::Contains("retry.rate_limit.throttle_on"));
  config.rate_limit = {};
  config.rate_limit.min_rate = 0;
  CHECK_THROWS_WITH(retryhttp::validate(config), Catch::Contains("retry.rate_limit.min_rate"));
}

}  // namespace test_config
