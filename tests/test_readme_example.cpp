// README.md's examples, verbatim inside this test, so the README never shows code that does not compile or
// does not do what it says. The last test case checks "verbatim": the ```cpp blocks of README.md equal, in
// order, the texts between the pairs of "// --- README ... begin/end" lines of this file.

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_transport.hpp>

#include <retryhttp/async_beast_transport.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "support/capture_stream.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

/// A loopback HTTP server on 127.0.0.1 for the coroutine example: answers the n-th request with `replies[n]`
/// on kept-alive connections, and records when each request came. Once the last reply is written it accepts
/// no more connections, so that io_context::run returns when the client has closed its connection.
class canned_server {
 public:
  canned_server(asio::io_context& io, std::vector<std::string> replies)
      : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}), replies_(std::move(replies)) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  std::size_t connections() const { return connections_; }
  const std::vector<std::string>& heads() const { return heads_; }
  const std::vector<std::chrono::steady_clock::time_point>& arrivals() const { return arrivals_; }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++connections_;
      asio::co_spawn(acceptor_.get_executor(), session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(asio::ip::tcp::socket socket) {
    constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
    asio::streambuf buffer;
    for (;;) {
      // The example sends GETs only: a request ends with its head.
      auto [read_error, length] = co_await asio::async_read_until(socket, buffer, "\r\n\r\n", no_throw);
      if (read_error) co_return;
      arrivals_.push_back(std::chrono::steady_clock::now());
      heads_.emplace_back(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + length);
      buffer.consume(length);
      const std::string& reply = replies_[std::min(heads_.size(), replies_.size()) - 1];
      auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(reply), no_throw);
      (void)written;
      if (write_error) co_return;
      if (heads_.size() == replies_.size()) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
      }
    }
  }

  asio::ip::tcp::acceptor acceptor_;
  std::vector<std::string> replies_;
  std::size_t connections_ = 0;
  std::vector<std::string> heads_;
  std::vector<std::chrono::steady_clock::time_point> arrivals_;
};

/// Stops `io` from another thread if it still runs after `limit`. The README's example calls io.run(), which
/// the test cannot replace by run_for without the code no longer being the README's: this bounds it instead.
class watchdog {
 public:
  watchdog(asio::io_context& io, std::chrono::seconds limit)
      : thread_([this, &io, limit](std::stop_token stop) {
          std::unique_lock lock(mutex_);
          woken_.wait_for(lock, stop, limit, [] { return false; });
          if (stop.stop_requested()) return;
          fired_ = true;
          io.stop();
        }) {}
  bool fired() const { return fired_; }

 private:
  std::mutex mutex_;
  std::condition_variable_any woken_;
  std::atomic<bool> fired_{false};
  std::jthread thread_;  // last: it uses the members above
};

}  // namespace

TEST_CASE("README's first example compiles and retries a 503", "[readme]") {
  // --- README begin
  retryhttp::testing::fake_clock clock;  // virtual time: the 0.5-0.75 s backoff takes no real time
  retryhttp::testing::fake_transport transport{clock};
  transport.script({retryhttp::testing::respond(503), retryhttp::testing::respond(200, "hello")});

  retryhttp::basic_client client{retryhttp::retry_config{}, transport, retryhttp::exponential_backoff{},
                                 clock};
  auto result = client.send({boost::beast::http::verb::get, "/v1/vms", 11});
  std::cout << result.message() << '\n';  // 200 OK after 2 attempts
  // --- README end
  CHECK(result.message() == "200 OK after 2 attempts");
  CHECK(result.response().body() == "hello");
}

namespace {

// --- README coroutine begin
asio::awaitable<void> list_vms(std::string url) {
  auto executor = co_await asio::this_coro::executor;
  retryhttp::async_http_client<> client{retryhttp::retry_config{}, {executor, url}};
  auto result = co_await client.async_send({http::verb::get, "/v1/vms", 11}, asio::use_awaitable);
  std::cout << result.message() << '\n';  // 200 OK after 2 attempts
}
// --- README coroutine end

}  // namespace

TEST_CASE("README's coroutine example retries a 503 over loopback, after a real backoff", "[readme][async]") {
  asio::io_context io;
  canned_server server{io,
                       {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n[]"}};
  const std::string url = server.url();
  const watchdog bound{io, 10s};
  const retryhttp_tests::capture printed{std::cout};
  // --- README coroutine run begin
  asio::co_spawn(io, list_vms(url), asio::detached);  // io: your asio::io_context
  io.run();
  // --- README coroutine run end
  REQUIRE_FALSE(bound.fired());
  CHECK(printed.text() == "200 OK after 2 attempts\n");
  REQUIRE(server.heads().size() == 2);
  CHECK(server.heads()[0].starts_with("GET /v1/vms HTTP/1.1\r\n"));
  CHECK(server.heads()[1].starts_with("GET /v1/vms HTTP/1.1\r\n"));
  CHECK(server.connections() == 1);  // the pool kept the connection the 503 came on
  // The default retry_config: the first backoff is 500 ms plus up to 250 ms of jitter.
  CHECK(server.arrivals()[1] - server.arrivals()[0] >= 500ms);
}

namespace {

std::vector<std::string> read_lines(const char* variable) {
  const char* path = std::getenv(variable);
  INFO(variable << " must name a file: `meson test readme_example` sets it (tests/meson.build)");
  REQUIRE(path != nullptr);
  std::ifstream in(path);
  INFO("reading " << path);
  REQUIRE(in);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string_view trimmed(std::string_view line) {
  const auto first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return line.substr(first, line.find_last_not_of(" \t") + 1 - first);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + '\n';
  return text;
}

/// The ```cpp blocks of a Markdown file, in order.
std::vector<std::string> cpp_blocks(const std::vector<std::string>& markdown) {
  std::vector<std::string> blocks;
  std::vector<std::string> block;
  bool inside = false;
  for (const auto& line : markdown) {
    if (!inside && trimmed(line) == "```cpp") {
      inside = true;
      block.clear();
    } else if (inside && trimmed(line) == "```") {
      inside = false;
      blocks.push_back(joined(block));
    } else if (inside) {
      block.push_back(line);
    }
  }
  return blocks;
}

struct marked_region {
  std::string name;
  std::string text;
};

/// The text between each "// --- README <name>begin" line and the "// --- README <name>end" line after it, in
/// order, with the indentation its lines have in common removed.
std::vector<marked_region> marked_regions(const std::vector<std::string>& source) {
  constexpr std::string_view prefix = "// --- README ";
  std::vector<marked_region> regions;
  for (std::size_t i = 0; i < source.size(); ++i) {
    const auto begin = trimmed(source[i]);
    if (!begin.starts_with(prefix) || !begin.ends_with("begin")) continue;
    const std::string name(begin.substr(prefix.size(), begin.size() - prefix.size() - 5));
    const std::string end_marker = std::string(prefix) + name + "end";
    std::vector<std::string> lines;
    std::size_t j = i + 1;
    while (j < source.size() && trimmed(source[j]) != end_marker) lines.push_back(source[j++]);
    INFO("no \"" << end_marker << "\" after line " << i + 1 << " of the test source");
    REQUIRE(j < source.size());
    std::size_t indent = std::string::npos;
    for (const auto& line : lines)
      if (!trimmed(line).empty()) indent = std::min(indent, line.find_first_not_of(' '));
    for (auto& line : lines) line = trimmed(line).empty() ? std::string() : line.substr(indent);
    regions.push_back({name.empty() ? "(first example)" : name.substr(0, name.size() - 1), joined(lines)});
    i = j;
  }
  return regions;
}

}  // namespace

TEST_CASE("every C++ block of README.md is the code between markers in this test, verbatim", "[readme]") {
  const auto blocks = cpp_blocks(read_lines("README"));
  const auto regions = marked_regions(read_lines("README_TEST_SOURCE"));
  REQUIRE(regions.size() == 3);  // a misspelled begin marker would otherwise drop its region unnoticed
  REQUIRE(blocks.size() == regions.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    INFO("README block " << i + 1 << " against the region \"" << regions[i].name << "\"");
    CHECK(blocks[i] == regions[i].text);
  }
}
