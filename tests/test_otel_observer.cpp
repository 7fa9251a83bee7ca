#include <retryhttp/otel_observer.hpp>

#include <retryhttp/async.hpp>
#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_async.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <retryhttp/tls_options.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <variant>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_otel_observer {

// otel_observer on the fakes: the attributes of each attempt and the retry metrics of each call, exactly, in
// virtual time. The docs/opentelemetry.md blocks are regions of this file.

using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace t = retryhttp::testing;
namespace otel = retryhttp::otel;

namespace {

/// What one span or measurement carried, copied out of the views the sink is handed.
struct recorded {
  std::string name;
  std::map<std::string, std::variant<std::string, std::int64_t>> attributes;
  bool error = false;
  std::chrono::nanoseconds duration{0};
  unsigned retries = 0;
  std::chrono::nanoseconds retry_delay{0};
  bool delivered = false;

  bool has(const std::string& key) const { return attributes.contains(key); }
  std::string text(const std::string& key) const { return std::get<std::string>(attributes.at(key)); }
  std::int64_t integer(const std::string& key) const { return std::get<std::int64_t>(attributes.at(key)); }
};

std::map<std::string, std::variant<std::string, std::int64_t>> copy(const retryhttp::otel_attributes& list) {
  std::map<std::string, std::variant<std::string, std::int64_t>> out;
  for (const auto& a : list) {
    if (a.is_integer)
      out[std::string(a.key)] = a.integer;
    else
      out[std::string(a.key)] = std::string(a.text);
  }
  return out;
}

struct recording_sink final : retryhttp::otel_sink {
  std::vector<recorded> attempts;
  std::vector<recorded> calls;
  void attempt(const retryhttp::otel_attempt& a) override {
    attempts.push_back({std::string(a.span_name), copy(a.attributes), a.error, a.duration, 0, {}, false});
  }
  void call(const retryhttp::otel_call& c) override {
    calls.push_back({{}, copy(c.attributes), false, {}, c.retries, c.retry_delay, c.delivered});
  }
};

using observed_client =
    retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock,
                            retryhttp::method_idempotency, retryhttp::otel_observer>;

struct fixture {
  explicit fixture(std::string_view base_url = "http://orch.example:8080",
                   retryhttp::retry_config config = {})
      : client(config, t::fake_transport{clock}, retryhttp::exponential_backoff{7}, clock, {},
               retryhttp::otel_observer{sink, base_url}) {}
  recording_sink sink;
  t::fake_clock clock;
  observed_client client;
  t::fake_transport& transport() { return client.transport(); }
};

retryhttp::attempt_event event_for(const retryhttp::request_header& request, unsigned attempt,
                                   retryhttp::observed_outcome outcome,
                                   const retryhttp::transport_failure* failure = nullptr,
                                   std::string_view endpoint = {}) {
  return {request, attempt, 4, outcome, failure, 5ms, endpoint};
}

}  // namespace

TEST_CASE("a retried GET: one span per attempt with the conventions' names, one call with its retries",
          "[otel]") {
  fixture f;
  f.transport().script({t::respond(503).after(20ms), t::respond(200, "[]").after(30ms)});
  const auto result = f.client.send({http::verb::get, "/v1/vms?limit=5", 11});
  REQUIRE(result.ok());

  REQUIRE(f.sink.attempts.size() == 2);
  const auto& first = f.sink.attempts[0];
  CHECK(first.name == "GET");
  CHECK(first.text("http.request.method") == "GET");
  CHECK(first.integer("http.response.status_code") == 503);
  CHECK(first.text("error.type") == "503");
  CHECK(first.error);
  CHECK_FALSE(first.has("http.request.resend_count"));  // set only on a resend
  CHECK(first.text("server.address") == "orch.example");
  CHECK(first.integer("server.port") == 8080);
  CHECK(first.text("url.full") == "http://orch.example:8080/v1/vms?limit=5");
  CHECK(first.text("url.scheme") == "http");
  CHECK(first.text("network.protocol.version") == "1.1");
  CHECK(first.duration == 20ms);

  const auto& second = f.sink.attempts[1];
  CHECK(second.integer("http.request.resend_count") == 1);
  CHECK(second.integer("http.response.status_code") == 200);
  CHECK_FALSE(second.has("error.type"));
  CHECK_FALSE(second.error);
  CHECK(second.duration == 30ms);

  REQUIRE(f.sink.calls.size() == 1);
  const auto& call = f.sink.calls[0];
  CHECK(call.retries == 1);
  CHECK(call.delivered);
  REQUIRE(f.clock.waits().size() == 1);
  CHECK(call.retry_delay == f.clock.waits()[0].waited());
  CHECK(call.retry_delay >= 500ms);
  CHECK(call.text("http.request.method") == "GET");
  CHECK(call.text("server.address") == "orch.example");
  CHECK(call.integer("server.port") == 8080);
  CHECK(call.attributes.size() == 3);
}

TEST_CASE("url.full carries no credentials and no signature", "[otel]") {
  fixture f{"https://alice:s3cret@orch.example"};
  f.transport().then(t::respond(200));
  (void)f.client.send(
      {http::verb::get, "/v1/vms?sig=abc&color=blue&X-Amz-Signature=zz&Signature=&signature=kept", 11});
  REQUIRE(f.sink.attempts.size() == 1);
  const auto url = f.sink.attempts[0].text("url.full");
  CHECK(url
        == "https://REDACTED:REDACTED@orch.example/v1/vms?sig=REDACTED&color=blue&X-Amz-Signature=REDACTED"
           "&Signature=REDACTED&signature=kept");  // keys match case-sensitively, as the conventions say
  CHECK(url.find("alice") == std::string::npos);
  CHECK(url.find("s3cret") == std::string::npos);
  CHECK(f.sink.attempts[0].integer("server.port") == 443);  // https's default
  CHECK(f.sink.attempts[0].text("server.address") == "orch.example");
}

TEST_CASE("a method the conventions do not know is _OTHER, with the original kept and the span named HTTP",
          "[otel]") {
  fixture f;
  f.transport().then(t::respond(207));
  (void)f.client.send({http::verb::propfind, "/dav", 11});
  REQUIRE(f.sink.attempts.size() == 1);
  CHECK(f.sink.attempts[0].name == "HTTP");
  CHECK(f.sink.attempts[0].text("http.request.method") == "_OTHER");
  CHECK(f.sink.attempts[0].text("http.request.method_original") == "PROPFIND");
  REQUIRE(f.sink.calls.size() == 1);
  CHECK(f.sink.calls[0].text("http.request.method") == "_OTHER");
}

TEST_CASE("failures: error.type names the failure; a 4xx is an error; the caller's stop is not", "[otel]") {
  SECTION("time-out, refusal, then a 404 delivered") {
    retryhttp::retry_config config;
    config.attempt_timeout = 100ms;
    fixture f{"http://127.0.0.1:9000", config};
    f.transport().script({t::hang(), t::refuse_connection(), t::respond(404)});
    const auto result = f.client.send({http::verb::get, "/v1/vms/x", 11});
    REQUIRE(f.sink.attempts.size() == 3);
    CHECK(f.sink.attempts[0].text("error.type") == "timeout");
    CHECK(f.sink.attempts[0].error);
    CHECK_FALSE(f.sink.attempts[0].has("http.response.status_code"));
    CHECK(f.sink.attempts[0].duration == 100ms);
    CHECK(f.sink.attempts[1].text("error.type") == "connection_refused");
    CHECK(f.sink.attempts[1].integer("http.request.resend_count") == 1);
    CHECK(f.sink.attempts[2].text("error.type") == "404");
    CHECK(f.sink.attempts[2].error);  // a client span's 4xx is an error
    CHECK(f.sink.attempts[2].integer("http.request.resend_count") == 2);
    REQUIRE(f.sink.calls.size() == 1);
    CHECK(f.sink.calls[0].retries == 2);
    CHECK(f.sink.calls[0].delivered);  // a 404 is delivered, not retried
    std::chrono::nanoseconds waited{0};
    for (const auto& wait : f.clock.waits()) waited += wait.waited();
    CHECK(f.sink.calls[0].retry_delay == waited);
  }
  SECTION("a stop during the attempt: no error.type, and the call ends undelivered") {
    fixture f;
    std::stop_source stop;
    f.clock.request_stop_at(f.clock.now() + 50ms, stop);
    f.transport().then(t::hang());
    retryhttp::call_options options;
    options.stop = stop.get_token();
    const auto result = f.client.send({http::verb::get, "/v1/vms", 11}, options);
    CHECK(result.error() == retryhttp::error::canceled);
    REQUIRE(f.sink.attempts.size() == 1);
    CHECK_FALSE(f.sink.attempts[0].has("error.type"));
    CHECK_FALSE(f.sink.attempts[0].error);
    REQUIRE(f.sink.calls.size() == 1);
    CHECK_FALSE(f.sink.calls[0].delivered);
    CHECK(f.sink.calls[0].retries == 0);
    CHECK(f.sink.calls[0].retry_delay == 0ns);
  }
  SECTION("a stop during the wait: the time waited until the stop is the retry delay") {
    fixture f;
    std::stop_source stop;
    f.clock.request_stop_at(f.clock.now() + 200ms, stop);
    f.transport().script({t::respond(503)});
    retryhttp::call_options options;
    options.stop = stop.get_token();
    (void)f.client.send({http::verb::get, "/v1/vms", 11}, options);
    REQUIRE(f.sink.calls.size() == 1);
    CHECK(f.sink.calls[0].retry_delay == 200ms);
    CHECK(f.sink.calls[0].retries == 0);  // the retry never started
  }
}

TEST_CASE("error.type for the transports' own failures is a short fixed name", "[otel]") {
  using retryhttp::otel_observer;
  using retryhttp::transport_failure;
  namespace errc = boost::system::errc;
  const auto type = [](boost::system::error_code code) {
    return std::string(
        otel_observer::error_type_of(transport_failure{retryhttp::failure_kind::ambiguous, code, {}, false}));
  };
  CHECK(type(make_error_code(errc::timed_out)) == "timeout");
  CHECK(type(make_error_code(errc::connection_reset)) == "connection_reset");
  CHECK(type(make_error_code(errc::broken_pipe)) == "broken_pipe");
  CHECK(type(make_error_code(errc::host_unreachable)) == "unreachable");
  CHECK(type(make_error_code(errc::operation_canceled)).empty());
  CHECK(type(make_error_code(retryhttp::tls_error::handshake_refused)) == "tls");
  CHECK(type(make_error_code(errc::no_buffer_space)) == "_OTHER");
}

TEST_CASE("the attempt's endpoint, when the transport names one, gives server.address and server.port",
          "[otel]") {
  recording_sink sink;
  retryhttp::otel_observer observer{sink, "http://primary.example"};
  const http::request<http::string_body> request{http::verb::delete_, "/v1/vms/a", 11};
  observer.on_attempt(
      event_for(request, 2, retryhttp::observed_outcome::response(204), nullptr, "10.0.0.2:8081"));
  observer.on_attempt(
      event_for(request, 3, retryhttp::observed_outcome::response(204), nullptr, "[::1]:8443"));
  observer.on_attempt(
      event_for(request, 1, retryhttp::observed_outcome::response(204), nullptr, "https://backup.example"));
  observer.on_attempt(
      event_for(request, 1, retryhttp::observed_outcome::response(204), nullptr, "unix:///run/orch.sock"));
  observer.on_attempt(event_for(request, 1, retryhttp::observed_outcome::response(204)));
  REQUIRE(sink.attempts.size() == 5);
  CHECK(sink.attempts[0].text("server.address") == "10.0.0.2");
  CHECK(sink.attempts[0].integer("server.port") == 8081);
  CHECK(sink.attempts[0].text("url.full") == "http://10.0.0.2:8081/v1/vms/a");
  CHECK(sink.attempts[0].text("http.request.method") == "DELETE");
  CHECK(sink.attempts[1].text("server.address") == "::1");
  CHECK(sink.attempts[1].integer("server.port") == 8443);
  CHECK(sink.attempts[2].text("server.address") == "backup.example");
  CHECK(sink.attempts[2].integer("server.port") == 443);
  CHECK(sink.attempts[2].text("url.full") == "https://backup.example/v1/vms/a");
  CHECK(sink.attempts[3].text("server.address") == "/run/orch.sock");
  CHECK(sink.attempts[3].text("url.scheme") == "http");  // HTTP over the socket
  CHECK(sink.attempts[3].text("url.full") == "http://localhost/v1/vms/a");
  CHECK_FALSE(sink.attempts[3].has("server.port"));
  CHECK(sink.attempts[4].text("server.address") == "primary.example");
  CHECK(sink.attempts[4].integer("server.port") == 80);
  // A copy keeps its own parsed base URL (views into its own string).
  std::optional<retryhttp::otel_observer> original{std::in_place, sink,
                                                   std::string("http://copied.example:1")};
  const retryhttp::otel_observer copied = *original;
  original.reset();
  copied.on_attempt(event_for(request, 1, retryhttp::observed_outcome::response(204)));
  CHECK(sink.attempts.back().text("server.address") == "copied.example");
  CHECK(sink.attempts.back().integer("server.port") == 1);
}

TEST_CASE("the asynchronous client reports the same spans and call metrics", "[otel][async]") {
  using transport_type = t::fake_async_transport<boost::asio::io_context::executor_type>;
  boost::asio::io_context io;
  t::fake_clock clock;
  recording_sink sink;
  retryhttp::basic_client<transport_type, retryhttp::exponential_backoff, t::fake_clock,
                          retryhttp::method_idempotency, retryhttp::otel_observer>
      client{{},
             transport_type{io.get_executor(), clock},
             retryhttp::exponential_backoff{7},
             clock,
             {},
             retryhttp::otel_observer{sink, "http://orch.example:8080"}};
  client.transport().script().script({t::respond(502).after(10ms), t::respond(503), t::respond(200)});
  std::optional<retryhttp::send_result<http::response<http::string_body>>> result;
  const http::request<http::string_body> request{http::verb::get, "/v1/vms", 11};  // lives until completion
  client.async_send(request, [&](auto r) { result = std::move(r); });
  REQUIRE(t::run_until_idle(io, clock));
  REQUIRE(result);
  CHECK(result->ok());
  REQUIRE(sink.attempts.size() == 3);
  CHECK(sink.attempts[0].text("error.type") == "502");
  CHECK(sink.attempts[0].duration == 10ms);
  CHECK(sink.attempts[2].integer("http.request.resend_count") == 2);
  REQUIRE(sink.calls.size() == 1);
  CHECK(sink.calls[0].retries == 2);
  CHECK(sink.calls[0].delivered);
  std::chrono::nanoseconds waited{0};
  for (const auto& wait : clock.waits()) waited += wait.waited();
  CHECK(clock.waits().size() == 2);
  CHECK(sink.calls[0].retry_delay == waited);
}

namespace {
// --- docs/opentelemetry.md sink begin
// A sink that hands each attempt to your tracing and metrics back end. With the OpenTelemetry C++ SDK,
// attempt() would start a span named a.span_name (kind CLIENT, start time now - a.duration) with
// a.attributes, set its status to Error when a.error, end it, and record a.duration in seconds on an
// http.client.request.duration histogram; call() would record c.retries and c.retry_delay on two histograms.
struct metrics_sink final : retryhttp::otel_sink {
  std::mutex mutex;  // calls on several threads share the sink
  std::map<std::string, double> seconds_by_status;
  unsigned retries = 0;

  void attempt(const retryhttp::otel_attempt& a) override {
    std::string status = "none";
    if (const auto* code = a.attributes.find(retryhttp::otel::http_response_status_code))
      status = std::to_string(code->integer);
    std::lock_guard lock(mutex);
    seconds_by_status[status] += std::chrono::duration<double>(a.duration).count();
  }
  void call(const retryhttp::otel_call& c) override {
    std::lock_guard lock(mutex);
    retries += c.retries;
  }
};
// --- docs/opentelemetry.md sink end
}  // namespace

TEST_CASE("the docs' sink, on a client", "[otel]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.script({t::respond(503).after(100ms), t::respond(200).after(250ms)});
  // clang-format off
  // --- docs/opentelemetry.md client begin
  metrics_sink sink;
  retryhttp::otel_observer observer{sink, "http://127.0.0.1:8080"};
  retryhttp::basic_client client{retryhttp::retry_config{}, transport, retryhttp::exponential_backoff{}, clock,
                                 retryhttp::method_idempotency{}, observer};
  auto result = client.send({boost::beast::http::verb::get, "/v1/vms", 11});
  // sink.seconds_by_status: {"200": 0.25, "503": 0.1}; sink.retries: 1
  // --- docs/opentelemetry.md client end
  // clang-format on
  CHECK(result.ok());
  CHECK(sink.seconds_by_status.size() == 2);
  CHECK(sink.seconds_by_status["200"] == Approx(0.25));
  CHECK(sink.seconds_by_status["503"] == Approx(0.1));
  CHECK(sink.retries == 1);
}

}  // namespace test_otel_observer
