#ifndef RETRYHTTP_DETAIL_RETRY_AFTER_HPP
#define RETRYHTTP_DETAIL_RETRY_AFTER_HPP

// Retry-After (RFC 9110 section 10.2.3): delta-seconds, or an HTTP-date in any of the three formats a
// recipient must accept (section 5.6.7): IMF-fixdate, obsolete RFC 850, and asctime. Anything else is "no
// hint", never an error: a malformed header falls back to the backoff delay.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace retryhttp::detail {

using sys_seconds = std::chrono::sys_seconds;

constexpr std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

/// Reads exactly `count` digits at `at`; advances `at`.
constexpr std::optional<int> digits(std::string_view text, std::size_t& at, std::size_t count) noexcept {
  if (at + count > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[at + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  at += count;
  return value;
}

constexpr bool literal(std::string_view text, std::size_t& at, std::string_view expected) noexcept {
  if (text.substr(at, expected.size()) != expected) return false;
  at += expected.size();
  return true;
}

constexpr std::optional<unsigned> month_number(std::string_view name) noexcept {
  constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (unsigned i = 0; i < 12; ++i)
    if (months[i] == name) return i + 1;
  return std::nullopt;
}

// Dates are counted in plain integers (days and seconds since 1970-01-01) rather than with <chrono>'s
// calendar types: the same results, and a small part of their cost to compile in every translation unit that
// sends.

/// Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar (the civil-from-days formulas
/// published by Howard Hinnant, in 400-year eras).
constexpr std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) noexcept {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const std::int64_t year_of_era = year - era * 400;
  const std::int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

/// The year of the day `days` after 1970-01-01.
constexpr std::int64_t year_of_day(std::int64_t days) noexcept {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t day_of_era = days - era * 146097;
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t shifted_month = (5 * day_of_year + 2) / 153;  // March is 0
  return year_of_era + era * 400 + (shifted_month >= 10 ? 1 : 0);
}

constexpr unsigned days_in_month(std::int64_t year, unsigned month) noexcept {
  if (month == 2) return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
  return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
}

inline constexpr std::int64_t seconds_per_day = 86'400;

constexpr std::optional<sys_seconds> make_time(int year, unsigned month, int day, int hour, int minute,
                                               int second) noexcept {
  // Years 1 to 9999 only: the range within_date_range holds `now` to, so a date and `now` always compare
  // in one range (a year 0000 compared with a clamped `now` asked for no wait although it was later).
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1
      || static_cast<unsigned>(day) > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  const std::int64_t days = days_from_civil(year, month, static_cast<unsigned>(day));
  return sys_seconds(std::chrono::seconds(days * seconds_per_day + hour * 3600 + minute * 60 + second));
}

/// "HH:MM:SS" at `at`.
// The HTTP-date functions are cold (compiled for size): only a Retry-After given as a date reaches them, once
// per retry, and every program that sends through a client compiles them.
[[gnu::cold]] inline bool clock_time(std::string_view text, std::size_t& at, int& hour, int& minute,
                                     int& second) {
  const auto h = digits(text, at, 2);
  if (!h || !literal(text, at, ":")) return false;
  const auto m = digits(text, at, 2);
  if (!m || !literal(text, at, ":")) return false;
  const auto s = digits(text, at, 2);
  if (!s) return false;
  hour = *h;
  minute = *m;
  second = *s;
  return true;
}

/// `now` held to the years an HTTP-date can name (1 to 9999), so that no arithmetic on it can overflow
/// whatever clock it came from.
constexpr sys_seconds within_date_range(sys_seconds now) noexcept {
  constexpr sys_seconds first{std::chrono::seconds(days_from_civil(1, 1, 1) * seconds_per_day)};
  // 9999-12-31 23:59:60, the latest instant a date can name (a leap second is accepted): no date is after
  // a `now` held here, so a `now` past the year 9999 asks for no wait, as the unclamped one would.
  constexpr sys_seconds last{std::chrono::seconds((days_from_civil(9999, 12, 31) + 1) * seconds_per_day)};
  return now < first ? first : now > last ? last : now;
}

/// The instant a two-digit RFC 850 date stands for, seen from `now`. RFC 9110 section 5.6.7 asks a recipient
/// to read a date that appears more than 50 years in the future as the most recent past year with those
/// digits. Here: the date in `now`'s century, moved back a century when it is more than 50 years ahead, or on
/// a century when it is more than 50 years behind (so "05" read in 2090 is 2105, not 2005). A window around
/// now, unlike a fixed cut-off such as "below 70 is 20xx", keeps working as the years pass.
[[gnu::cold]] inline std::optional<sys_seconds> rfc850_date(int two_digits, unsigned month, int day, int hour,
                                                            int minute, int second, sys_seconds now) {
  now = within_date_range(now);
  const std::int64_t since_epoch = now.time_since_epoch().count();
  const auto current = static_cast<int>(
      year_of_day((since_epoch >= 0 ? since_epoch : since_epoch - (seconds_per_day - 1)) / seconds_per_day));
  const int year = current - current % 100 + two_digits;
  // 50 of <chrono>'s average Gregorian years (365.2425 days).
  constexpr std::chrono::seconds fifty_years{50 * 31'556'952};
  const auto date = make_time(year, month, day, hour, minute, second);
  if (date && *date > now + fifty_years) return make_time(year - 100, month, day, hour, minute, second);
  if (date && *date < now - fifty_years) return make_time(year + 100, month, day, hour, minute, second);
  // A date that is not valid in this century (29 February) may be in the neighbouring one: the nearer.
  if (!date) {
    const auto before = make_time(year - 100, month, day, hour, minute, second);
    const auto after = make_time(year + 100, month, day, hour, minute, second);
    if (before && *before >= now - fifty_years) return before;
    if (after && *after <= now + fifty_years) return after;
  }
  return date;
}

/// An HTTP-date in any of its three formats, or nothing. `now` places a two-digit RFC 850 year in its
/// century.
[[gnu::cold]] inline std::optional<sys_seconds> parse_http_date(std::string_view text, sys_seconds now) {
  text = trim(text);
  int hour = 0, minute = 0, second = 0;
  const auto comma = text.find(',');
  if (comma == 3) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    std::size_t at = 4;
    if (!literal(text, at, " ")) return std::nullopt;
    const auto day = digits(text, at, 2);
    if (!day || !literal(text, at, " ")) return std::nullopt;
    const auto month = month_number(text.substr(at, 3));
    at += 3;
    if (!month || !literal(text, at, " ")) return std::nullopt;
    const auto year = digits(text, at, 4);
    if (!year || !literal(text, at, " ") || !clock_time(text, at, hour, minute, second)) return std::nullopt;
    if (!literal(text, at, " GMT") || at != text.size()) return std::nullopt;
    return make_time(*year, *month, *day, hour, minute, second);
  }
  if (comma != std::string_view::npos) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    std::size_t at = comma + 1;
    if (!literal(text, at, " ")) return std::nullopt;
    const auto day = digits(text, at, 2);
    if (!day || !literal(text, at, "-")) return std::nullopt;
    const auto month = month_number(text.substr(at, 3));
    at += 3;
    if (!month || !literal(text, at, "-")) return std::nullopt;
    const auto year = digits(text, at, 2);
    if (!year || !literal(text, at, " ") || !clock_time(text, at, hour, minute, second)) return std::nullopt;
    if (!literal(text, at, " GMT") || at != text.size()) return std::nullopt;
    return rfc850_date(*year, *month, *day, hour, minute, second, now);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (text.size() != 24 || text[3] != ' ' || text[7] != ' ') return std::nullopt;
  const auto month = month_number(text.substr(4, 3));
  std::size_t at = 8;
  int day = 0;
  if (text[at] == ' ') {
    ++at;
    const auto d = digits(text, at, 1);
    if (!d) return std::nullopt;
    day = *d;
  } else {
    const auto d = digits(text, at, 2);
    if (!d) return std::nullopt;
    day = *d;
  }
  if (!month || !literal(text, at, " ") || !clock_time(text, at, hour, minute, second)
      || !literal(text, at, " "))
    return std::nullopt;
  const auto year = digits(text, at, 4);
  if (!year || at != text.size()) return std::nullopt;
  return make_time(*year, *month, day, hour, minute, second);
}

/// The longest wait a Retry-After value can ask for: about 31 years. Any cap is far below, and it keeps the
/// wait, and a clock's now() plus it, far inside the range of nanoseconds (292 years).
inline constexpr std::chrono::seconds max_retry_after{1'000'000'000};

/// The wait a Retry-After value asks for. `now` is the reference for an HTTP-date (the response's Date when
/// it has one, else the wall clock); a date in the past asks for no wait. Both forms saturate at
/// max_retry_after, so a server's "never" (a date in the year 9999) is a very long wait, never an overflow.
/// Returns nothing for a malformed value.
inline std::optional<std::chrono::nanoseconds> parse_retry_after(std::string_view value, sys_seconds now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > max_retry_after.count()) {
        seconds = max_retry_after.count();
        break;
      }
    }
    return std::chrono::seconds(seconds);
  }
  now = within_date_range(now);
  const auto date = parse_http_date(value, now);
  if (!date) return std::nullopt;
  if (*date <= now) return std::chrono::nanoseconds(0);
  // Both are seconds from years 0 to 9999 (a year_month_day of four digits): their difference fits easily
  // in seconds, and is clamped before the conversion to nanoseconds.
  const std::chrono::seconds ahead = *date - now < max_retry_after ? *date - now : max_retry_after;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(ahead);
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_RETRY_AFTER_HPP
