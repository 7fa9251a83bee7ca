// Every model satisfies its concept, and a type missing one requirement does not (static checks). The test
// cases run the exemplars below, as documented in docs/concepts/, in a client that retries: their delays and
// waits are asserted exactly.

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
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_concepts {

namespace rh = retryhttp;
namespace http = boost::beast::http;
using std::chrono::nanoseconds;
using namespace std::chrono_literals;

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
// --- docs/concepts/Backoff.md begin
struct fixed_steps_backoff {  // 100 ms, 200 ms, 300 ms, ... ignoring the config's base and cap
  struct schedule {
    nanoseconds next_delay(unsigned retry) { return std::chrono::milliseconds(100) * (retry + 1); }
  };
  schedule start(nanoseconds /*base*/, nanoseconds /*cap*/) const { return {}; }
};
// --- docs/concepts/Backoff.md end
//! [backoff exemplar]
static_assert(rh::Backoff<fixed_steps_backoff>);

//! [clock exemplar]
// --- docs/concepts/Clock.md begin
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
// --- docs/concepts/Clock.md end
//! [clock exemplar]
static_assert(rh::Clock<manual_clock>);

//! [idempotency exemplar]
// --- docs/concepts/Idempotency.md begin
struct header_idempotency {  // the caller marks re-sendable requests with a header
  bool is_idempotent(const rh::request_header& request) const {
    return request.method() != http::verb::post || request.count("X-Idempotent") != 0;
  }
};
// --- docs/concepts/Idempotency.md end
//! [idempotency exemplar]
static_assert(rh::Idempotency<header_idempotency>);

//! [transport exemplar]
// --- docs/concepts/Transport.md begin
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
// --- docs/concepts/Transport.md end
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
struct backoff_with_pinned_schedule {  // the schedule cannot be moved into the call's state
  struct schedule {
    schedule() = default;
    schedule(schedule&&) = delete;
    nanoseconds next_delay(unsigned) { return {}; }
  };
  schedule start(nanoseconds, nanoseconds) const { return {}; }
};
struct backoff_with_mutating_start {  // start() must be callable on a const policy
  fixed_steps_backoff::schedule start(nanoseconds, nanoseconds) { return {}; }
};
static_assert(!rh::Backoff<backoff_without_start>);
static_assert(!rh::Backoff<backoff_with_bad_schedule>);
static_assert(!rh::Backoff<backoff_with_pinned_schedule>);
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
  // The config, the method set and the (optional) shared budget and rate limiter; the empty transport,
  // backoff, clock and observer take no room.
  CHECK(sizeof(lean)
        == sizeof(rh::retry_config) + sizeof(rh::method_idempotency)
               + sizeof(std::shared_ptr<rh::retry_budget>)
               + sizeof(std::shared_ptr<rh::adaptive_rate_limiter>));
}

// ---- The exemplars at work: a real retry
// -----------------------------------------------------------------------------------------------

namespace {
/// Answers 503 to the first `busy_attempts` attempts of each call (the client's attempt number), then hands
/// the attempt to the Transport exemplar. The exemplar alone never fails (and a retry_on of 204 is not a
/// valid config), so it cannot make a retry by itself.
struct busy_then_exemplar_transport {
  using request_type = always_ok_transport::request_type;
  using response_type = always_ok_transport::response_type;
  unsigned busy_attempts = 3;
  always_ok_transport exemplar;
  unsigned exemplar_attempts = 0;
  rh::attempt_outcome<response_type> attempt(const request_type& request,
                                             const rh::attempt_context& context) {
    if (context.attempt <= busy_attempts)
      return response_type{http::status::service_unavailable, request.version()};
    ++exemplar_attempts;
    return exemplar.attempt(request, context);
  }
};

/// Records, on the client's own manual_clock, when each attempt started, and each retry's delay.
struct timeline_observer {
  const manual_clock* clock = nullptr;  // the client's, set once the client exists
  std::vector<nanoseconds> attempts_at;
  std::vector<nanoseconds> delays;
  void on_attempt(const rh::attempt_event&) { attempts_at.push_back(clock->current.time_since_epoch()); }
  void on_retry(const rh::retry_event& event) { delays.push_back(event.delay); }
};

using exemplar_client = rh::basic_client<busy_then_exemplar_transport, fixed_steps_backoff, manual_clock,
                                         header_idempotency, timeline_observer>;

http::request<http::string_body> post(bool marked_idempotent) {
  http::request<http::string_body> request{http::verb::post, "/v1/vms", 11};
  if (marked_idempotent) request.set("X-Idempotent", "1");
  return request;
}
}  // namespace

TEST_CASE(
    "a retry through the exemplar Backoff, Clock, Idempotency and Transport: the exact delays and waits",
    "[concepts]") {
  exemplar_client client;
  client.observer().clock = &client.clock();
  const auto result = client.send(post(true));  // marked: the Idempotency exemplar lets it be re-sent
  REQUIRE(result.ok());
  CHECK(result.response().result_int() == 204);  // the Transport exemplar's answer, to the fourth attempt
  CHECK(result.attempts() == 4);
  CHECK(client.transport().exemplar_attempts == 1);
  // The Backoff exemplar's steps, ignoring the config's base (500 ms) and cap: 100, 200, 300 ms ...
  CHECK(client.observer().delays == std::vector<nanoseconds>{100ms, 200ms, 300ms});
  // ... and each was waited on the Clock exemplar: its sleep_until moved its time by exactly each delay.
  CHECK(client.observer().attempts_at == std::vector<nanoseconds>{0ms, 100ms, 300ms, 600ms});
  CHECK(client.clock().now().time_since_epoch() == 600ms);

  // Not marked: a POST the Idempotency exemplar calls unsafe is not re-sent after a 503, and nothing waits.
  exemplar_client unmarked;
  unmarked.observer().clock = &unmarked.clock();
  const auto refused = unmarked.send(post(false));
  CHECK(refused.error() == rh::error::may_have_been_applied);
  CHECK(refused.attempts() == 1);
  CHECK(unmarked.observer().delays.empty());
  CHECK(unmarked.clock().now().time_since_epoch() == 0ms);
}

// ---- A Clock coarser than nanoseconds
// --------------------------------------------------------------------------------------------------

namespace {
/// A manual clock that counts whole milliseconds (an integer rep): docs/concepts/Clock.md says the client
/// rounds each delay up to C::duration, so it never waits less than the policy asked.
struct millisecond_clock {
  using duration = std::chrono::milliseconds;
  using time_point = std::chrono::time_point<millisecond_clock, duration>;
  time_point current{};
  std::vector<duration> waits;  // until - now() of each sleep_until
  time_point now() const { return current; }
  bool sleep_until(time_point until, std::stop_token stop) {
    if (stop.stop_requested()) return false;
    waits.push_back(until - current);
    if (until > current) current = until;
    return true;
  }
};

/// Delays that are not whole milliseconds: 1.5 ms, 1 ms exactly, 1 ns.
struct sub_millisecond_backoff {
  struct schedule {
    nanoseconds next_delay(unsigned retry) {
      constexpr nanoseconds steps[] = {1'500'000ns, 1'000'000ns, 1ns};
      return steps[retry < 3 ? retry : 2];
    }
  };
  schedule start(nanoseconds, nanoseconds) const { return {}; }
};
}  // namespace

static_assert(rh::Clock<millisecond_clock>);

TEST_CASE("a millisecond Clock works: each delay is rounded up to a whole millisecond", "[concepts][clock]") {
  rh::testing::fake_clock transport_time;  // the fake transport's own; no latency is scripted
  rh::basic_client<rh::testing::fake_transport, sub_millisecond_backoff, millisecond_clock> client{
      {}, rh::testing::fake_transport{transport_time}};
  client.transport().script({rh::testing::respond(503), rh::testing::respond(503), rh::testing::respond(503),
                             rh::testing::respond(200)});
  rh::call_options options;
  options.deadline = 10s;  // the time left is measured on the millisecond clock too
  const auto result = client.send({http::verb::get, "/v1/vms", 11}, options);
  REQUIRE(result.ok());
  CHECK(result.attempts() == 4);
  // 1.5 ms waits 2 ms, 1 ms waits 1 ms, 1 ns waits 1 ms: never less than asked.
  CHECK(client.clock().waits == std::vector<std::chrono::milliseconds>{2ms, 1ms, 1ms});
  CHECK(client.clock().now().time_since_epoch() == 4ms);
}

}  // namespace test_concepts
