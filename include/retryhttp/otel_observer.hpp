#ifndef RETRYHTTP_OTEL_OBSERVER_HPP
#define RETRYHTTP_OTEL_OBSERVER_HPP

// An Observer that describes each attempt in the words of OpenTelemetry's semantic conventions for HTTP
// clients (http.request.method, http.response.status_code, http.request.resend_count, error.type,
// server.address, server.port, url.full without credentials, ...) and each call with retry metrics named
// after gRPC's (A96), without depending on OpenTelemetry: it hands what it saw to an otel_sink, a small
// interface the integrator implements with their OpenTelemetry SDK (a span per attempt, histograms).
//
// The observer keeps no per-call state (each event carries what it needs), so one observer serves calls on
// any number of threads; the sink is called from the threads that run the calls and must be thread-safe if
// they are several. Nothing here allocates on the path of a call that is not observed; an observed attempt
// builds its url.full in one std::string.

#include <retryhttp/observer.hpp>

#include <boost/system/errc.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace retryhttp {

/// The names this observer uses, as the conventions spell them.
namespace otel {
inline constexpr std::string_view http_request_method = "http.request.method";
inline constexpr std::string_view http_request_method_original = "http.request.method_original";
inline constexpr std::string_view http_response_status_code = "http.response.status_code";
inline constexpr std::string_view http_request_resend_count = "http.request.resend_count";
inline constexpr std::string_view error_type = "error.type";
inline constexpr std::string_view server_address = "server.address";
inline constexpr std::string_view server_port = "server.port";
inline constexpr std::string_view url_full = "url.full";
inline constexpr std::string_view url_scheme = "url.scheme";
inline constexpr std::string_view network_protocol_version = "network.protocol.version";
/// The stable HTTP client metric (a histogram, in seconds), one measurement per attempt.
inline constexpr std::string_view http_client_request_duration = "http.client.request.duration";
/// gRPC's retry metrics (A96: grpc.client.call.retries and grpc.client.call.retry_delay) in this library's
/// namespace: per call, the number of retries (histogram, unit {retry}; the first attempt is not one) and the
/// time spent waiting between attempts (histogram, seconds).
inline constexpr std::string_view client_call_retries = "retryhttp.client.call.retries";
inline constexpr std::string_view client_call_retry_delay = "retryhttp.client.call.retry_delay";
}  // namespace otel

/// One attribute: a key of the conventions and a string or an integer.
struct otel_attribute {
  std::string_view key;
  std::string_view text;     ///< the value, when !is_integer
  std::int64_t integer = 0;  ///< the value, when is_integer
  bool is_integer = false;
};

/// The attributes of one span or measurement, in a fixed array (no allocation). Views into the event and the
/// observer: valid during the sink's call only.
class otel_attributes {
 public:
  static constexpr std::size_t capacity = 12;

  void add(std::string_view key, std::string_view text) noexcept { push({key, text, 0, false}); }
  void add(std::string_view key, std::int64_t integer) noexcept { push({key, {}, integer, true}); }

  const otel_attribute* begin() const noexcept { return items_.data(); }
  const otel_attribute* end() const noexcept { return items_.data() + size_; }
  std::size_t size() const noexcept { return size_; }
  /// The attribute with this key, or nullptr.
  const otel_attribute* find(std::string_view key) const noexcept {
    for (const auto& item : *this)
      if (item.key == key) return &item;
    return nullptr;
  }

 private:
  void push(otel_attribute item) noexcept {
    if (size_ < capacity) items_[size_++] = item;
  }
  std::array<otel_attribute, capacity> items_{};
  std::size_t size_ = 0;
};

/// One attempt, as an HTTP client span (kind CLIENT) and one http.client.request.duration measurement.
struct otel_attempt {
  std::string_view span_name;  ///< the method ("GET"), or "HTTP" for a method the conventions do not know
  const otel_attributes& attributes;
  /// The span's status is Error: a 4xx or 5xx response, or a failure other than the caller's cancellation.
  bool error;
  std::chrono::nanoseconds duration;  ///< the attempt's, on the client's clock; the span ended just now
};

/// One call's retry metrics (attributes: http.request.method, server.address, server.port).
struct otel_call {
  const otel_attributes& attributes;
  unsigned retries;                      ///< otel::client_call_retries: attempts after the first
  std::chrono::nanoseconds retry_delay;  ///< otel::client_call_retry_delay: waits between attempts
  bool delivered;                        ///< a response was delivered; else the call failed
};

/// What the integrator implements to connect otel_observer to an OpenTelemetry SDK.
class otel_sink {
 public:
  virtual ~otel_sink() = default;
  /// After each attempt.
  virtual void attempt(const otel_attempt& attempt) = 0;
  /// When a call ends. The default ignores it.
  virtual void call(const otel_call&) {}
};

/// The Observer. `base_url` is the endpoint the client's transport talks to ("https://orch.example:8443",
/// "http://127.0.0.1:8080", "unix:///run/orch.sock"): it gives server.address, server.port and the front of
/// url.full when the transport does not name the attempt's endpoint (attempt_event::endpoint, which a
/// failover_transport sets). User info in it is written REDACTED:REDACTED, and the values of the query
/// parameters the conventions list as sensitive (X-Amz-Signature, sig, ...) are written REDACTED.
class otel_observer {
 public:
  otel_observer(otel_sink& sink, std::string_view base_url) : sink_(&sink), base_url_(base_url) {
    base_ = split(base_url_);
  }
  otel_observer(const otel_observer& other) : sink_(other.sink_), base_url_(other.base_url_) {
    base_ = split(base_url_);
  }
  otel_observer& operator=(const otel_observer& other) {
    sink_ = other.sink_;
    base_url_ = other.base_url_;
    base_ = split(base_url_);
    return *this;
  }

  void on_attempt(const attempt_event& event) const {
    const endpoint_parts where = event.endpoint.empty() ? base_ : split(event.endpoint);
    otel_attributes attributes;
    const std::string_view method = method_of(event.request);
    const bool known = known_method(method);
    attributes.add(otel::http_request_method, known ? method : std::string_view("_OTHER"));
    if (!known) attributes.add(otel::http_request_method_original, method);
    add_server(attributes, where);
    const std::string url = full_url(where, event.request);
    attributes.add(otel::url_full, url);
    attributes.add(otel::url_scheme, where.is_socket ? std::string_view("http") : where.scheme);
    attributes.add(otel::network_protocol_version, event.request.version() == 10 ? "1.0" : "1.1");
    if (event.attempt > 1) attributes.add(otel::http_request_resend_count, std::int64_t{event.attempt} - 1);

    bool error = false;
    std::array<char, 8> status_text{};
    if (!event.failure) {
      const unsigned status = event.outcome.status;
      attributes.add(otel::http_response_status_code, std::int64_t{status});
      if (status >= 400) {
        error = true;
        attributes.add(otel::error_type, decimal(status, status_text));
      }
    } else if (const std::string_view type = error_type_of(*event.failure); !type.empty()) {
      // The caller's own cancellation is not an error (the conventions leave the status unset).
      error = true;
      attributes.add(otel::error_type, type);
    }
    sink_->attempt(
        otel_attempt{known ? method : std::string_view("HTTP"), attributes, error, event.duration});
  }

  void on_call_end(const call_end_event& event) const {
    otel_attributes attributes;
    const std::string_view method = method_of(event.request);
    attributes.add(otel::http_request_method, known_method(method) ? method : std::string_view("_OTHER"));
    add_server(attributes, base_);
    sink_->call(
        otel_call{attributes, event.attempts > 0 ? event.attempts - 1 : 0, event.waited, event.delivered});
  }

  /// error.type for a transport failure: a short, fixed name (low cardinality, as the conventions ask), or
  /// empty for the caller's cancellation, which is not an error.
  static std::string_view error_type_of(const transport_failure& failure) noexcept {
    namespace errc = boost::system::errc;
    const auto& code = failure.code;
    if (code == errc::operation_canceled) return {};
    if (code == errc::timed_out) return "timeout";
    if (code == errc::connection_refused) return "connection_refused";
    if (code == errc::connection_reset) return "connection_reset";
    if (code == errc::broken_pipe) return "broken_pipe";
    if (code == errc::network_unreachable || code == errc::host_unreachable) return "unreachable";
    const std::string_view category = code.category().name();
    if (category == "asio.netdb" || category == "asio.addrinfo") return "name_resolution";
    if (category.starts_with("asio.ssl") || category.starts_with("retryhttp.tls")) return "tls";
    if (category == "beast.http") return "bad_response";
    if (category == "asio.misc") return "connection_closed";  // end of file before a whole response
    return "_OTHER";
  }

 private:
  /// A URL's parts, as views into the URL.
  struct endpoint_parts {
    std::string_view scheme = "http";
    std::string_view host;       // without brackets for IPv6; a socket's path for unix://
    std::string_view port;       // as written, or empty
    std::string_view authority;  // host[:port] as written, without user info
    bool has_user_info = false;
    bool is_socket = false;
  };

  static endpoint_parts split(std::string_view url) noexcept {
    endpoint_parts parts;
    if (const auto colon = url.find("://"); colon != std::string_view::npos) {
      parts.scheme = url.substr(0, colon);
      url.remove_prefix(colon + 3);
    }
    if (parts.scheme == "unix") {
      parts.is_socket = true;
      parts.host = url;
      parts.authority = "localhost";
      return parts;
    }
    std::string_view authority = url.substr(0, url.find_first_of("/?#"));
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
      parts.has_user_info = true;
      authority.remove_prefix(at + 1);
    }
    parts.authority = authority;
    std::string_view host = authority;
    if (host.starts_with('[')) {
      const auto close = host.find(']');
      parts.host = host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
      host.remove_prefix(close == std::string_view::npos ? host.size() : close + 1);
      if (host.starts_with(':')) parts.port = host.substr(1);
    } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
      parts.host = host.substr(0, colon);
      parts.port = host.substr(colon + 1);
    } else {
      parts.host = host;
    }
    return parts;
  }

  static void add_server(otel_attributes& attributes, const endpoint_parts& where) noexcept {
    attributes.add(otel::server_address, where.host);
    if (where.is_socket) return;
    std::int64_t port = where.scheme == "https" ? 443 : 80;
    if (!where.port.empty()) {
      port = 0;
      for (const char c : where.port)
        port = c >= '0' && c <= '9' && port < 65536 ? port * 10 + (c - '0') : 65536;
    }
    if (port > 0 && port < 65536) attributes.add(otel::server_port, port);
  }

  static std::string_view method_of(const request_header& request) noexcept {
    const auto text = request.method_string();
    return {text.data(), text.size()};
  }

  // RFC 9110's methods, PATCH (RFC 5789) and QUERY: the methods the conventions call known.
  static bool known_method(std::string_view method) noexcept {
    for (const std::string_view known :
         {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"})
      if (method == known) return true;
    return false;
  }

  static bool sensitive_parameter(std::string_view key) noexcept {
    for (const std::string_view listed : {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
                                          "AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"})
      if (key == listed) return true;
    return false;
  }

  // scheme://[REDACTED:REDACTED@]authority + the target, with the sensitive query values redacted.
  static std::string full_url(const endpoint_parts& where, const request_header& request) {
    const auto raw = request.target();
    const std::string_view target(raw.data(), raw.size());
    std::string url;
    url.reserve(where.scheme.size() + where.authority.size() + target.size() + 24);
    url.append(where.is_socket ? std::string_view("http") : where.scheme).append("://");
    if (where.has_user_info) url.append("REDACTED:REDACTED@");
    url.append(where.authority);
    const auto query = target.find('?');
    url.append(target.substr(0, query));
    if (query == std::string_view::npos) return url;
    std::string_view rest = target.substr(query + 1);
    const auto fragment = rest.find('#');
    const std::string_view after =
        fragment == std::string_view::npos ? std::string_view() : rest.substr(fragment);
    rest = rest.substr(0, fragment);
    url += '?';
    for (bool first = true;; first = false) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      if (!first) url += '&';
      const auto equals = pair.find('=');
      if (equals != std::string_view::npos && sensitive_parameter(pair.substr(0, equals)))
        url.append(pair.substr(0, equals + 1)).append("REDACTED");
      else
        url.append(pair);
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    url.append(after);
    return url;
  }

  static std::string_view decimal(unsigned value, std::array<char, 8>& buffer) noexcept {
    std::size_t at = buffer.size();
    do {
      buffer[--at] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0 && at > 0);
    return {buffer.data() + at, buffer.size() - at};
  }

  otel_sink* sink_;
  std::string base_url_;
  endpoint_parts base_;
};

}  // namespace retryhttp

#endif  // RETRYHTTP_OTEL_OBSERVER_HPP
