#ifndef RETRYHTTP_DETAIL_PRINTABLE_HPP
#define RETRYHTTP_DETAIL_PRINTABLE_HPP

// Text from outside the program (a server's answer, a URL, a request target) as it may be shown in a message
// that ends up on an operator's terminal: nothing in it can move the cursor, recolour or clear the screen, or
// make the text read otherwise than it is stored.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace retryhttp::detail {

/// The length of the UTF-8 sequence at `text[at]` when it is well formed and safe to show on a terminal, else
/// 0. Not shown as they are: C1 controls (U+0080-U+009F, which terminals read as escape sequences), the line
/// and paragraph separators, and the bidirectional overrides and isolates that make text read otherwise than
/// it is stored.
inline std::size_t safe_utf8_length(std::string_view text, std::size_t at) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned lead = byte(at);
  std::size_t length = 0;
  char32_t code = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(at + i) & 0x3f);
  }
  constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  if (code <= 0x9f || code == 0x2028 || code == 0x2029 || (code >= 0x202a && code <= 0x202e)
      || (code >= 0x2066 && code <= 0x2069))
    return 0;
  return length;
}

/// Text from the server as it may be printed on a terminal: control bytes, ill-formed UTF-8 and the
/// characters safe_utf8_length refuses become \xNN, so a server cannot move the cursor, recolour or clear
/// the operator's screen, or hide text. At most `limit` bytes of input are shown, then "...".
// Cold (compiled for size): it builds the messages of failed calls, and every client compiles it.
[[gnu::cold]] inline std::string printable(std::string_view text, std::size_t limit = 200) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  const std::size_t shown = std::min(text.size(), limit);
  for (std::size_t at = 0; at < shown;) {
    const auto c = static_cast<unsigned char>(text[at]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++at;
      continue;
    }
    if (const auto length = c >= 0x80 ? safe_utf8_length(text, at) : 0; length != 0) {
      out.append(text.substr(at, length));
      at += length;
      continue;
    }
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
    ++at;
  }
  if (shown < text.size()) out += "...";
  return out;
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_PRINTABLE_HPP
