// Fuzzes route matching, which decides whether a request is safe to re-send: detail::route_pattern (its
// constructor and matches) and detail::target_path.
//
// Input: a pattern, a newline, a request target (without a newline, the whole input is both). The constructor
// may reject the pattern with std::invalid_argument. Properties:
//   - target_path returns a part of its input (or "/" for an absolute-form target without a path); a path it
//     returns ends before the target's first '?' or '#', so "http://h?/v1/vms/x/start" is not the start
//     route;
//   - a pattern with no escapes, query or fragment matches itself as a target.

#include <retryhttp/detail/route_pattern.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace {
using retryhttp_fuzz::require;

// std::less_equal: a total order even over pointers into different objects (a static "/" and the input).
bool is_part_of(std::string_view part, std::string_view whole) {
  const std::less_equal<const char*> at_or_before;
  return at_or_before(whole.data(), part.data())
         && at_or_before(part.data() + part.size(), whole.data() + whole.size());
}

void check_target_path(std::string_view target) {
  const std::string_view path = retryhttp::detail::target_path(target);
  require(is_part_of(path, target) || path == "/",
          "target_path returns a part of its input, or \"/\" for an absolute-form target without a path");
  // A result that does not start with '/' (a target of neither form, returned as is) matches no route.
  if (path.empty() || path.front() != '/' || !is_part_of(path, target)) return;
  const auto query = target.find_first_of("?#");
  if (query != target.npos)
    require(std::less_equal<const char*>()(path.data() + path.size(), target.data() + query),
            "a path ends before the target's first '?' or '#': a query or fragment is never the path");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view pattern_text = input.substr(0, newline);
  const std::string_view target = newline == input.npos ? input : input.substr(newline + 1);

  check_target_path(target);
  check_target_path(pattern_text);

  std::optional<retryhttp::detail::route_pattern> pattern;
  try {
    pattern.emplace(pattern_text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  (void)pattern->matches(target);  // noexcept: an exception inside terminates, a crash
  if (pattern_text.find_first_of("%?#") == pattern_text.npos)
    require(pattern->matches(pattern_text), "a pattern without escapes, query or fragment matches itself");
  return 0;
}
