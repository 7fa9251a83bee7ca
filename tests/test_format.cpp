#include <retryhttp/format.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_format {

using namespace std::chrono_literals;
namespace http = boost::beast::http;
using namespace retryhttp;

TEST_CASE("fmt formatters write the outcome types as people read them", "[format]") {
  CHECK(fmt::format("{}", observed_outcome::response(503)) == "503 Service Unavailable");
  CHECK(fmt::format("{}", observed_outcome::not_sent()) == "not sent");
  CHECK(fmt::format("{}", observed_outcome::ambiguous()) == "ambiguous");
  CHECK(fmt::format("{}", failure_kind::not_sent) == "not sent");
  const transport_failure refused{
      failure_kind::not_sent, make_error_code(boost::system::errc::connection_refused), {}};
  CHECK(fmt::format("{}", refused) == refused.message() + " (not sent)");
  CHECK(fmt::format("{}", delay_source::retry_after) == "Retry-After");
  CHECK(fmt::format("{}", action::retry) == "retry");
  CHECK(fmt::format("{}", error::budget_exhausted) == "retry budget exhausted");
  CHECK(fmt::format("{:>12}", delay_source::backoff) == "     backoff");  // format specs pass through

  const http::request<http::empty_body> request{http::verb::get, "/v1/vms", 11};
  CHECK(fmt::format("{}", attempt_event{request, 2, 4, observed_outcome::response(503), nullptr, 0ns})
        == "attempt 2 of 4: GET /v1/vms -> 503 Service Unavailable");
  CHECK(fmt::format("{}", attempt_event{request, 1, 4, observed_outcome::not_sent(), &refused, 0ns})
        == "attempt 1 of 4: GET /v1/vms -> " + refused.message() + " (not sent)");
  CHECK(fmt::format("{}", retry_event{request, 3, 4, 1480ms, delay_source::backoff})
        == "wait 1.48 s (backoff) before attempt 3 of 4");
  CHECK(fmt::format("{}", retry_event{request, 2, 4, 585ms, delay_source::retry_after})
        == "wait 585 ms (Retry-After) before attempt 2 of 4");

  using response = http::response<http::string_body>;
  const auto failed = send_result<response>::failed(
      error::retries_exhausted, 4, attempt_outcome<response>{response{http::status::bad_gateway, 11}},
      "GET /v1/vms");
  CHECK(fmt::format("{}", failed) == "request failed after 3 retries: 502 Bad Gateway");
}

}  // namespace test_format
