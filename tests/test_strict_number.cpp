// The tools' one number parser (tools/common/strict_number.hpp): what vmm-ctl, orchestrator-sim, retry-demo
// and retry-sim accept for a count, a port, a seed or a duration on their command lines.
#include "strict_number.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_strict_number {

using namespace std::chrono_literals;
using retryhttp_tools::parse_duration;
using retryhttp_tools::parse_unsigned;

TEST_CASE("a strict number is the whole word in decimal digits", "[strict_number]") {
  CHECK(parse_unsigned("0") == 0ULL);
  CHECK(parse_unsigned("7") == 7ULL);
  CHECK(parse_unsigned("007") == 7ULL);
  CHECK(parse_unsigned("18446744073709551615") == 18446744073709551615ULL);
  CHECK(parse_unsigned(std::string("42")) == 42ULL);
}

TEST_CASE("a strict number refuses signs, spaces, empty words, overflow and anything not a digit",
          "[strict_number]") {
  const std::string text =
      GENERATE(as<std::string>{}, "", " ", "-1", " -1", "+5", "-0", " 7", "7 ", "\t7", "7\n", "1 2", "0x10",
               "1e3", "1.5", "abc", "12abc", "18446744073709551616", "99999999999999999999999", "٣");
  CAPTURE(text);
  CHECK_FALSE(parse_unsigned(text).has_value());
}

TEST_CASE("a strict number within bounds", "[strict_number]") {
  CHECK(parse_unsigned("1", 1, 256) == 1ULL);
  CHECK(parse_unsigned("256", 1, 256) == 256ULL);
  CHECK_FALSE(parse_unsigned("0", 1, 256).has_value());
  CHECK_FALSE(parse_unsigned("257", 1, 256).has_value());
  CHECK_FALSE(parse_unsigned("+2", 1, 256).has_value());
  CHECK(parse_unsigned("65535", 0, 65535) == 65535ULL);
  CHECK_FALSE(parse_unsigned("65536", 0, 65535).has_value());
}

TEST_CASE("a duration is digits and a unit: ms, s, m or h", "[strict_number]") {
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("2s") == 2s);
  CHECK(parse_duration("1m") == 1min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("0s") == 0ms);
  CHECK(parse_duration("9223372036854775807ms") == std::chrono::milliseconds::max());
}

TEST_CASE("a duration refuses a missing or unknown unit, signs, spaces, fractions and overflow",
          "[strict_number]") {
  const std::string text =
      GENERATE(as<std::string>{}, "", "5", "ms", "s", "-1s", "+1s", " 2s", "2s ", "2 s", "1.5s", "2S", "2sec",
               "2d", "2us", "1h30m", "9223372036854775808ms", "9223372036854776s", "99999999999999999999h");
  CAPTURE(text);
  CHECK_FALSE(parse_duration(text).has_value());
}

}  // namespace test_strict_number
