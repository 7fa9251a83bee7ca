#include <retryhttp/send_result.hpp>

#include <boost/beast/http/string_body.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_send_result {

namespace http = boost::beast::http;
using retryhttp::attempt_outcome;
using retryhttp::error;
using retryhttp::failure_kind;
using retryhttp::transport_failure;
using response = http::response<http::string_body>;
using result = retryhttp::send_result<response>;

namespace {
attempt_outcome<response> status(http::status s) {
  return response{s, 11};
}
attempt_outcome<response> failure(failure_kind kind, boost::system::errc::errc_t code) {
  return transport_failure{kind, make_error_code(code), {}};
}
std::string text(boost::system::errc::errc_t code) {
  return make_error_code(code).message();
}
}  // namespace

TEST_CASE("a delivered result is ok, holds its response and counts attempts", "[send_result]") {
  auto delivered = result::delivered(response{http::status::not_found, 11}, 1);
  CHECK(delivered.ok());
  CHECK(static_cast<bool>(delivered));
  CHECK_FALSE(delivered.error());
  CHECK(delivered.attempts() == 1);
  CHECK(delivered.retries() == 0);
  REQUIRE(delivered.has_response());
  CHECK(delivered.response().result_int() == 404);
  CHECK(delivered.failure() == nullptr);
  CHECK(delivered.message() == "404 Not Found after 1 attempt");
}

TEST_CASE("failure messages read like the ticket and say what happened", "[send_result]") {
  using row = std::tuple<error, unsigned, bool, std::string>;
  // Each row: reason, attempts, last outcome was a 503 (else a connection reset), expected message.
  const auto reset = text(boost::system::errc::connection_reset);
  const auto [reason, attempts, was_503, message] = GENERATE_REF(table<error, unsigned, bool, std::string>({
      row{error::retries_exhausted, 4, true, "request failed after 3 retries: 503 Service Unavailable"},
      row{error::retries_exhausted, 2, false, "request failed after 1 retry: " + reset},
      row{error::retries_exhausted, 1, true, "request failed after 0 retries: 503 Service Unavailable"},
      row{error::may_have_been_applied, 1, false,
          "POST /v1/vms may have been applied and was not retried: it is not idempotent, and the attempt "
          "failed "
          "after the request was sent ("
              + reset + ")"},
      row{error::may_have_been_applied, 1, true,
          "POST /v1/vms may have been applied and was not retried: it is not idempotent, and the server "
          "answered "
          "503 Service Unavailable"},
      row{error::canceled, 2, true,
          "request canceled after 2 attempts; the last one ended with 503 Service Unavailable"},
  }));
  CAPTURE(static_cast<int>(reason), attempts);
  auto last = was_503 ? status(http::status::service_unavailable)
                      : failure(failure_kind::ambiguous, boost::system::errc::connection_reset);
  const auto failed = result::failed(reason, attempts, std::move(last), "POST /v1/vms");
  CHECK_FALSE(failed.ok());
  CHECK(failed.error() == reason);
  CHECK(failed.attempts() == attempts);
  CHECK(failed.has_response() == was_503);
  CHECK((failed.failure() != nullptr) == !was_503);
  CHECK(failed.message() == message);
}

TEST_CASE("not_retryable says nothing was applied and how to allow the retry", "[send_result]") {
  const auto failed = result::failed(error::not_retryable, 1,
                                     failure(failure_kind::not_sent, boost::system::errc::connection_refused),
                                     "POST /v1/vms");
  CHECK(failed.message() == "POST /v1/vms was not retried: it is not idempotent and its attempt failed before "
                            "anything was sent (" +
                                text(boost::system::errc::connection_refused) +
                                "); nothing was applied (retry_unsafe_when_not_sent allows such retries)");
  REQUIRE(failed.failure() != nullptr);
  CHECK(failed.failure()->kind == failure_kind::not_sent);
}

TEST_CASE("a call canceled before its first attempt has no outcome; asking for a response throws",
          "[send_result]") {
  const auto canceled = result::canceled_before_first_attempt("GET /v1/vms");
  CHECK(canceled.error() == error::canceled);
  CHECK(canceled.attempts() == 0);
  CHECK(canceled.retries() == 0);
  CHECK_FALSE(canceled.has_response());
  CHECK(canceled.failure() == nullptr);
  CHECK(canceled.message() == "request canceled after 0 attempts");
  CHECK_THROWS_WITH(canceled.response(), "send_result has no response: request canceled after 0 attempts");
}

TEST_CASE("an unknown status is shown by its number", "[send_result]") {
  auto failed = result::failed(error::retries_exhausted, 2, attempt_outcome<response>{response{}}, "GET /");
  failed.response().result(452);
  CHECK(failed.message() == "request failed after 1 retry: 452");
}

}  // namespace test_send_result
