#ifndef RETRYHTTP_BEAST_TRANSPORT_HPP
#define RETRYHTTP_BEAST_TRANSPORT_HPP

// The real Transport: HTTP/1.1 over TCP (IPv4 and IPv6), TLS (https://, OpenSSL) or a Unix domain socket
// (unix:///path) with Boost.Beast. With async_beast_transport.hpp, the only core headers that pull in Asio
// and Beast's I/O.
// Resolving and connecting run on Asio, on a private io_context in the calling thread (the resolver and
// connect have timeouts and cancel at once). The exchange itself, a request and its response, runs
// synchronously on the blocking socket (detail::socket_stream): one sendmsg and one recvmsg when the server
// answers promptly. Over TLS, OpenSSL runs the handshake and the exchange on that same blocking stream
// (detail::blocking_tls_stream), with the same deadline and stop. A std::stop_token stops either part
// from any thread at once, and every failure is classified exactly: not_sent until the first byte of the
// request may have been written, ambiguous after.

#include <retryhttp/client.hpp>
#include <retryhttp/detail/blocking_tls.hpp>
#include <retryhttp/detail/http_exchange.hpp>
#include <retryhttp/detail/socket_stream.hpp>
#include <retryhttp/detail/tls.hpp>
#include <retryhttp/detail/wire_text.hpp>
#include <retryhttp/http_endpoint.hpp>
#include <retryhttp/tls_options.hpp>
#include <retryhttp/transport.hpp>
#include <retryhttp/version.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace retryhttp {

struct beast_transport_options {
  /// Limit of resolving and connecting; the attempt's own timeout also applies. [connect_timeout_ms]
  std::chrono::milliseconds connect_timeout{3000};
  /// Limit of a whole attempt when the client gives none (retry_config::attempt_timeout of 0).
  std::chrono::milliseconds default_attempt_timeout{30'000};
  /// A response whose header (status line and fields) is larger fails with a clear error.
  std::uint32_t header_limit = 64 * 1024;
  /// A response whose body is larger fails with a clear error, never unbounded memory. Default 8 MiB.
  std::uint64_t body_limit = 8 * 1024 * 1024;
  /// The read buffer's maximum (at least header_limit is used). Every part of a response that is not body
  /// (a chunk-size line with its extensions, the trailer) must fit in it: those parts have no limit of their
  /// own in Beast's parser, and this is what keeps a server that never ends them from growing the client.
  std::size_t read_buffer_limit = 128 * 1024;
  /// Interim (1xx) responses skipped before the final one; a server that sends more fails the attempt.
  unsigned max_interim_responses = 8;
  /// The User-Agent field, set when the request has none.
  std::string user_agent = "retryhttp/" RETRYHTTP_VERSION_STRING;
  /// The Authorization field ("Bearer <token>"), set on the wire when the request has none, or empty. It is
  /// added to the copy that is written, never to the caller's request, so no observer event, message or
  /// formatter sees it; no error repeats it. Costs a copy of each request.
  std::string authorization;
  /// Trust and client certificate of an https:// endpoint; ignored for http:// and unix://.
  tls_options tls;
};

class beast_transport {
 public:
  using request_type = boost::beast::http::request<boost::beast::http::string_body>;
  using response_type = boost::beast::http::response<boost::beast::http::string_body>;

  /// Throws std::invalid_argument for a URL http_endpoint::parse rejects, a user_agent option that could
  /// not be written as a field (a control character), or, for https://, TLS files that cannot be used
  /// (naming the option and OpenSSL's reason). Connects lazily, on the first attempt.
  explicit beast_transport(std::string_view url, beast_transport_options options = {})
      : state_(make_state(http_endpoint::parse(url), checked(std::move(options)))) {}

  /// A copy has the same endpoint and options (and shares the TLS context), and a connection of its own.
  beast_transport(const beast_transport& other)
      : state_(std::make_unique<state>(other.state_->endpoint, other.state_->options,
                                       other.state_->tls_context)) {}
  beast_transport& operator=(const beast_transport& other) {
    if (this != &other)
      state_ =
          std::make_unique<state>(other.state_->endpoint, other.state_->options, other.state_->tls_context);
    return *this;
  }
  beast_transport(beast_transport&&) noexcept = default;
  beast_transport& operator=(beast_transport&&) noexcept = default;
  ~beast_transport() = default;

  /// The Transport requirement. One attempt: (re)connect if needed, write, read one response. The outcome
  /// names the endpoint (endpoint().name()).
  attempt_outcome<response_type> attempt(const request_type& request, const attempt_context& context) {
    attempt_outcome<response_type> outcome = io<>::attempt_here(*state_, request, context);
    outcome.set_endpoint(state_->name);
    return outcome;
  }

 public:
  /// Connections opened so far: 1 after many calls means keep-alive worked.
  std::size_t connections_opened() const noexcept { return state_->connections_opened; }
  /// TLS handshakes completed, and how many of them resumed an earlier session (no certificate exchange).
  std::size_t tls_handshakes() const noexcept { return state_->tls_handshakes; }
  std::size_t tls_sessions_resumed() const noexcept { return state_->tls_sessions_resumed; }
  const http_endpoint& endpoint() const noexcept { return state_->endpoint; }
  const beast_transport_options& options() const noexcept { return state_->options; }

 private:
  using tcp = boost::asio::ip::tcp;
  using clock = std::chrono::steady_clock;

  using tls_stream = detail::blocking_tls_stream;

  struct state {
    state(http_endpoint e, beast_transport_options o, std::shared_ptr<boost::asio::ssl::context> context)
        : endpoint(std::move(e)),
          options(std::move(o)),
          tls_context(std::move(context)),
          buffer(std::max<std::size_t>(options.read_buffer_limit, options.header_limit)) {}
    http_endpoint endpoint;
    std::string name = endpoint.name();  // what outcomes and messages call the endpoint
    beast_transport_options options;
    std::shared_ptr<boost::asio::ssl::context> tls_context;  // https only; copies share it
    boost::asio::io_context io{1};
    tcp::resolver resolver{io};
    // Connected, in blocking mode, or empty. A generic stream socket: TCP or a Unix domain socket alike.
    std::optional<boost::asio::generic::stream_protocol::socket> stream;
    // Over `stream` for https, after a completed handshake.
    std::optional<tls_stream> tls;
    detail::tls_session_cache tls_sessions;
    bool answered = false;  // a response has come on this connection (a TLS 1.3 refusal comes before one)
    boost::beast::flat_buffer buffer;
    std::string head;  // the head of the request being written; its capacity serves the next one
    std::chrono::milliseconds attempt_timeout{0};  // of the attempt under way, for its messages
    std::chrono::microseconds receive_timeout{0};  // the connection's SO_RCVTIMEO (zero: not set yet)
    std::uint64_t generation = 0;
    bool cancel_requested = false;
    std::size_t connections_opened = 0;
    std::size_t tls_handshakes = 0;
    std::size_t tls_sessions_resumed = 0;
  };

  static std::unique_ptr<state> make_state(http_endpoint endpoint, beast_transport_options options) {
    auto tls = endpoint.tls ? detail::make_tls_context(options.tls) : nullptr;
    return std::make_unique<state>(std::move(endpoint), std::move(options), std::move(tls));
  }

  static beast_transport_options checked(beast_transport_options options) {
    if (!detail::is_safe_field_value(options.user_agent))
      throw std::invalid_argument("beast_transport_options::user_agent holds a control character");
    // Named, never shown: the value is a credential.
    if (!detail::is_safe_field_value(options.authorization))
      throw std::invalid_argument("beast_transport_options::authorization holds a control character");
    return options;
  }

  // The attempt's I/O. A class template only so that a program built with RETRYHTTP_SEPARATE_COMPILATION
  // compiles it once, in the translation unit that includes <retryhttp/src.hpp> (extern template below);
  // there is only ever io<void>.
  template <class Unused = void>
  struct io {
    static attempt_outcome<response_type> attempt_here(state& s, const request_type& request,
                                                       const attempt_context& context) {
      if (context.stop.stop_requested()) return failure(failure_kind::not_sent, canceled_code(), {});

      const auto timeout = context.timeout ? std::chrono::ceil<std::chrono::milliseconds>(*context.timeout)
                                           : s.options.default_attempt_timeout;
      // Checked before connecting: a request that cannot be written safely is refused without touching the
      // network, and refused again on any retry.
      const detail::request_check check = detail::check_request(request);
      if (check == detail::request_check::unsafe_to_write) return detail::refused_request(request);
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      s.attempt_timeout = timeout;
      if (!reusable(s)) {
        close(s);
        if (auto failed = connect(s, deadline, context.stop)) return std::move(*failed);
      }
      return exchange(s, request, detail::needs_completion(request, check, s.options.authorization), deadline,
                      context.stop);
    }

    static boost::system::error_code canceled_code() {
      return make_error_code(boost::system::errc::operation_canceled);
    }
    static attempt_outcome<response_type> failure(failure_kind kind, boost::system::error_code code,
                                                  std::string detail) {
      return transport_failure{kind, code, std::move(detail)};
    }

    static void close(state& s) {
      if (s.tls) {
        // Without this, OpenSSL takes a connection freed before a close_notify as broken and marks its
        // session not resumable. A session of a connection that failed at the TLS level is dropped before
        // (clear()).
        detail::forget_connection_keeping_session(s.tls->native_handle());
        s.tls.reset();
      }
      if (s.stream) {
        boost::system::error_code ignored;
        s.stream->shutdown(boost::asio::socket_base::shutdown_both, ignored);
        s.stream->close(ignored);
        s.stream.reset();
      }
      s.buffer.clear();
    }

    // A kept-alive connection the server has closed (or sent stray bytes on) is replaced before anything is
    // written, so that a request on a stale connection is still not_sent. A non-blocking peek tells:
    // would_block means open and quiet.
    static bool reusable(state& s) {
      if (!s.stream || !s.stream->is_open() || s.buffer.size() != 0) return false;
      if (s.endpoint.tls && (!s.tls || s.tls->has_pending())) return false;
      // One recv(MSG_PEEK | MSG_DONTWAIT) on the descriptor: no mode switches (two ioctl calls each way with
      // asio's non_blocking()), so a reused connection costs one syscall to check.
      char byte = 0;
      const auto peeked = ::recv(s.stream->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    // One request and its response on the connected socket. The stop callback shuts the socket down, which
    // wakes a blocked read or write at once. It is registered only while the exchange runs, and the socket is
    // closed only after it is gone (the closer is destroyed after on_stop), so it never touches a closed or
    // reused descriptor. The outcome is returned straight from write_and_read: no move of the response on the
    // way.
    static attempt_outcome<response_type> exchange(state& s, const request_type& request,
                                                   bool needs_completion, clock::time_point deadline,
                                                   const std::stop_token& stop) {
      struct close_unless_kept {
        state& s;
        bool keep = false;
        std::atomic<bool> stopped{false};
        ~close_unless_kept() {
          if (!keep || stopped.load(std::memory_order_acquire)) close(s);
        }
      } closer{s};
      const int socket = s.stream->native_handle();
      const shutdown_on_stop on_stop(stop, socket, closer.stopped);
      if (closer.stopped.load(std::memory_order_acquire))  // stopped before a byte was written
        return failure(failure_kind::not_sent, canceled_code(), {});
      detail::socket_stream stream(socket, deadline, s.receive_timeout, closer.stopped);
      if (s.tls) {
        const bound_layer bound(*s.tls, stream);
        return write_and_read(s, {stream, &*s.tls}, request, needs_completion, closer.keep);
      }
      return write_and_read(s, {stream, nullptr}, request, needs_completion, closer.keep);
    }

    // While it lives, a stop requested from any thread sets `stopped` and shuts the socket down, which wakes
    // a thread blocked on it at once.
    class shutdown_on_stop {
     public:
      shutdown_on_stop(const std::stop_token& stop, int socket, std::atomic<bool>& stopped)
          : callback_(stop, wake{&stopped, socket}) {}

     private:
      struct wake {
        std::atomic<bool>* stopped;
        int socket;
        void operator()() const noexcept {
          stopped->store(true, std::memory_order_release);
          ::shutdown(socket, SHUT_RDWR);
        }
      };
      std::stop_callback<wake> callback_;
    };

    // The TLS stream reads and writes through `stream` while this lives.
    struct bound_layer {
      bound_layer(tls_stream& t, detail::socket_stream& stream) : tls(t) { tls.use(&stream); }
      bound_layer(const bound_layer&) = delete;
      bound_layer& operator=(const bound_layer&) = delete;
      ~bound_layer() { tls.use(nullptr); }
      tls_stream& tls;
    };

    // What the exchange writes to and reads from: the socket, or TLS over it, chosen at run time. One stream
    // type, so that the write loop and Beast's parser loop are compiled once, not once per stream; and the
    // buffers reach either stream as one sequence type (at most 16 buffers a call, as socket_stream takes),
    // so each stream's own write_some and read_some is compiled once as well.
    struct exchange_stream {
      detail::socket_stream& plain;
      tls_stream* tls;

      template <class Buffer>
      struct buffer_list {
        Buffer items[16];
        std::size_t count = 0;
        template <class Sequence>
        explicit buffer_list(const Sequence& buffers) {
          for (auto it = boost::asio::buffer_sequence_begin(buffers);
               it != boost::asio::buffer_sequence_end(buffers) && count < 16; ++it)
            if (const Buffer buffer(*it); buffer.size() != 0) items[count++] = buffer;
        }
        const Buffer* begin() const noexcept { return items; }
        const Buffer* end() const noexcept { return items + count; }
      };
      using const_buffers = buffer_list<boost::asio::const_buffer>;
      using mutable_buffers = buffer_list<boost::asio::mutable_buffer>;

      template <class ConstBufferSequence>
      std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
        return write_list(const_buffers(buffers), ec);
      }
      template <class MutableBufferSequence>
      std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
        return read_list(mutable_buffers(buffers), ec);
      }
      // The throwing overloads SyncReadStream and SyncWriteStream ask for (Beast's http::write and read
      // with an error_code never call them).
      template <class ConstBufferSequence>
      std::size_t write_some(const ConstBufferSequence& buffers) {
        return detail::or_throw([&](boost::system::error_code& ec) { return write_some(buffers, ec); });
      }
      template <class MutableBufferSequence>
      std::size_t read_some(const MutableBufferSequence& buffers) {
        return detail::or_throw([&](boost::system::error_code& ec) { return read_some(buffers, ec); });
      }

      std::size_t write_list(const const_buffers& buffers, boost::system::error_code& ec) {
        return tls ? tls->write_some(buffers, ec) : plain.write_some(buffers, ec);
      }
      std::size_t read_list(const mutable_buffers& buffers, boost::system::error_code& ec) {
        return tls ? tls->read_some(buffers, ec) : plain.read_some(buffers, ec);
      }
    };

    static attempt_outcome<response_type> write_and_read(state& s, exchange_stream stream,
                                                         const request_type& request, bool needs_completion,
                                                         bool& keep) {
      namespace http = boost::beast::http;
      auto fail = [](failure_kind kind, boost::system::error_code ec, std::string detail) {
        if (ec == boost::system::errc::operation_canceled) detail.clear();
        return failure(kind, ec, std::move(detail));
      };

      std::optional<request_type> completed;
      if (needs_completion)
        completed.emplace(detail::completed_request(request, s.endpoint.host_header, s.options.user_agent,
                                                    s.options.authorization));
      boost::system::error_code ec;
      const auto wire = detail::write_head(completed ? *completed : request, s.head);
      const std::array<boost::asio::const_buffer, 3> buffers{
          boost::asio::buffer(s.head), boost::asio::buffer(wire.body.data(), wire.body.size()),
          boost::asio::buffer(wire.tail.data(), wire.tail.size())};
      const auto written = boost::asio::write(stream, buffers, ec);
      // Refused before its first byte (a reset connection, a stop): the server cannot have seen the request.
      if (ec)
        return fail(written == 0 ? failure_kind::not_sent : failure_kind::ambiguous, ec,
                    "sending the request");

      // Interim responses (100 Continue, 103 Early Hints) come before the final one on the same connection:
      // each is read and dropped, so that the final response answers this request and the next request on a
      // kept-alive connection reads its own.
      for (unsigned interim = 0;; ++interim) {
        http::response_parser<http::string_body> parser;
        parser.header_limit(s.options.header_limit);
        parser.body_limit(s.options.body_limit);
        if (request.method() == http::verb::head) parser.skip(true);
        http::read(stream, s.buffer, parser, ec);
        if (stream.tls) {
          if (ec.category() == boost::asio::error::get_ssl_category()) s.tls_sessions.clear();
          if (ec && !s.answered && detail::is_client_certificate_alert(ec))
            return detail::client_certificate_refused(ec, s.options.tls);
          if (ec == boost::asio::ssl::error::stream_truncated)
            return fail(failure_kind::ambiguous, ec,
                        "the server closed the TLS connection without answering");
        }
        if (ec) {
          auto failed = fail(failure_kind::ambiguous, ec,
                             detail::describe_read_error(ec, {s.attempt_timeout, s.options.header_limit,
                                                              s.options.body_limit, s.buffer.max_size()}));
          failed.failure().permanent = detail::is_permanent_read_error(ec);
          return failed;
        }
        const unsigned status = parser.get().result_int();
        if (status >= 200) {
          // Bytes after the response, or a server that will close (the parser's keep_alive also knows a body
          // that ends at the connection's end), end the connection here.
          keep = parser.keep_alive() && s.buffer.size() == 0;
          s.answered = true;
          return parser.release();
        }
        auto verdict = detail::on_interim_response(status, interim, s.options.max_interim_responses);
        if (verdict.fails) return std::move(*verdict.fails);
      }
    }

    // Resolves and connects on Asio (both have timeouts and cancel at once), then leaves the socket in
    // blocking mode for the exchange. Nothing has been written yet: every failure here is not_sent.
    static std::optional<transport_failure> connect(state& s, clock::time_point deadline,
                                                    const std::stop_token& stop) {
      const std::uint64_t generation = ++s.generation;
      s.cancel_requested = false;
      std::optional<transport_failure> failed;
      const auto connect_deadline = std::min(deadline, clock::now() + s.options.connect_timeout);
      s.io.restart();
      connecting steps(s, connect_deadline, failed);
      steps.start();
      {
        // The callback runs on the thread that requests the stop; it only posts, and the io thread cancels.
        // The generation check keeps a late post from touching a later attempt.
        std::stop_callback on_stop(stop, [&s, generation] {
          boost::asio::post(s.io, [&s, generation] {
            if (generation != s.generation) return;
            s.cancel_requested = true;
            s.resolver.cancel();
            if (s.stream) {
              boost::system::error_code ignored;
              s.stream->cancel(ignored);
            }
          });
        });
        s.io.run();
      }
      if (!failed && s.endpoint.tls) failed = handshake(s, connect_deadline, stop);
      if (failed) close(s);
      return failed;
    }

    // The TLS handshake on the connected blocking socket, within the connect deadline. Nothing of the request
    // has been written: every failure is not_sent, and a refusal by the TLS protocol is also permanent.
    static std::optional<transport_failure> handshake(state& s, clock::time_point connect_deadline,
                                                      const std::stop_token& stop) {
      s.tls.emplace(s.tls_context->native_handle());
      SSL* ssl = s.tls->native_handle();
      if (!detail::prepare_tls_connection(ssl, s.endpoint, s.tls_sessions)) {
        transport_failure refused{
            failure_kind::not_sent, tls_error::handshake_refused,
            detail::take_openssl_reason() + "; setting up TLS for " + s.endpoint.name()};
        refused.permanent = true;
        return refused;
      }
      std::atomic<bool> stopped{false};
      const int socket = s.stream->native_handle();
      const shutdown_on_stop on_stop(stop, socket, stopped);
      detail::socket_stream stream(socket, connect_deadline, s.receive_timeout, stopped);
      boost::system::error_code ec;
      {
        const bound_layer bound(*s.tls, stream);
        s.tls->handshake(ec);
      }
      if (stopped.load(std::memory_order_acquire))
        return transport_failure{failure_kind::not_sent, canceled_code(), {}};
      if (ec) {
        s.tls_sessions.clear();  // a session the server would not resume is not offered again
        return detail::handshake_failure(ssl, ec, s.endpoint, s.options.tls);
      }
      ++s.tls_handshakes;
      if (::SSL_session_reused(ssl)) ++s.tls_sessions_resumed;
      return std::nullopt;
    }

    // Resolving and connecting, on the private io_context while connect() runs it: plain completion handlers
    // (a coroutine frame would cost more to compile than the whole exchange). Lives on connect()'s frame.
    struct connecting {
      using generic = boost::asio::generic::stream_protocol;

      connecting(state& st, clock::time_point d, std::optional<transport_failure>& f)
          : s(st), deadline(d), failed(f), timer(st.io, d) {}

      state& s;
      clock::time_point deadline;
      std::optional<transport_failure>& failed;
      boost::asio::steady_timer timer;  // at the deadline: ends the resolve, then the connect
      bool timed_out = false;
      std::vector<generic::endpoint> endpoints;

      void fail(boost::system::error_code ec, std::string detail) {
        if (s.cancel_requested) {
          ec = canceled_code();
          detail.clear();
        } else if (timed_out) {
          ec = make_error_code(boost::system::errc::timed_out);
        }
        failed = transport_failure{failure_kind::not_sent, ec, std::move(detail)};
      }

      void start() {
        if (s.endpoint.is_unix_socket()) {
          endpoints.emplace_back(boost::asio::local::stream_protocol::endpoint(s.endpoint.socket_path));
          return connect();
        }
        // The resolver has no timeout of its own: a timer cancels it.
        timer.async_wait([this](boost::system::error_code ec) {
          if (!ec) {
            timed_out = true;
            s.resolver.cancel();
          }
        });
        s.resolver.async_resolve(s.endpoint.host, s.endpoint.port,
                                 [this](boost::system::error_code ec, tcp::resolver::results_type resolved) {
                                   timer.cancel();
                                   if (ec) {
                                     fail(ec, "resolving " + s.endpoint.host);
                                     failed->permanent = detail::is_permanent_resolve_error(failed->code);
                                     return;
                                   }
                                   for (const auto& entry : resolved)
                                     endpoints.emplace_back(entry.endpoint());
                                   connect();
                                 });
      }

      // Asio's range connect on a plain socket, and the timer for the deadline: Beast's basic_stream would
      // time it too, at the cost of compiling its timeout machinery into every program for one connect. The
      // condition stops the range at the next endpoint once the time is up or a stop came.
      void connect() {
        s.stream.emplace(s.io);
        timer.expires_at(deadline);
        timer.async_wait([this](boost::system::error_code ec) {
          if (ec || !s.stream) return;
          timed_out = true;
          boost::system::error_code ignored;
          s.stream->cancel(ignored);
        });
        boost::asio::async_connect(
            *s.stream, endpoints,
            [this](const boost::system::error_code&, const generic::endpoint&) {
              return !timed_out && !s.cancel_requested;
            },
            [this](boost::system::error_code ec, const generic::endpoint&) {
              timer.cancel();
              connected(ec);
            });
      }

      void connected(boost::system::error_code connect_error) {
        if (connect_error) return fail(connect_error, "connecting to " + s.endpoint.name());
        if (s.cancel_requested) return fail(canceled_code(), {});
        ++s.connections_opened;
        s.answered = false;
        s.receive_timeout = std::chrono::microseconds(0);
        boost::system::error_code ec;
        if (!s.endpoint.is_unix_socket()) s.stream->set_option(tcp::no_delay(true), ec);
        s.stream->native_non_blocking(false, ec);  // Asio made it non-blocking for async_connect
        if (ec) fail(ec, "connecting to " + s.endpoint.name());
      }
    };
  };

  std::unique_ptr<state> state_;
};

/// The client most programs want: real HTTP, the default backoff, steady time, RFC 9110 idempotency.
template <class Idempotency = method_idempotency>
using http_client = basic_client<beast_transport, exponential_backoff, system_clock, Idempotency>;

#if defined(RETRYHTTP_SEPARATE_COMPILATION)
// Compiled once, by the translation unit that includes <retryhttp/src.hpp>.
extern template struct beast_transport::io<void>;
extern template class basic_client<beast_transport>;
#endif

}  // namespace retryhttp

#endif  // RETRYHTTP_BEAST_TRANSPORT_HPP
