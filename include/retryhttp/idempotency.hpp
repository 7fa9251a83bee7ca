#ifndef RETRYHTTP_IDEMPOTENCY_HPP
#define RETRYHTTP_IDEMPOTENCY_HPP

// The Idempotency concept and its general models. An Idempotency policy answers one question per call: may
// this request be sent again after an attempt that may have reached the server? A wrong "yes" can apply a
// request twice (two VMs); a wrong "no" only gives up early. So every model errs towards "no".

#include <retryhttp/detail/route_pattern.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace retryhttp {

/// The request line and headers an Idempotency policy looks at (any Body: request<Body> derives from it).
using request_header = boost::beast::http::request_header<boost::beast::http::fields>;

/// Says whether a request may be re-sent. See docs/concepts/Idempotency.md for the requirements table.
template <class I>
concept Idempotency = std::copy_constructible<I> && requires(const I& policy, const request_header& request) {
  { policy.is_idempotent(request) } -> std::convertible_to<bool>;
};

/// Idempotent by method, as RFC 9110 section 9.2.2 defines it: GET, HEAD, OPTIONS, TRACE, PUT, DELETE.
/// POST, PATCH, CONNECT and every other method are unsafe to re-send. The set can be replaced.
class method_idempotency {
 public:
  using verb = boost::beast::http::verb;

  method_idempotency() noexcept
      : method_idempotency({verb::get, verb::head, verb::options, verb::trace, verb::put, verb::delete_}) {}
  method_idempotency(std::initializer_list<verb> idempotent_methods) noexcept {
    for (verb method : idempotent_methods) mask_ |= bit(method);
  }

  bool is_idempotent(verb method) const noexcept { return (mask_ & bit(method)) != 0; }
  bool is_idempotent(const request_header& request) const noexcept { return is_idempotent(request.method()); }

 private:
  static constexpr std::uint64_t bit(verb method) noexcept {
    const auto index = static_cast<unsigned>(method);
    return index < 64 ? std::uint64_t{1} << index : 0;
  }
  std::uint64_t mask_ = 0;
};

/// One rule of a route_idempotency: requests with this method whose path matches the pattern are (or are not)
/// idempotent. In a pattern, "{anything}" stands for exactly one path segment.
struct route_rule {
  boost::beast::http::verb method;
  std::string pattern;
  bool idempotent;

  static route_rule safe(boost::beast::http::verb method, std::string pattern) {
    return {method, std::move(pattern), true};
  }
  static route_rule unsafe(boost::beast::http::verb method, std::string pattern) {
    return {method, std::move(pattern), false};
  }
};

/// Route rules first, in order, the first match deciding; a request no rule matches is judged by method. Use
/// it for POST routes that are idempotent by design (POST /v1/vms/{name}/start) or for a method-idempotent
/// route that is not (DELETE /v1/queue/head). Patterns are parsed once, at construction; is_idempotent never
/// allocates.
class route_idempotency {
 public:
  /// Throws std::invalid_argument for a malformed pattern.
  explicit route_idempotency(std::vector<route_rule> rules, method_idempotency by_method = {})
      : by_method_(by_method) {
    compiled_.reserve(rules.size());
    for (auto& rule : rules)
      compiled_.push_back({rule.method, detail::route_pattern(rule.pattern), rule.idempotent});
  }
  route_idempotency(std::initializer_list<route_rule> rules, method_idempotency by_method = {})
      : route_idempotency(std::vector<route_rule>(rules), by_method) {}

  bool is_idempotent(const request_header& request) const noexcept {
    const auto method = request.method();
    const std::string_view target(request.target().data(), request.target().size());
    for (const auto& rule : compiled_)
      if (rule.method == method && rule.pattern.matches(target)) return rule.idempotent;
    return by_method_.is_idempotent(method);
  }

 private:
  struct compiled_rule {
    boost::beast::http::verb method;
    detail::route_pattern pattern;
    bool idempotent;
  };
  method_idempotency by_method_;
  std::vector<compiled_rule> compiled_;
};

}  // namespace retryhttp

#endif  // RETRYHTTP_IDEMPOTENCY_HPP
