#ifndef ORCHESTRATOR_SIM_FAULTS_HPP
#define ORCHESTRATOR_SIM_FAULTS_HPP

// Scripted faults for orchestrator-sim, one rule per line (or per ';' in an inline spec):
//
//   METHOD PATTERN ARRIVALS ACTION [ARGS]
//     METHOD    GET, POST, DELETE, ... or * for any
//     PATTERN   a path pattern such as /v1/vms/{name}/start, or * for any path
//     ARRIVALS  which matching requests the rule hits, counted per rule from 1: 3 | 1-3 | 2,4,7 | * (all)
//     ACTION    status CODE [retry-after SECONDS]   answer CODE (and a Retry-After header), apply nothing
//               delay MS                            wait MS, then serve the request normally
//               drop                                close the connection after reading, apply nothing
//               apply-drop                          apply the request, then close without answering (lost
//               response) hang                                read the request, never answer (until the
//               client gives up)
//   connection ARRIVALS close                       close the Nth accepted connection before reading anything
//
// Lines starting with # and blank lines are ignored. Errors name the rule and what was expected.

#include <retryhttp/detail/route_pattern.hpp>

#include "../common/strict_number.hpp"

#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace orchestrator_sim {

enum class fault_action { status, delay, drop, apply_drop, hang, answer_close, close_connection };

struct fault_rule {
  std::string text;  // as written, for the log
  bool per_connection = false;
  std::optional<boost::beast::http::verb> method;                 // empty: any
  std::optional<retryhttp::detail::route_pattern> pattern;        // empty: any
  std::vector<std::pair<std::uint64_t, std::uint64_t>> arrivals;  // inclusive ranges; empty: all
  fault_action action = fault_action::status;
  unsigned status = 503;
  std::optional<unsigned> retry_after_seconds;
  unsigned delay_ms = 0;
  std::uint64_t seen = 0;  // matching arrivals so far

  bool hits(std::uint64_t arrival) const {
    if (arrivals.empty()) return true;
    for (const auto& [low, high] : arrivals)
      if (arrival >= low && arrival <= high) return true;
    return false;
  }
};

/// A number of a rule, at most `high` (so that a cast to a narrower type cannot wrap around).
inline std::uint64_t parse_number(const std::string& word, const std::string& rule, const char* what,
                                  std::uint64_t high = std::numeric_limits<std::uint64_t>::max()) {
  const auto value = retryhttp_tools::parse_unsigned(word, 0, high);
  if (!value)
    throw std::invalid_argument("fault \"" + rule + "\": expected " + what + ", got \"" + word + "\"");
  return *value;
}

inline std::vector<std::pair<std::uint64_t, std::uint64_t>> parse_arrivals(const std::string& word,
                                                                           const std::string& rule) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  if (word == "*") return ranges;
  std::stringstream parts(word);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const auto dash = part.find('-');
    const char* what = "arrivals such as 1, 1-3, 2,4 or *";
    if (dash == std::string::npos) {
      const auto n = parse_number(part, rule, what);
      ranges.emplace_back(n, n);
    } else {
      const auto low = parse_number(part.substr(0, dash), rule, what);
      const auto high = parse_number(part.substr(dash + 1), rule, what);
      if (low > high)
        throw std::invalid_argument("fault \"" + rule + "\": arrival range " + part + " is empty");
      ranges.emplace_back(low, high);
    }
  }
  if (ranges.empty()) throw std::invalid_argument("fault \"" + rule + "\": no arrivals");
  return ranges;
}

inline fault_rule parse_fault(const std::string& line) {
  std::stringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  fault_rule rule;
  rule.text = line;
  auto need = [&](std::size_t count, const char* shape) {
    if (words.size() < count) throw std::invalid_argument("fault \"" + line + "\": expected " + shape);
  };
  if (!words.empty() && words[0] == "connection") {
    need(3, "connection ARRIVALS close");
    if (words[2] != "close" || words.size() != 3)
      throw std::invalid_argument("fault \"" + line + "\": expected connection ARRIVALS close");
    rule.per_connection = true;
    rule.arrivals = parse_arrivals(words[1], line);
    rule.action = fault_action::close_connection;
    return rule;
  }
  need(4, "METHOD PATTERN ARRIVALS ACTION");
  if (words[0] != "*") {
    const auto method = boost::beast::http::string_to_verb(words[0]);
    if (method == boost::beast::http::verb::unknown)
      throw std::invalid_argument("fault \"" + line + "\": unknown method \"" + words[0] + "\"");
    rule.method = method;
  }
  if (words[1] != "*") {
    try {
      rule.pattern.emplace(words[1]);
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument("fault \"" + line + "\": " + error.what());
    }
  }
  rule.arrivals = parse_arrivals(words[2], line);
  const std::string& action = words[3];
  std::size_t expected_words = 4;
  if (action == "status") {
    need(5, "status CODE");
    rule.action = fault_action::status;
    rule.status = static_cast<unsigned>(parse_number(words[4], line, "a status code from 100 to 599", 599));
    if (rule.status < 100 || rule.status > 599)
      throw std::invalid_argument("fault \"" + line + "\": status must be 100..599");
    expected_words = 5;
    if (words.size() > 5) {
      if (words[5] != "retry-after" || words.size() < 7)
        throw std::invalid_argument("fault \"" + line + "\": expected status CODE [retry-after SECONDS]");
      rule.retry_after_seconds = static_cast<unsigned>(
          parse_number(words[6], line, "seconds", std::numeric_limits<unsigned>::max()));
      expected_words = 7;
    }
  } else if (action == "delay") {
    need(5, "delay MS");
    rule.action = fault_action::delay;
    rule.delay_ms = static_cast<unsigned>(
        parse_number(words[4], line, "milliseconds", std::numeric_limits<unsigned>::max()));
    expected_words = 5;
  } else if (action == "drop") {
    rule.action = fault_action::drop;
  } else if (action == "apply-drop") {
    rule.action = fault_action::apply_drop;
  } else if (action == "hang") {
    rule.action = fault_action::hang;
  } else if (action == "answer-close") {
    rule.action = fault_action::answer_close;
  } else {
    throw std::invalid_argument("fault \"" + line + "\": unknown action \"" + action
                                + "\"; expected status, delay, drop, apply-drop, hang or answer-close");
  }
  if (words.size() != expected_words)
    throw std::invalid_argument("fault \"" + line + "\": unexpected text after the action");
  return rule;
}

/// Parses a spec of rules separated by newlines or ';'.
inline std::vector<fault_rule> parse_faults(std::string_view spec) {
  std::vector<fault_rule> rules;
  std::string line;
  auto flush = [&] {
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') rules.push_back(parse_fault(line.substr(first)));
    line.clear();
  };
  for (char c : spec) {
    if (c == '\n' || c == ';')
      flush();
    else
      line += c;
  }
  flush();
  return rules;
}

}  // namespace orchestrator_sim

#endif  // ORCHESTRATOR_SIM_FAULTS_HPP
