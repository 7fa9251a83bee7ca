// The code of docs/tutorial.md, compiled and run. Each region between a "// --- docs/tutorial.md ... begin"
// line and its "end" line is one ```cpp block of the tutorial, in order, verbatim: test_doc_snippets compares
// them. The first request runs against a loopback server inside this test; the custom backoff and the user
// code run on the fakes, with every wait and every request asserted exactly.

// --- docs/tutorial.md first request begin
#include <retryhttp/beast_transport.hpp>  // http_client<> and beast_transport; includes client.hpp

#include <chrono>
#include <iostream>
#include <stop_token>
#include <string>

namespace http = boost::beast::http;

/// Prints the VMs that the orchestrator at `url` lists. Returns 0 for a 200, 1 for anything else.
int print_vms(const std::string& url, std::stop_token stop) {
  retryhttp::retry_config config;                    // 3 retries, 500 ms base delay, 10 s cap, 502/503/504
  config.attempt_timeout = std::chrono::seconds(2);  // each attempt: connect, write, read
  retryhttp::http_client<> client{config, retryhttp::beast_transport{url}};  // the config comes first

  retryhttp::call_options options;
  options.stop = std::move(stop);               // request_stop(), from any thread, ends the call at once
  options.deadline = std::chrono::seconds(10);  // the whole call: attempts and waits

  const http::request<http::string_body> request{http::verb::get, "/v1/vms", 11};
  const auto result = client.send(request, options);
  if (!result) {  // no response delivered: retries exhausted, canceled, deadline exceeded, ...
    std::cerr << result.message() << '\n';  // "request failed after 3 retries: 503 Service Unavailable"
    return 1;
  }
  const auto& response = result.response();  // any status that is not retried: 200, but also 404 or 500
  if (response.result() != http::status::ok) {
    std::cerr << "the server answered " << response.result_int() << ": " << response.body() << '\n';
    return 1;
  }
  std::cout << response.body() << '\n';
  return 0;
}
// --- docs/tutorial.md first request end

#include <retryhttp/backoff.hpp>
#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "support/capture_stream.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

/// A loopback HTTP server on 127.0.0.1, on a thread of its own (the synchronous client blocks the test's
/// thread). Answers the n-th request with `replies[n]`, and every later one with the last reply, on
/// kept-alive connections; an empty reply means never to answer (until the client closes the connection).
class loopback_server {
 public:
  explicit loopback_server(std::vector<std::string> replies)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}),
        url_("http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port())),
        replies_(std::move(replies)) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::jthread([this] { io_.run(); });
  }
  loopback_server(const loopback_server&) = delete;
  loopback_server& operator=(const loopback_server&) = delete;
  ~loopback_server() {
    io_.stop();
    thread_.join();
  }

  const std::string& url() const { return url_; }
  /// The request line of each request, in order.
  std::vector<std::string> request_lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(io_, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(asio::ip::tcp::socket socket) {
    constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
    asio::streambuf buffer;
    for (;;) {
      // The examples send GETs only: a request ends with its head.
      auto [read_error, length] = co_await asio::async_read_until(socket, buffer, "\r\n\r\n", no_throw);
      if (read_error) co_return;
      const std::string head(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + length);
      buffer.consume(length);
      std::string reply;
      {
        std::lock_guard lock(mutex_);
        lines_.push_back(head.substr(0, head.find("\r\n")));
        reply = replies_[std::min(lines_.size(), replies_.size()) - 1];
      }
      if (reply.empty()) continue;  // never answer; the next read ends when the client closes
      auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(reply), no_throw);
      (void)written;
      if (write_error) co_return;
    }
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::string url_;
  std::vector<std::string> replies_;
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
  std::jthread thread_;  // last: it runs io_, which uses the members above
};

std::string reply(const std::string& status_line, const std::string& body = {}) {
  return "HTTP/1.1 " + status_line + "\r\nContent-Length: " + std::to_string(body.size())
         + "\r\nContent-Type: application/json\r\n\r\n" + body;
}

using retryhttp_tests::capture;

}  // namespace

// ---- (a) A first real request
// ------------------------------------------------------------------------------------------

TEST_CASE("tutorial (a): print_vms retries a 503 over loopback and prints the 200's body", "[tutorial]") {
  loopback_server server{{reply("503 Service Unavailable"), reply("200 OK", R"({"vms":[]})")}};
  const capture out{std::cout};
  const capture err{std::cerr};
  std::stop_source stop;
  const auto start = std::chrono::steady_clock::now();
  CHECK(print_vms(server.url(), stop.get_token()) == 0);
  CHECK(std::chrono::steady_clock::now() - start >= 500ms);  // the default first backoff: 500 to 750 ms
  CHECK(out.text() == "{\"vms\":[]}\n");
  CHECK(err.text().empty());
  CHECK(server.request_lines() == std::vector<std::string>{"GET /v1/vms HTTP/1.1", "GET /v1/vms HTTP/1.1"});
}

TEST_CASE("tutorial (a): a 404 is delivered, not retried, and print_vms reports it", "[tutorial]") {
  loopback_server server{{reply("404 Not Found", R"({"error":"no such route"})")}};
  const capture out{std::cout};
  const capture err{std::cerr};
  CHECK(print_vms(server.url(), {}) == 1);
  CHECK(err.text() == "the server answered 404: {\"error\":\"no such route\"}\n");
  CHECK(out.text().empty());
  CHECK(server.request_lines().size() == 1);
}

TEST_CASE("tutorial (a): a stop from another thread ends a hung request at once", "[tutorial]") {
  loopback_server server{{""}};  // never answers
  const capture err{std::cerr};
  std::stop_source stop;
  const auto start = std::chrono::steady_clock::now();
  std::atomic<std::chrono::steady_clock::time_point> stopped_at{start};
  std::jthread stopper([&stop, &server, &stopped_at] {
    // Once the request has reached the server (or after 10 s, which fails the checks below), and a little
    // later, so that the call is waiting for the answer.
    for (int i = 0; i < 10'000 && server.request_lines().empty(); ++i) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(50ms);
    stopped_at = std::chrono::steady_clock::now();
    stop.request_stop();
  });
  CHECK(print_vms(server.url(), stop.get_token()) == 1);
  stopper.join();
  CHECK(std::chrono::steady_clock::now() - stopped_at.load() < 1s);  // not at the 2 s attempt timeout
  CHECK(err.text().starts_with("request canceled after 1 attempt"));
  CHECK(server.request_lines().size() == 1);
}

TEST_CASE("tutorial (a): a stop requested before the call sends nothing", "[tutorial]") {
  loopback_server server{{reply("200 OK", "{}")}};
  const capture err{std::cerr};
  std::stop_source stop;
  stop.request_stop();
  CHECK(print_vms(server.url(), stop.get_token()) == 1);
  CHECK(err.text() == "request canceled after 0 attempts\n");
  CHECK(server.request_lines().empty());
}

// ---- (b) A policy of your own: a linear backoff
// ------------------------------------------------------------------------

namespace {

// --- docs/tutorial.md linear backoff begin
/// base, 2 base, 3 base, ... never more than cap, and no randomness. A Backoff is a prototype: start() gives
/// each call a fresh schedule, so calls never share progress, and start() is const, so threads may share it.
struct linear_backoff {
  struct schedule {
    std::chrono::nanoseconds base;
    std::chrono::nanoseconds cap;

    std::chrono::nanoseconds next_delay(unsigned retry) const {  // retry = 0, 1, 2, ...
      if (base.count() <= 0) return std::chrono::nanoseconds(0);
      // base * (retry + 1), with no overflow for any retry: past cap / base steps, the delay is cap.
      const std::uint64_t steps = std::uint64_t{retry} + 1;
      if (steps > static_cast<std::uint64_t>(cap / base)) return cap;
      return base * static_cast<std::int64_t>(steps);
    }
  };

  schedule start(std::chrono::nanoseconds base, std::chrono::nanoseconds cap) const { return {base, cap}; }
};
static_assert(retryhttp::Backoff<linear_backoff>);
// --- docs/tutorial.md linear backoff end

}  // namespace

TEST_CASE("tutorial (b): linear_backoff grows by base, stops at cap and never overflows", "[tutorial]") {
  auto schedule = linear_backoff{}.start(100ms, 250ms);
  CHECK(schedule.next_delay(0) == 100ms);
  CHECK(schedule.next_delay(1) == 200ms);
  CHECK(schedule.next_delay(2) == 250ms);
  CHECK(schedule.next_delay(UINT_MAX) == 250ms);
  CHECK(linear_backoff{}.start(300ms, 1000ms).next_delay(2) == 900ms);  // not rounded up to the cap
  CHECK(linear_backoff{}.start(24h, 24h).next_delay(UINT_MAX) == 24h);
  CHECK(linear_backoff{}.start(0ms, 10s).next_delay(5) == 0ms);
}

TEST_CASE("tutorial (b): linear_backoff plugged into a real client", "[tutorial]") {
  loopback_server server{{reply("503 Service Unavailable"), reply("200 OK", "[]")}};
  const std::string url = server.url();
  // --- docs/tutorial.md linear backoff client begin
  retryhttp::retry_config config;
  config.base_delay = std::chrono::milliseconds(100);  // linear_backoff gets these as `base` and `cap`
  config.max_delay = std::chrono::milliseconds(250);
  using linear_client = retryhttp::basic_client<retryhttp::beast_transport, linear_backoff>;
  linear_client client{config, retryhttp::beast_transport{url}};  // clock and idempotency: http_client<>'s
  // --- docs/tutorial.md linear backoff client end
  const auto start = std::chrono::steady_clock::now();
  const auto result = client.send({http::verb::get, "/v1/vms", 11});
  CHECK(result.message() == "200 OK after 2 attempts");
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);
  CHECK(server.request_lines().size() == 2);
}

// --- docs/tutorial.md linear backoff test begin
using namespace std::chrono_literals;  // 100ms

TEST_CASE("linear_backoff waits 100, 200, then 250 ms (the cap)", "[tutorial]") {
  retryhttp::testing::fake_clock clock;
  retryhttp::testing::fake_transport transport{clock};
  transport.script({retryhttp::testing::respond(503), retryhttp::testing::respond(503),
                    retryhttp::testing::respond(503), retryhttp::testing::respond(200)});

  retryhttp::retry_config config;
  config.base_delay = std::chrono::milliseconds(100);
  config.max_delay = std::chrono::milliseconds(250);
  retryhttp::basic_client client{config, transport, linear_backoff{}, clock};

  const auto result = client.send({boost::beast::http::verb::get, "/v1/vms", 11});
  CHECK(result.message() == "200 OK after 4 attempts");
  CHECK(clock.requested_delays() == std::vector<std::chrono::nanoseconds>{100ms, 200ms, 250ms});
}
// --- docs/tutorial.md linear backoff test end

// ---- (c) Testing your own code with the fakes
// --------------------------------------------------------------------------

namespace {

// --- docs/tutorial.md user code begin
/// The body of GET /v1/vms, or "error: " and why there is none. A template over the client, so that
/// production code passes an http_client<> and a test passes a client on the fakes.
template <class Client>
std::string list_vms(Client& client, std::stop_token stop = {}) {
  const auto result = client.send({boost::beast::http::verb::get, "/v1/vms", 11}, std::move(stop));
  if (!result) return "error: " + result.message();
  if (result.response().result_int() != 200)
    return "error: the server answered " + std::to_string(result.response().result_int());
  return result.response().body();
}
// --- docs/tutorial.md user code end

}  // namespace

TEST_CASE("tutorial (c): list_vms over a real client", "[tutorial]") {
  loopback_server server{{reply("200 OK", R"({"vms":[]})")}};
  retryhttp::http_client<> client{retryhttp::retry_config{}, retryhttp::beast_transport{server.url()}};
  CHECK(list_vms(client) == R"({"vms":[]})");
}

// --- docs/tutorial.md user code tests begin
using namespace std::chrono_literals;  // 500ms
namespace fake = retryhttp::testing;

TEST_CASE("list_vms retries a 503 and returns the body of the 200", "[tutorial]") {
  fake::fake_clock clock;                 // virtual time: a wait passes at once, and is recorded
  fake::fake_transport transport{clock};  // plays a script, records each request; copies share both
  transport.then(fake::respond(503)).then(fake::respond(200, R"({"vms":[]})"));
  retryhttp::basic_client client{retryhttp::retry_config{}, transport, retryhttp::no_jitter_backoff{}, clock};

  CHECK(list_vms(client) == R"({"vms":[]})");
  CHECK(transport.requests().size() == 2);
  CHECK(transport.requests()[1].target() == "/v1/vms");
  CHECK(clock.requested_delays() == std::vector<std::chrono::nanoseconds>{500ms});  // no jitter: exact
  CHECK(clock.elapsed() == 500ms);
}

TEST_CASE("list_vms reports retries exhausted after 4 attempts and 3 waits", "[tutorial]") {
  fake::fake_clock clock;
  fake::fake_transport transport{clock};
  transport.otherwise(fake::respond(503));  // every attempt
  retryhttp::basic_client client{retryhttp::retry_config{}, transport, retryhttp::no_jitter_backoff{}, clock};

  CHECK(list_vms(client) == "error: request failed after 3 retries: 503 Service Unavailable");
  CHECK(transport.attempt_count() == 4);
  CHECK(clock.requested_delays() == std::vector<std::chrono::nanoseconds>{500ms, 1000ms, 2000ms});
}

TEST_CASE("list_vms stops 200 ms into the first wait, exactly", "[tutorial]") {
  fake::fake_clock clock;
  fake::fake_transport transport{clock};
  transport.otherwise(fake::respond(503));
  retryhttp::basic_client client{retryhttp::retry_config{}, transport, retryhttp::no_jitter_backoff{}, clock};
  std::stop_source stop;
  clock.request_stop_at(clock.now() + 200ms, stop);  // an event on the virtual timeline

  CHECK(list_vms(client, stop.get_token())
        == "error: request canceled after 1 attempt; the last one ended with 503 Service Unavailable");
  CHECK(transport.attempt_count() == 1);
  CHECK(clock.elapsed() == 200ms);
  CHECK(clock.waits().at(0).interrupted);
}

TEST_CASE("list_vms does not retry a 404", "[tutorial]") {
  fake::fake_clock clock;
  fake::fake_transport transport{clock};
  transport.then(fake::respond(404));
  retryhttp::basic_client client{retryhttp::retry_config{}, transport, retryhttp::no_jitter_backoff{}, clock};

  CHECK(list_vms(client) == "error: the server answered 404");
  CHECK(transport.attempt_count() == 1);
  CHECK(clock.waits().empty());
}
// --- docs/tutorial.md user code tests end
