#include <retryhttp/decision.hpp>

#include <retryhttp/idempotency.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <catch2/catch.hpp>

#include <string>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_decision {

using retryhttp::action;
using retryhttp::decide;
using retryhttp::decision;
using retryhttp::error;
using retryhttp::observed_outcome;
using retryhttp::retry_config;
namespace http = boost::beast::http;

namespace {
constexpr decision deliver{action::deliver, {}};
constexpr decision retry{action::retry, {}};
constexpr decision exhausted{action::fail, error::retries_exhausted};
constexpr decision may_have_been_applied{action::fail, error::may_have_been_applied};
constexpr decision not_retryable{action::fail, error::not_retryable};

std::string describe(observed_outcome outcome) {
  switch (outcome.what) {
    case observed_outcome::kind::response:
      return std::to_string(outcome.status);
    case observed_outcome::kind::not_sent:
      return "not_sent";
    case observed_outcome::kind::ambiguous:
      return "ambiguous";
  }
  return "?";
}
}  // namespace

// The decision is constexpr: the ticket's headline rules hold at compile time.
static_assert(decide(retry_config{}, observed_outcome::response(503), true, 0) == retry);
static_assert(decide(retry_config{}, observed_outcome::response(503), true, 3) == exhausted);
static_assert(decide(retry_config{}, observed_outcome::response(404), true, 0) == deliver);
static_assert(decide(retry_config{}, observed_outcome::response(500), true, 0) == deliver);
static_assert(decide(retry_config{}, observed_outcome::ambiguous(), false, 0) == may_have_been_applied);

TEST_CASE("a permanent failure is never retried; an unsafe request that may have been applied says so",
          "[decision]") {
  constexpr decision permanent{action::fail, error::permanent_failure};
  retry_config unsafe_not_sent;
  unsafe_not_sent.retry_unsafe_when_not_sent = true;
  for (const unsigned retries : {0U, 1U, 3U}) {
    CAPTURE(retries);
    CHECK(decide(retry_config{}, observed_outcome::ambiguous(true), true, retries) == permanent);
    CHECK(decide(retry_config{}, observed_outcome::not_sent(true), true, retries) == permanent);
    CHECK(decide(retry_config{}, observed_outcome::ambiguous(true), false, retries) == may_have_been_applied);
    CHECK(decide(retry_config{}, observed_outcome::not_sent(true), false, retries) == not_retryable);
    CHECK(decide(unsafe_not_sent, observed_outcome::not_sent(true), false, retries) == permanent);
  }
  // The same outcomes, not permanent, are retried while retries remain.
  CHECK(decide(retry_config{}, observed_outcome::ambiguous(), true, 0) == retry);
  CHECK(decide(retry_config{}, observed_outcome::not_sent(), true, 0) == retry);
}

TEST_CASE("the decision matrix: status x route x failure kind x attempt number", "[decision]") {
  // Each row spells the ticket for one outcome: what happens to a request that is safe to re-send while
  // retries remain, and what happens to one that is not. Once the retries are used up, a safe transient
  // outcome fails with retries_exhausted; everything else is decided the same at any attempt.
  struct expected_for {
    observed_outcome outcome;
    decision safe_with_retries_left;
    decision unsafe;
  };
  const auto row = GENERATE(values<expected_for>({
      {observed_outcome::response(200), deliver, deliver},
      {observed_outcome::response(201), deliver, deliver},
      {observed_outcome::response(204), deliver, deliver},
      {observed_outcome::response(304), deliver, deliver},
      {observed_outcome::response(400), deliver, deliver},
      {observed_outcome::response(401), deliver, deliver},
      {observed_outcome::response(404), deliver, deliver},
      {observed_outcome::response(409), deliver, deliver},
      {observed_outcome::response(429), deliver, deliver},
      {observed_outcome::response(499), deliver, deliver},
      {observed_outcome::response(500), deliver, deliver},
      {observed_outcome::response(501), deliver, deliver},
      {observed_outcome::response(502), retry, may_have_been_applied},
      {observed_outcome::response(503), retry, may_have_been_applied},
      {observed_outcome::response(504), retry, may_have_been_applied},
      {observed_outcome::response(505), deliver, deliver},
      {observed_outcome::not_sent(), retry, not_retryable},
      {observed_outcome::ambiguous(), retry, may_have_been_applied},
  }));
  // The routes go through the real policy, so the matrix covers the idempotency verdicts too.
  using route = std::tuple<http::verb, const char*, bool>;
  const auto [method, target, safe] = GENERATE(table<http::verb, const char*, bool>({
      route{http::verb::get, "/v1/vms", true},
      route{http::verb::get, "/v1/vms/web-1", true},
      route{http::verb::delete_, "/v1/vms/web-1", true},
      route{http::verb::post, "/v1/vms/web-1/start", true},
      route{http::verb::post, "/v1/vms/web-1/stop", true},
      route{http::verb::post, "/v1/vms", false},
      route{http::verb::post, "/v1/vms/web-1/resize", false},
      route{http::verb::patch, "/v1/vms/web-1", false},
  }));
  const unsigned retries_made = GENERATE(0U, 1U, 2U, 3U, 4U);
  CAPTURE(describe(row.outcome), http::to_string(method), target, retries_made);

  const http::request<http::empty_body> request{method, target, 11};
  const bool idempotent = vmm::orchestrator_idempotency{}.is_idempotent(request);
  REQUIRE(idempotent == safe);

  const retry_config config;  // max_retries 3
  decision expected = safe ? row.safe_with_retries_left : row.unsafe;
  if (expected == retry && retries_made >= config.max_retries) expected = exhausted;
  const decision actual = decide(config, row.outcome, idempotent, retries_made);
  CAPTURE(to_string(actual.next), static_cast<int>(actual.reason));
  CHECK(actual == expected);
}

TEST_CASE("retry_unsafe_when_not_sent retries an unsafe request only when nothing was sent", "[decision]") {
  retry_config config;
  config.retry_unsafe_when_not_sent = true;
  CHECK(decide(config, observed_outcome::not_sent(), false, 0) == retry);
  CHECK(decide(config, observed_outcome::not_sent(), false, 3) == exhausted);
  CHECK(decide(config, observed_outcome::ambiguous(), false, 0) == may_have_been_applied);
  CHECK(decide(config, observed_outcome::response(503), false, 0) == may_have_been_applied);
}

TEST_CASE("retry_on decides which statuses are transient", "[decision]") {
  retry_config config;
  config.retry_on = {429, 503};
  CHECK(decide(config, observed_outcome::response(429), true, 0) == retry);
  CHECK(decide(config, observed_outcome::response(502), true, 0) == deliver);
  config.retry_on = {};
  CHECK(decide(config, observed_outcome::response(503), true, 0) == deliver);
  CHECK(decide(config, observed_outcome::ambiguous(), true, 0) == retry);
}

TEST_CASE("max_retries bounds the retries: 0 never retries, 5 retries five times", "[decision]") {
  retry_config config;
  config.max_retries = 0;
  CHECK(decide(config, observed_outcome::response(503), true, 0) == exhausted);
  config.max_retries = 5;
  for (unsigned made = 0; made < 5; ++made)
    CHECK(decide(config, observed_outcome::ambiguous(), true, made) == retry);
  CHECK(decide(config, observed_outcome::ambiguous(), true, 5) == exhausted);
}

}  // namespace test_decision
