#ifndef RETRYHTTP_DETAIL_ROUTE_PATTERN_HPP
#define RETRYHTTP_DETAIL_ROUTE_PATTERN_HPP

// Path patterns such as "/v1/vms/{name}/start": literal segments and whole-segment placeholders. Matching is
// conservative, because a match can make a request "safe to re-send": a placeholder matches exactly one
// non-empty segment that does not decode to ".", ".." or anything holding '/', and literal segments are
// compared after percent-decoding, so "/v1/v%6Ds" is "/v1/vms". Matching never allocates.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace retryhttp::detail {

/// Whether `text` is a URI scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 section 3.1).
constexpr bool is_scheme(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!alpha && (i == 0 || !other)) return false;
  }
  return true;
}

/// The path of a request target: origin-form as is, absolute-form without scheme and authority, and in both
/// cases without query and fragment. The authority of an absolute-form target ends at the first '/', '?' or
/// '#' (RFC 3986 section 3.2), so "http://h?/v1/vms/x/start" has an empty path, not "/v1/vms/x/start". A
/// target that is neither form is returned as is; it starts with no '/' and so matches no route.
constexpr std::string_view target_path(std::string_view target) noexcept {
  if (!target.empty() && target.front() != '/') {
    // Absolute-form ("http://host/path"). Rare, so the search is off the fast path.
    const auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || !is_scheme(target.substr(0, scheme_end))) return target;
    std::size_t authority_end = scheme_end + 3;
    while (authority_end < target.size() && target[authority_end] != '/' && target[authority_end] != '?'
           && target[authority_end] != '#')
      ++authority_end;
    if (authority_end == target.size() || target[authority_end] != '/') return "/";  // an empty path
    target = target.substr(authority_end);
  }
  // A plain loop: string_view::find_first_of calls memchr once per character of the target.
  for (std::size_t i = 0; i < target.size(); ++i)
    if (target[i] == '?' || target[i] == '#') return target.substr(0, i);
  return target;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Calls `sink(char)` for each decoded character of a percent-encoded segment; a malformed escape is kept as
/// is.
template <class Sink>
constexpr void decode_segment(std::string_view segment, Sink&& sink) {
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '%' && i + 2 < segment.size()) {
      const int high = hex_value(segment[i + 1]);
      const int low = hex_value(segment[i + 2]);
      if (high >= 0 && low >= 0) {
        sink(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    sink(segment[i]);
  }
}

constexpr bool has_escape(std::string_view segment) noexcept {
  for (char c : segment)
    if (c == '%') return true;
  return false;
}

constexpr bool decoded_equals(std::string_view encoded, std::string_view literal) noexcept {
  if (!has_escape(encoded)) return encoded == literal;  // the common case, without decoding
  std::size_t position = 0;
  bool equal = true;
  decode_segment(encoded, [&](char c) {
    equal = equal && position < literal.size() && literal[position] == c;
    ++position;
  });
  return equal && position == literal.size();
}

/// A segment a placeholder may stand for: non-empty, not a dot segment, no '/' once decoded.
constexpr bool is_plain_name(std::string_view encoded) noexcept {
  if (!has_escape(encoded)) return !encoded.empty() && encoded != "." && encoded != "..";
  if (encoded.empty() || decoded_equals(encoded, ".") || decoded_equals(encoded, "..")) return false;
  bool has_slash = false;
  decode_segment(encoded, [&](char c) { has_slash = has_slash || c == '/'; });
  return !has_slash;
}

class route_pattern {
 public:
  /// Throws std::invalid_argument unless the pattern starts with '/' and each '{...}' is a whole segment.
  explicit route_pattern(std::string_view pattern) : text_(pattern) {
    if (pattern.empty() || pattern.front() != '/')
      throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
    std::string_view rest = pattern.substr(1);
    for (;;) {
      const auto slash = rest.find('/');
      const std::string_view segment = rest.substr(0, slash);
      const bool placeholder = segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
      if (!placeholder && segment.find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument("a placeholder must be a whole segment, like /{name}/: "
                                    + std::string(pattern));
      segments_.push_back({placeholder, std::string(placeholder ? std::string_view() : segment)});
      if (slash == std::string_view::npos) break;
      rest = rest.substr(slash + 1);
    }
  }

  /// Whether the target's path (query and fragment ignored) has exactly this pattern's segments.
  bool matches(std::string_view target) const noexcept {
    const std::string_view path = target_path(target);
    if (path.empty() || path.front() != '/') return false;
    std::size_t begin = 1;  // start of the current segment in path
    for (std::size_t i = 0; i < segments_.size(); ++i) {
      // A hand-written scan: targets are short, and memchr's call costs more than it saves here.
      std::size_t end = begin;
      while (end < path.size() && path[end] != '/') ++end;
      const bool last_in_target = end == path.size();
      const bool last_in_pattern = i + 1 == segments_.size();
      if (last_in_target != last_in_pattern) return false;
      const std::string_view segment = path.substr(begin, end - begin);
      const auto& expected = segments_[i];
      if (expected.placeholder ? !is_plain_name(segment) : !decoded_equals(segment, expected.literal))
        return false;
      begin = end + 1;
    }
    return true;
  }

  const std::string& text() const noexcept { return text_; }

 private:
  struct segment_rule {
    bool placeholder;
    std::string literal;
  };
  std::string text_;
  std::vector<segment_rule> segments_;
};

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_ROUTE_PATTERN_HPP
