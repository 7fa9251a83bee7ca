// Every model satisfies its concept, and a type missing one requirement does not. The checks are static; the
// test case exists so the file is counted and the exemplars below compile as documented in docs/concepts/.

#include <retryhttp/backoff.hpp>
#include <retryhttp/clock.hpp>
#include <retryhttp/idempotency.hpp>
#include <retryhttp/transport.hpp>

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/beast/http/string_body.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <stop_token>

namespace rh = retryhttp;
namespace http = boost::beast::http;
using std::chrono::nanoseconds;

// ---- Models
// ----------------------------------------------------------------------------------------------------
static_assert(rh::Backoff<rh::exponential_backoff>);
static_assert(rh::Backoff<rh::no_jitter_backoff>);
static_assert(rh::Backoff<rh::full_jitter_backoff>);
static_assert(rh::Backoff<rh::equal_jitter_backoff>);
static_assert(rh::Backoff<rh::decorrelated_jitter_backoff>);
static_assert(rh::Backoff<rh::constant_backoff>);
static_assert(rh::Clock<rh::system_clock>);
static_assert(rh::Clock<rh::testing::fake_clock>);
static_assert(rh::Idempotency<rh::method_idempotency>);
static_assert(rh::Idempotency<rh::route_idempotency>);
static_assert(rh::Idempotency<vmm::orchestrator_idempotency>);
static_assert(rh::Transport<rh::testing::fake_transport>);

// ---- Exemplars (docs/concepts/*.md show these)
// -------------------------------------------------------------------
//! [backoff exemplar]
struct fixed_steps_backoff {  // 100 ms, 200 ms, 300 ms, ... ignoring the config's base and cap
  struct schedule {
    nanoseconds next_delay(unsigned retry) { return std::chrono::milliseconds(100) * (retry + 1); }
  };
  schedule start(nanoseconds /*base*/, nanoseconds /*cap*/) const { return {}; }
};
//! [backoff exemplar]
static_assert(rh::Backoff<fixed_steps_backoff>);

//! [clock exemplar]
struct manual_clock {  // time moves only when the code under test waits
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<manual_clock, duration>;
  time_point current{};
  time_point now() const { return current; }
  bool sleep_until(time_point until, std::stop_token stop) {
    if (stop.stop_requested()) return false;
    if (until > current) current = until;
    return true;
  }
};
//! [clock exemplar]
static_assert(rh::Clock<manual_clock>);

//! [idempotency exemplar]
struct header_idempotency {  // the caller marks re-sendable requests with a header
  bool is_idempotent(const rh::request_header& request) const {
    return request.method() != http::verb::post || request.count("X-Idempotent") != 0;
  }
};
//! [idempotency exemplar]
static_assert(rh::Idempotency<header_idempotency>);

//! [transport exemplar]
struct always_ok_transport {  // answers 204 to everything, sends nothing
  using request_type = http::request<http::string_body>;
  using response_type = http::response<http::string_body>;
  rh::attempt_outcome<response_type> attempt(const request_type& request,
                                             const rh::attempt_context& context) {
    if (context.stop.stop_requested())
      return rh::transport_failure{
          rh::failure_kind::not_sent, make_error_code(boost::system::errc::operation_canceled), {}};
    return response_type{http::status::no_content, request.version()};
  }
};
//! [transport exemplar]
static_assert(rh::Transport<always_ok_transport>);

// ---- Types missing one requirement
// -----------------------------------------------------------------------------
struct backoff_without_start {
  struct schedule {
    nanoseconds next_delay(unsigned) { return {}; }
  };
};
struct backoff_with_bad_schedule {  // next_delay returns milliseconds, not nanoseconds
  struct schedule {
    std::chrono::milliseconds next_delay(unsigned) { return {}; }
  };
  schedule start(nanoseconds, nanoseconds) const { return {}; }
};
struct backoff_with_mutating_start {  // start() must be callable on a const policy
  fixed_steps_backoff::schedule start(nanoseconds, nanoseconds) { return {}; }
};
static_assert(!rh::Backoff<backoff_without_start>);
static_assert(!rh::Backoff<backoff_with_bad_schedule>);
static_assert(!rh::Backoff<backoff_with_mutating_start>);
static_assert(!rh::Backoff<int>);

struct clock_without_sleep {
  using duration = nanoseconds;
  using time_point = std::chrono::time_point<clock_without_sleep, duration>;
  time_point now() const { return {}; }
};
struct clock_without_stop_token {  // an uninterruptible sleep cannot honour cancellation mid-wait
  using duration = nanoseconds;
  using time_point = std::chrono::time_point<clock_without_stop_token, duration>;
  time_point now() const { return {}; }
  bool sleep_until(time_point) { return true; }
};
struct clock_without_time_point {
  nanoseconds now() const { return {}; }
  bool sleep_until(nanoseconds, std::stop_token) { return true; }
};
static_assert(!rh::Clock<clock_without_sleep>);
static_assert(!rh::Clock<clock_without_stop_token>);
static_assert(!rh::Clock<clock_without_time_point>);

struct idempotency_without_member {};
struct idempotency_taking_a_string {
  bool is_idempotent(const std::string&) const { return true; }
};
static_assert(!rh::Idempotency<idempotency_without_member>);
static_assert(!rh::Idempotency<idempotency_taking_a_string>);

struct transport_without_attempt {
  using request_type = http::request<http::string_body>;
  using response_type = http::response<http::string_body>;
};
struct transport_returning_a_response {  // must return attempt_outcome, so failures carry their kind
  using request_type = http::request<http::string_body>;
  using response_type = http::response<http::string_body>;
  response_type attempt(const request_type&, const rh::attempt_context&) { return {}; }
};
struct transport_with_non_beast_types {
  using request_type = std::string;
  using response_type = std::string;
  rh::attempt_outcome<std::string> attempt(const std::string&, const rh::attempt_context&);
};
static_assert(!rh::Transport<transport_without_attempt>);
static_assert(!rh::Transport<transport_returning_a_response>);
static_assert(!rh::Transport<transport_with_non_beast_types>);

TEST_CASE("the exemplars compose into a working client", "[concepts]") {
  rh::basic_client<always_ok_transport, fixed_steps_backoff, manual_clock, header_idempotency> client;
  const auto result = client.send({http::verb::post, "/anything", 11});
  REQUIRE(result.ok());
  CHECK(result.response().result_int() == 204);
  CHECK(result.attempts() == 1);
}

TEST_CASE("empty policies add no storage to the client", "[concepts]") {
  using lean =
      rh::basic_client<always_ok_transport, rh::no_jitter_backoff, rh::system_clock, rh::method_idempotency>;
  // The config, the method set and the (optional) shared budget; the empty transport, backoff, clock and
  // observer take no room.
  CHECK(sizeof(lean)
        == sizeof(rh::retry_config) + sizeof(rh::method_idempotency)
               + sizeof(std::shared_ptr<rh::retry_budget>));
}
