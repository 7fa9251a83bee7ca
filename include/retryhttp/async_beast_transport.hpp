#ifndef RETRYHTTP_ASYNC_BEAST_TRANSPORT_HPP
#define RETRYHTTP_ASYNC_BEAST_TRANSPORT_HPP

// The asynchronous Beast transport, a model of AsyncTransport: HTTP/1.1 over TCP, TLS (https://) or a Unix
// domain socket (unix:///path) on the caller's executor, with a pool of kept-alive connections to its
// endpoint.
//
// - The pool holds at most max_connections connections, open or being opened. An attempt takes the most
//   recently used idle connection, else opens one, else waits in line for one (first come, first served)
//   until its attempt timeout: a waiting attempt has sent nothing, so its time-out is not_sent.
// - Before an idle connection is reused, one recv(MSG_PEEK | MSG_DONTWAIT) tells whether the server has
//   closed it (or sent stray bytes on it); such a connection is replaced before anything is written, so that
//   not_sent versus ambiguous stays exact, as in the synchronous beast_transport.
// - A connection idle for longer than idle_timeout is closed when the pool next looks at its idle list. No
//   timer keeps watch over idle connections: a pending timer would keep io_context::run from returning.
// - Resolving has a timeout (a timer cancels the resolver; a numeric host is not resolved at all), connecting
//   (with the TLS handshake) has connect_timeout, and the whole attempt has its timeout (the stream's
//   expiry).
// - TLS: Beast's ssl_stream over the connection's stream, with the trust, host check, session resumption and
//   failure classification of detail/tls.hpp, shared with beast_transport.
// - Requests are checked and completed as in beast_transport (detail/http_exchange.hpp), interim (1xx)
//   responses are skipped in the same way, and the same size limits apply per connection.
//
// Threads: every access to the pool runs on the transport's executor; each operation hops there first and
// completes on its handler's associated executor. On an io_context run by one thread that is all it takes.
// On an io_context run by several threads, give the transport a strand (asio::make_strand(io)), as for any
// Asio I/O object: the strand is what serializes the pool's handlers.
//
// Cancellation: terminal cancellation through the handler's cancellation slot ends the attempt at once.
// Before the request's first byte is written it is not_sent (a waiting attempt leaves the line, a connect is
// abandoned); after, ambiguous, and the connection is closed. attempt_context::stop is checked before the
// attempt starts; during the attempt, basic_client forwards call_options::stop to the slot.

#include <retryhttp/async.hpp>
#include <retryhttp/backoff.hpp>
#include <retryhttp/beast_transport.hpp>
#include <retryhttp/detail/http_exchange.hpp>
#include <retryhttp/detail/operation_memory.hpp>
#include <retryhttp/detail/tls.hpp>
#include <retryhttp/http_endpoint.hpp>
#include <retryhttp/transport.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/system/errc.hpp>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace retryhttp {

struct async_beast_transport_options : beast_transport_options {
  /// Connections to the endpoint, open or being opened, at most. An attempt that finds them all busy waits
  /// for one. At least 1.
  std::size_t max_connections = 16;
  /// A connection idle for longer is closed instead of reused.
  std::chrono::milliseconds idle_timeout{30'000};
};

template <class Executor = boost::asio::any_io_executor>
class async_beast_transport {
 public:
  using executor_type = Executor;
  using request_type = boost::beast::http::request<boost::beast::http::string_body>;
  using response_type = boost::beast::http::response<boost::beast::http::string_body>;

  /// Throws std::invalid_argument for a URL http_endpoint::parse rejects, a user_agent with a control
  /// character, max_connections of 0, or TLS files that cannot be used. Connects lazily.
  async_beast_transport(Executor executor, std::string_view url, async_beast_transport_options options = {})
      : pool_(std::make_shared<pool>(std::move(executor), http_endpoint::parse(url),
                                     checked(std::move(options)))) {}

  /// Move-only, as Asio's I/O objects: the pool is the transport's.
  async_beast_transport(async_beast_transport&&) noexcept = default;
  async_beast_transport& operator=(async_beast_transport&&) noexcept = default;
  async_beast_transport(const async_beast_transport&) = delete;
  async_beast_transport& operator=(const async_beast_transport&) = delete;
  ~async_beast_transport() = default;

  executor_type get_executor() const noexcept { return pool_->executor; }

  /// The AsyncTransport requirement: one attempt, completing with void(attempt_outcome<response_type>).
  /// `request` must stay valid until the operation completes.
  template <class Token>
  auto async_attempt(const request_type& request, const attempt_context& context, Token&& token) {
    return boost::asio::async_initiate<Token, void(attempt_outcome<response_type>)>(
        initiate_attempt{pool_}, token, &request, context.stop.stop_requested(), context.timeout);
  }

  /// Connections opened so far (each one resolved and connected).
  std::size_t connections_opened() const noexcept { return pool_->opened.load(std::memory_order_relaxed); }
  /// Connections open or being opened now, idle ones included.
  std::size_t open_connections() const noexcept { return pool_->open_count.load(std::memory_order_relaxed); }
  /// The most connections open at once so far: never above options().max_connections.
  std::size_t peak_connections() const noexcept { return pool_->peak.load(std::memory_order_relaxed); }
  /// TLS handshakes completed, and how many of them resumed an earlier session.
  std::size_t tls_handshakes() const noexcept { return pool_->handshakes.load(std::memory_order_relaxed); }
  std::size_t tls_sessions_resumed() const noexcept { return pool_->resumed.load(std::memory_order_relaxed); }
  const http_endpoint& endpoint() const noexcept { return pool_->endpoint; }
  const async_beast_transport_options& options() const noexcept { return pool_->options; }

 private:
  using tcp = boost::asio::ip::tcp;
  using clock = std::chrono::steady_clock;
  // A generic stream socket: TCP or a Unix domain socket alike.
  using protocol = boost::asio::generic::stream_protocol;
  using stream_type = boost::beast::basic_stream<protocol, Executor>;
  using tls_stream = boost::beast::ssl_stream<stream_type&>;

  // Not movable once made (tls refers to stream): connections live in unique_ptrs.
  struct connection {
    connection(const Executor& executor, std::size_t buffer_limit) : stream(executor), buffer(buffer_limit) {}
    stream_type stream;
    std::optional<tls_stream> tls;  // over stream, for https
    boost::beast::flat_buffer buffer;
    std::string head;  // the head of the request being written; its capacity serves the next one
    clock::time_point idle_since{};
    bool answered = false;  // a response has come (a TLS 1.3 refusal of the client comes before one)
  };

  struct attempt_state;

  // Shared by the transport and its operations, so that an operation still running when the transport is
  // moved keeps what it uses. Everything but the counters is touched on the executor only.
  struct pool {
    pool(Executor e, http_endpoint where, async_beast_transport_options o)
        : executor(std::move(e)),
          endpoint(std::move(where)),
          options(std::move(o)),
          tls_context(endpoint.tls ? detail::make_tls_context(options.tls) : nullptr) {
      if (endpoint.is_unix_socket()) {
        numeric.emplace_back(boost::asio::local::stream_protocol::endpoint(endpoint.socket_path));
        return;
      }
      boost::system::error_code ec;
      const auto address = boost::asio::ip::make_address(endpoint.host, ec);
      if (!ec)
        numeric.emplace_back(tcp::endpoint(address, static_cast<unsigned short>(std::stoul(endpoint.port))));
    }
    Executor executor;
    http_endpoint endpoint;
    std::string name = endpoint.name();  // what outcomes and messages call the endpoint
    async_beast_transport_options options;
    std::shared_ptr<boost::asio::ssl::context> tls_context;  // https only
    detail::tls_session_cache sessions;
    std::vector<protocol::endpoint> numeric;  // the endpoint, when the host is an address or a socket path
    std::vector<std::unique_ptr<connection>> idle;  // least recently used first
    std::size_t open = 0;                           // idle, in use and being opened
    // Attempts waiting for a connection, in order. Weak: a waiting attempt is kept alive by its own timer's
    // handler, so that an io_context destroyed with attempts in line frees them (and this pool).
    std::deque<std::weak_ptr<attempt_state>> line;
    std::atomic<std::size_t> opened{0};
    std::atomic<std::size_t> open_count{0};
    std::atomic<std::size_t> peak{0};
    std::atomic<std::size_t> handshakes{0};
    std::atomic<std::size_t> resumed{0};

    std::size_t buffer_limit() const {
      return std::max<std::size_t>(options.read_buffer_limit, options.header_limit);
    }

    void count_open(std::ptrdiff_t change) {
      open = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(open) + change);
      open_count.store(open, std::memory_order_relaxed);
      if (open > peak.load(std::memory_order_relaxed)) peak.store(open, std::memory_order_relaxed);
    }
  };

  enum class stage { starting, waiting, resolving, connecting, handshaking, writing, reading, done };

  // What lives for one attempt, on the heap (the handler's allocator, else detail::block_cache) so that the
  // line of waiting attempts and the cancellation handler can refer to it.
  struct attempt_state {
    attempt_state(std::shared_ptr<pool> p, const request_type* r)
        : owner(std::move(p)), request(r), timer(owner->executor) {}
    std::shared_ptr<pool> owner;
    const request_type* request;
    std::optional<request_type> completed;  // the request with Host, User-Agent and Content-Length added
    std::chrono::milliseconds timeout{0};
    clock::time_point deadline{};
    clock::time_point connect_deadline{};  // resolving and connecting together
    stage now = stage::starting;
    std::unique_ptr<connection> conn;
    bool may_open = false;  // a waiting attempt was given a free slot to open a connection in
    bool canceled = false;
    unsigned interim = 0;
    boost::asio::basic_waitable_timer<clock, boost::asio::wait_traits<clock>, Executor> timer;
    // Constructed only for a host name: a resolver costs an allocation.
    std::optional<typename tcp::resolver::template rebind_executor<Executor>::other> resolver;
    std::vector<protocol::endpoint> resolved;
    // Cancels a connect to a host name's several addresses as a whole (cancelling the stream would end only
    // the address being tried, and the connect would go on to the next).
    boost::asio::cancellation_signal connect_cancel;
    std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser;

    const request_type& to_write() const { return completed ? *completed : *request; }

    // Terminal cancellation, on the executor: whatever is in flight ends at once.
    void cancel() {
      if (now == stage::done || canceled) return;
      canceled = true;
      switch (now) {
        case stage::waiting:
          timer.cancel();
          break;
        case stage::resolving:
          // getaddrinfo cannot be interrupted: the resolve timer's handler ends the attempt at once instead,
          // and the resolver's late answer is dropped.
          if (resolver) resolver->cancel();
          timer.cancel();
          break;
        case stage::connecting:
          connect_cancel.emit(boost::asio::cancellation_type::terminal);
          if (conn) conn->stream.cancel();
          break;
        case stage::handshaking:
        case stage::writing:
        case stage::reading:
          if (conn) conn->stream.cancel();
          break;
        default:
          break;
      }
    }
  };

  // One attempt as a hand-written asynchronous operation, in two layers:
  // - attempt_io<Allocator> does the attempt's I/O (wait in line, resolve, connect, handshake, write, read).
  //   The operations it starts (Beast's and Asio's) get a small handler of their own (step) that points at
  //   the attempt, with the attempt's allocator. It depends on the caller's handler only through that
  //   allocator type, so a program compiles the I/O once per allocator type (almost always one: the
  //   handler's default), not once per completion handler type: each handler type used to instantiate all
  //   of Beast's and Asio's operations, TLS included, again.
  // - attempt<Handler> holds the caller's handler and the outstanding work on its executor, and completes
  //   through a function pointer the I/O layer calls once.
  // Neither moves the caller's handler through the layers of Beast and Asio, as a composed operation would:
  // that cost about a tenth of a kept-alive exchange.
  template <class Allocator>
  struct attempt_io : attempt_state {
    using completion = void (*)(std::shared_ptr<attempt_io>, attempt_outcome<response_type>&&, bool soon);

    attempt_io(std::shared_ptr<pool> p, const request_type* r, const Allocator& a, completion c)
        : attempt_state(std::move(p), r), allocator(a), complete(c) {}

    Allocator allocator;
    completion complete;
    boost::asio::cancellation_slot slot;

    // What the operations the attempt starts complete to: on the transport's executor, with the attempt's
    // allocator.
    struct step {
      std::shared_ptr<attempt_io> self;
      using executor_type = Executor;
      executor_type get_executor() const noexcept { return self->owner->executor; }
      using allocator_type = Allocator;
      allocator_type get_allocator() const noexcept { return self->allocator; }
      template <class... Args>
      void operator()(Args&&... args) {
        attempt_io::on(std::move(self), std::forward<Args>(args)...);
      }
    };

    static void start(std::shared_ptr<attempt_io> self, boost::asio::cancellation_slot slot,
                      bool stop_requested, std::optional<std::chrono::nanoseconds> timeout) {
      attempt_io& a = *self;
      const auto limit = timeout ? std::chrono::ceil<std::chrono::milliseconds>(*timeout)
                                 : a.owner->options.default_attempt_timeout;
      a.timeout = limit;
      a.deadline = clock::now() + limit;
      if (stop_requested)
        return finish_soon(std::move(self), fail(failure_kind::not_sent, canceled_code(), {}));
      // Checked before a connection is taken: a request that cannot be written safely is refused without
      // touching the network, and refused again on any retry.
      const auto check = detail::check_request(*a.request);
      if (check == detail::request_check::unsafe_to_write)
        return finish_soon(std::move(self), detail::refused_request(*a.request));
      if (detail::needs_completion(*a.request, check, a.owner->options.authorization))
        a.completed.emplace(detail::completed_request(*a.request, a.owner->endpoint.host_header,
                                                      a.owner->options.user_agent,
                                                      a.owner->options.authorization));
      a.slot = slot;
      if (a.slot.is_connected()) {
        // Terminal cancellation, from whichever thread emits it, is carried out on the executor.
        a.slot.assign([weak = std::weak_ptr<attempt_state>(self)](boost::asio::cancellation_type type) {
          if ((type & boost::asio::cancellation_type::terminal) == boost::asio::cancellation_type::none)
            return;
          if (const auto state = weak.lock()) {
            auto executor = state->owner->executor;
            boost::asio::dispatch(executor, [weak] {
              if (const auto s = weak.lock()) s->cancel();
            });
          }
        });
      }
      // On the executor already (the common case: an attempt started by a completion handler), carry on;
      // else hop there.
      if (detail::running_in_this_thread(a.owner->executor)) return acquire(std::move(self));
      auto executor = a.owner->executor;
      boost::asio::dispatch(executor,
                            boost::asio::bind_executor(
                                executor, [self = std::move(self)]() mutable { acquire(std::move(self)); }));
    }

    static void acquire(std::shared_ptr<attempt_io> self) {
      attempt_io& a = *self;
      pool& pl = *a.owner;
      if (a.canceled) return finish(std::move(self), fail(failure_kind::not_sent, canceled_code(), {}));
      const auto now = clock::now();
      // The least recently used connections come first: those idle for too long are closed.
      auto expired = pl.idle.begin();
      while (expired != pl.idle.end() && now - (*expired)->idle_since > pl.options.idle_timeout) ++expired;
      for (auto it = pl.idle.begin(); it != expired; ++it) close(pl, std::move(*it));
      pl.idle.erase(pl.idle.begin(), expired);
      while (!pl.idle.empty()) {
        std::unique_ptr<connection> candidate = std::move(pl.idle.back());
        pl.idle.pop_back();
        if (still_open(*candidate)) {
          a.conn = std::move(candidate);
          return write(std::move(self));
        }
        close(pl, std::move(candidate));
      }
      if (pl.open < pl.options.max_connections) {
        pl.count_open(+1);
        return open(std::move(self));
      }
      a.now = stage::waiting;
      pl.line.push_back(self);
      a.timer.expires_at(a.deadline);
      a.timer.async_wait(step{std::move(self)});
    }

    // A wait in line ended: a connection or a slot was handed over, the attempt was cancelled, or it timed
    // out. What was handed over just as the time ran out goes back: nothing is written past the deadline.
    static void on(std::shared_ptr<attempt_io> self, boost::system::error_code ec) {
      attempt_io& a = *self;
      if (a.now == stage::handshaking) return handshaken(std::move(self), ec);
      if (a.now != stage::waiting) return;  // a wait in line or a handshake completes here
      std::erase_if(a.owner->line, [&](const std::weak_ptr<attempt_state>& waiting) {
        const auto other = waiting.lock();
        return !other || other == self;
      });
      const bool too_late = clock::now() >= a.deadline;
      if (a.canceled || too_late) {
        if (a.conn)
          release(*a.owner, std::move(a.conn), true);
        else if (a.may_open)
          give_back_slot(*a.owner);
        if (a.canceled) return finish(std::move(self), fail(failure_kind::not_sent, canceled_code(), {}));
        return finish(
            std::move(self),
            fail(failure_kind::not_sent, make_error_code(boost::system::errc::timed_out),
                 "no connection became free within the attempt's " + std::to_string(a.timeout.count())
                     + " ms (all " + std::to_string(a.owner->options.max_connections) + " in use)"));
      }
      if (a.conn) {
        // Handed over straight from the attempt that released it: checked as an idle one would be.
        if (still_open(*a.conn)) return write(std::move(self));
        close_socket(*a.conn);
        a.conn.reset();  // its slot stays counted, for the connection this attempt opens instead
      }
      open(std::move(self));
    }

    // Opens a connection in a slot already counted as open.
    static void open(std::shared_ptr<attempt_io> self) {
      attempt_io& a = *self;
      a.conn = std::make_unique<connection>(a.owner->executor, a.owner->buffer_limit());
      a.connect_deadline = std::min(a.deadline, clock::now() + a.owner->options.connect_timeout);
      if (!a.owner->numeric.empty()) return connect(std::move(self), a.owner->numeric);
      a.now = stage::resolving;
      a.resolver.emplace(a.owner->executor);
      // The resolver has no timeout of its own, and getaddrinfo cannot be interrupted: when the time is up,
      // or the attempt is cancelled, this timer's handler ends the attempt at once, and the resolver's answer
      // is dropped whenever it comes.
      a.timer.expires_at(a.connect_deadline);
      a.timer.async_wait(boost::asio::bind_executor(
          a.owner->executor, [weak = std::weak_ptr<attempt_io>(self)](boost::system::error_code ec) {
            auto state = weak.lock();
            if (!state || state->now != stage::resolving || (ec && !state->canceled)) return;
            if (state->resolver) state->resolver->cancel();
            if (state->canceled) return abandon_connect(std::move(state), canceled_code(), {});
            const std::string what = "resolving " + state->owner->endpoint.host;
            abandon_connect(std::move(state), make_error_code(boost::system::errc::timed_out), what);
          }));
      a.resolver->async_resolve(a.owner->endpoint.host, a.owner->endpoint.port, step{std::move(self)});
    }

    // Resolved.
    static void on(std::shared_ptr<attempt_io> self, boost::system::error_code ec,
                   typename tcp::resolver::results_type results) {
      attempt_io& a = *self;
      if (a.now != stage::resolving) return;  // the attempt already ended (timed out or cancelled)
      a.timer.cancel();
      if (a.canceled) return abandon_connect(std::move(self), canceled_code(), {});
      if (ec) {
        auto failed = fail(failure_kind::not_sent, ec, "resolving " + a.owner->endpoint.host);
        failed.permanent = detail::is_permanent_resolve_error(ec);
        return abandon_connect(std::move(self), std::move(failed));
      }
      for (const auto& entry : results) a.resolved.emplace_back(entry.endpoint());
      connect(std::move(self), a.resolved);
    }

    template <class Endpoints>
    static void connect(std::shared_ptr<attempt_io> self, const Endpoints& endpoints) {
      attempt_io& a = *self;
      a.now = stage::connecting;
      a.conn->stream.expires_at(a.connect_deadline);
      auto slot = a.connect_cancel.slot();
      a.conn->stream.async_connect(endpoints,
                                   boost::asio::bind_cancellation_slot(slot, step{std::move(self)}));
    }

    // Connected (or not).
    static void on(std::shared_ptr<attempt_io> self, boost::system::error_code ec,
                   const protocol::endpoint&) {
      attempt_io& a = *self;
      if (a.canceled) return abandon_connect(std::move(self), canceled_code(), {});
      if (ec)
        return abandon_connect(
            std::move(self),
            ec == boost::beast::error::timeout ? make_error_code(boost::system::errc::timed_out) : ec,
            "connecting to " + a.owner->endpoint.name());
      a.owner->opened.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      if (!a.owner->endpoint.is_unix_socket())
        a.conn->stream.socket().set_option(tcp::no_delay(true), ignored);
      if (a.owner->endpoint.tls) return handshake(std::move(self));
      write(std::move(self));
    }

    // The TLS handshake, within the connect deadline. Nothing of the request has been written yet.
    static void handshake(std::shared_ptr<attempt_io> self) {
      attempt_io& a = *self;
      pool& pl = *a.owner;
      a.now = stage::handshaking;
      auto& tls = a.conn->tls.emplace(a.conn->stream, *pl.tls_context);
      if (!detail::prepare_tls_connection(tls.native_handle(), pl.endpoint, pl.sessions)) {
        transport_failure refused{
            failure_kind::not_sent, tls_error::handshake_refused,
            detail::take_openssl_reason() + "; setting up TLS for " + pl.endpoint.name()};
        refused.permanent = true;
        return abandon_connect(std::move(self), std::move(refused));
      }
      a.conn->stream.expires_at(a.connect_deadline);
      tls.async_handshake(boost::asio::ssl::stream_base::client, step{std::move(self)});
    }

    static void handshaken(std::shared_ptr<attempt_io> self, boost::system::error_code ec) {
      attempt_io& a = *self;
      pool& pl = *a.owner;
      if (a.canceled) return abandon_connect(std::move(self), canceled_code(), {});
      if (ec) {
        if (ec == boost::beast::error::timeout) ec = make_error_code(boost::system::errc::timed_out);
        pl.sessions.clear();  // a session the server would not resume is not offered again
        auto failed =
            detail::handshake_failure(a.conn->tls->native_handle(), ec, pl.endpoint, pl.options.tls);
        return abandon_connect(std::move(self), std::move(failed));
      }
      pl.handshakes.fetch_add(1, std::memory_order_relaxed);
      if (::SSL_session_reused(a.conn->tls->native_handle()))
        pl.resumed.fetch_add(1, std::memory_order_relaxed);
      write(std::move(self));
    }

    static void write(std::shared_ptr<attempt_io> self) {
      attempt_io& a = *self;
      if (a.canceled) {
        release(*a.owner, std::move(a.conn), true);
        return finish(std::move(self), fail(failure_kind::not_sent, canceled_code(), {}));
      }
      a.now = stage::writing;
      a.conn->stream.expires_at(a.deadline);
      const auto wire = detail::write_head(a.to_write(), a.conn->head);
      const std::array<boost::asio::const_buffer, 3> buffers{
          boost::asio::buffer(a.conn->head), boost::asio::buffer(wire.body.data(), wire.body.size()),
          boost::asio::buffer(wire.tail.data(), wire.tail.size())};
      if (a.conn->tls) return boost::asio::async_write(*a.conn->tls, buffers, step{std::move(self)});
      boost::asio::async_write(a.conn->stream, buffers, step{std::move(self)});
    }

    static void read(std::shared_ptr<attempt_io> self) {
      namespace http = boost::beast::http;
      attempt_io& a = *self;
      a.now = stage::reading;
      auto& parser = a.parser.emplace();
      parser.header_limit(a.owner->options.header_limit);
      parser.body_limit(a.owner->options.body_limit);
      if (a.request->method() == http::verb::head) parser.skip(true);
      if (a.conn->tls) return http::async_read(*a.conn->tls, a.conn->buffer, parser, step{std::move(self)});
      http::async_read(a.conn->stream, a.conn->buffer, parser, step{std::move(self)});
    }

    // Written, or a response read.
    static void on(std::shared_ptr<attempt_io> self, boost::system::error_code ec, std::size_t bytes) {
      attempt_io& a = *self;
      if (a.now == stage::writing) {
        // Refused before its first byte (a reset connection, a cancellation): the server cannot have seen it.
        if (ec) {
          const auto kind = bytes == 0 ? failure_kind::not_sent : failure_kind::ambiguous;
          if (ec == boost::beast::error::timeout) ec = make_error_code(boost::system::errc::timed_out);
          return drop_and_fail(std::move(self), kind, ec, "sending the request");
        }
        if (a.canceled) return drop_and_fail(std::move(self), failure_kind::ambiguous, canceled_code(), {});
        return read(std::move(self));
      }
      if (ec && a.conn->tls) {
        if (ec.category() == boost::asio::error::get_ssl_category()) a.owner->sessions.clear();
        if (!a.conn->answered && !a.canceled && detail::is_client_certificate_alert(ec)) {
          release(*a.owner, std::move(a.conn), false);
          return finish(std::move(self), detail::client_certificate_refused(ec, a.owner->options.tls));
        }
        if (ec == boost::asio::ssl::error::stream_truncated)
          return drop_and_fail(std::move(self), failure_kind::ambiguous, ec,
                               "the server closed the TLS connection without answering");
      }
      if (ec) {
        const bool permanent = detail::is_permanent_read_error(ec);
        if (ec == boost::beast::error::timeout) ec = make_error_code(boost::system::errc::timed_out);
        auto detail_text =
            detail::describe_read_error(ec, {a.timeout, a.owner->options.header_limit,
                                             a.owner->options.body_limit, a.conn->buffer.max_size()});
        return drop_and_fail(std::move(self), failure_kind::ambiguous, ec, std::move(detail_text), permanent);
      }
      // A complete final response is delivered even if a cancellation arrived after it was read.
      const unsigned status = a.parser->get().result_int();
      if (status >= 200) {
        // Bytes after the response, or a server that will close (the parser's keep_alive also knows a body
        // that ends at the connection's end), end the connection here.
        const bool keep = a.parser->keep_alive() && a.conn->buffer.size() == 0 && !a.canceled;
        a.conn->answered = true;
        release(*a.owner, std::move(a.conn), keep);
        return finish(std::move(self), attempt_outcome<response_type>(a.parser->release()));
      }
      if (a.canceled) return drop_and_fail(std::move(self), failure_kind::ambiguous, canceled_code(), {});
      auto verdict = detail::on_interim_response(status, a.interim++, a.owner->options.max_interim_responses);
      if (verdict.fails) {
        release(*a.owner, std::move(a.conn), false);
        return finish(std::move(self), std::move(*verdict.fails));
      }
      read(std::move(self));
    }

    // A connection that could not be opened: its slot is free again.
    static void abandon_connect(std::shared_ptr<attempt_io> self, boost::system::error_code ec,
                                std::string detail) {
      abandon_connect(std::move(self), fail(failure_kind::not_sent, ec, std::move(detail)));
    }
    static void abandon_connect(std::shared_ptr<attempt_io> self, transport_failure failed) {
      if (self->conn) close_socket(*self->conn);
      self->conn.reset();
      give_back_slot(*self->owner);
      finish(std::move(self), std::move(failed));
    }

    static void drop_and_fail(std::shared_ptr<attempt_io> self, failure_kind kind,
                              boost::system::error_code ec, std::string detail, bool permanent = false) {
      if (self->canceled) {
        ec = canceled_code();
        detail.clear();
        permanent = false;
      }
      transport_failure failed{kind, ec, std::move(detail)};
      failed.permanent = permanent;
      release(*self->owner, std::move(self->conn), false);
      finish(std::move(self), std::move(failed));
    }

    static transport_failure fail(failure_kind kind, boost::system::error_code ec, std::string detail) {
      if (ec == boost::system::errc::operation_canceled) detail.clear();
      return transport_failure{kind, ec, std::move(detail)};
    }

    // Completes on the handler's associated executor: at once when this thread runs it (the common case),
    // else by dispatching there.
    static void finish(std::shared_ptr<attempt_io> self, attempt_outcome<response_type>&& outcome) {
      outcome.set_endpoint(self->owner->name);
      const completion complete = self->complete;
      complete(std::move(self), std::move(outcome), false);
    }
    // The same when the attempt may still be inside its initiating function: never complete inline.
    static void finish_soon(std::shared_ptr<attempt_io> self, attempt_outcome<response_type>&& outcome) {
      outcome.set_endpoint(self->owner->name);
      const completion complete = self->complete;
      complete(std::move(self), std::move(outcome), true);
    }
  };

  template <class Handler>
  using allocator_for = decltype(detail::operation_allocator_for(std::declval<const Handler&>()));

  template <class Handler>
  struct attempt final : attempt_io<allocator_for<Handler>> {
    using io = attempt_io<allocator_for<Handler>>;
    using handler_executor = boost::asio::associated_executor_t<Handler, Executor>;
    using tracked_executor = std::decay_t<decltype(boost::asio::prefer(
        std::declval<handler_executor>(), boost::asio::execution::outstanding_work.tracked))>;

    template <class H>
    attempt(std::shared_ptr<pool> p, const request_type* r, H&& h)
        : io(std::move(p), r, detail::operation_allocator_for(h), &attempt::deliver),
          handler(std::forward<H>(h)),
          work(boost::asio::prefer(boost::asio::get_associated_executor(handler, this->owner->executor),
                                   boost::asio::execution::outstanding_work.tracked)) {}

    Handler handler;
    tracked_executor work;  // outstanding work on the handler's executor until the attempt completes

    // Takes the handler and its work out of the attempt and frees the attempt (before the handler runs, as
    // Asio requires, and so that an attempt the handler starts reuses its memory), then completes.
    static void deliver(std::shared_ptr<io> self, attempt_outcome<response_type>&& outcome, bool soon) {
      auto& a = static_cast<attempt&>(*self);
      a.now = stage::done;
      if (a.slot.is_connected()) a.slot.clear();
      Handler h(std::move(a.handler));
      tracked_executor work(std::move(a.work));
      self.reset();
      if (soon) return boost::asio::post(work, boost::asio::append(std::move(h), std::move(outcome)));
      if (detail::running_in_this_thread(work)) return std::move(h)(std::move(outcome));
      boost::asio::dispatch(work, boost::asio::append(std::move(h), std::move(outcome)));
    }
  };

  struct initiate_attempt {
    std::shared_ptr<pool> p;
    template <class Handler>
    void operator()(Handler&& handler, const request_type* request, bool stop_requested,
                    std::optional<std::chrono::nanoseconds> timeout) const {
      using attempt_type = attempt<std::decay_t<Handler>>;
      auto allocator = detail::operation_allocator_for(handler);
      auto state = std::allocate_shared<attempt_type>(
          typename std::allocator_traits<decltype(allocator)>::template rebind_alloc<attempt_type>(allocator),
          p, request, std::forward<Handler>(handler));
      auto slot = boost::asio::get_associated_cancellation_slot(state->handler);
      attempt_type::start(std::move(state), slot, stop_requested, timeout);
    }
  };

  static boost::system::error_code canceled_code() {
    return make_error_code(boost::system::errc::operation_canceled);
  }

  // A kept-alive connection the server has closed (or sent stray bytes on) is replaced before anything is
  // written. A non-blocking peek tells: would_block means open and quiet.
  static bool still_open(connection& c) {
    if (!c.stream.socket().is_open() || c.buffer.size() != 0) return false;
    if (c.tls && ::SSL_pending(c.tls->native_handle()) != 0) return false;
    char byte = 0;
    const auto peeked = ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  static void close_socket(connection& c) {
    if (c.tls) {
      detail::forget_connection_keeping_session(c.tls->native_handle());
      c.tls.reset();
    }
    boost::system::error_code ignored;
    c.stream.socket().shutdown(boost::asio::socket_base::shutdown_both, ignored);
    c.stream.socket().close(ignored);
  }

  static void close(pool& pl, std::unique_ptr<connection> c) {
    close_socket(*c);
    pl.count_open(-1);
  }

  // A slot counted as open that holds no connection any more: the first attempt in line may open one.
  static void give_back_slot(pool& pl) {
    if (const auto waiting = next_in_line(pl)) {
      waiting->may_open = true;
      waiting->timer.cancel();
      return;
    }
    pl.count_open(-1);
  }

  // The first attempt in line still waiting, taken out of the line.
  static std::shared_ptr<attempt_state> next_in_line(pool& pl) {
    while (!pl.line.empty()) {
      auto waiting = pl.line.front().lock();
      pl.line.pop_front();
      if (waiting && waiting->now == stage::waiting && !waiting->conn && !waiting->may_open) return waiting;
    }
    return nullptr;
  }

  // A connection an attempt is done with: to the first attempt in line, else to the idle list; or closed.
  static void release(pool& pl, std::unique_ptr<connection> c, bool keep) {
    if (!c) return give_back_slot(pl);
    if (!keep) {
      close_socket(*c);
      return give_back_slot(pl);
    }
    c->stream.expires_never();
    if (const auto waiting = next_in_line(pl)) {
      waiting->conn = std::move(c);
      waiting->timer.cancel();
      return;
    }
    c->idle_since = clock::now();
    pl.idle.push_back(std::move(c));
  }

  static async_beast_transport_options checked(async_beast_transport_options options) {
    if (!detail::is_safe_field_value(options.user_agent))
      throw std::invalid_argument("async_beast_transport_options::user_agent holds a control character");
    if (!detail::is_safe_field_value(options.authorization))  // named, never shown: it is a credential
      throw std::invalid_argument("async_beast_transport_options::authorization holds a control character");
    if (options.max_connections == 0)
      throw std::invalid_argument("async_beast_transport_options::max_connections must be at least 1");
    return options;
  }

  std::shared_ptr<pool> pool_;
};

/// The asynchronous client most programs want: real HTTP on the caller's executor, the default backoff,
/// steady time, RFC 9110 idempotency.
template <class Idempotency = method_idempotency, class Executor = boost::asio::any_io_executor>
using async_http_client =
    basic_client<async_beast_transport<Executor>, exponential_backoff, system_clock, Idempotency>;

#if defined(RETRYHTTP_SEPARATE_COMPILATION)
// Compiled once, by the translation unit that includes <retryhttp/src.hpp>: the transport on the executors
// programs use (Asio's polymorphic one, an io_context's, and a strand of it), each with its I/O for handlers
// without an allocator of their own.
#define RETRYHTTP_DETAIL_ASYNC_BEAST_TRANSPORT(specifier, ...) \
  specifier template class async_beast_transport<__VA_ARGS__>; \
  specifier template struct async_beast_transport<__VA_ARGS__>::attempt_io<detail::cached_allocator<void>>;
RETRYHTTP_DETAIL_ASYNC_BEAST_TRANSPORT(extern, boost::asio::any_io_executor)
RETRYHTTP_DETAIL_ASYNC_BEAST_TRANSPORT(extern, boost::asio::io_context::executor_type)
RETRYHTTP_DETAIL_ASYNC_BEAST_TRANSPORT(extern, boost::asio::strand<boost::asio::io_context::executor_type>)
#endif

}  // namespace retryhttp

#endif  // RETRYHTTP_ASYNC_BEAST_TRANSPORT_HPP
