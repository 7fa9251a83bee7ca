#include <retryhttp/detail/retry_after.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using retryhttp::detail::parse_http_date;
using retryhttp::detail::parse_retry_after;

namespace {
// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example.
constexpr std::chrono::sys_seconds example{std::chrono::seconds{784111777}};
}  // namespace

TEST_CASE("the three HTTP-date formats of RFC 9110 give the same instant", "[retry_after]") {
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == example);
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == example);
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == example);
  CHECK(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT ") == example);
}

TEST_CASE("Retry-After: delta-seconds and dates relative to a reference", "[retry_after]") {
  CHECK(parse_retry_after("120", example) == std::chrono::nanoseconds(120s));
  CHECK(parse_retry_after("0", example) == std::chrono::nanoseconds(0));
  CHECK(parse_retry_after(" 7 ", example) == std::chrono::nanoseconds(7s));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", example) == std::chrono::nanoseconds(30s));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", example) == std::chrono::nanoseconds(0));  // past
  // Huge delta-seconds saturate instead of overflowing.
  CHECK(parse_retry_after("99999999999999999999999999", example) == std::chrono::nanoseconds(1'000'000'000s));
}

TEST_CASE("a malformed Retry-After is no hint, never a crash", "[retry_after]") {
  const std::string value = GENERATE(
      as<std::string>{}, "", " ", "-5", "1.5", "5s", "soon", "Sun, 06 Nov 1994",
      "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 GMT extra", "Sun Nov 6 08:49:37 1994",
      "Sunday, 06-Nov-1994 08:49:37 GMT", std::string(1000, 'x'), "Thu, 29 Feb 2023 00:00:00 GMT");
  CAPTURE(value);
  CHECK_FALSE(parse_retry_after(value, example).has_value());
}
