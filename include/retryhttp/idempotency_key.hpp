#ifndef RETRYHTTP_IDEMPOTENCY_KEY_HPP
#define RETRYHTTP_IDEMPOTENCY_KEY_HPP

// Idempotency keys: an opt-in Idempotency policy that makes chosen non-idempotent routes safe to retry by
// sending an Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): a random UUID v4 per logical
// call, the same on every attempt. The server stores the first answer under the key and replays it for a
// retry, so a create whose response was lost can be re-sent without creating twice.
//
// basic_client asks the policy for a key once per call (key_for) and, when it gets one, sends a copy of the
// request with the header; a request that already carries the header keeps the caller's key.

#include <retryhttp/detail/random.hpp>
#include <retryhttp/detail/route_pattern.hpp>
#include <retryhttp/idempotency.hpp>

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace retryhttp {

/// A random (version 4, RFC 9562) UUID in its 36-character text form.
inline std::string make_uuid_v4(detail::splitmix64& random) {
  std::uint64_t high = random();
  std::uint64_t low = random();
  high = (high & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;    // variant 10
  static constexpr char hex[] = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (int i = 15; i >= 0; --i) {
    const auto byte = static_cast<unsigned>(((i >= 8 ? high >> ((i - 8) * 8) : low >> (i * 8))) & 0xff);
    text += hex[byte >> 4];
    text += hex[byte & 15];
    if (i == 12 || i == 10 || i == 8 || i == 6) text += '-';
  }
  return text;
}

/// A route that accepts idempotency keys.
struct keyed_route {
  boost::beast::http::verb method;
  std::string pattern;
};

template <class Inner = method_idempotency>
class idempotency_keys {
 public:
  /// `routes`: where the server honours keys. `seed`: reproducible keys for tests (default: random_device).
  /// Throws std::invalid_argument for a malformed pattern.
  explicit idempotency_keys(std::vector<keyed_route> routes, Inner inner = Inner{},
                            std::optional<std::uint64_t> seed = std::nullopt,
                            std::string header = "Idempotency-Key")
      : inner_(std::move(inner)),
        seeds_(seed ? detail::seed_source(*seed) : detail::seed_source()),
        header_(std::move(header)) {
    for (auto& route : routes) routes_.push_back({route.method, detail::route_pattern(route.pattern)});
  }

  /// A keyed route carrying the key header may be re-sent; everything else is judged by the inner policy.
  bool is_idempotent(const request_header& request) const {
    if (keyed(request) && request.count(header_) != 0) return true;
    return static_cast<bool>(inner_.is_idempotent(request));
  }

  /// A fresh key for a keyed route that has none yet; nothing otherwise.
  std::optional<std::string> key_for(const request_header& request) const {
    if (routes_.empty() || !keyed(request) || request.count(header_) != 0) return std::nullopt;
    detail::splitmix64 random(seeds_.next_call_seed());
    return make_uuid_v4(random);
  }

  const std::string& key_header() const noexcept { return header_; }
  const Inner& inner() const noexcept { return inner_; }

 private:
  struct compiled_route {
    boost::beast::http::verb method;
    detail::route_pattern pattern;
  };

  bool keyed(const request_header& request) const {
    const std::string_view target(request.target().data(), request.target().size());
    for (const auto& route : routes_)
      if (route.method == request.method() && route.pattern.matches(target)) return true;
    return false;
  }

  Inner inner_;
  std::vector<compiled_route> routes_;
  detail::seed_source seeds_;
  std::string header_;
};

namespace detail {
/// An Idempotency policy that hands out keys (see basic_client::send).
template <class I>
concept issues_idempotency_keys = requires(const I& policy, const request_header& request) {
  { policy.key_for(request) } -> std::same_as<std::optional<std::string>>;
  { policy.key_header() } -> std::convertible_to<std::string_view>;
};
}  // namespace detail

}  // namespace retryhttp

#endif  // RETRYHTTP_IDEMPOTENCY_KEY_HPP
