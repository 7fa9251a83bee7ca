#include <retryhttp/testing/fake_transport.hpp>

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_fake_transport {

using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace t = retryhttp::testing;
using retryhttp::attempt_context;
using retryhttp::failure_kind;
using retryhttp::observed_outcome;

namespace {
t::fake_transport::request_type get(const char* target) {
  return {http::verb::get, target, 11};
}
}  // namespace

TEST_CASE("the script plays one outcome per attempt, in order", "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.script({t::respond(503), t::refuse_connection(), t::reset_connection(),
                    t::respond(200, R"({"vms":[]})").header("Content-Type", "application/json")});
  CHECK(transport.remaining() == 4);

  auto first = transport.attempt(get("/a"), {});
  REQUIRE(first.has_response());
  CHECK(first.response().result_int() == 503);

  auto second = transport.attempt(get("/b"), {});
  REQUIRE_FALSE(second.has_response());
  CHECK(second.failure().kind == failure_kind::not_sent);
  CHECK(second.failure().code == boost::system::errc::connection_refused);

  auto third = transport.attempt(get("/c"), {});
  CHECK(third.failure().kind == failure_kind::ambiguous);
  CHECK(third.failure().code == boost::system::errc::connection_reset);

  auto fourth = transport.attempt(get("/d"), {});
  REQUIRE(fourth.has_response());
  CHECK(fourth.response().body() == R"({"vms":[]})");
  CHECK(fourth.response()[http::field::content_type] == "application/json");
  CHECK(fourth.response()[http::field::content_length] == "10");
  CHECK(fourth.response().version() == 11);

  CHECK(transport.remaining() == 0);
  CHECK(transport.attempt_count() == 4);
  const auto requests = transport.requests();
  REQUIRE(requests.size() == 4);
  CHECK(requests[0].target() == "/a");
  CHECK(requests[3].target() == "/d");
  CHECK(transport.attempts()[1].result == observed_outcome::not_sent());
}

TEST_CASE("scripted fields arrive as written: twice when given twice, a Content-Length of the script's own",
          "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.script({t::respond(200, "abc").header("Set-Cookie", "a=1").header("set-cookie", "b=2"),
                    t::respond(200, "abc").header("content-length", "7"), t::respond(204), t::respond(304)});

  auto twice = transport.attempt(get("/"), {});
  REQUIRE(twice.has_response());
  CHECK(twice.response().count(http::field::set_cookie) == 2);
  CHECK(twice.response().count(http::field::content_length) == 1);
  CHECK(twice.response()[http::field::content_length] == "3");

  auto own_length = transport.attempt(get("/"), {});
  REQUIRE(own_length.has_response());
  CHECK(own_length.response().count(http::field::content_length) == 1);
  CHECK(own_length.response()[http::field::content_length] == "7");

  // No body and no length for the statuses that have none.
  for (int i = 0; i < 2; ++i) {
    auto empty = transport.attempt(get("/"), {});
    REQUIRE(empty.has_response());
    CHECK(empty.response().count(http::field::content_length) == 0);
  }
}

TEST_CASE("a bare respond(status) has no fields; a body brings its Content-Length", "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.script({t::respond(503), t::respond(200, ""), t::respond(200).body("abc"),
                    t::respond(201).header("Location", "/v1/vms/a"), t::respond(100, "ignored")});

  auto bare = transport.attempt(get("/"), {});
  REQUIRE(bare.has_response());
  CHECK(bare.response().result_int() == 503);
  CHECK(bare.response().begin() == bare.response().end());
  CHECK(bare.response().body().empty());

  auto empty_body = transport.attempt(get("/"), {});
  CHECK(empty_body.response()[http::field::content_length] == "0");

  auto refined = transport.attempt(get("/"), {});
  CHECK(refined.response()[http::field::content_length] == "3");
  CHECK(refined.response().body() == "abc");

  auto field_only = transport.attempt(get("/"), {});
  CHECK(field_only.response()[http::field::location] == "/v1/vms/a");
  CHECK(field_only.response()[http::field::content_length] == "0");

  auto informational = transport.attempt(get("/"), {});
  CHECK(informational.response().count(http::field::content_length) == 0);
}

TEST_CASE("the record gives back each request as it was handed: method, target, version, fields, body",
          "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.otherwise(t::respond(200));

  t::fake_transport::request_type brew;  // a method Beast has no verb for
  brew.method_string("BREW");
  brew.target("/cache?key=a%20b");
  brew.version(10);
  brew.insert("x-Trace", "1");
  brew.insert(http::field::accept, "text/plain");
  brew.insert("X-TRACE", "2");  // a repeat, under another spelling: kept, in order, as written
  brew.insert("content-TYPE", "text/plain; charset=utf-8");
  brew.body() = std::string("a\0b", 3);
  (void)transport.attempt(brew, {});

  t::fake_transport::request_type post{http::verb::post, "/v1/vms", 11};
  post.set("Idempotency-Key", "k-1");
  post.body() = R"({"name":"a"})";
  (void)transport.attempt(post, {});
  post.set("Idempotency-Key", "changed after the attempt");
  (void)transport.attempt({http::verb::get, "/", 11}, {});
  t::fake_transport::request_type bare;  // no method, no target, no body; a field with an empty value
  bare.insert("X-Empty", "");
  bare.insert(http::field::accept, "*/*");
  (void)transport.attempt(bare, {});

  const auto requests = transport.requests();
  REQUIRE(requests.size() == 4);
  const auto& first = requests[0];
  CHECK(first.method() == http::verb::unknown);
  CHECK(first.method_string() == "BREW");
  CHECK(first.target() == "/cache?key=a%20b");
  CHECK(first.version() == 10);
  CHECK(first.body() == std::string("a\0b", 3));
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& field : first) fields.emplace_back(field.name_string(), field.value());
  CHECK(fields
        == std::vector<std::pair<std::string, std::string>>{{"x-Trace", "1"},
                                                            {"X-TRACE", "2"},
                                                            {"Accept", "text/plain"},
                                                            {"content-TYPE", "text/plain; charset=utf-8"}});
  CHECK(first.count("x-trace") == 2);
  CHECK(first[http::field::content_type] == "text/plain; charset=utf-8");

  CHECK(requests[1].method() == http::verb::post);
  CHECK(requests[1]["Idempotency-Key"] == "k-1");  // a copy: later changes do not reach it
  CHECK(requests[1].body() == R"({"name":"a"})");
  CHECK(requests[2].method() == http::verb::get);
  CHECK(requests[2].target() == "/");
  CHECK(requests[2].body().empty());
  CHECK(requests[2].begin() == requests[2].end());
  const auto& last = requests[3];
  CHECK(last.method_string().empty());
  CHECK(last.target().empty());
  CHECK(last.body().empty());
  fields.clear();
  for (const auto& field : last) fields.emplace_back(field.name_string(), field.value());
  CHECK(fields == std::vector<std::pair<std::string, std::string>>{{"X-Empty", ""}, {"Accept", "*/*"}});
  CHECK(transport.attempts()[1].request["Idempotency-Key"] == "k-1");
}

TEST_CASE("an attempt past the script throws unless otherwise() is set", "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.then(t::respond(200));
  (void)transport.attempt(get("/"), {});
  CHECK_THROWS_WITH(
      transport.attempt(get("/"), {}),
      "fake_transport: attempt 2 has no scripted outcome (script has 1); script more outcomes or "
      "set otherwise()");
  transport.otherwise(t::respond(418));
  CHECK(transport.attempt(get("/"), {}).response().result_int() == 418);
  CHECK(transport.attempt(get("/"), {}).response().result_int() == 418);
}

TEST_CASE("repeat_script plays the script again", "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.script({t::respond(503), t::respond(200)}).repeat_script();
  for (int round = 0; round < 3; ++round) {
    CHECK(transport.attempt(get("/"), {}).response().result_int() == 503);
    CHECK(transport.attempt(get("/"), {}).response().result_int() == 200);
  }
}

TEST_CASE("latency advances the fake clock and is cut by the attempt timeout", "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.script(
      {t::respond(200).after(300ms), t::respond(200).after(5s), t::refuse_connection().after(5s)});

  CHECK(transport.attempt(get("/"), attempt_context{{}, 1s, 1}).has_response());
  CHECK(clock.now().time_since_epoch() == 300ms);

  auto slow = transport.attempt(get("/"), attempt_context{{}, 1s, 2});
  REQUIRE_FALSE(slow.has_response());
  CHECK(slow.failure().kind == failure_kind::ambiguous);  // the request was written
  CHECK(slow.failure().code == boost::system::errc::timed_out);
  CHECK(clock.now().time_since_epoch() == 1300ms);

  auto connect_timeout = transport.attempt(get("/"), attempt_context{{}, 2s, 3});
  CHECK(connect_timeout.failure().kind == failure_kind::not_sent);  // nothing was written
  CHECK(connect_timeout.failure().code == boost::system::errc::timed_out);
  CHECK(clock.now().time_since_epoch() == 3300ms);
  CHECK(clock.waits().empty());  // time inside attempts is not a backoff wait

  const auto record = transport.attempts();
  CHECK(record[1].started.time_since_epoch() == 300ms);
  CHECK(record[1].ended.time_since_epoch() == 1300ms);
  CHECK(record[1].timeout == std::chrono::nanoseconds(1s));
  CHECK(record[2].attempt == 3);
}

TEST_CASE("a hang lasts until the attempt's timeout, or until a stop", "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.script({t::hang(), t::hang(), t::hang()});

  auto timed_out = transport.attempt(get("/"), attempt_context{{}, 2s, 1});
  CHECK(timed_out.failure().kind == failure_kind::ambiguous);
  CHECK(timed_out.failure().code == boost::system::errc::timed_out);
  CHECK(clock.now().time_since_epoch() == 2s);

  std::stop_source source;
  clock.request_stop_at(clock.now() + 700ms, source);
  auto stopped = transport.attempt(get("/"), attempt_context{source.get_token(), std::nullopt, 2});
  CHECK(stopped.failure().kind == failure_kind::ambiguous);
  CHECK(stopped.failure().code == boost::system::errc::operation_canceled);
  CHECK(clock.now().time_since_epoch() == 2700ms);

  // No timeout and no stop: the test itself is wrong, and says so.
  CHECK_THROWS_AS(transport.attempt(get("/"), {}), std::logic_error);
}

TEST_CASE("an attempt handed a stopped token sends nothing", "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.then(t::respond(200));
  std::stop_source source;
  source.request_stop();
  auto outcome = transport.attempt(get("/"), attempt_context{source.get_token(), std::nullopt, 1});
  CHECK(outcome.failure().kind == failure_kind::not_sent);
  CHECK(outcome.failure().code == boost::system::errc::operation_canceled);
  // The script is untouched: the next attempt plays its first step.
  CHECK(transport.remaining() == 1);
  CHECK(transport.attempt_count() == 1);
  CHECK(transport.attempt(get("/"), {}).response().result_int() == 200);
}

TEST_CASE("copies share the script and the record; recording can be turned off", "[fake_transport]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  t::fake_transport copy = transport;  // NOLINT(performance-unnecessary-copy-initialization)
  transport.otherwise(t::respond(200));
  (void)copy.attempt(get("/x"), {});
  CHECK(transport.attempt_count() == 1);
  CHECK(transport.requests().at(0).target() == "/x");
  transport.record_requests(false);
  (void)copy.attempt(get("/y"), {});
  CHECK(transport.attempt_count() == 2);
  CHECK(transport.attempts().size() == 1);
  transport.clear_record();
  CHECK(transport.attempt_count() == 0);
}

TEST_CASE("Beast's fail-every-step loop: fail the first n attempts, for every n", "[fake_transport]") {
  // As Beast's test::fail_count fails the nth operation, script n failures before a success and check that
  // the code under test reaches the success at attempt n + 1.
  for (unsigned failures = 0; failures < 5; ++failures) {
    t::fake_clock clock;
    t::fake_transport transport{clock};
    for (unsigned i = 0; i < failures; ++i) transport.then(t::reset_connection());
    transport.then(t::respond(200));
    unsigned attempt = 1;
    while (!transport.attempt(get("/"), attempt_context{{}, std::nullopt, attempt}).has_response()) ++attempt;
    CHECK(attempt == failures + 1);
  }
}

}  // namespace test_fake_transport
