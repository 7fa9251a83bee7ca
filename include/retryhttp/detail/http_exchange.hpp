#ifndef RETRYHTTP_DETAIL_HTTP_EXCHANGE_HPP
#define RETRYHTTP_DETAIL_HTTP_EXCHANGE_HPP

// The rules of one HTTP/1.1 exchange that the synchronous and the asynchronous Beast transports share, so
// that both refuse the same requests, skip the same interim responses and describe the same failures in the
// same words: what a request needs before it is written, which requests are refused unwritten, what an
// interim (1xx) response means, and the text of each read error. Beast's message and error headers only.

#include <retryhttp/detail/wire_text.hpp>
#include <retryhttp/transport.hpp>

#include <boost/asio/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/errc.hpp>

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace retryhttp::detail {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

inline std::string_view view(boost::beast::string_view text) noexcept {
  return {text.data(), text.size()};
}

/// RFC 9110 token characters.
inline bool is_token(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    const bool alnum =
        (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

enum class request_check { ready, needs_completion, unsafe_to_write };

/// Calls `each(coding)` for each element of a Transfer-Encoding list, skipping empty elements and the
/// whitespace around them (RFC 9110, 5.6.1).
template <class Each>
void for_each_coding(std::string_view list, Each&& each) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && is_space(item.front())) item.remove_prefix(1);
    while (!item.empty() && is_space(item.back())) item.remove_suffix(1);
    if (!item.empty()) each(item);
  }
}

/// What the Transfer-Encoding fields of a request name, all of them together, as a server reads them.
struct transfer_codings {
  std::size_t fields = 0;
  std::size_t chunked = 0;    // how many times chunked is named
  bool other = false;         // a coding that is not chunked
  bool chunked_last = false;  // the final coding is chunked: the body is framed in chunks

  void add(std::string_view list) {
    ++fields;
    for_each_coding(list, [this](std::string_view coding) {
      chunked_last = boost::beast::iequals(coding, "chunked");
      if (chunked_last)
        ++chunked;
      else
        other = true;
    });
  }
};

inline transfer_codings transfer_codings_of(const http_request& request) {
  transfer_codings codings;
  for (const auto& field : request)
    if (field.name() == boost::beast::http::field::transfer_encoding) codings.add(view(field.value()));
  return codings;
}

/// Whether a request of this method states its length even when its body is empty (Content-Length: 0): the
/// methods whose body has a meaning (RFC 9110, 8.6: POST, PUT, PATCH) and OPTIONS, as prepare_payload() does.
/// check_request and completed_request share it: else a request is copied and still goes out without.
inline bool states_empty_length(boost::beast::http::verb method) noexcept {
  namespace http = boost::beast::http;
  return method == http::verb::post || method == http::verb::put || method == http::verb::patch
         || method == http::verb::options;
}

/// What a request needs before it is written: Host, User-Agent and one correct Content-Length, and nothing
/// in its request line or fields that would change how the server splits the bytes (written as it is, a CR
/// or LF in a field would end the field early and let its text be read as another field or a second
/// request). A request that has them is written as it is (no copy); otherwise a copy gets them. One pass
/// over the fields, comparing their enum names: a lookup per field (count, operator[], chunked) cost ~1,100
/// instructions per request, about a tenth of a whole kept-alive exchange.
inline request_check check_request(const http_request& request) {
  namespace http = boost::beast::http;
  bool has_host = false;
  bool has_user_agent = false;
  transfer_codings codings;
  std::size_t lengths = 0;
  std::string_view length;
  // A TRACE must not have a body (RFC 9110, 9.3.8); the start line is written for HTTP/1.0 and 1.1 only.
  if (request.method() == http::verb::trace && !request.body().empty()) return request_check::unsafe_to_write;
  if (request.version() != 10 && request.version() != 11) return request_check::unsafe_to_write;
  // A known verb is safe by construction; only a method string of the caller's is looked at.
  if (!is_safe_request_word(view(request.target()))
      || (request.method() == http::verb::unknown && !is_safe_request_word(view(request.method_string()))))
    return request_check::unsafe_to_write;
  for (const auto& field : request) {
    if (!is_safe_field_value(view(field.value()))) return request_check::unsafe_to_write;
    switch (field.name()) {
      case http::field::host:
        has_host = true;
        break;
      case http::field::user_agent:
        has_user_agent = true;
        break;
      case http::field::transfer_encoding:
        codings.add(view(field.value()));
        break;
      case http::field::content_length:
        ++lengths;
        length = view(field.value());
        break;
      case http::field::unknown:
        // A name of our own choosing (Idempotency-Key) is a token: no separators, spaces or controls.
        if (!is_token(view(field.name_string()))) return request_check::unsafe_to_write;
        break;
      default:
        break;
    }
  }
  // A coding other than chunked (gzip, ...) leaves a server unable to frame the body, or answering 400 (RFC
  // 9112, 6.3): such a request cannot be written safely either way.
  if (codings.other) return request_check::unsafe_to_write;
  if (codings.fields > 0) {
    // Framed in chunks only when that is unambiguous: one field, chunked once, no Content-Length, HTTP/1.1.
    // Anything else (chunked twice or over two fields, beside a Content-Length, in HTTP/1.0) is completed:
    // the copy is framed by Content-Length and names no coding.
    const bool chunked_framing =
        codings.fields == 1 && codings.chunked == 1 && lengths == 0 && request.version() == 11;
    return chunked_framing && has_host && has_user_agent ? request_check::ready
                                                         : request_check::needs_completion;
  }
  if (!has_host || !has_user_agent) return request_check::needs_completion;
  if (lengths > 1) return request_check::needs_completion;  // prepare_payload leaves exactly one
  if (lengths == 1) {
    char digits[24];
    const auto printed = std::to_chars(digits, digits + sizeof digits, request.body().size());
    return length == std::string_view(digits, static_cast<std::size_t>(printed.ptr - digits))
               ? request_check::ready
               : request_check::needs_completion;
  }
  // No Content-Length: fine only for an empty body on a method that does not state an empty length.
  return request.body().empty() && !states_empty_length(request.method()) ? request_check::ready
                                                                          : request_check::needs_completion;
}

/// Whether a request must be copied before it is written: check_request said so, or the transport adds an
/// Authorization field the request has not got.
inline bool needs_completion(const http_request& request, request_check check,
                             std::string_view authorization) {
  return check == request_check::needs_completion
         || (!authorization.empty() && request.count(boost::beast::http::field::authorization) == 0);
}

/// The parts of a request on the wire that are not in its head: the body, and after it what ends a chunked
/// body.
struct wire_body {
  std::string_view body;
  std::string_view tail;
};

/// Writes into `head` the request's start line, its fields and the blank line, and returns the rest of what
/// goes on the wire: the bytes Beast's serializer writes for a string body (a chunked one as one chunk and
/// the last chunk), without the serializer, whose buffer sequences cost each transport more compile time than
/// the rest of its write path. `head` is the caller's, so that a connection reuses its capacity.
inline wire_body write_head(const http_request& request, std::string& head) {
  head.clear();
  head.append(view(request.method_string())).append(1, ' ').append(view(request.target()));
  const unsigned version = request.version();
  head.append(" HTTP/");
  head.append(1, static_cast<char>('0' + version / 10)).append(1, '.');  // 10 or 11: check_request
  head.append(1, static_cast<char>('0' + version % 10)).append("\r\n");
  for (const auto& field : request)
    head.append(view(field.name_string())).append(": ").append(view(field.value())).append("\r\n");
  head.append("\r\n");
  const std::string_view body = request.body();
  if (!transfer_codings_of(request).chunked_last) return {body, {}};
  if (body.empty()) {
    head.append("0\r\n\r\n");
    return {};
  }
  char size[2 * sizeof(std::size_t)];
  const auto printed = std::to_chars(size, size + sizeof size, body.size(), 16);
  head.append(size, printed.ptr).append("\r\n");
  return {body, "\r\n0\r\n\r\n"};
}

/// A copy of `request` with Host, User-Agent, Authorization (when `authorization` is not empty) and its
/// payload fields set; a field the request has is kept.
inline http_request completed_request(const http_request& request, std::string_view host_header,
                                      std::string_view user_agent, std::string_view authorization = {}) {
  // Built field by field rather than copied and then set(): set() and prepare_payload() bring Beast's search
  // tree, its erase and its token-list filter into every program with a transport, for three fields. The
  // payload rule is prepare_payload()'s for a sized body, PATCH added: Content-Length when there is a body or
  // the method states an empty length (states_empty_length), no chunked coding either way; else none.
  namespace http = boost::beast::http;
  http_request completed;
  if (request.method() == http::verb::unknown)
    completed.method_string(request.method_string());
  else
    completed.method(request.method());
  completed.target(request.target());
  completed.version(request.version());
  const auto method = request.method();
  const std::size_t size = request.body().size();
  const bool framed = size > 0 || states_empty_length(method);
  bool has_host = false;
  bool has_user_agent = false;
  bool has_authorization = false;
  std::string other_codings;  // of every Transfer-Encoding field, without chunked, in one field below
  for (const auto& field : request) {
    switch (field.name()) {
      case http::field::content_length:
        continue;  // one, from the body, below
      case http::field::transfer_encoding:
        for_each_coding(view(field.value()), [&](std::string_view coding) {
          if (boost::beast::iequals(coding, "chunked")) return;
          if (!other_codings.empty()) other_codings.append(", ");
          other_codings.append(coding);
        });
        continue;
      case http::field::host:
        has_host = true;
        break;
      case http::field::user_agent:
        has_user_agent = true;
        break;
      case http::field::authorization:
        has_authorization = true;
        break;
      default:
        break;
    }
    completed.insert(field.name(), field.name_string(), field.value());
  }
  if (!other_codings.empty())
    completed.insert(http::field::transfer_encoding, "Transfer-Encoding", other_codings);
  if (!has_host) completed.insert(http::field::host, "Host", host_header);
  if (!has_user_agent) completed.insert(http::field::user_agent, "User-Agent", user_agent);
  if (!authorization.empty() && !has_authorization)
    completed.insert(http::field::authorization, "Authorization", authorization);
  if (framed) {
    char digits[24];
    const auto printed = std::to_chars(digits, digits + sizeof digits, size);
    completed.insert(http::field::content_length, "Content-Length",
                     std::string_view(digits, static_cast<std::size_t>(printed.ptr - digits)));
  }
  completed.body() = request.body();
  return completed;
}

/// The failure for a request check_request found unsafe: permanent (it would be refused again), not_sent,
/// and naming the part at fault without echoing its bytes (they may hold a secret or a terminal escape).
inline transport_failure refused_request(const http_request& request) {
  transport_failure refused{
      failure_kind::not_sent, make_error_code(boost::beast::http::error::bad_value), {}};
  refused.permanent = true;
  if (request.method() == boost::beast::http::verb::trace && !request.body().empty()) {
    refused.detail = "a TRACE request has a body, which TRACE may not have; not sent";
    return refused;
  }
  if (request.version() != 10 && request.version() != 11) {
    refused.detail = "the request's HTTP version is neither 1.0 nor 1.1; not sent";
    return refused;
  }
  if (!is_safe_request_word(view(request.target()))) {
    refused.detail = "the request target is empty or holds a space or control character; not sent";
    return refused;
  }
  if (!is_safe_request_word(view(request.method_string()))) {
    refused.detail = "the request method is not a token; not sent";
    return refused;
  }
  for (const auto& field : request) {
    const std::string name(view(field.name_string()));
    if (field.name() == boost::beast::http::field::unknown && !is_token(name)) {
      refused.detail = "a field name is not a token; not sent";
      return refused;
    }
    if (!is_safe_field_value(view(field.value()))) {
      refused.detail = "the field \"" + name + "\" holds a control character (CR, LF, NUL...); not sent";
      return refused;
    }
  }
  if (transfer_codings_of(request).other) {
    refused.detail =
        "Transfer-Encoding names a coding other than chunked, which leaves the body's length to "
        "guesswork; not sent";
    return refused;
  }
  refused.detail = "the request cannot be written safely; not sent";
  return refused;
}

/// What the transport does with a response head it has read: an interim (1xx) response is dropped and the
/// next one read, so that the final response answers this request and the next request on a kept-alive
/// connection reads its own; anything else below 200 fails the attempt.
struct interim_verdict {
  bool read_next = false;                  // an interim response to skip
  std::optional<transport_failure> fails;  // the attempt fails (ambiguous: the request was written)
};

/// `status` is below 200; `skipped` interim responses were dropped before it.
inline interim_verdict on_interim_response(unsigned status, unsigned skipped, unsigned max_interim) {
  namespace http = boost::beast::http;
  const auto bad_status = make_error_code(http::error::bad_status);
  if (status < 100)  // Beast reads any three digits; no such status exists
    return {false,
            transport_failure{failure_kind::ambiguous, bad_status,
                              "the reply is not valid HTTP/1.1 (status " + std::to_string(status) + ")"}};
  if (status == 101)  // switching protocols: nothing after it is HTTP/1.1, and no upgrade was asked for
    return {false,
            transport_failure{failure_kind::ambiguous, bad_status,
                              "the server switched protocols (101) although no upgrade was asked for"}};
  if (skipped + 1 > max_interim) {
    transport_failure too_many{
        failure_kind::ambiguous, bad_status,
        "the server sent more than " + std::to_string(max_interim) + " interim (1xx) responses"};
    too_many.permanent = true;
    return {false, std::move(too_many)};
  }
  return {true, std::nullopt};
}

/// A response over a limit would come again just as large: sending again cannot help.
inline bool is_permanent_read_error(const boost::system::error_code& ec) noexcept {
  namespace http = boost::beast::http;
  return ec == http::error::body_limit || ec == http::error::header_limit
         || ec == http::error::buffer_overflow;
}

/// A host name the DNS says does not exist (NXDOMAIN: EAI_NONAME, Asio's host_not_found) will not exist on
/// the next attempt either. A DNS time-out or a server failure (host_not_found_try_again) is transient.
inline bool is_permanent_resolve_error(const boost::system::error_code& ec) noexcept {
  return ec == boost::asio::error::host_not_found;
}

/// The limits a read error may name.
struct read_limits {
  std::chrono::milliseconds attempt_timeout;
  std::uint32_t header_limit;
  std::uint64_t body_limit;
  std::size_t buffer_limit;
};

/// The words for a failed read of the response; empty when the error code says it all.
inline std::string describe_read_error(const boost::system::error_code& ec, const read_limits& limits) {
  namespace http = boost::beast::http;
  if (ec == boost::system::errc::timed_out)
    return "no complete response within the attempt's " + std::to_string(limits.attempt_timeout.count())
           + " ms";
  if (ec == http::error::end_of_stream) return "the server closed the connection without answering";
  if (ec == http::error::partial_message) return "the response was cut off before its end";
  if (ec == http::error::body_limit)
    return "the response body is larger than the limit of " + std::to_string(limits.body_limit) + " bytes";
  if (ec == http::error::header_limit)
    return "the response header is larger than the limit of " + std::to_string(limits.header_limit)
           + " bytes";
  if (ec == http::error::buffer_overflow)
    return "a chunk-size line or trailer of the response is larger than the read buffer's limit of "
           + std::to_string(limits.buffer_limit) + " bytes";
  if (ec.category() == http::make_error_code(http::error::bad_version).category())
    return "the reply is not valid HTTP/1.1";
  if (ec == boost::system::errc::connection_reset) return "the server reset the connection";
  return {};
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_HTTP_EXCHANGE_HPP
