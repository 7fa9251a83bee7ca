#include <retryhttp/async_beast_transport.hpp>
#include <retryhttp/hedging_transport.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "support/full_backlog_listener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_async_beast_transport {

// The asynchronous Beast transport over loopback, against a scripted server that runs on the same io_context:
// pooling (reuse, the maximum, the line of waiting attempts, idle time-out, stale connections), time-outs,
// cancellation at each stage, refused requests, and executors. Every run of the io_context is bounded
// (run_for), so a bug ends a test instead of hanging it.

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using retryhttp::failure_kind;

namespace {

using transport_type = retryhttp::async_beast_transport<>;
using outcome_type = retryhttp::attempt_outcome<transport_type::response_type>;
using request_type = transport_type::request_type;

static_assert(retryhttp::AsyncTransport<transport_type>);
static_assert(retryhttp::AsyncTransport<
              retryhttp::async_beast_transport<asio::strand<asio::io_context::executor_type>>>);

constexpr const char* ok_reply =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}";

/// What the scripted server does with one request: write `reply` (empty: close the connection without
/// answering), after `delay`; `hang`: never answer, hold the connection until the client closes it.
struct answer {
  std::string reply = ok_reply;
  std::chrono::milliseconds delay{0};
  bool hang = false;
  bool close_after = false;
};

/// Accepts connections on 127.0.0.1 and answers each request by `script(request number from 1)`. Records the
/// heads it read, the connections it accepted, and how many were open at once.
class scripted_server {
 public:
  using script_type = std::function<answer(std::size_t)>;
  scripted_server(asio::any_io_executor executor, script_type script)
      : acceptor_(executor, {asio::ip::make_address("127.0.0.1"), 0}), script_(std::move(script)) {
    asio::co_spawn(executor, accept_loop(), asio::detached);
  }
  ~scripted_server() { stop(); }
  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& weak : sockets_)
      if (auto socket = weak.lock()) socket->close(ignored);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  std::size_t accepted() const { return accepted_; }
  std::size_t peak_open() const { return peak_open_; }
  std::size_t requests() const { return heads_.size(); }
  const std::vector<std::string>& heads() const { return heads_; }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++accepted_;
      auto shared = std::make_shared<tcp::socket>(std::move(socket));
      sockets_.push_back(shared);
      asio::co_spawn(acceptor_.get_executor(), session(shared), asio::detached);
    }
  }

  asio::awaitable<void> session(std::shared_ptr<tcp::socket> socket) {
    constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
    ++open_;
    peak_open_ = std::max(peak_open_, open_);
    asio::streambuf buffer;
    for (;;) {
      auto [read_error, length] = co_await asio::async_read_until(*socket, buffer, "\r\n\r\n", no_throw);
      if (read_error) break;
      std::string head(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + length);
      buffer.consume(length);
      heads_.push_back(head);
      const answer a = script_(heads_.size());
      if (a.delay.count() > 0) {
        asio::steady_timer timer(socket->get_executor(), a.delay);
        auto [wait_error] = co_await timer.async_wait(no_throw);
        (void)wait_error;
      }
      if (a.hang) {
        char byte = 0;
        auto [hold_error, n] = co_await socket->async_read_some(asio::buffer(&byte, 1), no_throw);
        (void)hold_error;
        (void)n;
        break;
      }
      if (a.reply.empty()) break;
      auto [write_error, written] = co_await asio::async_write(*socket, asio::buffer(a.reply), no_throw);
      (void)written;
      if (write_error || a.close_after) break;
    }
    boost::system::error_code ignored;
    socket->close(ignored);
    --open_;
  }

  tcp::acceptor acceptor_;
  script_type script_;
  std::vector<std::weak_ptr<tcp::socket>> sockets_;
  std::vector<std::string> heads_;
  std::size_t accepted_ = 0;
  std::size_t open_ = 0;
  std::size_t peak_open_ = 0;
};

request_type get(const char* target = "/v1/vms") {
  return {http::verb::get, target, 11};
}

retryhttp::attempt_context within(std::chrono::milliseconds timeout) {
  return {{}, std::chrono::nanoseconds(timeout), 1};
}

/// Starts attempts and collects their outcomes, in order of completion.
struct collector {
  std::vector<std::optional<outcome_type>> outcomes;
  std::size_t completed = 0;

  auto handler(std::size_t index) {
    if (outcomes.size() <= index) outcomes.resize(index + 1);
    return [this, index](outcome_type outcome) {
      outcomes[index].emplace(std::move(outcome));
      ++completed;
    };
  }
};

/// Runs `io` until `done` holds, 10 s at most.
template <class Done>
void run_until(asio::io_context& io, Done done) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < until) io.run_for(5ms);
  REQUIRE(done());
}

}  // namespace

TEST_CASE("a response is delivered, with Host, User-Agent and Content-Length added",
          "[async_beast_transport]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{}; });
  transport_type transport(io.get_executor(), server.url());
  request_type post{http::verb::post, "/v1/vms", 11};
  post.body() = R"({"name":"a"})";
  collector c;
  transport.async_attempt(post, within(2s), c.handler(0));
  run_until(io, [&] { return c.completed == 1; });
  REQUIRE(c.outcomes[0]->has_response());
  CHECK(c.outcomes[0]->response().result_int() == 200);
  CHECK(c.outcomes[0]->response().body() == "{}");
  const std::string& head = server.heads().at(0);
  CHECK(head.find("Host: " + transport.endpoint().host_header + "\r\n") != std::string::npos);
  CHECK(head.find("User-Agent: retryhttp/") != std::string::npos);
  CHECK(head.find("Content-Length: 12\r\n") != std::string::npos);
  CHECK(post.count(http::field::host) == 0);  // the caller's request is not changed
}

TEST_CASE("sequential attempts reuse one kept-alive connection", "[async_beast_transport]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{}; });
  transport_type transport(io.get_executor(), server.url());
  const request_type request = get();
  std::size_t delivered = 0;
  std::function<void(outcome_type)> again = [&](outcome_type outcome) {
    if (outcome.has_response() && outcome.response().result_int() == 200) ++delivered;
    if (delivered < 20 && outcome.has_response()) transport.async_attempt(request, within(2s), again);
  };
  transport.async_attempt(request, within(2s), again);
  run_until(io, [&] { return delivered == 20; });
  CHECK(server.requests() == 20);
  CHECK(server.accepted() == 1);
  CHECK(transport.connections_opened() == 1);
  CHECK(transport.open_connections() == 1);  // idle in the pool
}

TEST_CASE("concurrent attempts never open more than max_connections; the others wait in line",
          "[async_beast_transport][pool]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{ok_reply, 5ms}; });
  retryhttp::async_beast_transport_options options;
  options.max_connections = 3;
  transport_type transport(io.get_executor(), server.url(), options);
  const request_type request = get();
  collector c;
  for (std::size_t i = 0; i < 40; ++i) transport.async_attempt(request, within(5s), c.handler(i));
  run_until(io, [&] { return c.completed == 40; });
  for (const auto& outcome : c.outcomes) {
    REQUIRE(outcome->has_response());
    CHECK(outcome->response().result_int() == 200);
  }
  CHECK(server.requests() == 40);
  CHECK(server.accepted() == 3);
  CHECK(server.peak_open() == 3);
  CHECK(transport.peak_connections() == 3);
  CHECK(transport.connections_opened() == 3);
}

TEST_CASE("an attempt that waits in line past its timeout is not_sent: nothing was written",
          "[async_beast_transport][pool]") {
  asio::io_context io;
  // The first request holds the only connection for 2 s.
  scripted_server server(io.get_executor(), [](std::size_t n) {
    return answer{ok_reply, n == 1 ? 2000ms : 0ms};
  });
  retryhttp::async_beast_transport_options options;
  options.max_connections = 1;
  transport_type transport(io.get_executor(), server.url(), options);
  const request_type request = get();
  collector c;
  transport.async_attempt(request, within(5s), c.handler(0));
  transport.async_attempt(request, within(100ms), c.handler(1));
  const auto start = std::chrono::steady_clock::now();
  run_until(io, [&] { return c.outcomes.size() == 2 && c.outcomes[1].has_value(); });
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
  REQUIRE_FALSE(c.outcomes[1]->has_response());
  CHECK(c.outcomes[1]->failure().kind == failure_kind::not_sent);
  CHECK(c.outcomes[1]->failure().code == boost::system::errc::timed_out);
  CHECK(c.outcomes[1]->failure().message().find("no connection became free") != std::string::npos);
  run_until(io, [&] { return c.completed == 2; });
  CHECK(c.outcomes[0]->has_response());
  CHECK(server.requests() == 1);
}

TEST_CASE("a connection the server closed while idle is replaced before anything is written",
          "[async_beast_transport][pool]") {
  asio::io_context io;
  // The first answer says keep-alive but the server closes right after it.
  scripted_server server(io.get_executor(), [](std::size_t n) {
    answer a;
    a.close_after = n == 1;
    return a;
  });
  transport_type transport(io.get_executor(), server.url());
  const request_type request = get();
  collector c;
  transport.async_attempt(request, within(2s), c.handler(0));
  run_until(io, [&] { return c.completed == 1; });
  // Let the server's close arrive before the next attempt looks at the idle connection.
  run_until(io, [&] {
    return server.accepted() == 1 && server.peak_open() == 1 && transport.open_connections() == 1;
  });
  io.run_for(50ms);
  transport.async_attempt(request, within(2s), c.handler(1));
  run_until(io, [&] { return c.completed == 2; });
  REQUIRE(c.outcomes[1]->has_response());
  CHECK(server.accepted() == 2);
  CHECK(server.requests() == 2);
  CHECK(transport.connections_opened() == 2);
}

TEST_CASE("a connection handed to a waiting attempt is checked first: a body that ended the connection",
          "[async_beast_transport][pool]") {
  asio::io_context io;
  // The first answer has no length: its body ends when the server closes the connection.
  scripted_server server(io.get_executor(), [](std::size_t n) {
    answer a;
    if (n == 1) {
      a.reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
      a.close_after = true;
    }
    return a;
  });
  retryhttp::async_beast_transport_options options;
  options.max_connections = 1;  // the second attempt waits in line for the first one's connection
  transport_type transport(io.get_executor(), server.url(), options);
  const request_type request = get();
  collector c;
  transport.async_attempt(request, within(2s), c.handler(0));
  transport.async_attempt(request, within(2s), c.handler(1));
  run_until(io, [&] { return c.completed == 2; });
  REQUIRE(c.outcomes[0]->has_response());
  CHECK(c.outcomes[0]->response().body() == "until the end");
  REQUIRE(c.outcomes[1]->has_response());  // not an ambiguous failure on the closed connection
  CHECK(c.outcomes[1]->response().body() == "{}");
  CHECK(server.accepted() == 2);
  CHECK(server.requests() == 2);
}

TEST_CASE("a connection idle for longer than idle_timeout is closed, not reused",
          "[async_beast_transport][pool]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{}; });
  retryhttp::async_beast_transport_options options;
  options.idle_timeout = 0ms;  // any time idle is too long
  transport_type transport(io.get_executor(), server.url(), options);
  const request_type request = get();
  collector c;
  for (std::size_t i = 0; i < 3; ++i) {
    transport.async_attempt(request, within(2s), c.handler(i));
    run_until(io, [&] { return c.completed == i + 1; });
    REQUIRE(c.outcomes[i]->has_response());
  }
  CHECK(transport.connections_opened() == 3);
  CHECK(transport.open_connections() == 1);
}

TEST_CASE("failures: refused, timed out, cut off, over a limit, an interim response skipped",
          "[async_beast_transport]") {
  asio::io_context io;
  const request_type request = get();
  collector c;

  SECTION("a refused connection is not_sent") {
    tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = closed.local_endpoint().port();
    closed.close();
    transport_type transport(io.get_executor(), "http://127.0.0.1:" + std::to_string(port));
    transport.async_attempt(request, within(2s), c.handler(0));
    run_until(io, [&] { return c.completed == 1; });
    REQUIRE_FALSE(c.outcomes[0]->has_response());
    CHECK(c.outcomes[0]->failure().kind == failure_kind::not_sent);
    CHECK(c.outcomes[0]->failure().code == boost::system::errc::connection_refused);
    CHECK(transport.open_connections() == 0);
  }
  SECTION("no answer within the attempt's timeout is ambiguous, timed out, naming the timeout") {
    scripted_server server(io.get_executor(), [](std::size_t) { return answer{ok_reply, 0ms, true}; });
    transport_type transport(io.get_executor(), server.url());
    const auto start = std::chrono::steady_clock::now();
    transport.async_attempt(request, within(150ms), c.handler(0));
    run_until(io, [&] { return c.completed == 1; });
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    REQUIRE_FALSE(c.outcomes[0]->has_response());
    CHECK(c.outcomes[0]->failure().kind == failure_kind::ambiguous);
    CHECK(c.outcomes[0]->failure().code == boost::system::errc::timed_out);
    CHECK(c.outcomes[0]->failure().message().find("within the attempt's 150 ms") != std::string::npos);
    CHECK(transport.open_connections() == 0);  // a timed-out connection is never reused
  }
  SECTION("a connection closed without an answer is ambiguous") {
    scripted_server server(io.get_executor(), [](std::size_t) { return answer{""}; });
    transport_type transport(io.get_executor(), server.url());
    transport.async_attempt(request, within(2s), c.handler(0));
    run_until(io, [&] { return c.completed == 1; });
    REQUIRE_FALSE(c.outcomes[0]->has_response());
    CHECK(c.outcomes[0]->failure().kind == failure_kind::ambiguous);
    CHECK(c.outcomes[0]->failure().message().find("closed the connection without answering")
          != std::string::npos);
  }
  SECTION("a body over the limit is a permanent failure") {
    scripted_server server(io.get_executor(), [](std::size_t) {
      return answer{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x')};
    });
    retryhttp::async_beast_transport_options options;
    options.body_limit = 10;
    transport_type transport(io.get_executor(), server.url(), options);
    transport.async_attempt(request, within(2s), c.handler(0));
    run_until(io, [&] { return c.completed == 1; });
    REQUIRE_FALSE(c.outcomes[0]->has_response());
    CHECK(c.outcomes[0]->failure().permanent);
    CHECK(c.outcomes[0]->failure().message().find("larger than the limit of 10 bytes") != std::string::npos);
  }
  SECTION("interim responses are skipped; the next request on the connection reads its own answer") {
    scripted_server server(io.get_executor(), [](std::size_t n) {
      return answer{n == 1 ? "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n"
                             "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\na"
                           : "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"};
    });
    transport_type transport(io.get_executor(), server.url());
    transport.async_attempt(request, within(2s), c.handler(0));
    run_until(io, [&] { return c.completed == 1; });
    transport.async_attempt(request, within(2s), c.handler(1));
    run_until(io, [&] { return c.completed == 2; });
    REQUIRE(c.outcomes[0]->has_response());
    CHECK(c.outcomes[0]->response().result_int() == 201);
    REQUIRE(c.outcomes[1]->has_response());
    CHECK(c.outcomes[1]->response().body() == "b");
    CHECK(transport.connections_opened() == 1);
  }
  SECTION("more interim responses than allowed fail the attempt, permanently") {
    std::string flood;
    for (int i = 0; i < 9; ++i) flood += "HTTP/1.1 100 Continue\r\n\r\n";
    scripted_server server(io.get_executor(), [flood](std::size_t) { return answer{flood}; });
    transport_type transport(io.get_executor(), server.url());
    transport.async_attempt(request, within(2s), c.handler(0));
    run_until(io, [&] { return c.completed == 1; });
    REQUIRE_FALSE(c.outcomes[0]->has_response());
    CHECK(c.outcomes[0]->failure().permanent);
    CHECK(c.outcomes[0]->failure().message().find("more than 8 interim") != std::string::npos);
  }
}

TEST_CASE("a request with a control character in a field is refused without connecting",
          "[async_beast_transport]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{}; });
  transport_type transport(io.get_executor(), server.url());
  request_type request = get();
  request.set("Idempotency-Key", "k\r\n\r\nPOST /v1/vms HTTP/1.1");
  collector c;
  bool returned = false;
  transport.async_attempt(request, within(2s), [&](outcome_type outcome) {
    CHECK(returned);  // never completed inside async_attempt
    c.handler(0)(std::move(outcome));
  });
  returned = true;
  run_until(io, [&] { return c.completed == 1; });
  REQUIRE_FALSE(c.outcomes[0]->has_response());
  CHECK(c.outcomes[0]->failure().kind == failure_kind::not_sent);
  CHECK(c.outcomes[0]->failure().permanent);
  CHECK(c.outcomes[0]->failure().message().find("Idempotency-Key") != std::string::npos);
  CHECK(transport.connections_opened() == 0);
  CHECK(server.accepted() == 0);
}

TEST_CASE("terminal cancellation ends an attempt at once: in line not_sent, in flight ambiguous",
          "[async_beast_transport][cancel]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{ok_reply, 0ms, true}; });
  retryhttp::async_beast_transport_options options;
  options.max_connections = 1;
  transport_type transport(io.get_executor(), server.url(), options);
  const request_type request = get();
  collector c;
  asio::cancellation_signal in_flight;
  asio::cancellation_signal in_line;
  transport.async_attempt(request, within(30s), asio::bind_cancellation_slot(in_flight.slot(), c.handler(0)));
  transport.async_attempt(request, within(30s), asio::bind_cancellation_slot(in_line.slot(), c.handler(1)));
  run_until(io, [&] { return server.requests() == 1; });
  const auto start = std::chrono::steady_clock::now();
  in_line.emit(asio::cancellation_type::terminal);
  run_until(io, [&] { return c.completed == 1; });
  REQUIRE(c.outcomes[1].has_value());
  CHECK(c.outcomes[1]->failure().kind == failure_kind::not_sent);
  CHECK(c.outcomes[1]->failure().code == boost::system::errc::operation_canceled);
  in_flight.emit(asio::cancellation_type::terminal);
  run_until(io, [&] { return c.completed == 2; });
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(c.outcomes[0]->failure().kind == failure_kind::ambiguous);
  CHECK(c.outcomes[0]->failure().code == boost::system::errc::operation_canceled);
  CHECK(c.outcomes[0]->failure().detail.empty());
  CHECK(transport.open_connections() == 0);  // a cancelled exchange's connection is closed
  CHECK(server.requests() == 1);
}

TEST_CASE("a stop requested before the attempt starts is not_sent and connects nothing",
          "[async_beast_transport][cancel]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{}; });
  transport_type transport(io.get_executor(), server.url());
  std::stop_source stop;
  stop.request_stop();
  const request_type request = get();
  collector c;
  transport.async_attempt(request, {stop.get_token(), std::chrono::nanoseconds(2s), 1}, c.handler(0));
  CHECK(c.completed == 0);
  run_until(io, [&] { return c.completed == 1; });
  CHECK(c.outcomes[0]->failure().kind == failure_kind::not_sent);
  CHECK(c.outcomes[0]->failure().code == boost::system::errc::operation_canceled);
  CHECK(server.accepted() == 0);
}

TEST_CASE("the completion runs on the handler's associated executor", "[async_beast_transport]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{}; });
  transport_type transport(io.get_executor(), server.url());
  auto strand = asio::make_strand(io);
  const request_type request = get();
  bool on_strand = false;
  bool done = false;
  transport.async_attempt(request, within(2s), asio::bind_executor(strand, [&](outcome_type outcome) {
                            on_strand = strand.running_in_this_thread();
                            done = outcome.has_response();
                          }));
  run_until(io, [&] { return done; });
  CHECK(on_strand);
}

TEST_CASE("async_http_client over the pool retries a 503 and delivers the 200", "[async_beast_transport]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t n) {
    return answer{n == 1 ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n" : ok_reply};
  });
  retryhttp::retry_config config;
  config.base_delay = 1ms;
  config.max_delay = 2ms;
  retryhttp::async_http_client<> client(config, transport_type(io.get_executor(), server.url()));
  const request_type request = get();
  std::optional<retryhttp::send_result<transport_type::response_type>> result;
  client.async_send(request, [&](auto r) { result.emplace(std::move(r)); });
  run_until(io, [&] { return result.has_value(); });
  REQUIRE(result->ok());
  CHECK(result->attempts() == 2);
  CHECK(server.requests() == 2);
  CHECK(client.transport().connections_opened() == 1);
}

namespace {

struct two_thread_run {
  std::size_t completed = 0;
  std::size_t delivered = 0;  // answered 200
};

/// Runs `attempts` GETs through `transport`, `in_flight` at a time, on `io` run by two threads (this one and
/// another) for at most `limit`: each is started from this thread before the io_context runs, or from one of
/// its threads as an earlier one completes.
template <class Transport>
two_thread_run run_on_two_threads(asio::io_context& io, Transport& transport, std::size_t attempts,
                                  std::size_t in_flight, std::chrono::seconds limit) {
  const request_type request = get();
  std::atomic<std::size_t> delivered{0};
  std::atomic<std::size_t> completed{0};
  std::function<void(std::size_t)> start = [&](std::size_t index) {
    transport.async_attempt(request, within(5s), [&, index](outcome_type outcome) {
      if (outcome.has_response() && outcome.response().result_int() == 200) delivered.fetch_add(1);
      completed.fetch_add(1);
      if (index + in_flight < attempts) start(index + in_flight);
    });
  };
  for (std::size_t i = 0; i < in_flight; ++i) start(i);
  std::thread second([&] { io.run_for(limit); });
  const auto until = std::chrono::steady_clock::now() + limit;
  while (completed.load() < attempts && std::chrono::steady_clock::now() < until) io.run_for(10ms);
  io.stop();
  second.join();
  return {completed.load(), delivered.load()};
}

/// Stops a scripted_server from outside the thread that runs it, and waits for that thread.
void stop_server(asio::io_context& server_io, scripted_server& server, std::thread& thread) {
  asio::post(server_io, [&] {
    server.stop();
    server_io.stop();
  });
  thread.join();
}

using strand_transport = retryhttp::async_beast_transport<asio::strand<asio::io_context::executor_type>>;

}  // namespace

TEST_CASE("on a 2-thread io_context, a strand makes the pool safe under many concurrent attempts",
          "[async_beast_transport][threads]") {
  asio::io_context server_io;
  scripted_server server(server_io.get_executor(), [](std::size_t) { return answer{}; });
  std::thread server_thread([&] { server_io.run_for(20s); });

  asio::io_context io(2);
  retryhttp::async_beast_transport_options options;
  options.max_connections = 4;
  strand_transport transport(asio::make_strand(io), server.url(), options);
  const auto run = run_on_two_threads(io, transport, 400, 16, 15s);
  stop_server(server_io, server, server_thread);
  CHECK(run.completed == 400);
  CHECK(run.delivered == 400);
  CHECK(transport.peak_connections() <= 4);
  CHECK(transport.connections_opened() <= 4);
}

// hedging_transport's three completions (the attempt, the hedge, the delay's timer) run on a strand of each
// hedged attempt's own, whoever runs the io_context: under ThreadSanitizer this is the check that they do.
TEST_CASE("hedged attempts on a 2-thread io_context: every one answered, hedges raced and cancelled safely",
          "[async_beast_transport][hedging][threads]") {
  asio::io_context server_io;
  // Every third request is slow: its attempt is hedged after 20 ms, and the hedge (a fast request) wins.
  scripted_server server(server_io.get_executor(), [](std::size_t n) {
    return n % 3 == 1 ? answer{ok_reply, 300ms} : answer{};
  });
  std::thread server_thread([&] { server_io.run_for(30s); });

  asio::io_context io(2);
  retryhttp::async_beast_transport_options transport_options;
  transport_options.max_connections = 8;
  retryhttp::hedging_options options;
  options.delay = 20ms;
  options.max_hedged_fraction = 1;  // every slow attempt may be hedged
  retryhttp::hedging_transport<strand_transport> hedging(
      strand_transport(asio::make_strand(io), server.url(), transport_options), options);
  constexpr std::size_t attempts = 60;
  const auto run = run_on_two_threads(io, hedging, attempts, 4, 20s);
  stop_server(server_io, server, server_thread);
  CHECK(run.completed == attempts);
  CHECK(run.delivered == attempts);
  CHECK(hedging.hedges_started() >= 1);
  CHECK(hedging.hedges_won() >= 1);
  CHECK(hedging.losers_canceled() <= hedging.hedges_started());
  // A cancelled hedge may be closed before the server reads it; nothing is sent that was not started.
  CHECK(server.requests() >= attempts);
  CHECK(server.requests() <= attempts + hedging.hedges_started());
}

TEST_CASE("over a Unix domain socket: pooled, kept alive, and a missing socket is not_sent",
          "[async_beast_transport][unix]") {
  char directory[] = "/tmp/retryhttp-unix-XXXXXX";
  REQUIRE(::mkdtemp(directory) != nullptr);
  const std::string path = std::string(directory) + "/orchestrator.sock";
  asio::io_context io;
  const request_type request = get();
  collector c;
  SECTION("a server on the socket") {
    asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(path));
    std::size_t requests = 0;
    // One connection, answered until the client closes it.
    acceptor.async_accept([&](boost::system::error_code ec, asio::local::stream_protocol::socket socket) {
      if (ec) return;
      asio::co_spawn(
          io,
          [&requests, socket = std::move(socket)]() mutable -> asio::awaitable<void> {
            constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
            asio::streambuf buffer;
            for (;;) {
              auto [read_error, length] =
                  co_await asio::async_read_until(socket, buffer, "\r\n\r\n", no_throw);
              if (read_error) co_return;
              buffer.consume(length);
              ++requests;
              auto [write_error, n] =
                  co_await asio::async_write(socket, asio::buffer(std::string(ok_reply)), no_throw);
              (void)n;
              if (write_error) co_return;
            }
          },
          asio::detached);
    });
    transport_type transport(io.get_executor(), "unix://" + path);
    for (std::size_t i = 0; i < 3; ++i) {
      transport.async_attempt(request, within(2s), c.handler(i));
      run_until(io, [&] { return c.completed == i + 1; });
      REQUIRE(c.outcomes[i]->has_response());
      CHECK(c.outcomes[i]->response().body() == "{}");
    }
    CHECK(requests == 3);
    CHECK(transport.connections_opened() == 1);
  }
  SECTION("nobody listening") {
    transport_type transport(io.get_executor(), "unix://" + path);
    transport.async_attempt(request, within(2s), c.handler(0));
    run_until(io, [&] { return c.completed == 1; });
    REQUIRE_FALSE(c.outcomes[0]->has_response());
    CHECK(c.outcomes[0]->failure().kind == failure_kind::not_sent);
    CHECK(c.outcomes[0]->failure().message().find("connecting to unix://" + path) != std::string::npos);
  }
  ::unlink(path.c_str());
  ::rmdir(directory);
}

namespace {
/// Answers one request on `socket`, then shuts the socket's reading side down and keeps it open.
asio::awaitable<void> answer_once_then_refuse(asio::local::stream_protocol::socket& socket, bool& refusing) {
  constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
  asio::streambuf buffer;
  auto [read_error, length] = co_await asio::async_read_until(socket, buffer, "\r\n\r\n", no_throw);
  (void)length;
  if (read_error) co_return;
  auto [write_error, written] =
      co_await asio::async_write(socket, asio::buffer(std::string_view(ok_reply)), no_throw);
  (void)written;
  if (write_error) co_return;
  ::shutdown(socket.native_handle(), SHUT_RD);
  refusing = true;
}
}  // namespace

TEST_CASE("a request a pooled connection refuses before its first byte: the transport's outcome is not_sent",
          "[async_beast_transport][unix]") {
  // As in test_beast_transport.cpp: over a Unix domain socket, the server answers once and shuts its reading
  // side down. The idle connection passes the check before reuse (open and quiet), and the write is refused
  // with EPIPE before its first byte: not_sent, from the transport itself.
  char directory[] = "/tmp/retryhttp-unix-XXXXXX";
  REQUIRE(::mkdtemp(directory) != nullptr);
  const std::string path = std::string(directory) + "/orchestrator.sock";
  {
    asio::io_context io;
    const auto busy = asio::make_work_guard(io);  // nothing else keeps run_for from returning at once
    asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(path));
    asio::local::stream_protocol::socket accepted(io);  // kept open until the end of the test
    bool refusing = false;
    acceptor.async_accept(accepted, [&](boost::system::error_code ec) {
      if (!ec) asio::co_spawn(io, answer_once_then_refuse(accepted, refusing), asio::detached);
    });
    transport_type transport(io.get_executor(), "unix://" + path);
    const request_type request = get();
    collector c;
    transport.async_attempt(request, within(2s), c.handler(0));
    run_until(io, [&] { return c.completed == 1 && refusing; });
    REQUIRE(c.outcomes[0]->has_response());
    CHECK(transport.open_connections() == 1);  // idle in the pool

    transport.async_attempt(request, within(2s), c.handler(1));
    run_until(io, [&] { return c.completed == 2; });
    const outcome_type& refused = *c.outcomes[1];
    REQUIRE_FALSE(refused.has_response());
    CHECK(refused.observe() == retryhttp::observed_outcome::not_sent());
    CHECK(refused.failure().kind == failure_kind::not_sent);
    CHECK(refused.failure().code == boost::system::errc::broken_pipe);
    CHECK(refused.failure().message().find("sending the request") != std::string::npos);
    CHECK(transport.connections_opened() == 1);  // refused on the pooled connection, not a new one
    CHECK(transport.open_connections() == 0);    // and that connection is closed, not put back
  }
  ::unlink(path.c_str());
  ::rmdir(directory);
}

TEST_CASE("a stop while connecting ends async_send at once: canceled, not a time-out, not_sent",
          "[async_beast_transport][cancel]") {
  // The connect hangs on a loopback listener whose accept queue is full (support/full_backlog_listener.hpp);
  // both time limits are 30 s. call_options::stop is requested 200 ms in, by a timer on the same io_context.
  retryhttp_test::full_backlog_listener listener;
  REQUIRE(listener.connect_hangs());
  asio::io_context io;
  retryhttp::async_beast_transport_options options;
  options.connect_timeout = 30s;
  retryhttp::retry_config config;
  config.attempt_timeout = 30s;
  retryhttp::async_http_client<> client(config, transport_type(io.get_executor(), listener.url(), options));
  std::stop_source source;
  const auto start = std::chrono::steady_clock::now();  // before the timer: took is at least its 200 ms
  asio::steady_timer stop_timer(io, 200ms);
  stop_timer.async_wait([&](boost::system::error_code) { source.request_stop(); });
  retryhttp::call_options call;
  call.stop = source.get_token();
  const request_type request = get();
  std::optional<retryhttp::send_result<transport_type::response_type>> result;
  client.async_send(request, call, [&](auto r) { result.emplace(std::move(r)); });
  run_until(io, [&] { return result.has_value(); });
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(result->error() == retryhttp::error::canceled);
  CHECK(result->attempts() == 1);
  REQUIRE(result->failure() != nullptr);
  CHECK(result->failure()->kind == failure_kind::not_sent);
  CHECK(result->failure()->code == boost::system::errc::operation_canceled);  // a stop, not timed_out
  CHECK(took >= 150ms);  // the connect was under way until the stop
  CHECK(took < 2s);
  CHECK(client.transport().connections_opened() == 0);
  CHECK(client.transport().open_connections() == 0);
}

TEST_CASE(
    "TLS: a handshake the server never answers times out within connect_timeout, and a terminal "
    "cancellation during a handshake ends it at once; both not_sent",
    "[async_beast_transport][tls]") {
  asio::io_context io;
  // Speaks no TLS: it waits for a request head that a ClientHello never ends.
  scripted_server silent(io.get_executor(), [](std::size_t) { return answer{}; });
  const std::string url = "https" + silent.url().substr(4);
  retryhttp::async_beast_transport_options options;
  options.connect_timeout = 300ms;
  transport_type transport(io.get_executor(), url, options);
  const request_type request = get();
  collector c;
  const auto start = std::chrono::steady_clock::now();
  transport.async_attempt(request, within(10s), c.handler(0));
  run_until(io, [&] { return c.completed == 1; });
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  REQUIRE_FALSE(c.outcomes[0]->has_response());
  CHECK(c.outcomes[0]->failure().kind == failure_kind::not_sent);
  CHECK(c.outcomes[0]->failure().code == boost::system::errc::timed_out);
  CHECK_FALSE(c.outcomes[0]->failure().permanent);
  CHECK(c.outcomes[0]->endpoint() == url);  // "https://127.0.0.1:PORT"

  options.connect_timeout = 30s;
  transport_type patient(io.get_executor(), url, options);
  asio::cancellation_signal cancel;
  patient.async_attempt(request, within(30s), asio::bind_cancellation_slot(cancel.slot(), c.handler(1)));
  run_until(io, [&] { return silent.accepted() == 2; });
  io.run_for(50ms);  // the ClientHello is on its way
  const auto canceled_at = std::chrono::steady_clock::now();
  cancel.emit(asio::cancellation_type::terminal);
  run_until(io, [&] { return c.completed == 2; });
  CHECK(std::chrono::steady_clock::now() - canceled_at < 2s);
  CHECK(c.outcomes[1]->failure().kind == failure_kind::not_sent);
  CHECK(c.outcomes[1]->failure().code == boost::system::errc::operation_canceled);
  CHECK(patient.open_connections() == 0);
  CHECK(patient.tls_handshakes() == 0);
}

TEST_CASE("the Authorization option goes on the wire only", "[async_beast_transport]") {
  asio::io_context io;
  scripted_server server(io.get_executor(), [](std::size_t) { return answer{}; });
  retryhttp::async_beast_transport_options options;
  options.authorization = "Bearer tok-456";
  transport_type transport(io.get_executor(), server.url(), options);
  const request_type request = get();
  collector c;
  transport.async_attempt(request, within(5s), c.handler(0));
  run_until(io, [&] { return c.completed == 1; });
  REQUIRE(c.outcomes[0]->has_response());
  CHECK_THAT(server.heads().at(0), Catch::Contains("Authorization: Bearer tok-456\r\n"));
  CHECK(request.count(http::field::authorization) == 0);
  CHECK(c.outcomes[0]->endpoint() == server.url().substr(7));  // "127.0.0.1:PORT"
}

TEST_CASE("async: a host name that does not exist (NXDOMAIN) fails at once: permanent, one attempt",
          "[async_beast_transport][dns]") {
  // RFC 6761 reserves .invalid. A machine without any DNS may answer "try again" instead (transient,
  // retried): then nothing is checked here; the classification itself is checked in test_beast_transport.
  asio::io_context io;
  retryhttp::retry_config config;
  config.base_delay = 300ms;  // a machine without DNS retries "try again": three retries, 0.9 s
  config.max_delay = 300ms;
  config.attempt_timeout = 3s;
  retryhttp::async_http_client<> client(
      config, transport_type(io.get_executor(), "http://no-such-host.invalid:8080"));
  const request_type request = get();
  std::optional<retryhttp::send_result<transport_type::response_type>> result;
  const auto start = std::chrono::steady_clock::now();
  client.async_send(request, [&](auto r) { result.emplace(std::move(r)); });
  run_until(io, [&] { return result.has_value(); });
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(result.has_value());
  REQUIRE_FALSE(result->ok());
  REQUIRE(result->failure() != nullptr);
  if (result->failure()->code != asio::error::host_not_found) {
    WARN("no NXDOMAIN here (no DNS?): " << result->message());
    return;
  }
  CHECK(result->failure()->permanent);
  CHECK(result->error() == retryhttp::error::permanent_failure);
  CHECK(result->attempts() == 1);
  CHECK(took < 3s);  // attempts() == 1 shows that nothing was retried; this bounds a slow resolver
}

}  // namespace test_async_beast_transport
