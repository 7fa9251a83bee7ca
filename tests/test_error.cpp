#include <retryhttp/error.hpp>

#include <catch2/catch.hpp>

#include <system_error>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_error {

using retryhttp::error;

TEST_CASE("retryhttp::error converts to boost and std error codes of one category", "[error]") {
  const auto value =
      GENERATE(error::retries_exhausted, error::not_retryable, error::may_have_been_applied, error::canceled);
  CAPTURE(static_cast<int>(value));
  const boost::system::error_code boost_code = value;
  const std::error_code std_code = value;
  CHECK(boost_code == value);
  CHECK(std_code == value);
  CHECK(boost_code.category() == retryhttp::error_category());
  CHECK(std::string(boost_code.category().name()) == "retryhttp");
  CHECK(std::string(std_code.category().name()) == "retryhttp");
  CHECK(boost_code.message() == std_code.message());
  CHECK_FALSE(boost_code.message().empty());
  CHECK(boost_code.message() != "unknown retryhttp error");
  CHECK(static_cast<bool>(boost_code));
}

TEST_CASE("each retryhttp error has its own message", "[error]") {
  CHECK(make_error_code(error::retries_exhausted).message() == "retries exhausted");
  CHECK(make_error_code(error::canceled).message() == "canceled");
  CHECK(make_error_code(error::may_have_been_applied).message()
        == "the request is not idempotent and may have been applied; it was not retried");
  CHECK(make_error_code(error::not_retryable).message()
        == "not retryable: the request is not idempotent and was never sent");
  CHECK(retryhttp::error_category().message(999) == "unknown retryhttp error");
}

TEST_CASE("a retryhttp error never equals a system error with the same number", "[error]") {
  const boost::system::error_code ours = error::retries_exhausted;
  const boost::system::error_code theirs(1, boost::system::generic_category());
  CHECK(ours != theirs);
}

}  // namespace test_error
