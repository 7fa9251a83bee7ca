#ifndef RETRYHTTP_BEAST_TRANSPORT_HPP
#define RETRYHTTP_BEAST_TRANSPORT_HPP

// The real Transport: HTTP/1.1 over TCP (IPv4 and IPv6) with Boost.Beast. The only core header that pulls in
// Asio and Beast's I/O. Each attempt runs on a private io_context in the calling thread, so a std::stop_token
// can cancel it from any thread at once, and every failure is classified exactly: not_sent until the first
// byte of the request may have been written, ambiguous after.

#include <retryhttp/client.hpp>
#include <retryhttp/detail/poll_stream.hpp>
#include <retryhttp/transport.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/errc.hpp>
#include <boost/url/parse.hpp>

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

namespace retryhttp {

/// Where a beast_transport connects: from "http://host:port" (IPv6 as "http://[::1]:port").
struct http_endpoint {
  std::string host;         ///< for the resolver: "127.0.0.1", "::1", "orchestrator.local"
  std::string port;         ///< "8080"; "80" when the URL has none
  std::string host_header;  ///< the Host field: "127.0.0.1:8080", "[::1]:8080", "example.com"

  /// Throws std::invalid_argument naming what is wrong: not a URL, a scheme other than http, no host, a path,
  /// query, fragment or user info (the orchestrator's routes are absolute; a base path is not supported yet).
  static http_endpoint parse(std::string_view url) {
    const auto parsed = boost::urls::parse_uri(boost::core::string_view(url.data(), url.size()));
    const std::string quoted = "\"" + std::string(url) + "\"";
    if (!parsed)
      throw std::invalid_argument("endpoint " + quoted + " is not a URL such as http://127.0.0.1:8080");
    const auto& u = *parsed;
    if (u.scheme_id() != boost::urls::scheme::http)
      throw std::invalid_argument("endpoint " + quoted + ": only http:// is supported, got scheme \""
                                  + std::string(u.scheme()) + "\"");
    if (u.host().empty()) throw std::invalid_argument("endpoint " + quoted + " has no host");
    if (u.has_userinfo()) throw std::invalid_argument("endpoint " + quoted + ": user info is not supported");
    if ((!u.path().empty() && u.path() != "/") || u.has_query() || u.has_fragment())
      throw std::invalid_argument("endpoint " + quoted + " must not have a path, query or fragment");
    http_endpoint endpoint;
    endpoint.host = std::string(u.host_address());
    if (u.host_type() == boost::urls::host_type::ipv6 && !endpoint.host.empty()
        && endpoint.host.front() == '[')
      endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
    endpoint.port = u.has_port() && !u.port().empty() ? std::string(u.port()) : std::string("80");
    if (u.has_port() && (u.port_number() == 0 && u.port() != "0"))
      throw std::invalid_argument("endpoint " + quoted + ": port out of range");
    endpoint.host_header = std::string(u.encoded_host_and_port());
    if (endpoint.host_header.empty()) endpoint.host_header = endpoint.host;
    return endpoint;
  }
};

struct beast_transport_options {
  /// Limit of resolving and connecting; the attempt's own timeout also applies. [connect_timeout_ms]
  std::chrono::milliseconds connect_timeout{3000};
  /// Limit of a whole attempt when the client gives none (retry_config::attempt_timeout of 0).
  std::chrono::milliseconds default_attempt_timeout{30'000};
  /// A response whose header (status line and fields) is larger fails with a clear error.
  std::uint32_t header_limit = 64 * 1024;
  /// A response whose body is larger fails with a clear error, never unbounded memory. Default 8 MiB.
  std::uint64_t body_limit = 8 * 1024 * 1024;
  /// The User-Agent field, set when the request has none.
  std::string user_agent = "retryhttp/0.1";
};

class beast_transport {
 public:
  using request_type = boost::beast::http::request<boost::beast::http::string_body>;
  using response_type = boost::beast::http::response<boost::beast::http::string_body>;

  /// Throws std::invalid_argument for a URL http_endpoint::parse rejects. Connects lazily, on the first
  /// attempt.
  explicit beast_transport(std::string_view url, beast_transport_options options = {})
      : state_(std::make_unique<state>(http_endpoint::parse(url), std::move(options))) {}

  /// A copy has the same endpoint and options, and a connection of its own.
  beast_transport(const beast_transport& other)
      : state_(std::make_unique<state>(other.state_->endpoint, other.state_->options)) {}
  beast_transport& operator=(const beast_transport& other) {
    if (this != &other) state_ = std::make_unique<state>(other.state_->endpoint, other.state_->options);
    return *this;
  }
  beast_transport(beast_transport&&) noexcept = default;
  beast_transport& operator=(beast_transport&&) noexcept = default;
  ~beast_transport() = default;

  /// The Transport requirement. One attempt: (re)connect if needed, write, read one response.
  attempt_outcome<response_type> attempt(const request_type& request, const attempt_context& context) {
    state& s = *state_;
    if (context.stop.stop_requested()) return failure(failure_kind::not_sent, canceled_code(), {});

    const auto timeout = context.timeout ? std::chrono::ceil<std::chrono::milliseconds>(*context.timeout)
                                         : s.options.default_attempt_timeout;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // A request on a kept-alive connection that is still open runs synchronously (poll_stream): the common
    // case costs a few syscalls instead of an io_context round. Connecting, and the first request on a
    // connection, use the Asio path below.
    if (s.wake >= 0 && reusable(s)) return exchange_blocking(s, request, deadline, context.stop);

    const std::uint64_t generation = ++s.generation;
    s.cancel_requested = false;
    std::optional<attempt_outcome<response_type>> outcome;

    s.io.restart();
    boost::asio::co_spawn(s.io, exchange(s, request, deadline, outcome), [](std::exception_ptr error) {
      if (error) std::rethrow_exception(error);
    });
    {
      // The callback runs on the thread that requests the stop; it only posts, and the io thread cancels. The
      // generation check keeps a late post from touching a later attempt.
      std::stop_callback on_stop(context.stop, [&s, generation] {
        boost::asio::post(s.io, [&s, generation] {
          if (generation != s.generation) return;
          s.cancel_requested = true;
          s.resolver.cancel();
          if (s.stream) s.stream->cancel();
        });
      });
      s.io.run();
    }
    if (!outcome)
      return failure(failure_kind::ambiguous, make_error_code(boost::system::errc::io_error), "aborted");
    return std::move(*outcome);
  }

  /// Connections opened so far: 1 after many calls means keep-alive worked.
  std::size_t connections_opened() const noexcept { return state_->connections_opened; }
  const http_endpoint& endpoint() const noexcept { return state_->endpoint; }
  const beast_transport_options& options() const noexcept { return state_->options; }

 private:
  using tcp = boost::asio::ip::tcp;
  using clock = std::chrono::steady_clock;

  struct state {
    state(http_endpoint e, beast_transport_options o)
        : endpoint(std::move(e)), options(std::move(o)), wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    ~state() {
      if (wake >= 0) ::close(wake);
    }
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    http_endpoint endpoint;
    beast_transport_options options;
    boost::asio::io_context io{1};
    tcp::resolver resolver{io};
    std::optional<boost::beast::tcp_stream> stream;
    boost::beast::flat_buffer buffer;
    std::uint64_t generation = 0;
    bool cancel_requested = false;
    std::size_t connections_opened = 0;
    int wake;  // eventfd a stop request writes to, waking a blocked poll_stream; -1 if none could be made
    std::atomic<bool> wake_signalled{false};
  };

  static boost::system::error_code canceled_code() {
    return make_error_code(boost::system::errc::operation_canceled);
  }
  static attempt_outcome<response_type> failure(failure_kind kind, boost::system::error_code code,
                                                std::string detail) {
    return transport_failure{kind, code, std::move(detail)};
  }

  static void close(state& s) {
    if (s.stream) {
      boost::system::error_code ignored;
      s.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      s.stream->socket().close(ignored);
      s.stream.reset();
    }
    s.buffer.clear();
  }

  // A kept-alive connection the server has closed (or sent stray bytes on) is replaced before anything is
  // written, so that a request on a stale connection is still not_sent. A non-blocking peek tells:
  // would_block means open and quiet.
  static bool reusable(state& s) {
    if (!s.stream || !s.stream->socket().is_open() || s.buffer.size() != 0) return false;
    // One recv(MSG_PEEK | MSG_DONTWAIT) on the descriptor: no mode switches (two ioctl calls each way with
    // asio's non_blocking()), so a reused connection costs one syscall to check.
    char byte = 0;
    const auto peeked = ::recv(s.stream->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  static attempt_outcome<response_type> exchange_blocking(state& s, const request_type& request,
                                                          clock::time_point deadline,
                                                          const std::stop_token& stop) {
    namespace http = boost::beast::http;
    // A stop in an earlier attempt may have left the eventfd signalled; drain it only then (a syscall saved
    // on every ordinary request).
    if (s.wake_signalled.exchange(false, std::memory_order_acquire)) {
      std::uint64_t drained = 0;
      while (::read(s.wake, &drained, sizeof drained) > 0) {
      }
    }
    // The callback runs on the stopping thread; writing to an eventfd is all it does. Its destructor waits
    // for a running callback, so no write from this attempt can reach the next one unannounced.
    std::stop_callback on_stop(stop, [&s] {
      s.wake_signalled.store(true, std::memory_order_release);
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto written = ::write(s.wake, &one, sizeof one);
    });
    detail::poll_stream stream(s.stream->socket().native_handle(), s.wake, deadline);
    auto fail = [&s](boost::system::error_code ec, std::string detail) {
      close(s);
      if (ec == boost::system::errc::operation_canceled) detail.clear();
      return failure(failure_kind::ambiguous, ec, std::move(detail));
    };

    std::optional<request_type> completed;
    if (!ready_to_send(request)) completed.emplace(complete(s, request));
    boost::system::error_code ec;
    http::write(stream, completed ? *completed : request, ec);
    if (ec) return fail(ec, "sending the request");

    http::response_parser<http::string_body> parser;
    parser.header_limit(s.options.header_limit);
    parser.body_limit(s.options.body_limit);
    if (request.method() == http::verb::head) parser.skip(true);
    http::read(stream, s.buffer, parser, ec);
    if (ec) return fail(ec, describe_read_error(s, ec));
    response_type response = parser.release();
    if (!response.keep_alive() || s.buffer.size() != 0) close(s);
    return response;
  }

  static request_type complete(const state& s, const request_type& request) {
    namespace http = boost::beast::http;
    request_type completed = request;
    if (completed.count(http::field::host) == 0) completed.set(http::field::host, s.endpoint.host_header);
    if (completed.count(http::field::user_agent) == 0)
      completed.set(http::field::user_agent, s.options.user_agent);
    completed.prepare_payload();
    return completed;
  }

  // What a request needs before it is written: Host, User-Agent and a correct Content-Length. A request that
  // has them is written as it is (no copy); otherwise a copy gets them.
  static bool ready_to_send(const request_type& request) {
    if (request.count(boost::beast::http::field::host) == 0) return false;
    if (request.count(boost::beast::http::field::user_agent) == 0) return false;
    if (request.chunked()) return true;
    const auto length = request[boost::beast::http::field::content_length];
    const std::string expected = std::to_string(request.body().size());
    if (!length.empty()) return std::string_view(length.data(), length.size()) == expected;
    // No Content-Length: fine only for an empty body on a method that does not expect one.
    const auto method = request.method();
    return request.body().empty() && method != boost::beast::http::verb::post
           && method != boost::beast::http::verb::put && method != boost::beast::http::verb::patch;
  }

  static std::string describe_read_error(const state& s, const boost::system::error_code& ec) {
    namespace http = boost::beast::http;
    if (ec == http::error::end_of_stream) return "the server closed the connection without answering";
    if (ec == http::error::partial_message) return "the response was cut off before its end";
    if (ec == http::error::body_limit)
      return "the response body is larger than the limit of " + std::to_string(s.options.body_limit)
             + " bytes";
    if (ec == http::error::header_limit)
      return "the response header is larger than the limit of " + std::to_string(s.options.header_limit)
             + " bytes";
    if (ec.category() == http::make_error_code(http::error::bad_version).category())
      return "the reply is not valid HTTP/1.1";
    if (ec == boost::asio::error::connection_reset) return "the server reset the connection";
    return {};
  }

  static boost::asio::awaitable<void> exchange(state& s, const request_type& request,
                                               clock::time_point deadline,
                                               std::optional<attempt_outcome<response_type>>& outcome) {
    namespace http = boost::beast::http;
    namespace asio = boost::asio;
    constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
    auto fail = [&s, &outcome](failure_kind kind, boost::system::error_code ec, std::string detail) {
      close(s);
      if (s.cancel_requested) {
        ec = canceled_code();
        detail.clear();
      } else if (ec == boost::beast::error::timeout) {
        ec = make_error_code(boost::system::errc::timed_out);
      }
      outcome = failure(kind, ec, std::move(detail));
    };

    // 1. A connection: the kept-alive one, or a new one. Nothing has been written yet: not_sent.
    if (!reusable(s)) {
      close(s);
      const auto connect_deadline = std::min(deadline, clock::now() + s.options.connect_timeout);
      // The resolver has no timeout of its own: a timer cancels it.
      asio::steady_timer resolve_timer(s.io, connect_deadline);
      bool resolve_timed_out = false;
      resolve_timer.async_wait([&](boost::system::error_code ec) {
        if (!ec) {
          resolve_timed_out = true;
          s.resolver.cancel();
        }
      });
      auto [resolve_error, endpoints] =
          co_await s.resolver.async_resolve(s.endpoint.host, s.endpoint.port, no_throw);
      resolve_timer.cancel();
      if (resolve_error) {
        fail(failure_kind::not_sent,
             resolve_timed_out ? make_error_code(boost::system::errc::timed_out) : resolve_error,
             "resolving " + s.endpoint.host);
        co_return;
      }
      s.stream.emplace(s.io);
      s.stream->expires_at(connect_deadline);
      auto [connect_error, connected] = co_await s.stream->async_connect(endpoints, no_throw);
      (void)connected;
      if (connect_error) {
        fail(failure_kind::not_sent, connect_error, "connecting to " + s.endpoint.host_header);
        co_return;
      }
      ++s.connections_opened;
      boost::system::error_code ignored;
      s.stream->socket().set_option(tcp::no_delay(true), ignored);
    }
    if (s.cancel_requested) {
      fail(failure_kind::not_sent, canceled_code(), {});
      co_return;
    }

    // 2. Write. From the first byte on, the server may act on the request: ambiguous.
    s.stream->expires_at(deadline);
    std::optional<request_type> completed;
    if (!ready_to_send(request)) completed.emplace(complete(s, request));
    auto [write_error, written] =
        co_await http::async_write(*s.stream, completed ? *completed : request, no_throw);
    (void)written;
    if (write_error) {
      fail(failure_kind::ambiguous, write_error, "sending the request");
      co_return;
    }

    // 3. Read one response, within the limits.
    http::response_parser<http::string_body> parser;
    parser.header_limit(s.options.header_limit);
    parser.body_limit(s.options.body_limit);
    if (request.method() == http::verb::head) parser.skip(true);
    auto [read_error, read] = co_await http::async_read(*s.stream, s.buffer, parser, no_throw);
    (void)read;
    if (read_error) {
      fail(failure_kind::ambiguous, read_error, describe_read_error(s, read_error));
      co_return;
    }
    response_type response = parser.release();
    // Bytes after the response, or a server that will close, end the connection here.
    if (!response.keep_alive() || s.buffer.size() != 0) close(s);
    outcome.emplace(std::move(response));
  }

  std::unique_ptr<state> state_;
};

/// The client most programs want: real HTTP, the ticket's backoff, steady time, RFC 9110 idempotency.
template <class Idempotency = method_idempotency>
using http_client = basic_client<beast_transport, exponential_backoff, system_clock, Idempotency>;

}  // namespace retryhttp

#endif  // RETRYHTTP_BEAST_TRANSPORT_HPP
