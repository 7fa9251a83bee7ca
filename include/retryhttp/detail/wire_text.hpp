#ifndef RETRYHTTP_DETAIL_WIRE_TEXT_HPP
#define RETRYHTTP_DETAIL_WIRE_TEXT_HPP

// Whether text may be written into a request head as it is. A CR or LF in a field value would end the field
// early and let the rest be read as another field, or as a second request; a space or control byte in the
// target would end the request line early. The checks run on every request, so they look at eight bytes at a
// time: a byte-by-byte loop cost about 500 instructions for a typical request head, about 4% of a kept-alive
// exchange; these cost about a fifth of that.

#include <cstdint>
#include <cstring>
#include <string_view>

namespace retryhttp::detail {

inline constexpr std::uint64_t every_byte(unsigned char value) noexcept {
  return 0x0101010101010101ULL * value;
}

/// Whether some byte of `word` is below `limit` (at most 0x80), or equal to 0x7f (DEL). Exact: no byte is
/// reported that is not there (the classic "has less" and "has zero" bit tricks).
inline constexpr bool has_byte_below_or_del(std::uint64_t word, unsigned char limit) noexcept {
  constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
  const std::uint64_t below = (word - every_byte(limit)) & ~word & high_bits;
  const std::uint64_t del = word ^ every_byte(0x7f);
  const std::uint64_t is_del = (del - every_byte(1)) & ~del & high_bits;
  return (below | is_del) != 0;
}

/// True when no byte of `text` is below `limit` or DEL, except tabs when `tab_allowed`. Every byte is in some
/// word that is tested; a flagged word is looked at byte by byte, since it may hold an allowed tab.
inline bool no_byte_below_or_del(std::string_view text, unsigned char limit, bool tab_allowed) noexcept {
  const char* const p = text.data();
  const std::size_t size = text.size();
  const auto exact = [&](const char* begin, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      const auto byte = static_cast<unsigned char>(begin[i]);
      if ((byte < limit && !(tab_allowed && byte == '\t')) || byte == 0x7f) return false;
    }
    return true;
  };
  const auto load = [](const char* at, auto word) {
    std::memcpy(&word, at, sizeof word);
    return static_cast<std::uint64_t>(word);
  };
  if (size >= 8) {
    for (std::size_t at = 0; at + 8 <= size; at += 8)
      if (has_byte_below_or_del(load(p + at, std::uint64_t{}), limit) && !exact(p + at, 8)) return false;
    // The last eight bytes, overlapping the words already seen.
    return !has_byte_below_or_del(load(p + size - 8, std::uint64_t{}), limit) || exact(p + size - 8, 8);
  }
  // Shorter text in one word, from loads that stay inside it: two overlapping halves, or the first, middle
  // and last bytes; the rest is padded with 'A', which passes every check.
  std::uint64_t word = 0;
  if (size >= 4) {
    word = load(p, std::uint32_t{}) | load(p + size - 4, std::uint32_t{}) << 32;
  } else if (size > 0) {
    word = (every_byte('A') & ~0xffffffULL) | static_cast<unsigned char>(p[0])
           | static_cast<std::uint64_t>(static_cast<unsigned char>(p[size / 2])) << 8
           | static_cast<std::uint64_t>(static_cast<unsigned char>(p[size - 1])) << 16;
  } else {
    return true;
  }
  return !has_byte_below_or_del(word, limit) || exact(p, size);
}

/// A field value as it may be written: no CR, LF, NUL or other control byte but tab, no DEL.
inline bool is_safe_field_value(std::string_view value) noexcept {
  return no_byte_below_or_del(value, 0x20, true);
}

/// A request-target or method as it may be written: one non-empty token of visible characters.
inline bool is_safe_request_word(std::string_view word) noexcept {
  return !word.empty() && no_byte_below_or_del(word, 0x21, false);
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_WIRE_TEXT_HPP
