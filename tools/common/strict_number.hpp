#ifndef RETRYHTTP_TOOLS_STRICT_NUMBER_HPP
#define RETRYHTTP_TOOLS_STRICT_NUMBER_HPP

// The simulators' command lines and fault rules take non-negative decimal integers, strictly: the whole word,
// no sign, no overflow. Each tool words its own error around an empty result.

#include <exception>
#include <optional>
#include <string>

namespace retryhttp_tools {

inline std::optional<unsigned long long> parse_unsigned(const std::string& text) {
  if (text.empty() || text[0] == '-') return std::nullopt;
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != text.size()) return std::nullopt;
  return value;
}

}  // namespace retryhttp_tools

#endif  // RETRYHTTP_TOOLS_STRICT_NUMBER_HPP
