#include <retryhttp/client.hpp>

#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_client {

// The ticket's acceptance criteria, on the fake transport and the fake clock: every attempt and every delay
// is deterministic and asserted exactly, and nothing waits on the wall clock.

using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace t = retryhttp::testing;
using retryhttp::error;
using retryhttp::retry_config;
using std::chrono::nanoseconds;

namespace {

template <class Backoff = retryhttp::exponential_backoff>
using fake_client =
    retryhttp::basic_client<t::fake_transport, Backoff, t::fake_clock, vmm::orchestrator_idempotency>;

/// A client, its transport and its clock, sharing one virtual timeline.
template <class Backoff = retryhttp::exponential_backoff>
struct fixture {
  explicit fixture(retry_config config = {}, Backoff backoff = Backoff{42})
      : client(config, t::fake_transport{clock}, backoff, clock) {}
  t::fake_clock clock;
  fake_client<Backoff> client;
  t::fake_transport& transport() { return client.transport(); }
};

t::fake_transport::request_type request(http::verb method, const char* target) {
  return {method, target, 11};
}
const auto list_vms = request(http::verb::get, "/v1/vms");
const auto create_vm = [] {
  auto create = request(http::verb::post, "/v1/vms");
  create.body() = R"({"name":"web-1","cpus":2,"memory_mib":2048,"image":"debian-12"})";
  create.prepare_payload();
  return create;
}();

}  // namespace

TEST_CASE("transient failures are retried with the exact delays of a fixed seed", "[client][backoff]") {
  fixture f;
  f.transport().script(
      {t::respond(503), t::reset_connection(), t::refuse_connection(), t::respond(200, "ok")});
  const auto result = f.client.send(list_vms);
  REQUIRE(result.ok());
  CHECK(result.response().body() == "ok");
  CHECK(result.attempts() == 4);
  CHECK(f.transport().attempt_count() == 4);
  // Seed 42's first call: d + uniform[0, d/2) with d = 500 ms, 1 s, 2 s.
  CHECK(f.clock.requested_delays()
        == std::vector<nanoseconds>{585'822'980ns, 1'477'873'363ns, 2'486'349'536ns});
  CHECK(f.clock.elapsed() == 585'822'980ns + 1'477'873'363ns + 2'486'349'536ns);
  // Each attempt was numbered and started after the previous wait.
  const auto attempts = f.transport().attempts();
  for (unsigned i = 0; i < attempts.size(); ++i) CHECK(attempts[i].attempt == i + 1);
  CHECK(attempts[1].started.time_since_epoch() == 585'822'980ns);
}

TEST_CASE("every delay lies in [d, 1.5 d) over 1,000 seeds, and the jitter is spread", "[client][backoff]") {
  retry_config config;
  config.max_retries = 6;  // d = 0.5, 1, 2, 4, 8, 10 (capped) seconds
  const std::vector<nanoseconds> d{500ms, 1s, 2s, 4s, 8s, 10s};
  std::vector<nanoseconds> lowest(d.size(), 1h);
  std::vector<nanoseconds> highest(d.size(), 0ns);
  for (std::uint64_t seed = 0; seed < 1000; ++seed) {
    fixture f{config, retryhttp::exponential_backoff{seed}};
    f.transport().otherwise(t::respond(503));
    const auto result = f.client.send(list_vms);
    REQUIRE(result.error() == error::retries_exhausted);
    const auto delays = f.clock.requested_delays();
    REQUIRE(delays.size() == d.size());
    for (std::size_t n = 0; n < d.size(); ++n) {
      CAPTURE(seed, n, delays[n].count());
      REQUIRE(delays[n] >= d[n]);
      REQUIRE(delays[n] < d[n] + d[n] / 2);
      lowest[n] = std::min(lowest[n], delays[n] - d[n]);
      highest[n] = std::max(highest[n], delays[n] - d[n]);
    }
  }
  // Jitter, not a constant: over 1,000 seeds it reaches both ends of [0, d/2).
  for (std::size_t n = 0; n < d.size(); ++n) {
    CAPTURE(n);
    CHECK(lowest[n] < d[n] / 20);
    CHECK(highest[n] > d[n] / 2 - d[n] / 20);
  }
}

TEST_CASE("4xx and 500 are not retried: exactly one attempt, the response is the result", "[client]") {
  const unsigned status = GENERATE(400U, 401U, 403U, 404U, 409U, 422U, 429U, 500U, 501U);
  const auto method = GENERATE(http::verb::get, http::verb::delete_, http::verb::post);
  CAPTURE(status, http::to_string(method));
  fixture f;
  f.transport().script({t::respond(status, "nope"), t::respond(200)});
  const auto result =
      f.client.send(request(method, method == http::verb::post ? "/v1/vms/a/start" : "/v1/vms/a"));
  CHECK(result.ok());
  REQUIRE(result.has_response());
  CHECK(result.response().result_int() == status);
  CHECK(result.attempts() == 1);
  CHECK(f.transport().attempt_count() == 1);
  CHECK(f.clock.waits().empty());
}

/// A Transport without a default constructor, as beast_transport.
struct needs_a_url {
  using request_type = http::request<http::string_body>;
  using response_type = http::response<http::string_body>;
  explicit needs_a_url(int) {}
  retryhttp::attempt_outcome<response_type> attempt(const request_type&, const retryhttp::attempt_context&) {
    return response_type{http::status::ok, 11};
  }
};
// Answered without instantiating T() (clang instantiated a default argument `T transport = T()` here, a hard
// error inside std::optional<basic_client<...>>).
static_assert(!std::is_default_constructible_v<retryhttp::basic_client<needs_a_url>>);
static_assert(std::is_constructible_v<retryhttp::basic_client<needs_a_url>, needs_a_url>);
static_assert(std::is_constructible_v<retryhttp::basic_client<needs_a_url>, retry_config, needs_a_url>);
/// The same with a default constructor.
struct always_ok : needs_a_url {
  always_ok() : needs_a_url(0) {}
};
static_assert(std::is_default_constructible_v<retryhttp::basic_client<always_ok>>);

TEST_CASE("a client made from a transport alone has the default config and uses that transport", "[client]") {
  // The spelling a newcomer tries first: http_client<> client{beast_transport{url}}.
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.script({t::respond(503), t::respond(200)});
  retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock> client{transport};
  CHECK(client.config() == retry_config{});
  const auto result = client.send(request(http::verb::get, "/v1/vms"));
  REQUIRE(result.ok());
  CHECK(result.attempts() == 2);
  CHECK(transport.attempt_count() == 2);  // the given transport (a handle to one script), not a default one
  // The other policies are default-constructed: the client waited on a fake_clock of its own, not on `clock`.
  CHECK(client.clock().waits().size() == 1);
  CHECK(clock.waits().empty());
}

TEST_CASE("VM create is sent exactly once after an ambiguous failure", "[client][vmm]") {
  fixture f;
  SECTION("connection reset after the request was written") {
    f.transport().script({t::reset_connection(), t::respond(201)});
  }
  SECTION("read timeout: the server accepted and never answered") {
    retry_config config;
    config.attempt_timeout = 2s;
    f.client = fake_client<>(config, t::fake_transport{f.clock}, retryhttp::exponential_backoff{42}, f.clock);
    f.transport().script({t::hang(), t::respond(201)});
  }
  SECTION("a 503 from a proxy that may have forwarded it") {
    f.transport().script({t::respond(503), t::respond(201)});
  }
  const auto result = f.client.send(create_vm);
  CHECK(result.error() == error::may_have_been_applied);
  CHECK(result.attempts() == 1);
  REQUIRE(f.transport().attempt_count() == 1);
  CHECK(f.transport().requests()[0].method() == http::verb::post);
  CHECK(f.transport().requests()[0].body() == create_vm.body());
  CHECK(f.clock.waits().empty());
  CHECK(result.message().rfind("POST /v1/vms may have been applied and was not retried", 0) == 0);
}

TEST_CASE("VM create that provably sent nothing is not retried by default, and is when configured",
          "[client][vmm]") {
  SECTION("default: fail after the first network error with a clear message") {
    fixture f;
    f.transport().script({t::refuse_connection(), t::respond(201)});
    const auto result = f.client.send(create_vm);
    CHECK(result.error() == error::not_retryable);
    CHECK(f.transport().attempt_count() == 1);
    CHECK(result.message().find("nothing was applied") != std::string::npos);
  }
  SECTION("retry_unsafe_when_not_sent: refused connections are retried, then the VM is created once") {
    retry_config config;
    config.retry_unsafe_when_not_sent = true;
    fixture f{config};
    f.transport().script({t::refuse_connection(), t::refuse_connection(), t::respond(201)});
    const auto result = f.client.send(create_vm);
    REQUIRE(result.ok());
    CHECK(result.response().result_int() == 201);
    CHECK(f.transport().attempt_count() == 3);
  }
  SECTION("retry_unsafe_when_not_sent never covers an ambiguous failure") {
    retry_config config;
    config.retry_unsafe_when_not_sent = true;
    fixture f{config};
    f.transport().script({t::refuse_connection(), t::reset_connection(), t::respond(201)});
    const auto result = f.client.send(create_vm);
    CHECK(result.error() == error::may_have_been_applied);
    CHECK(f.transport().attempt_count() == 2);
  }
}

TEST_CASE("start and stop are retried after ambiguous failures and 503s", "[client][vmm]") {
  const char* target = GENERATE("/v1/vms/web-1/start", "/v1/vms/web-1/stop");
  CAPTURE(target);
  fixture f;
  f.transport().script({t::reset_connection(), t::respond(503), t::respond(200, R"({"state":"running"})")});
  const auto result = f.client.send(request(http::verb::post, target));
  REQUIRE(result.ok());
  CHECK(result.attempts() == 3);
  const auto sent = f.transport().requests();
  REQUIRE(sent.size() == 3);
  for (const auto& each : sent) CHECK(each.target() == target);
  CHECK(f.clock.waits().size() == 2);
}

TEST_CASE("GET and DELETE are retried; other POSTs are not", "[client][vmm]") {
  SECTION("DELETE") {
    fixture f;
    f.transport().script({t::reset_connection(), t::respond(204)});
    CHECK(f.client.send(request(http::verb::delete_, "/v1/vms/web-1")).ok());
    CHECK(f.transport().attempt_count() == 2);
  }
  SECTION("POST to an unknown action") {
    fixture f;
    f.transport().script({t::reset_connection(), t::respond(200)});
    CHECK(f.client.send(request(http::verb::post, "/v1/vms/web-1/resize")).error()
          == error::may_have_been_applied);
    CHECK(f.transport().attempt_count() == 1);
  }
}

TEST_CASE("retries exhausted: the error, the attempt count and the last status, in the ticket's words",
          "[client]") {
  fixture f;
  f.transport().otherwise(t::respond(503));
  const auto result = f.client.send(list_vms);
  CHECK(result.error() == error::retries_exhausted);
  CHECK(result.attempts() == 4);
  CHECK(result.retries() == 3);
  REQUIRE(result.has_response());
  CHECK(result.response().result_int() == 503);
  CHECK(result.message() == "request failed after 3 retries: 503 Service Unavailable");
  CHECK(f.transport().attempt_count() == 4);
  CHECK(f.clock.waits().size() == 3);
}

TEST_CASE("retries exhausted on a transport error keeps that error", "[client]") {
  fixture f;
  f.transport().otherwise(t::refuse_connection());
  const auto result = f.client.send(list_vms);
  CHECK(result.error() == error::retries_exhausted);
  REQUIRE(result.failure() != nullptr);
  CHECK(result.failure()->code == boost::system::errc::connection_refused);
  CHECK(result.message()
        == "request failed after 3 retries: "
               + make_error_code(boost::system::errc::connection_refused).message());
}

TEST_CASE("a stop requested before the call makes no attempt", "[client][cancel]") {
  fixture f;
  f.transport().otherwise(t::respond(200));
  std::stop_source source;
  source.request_stop();
  const auto result = f.client.send(list_vms, source.get_token());
  CHECK(result.error() == error::canceled);
  CHECK(result.attempts() == 0);
  CHECK(f.transport().attempt_count() == 0);
  CHECK(f.clock.elapsed() == 0ns);
}

TEST_CASE("a stop mid-wait ends the call at that virtual instant, with no further attempt",
          "[client][cancel]") {
  fixture f;
  f.transport().otherwise(t::respond(503));
  std::stop_source source;
  // The first delay (seed 42) is 585.8 ms: stop 200 ms into it.
  f.clock.request_stop_at(t::fake_clock::time_point{200ms}, source);
  const auto result = f.client.send(list_vms, source.get_token());
  CHECK(result.error() == error::canceled);
  CHECK(result.attempts() == 1);
  CHECK(f.transport().attempt_count() == 1);
  CHECK(f.clock.now().time_since_epoch() == 200ms);  // not a nanosecond further
  const auto waits = f.clock.waits();
  REQUIRE(waits.size() == 1);
  CHECK(waits[0].interrupted);
  CHECK(waits[0].requested() == 585'822'980ns);
  REQUIRE(result.has_response());
  CHECK(result.response().result_int() == 503);
  CHECK(result.message()
        == "request canceled after 1 attempt; the last one ended with 503 Service Unavailable");
}

TEST_CASE("a stop during the second wait is exact too", "[client][cancel]") {
  fixture f;
  f.transport().otherwise(t::reset_connection());
  std::stop_source source;
  const auto stop_at = t::fake_clock::time_point{585'822'980ns + 1s};  // 1 s into the second wait of 1.48 s
  f.clock.request_stop_at(stop_at, source);
  const auto result = f.client.send(list_vms, source.get_token());
  CHECK(result.error() == error::canceled);
  CHECK(f.transport().attempt_count() == 2);
  CHECK(f.clock.now() == stop_at);
}

TEST_CASE("a stop during an attempt ends the call without another attempt", "[client][cancel]") {
  fixture f;
  f.transport().script({t::hang(), t::respond(200)});
  std::stop_source source;
  f.clock.request_stop_at(t::fake_clock::time_point{3s}, source);
  const auto result = f.client.send(list_vms, source.get_token());
  CHECK(result.error() == error::canceled);
  CHECK(f.transport().attempt_count() == 1);
  CHECK(f.clock.now().time_since_epoch() == 3s);
  CHECK(f.clock.waits().empty());
  REQUIRE(result.failure() != nullptr);
  CHECK(result.failure()->code == boost::system::errc::operation_canceled);
}

TEST_CASE("the attempt timeout reaches the transport; a hung GET times out and is retried", "[client]") {
  retry_config config;
  config.attempt_timeout = 1500ms;
  fixture f{config};
  f.transport().script({t::hang(), t::respond(200)});
  const auto result = f.client.send(list_vms);
  REQUIRE(result.ok());
  CHECK(result.attempts() == 2);
  const auto attempts = f.transport().attempts();
  CHECK(attempts[0].timeout == nanoseconds(1500ms));
  CHECK(attempts[0].result == retryhttp::observed_outcome::ambiguous());
  CHECK(f.clock.elapsed() == 1500ms + 585'822'980ns);
}

TEST_CASE("the config changes behaviour: max_retries 0 and 5", "[client][config]") {
  const unsigned max_retries = GENERATE(0U, 1U, 5U);
  CAPTURE(max_retries);
  retry_config config;
  config.max_retries = max_retries;
  fixture f{config};
  f.transport().otherwise(t::respond(502));
  const auto result = f.client.send(list_vms);
  CHECK(result.error() == error::retries_exhausted);
  CHECK(result.attempts() == max_retries + 1);
  CHECK(f.transport().attempt_count() == max_retries + 1);
  CHECK(f.clock.waits().size() == max_retries);
}

TEST_CASE("the config changes behaviour: other base and max delays", "[client][config]") {
  retry_config config;
  config.max_retries = 5;
  config.base_delay = 100ms;
  config.max_delay = 1s;
  SECTION("without jitter the delays are exact") {
    fixture<retryhttp::no_jitter_backoff> f{config, {}};
    f.transport().otherwise(t::respond(504));
    (void)f.client.send(list_vms);
    CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{100ms, 200ms, 400ms, 800ms, 1s});
  }
  SECTION("with the ticket's jitter they stay in [d, 1.5 d)") {
    const std::vector<nanoseconds> d{100ms, 200ms, 400ms, 800ms, 1s};
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
      fixture f{config, retryhttp::exponential_backoff{seed}};
      f.transport().otherwise(t::respond(504));
      (void)f.client.send(list_vms);
      const auto delays = f.clock.requested_delays();
      REQUIRE(delays.size() == 5);
      for (std::size_t n = 0; n < 5; ++n) {
        CAPTURE(seed, n);
        REQUIRE(delays[n] >= d[n]);
        REQUIRE(delays[n] < d[n] * 3 / 2);
      }
    }
  }
}

TEST_CASE("the config changes behaviour: retry_on", "[client][config]") {
  retry_config config;
  config.retry_on = {429};
  fixture f{config};
  f.transport().script({t::respond(429), t::respond(503)});
  const auto result = f.client.send(list_vms);
  REQUIRE(result.ok());
  CHECK(result.response().result_int() == 503);  // 503 is no longer transient under this config
  CHECK(f.transport().attempt_count() == 2);
}

TEST_CASE("a bad config is refused when the client is built", "[client][config]") {
  retry_config config;
  config.base_delay = 20s;
  t::fake_clock clock;
  CHECK_THROWS_AS(fake_client<>(config, t::fake_transport{clock}, {}, clock), retryhttp::config_error);
}

TEST_CASE("each call gets a fresh backoff schedule", "[client][backoff]") {
  fixture<retryhttp::decorrelated_jitter_backoff> f{retry_config{},
                                                    retryhttp::decorrelated_jitter_backoff{5}};
  f.transport().otherwise(t::respond(503));
  (void)f.client.send(list_vms);
  const auto first = f.clock.requested_delays();
  f.clock.clear_waits();
  (void)f.client.send(list_vms);
  const auto second = f.clock.requested_delays();
  REQUIRE(first.size() == 3);
  REQUIRE(second.size() == 3);
  // Decorrelated jitter starts each call from the base again, whatever the previous call reached.
  CHECK(second[0] <= 1500ms);
  CHECK(first != second);
}

namespace {
/// Two fake transports on one timeline: every call's first two attempts go to one scripted to answer 503,
/// its later ones to one scripted to answer 200. Chosen by the client's own attempt number, so what each
/// call sees does not depend on how the threads interleave (one shared script would hand a call's 503 to
/// another thread's call).
struct busy_twice_transport {
  using request_type = t::fake_transport::request_type;
  using response_type = t::fake_transport::response_type;
  t::fake_transport busy;
  t::fake_transport ok;
  retryhttp::attempt_outcome<response_type> attempt(const request_type& request,
                                                    const retryhttp::attempt_context& context) {
    return (context.attempt <= 2 ? busy : ok).attempt(request, context);
  }
};

/// Counts retries and adds up their delays, from any thread.
struct counting_retries {
  std::atomic<std::int64_t>* retries;
  std::atomic<std::int64_t>* delay_ns;
  void on_retry(const retryhttp::retry_event& event) const {
    retries->fetch_add(1);
    delay_ns->fetch_add(event.delay.count());
  }
};
}  // namespace

TEST_CASE("a client shared by threads keeps each call's attempts apart", "[client][threads]") {
  // fake_transport and fake_clock are thread-safe; the client holds no per-call state of its own. Every call
  // is retried twice (503, 503, 200), with the exact delays of no_jitter_backoff: 500 ms, then 1 s.
  t::fake_clock clock;
  busy_twice_transport transport{t::fake_transport{clock}, t::fake_transport{clock}};
  transport.busy.record_requests(false).otherwise(t::respond(503));
  transport.ok.record_requests(false).otherwise(t::respond(200));
  std::atomic<std::int64_t> retries{0};
  std::atomic<std::int64_t> delay_ns{0};
  retryhttp::basic_client<busy_twice_transport, retryhttp::no_jitter_backoff, t::fake_clock,
                          vmm::orchestrator_idempotency, counting_retries>
      client{{}, transport, {}, clock, {}, counting_retries{&retries, &delay_ns}};
  constexpr int threads = 4;
  constexpr int calls = 100;
  std::vector<std::thread> workers;
  std::atomic<int> delivered{0};
  std::atomic<int> three_attempts{0};
  for (int i = 0; i < threads; ++i)
    workers.emplace_back([&] {
      for (int j = 0; j < calls; ++j) {
        const auto result = client.send(list_vms);
        delivered += result.ok() ? 1 : 0;
        three_attempts += result.attempts() == 3 ? 1 : 0;  // its own attempts, none of another call's
      }
    });
  for (auto& worker : workers) worker.join();
  constexpr int total = threads * calls;
  CHECK(delivered == total);
  CHECK(three_attempts == total);
  CHECK(transport.busy.attempt_count() == 2 * total);  // every call's first attempt and first retry
  CHECK(transport.ok.attempt_count() == total);
  CHECK(client.transport().busy.attempt_count() == 2 * total);  // the client's copy shares the record
  // Two waits per call, each on the clock (sleep_until); the delays are the backoff's exactly. (The lengths
  // of the recorded waits are not: the threads move one shared virtual time forward at once.)
  CHECK(clock.waits().size() == std::size_t{2} * total);
  CHECK(retries == 2 * total);
  CHECK(nanoseconds(delay_ns.load()) == total * nanoseconds(500ms + 1s));
}

// ---- Beyond the ticket: Retry-After, deadlines, budgets
// ------------------------------------------------------

TEST_CASE("Retry-After in delta-seconds replaces the backoff delay", "[client][retry_after]") {
  fixture f;
  f.transport().script({t::respond(503).header("Retry-After", "3"), t::respond(200)});
  REQUIRE(f.client.send(list_vms).ok());
  CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{3s});
}

TEST_CASE("Retry-After as an HTTP-date is measured from the response's Date, else the wall clock",
          "[client][retry_after]") {
  SECTION("the response's Date: immune to a skewed client clock") {
    fixture f;
    f.transport().script({t::respond(503)
                              .header("Date", "Sun, 06 Nov 1994 08:49:37 GMT")
                              .header("Retry-After", "Sun, 06 Nov 1994 08:49:45 GMT"),
                          t::respond(200)});
    REQUIRE(f.client.send(list_vms).ok());
    CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{8s});
  }
  SECTION("no Date: the clock's wall time (fake_clock starts at 2026-01-01T00:00:00Z)") {
    fixture f;
    f.transport().script(
        {t::respond(503).header("Retry-After", "Thu, 01 Jan 2026 00:00:05 GMT"), t::respond(200)});
    REQUIRE(f.client.send(list_vms).ok());
    CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{5s});
  }
}

TEST_CASE("a malformed Retry-After falls back to the backoff delay", "[client][retry_after]") {
  fixture f;
  f.transport().script({t::respond(503).header("Retry-After", "soon-ish"), t::respond(200)});
  REQUIRE(f.client.send(list_vms).ok());
  CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{585'822'980ns});  // seed 42's first delay
}

TEST_CASE("a Retry-After longer than the cap fails at once, naming the requested wait",
          "[client][retry_after]") {
  SECTION("default cap: max_delay (10 s)") {
    fixture f;
    f.transport().script({t::respond(503).header("Retry-After", "120"), t::respond(200)});
    const auto result = f.client.send(list_vms);
    CHECK(result.error() == error::retry_after_too_long);
    CHECK(result.requested_wait() == 120s);
    CHECK(result.allowed_wait() == 10s);
    CHECK(result.message() ==
          "the server asked to wait 120 s (Retry-After), more than the 10 s allowed (retry_after_max_ms); not "
          "retried after 1 attempt: 503 Service Unavailable");
    CHECK(f.transport().attempt_count() == 1);
    CHECK(f.clock.waits().empty());
  }
  SECTION("a configured cap") {
    retry_config config;
    config.retry_after_max = std::chrono::milliseconds(200'000);
    fixture f{config};
    f.transport().script({t::respond(503).header("Retry-After", "120"), t::respond(200)});
    REQUIRE(f.client.send(list_vms).ok());
    CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{120s});
  }
}

TEST_CASE("Retry-After on a configured 429, and ignored when respect_retry_after is off",
          "[client][retry_after]") {
  retry_config config;
  config.retry_on = {429, 503};
  SECTION("honoured") {
    fixture f{config};
    f.transport().script({t::respond(429).header("Retry-After", "2"), t::respond(200)});
    REQUIRE(f.client.send(list_vms).ok());
    CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{2s});
  }
  SECTION("ignored") {
    config.respect_retry_after = false;
    fixture f{config};
    f.transport().script({t::respond(429).header("Retry-After", "2"), t::respond(200)});
    REQUIRE(f.client.send(list_vms).ok());
    CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{585'822'980ns});
  }
  SECTION("never on a status that is not retried") {
    fixture f{config};
    f.transport().script({t::respond(500).header("Retry-After", "2")});
    CHECK(f.client.send(list_vms).ok());
    CHECK(f.clock.waits().empty());
  }
}

TEST_CASE("a deadline bounds the whole call: a wait past it is not started", "[client][deadline]") {
  fixture f;
  f.transport().otherwise(t::respond(503));
  retryhttp::call_options options;
  options.deadline = 2s;  // waits 585.8 ms, then 1477.9 ms would end at 2063.7 ms: refused
  const auto result = f.client.send(list_vms, options);
  CHECK(result.error() == error::deadline_exceeded);
  CHECK(result.attempts() == 2);
  CHECK(f.clock.requested_delays() == std::vector<nanoseconds>{585'822'980ns});
  CHECK(f.clock.now().time_since_epoch() == 585'822'980ns);  // failed at once, not at the deadline
  CHECK(result.requested_wait() == 1'477'873'363ns);
  CHECK(result.allowed_wait() == 2s - 585'822'980ns);
  CHECK(result.message() ==
        "deadline exceeded after 2 attempts: the next wait of 1.48 s would end past the call's deadline (1.41 s "
        "left); the last attempt ended with 503 Service Unavailable");
}

TEST_CASE("each attempt's timeout is the smaller of its own and the time left", "[client][deadline]") {
  retry_config config;
  config.attempt_timeout = 5s;
  config.deadline = 3s;  // from the config this time
  fixture f{config};
  f.transport().script({t::respond(503).after(1s), t::hang(), t::respond(200)});
  const auto result = f.client.send(list_vms);
  const auto attempts = f.transport().attempts();
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0].timeout == nanoseconds(3s));                       // min(5 s, 3 s left)
  CHECK(attempts[1].timeout == nanoseconds(3s - 1s - 585'822'980ns));  // what the first attempt and wait left
  CHECK(result.error() == error::deadline_exceeded);
  CHECK(f.clock.elapsed() == 3s);  // the hung attempt ended exactly at the deadline
}

TEST_CASE("a per-call deadline overrides the config's; zero time means no attempt", "[client][deadline]") {
  retry_config config;
  config.deadline = 1s;
  fixture f{config};
  f.transport().otherwise(t::respond(503));
  retryhttp::call_options generous;
  generous.deadline = 1h;
  CHECK(f.client.send(list_vms, generous).error() == error::retries_exhausted);
  retryhttp::call_options none_left;
  none_left.deadline = 0s;
  const auto result = f.client.send(list_vms, none_left);
  CHECK(result.error() == error::deadline_exceeded);
  CHECK(result.attempts() == 0);
}

TEST_CASE("a Retry-After past the deadline fails at once, naming the wait",
          "[client][deadline][retry_after]") {
  fixture f;
  f.transport().script({t::respond(503).header("Retry-After", "8"), t::respond(200)});
  retryhttp::call_options options;
  options.deadline = 5s;
  const auto result = f.client.send(list_vms, options);
  CHECK(result.error() == error::deadline_exceeded);
  CHECK(result.requested_wait() == 8s);
  CHECK(f.clock.waits().empty());
}

TEST_CASE("a shared token bucket stops retries across clients; the last outcome is the result",
          "[client][budget]") {
  retry_config config;
  config.budget.type = retryhttp::budget_config::kind::token_bucket;
  config.budget.max_tokens = 4;  // retries while tokens > 2: two failures spend what may be spent
  fixture a{config};
  fixture b{config};
  b.client.share_budget(a.client.budget());
  a.transport().otherwise(t::respond(503));
  b.transport().otherwise(t::respond(503));
  const auto first = a.client.send(list_vms);  // 503 (3 left, retry), 503 (2 left: no)
  CHECK(first.error() == error::budget_exhausted);
  CHECK(first.attempts() == 2);
  CHECK(first.response().result_int() == 503);
  CHECK(first.message() == "retry budget exhausted after 2 attempts: 503 Service Unavailable");
  const auto second = b.client.send(list_vms);  // the other client finds the shared bucket empty
  CHECK(second.error() == error::budget_exhausted);
  CHECK(second.attempts() == 1);
}

TEST_CASE("a percent budget lets 10% of calls retry when everything fails", "[client][budget]") {
  retry_config config;
  config.budget.type = retryhttp::budget_config::kind::percent;
  config.budget.percent = 10;
  config.budget.min_retries = 0;
  fixture f{config};
  f.transport().otherwise(t::respond(503));
  for (int call = 0; call < 100; ++call) (void)f.client.send(list_vms);
  CHECK(f.transport().attempt_count() == 110);  // load 1.1x, not 4x
}

TEST_CASE("successes refill the bucket", "[client][budget]") {
  retry_config config;
  config.budget.type = retryhttp::budget_config::kind::token_bucket;
  config.budget.max_tokens = 4;
  config.budget.token_ratio = 1;
  fixture f{config};
  f.transport().script(
      {t::respond(503), t::respond(503), t::respond(200), t::respond(200), t::respond(503), t::respond(200)});
  CHECK(f.client.send(list_vms).error() == error::budget_exhausted);  // 4 -> 3 -> 2
  CHECK(f.client.send(list_vms).ok());                                // 3
  CHECK(f.client.send(list_vms).ok());                                // 4
  CHECK(f.client.send(list_vms).ok());                                // 503 -> 3, retried, 200 -> 4
  CHECK(f.transport().attempt_count() == 6);
}

TEST_CASE("a permanent failure is never retried, whatever the route", "[client]") {
  SECTION("a safe GET: one attempt, permanent_failure, the transport's words in the message") {
    fixture f;
    f.transport().script({t::reset_connection().permanent(), t::respond(200)});
    const auto result = f.client.send(list_vms);
    CHECK(result.error() == error::permanent_failure);
    CHECK(result.attempts() == 1);
    CHECK(f.transport().attempt_count() == 1);
    CHECK(f.clock.waits().empty());
    CHECK_THAT(result.message(), Catch::StartsWith("GET /v1/vms failed and was not retried, since sending it "
                                                   "again would fail the same way: "));
  }
  SECTION("a create whose answer was over a limit may still have been applied") {
    fixture f;
    f.transport().script({t::reset_connection().permanent(), t::respond(201)});
    const auto result = f.client.send(create_vm);
    CHECK(result.error() == error::may_have_been_applied);
    CHECK(f.transport().attempt_count() == 1);
  }
  SECTION("a request refused before sending is not retried even when unsafe retries of not_sent are on") {
    retry_config config;
    config.retry_unsafe_when_not_sent = true;
    fixture f{config};
    f.transport().script({t::refuse_connection().permanent(), t::respond(201)});
    CHECK(f.client.send(create_vm).error() == error::permanent_failure);
    CHECK(f.transport().attempt_count() == 1);
  }
}

TEST_CASE("the message of a failed call shows control bytes of the target escaped, never raw", "[client]") {
  fixture f;
  f.transport().script({t::refuse_connection().permanent()});
  const auto result = f.client.send(request(http::verb::get, "/v1/vms\r\nX-Injected: 1\x1b[2J"));
  CHECK(result.error() == error::permanent_failure);
  CHECK_THAT(result.message(), Catch::Contains("GET /v1/vms\\x0d\\x0aX-Injected: 1\\x1b[2J"));
  CHECK(result.message().find_first_of("\r\n\x1b") == std::string::npos);
}

}  // namespace test_client
