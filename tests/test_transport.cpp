#include <retryhttp/transport.hpp>

#include <boost/beast/http/string_body.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

namespace http = boost::beast::http;
using retryhttp::attempt_outcome;
using retryhttp::failure_kind;
using retryhttp::observed_outcome;
using retryhttp::transport_failure;
using response = http::response<http::string_body>;

TEST_CASE("an attempt_outcome holds a response or a failure and observes it for the decision",
          "[transport]") {
  attempt_outcome<response> answered{response{http::status::service_unavailable, 11}};
  REQUIRE(answered.has_response());
  CHECK(answered.response().result_int() == 503);
  CHECK(answered.observe() == observed_outcome::response(503));

  attempt_outcome<response> refused{transport_failure{
      failure_kind::not_sent, make_error_code(boost::system::errc::connection_refused), {}}};
  REQUIRE_FALSE(refused.has_response());
  CHECK(refused.failure().kind == failure_kind::not_sent);
  CHECK(refused.observe() == observed_outcome::not_sent());

  attempt_outcome<response> reset{
      transport_failure{failure_kind::ambiguous, make_error_code(boost::system::errc::connection_reset), {}}};
  CHECK(reset.observe() == observed_outcome::ambiguous());
}

TEST_CASE("a transport_failure's message is its error's, with the detail after it", "[transport]") {
  transport_failure failure{failure_kind::ambiguous, make_error_code(boost::system::errc::bad_message),
                            "the reply is not HTTP"};
  CHECK(failure.message()
        == make_error_code(boost::system::errc::bad_message).message() + " (the reply is not HTTP)");
  CHECK(transport_failure{}.message() == "failed");
  CHECK(std::string(retryhttp::to_string(failure_kind::not_sent)) == "not sent");
  CHECK(std::string(retryhttp::to_string(failure_kind::ambiguous)) == "ambiguous");
}

TEST_CASE("moving the response out of an outcome leaves no copy behind", "[transport]") {
  attempt_outcome<response> outcome{response{http::status::ok, 11, std::string(1000, 'x')}};
  response taken = std::move(outcome).response();
  CHECK(taken.body().size() == 1000);
}
