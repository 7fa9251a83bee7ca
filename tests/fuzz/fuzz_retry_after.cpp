// Fuzzes Retry-After: detail::parse_retry_after(value, now) and detail::parse_http_date.
//
// Input: the header value, then optionally a newline and the reference time `now`, given either as an
// HTTP-date (as a response's Date field gives it) or as signed seconds since 1970, any 64-bit count. So a
// run explores dates centuries ahead of or behind `now`, in both directions. Properties, each an abort when
// broken:
//   - no undefined behaviour (UBSan aborts on signed overflow in the duration arithmetic);
//   - a wait is never negative;
//   - an HTTP-date after `now` asks for a wait, one at or before `now` asks for none.

#include <retryhttp/detail/retry_after.hpp>

#include "fuzz_check.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace {
using retryhttp::detail::sys_seconds;
using retryhttp_fuzz::require;

// Any second a sys_seconds can hold, the extremes included: a decimal number, wrapped into 64 bits.
sys_seconds seconds_since_epoch(std::string_view text) {
  const bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  std::uint64_t magnitude = 0;
  for (char c : text) {
    if (c < '0' || c > '9') break;
    magnitude = magnitude * 10 + static_cast<std::uint64_t>(c - '0');  // unsigned: wraps, never overflows
  }
  // Conversion to a signed type is modular since C++20.
  const auto seconds = static_cast<std::int64_t>(negative ? 0 - magnitude : magnitude);
  return sys_seconds(std::chrono::seconds(seconds));
}

constexpr sys_seconds reference_default{std::chrono::seconds(784'111'777)};  // Sun, 06 Nov 1994 08:49:37 GMT

sys_seconds reference_time(std::string_view text) {
  if (text.empty()) return reference_default;
  if (const auto date = retryhttp::detail::parse_http_date(text, reference_default)) return *date;
  return seconds_since_epoch(text);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view value = input.substr(0, newline);
  const std::string_view now_text = newline == input.npos ? std::string_view() : input.substr(newline + 1);
  const sys_seconds now = reference_time(now_text);

  const auto wait = retryhttp::detail::parse_retry_after(value, now);
  require(!wait || wait->count() >= 0, "a wait is never negative");

  if (const auto date = retryhttp::detail::parse_http_date(value, now)) {
    require(wait.has_value(), "an HTTP-date is a hint");
    // Dates name the years 1 to 9999, and parse_retry_after holds `now` to that range before comparing: a
    // `now` outside it compares as the range's nearest end.
    const sys_seconds held = retryhttp::detail::within_date_range(now);
    if (*date > held) require(wait->count() > 0, "a date after now asks for a wait");
    if (*date <= held) require(wait->count() == 0, "a date at or before now asks for none");
    require(*wait <= std::chrono::nanoseconds(retryhttp::detail::max_retry_after), "a wait saturates");
  }
  return 0;
}
