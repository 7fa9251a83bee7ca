#include <retryhttp/detail/retry_after.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_retry_after {

using namespace std::chrono_literals;
using retryhttp::detail::parse_http_date;
using retryhttp::detail::parse_retry_after;

namespace {
// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example.
constexpr std::chrono::sys_seconds example{std::chrono::seconds{784111777}};
}  // namespace

TEST_CASE("the three HTTP-date formats of RFC 9110 give the same instant", "[retry_after]") {
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", example) == example);
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", example) == example);
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994", example) == example);
  CHECK(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT ", example) == example);
}

TEST_CASE("an RFC 850 two-digit year more than 50 years ahead of now is in the past century",
          "[retry_after]") {
  using namespace std::chrono;
  const sys_seconds in_2026{sys_days{2026y / November / 29}};
  const sys_seconds in_2090{sys_days{2090y / January / 1}};
  const auto year_of = [](std::optional<sys_seconds> t) {
    REQUIRE(t);
    return static_cast<int>(year_month_day{floor<days>(*t)}.year());
  };
  // Seen from 2026-11-29, fifty years ahead ends in 2076-11: 01-Nov-76 is 2076, 01-Dec-76 is 1976 (more than
  // 50 years ahead as an instant), 77 is 1977, 94 is 1994, 05 is 2005.
  CHECK(year_of(parse_http_date("Sunday, 01-Nov-76 00:00:00 GMT", in_2026)) == 2076);
  CHECK(year_of(parse_http_date("Tuesday, 01-Dec-76 00:00:00 GMT", in_2026)) == 1976);
  CHECK(year_of(parse_http_date("Monday, 01-Nov-77 00:00:00 GMT", in_2026)) == 1977);
  CHECK(year_of(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", in_2026)) == 1994);
  CHECK(year_of(parse_http_date("Tuesday, 01-Nov-05 00:00:00 GMT", in_2026)) == 2005);
  // Seen from 2090-01-01 the window is 2040-01 to 2140-01: a fixed cut-off at 70 would read 05 as 2005.
  CHECK(year_of(parse_http_date("Tuesday, 01-Nov-05 00:00:00 GMT", in_2090)) == 2105);
  CHECK(year_of(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", in_2090)) == 2094);
  CHECK(year_of(parse_http_date("Sunday, 06-Nov-40 08:49:37 GMT", in_2090)) == 2040);
  CHECK(year_of(parse_http_date("Sunday, 06-Nov-39 08:49:37 GMT", in_2090)) == 2139);
}

TEST_CASE("a Retry-After date centuries ahead, or a Date centuries back, saturates instead of overflowing",
          "[retry_after]") {
  using namespace std::chrono;
  const sys_seconds in_2026{sys_days{2026y / November / 29}};
  // A server's "never": 7,973 years ahead is 2.5e20 ns, past what nanoseconds hold (9.2e18).
  const auto never = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", in_2026);
  REQUIRE(never);
  CHECK(*never == nanoseconds(retryhttp::detail::max_retry_after));
  // The reference is the response's Date: one in the year 1 makes a date of today just as far.
  const sys_seconds year_one{sys_days{1y / January / 1}};
  const auto from_year_one = parse_retry_after("Sun, 29 Nov 2026 00:00:00 GMT", year_one);
  REQUIRE(from_year_one);
  CHECK(*from_year_one == nanoseconds(retryhttp::detail::max_retry_after));
  // Whatever the reference, the wait is never negative.
  for (const auto reference : {sys_seconds::min(), sys_seconds{}, in_2026, sys_seconds::max()}) {
    const auto wait = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", reference);
    REQUIRE(wait);
    CHECK(*wait >= nanoseconds(0));
    CHECK(*wait <= nanoseconds(retryhttp::detail::max_retry_after));
  }
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
      "Sunday, 06-Nov-1994 08:49:37 GMT", std::string(1000, 'x'), "Thu, 29 Feb 2023 00:00:00 GMT", "-1",
      "Fri, 31 Dec 9999 23:59:59", "\r\n5",
      // Year 0000: outside the years 1-9999 that `now` is held to, so it could not be compared with it.
      "Sun, 06 Nov 0000 08:49:37 GMT", "Sun Nov  6 08:49:37 0000");
  CAPTURE(value);
  CHECK_FALSE(parse_retry_after(value, example).has_value());
}

}  // namespace test_retry_after
