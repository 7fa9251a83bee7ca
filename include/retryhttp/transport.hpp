#ifndef RETRYHTTP_TRANSPORT_HPP
#define RETRYHTTP_TRANSPORT_HPP

// The Transport concept: one attempt at one request, and the outcome type it returns. A failed attempt says
// whether the request may have reached the server, which is what makes the non-idempotent rule exact.
// Needs only Beast's message headers, never its I/O.

#include <retryhttp/decision.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <concepts>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace retryhttp {

/// How much of a failed attempt may have reached the server.
enum class failure_kind : unsigned char {
  /// Provably nothing was written: name resolution failed, the connection was refused, connecting timed out.
  not_sent,
  /// Some or all of the request may have been written, but no complete response came back: reset, EOF, read
  /// timeout, a reply that is not HTTP. The server may have applied the request.
  ambiguous,
};

constexpr const char* to_string(failure_kind kind) noexcept {
  return kind == failure_kind::not_sent ? "not sent" : "ambiguous";
}

// GCC 12 at -O2 reports -Wmaybe-uninitialized inside the implicit move constructor of transport_failure when
// an attempt_outcome is moved through type-erased handlers (asio::any_completion_handler): a false positive
// (the variant holds the alternative it moves), reported at this struct, so it is silenced for this struct.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/// A failed attempt: its kind, the error that caused it, and optional detail for the message.
struct transport_failure {
  failure_kind kind = failure_kind::ambiguous;
  boost::system::error_code code;
  std::string detail;  // e.g. "the reply is not HTTP"; empty when code says it all
  /// Sending the request again would fail the same way (a response over a size limit, a request with a
  /// control character in a field): the client does not retry it, whatever its idempotency.
  bool permanent = false;

  /// "connection refused", or "bad version (the reply is not HTTP)". A time-out reads "timed out (...)":
  /// strerror's "Connection timed out" would be wrong for a response that was late.
  std::string message() const {
    std::string text = !code                                    ? std::string("failed")
                       : code == boost::system::errc::timed_out ? std::string("timed out")
                                                                : code.message();
    if (!detail.empty()) text += " (" + detail + ")";
    return text;
  }
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// What the client hands a Transport with each attempt.
struct attempt_context {
  /// Stops the attempt in flight at once. A Transport that cannot interrupt I/O must at least not start it.
  std::stop_token stop;
  /// The time this attempt may take, or none. A duration, not a time point, because the Transport keeps real
  /// time while the client's Clock may be virtual: the fake transport spends it on the fake clock.
  std::optional<std::chrono::nanoseconds> timeout;
  /// 1 for the first attempt of a call, 2 for the first retry, ...
  unsigned attempt = 1;
  /// The endpoint the previous attempt of this call went to (attempt_outcome::endpoint()), or empty. A
  /// Transport with several endpoints sends a retry elsewhere (failover_transport).
  std::string_view previous_endpoint{};
};

/// The result of one attempt: a response (any status) or a transport_failure.
template <class Response>
class attempt_outcome {
 public:
  using response_type = Response;

  attempt_outcome(Response response) : value_(std::in_place_index<0>, std::move(response)) {}
  attempt_outcome(transport_failure failure) : value_(std::in_place_index<1>, std::move(failure)) {}

  bool has_response() const noexcept { return value_.index() == 0; }

  /// The endpoint this attempt went to, as its Transport names it ("127.0.0.1:8080",
  /// "https://orch.example", "unix:///run/orch.sock"), or empty if the Transport does not say. A view of a
  /// name the Transport keeps for as long as it lives.
  std::string_view endpoint() const noexcept { return endpoint_; }
  void set_endpoint(std::string_view name) noexcept { endpoint_ = name; }
  Response& response() & { return std::get<0>(value_); }
  const Response& response() const& { return std::get<0>(value_); }
  Response&& response() && { return std::get<0>(std::move(value_)); }
  const transport_failure& failure() const { return std::get<1>(value_); }
  transport_failure& failure() { return std::get<1>(value_); }

  /// The part of the outcome the retry decision looks at.
  observed_outcome observe() const noexcept {
    if (has_response()) return observed_outcome::response(response().result_int());
    const transport_failure& failed = std::get<1>(value_);
    return failed.kind == failure_kind::not_sent ? observed_outcome::not_sent(failed.permanent)
                                                 : observed_outcome::ambiguous(failed.permanent);
  }

 private:
  std::variant<Response, transport_failure> value_;
  std::string_view endpoint_{};
};

namespace detail {
template <class T>
inline constexpr bool is_beast_request = false;
template <class Body, class Fields>
inline constexpr bool is_beast_request<boost::beast::http::request<Body, Fields>> = true;
template <class T>
inline constexpr bool is_beast_response = false;
template <class Body, class Fields>
inline constexpr bool is_beast_response<boost::beast::http::response<Body, Fields>> = true;
}  // namespace detail

/// Performs one attempt. See docs/concepts/Transport.md for the requirements table.
template <class T>
concept Transport = requires {
  typename T::request_type;
  typename T::response_type;
}
&&detail::is_beast_request<typename T::request_type>&&
    detail::is_beast_response<typename T::response_type>&& requires(T& transport,
                                                                    const typename T::request_type& request,
                                                                    const attempt_context& context) {
  { transport.attempt(request, context) } -> std::same_as<attempt_outcome<typename T::response_type>>;
};

}  // namespace retryhttp

#endif  // RETRYHTTP_TRANSPORT_HPP
