#ifndef RETRYHTTP_IDEMPOTENCY_KEY_HPP
#define RETRYHTTP_IDEMPOTENCY_KEY_HPP

// Idempotency keys: an opt-in Idempotency policy that makes chosen non-idempotent routes safe to retry by
// sending an Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): a random UUID v4 per logical
// call, the same on every attempt. The server stores the first answer under the key and replays it for a
// retry, so a create whose response was lost can be re-sent without creating twice.
//
// basic_client asks the policy for a key once per call (key_for) and, when it gets one, sends a copy of the
// request with the header; a request that already carries the header keeps the caller's key.

#include <retryhttp/detail/member_name.hpp>
#include <retryhttp/detail/random.hpp>
#include <retryhttp/detail/route_pattern.hpp>
#include <retryhttp/idempotency.hpp>

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace retryhttp {

/// A random (version 4, RFC 9562) UUID in its 36-character text form, from two draws of `random`: any
/// generator whose call gives 64 random bits (std::mt19937_64, or a std::random_device wrapped to give 64).
template <class Generator>
requires std::same_as<std::invoke_result_t<Generator&>, std::uint64_t> std::string make_uuid_v4(
    Generator& random) {
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

/// Whether `key` can serve as an idempotency key: 1 to 255 printable ASCII characters (0x20 to 0x7E), not
/// starting or ending with a space. A blank key is ignored by servers, a key with control characters would
/// break the request's framing, and spaces at its ends are not part of a field's value on the wire.
constexpr bool is_usable_key(std::string_view key) noexcept {
  if (key.empty() || key.size() > 255 || key.front() == ' ' || key.back() == ' ') return false;
  for (const char c : key)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

/// A route that accepts idempotency keys.
struct keyed_route {
  boost::beast::http::verb method;
  std::string pattern;
};

template <class Inner = method_idempotency>
class idempotency_keys {
 public:
  /// `routes`: where the server honours keys. `seed`: reproducible keys for tests (default: seeded from the
  /// kernel, getrandom). Throws std::invalid_argument for a malformed pattern.
  explicit idempotency_keys(std::vector<keyed_route> routes, Inner inner = Inner{},
                            std::optional<std::uint64_t> seed = std::nullopt,
                            std::string header = "Idempotency-Key")
      : inner_(std::move(inner)),
        seeds_(seed ? detail::seed_source(*seed) : detail::seed_source()),
        header_(std::move(header)) {
    for (auto& route : routes) routes_.push_back({route.method, detail::route_pattern(route.pattern)});
  }

  /// A keyed route carrying a usable key (see is_usable_key) may be re-sent; everything else is judged by the
  /// inner policy. A blank key is no key: servers ignore it, so a re-send could apply the request twice.
  bool is_idempotent(const request_header& request) const {
    if (keyed(request) && has_usable_key(request)) return true;
    return static_cast<bool>(inner_.is_idempotent(request));
  }

  /// A fresh key for a keyed route whose request has none, or only a blank one (the client's copy of the
  /// request carries the fresh key instead); nothing otherwise. A key that is present but unusable for
  /// another reason (a control character) is not replaced: the request is then judged by the inner policy,
  /// and the transport refuses to write it.
  std::optional<std::string> key_for(const request_header& request) const {
    if (routes_.empty() || !keyed(request)) return std::nullopt;
    const auto present = request.find(header_);
    if (present != request.end() && !is_blank(present->value())) return std::nullopt;
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

  static bool is_blank(boost::beast::string_view value) noexcept {
    for (const char c : value)
      if (c != ' ' && c != '\t') return false;
    return true;
  }
  /// Exactly one key field, and a usable key in it: what a server compares byte for byte.
  bool has_usable_key(const request_header& request) const {
    if (request.count(header_) != 1) return false;
    return is_usable_key(std::string_view(request[header_].data(), request[header_].size()));
  }

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
RETRYHTTP_DETAIL_MEMBER_NAME_PROBE(key_for)
/// A policy with a member named key_for hands out keys: one whose key_for or key_header does not fit is a
/// compile error in basic_client, not a key silently never sent.
template <class I>
concept key_for_is_usable = !names_key_for<I>() || issues_idempotency_keys<I>;
}  // namespace detail

}  // namespace retryhttp

#endif  // RETRYHTTP_IDEMPOTENCY_KEY_HPP
