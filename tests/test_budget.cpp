#include <retryhttp/budget.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_budget {

using retryhttp::percent_budget;
using retryhttp::token_bucket_budget;

TEST_CASE("token bucket: gRPC's retryThrottling arithmetic", "[budget]") {
  // max_tokens 10, token_ratio 0.1: retries allowed while tokens > 5.
  token_bucket_budget budget{10, 0.1};
  CHECK(budget.tokens() == Approx(10));
  CHECK(budget.try_retry());
  for (int i = 0; i < 4; ++i) budget.on_transient_failure();
  CHECK(budget.tokens() == Approx(6));
  CHECK(budget.try_retry());
  budget.on_transient_failure();
  CHECK(budget.tokens() == Approx(5));
  CHECK_FALSE(budget.try_retry());  // 5 is not more than half of 10
  budget.on_success();
  CHECK(budget.tokens() == Approx(5.1));
  CHECK(budget.try_retry());
  for (int i = 0; i < 20; ++i) budget.on_transient_failure();
  CHECK(budget.tokens() == Approx(0));  // never below zero
  for (int i = 0; i < 1000; ++i) budget.on_success();
  CHECK(budget.tokens() == Approx(10));  // never above max
}

TEST_CASE("percent budget: calls earn retries, a reserve is always there, the balance is capped",
          "[budget]") {
  percent_budget budget{10, 2};
  CHECK(budget.available() == Approx(2));
  CHECK(budget.try_retry());
  CHECK(budget.try_retry());
  CHECK_FALSE(budget.try_retry());
  for (int i = 0; i < 10; ++i) budget.on_call();  // 10 calls at 10% earn one retry
  CHECK(budget.available() == Approx(1));
  CHECK(budget.try_retry());
  CHECK_FALSE(budget.try_retry());
  for (int i = 0; i < 100'000; ++i) budget.on_call();
  CHECK(budget.available() == Approx(12));  // capped: reserve 2 + 10
}

TEST_CASE("a percent budget bounds sustained retries to the percentage", "[budget]") {
  percent_budget budget{10, 0};
  int retries = 0;
  for (int call = 0; call < 10'000; ++call) {
    budget.on_call();
    for (int attempt = 0; attempt < 3 && budget.try_retry(); ++attempt)
      ++retries;  // every call wants 3 retries
  }
  CHECK(retries == 1000);  // 10% of the calls, not 300%
}

TEST_CASE("make_retry_budget builds what the config asks for", "[budget]") {
  retryhttp::budget_config config;
  CHECK(retryhttp::make_retry_budget(config) == nullptr);
  config.type = retryhttp::budget_config::kind::token_bucket;
  config.max_tokens = 4;
  auto bucket = retryhttp::make_retry_budget(config);
  REQUIRE(dynamic_cast<token_bucket_budget*>(bucket.get()) != nullptr);
  CHECK(dynamic_cast<token_bucket_budget*>(bucket.get())->tokens() == Approx(4));
  config.type = retryhttp::budget_config::kind::percent;
  CHECK(dynamic_cast<percent_budget*>(retryhttp::make_retry_budget(config).get()) != nullptr);
}

TEST_CASE("budgets stay consistent under threads (the tsan suite runs this under ThreadSanitizer)",
          "[budget][threads]") {
  token_bucket_budget bucket{100, 0.5};
  percent_budget percent{10, 0};
  std::atomic<int> granted{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        bucket.on_transient_failure();
        bucket.on_success();
        bucket.on_success();
        percent.on_call();
        if (percent.try_retry()) ++granted;
      }
    });
  for (auto& worker : workers) worker.join();
  // Each round is -1 + 0.5 + 0.5 = 0 net: the bucket ends where it started, full (every update was atomic).
  CHECK(bucket.tokens() == Approx(100));
  // 40,000 calls at 10% earn 4,000 retries; every grant was a real withdrawal.
  CHECK(granted.load() + static_cast<int>(percent.available()) <= 4000);
  CHECK(granted.load() >= 3990);
}

}  // namespace test_budget
