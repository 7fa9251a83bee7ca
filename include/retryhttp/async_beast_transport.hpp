#ifndef RETRYHTTP_ASYNC_BEAST_TRANSPORT_HPP
#define RETRYHTTP_ASYNC_BEAST_TRANSPORT_HPP

// The asynchronous Beast transport, a model of AsyncTransport: HTTP/1.1 over TCP on the caller's executor,
// with a pool of kept-alive connections to its endpoint.
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
//   has connect_timeout, and the whole attempt has its timeout (the stream's expiry).
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
#include <retryhttp/http_endpoint.hpp>
#include <retryhttp/transport.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/errc.hpp>

#include <sys/socket.h>

#include <algorithm>
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
  /// character, or max_connections of 0. Connects lazily.
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
    return boost::asio::async_compose<Token, void(attempt_outcome<response_type>)>(
        attempt_op{pool_, &request, context.stop.stop_requested(), context.timeout, {}}, token,
        pool_->executor);
  }

  /// Connections opened so far (each one resolved and connected).
  std::size_t connections_opened() const noexcept { return pool_->opened.load(std::memory_order_relaxed); }
  /// Connections open or being opened now, idle ones included.
  std::size_t open_connections() const noexcept { return pool_->open_count.load(std::memory_order_relaxed); }
  /// The most connections open at once so far: never above options().max_connections.
  std::size_t peak_connections() const noexcept { return pool_->peak.load(std::memory_order_relaxed); }
  const http_endpoint& endpoint() const noexcept { return pool_->endpoint; }
  const async_beast_transport_options& options() const noexcept { return pool_->options; }

 private:
  using tcp = boost::asio::ip::tcp;
  using clock = std::chrono::steady_clock;
  using stream_type = boost::beast::basic_stream<tcp, Executor>;

  struct connection {
    connection(const Executor& executor, std::size_t buffer_limit) : stream(executor), buffer(buffer_limit) {}
    stream_type stream;
    boost::beast::flat_buffer buffer;
    clock::time_point idle_since{};
  };

  struct attempt_state;

  // Shared by the transport and its operations, so that an operation still running when the transport is
  // moved keeps what it uses. Everything but the counters is touched on the executor only.
  struct pool {
    pool(Executor e, http_endpoint where, async_beast_transport_options o)
        : executor(std::move(e)), endpoint(std::move(where)), options(std::move(o)) {
      boost::system::error_code ec;
      const auto address = boost::asio::ip::make_address(endpoint.host, ec);
      if (!ec) numeric.emplace_back(address, static_cast<unsigned short>(std::stoul(endpoint.port)));
    }
    Executor executor;
    http_endpoint endpoint;
    async_beast_transport_options options;
    std::vector<tcp::endpoint> numeric;               // the endpoint, when the host is an address
    std::vector<std::unique_ptr<connection>> idle;    // least recently used first
    std::size_t open = 0;                             // idle, in use and being opened
    std::deque<std::shared_ptr<attempt_state>> line;  // attempts waiting for a connection, in order
    std::atomic<std::size_t> opened{0};
    std::atomic<std::size_t> open_count{0};
    std::atomic<std::size_t> peak{0};

    std::size_t buffer_limit() const {
      return std::max<std::size_t>(options.read_buffer_limit, options.header_limit);
    }

    void count_open(std::ptrdiff_t change) {
      open = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(open) + change);
      open_count.store(open, std::memory_order_relaxed);
      if (open > peak.load(std::memory_order_relaxed)) peak.store(open, std::memory_order_relaxed);
    }
  };

  enum class stage { starting, waiting, resolving, connecting, writing, reading, done };

  // What lives for one attempt, on the heap (the handler's allocator, else Asio's recycling allocator) so
  // that the line of waiting attempts and the cancellation handler can refer to it.
  struct attempt_state {
    attempt_state(std::shared_ptr<pool> p, const request_type* r)
        : owner(std::move(p)), request(r), timer(owner->executor) {}
    std::shared_ptr<pool> owner;
    const request_type* request;
    std::optional<request_type> completed;  // the request with Host, User-Agent and Content-Length added
    std::chrono::milliseconds timeout{0};
    clock::time_point deadline{};
    stage now = stage::starting;
    std::unique_ptr<connection> conn;
    bool may_open = false;  // a waiting attempt was given a free slot to open a connection in
    bool canceled = false;
    bool timed_out = false;  // the resolver's timer fired
    std::size_t written = 0;
    unsigned interim = 0;
    boost::asio::basic_waitable_timer<clock, boost::asio::wait_traits<clock>, Executor> timer;
    // Constructed only for a host name: a resolver costs an allocation.
    std::optional<typename tcp::resolver::template rebind_executor<Executor>::other> resolver;
    typename tcp::resolver::results_type resolved;
    std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser;
    std::optional<attempt_outcome<response_type>> outcome;

    const request_type& to_write() const { return completed ? *completed : *request; }

    // Terminal cancellation, on the executor: whatever is in flight ends at once.
    void cancel() {
      if (now == stage::done || canceled) return;
      canceled = true;
      boost::system::error_code ignored;
      switch (now) {
        case stage::waiting:
          timer.cancel();
          break;
        case stage::resolving:
          if (resolver) resolver->cancel();
          break;
        case stage::connecting:
        case stage::writing:
        case stage::reading:
          if (conn) conn->stream.cancel();
          break;
        default:
          break;
      }
    }
  };

  struct on_executor {};  // the operation now runs on the transport's executor

  struct attempt_op {
    std::shared_ptr<pool> p;
    const request_type* request;
    bool stop_requested;
    std::optional<std::chrono::nanoseconds> timeout;
    std::shared_ptr<attempt_state> s;

    // Started in the initiating function: hop to the executor (inline when already there).
    template <class Self>
    void operator()(Self& self) {
      auto executor = p->executor;
      boost::asio::dispatch(executor, boost::asio::bind_executor(
                                          executor, boost::asio::append(std::move(self), on_executor{})));
    }

    template <class Self>
    void operator()(Self& self, on_executor) {
      s = make_state(self);
      const auto limit = timeout ? std::chrono::ceil<std::chrono::milliseconds>(*timeout)
                                 : p->options.default_attempt_timeout;
      s->timeout = limit;
      s->deadline = clock::now() + limit;
      if (stop_requested) return fail_soon(self, failure_kind::not_sent, canceled_code(), {});
      // Checked before a connection is taken: a request that cannot be written safely is refused without
      // touching the network, and refused again on any retry.
      const auto check = detail::check_request(*request);
      if (check == detail::request_check::unsafe_to_write)
        return finish_soon(self, detail::refused_request(*request));
      if (check == detail::request_check::needs_completion)
        s->completed.emplace(
            detail::completed_request(*request, p->endpoint.host_header, p->options.user_agent));
      acquire(self);
    }

    // A wait in line, or the resolver's timer, ended.
    template <class Self>
    void operator()(Self& self, boost::system::error_code) {
      if (s->now == stage::waiting) {
        auto& line = p->line;
        line.erase(std::remove(line.begin(), line.end(), s), line.end());
        if (s->canceled) {
          if (s->conn)
            release(*p, std::move(s->conn), true);
          else if (s->may_open)
            give_back_slot(*p);
          return fail(self, failure_kind::not_sent, canceled_code(), {});
        }
        if (s->conn) return write(self);
        if (s->may_open) return open(self);
        return fail(self, failure_kind::not_sent, make_error_code(boost::system::errc::timed_out),
                    "no connection became free within the attempt's " + std::to_string(s->timeout.count())
                        + " ms (all " + std::to_string(p->options.max_connections) + " in use)");
      }
    }

    // Resolved.
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, typename tcp::resolver::results_type results) {
      s->timer.cancel();
      if (s->canceled) return abandon_connect(self, canceled_code(), {});
      if (s->timed_out)
        return abandon_connect(self, make_error_code(boost::system::errc::timed_out),
                               "resolving " + p->endpoint.host);
      if (ec) return abandon_connect(self, ec, "resolving " + p->endpoint.host);
      s->resolved = std::move(results);
      connect(self, s->resolved);
    }

    // Connected (or not).
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, const tcp::endpoint&) {
      if (s->canceled) return abandon_connect(self, canceled_code(), {});
      if (ec)
        return abandon_connect(
            self, ec == boost::beast::error::timeout ? make_error_code(boost::system::errc::timed_out) : ec,
            "connecting to " + p->endpoint.host_header);
      p->opened.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      s->conn->stream.socket().set_option(tcp::no_delay(true), ignored);
      write(self);
    }

    // Written, or a response read.
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, std::size_t bytes) {
      namespace http = boost::beast::http;
      if (s->now == stage::writing) {
        s->written = bytes;
        if (ec)
          return drop_and_fail(self, bytes == 0 ? failure_kind::not_sent : failure_kind::ambiguous, ec,
                               "sending the request");
        if (s->canceled) return drop_and_fail(self, failure_kind::ambiguous, canceled_code(), {});
        return read(self);
      }
      if (ec || s->canceled) {
        const bool permanent = detail::is_permanent_read_error(ec);
        if (ec == boost::beast::error::timeout) ec = make_error_code(boost::system::errc::timed_out);
        drop_and_fail(self, failure_kind::ambiguous, ec,
                      detail::describe_read_error(ec, {s->timeout, p->options.header_limit,
                                                       p->options.body_limit, s->conn->buffer.max_size()}),
                      permanent);
        return;
      }
      const unsigned status = s->parser->get().result_int();
      if (status >= 200) {
        response_type response = s->parser->release();
        // Bytes after the response, or a server that will close, end the connection here.
        const bool keep = response.keep_alive() && s->conn->buffer.size() == 0;
        release(*p, std::move(s->conn), keep);
        return finish(self, std::move(response));
      }
      auto verdict = detail::on_interim_response(status, s->interim++, p->options.max_interim_responses);
      if (verdict.fails) return drop_and_fail(self, std::move(*verdict.fails));
      read(self);
    }

    // The end, on the handler's associated executor.
    template <class Self>
    void operator()(Self& self, attempt_outcome<response_type> outcome) {
      self.complete(std::move(outcome));
    }

   private:
    template <class Self>
    std::shared_ptr<attempt_state> make_state(Self& self) {
      auto allocator = boost::asio::get_associated_allocator(self);
      if constexpr (std::is_same_v<decltype(allocator), std::allocator<void>>)
        return std::allocate_shared<attempt_state>(boost::asio::recycling_allocator<attempt_state>(), p,
                                                   request);
      else
        return std::allocate_shared<attempt_state>(
            typename std::allocator_traits<decltype(allocator)>::template rebind_alloc<attempt_state>(
                allocator),
            p, request);
    }

    // Children run on the transport's executor, and get no cancellation slot of their own: the operation's
    // slot handler cancels them (through attempt_state::cancel), on the executor.
    template <class Self>
    auto next(Self& self) {
      watch_cancellation(self);
      Executor executor = p->executor;  // copied before `self`, which owns `p`, is moved
      return boost::asio::bind_executor(
          std::move(executor),
          boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(), std::move(self)));
    }

    template <class Self>
    void watch_cancellation(Self& self) {
      auto slot = self.get_cancellation_state().slot();
      if (!slot.is_connected()) return;
      slot.assign([weak = std::weak_ptr<attempt_state>(s),
                   executor = p->executor](boost::asio::cancellation_type type) {
        if ((type & boost::asio::cancellation_type::terminal) == boost::asio::cancellation_type::none) return;
        boost::asio::dispatch(executor, [weak] {
          if (const auto state = weak.lock()) state->cancel();
        });
      });
    }

    template <class Self>
    void acquire(Self& self) {
      pool& pl = *p;
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
          s->conn = std::move(candidate);
          return write(self);
        }
        close(pl, std::move(candidate));
      }
      if (pl.open < pl.options.max_connections) {
        pl.count_open(+1);
        return open(self);
      }
      s->now = stage::waiting;
      pl.line.push_back(s);
      s->timer.expires_at(s->deadline);
      auto& timer = s->timer;
      timer.async_wait(next(self));
    }

    // A kept-alive connection the server has closed (or sent stray bytes on) is replaced before anything is
    // written. A non-blocking peek tells: would_block means open and quiet.
    static bool still_open(connection& c) {
      if (!c.stream.socket().is_open() || c.buffer.size() != 0) return false;
      char byte = 0;
      const auto peeked = ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    // Opens a connection in a slot already counted as open.
    template <class Self>
    void open(Self& self) {
      s->conn = std::make_unique<connection>(p->executor, p->buffer_limit());
      if (!p->numeric.empty()) return connect(self, p->numeric);
      s->now = stage::resolving;
      s->resolver.emplace(p->executor);
      // The resolver has no timeout of its own: a timer cancels it.
      s->timer.expires_at(std::min(s->deadline, clock::now() + p->options.connect_timeout));
      s->timer.async_wait(boost::asio::bind_executor(p->executor, [state = s](boost::system::error_code ec) {
        if (ec || state->now != stage::resolving) return;
        state->timed_out = true;
        state->resolver->cancel();
      }));
      // Everything the call takes from the operation is taken before `self` is moved: arguments are
      // evaluated in no fixed order.
      auto& resolver = *s->resolver;
      const http_endpoint& endpoint = p->endpoint;
      resolver.async_resolve(endpoint.host, endpoint.port, next(self));
    }

    template <class Self, class Endpoints>
    void connect(Self& self, const Endpoints& endpoints) {
      s->now = stage::connecting;
      s->conn->stream.expires_at(std::min(s->deadline, clock::now() + p->options.connect_timeout));
      auto& stream = s->conn->stream;
      stream.async_connect(endpoints, next(self));
    }

    template <class Self>
    void write(Self& self) {
      if (s->canceled) {
        release(*p, std::move(s->conn), true);
        return fail(self, failure_kind::not_sent, canceled_code(), {});
      }
      s->now = stage::writing;
      s->conn->stream.expires_at(s->deadline);
      auto& stream = s->conn->stream;
      const request_type& request = s->to_write();
      boost::beast::http::async_write(stream, request, next(self));
    }

    template <class Self>
    void read(Self& self) {
      namespace http = boost::beast::http;
      s->now = stage::reading;
      auto& parser = s->parser.emplace();
      parser.header_limit(p->options.header_limit);
      parser.body_limit(p->options.body_limit);
      if (s->request->method() == http::verb::head) parser.skip(true);
      auto& stream = s->conn->stream;
      auto& buffer = s->conn->buffer;
      http::async_read(stream, buffer, parser, next(self));
    }

    // A connection that could not be opened: its slot is free again.
    template <class Self>
    void abandon_connect(Self& self, boost::system::error_code ec, std::string detail) {
      s->conn.reset();
      give_back_slot(*p);
      fail(self, failure_kind::not_sent, ec, std::move(detail));
    }

    template <class Self>
    void drop_and_fail(Self& self, failure_kind kind, boost::system::error_code ec, std::string detail,
                       bool permanent = false) {
      if (s->canceled) {
        ec = canceled_code();
        detail.clear();
        permanent = false;
      }
      transport_failure failed{kind, ec, std::move(detail)};
      failed.permanent = permanent;
      drop_and_fail(self, std::move(failed));
    }
    template <class Self>
    void drop_and_fail(Self& self, transport_failure failed) {
      release(*p, std::move(s->conn), false);
      finish(self, std::move(failed));
    }

    template <class Self>
    void fail(Self& self, failure_kind kind, boost::system::error_code ec, std::string detail) {
      if (ec == boost::system::errc::operation_canceled) detail.clear();
      finish(self, transport_failure{kind, ec, std::move(detail)});
    }
    template <class Self>
    void fail_soon(Self& self, failure_kind kind, boost::system::error_code ec, std::string detail) {
      finish_soon(self, transport_failure{kind, ec, std::move(detail)});
    }

    // Completes on the handler's associated executor. The attempt's state is freed first, so that an attempt
    // started by the handler reuses its memory.
    template <class Self>
    void finish(Self& self, attempt_outcome<response_type> outcome) {
      s->now = stage::done;
      s.reset();
      auto executor = self.get_executor();
      boost::asio::dispatch(executor, boost::asio::append(std::move(self), std::move(outcome)));
    }
    // The same, when the operation may still be inside its initiating function: never complete inline.
    template <class Self>
    void finish_soon(Self& self, attempt_outcome<response_type> outcome) {
      s->now = stage::done;
      s.reset();
      auto executor = self.get_executor();
      boost::asio::post(executor, boost::asio::append(std::move(self), std::move(outcome)));
    }
  };

  static boost::system::error_code canceled_code() {
    return make_error_code(boost::system::errc::operation_canceled);
  }

  static void close(pool& pl, std::unique_ptr<connection> c) {
    boost::system::error_code ignored;
    c->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    c->stream.socket().close(ignored);
    pl.count_open(-1);
  }

  // A slot counted as open that holds no connection any more: the first attempt in line may open one.
  static void give_back_slot(pool& pl) {
    if (!pl.line.empty()) {
      auto waiting = std::move(pl.line.front());
      pl.line.pop_front();
      waiting->may_open = true;
      waiting->timer.cancel();
      return;
    }
    pl.count_open(-1);
  }

  // A connection an attempt is done with: to the first attempt in line, else to the idle list; or closed.
  static void release(pool& pl, std::unique_ptr<connection> c, bool keep) {
    if (!c) return give_back_slot(pl);
    if (!keep) {
      boost::system::error_code ignored;
      c->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      c->stream.socket().close(ignored);
      return give_back_slot(pl);
    }
    c->stream.expires_never();
    if (!pl.line.empty()) {
      auto waiting = std::move(pl.line.front());
      pl.line.pop_front();
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
    if (options.max_connections == 0)
      throw std::invalid_argument("async_beast_transport_options::max_connections must be at least 1");
    return options;
  }

  std::shared_ptr<pool> pool_;
};

/// The asynchronous client most programs want: real HTTP on the caller's executor, the ticket's backoff,
/// steady time, RFC 9110 idempotency.
template <class Idempotency = method_idempotency, class Executor = boost::asio::any_io_executor>
using async_http_client =
    basic_client<async_beast_transport<Executor>, exponential_backoff, system_clock, Idempotency>;

}  // namespace retryhttp

#endif  // RETRYHTTP_ASYNC_BEAST_TRANSPORT_HPP
