#include <retryhttp/observer.hpp>

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_observer {

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

namespace {
struct call_end_observer {
  std::vector<std::string>* log;
  void on_give_up(const retryhttp::give_up_event& e) {
    log->push_back("give up " + std::to_string(e.requested_wait.count()) + " "
                   + std::to_string(e.allowed_wait.count()));
  }
  void on_call_end(const retryhttp::call_end_event& e) {
    log->push_back(std::string(e.delivered ? "delivered" : make_error_code(e.reason).message()) + " after "
                   + std::to_string(e.attempts) + ", waited "
                   + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(e.waited).count())
                   + "ms");
  }
};
}  // namespace

TEST_CASE("on_call_end ends every call, delivered or not, after on_give_up, with the time waited",
          "[observer]") {
  std::vector<std::string> log;
  t::fake_clock clock;
  retryhttp::retry_config config;
  config.deadline = 3s;
  client<call_end_observer> c{config, t::fake_transport{clock}, {}, clock, {}, call_end_observer{&log}};
  // 503 (backoff 500 ms at most 750 ms with the default seed's jitter), 503 asking for 5 s: past the
  // deadline.
  c.transport().script({t::respond(503), t::respond(503).header("Retry-After", "5").after(100ms),
                        t::respond(503), t::respond(200)});
  const auto failed = c.send({http::verb::get, "/", 11});
  CHECK(failed.error() == retryhttp::error::deadline_exceeded);
  REQUIRE(clock.waits().size() == 1);
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock.waits()[0].waited());
  const auto left =
      3s - clock.waits()[0].waited() - 100ms;  // the deadline's time left when the 5 s wait was refused
  CHECK(log
        == std::vector<std::string>{
            "give up 5000000000 " + std::to_string(std::chrono::nanoseconds(left).count()),
            "deadline exceeded after 2, waited " + std::to_string(waited.count()) + "ms"});
  log.clear();
  CHECK(c.send({http::verb::get, "/", 11}).ok());
  REQUIRE(clock.waits().size() == 2);
  CHECK(log
        == std::vector<std::string>{
            "delivered after 2, waited "
            + std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(clock.waits()[1].waited()).count())
            + "ms"});
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

// ---- A hook with a wrong signature: basic_client static_asserts detail::observer_hook_check<O>::value,
// whose conditions are these traits (a compile-fail test does not fit Catch2; the condition is tested here).
namespace {
struct attempt_hook_taking_an_int {  // has on_attempt, but not one the client can call
  void on_attempt(int) {}
};
struct retry_hook_without_argument {
  void on_retry() {}
};
struct give_up_hook_taking_the_wrong_event {
  void on_give_up(const retryhttp::retry_event&) {}
};
struct attempt_hook_that_is_a_number {  // a data member of the hook's name is a hook that cannot be called
  int on_attempt = 0;
};
struct attempt_hook_overloaded_wrongly {  // an overload set: found by name, and none of it takes the event
  void on_attempt(int) {}
  void on_attempt(const std::string&) {}
};
struct attempt_hook_needing_a_const_event_copy_it_cannot_get {  // takes a non-const reference
  void on_attempt(retryhttp::attempt_event&) {}
};
struct call_end_hook_taking_the_give_up_event {
  void on_call_end(const retryhttp::give_up_event&) {}
};
struct final_observer_with_a_wrong_hook final {
  void on_retry(int) {}
};
struct inherited_wrong_hook : attempt_hook_taking_an_int {};

struct by_value_and_const_hooks {  // callable as the client calls them: by value, const, static
  void on_attempt(retryhttp::attempt_event) const {}
  static void on_retry(const retryhttp::retry_event&) {}
  template <class Event>
  void on_give_up(const Event&) {}
};
struct final_good_observer final {
  void on_attempt(const retryhttp::attempt_event&) {}
};
struct unrelated_members_only {  // a misspelled hook is just a member to C++: not detectable, and not called
  int on_attempts = 0;
  void on_retries(int) {}
};

template <class O>
constexpr bool client_accepts = retryhttp::detail::observer_hooks_are_callable<O>;
}  // namespace

TEST_CASE("a hook with a wrong signature is detected: the condition basic_client static_asserts",
          "[observer]") {
  namespace d = retryhttp::detail;
  STATIC_REQUIRE_FALSE(d::on_attempt_is_callable<attempt_hook_taking_an_int>);
  STATIC_REQUIRE_FALSE(client_accepts<attempt_hook_taking_an_int>);
  STATIC_REQUIRE_FALSE(d::on_retry_is_callable<retry_hook_without_argument>);
  STATIC_REQUIRE_FALSE(client_accepts<retry_hook_without_argument>);
  STATIC_REQUIRE_FALSE(d::on_give_up_is_callable<give_up_hook_taking_the_wrong_event>);
  STATIC_REQUIRE_FALSE(client_accepts<give_up_hook_taking_the_wrong_event>);
  STATIC_REQUIRE_FALSE(d::on_call_end_is_callable<call_end_hook_taking_the_give_up_event>);
  STATIC_REQUIRE_FALSE(client_accepts<call_end_hook_taking_the_give_up_event>);
  STATIC_REQUIRE(d::names_on_call_end<call_end_hook_taking_the_give_up_event>());
  STATIC_REQUIRE_FALSE(client_accepts<attempt_hook_that_is_a_number>);
  STATIC_REQUIRE_FALSE(client_accepts<attempt_hook_overloaded_wrongly>);
  STATIC_REQUIRE_FALSE(client_accepts<attempt_hook_needing_a_const_event_copy_it_cannot_get>);
  STATIC_REQUIRE_FALSE(d::on_retry_is_callable<final_observer_with_a_wrong_hook>);
  STATIC_REQUIRE_FALSE(client_accepts<inherited_wrong_hook>);
  // The other hooks of a type with one bad hook are still fine: each error names its own hook.
  STATIC_REQUIRE(d::on_retry_is_callable<attempt_hook_taking_an_int>);
  STATIC_REQUIRE(d::on_give_up_is_callable<attempt_hook_taking_an_int>);

  STATIC_REQUIRE(client_accepts<retryhttp::no_observer>);
  STATIC_REQUIRE(client_accepts<recording_observer>);
  STATIC_REQUIRE(client_accepts<retries_only>);
  STATIC_REQUIRE(client_accepts<by_value_and_const_hooks>);
  STATIC_REQUIRE(client_accepts<final_good_observer>);
  STATIC_REQUIRE(client_accepts<unrelated_members_only>);
  STATIC_REQUIRE(retryhttp::detail::observer_hook_check<recording_observer>::value);
  // The detection itself: a hook's name is found whatever the member is.
  STATIC_REQUIRE(d::names_on_attempt<attempt_hook_that_is_a_number>());
  STATIC_REQUIRE(d::names_on_attempt<attempt_hook_overloaded_wrongly>());
  STATIC_REQUIRE(d::names_on_give_up<by_value_and_const_hooks>());
  STATIC_REQUIRE(d::names_on_retry<final_observer_with_a_wrong_hook>());
  STATIC_REQUIRE_FALSE(d::names_on_attempt<unrelated_members_only>());
  STATIC_REQUIRE_FALSE(d::names_on_attempt<retryhttp::no_observer>());
}

}  // namespace test_observer
