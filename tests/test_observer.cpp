#include <retryhttp/observer.hpp>

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace t = retryhttp::testing;
namespace http = boost::beast::http;

namespace {

struct recording_observer {
  std::vector<std::string>* log;
  void on_attempt(const retryhttp::attempt_event& e) {
    log->push_back("attempt " + std::to_string(e.attempt) + "/" + std::to_string(e.max_attempts) + " "
                   + std::to_string(e.outcome.status) + (e.failure ? " failure" : "") + " "
                   + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(e.duration).count())
                   + "ms");
  }
  void on_retry(const retryhttp::retry_event& e) {
    log->push_back("retry " + std::to_string(e.next_attempt) + " after "
                   + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(e.delay).count())
                   + "ms " + retryhttp::to_string(e.source));
  }
  void on_give_up(const retryhttp::give_up_event& e) {
    log->push_back("give up " + make_error_code(e.reason).message() + " after " + std::to_string(e.attempts));
  }
};

struct retries_only {
  int* retries;
  void on_retry(const retryhttp::retry_event&) { ++*retries; }
};

template <class Observer>
using client = retryhttp::basic_client<t::fake_transport, retryhttp::no_jitter_backoff, t::fake_clock,
                                       retryhttp::method_idempotency, Observer>;

}  // namespace

TEST_CASE("the observer sees every attempt, every retry with its source, and the give-up", "[observer]") {
  std::vector<std::string> log;
  t::fake_clock clock;
  client<recording_observer> c{{}, t::fake_transport{clock}, {}, clock, {}, recording_observer{&log}};
  c.transport().script({t::respond(503).after(20ms), t::respond(503).header("Retry-After", "2"),
                        t::reset_connection(), t::respond(503)});
  const auto result = c.send({http::verb::get, "/", 11});
  CHECK(result.error() == retryhttp::error::retries_exhausted);
  CHECK(log
        == std::vector<std::string>{"attempt 1/4 503 20ms", "retry 2 after 500ms backoff",        //
                                    "attempt 2/4 503 0ms", "retry 3 after 2000ms Retry-After",    //
                                    "attempt 3/4 0 failure 0ms", "retry 4 after 2000ms backoff",  //
                                    "attempt 4/4 503 0ms", "give up retries exhausted after 4"});
}

TEST_CASE("a delivered response is not a give-up", "[observer]") {
  std::vector<std::string> log;
  t::fake_clock clock;
  client<recording_observer> c{{}, t::fake_transport{clock}, {}, clock, {}, recording_observer{&log}};
  c.transport().then(t::respond(404));
  CHECK(c.send({http::verb::get, "/", 11}).ok());
  CHECK(log == std::vector<std::string>{"attempt 1/4 404 0ms"});
}

TEST_CASE("an observer with one hook gets only that one; no_observer takes no room", "[observer]") {
  int retries = 0;
  t::fake_clock clock;
  client<retries_only> c{{}, t::fake_transport{clock}, {}, clock, {}, retries_only{&retries}};
  c.transport().script({t::respond(502), t::respond(502), t::respond(200)});
  CHECK(c.send({http::verb::get, "/", 11}).ok());
  CHECK(retries == 2);
  STATIC_REQUIRE(std::is_empty_v<retryhttp::no_observer>);
  STATIC_REQUIRE(
      sizeof(client<retryhttp::no_observer>)
      == sizeof(retryhttp::basic_client<t::fake_transport, retryhttp::no_jitter_backoff, t::fake_clock>));
}
