#ifndef RETRYHTTP_DETAIL_JSON_READING_HPP
#define RETRYHTTP_DETAIL_JSON_READING_HPP

// Strict reading of JSON config documents: syntax errors carry a line and column, duplicate keys are errors
// (Boost.JSON silently keeps the last one), and every typed read names the key path and what it expected.
// Non-template, so each program compiles it once per translation unit that loads a config, and nowhere else.

#include <retryhttp/config.hpp>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace retryhttp::detail {

inline std::string join_key(std::string_view parent, std::string_view key) {
  std::string path(parent);
  if (!path.empty()) path += '.';
  path += key;
  return path;
}

inline std::string index_key(std::string_view parent, std::size_t index) {
  std::string path(parent);
  path += '[';
  path += std::to_string(index);
  path += ']';
  return path;
}

/// "-1", "3.5", "\"3\" (a string)", "true", "null", "an array", "an object": how an error shows a bad value.
inline std::string describe_json(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::object:
      return "an object";
    case boost::json::kind::string: {
      std::string text = boost::json::serialize(value);
      if (text.size() > 42) text = text.substr(0, 40) + "...\"";
      return text + " (a string)";
    }
    case boost::json::kind::double_: {
      // Shortest round-trip form, so 3.5 reads "3.5", not Boost's "3.5E0".
      char buffer[32];
      const auto result = std::to_chars(buffer, buffer + sizeof buffer, value.get_double());
      return std::string(buffer, result.ptr);
    }
    default:
      return boost::json::serialize(value);
  }
}

// Walks the document once with Boost.JSON's SAX parser to find a key that appears twice in one object, and to
// name it by its full path. Only keys are kept; values are skipped.
class duplicate_key_finder {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  using error_code = boost::system::error_code;
  using string_view = boost::json::string_view;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_array_begin(error_code&) { return open(true); }
  bool on_array_end(std::size_t, error_code&) { return close(); }
  bool on_object_begin(error_code&) { return open(false); }
  bool on_object_end(std::size_t, error_code&) { return close(); }
  bool on_string_part(string_view, std::size_t, error_code&) { return true; }
  bool on_string(string_view, std::size_t, error_code&) { return scalar(); }
  bool on_key_part(string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(string_view part, std::size_t, error_code& ec) {
    key_.append(part.data(), part.size());
    frame& top = frames_.back();
    for (const auto& seen : top.keys) {
      if (seen == key_) {
        duplicate_path_ = join_key(path_of_top(), key_);
        ec = boost::json::error::syntax;  // stops the parse; the caller reports duplicate_path_
        key_.clear();
        return false;
      }
    }
    top.keys.push_back(key_);
    top.current = key_;
    key_.clear();
    return true;
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, string_view, error_code&) { return scalar(); }
  bool on_uint64(std::uint64_t, string_view, error_code&) { return scalar(); }
  bool on_double(double, string_view, error_code&) { return scalar(); }
  bool on_bool(bool, error_code&) { return scalar(); }
  bool on_null(error_code&) { return scalar(); }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

  const std::string& duplicate_path() const noexcept { return duplicate_path_; }

 private:
  struct frame {
    bool is_array = false;
    std::size_t index = 0;
    std::vector<std::string> keys;
    std::string current;
    std::string path;  // of this container
  };

  std::string path_of_top() const { return frames_.empty() ? std::string() : frames_.back().path; }

  std::string child_path() const {
    if (frames_.empty()) return {};
    const frame& top = frames_.back();
    return top.is_array ? index_key(top.path, top.index) : join_key(top.path, top.current);
  }

  bool open(bool is_array) {
    frame next;
    next.is_array = is_array;
    next.path = child_path();
    frames_.push_back(std::move(next));
    return true;
  }
  bool close() {
    frames_.pop_back();
    return scalar();
  }
  bool scalar() {
    if (!frames_.empty() && frames_.back().is_array) ++frames_.back().index;
    return true;
  }

  std::vector<frame> frames_;
  std::string key_;
  std::string duplicate_path_;
};

/// Parses a config document. Throws config_error for text that is not JSON (naming line and column) and for a
/// key given twice in one object (naming its path).
inline std::string text_position(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

inline boost::json::value parse_json_strict(std::string_view text) {
  boost::json::basic_parser<duplicate_key_finder> scanner{boost::json::parse_options{}};
  boost::system::error_code ec;
  const std::size_t consumed = scanner.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    if (!scanner.handler().duplicate_path().empty())
      throw config_error(scanner.handler().duplicate_path(), "each key at most once",
                         "the key a second time");
    throw config_error("", "a JSON document",
                       "invalid JSON at " + text_position(text, consumed) + " (" + ec.message() + ")");
  }
  const auto rest = text.find_first_not_of(" \t\r\n", consumed);
  if (rest != std::string_view::npos)
    throw config_error("", "a single JSON document", "more text at " + text_position(text, rest));
  return boost::json::parse(boost::json::string_view(text.data(), text.size()));
}

inline const boost::json::object& json_object(const boost::json::value& value, const std::string& path) {
  if (!value.is_object()) throw config_error(path, "an object", describe_json(value));
  return value.get_object();
}

/// Rejects keys that are not in `known`, naming the first unknown one and listing the known ones.
inline void reject_unknown_keys(const boost::json::object& object, std::string_view path,
                                std::initializer_list<std::string_view> known) {
  for (const auto& entry : object) {
    const std::string_view key(entry.key().data(), entry.key().size());
    bool is_known = false;
    for (auto name : known) is_known = is_known || name == key;
    if (is_known) continue;
    std::string list;
    for (auto name : known) {
      if (!list.empty()) list += ", ";
      list += name;
    }
    throw config_error(join_key(path, key), "one of the keys " + list, "an unknown key");
  }
}

/// An integer in [min, max]. A JSON number with a fraction (3.5), or too large for the range, is an error,
/// never truncated; an integral double (1e3) is accepted because it loses nothing.
inline std::int64_t json_integer(const boost::json::value& value, const std::string& path, std::int64_t min,
                                 std::int64_t max, std::string_view what = "an integer") {
  const std::string expected =
      std::string(what) + " from " + std::to_string(min) + " to " + std::to_string(max);
  std::int64_t number = 0;
  if (value.is_int64()) {
    number = value.get_int64();
  } else if (value.is_uint64()) {
    if (value.get_uint64() > static_cast<std::uint64_t>(max))
      throw config_error(path, expected, describe_json(value));
    number = static_cast<std::int64_t>(value.get_uint64());
  } else if (value.is_double()) {
    const double real = value.get_double();
    if (!(real >= static_cast<double>(min) && real <= static_cast<double>(max)) || std::trunc(real) != real)
      throw config_error(path, expected, describe_json(value));
    number = static_cast<std::int64_t>(real);
  } else {
    throw config_error(path, expected, describe_json(value));
  }
  if (number < min || number > max) throw config_error(path, expected, describe_json(value));
  return number;
}

inline bool json_bool(const boost::json::value& value, const std::string& path) {
  if (!value.is_bool()) throw config_error(path, "true or false", describe_json(value));
  return value.get_bool();
}

inline std::string json_string(const boost::json::value& value, const std::string& path) {
  if (!value.is_string()) throw config_error(path, "a string", describe_json(value));
  const auto& text = value.get_string();
  return std::string(text.data(), text.size());
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_JSON_READING_HPP
