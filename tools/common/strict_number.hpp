#ifndef RETRYHTTP_TOOLS_STRICT_NUMBER_HPP
#define RETRYHTTP_TOOLS_STRICT_NUMBER_HPP

// The one number parser of the tools' command lines and fault rules (vmm-ctl, orchestrator-sim, retry-demo,
// retry-sim): non-negative decimal integers, strictly. The whole word is ASCII digits: no sign ("+5", "-1"),
// no space before or after (" 7", "7 "), no base prefix, not empty, and not beyond the type (no wrap-around:
// std::stoull takes " -1" as 18446744073709551615). Each tool words its own error around an empty result.
//
// Durations ("500ms", "2s", "1m", "1h") are such a number followed by its unit, with nothing between them.

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

namespace retryhttp_tools {

/// `text` as a decimal integer, or nothing when it is anything else than 1 or more ASCII digits whose value
/// fits in an unsigned long long.
inline std::optional<unsigned long long> parse_unsigned(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (const char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  unsigned long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;  // overflow
  return value;
}

/// The same, within [low, high].
inline std::optional<unsigned long long> parse_unsigned(std::string_view text, unsigned long long low,
                                                        unsigned long long high) {
  const auto value = parse_unsigned(text);
  if (!value || *value < low || *value > high) return std::nullopt;
  return value;
}

/// A duration written as digits and a unit: "500ms", "2s", "1m", "1h"; or nothing (no unit, another unit, a
/// sign, a space, a fraction, or more milliseconds than an int64 holds).
inline std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string_view unit = text.substr(digits);
  std::int64_t per_unit = 0;
  if (unit == "ms")
    per_unit = 1;
  else if (unit == "s")
    per_unit = 1000;
  else if (unit == "m")
    per_unit = 60 * 1000;
  else if (unit == "h")
    per_unit = 60 * 60 * 1000;
  else
    return std::nullopt;
  const auto count = parse_unsigned(text.substr(0, digits));
  constexpr auto most = static_cast<unsigned long long>(std::chrono::milliseconds::max().count());
  if (!count || *count > most / static_cast<unsigned long long>(per_unit)) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*count) * per_unit);
}

}  // namespace retryhttp_tools

#endif  // RETRYHTTP_TOOLS_STRICT_NUMBER_HPP
