#include <retryhttp/beast_transport.hpp>
#include <retryhttp/format.hpp>

#include <fmt/format.h>
#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/write.hpp>
#include <catch2/catch.hpp>

#include "support/full_backlog_listener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_beast_transport {

// URL parsing, and how raw replies from a broken server on loopback are classified. A canned server accepts
// one connection, reads the request head, writes fixed bytes and closes: bounded, on 127.0.0.1 only.

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using retryhttp::beast_transport;
using retryhttp::failure_kind;
using retryhttp::http_endpoint;

namespace {

/// Accepts one connection and answers one request per reply, in order; records the first request's head. Then
/// it closes, or (hold_open) keeps the connection open, unanswered, until the client closes it. Counts the
/// requests that reached it (one more once a byte arrives on the held connection), for tests that must act
/// only after a request has been sent.
class canned_server {
 public:
  explicit canned_server(std::string reply, bool hold_open = false)
      : canned_server(std::vector<std::string>{std::move(reply)}, hold_open) {}
  canned_server(std::vector<std::string> replies, bool hold_open)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, replies = std::move(replies), hold_open] {
      boost::system::error_code ec;
      asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      asio::streambuf head;
      for (std::size_t i = 0; i < replies.size() && !ec; ++i) {
        const auto size = asio::read_until(socket, head, "\r\n\r\n", ec);
        if (ec) break;
        ++requests_seen_;
        if (i == 0)
          received_head_ =
              std::string(asio::buffers_begin(head.data()), asio::buffers_begin(head.data()) + size);
        head.consume(size);
        asio::write(socket, asio::buffer(replies[i]), ec);
      }
      char byte = 0;
      for (bool first = true; hold_open && !ec; first = false) {  // until the client closes
        socket.read_some(asio::buffer(&byte, 1), ec);
        if (first && !ec) ++requests_seen_;
      }
      socket.close(ec);
    });
  }
  ~canned_server() {
    // A server that never got its connection (the request was refused before connecting) is blocked in
    // accept(), which closing the acceptor does not wake on Linux: shutdown(2) does.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  unsigned short port() const { return port_; }
  int requests_seen() const { return requests_seen_.load(); }
  /// The request line and fields the server received first. Waits for the server thread to finish (it does
  /// once it has replied, unless it holds the connection open), so the read is ordered after its write.
  const std::string& received_head() {
    if (thread_.joinable()) thread_.join();
    return received_head_;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::string received_head_;
  std::atomic<int> requests_seen_{0};
  std::thread thread_;
};

retryhttp::attempt_outcome<beast_transport::response_type> get(beast_transport& transport,
                                                               std::chrono::nanoseconds timeout = 5s) {
  return transport.attempt({http::verb::get, "/v1/vms", 11}, {{}, timeout, 1});
}

/// The attempt fails as an ambiguous timeout, within a generous bound of real time.
void check_times_out(beast_transport& transport, std::chrono::milliseconds timeout,
                     std::chrono::seconds bound) {
  const auto start = std::chrono::steady_clock::now();
  auto outcome = get(transport, timeout);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::ambiguous);
  CHECK(outcome.failure().code == boost::system::errc::timed_out);
  CHECK(std::chrono::steady_clock::now() - start < bound);
}

/// A stop from another thread, once the server has the request (its requests_seen() reaches `sent`) and so
/// while the attempt waits for its response, ends it at once as an ambiguous cancel.
void check_stopped_from_another_thread(beast_transport& transport, const canned_server& server, int sent) {
  std::stop_source source;
  std::thread stopper([&] {
    asio::io_context io;
    asio::steady_timer timer(io);
    const auto give_up = std::chrono::steady_clock::now() + 10s;  // the check below then fails: not sent
    while (server.requests_seen() < sent && std::chrono::steady_clock::now() < give_up) {
      timer.expires_after(1ms);
      timer.wait();
    }
    timer.expires_after(50ms);  // and a little more, so the attempt is waiting, not about to
    timer.wait();
    source.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  auto outcome = transport.attempt({http::verb::get, "/", 11}, {source.get_token(), 30s, 1});
  stopper.join();
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::ambiguous);
  CHECK(outcome.failure().code == boost::system::errc::operation_canceled);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

}  // namespace

TEST_CASE("endpoint URLs: http with host and port, IPv4 and IPv6", "[beast_transport]") {
  const auto v4 = http_endpoint::parse("http://127.0.0.1:8080");
  CHECK(v4.host == "127.0.0.1");
  CHECK(v4.port == "8080");
  CHECK(v4.host_header == "127.0.0.1:8080");
  const auto v6 = http_endpoint::parse("http://[::1]:9000/");
  CHECK(v6.host == "::1");
  CHECK(v6.port == "9000");
  CHECK(v6.host_header == "[::1]:9000");
  const auto named = http_endpoint::parse("http://orchestrator.local");
  CHECK(named.port == "80");
  CHECK(named.host_header == "orchestrator.local");
  CHECK(http_endpoint::parse("HTTP://h:1").port == "1");  // a scheme is case-insensitive
  const auto edges = http_endpoint::parse("http://h:65535");
  CHECK(edges.port == "65535");
  const auto padded = http_endpoint::parse("http://h:0080");
  CHECK(padded.port == "80");
  CHECK(padded.host_header == "h:80");
  const auto decoded = http_endpoint::parse("http://or%63hestrator.local:1");
  CHECK(decoded.host == "orchestrator.local");
  CHECK(decoded.host_header == "orchestrator.local:1");
  CHECK_FALSE(v4.is_unix_socket());
}

TEST_CASE("endpoint URLs: https is TLS on port 443 unless given, and knows an address from a name",
          "[beast_transport][tls]") {
  const auto named = http_endpoint::parse("https://orchestrator.example");
  CHECK(named.tls);
  CHECK(named.port == "443");
  CHECK(named.host_header == "orchestrator.example");
  CHECK_FALSE(named.host_is_address);
  CHECK(named.name() == "https://orchestrator.example");
  const auto v4 = http_endpoint::parse("HTTPS://127.0.0.1:8443");
  CHECK(v4.tls);
  CHECK(v4.port == "8443");
  CHECK(v4.host_is_address);
  CHECK(http_endpoint::parse("https://[::1]:9443").host_is_address);
  const auto plain = http_endpoint::parse("http://127.0.0.1:8080");
  CHECK_FALSE(plain.tls);
  CHECK(plain.name() == "127.0.0.1:8080");
  CHECK(http_endpoint::parse("unix:///run/o.sock").name() == "unix:///run/o.sock");
}

TEST_CASE("TLS files that cannot be used are refused when the transport is made, naming the option",
          "[beast_transport][tls]") {
  const auto missing = std::filesystem::temp_directory_path() / "retryhttp-no-such-ca.pem";
  retryhttp::beast_transport_options options;
  options.tls.ca_file = missing.string();
  try {
    beast_transport transport{"https://127.0.0.1:8443", options};
    FAIL("a missing ca_file was accepted");
  } catch (const std::invalid_argument& error) {
    CHECK_THAT(error.what(), Catch::Contains("tls ca_file \"" + missing.string() + "\""));
  }
  options.tls.ca_file.clear();
  options.tls.cert_file = "/etc/hostname";
  try {
    beast_transport transport{"https://127.0.0.1:8443", options};
    FAIL("a cert_file without key_file was accepted");
  } catch (const std::invalid_argument& error) {
    CHECK_THAT(error.what(), Catch::Contains("cert_file and key_file go together"));
  }
  options.tls.key_file = "/etc/hostname";
  try {
    beast_transport transport{"https://127.0.0.1:8443", options};
    FAIL("a cert_file that is not PEM was accepted");
  } catch (const std::invalid_argument& error) {
    CHECK_THAT(error.what(), Catch::Contains("tls cert_file \"/etc/hostname\""));
  }
  // Plain http ignores the TLS options: nothing is loaded.
  CHECK_NOTHROW(beast_transport{"http://127.0.0.1:8080", options});
}

TEST_CASE("endpoint URLs: unix:// names a Unix domain socket by its absolute path", "[beast_transport]") {
  const auto docker = http_endpoint::parse("unix:///var/run/docker.sock");
  CHECK(docker.is_unix_socket());
  CHECK(docker.socket_path == "/var/run/docker.sock");
  CHECK(docker.host_header == "localhost");
  CHECK(docker.host.empty());
  CHECK(http_endpoint::parse("UNIX:///a").socket_path == "/a");  // a scheme is case-insensitive
  const std::string longest = "/" + std::string(106, 'x');       // 107 bytes: sun_path with its NUL
  CHECK(http_endpoint::parse("unix://" + longest).socket_path == longest);
}

TEST_CASE("a bad endpoint URL is a clear error", "[beast_transport]") {
  using row = std::tuple<std::string, std::string>;
  const auto [url, words] = GENERATE(table<std::string, std::string>({
      row{"ftp://host", "only http://, https:// and unix:// are supported"},
      row{"https://", "has no host"},
      row{"https://admin:s3cret@host", "\"https://***@host\": user info is not supported"},
      row{"unix://run/orchestrator.sock", "a Unix socket's path must be absolute"},
      row{"unix://", "a Unix socket's path must be absolute"},
      row{"unix:///" + std::string(107, 'x'), "may be at most 107 bytes, got 108"},
      row{"unix:///run/a\nb.sock", "holds a control character"},
      row{"unix:///run/a.sock?x=1", "must not have a query or fragment"},
      row{"127.0.0.1:8080", "is not a URL"},
      row{"not a url", "is not a URL"},
      // No "//" after the scheme: refused before Boost.URL 1.81, which fails an assertion on some of these.
      row{"http:?", "is not a URL"},
      row{"h.t.h:]", "is not a URL"},
      row{"ll:\n", "is not a URL"},
      row{"http://", "has no host"},
      row{"http://host:8080/api", "must not have a path"},
      row{"http://host:8080?x=1", "must not have a path"},
      row{"http://user@host:8080", "user info"},
      row{"http://admin:s3cret@host:8080", "\"http://***@host:8080\": user info is not supported"},
      // A port is 1 to 65535 as written: 99999 would wrap to 34463 and send requests to another service.
      row{"http://127.0.0.1:99999", "the port must be from 1 to 65535, got 99999"},
      row{"http://127.0.0.1:65536", "the port must be from 1 to 65535"},
      row{"http://127.0.0.1:0", "the port must be from 1 to 65535, got 0"},
      row{"http://127.0.0.1:000", "the port must be from 1 to 65535"},
      row{"http://127.0.0.1:18446744073709551617", "the port must be from 1 to 65535"},
      // Percent-decoded bytes that no host name holds never reach the resolver or the Host field.
      row{"http://exa%00mple.com:80", "a byte 0"},
      row{"http://a%0d%0aX-Injected:1", "a byte 13"},
      row{"http://a%20b", "' '"},
      row{"http://a%25b", "'%'"},
      row{"http://[v1.x]:80", "not a name, IPv4 or IPv6 address"},
  }));
  CAPTURE(url);
  REQUIRE_THROWS_AS(beast_transport{url}, std::invalid_argument);
  try {
    beast_transport transport{url};
  } catch (const std::invalid_argument& error) {
    CHECK_THAT(error.what(), Catch::Contains(words));
    CHECK(std::string(error.what()).find("s3cret") == std::string::npos);
  }
}

TEST_CASE("a complete response is delivered, with Host, User-Agent and Content-Length sent",
          "[beast_transport]") {
  SECTION("a GET") {
    canned_server server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    beast_transport transport{server.url()};
    auto outcome = get(transport);
    REQUIRE(outcome.has_response());
    CHECK(outcome.response().body() == "ok");
    CHECK_THAT(server.received_head(), Catch::StartsWith("GET /v1/vms HTTP/1.1\r\n"));
    CHECK_THAT(server.received_head(),
               Catch::Contains("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"));
    CHECK_THAT(server.received_head(),
               Catch::Contains("User-Agent: retryhttp/" RETRYHTTP_VERSION_STRING "\r\n"));
  }
  SECTION("a POST whose body has no Content-Length yet, and a caller's own User-Agent") {
    canned_server server("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    beast_transport transport{server.url()};
    beast_transport::request_type post{http::verb::post, "/v1/vms", 11, R"({"name":"a"})"};
    post.set(http::field::user_agent, "mine/1");
    auto outcome = transport.attempt(post, {{}, 5s, 1});
    REQUIRE(outcome.has_response());
    CHECK(outcome.response().result_int() == 201);
    CHECK_THAT(server.received_head(), Catch::Contains("Content-Length: 12\r\n"));
    CHECK_THAT(server.received_head(), Catch::Contains("User-Agent: mine/1\r\n"));
  }
  SECTION("a wrong Content-Length is corrected, and two of them become one") {
    canned_server server("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    beast_transport transport{server.url()};
    beast_transport::request_type post{http::verb::post, "/v1/vms", 11, R"({"name":"a"})"};
    post.set(http::field::host, "orchestrator.test");
    post.set(http::field::user_agent, "mine/1");
    const bool twice = GENERATE(false, true);
    CAPTURE(twice);
    post.set(http::field::content_length, "3");
    if (twice) post.insert(http::field::content_length, "12");
    REQUIRE(transport.attempt(post, {{}, 5s, 1}).has_response());
    const auto head = server.received_head();
    CHECK_THAT(head, Catch::Contains("Content-Length: 12\r\n"));
    CHECK(head.find("Content-Length") == head.rfind("Content-Length"));
    CHECK_THAT(head, Catch::Contains("Host: orchestrator.test\r\n"));
  }
  SECTION("a request that has all it needs is sent as it is, its fields in its order") {
    canned_server server("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    beast_transport transport{server.url()};
    beast_transport::request_type post{http::verb::post, "/v1/vms", 11, R"({"name":"a"})"};
    post.set(http::field::content_length, "12");
    post.set("X-Trace", "t-1");
    post.set(http::field::user_agent, "mine/1");
    post.set(http::field::host, "orchestrator.test");
    REQUIRE(transport.attempt(post, {{}, 5s, 1}).has_response());
    CHECK(server.received_head()
          == "POST /v1/vms HTTP/1.1\r\nContent-Length: 12\r\nX-Trace: t-1\r\nUser-Agent: mine/1\r\n"
             "Host: orchestrator.test\r\n\r\n");
  }
}

TEST_CASE("broken replies are ambiguous failures with a clear message, never a crash or a hang",
          "[beast_transport]") {
  using row = std::tuple<std::string, std::string>;
  const auto [reply, words] = GENERATE(table<std::string, std::string>({
      row{"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not valid HTTP"},
      row{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", "cut off"},
      row{"", "closed the connection without answering"},
      row{"HTTP/1.1 200 OK\r\nContent-Length: 9999999999\r\n\r\n", "larger than the limit"},
  }));
  CAPTURE(reply);
  canned_server server(reply);
  beast_transport transport{server.url()};
  auto outcome = get(transport);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::ambiguous);
  CHECK_THAT(outcome.failure().message(), Catch::Contains(words));
}

TEST_CASE("a response over a limit is a permanent failure, whichever part of it is too large",
          "[beast_transport]") {
  // Beast's parser limits the header and the body but not a chunk-size line's extensions or a trailer:
  // the read buffer's maximum is what bounds those.
  const std::string endless(300 * 1024, 'a');
  using row = std::tuple<std::string, std::string>;
  const auto [reply, words] = GENERATE_COPY(table<std::string, std::string>({
      row{"HTTP/1.1 200 OK\r\nContent-Length: 9999999999\r\n\r\n", "body is larger than the limit"},
      row{"HTTP/1.1 200 OK\r\nX-Long: " + endless, "header is larger than the limit"},
      row{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=" + endless,
          "larger than the read buffer's limit of 131072 bytes"},
      row{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: " + endless,
          "larger than the read buffer's limit of 131072 bytes"},
  }));
  CAPTURE(words);
  canned_server server(reply);
  beast_transport transport{server.url()};
  auto outcome = get(transport);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::ambiguous);
  CHECK(outcome.failure().permanent);
  CHECK_THAT(outcome.failure().message(), Catch::Contains(words));
}

TEST_CASE("interim 1xx responses are skipped: the final response answers the request", "[beast_transport]") {
  const std::string interim = GENERATE(as<std::string>{}, "HTTP/1.1 100 Continue\r\n\r\n",
                                       "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
                                       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n");
  CAPTURE(interim);
  // On a kept-alive connection: the second request must read its own answer, not the first one's.
  canned_server server({interim + "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nfirst",
                        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"},
                       true);
  beast_transport transport{server.url()};
  auto first = get(transport);
  REQUIRE(first.has_response());
  CHECK(first.response().result_int() == 201);
  CHECK(first.response().body() == "first");
  auto second = get(transport);
  REQUIRE(second.has_response());
  CHECK(second.response().result_int() == 200);
  CHECK(second.response().body() == "second");
  CHECK(transport.connections_opened() == 1);
}

TEST_CASE("an endless run of interim responses, or a 101 nobody asked for, fails the attempt",
          "[beast_transport]") {
  SECTION("exactly as many interim responses as allowed, then the answer: delivered") {
    std::string eight;
    for (int i = 0; i < 8; ++i) eight += "HTTP/1.1 103 Early Hints\r\n\r\n";
    canned_server server(eight + "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", true);
    beast_transport transport{server.url()};
    auto outcome = get(transport, 5s);
    REQUIRE(outcome.has_response());
    CHECK(outcome.response().result_int() == 201);
  }
  SECTION("more interim responses than allowed: permanent") {
    std::string many;
    for (int i = 0; i < 9; ++i) many += "HTTP/1.1 103 Early Hints\r\n\r\n";
    canned_server server(many + "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", true);
    beast_transport transport{server.url()};
    auto outcome = get(transport, 5s);
    REQUIRE_FALSE(outcome.has_response());
    CHECK(outcome.failure().kind == failure_kind::ambiguous);
    CHECK(outcome.failure().permanent);
    CHECK_THAT(outcome.failure().message(), Catch::Contains("more than 8 interim (1xx) responses"));
  }
  SECTION("101 Switching Protocols") {
    canned_server server("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", true);
    beast_transport transport{server.url()};
    auto outcome = get(transport, 5s);
    REQUIRE_FALSE(outcome.has_response());
    CHECK(outcome.failure().kind == failure_kind::ambiguous);
    CHECK_THAT(outcome.failure().message(), Catch::Contains("switched protocols (101)"));
  }
  SECTION("a status below 100 is not HTTP, never an interim response to skip") {
    canned_server server(
        "HTTP/1.1 042 Odd\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true);
    beast_transport transport{server.url()};
    auto outcome = get(transport, 5s);
    REQUIRE_FALSE(outcome.has_response());
    CHECK_THAT(outcome.failure().message(), Catch::Contains("not valid HTTP/1.1 (status 42)"));
  }
  SECTION("100 Continue, then nothing: the attempt's timeout") {
    canned_server server("HTTP/1.1 100 Continue\r\n\r\n", true);
    beast_transport transport{server.url()};
    check_times_out(transport, 200ms, 5s);
  }
}

TEST_CASE("a request whose target or fields hold CR, LF or another control byte is never written",
          "[beast_transport]") {
  using request = beast_transport::request_type;
  request injected{http::verb::post, "/v1/vms", 11, "{}"};
  const int variant = GENERATE(0, 1, 2, 3, 4);
  CAPTURE(variant);
  std::string words;
  switch (variant) {
    case 0:
      injected.set("Idempotency-Key", "k\r\n\r\nPOST /v1/vms HTTP/1.1");
      words = "the field \"Idempotency-Key\" holds a control character";
      break;
    case 1:
      injected.set(http::field::authorization, std::string("Bearer a\0b", 10));
      words = "the field \"Authorization\" holds a control character";
      break;
    case 2:
      injected.target("/v1/vms HTTP/1.1\r\nX: y");
      words = "the request target";
      break;
    case 3:
      injected.target("");
      words = "the request target";
      break;
    case 4:
      injected.set("Bad Name", "v");
      words = "a field name is not a token";
      break;
  }
  canned_server server("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  beast_transport transport{server.url()};
  auto outcome = transport.attempt(injected, {{}, 5s, 1});
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::not_sent);
  CHECK(outcome.failure().permanent);
  CHECK_THAT(outcome.failure().message(), Catch::Contains(words));
  CHECK(outcome.failure().message().find('\r') == std::string::npos);  // the bytes are not echoed
  CHECK(transport.connections_opened() == 0);                          // refused before connecting
}

TEST_CASE("a User-Agent option with a control character is refused when the transport is built",
          "[beast_transport]") {
  retryhttp::beast_transport_options options;
  options.user_agent = "agent\r\nX-Injected: 1";
  CHECK_THROWS_AS(beast_transport("http://127.0.0.1:1", options), std::invalid_argument);
}

TEST_CASE("a read time-out says that the response did not come in time", "[beast_transport]") {
  canned_server server("", true);
  beast_transport transport{server.url()};
  auto outcome = get(transport, 200ms);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().message() == "timed out (no complete response within the attempt's 200 ms)");
}

TEST_CASE("the body limit is configurable", "[beast_transport]") {
  canned_server server("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789");
  retryhttp::beast_transport_options options;
  options.body_limit = 10;
  beast_transport transport{server.url(), options};
  auto outcome = get(transport);
  REQUIRE_FALSE(outcome.has_response());
  CHECK_THAT(outcome.failure().message(), Catch::Contains("larger than the limit of 10 bytes"));
}

TEST_CASE("a server that never answers times out within the attempt's timeout", "[beast_transport]") {
  canned_server server("", true);
  beast_transport transport{server.url()};
  check_times_out(transport, 200ms, 5s);
}

TEST_CASE("a refused connection is not_sent", "[beast_transport]") {
  asio::io_context io;
  asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = probe.local_endpoint().port();
  probe.close();
  beast_transport transport{"http://127.0.0.1:" + std::to_string(port)};
  auto outcome = get(transport);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::not_sent);
  CHECK(outcome.failure().code == asio::error::connection_refused);
}

TEST_CASE("a stop requested during a request in flight cancels it at once", "[beast_transport][threads]") {
  canned_server server("", true);
  beast_transport transport{server.url()};
  check_stopped_from_another_thread(transport, server, 1);
}

// ---- Kept-alive connections, and the synchronous exchange (detail::socket_stream) with its deadline
// -------------

namespace {
/// Answers one request per reply on one kept-alive connection, then holds it open, unanswered.
class keep_alive_server : public canned_server {
 public:
  explicit keep_alive_server(std::vector<std::string> replies) : canned_server(std::move(replies), true) {}
};

const std::string ok_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Three GETs, each answered "ok", on one kept-alive connection.
void check_three_kept_alive(beast_transport& transport) {
  for (int i = 0; i < 3; ++i) {
    auto outcome = get(transport);
    REQUIRE(outcome.has_response());
    CHECK(outcome.response().body() == "ok");
  }
  CHECK(transport.connections_opened() == 1);
}
}  // namespace

TEST_CASE("kept-alive requests reuse the connection and read each response", "[beast_transport]") {
  keep_alive_server server({ok_reply, ok_reply, ok_reply});
  beast_transport transport{server.url()};
  check_three_kept_alive(transport);
}

TEST_CASE("on a kept-alive connection, an unanswered request times out within its timeout",
          "[beast_transport]") {
  keep_alive_server server({ok_reply});
  beast_transport transport{server.url()};
  REQUIRE(get(transport).has_response());
  check_times_out(transport, 200ms, 5s);
}

TEST_CASE("on a kept-alive connection, a stop from another thread cancels the request at once",
          "[beast_transport][threads]") {
  keep_alive_server server({ok_reply});
  beast_transport transport{server.url()};
  REQUIRE(get(transport).has_response());
  check_stopped_from_another_thread(transport, server, 2);
}

TEST_CASE("on a kept-alive connection, broken replies are still clear ambiguous failures",
          "[beast_transport]") {
  using row = std::tuple<std::string, std::string>;
  const auto [reply, words] = GENERATE(table<std::string, std::string>({
      row{"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not valid HTTP"},
      row{"HTTP/1.1 200 OK\r\nContent-Length: 9999999999\r\n\r\n", "larger than the limit"},
  }));
  CAPTURE(reply);
  keep_alive_server server({ok_reply, reply});
  beast_transport transport{server.url()};
  REQUIRE(get(transport).has_response());
  auto outcome = get(transport, 2s);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::ambiguous);
  CHECK_THAT(outcome.failure().message(), Catch::Contains(words));
}

namespace {
/// One kept-alive connection; for each request, writes its chunks, each after its pause. Stops when the
/// chunks run out or the client goes away, then holds the connection until the client closes it.
class paced_server {
 public:
  using chunk = std::pair<std::chrono::milliseconds, std::string>;
  explicit paced_server(std::vector<std::vector<chunk>> answers)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, answers = std::move(answers)] {
      boost::system::error_code ec;
      asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      asio::streambuf head;
      for (std::size_t i = 0; i < answers.size() && !ec; ++i) {
        head.consume(asio::read_until(socket, head, "\r\n\r\n", ec));
        for (std::size_t c = 0; c < answers[i].size() && !ec; ++c) {
          asio::steady_timer pause(io_, answers[i][c].first);
          pause.wait(ec);
          asio::write(socket, asio::buffer(answers[i][c].second), ec);
        }
      }
      char byte = 0;
      while (!ec) socket.read_some(asio::buffer(&byte, 1), ec);  // until the client closes
    });
  }
  ~paced_server() {
    ::shutdown(acceptor_.native_handle(),
               SHUT_RDWR);  // wakes a thread blocked in accept() (see canned_server)
    if (thread_.joinable()) thread_.join();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread thread_;
};
}  // namespace

TEST_CASE("a response that trickles in is held to the attempt's deadline as a whole, not per read",
          "[beast_transport]") {
  // One body byte every 40 ms: each read waits far less than the timeout, the whole would take 4 s.
  std::vector<paced_server::chunk> trickle{{0ms, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"}};
  for (int i = 0; i < 100; ++i) trickle.push_back({40ms, "x"});
  paced_server server({trickle});
  beast_transport transport{server.url()};
  check_times_out(transport, 300ms, 2s);
}

TEST_CASE("a short timeout of an earlier attempt does not cut a later, longer one short",
          "[beast_transport]") {
  // The connection keeps its receive timeout between attempts: the second attempt must wait its own 5 s for
  // an answer that takes 2 s, longer than the first attempt's whole 1 s (which is generous only so that a
  // loaded machine answers the first in time).
  paced_server server({{{0ms, ok_reply}}, {{2s, ok_reply}}});
  beast_transport transport{server.url()};
  REQUIRE(get(transport, 1s).has_response());
  auto outcome = get(transport, 5s);
  REQUIRE(outcome.has_response());
  CHECK(outcome.response().body() == "ok");
  CHECK(transport.connections_opened() == 1);
}

TEST_CASE("a write on a connection the server has reset fails with nothing written", "[beast_transport]") {
  // What makes beast_transport report such a failure as not_sent: the request never left this host.
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  {
    asio::ip::tcp::socket server = acceptor.accept();
    server.set_option(asio::socket_base::linger(true, 0));  // close with a reset
    server.close();  // explicitly: Asio's destructor would clear the linger option and close gracefully
  }
  // Wait (bounded) until the reset has arrived; a zero-timeout poll does not block.
  char byte = 0;
  boost::system::error_code ec;
  for (int i = 0; i < 1000 && !ec; ++i) client.read_some(asio::buffer(&byte, 1), ec);
  REQUIRE(ec == asio::error::connection_reset);

  std::atomic<bool> stopped{false};
  std::chrono::microseconds receive_timeout{0};
  retryhttp::detail::socket_stream stream(client.native_handle(), std::chrono::steady_clock::now() + 5s,
                                          receive_timeout, stopped);
  http::request<http::string_body> request{http::verb::post, "/v1/vms", 11, R"({"name":"a"})"};
  request.prepare_payload();
  const auto written = http::write(stream, request, ec);
  CHECK(ec);
  CHECK(written == 0);
}

TEST_CASE(
    "a request a kept-alive connection refuses before its first byte: the transport's outcome is not_sent",
    "[beast_transport][unix]") {
  // The server answers one request on a kept-alive connection over a Unix domain socket, then shuts its
  // reading side down (and keeps the connection). To the check before reuse the connection looks open and
  // quiet (its peek would block: nothing more came, and the server has not closed it), but the kernel now
  // refuses every write to it with EPIPE: the second request is refused before its first byte. The
  // transport's own outcome must call that not_sent (what lets a retry send even a POST again), never
  // ambiguous.
  char directory[] = "/tmp/retryhttp-unix-XXXXXX";
  REQUIRE(::mkdtemp(directory) != nullptr);
  const std::string path = std::string(directory) + "/orchestrator.sock";
  {
    asio::io_context io;
    asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(path));
    asio::local::stream_protocol::socket accepted(io);  // kept open until the end of the test
    std::thread server([&] {
      boost::system::error_code ec;
      acceptor.accept(accepted, ec);
      asio::streambuf head;
      if (!ec) asio::read_until(accepted, head, "\r\n\r\n", ec);
      if (!ec) asio::write(accepted, asio::buffer(ok_reply), ec);
      if (!ec) ::shutdown(accepted.native_handle(), SHUT_RD);
    });
    beast_transport transport{"unix://" + path};
    auto answered = get(transport);
    server.join();  // the server's reading side is shut from here on
    REQUIRE(answered.has_response());
    CHECK(answered.observe() == retryhttp::observed_outcome::response(200));

    auto refused = get(transport);
    REQUIRE_FALSE(refused.has_response());
    CHECK(refused.observe() == retryhttp::observed_outcome::not_sent());
    CHECK(refused.failure().kind == failure_kind::not_sent);
    CHECK(refused.failure().code == boost::system::errc::broken_pipe);
    CHECK_THAT(refused.failure().message(), Catch::Contains("sending the request"));
    CHECK(transport.connections_opened() == 1);  // refused on the kept-alive connection, not a new one
  }
  ::unlink(path.c_str());
  ::rmdir(directory);
}

TEST_CASE("a stop while connecting ends the attempt at once: canceled, not a time-out, not_sent",
          "[beast_transport][threads]") {
  // A loopback listener whose accept queue is full: the connect hangs in SYN_SENT (support/full_backlog_
  // listener.hpp). Both time limits are 30 s, so only the stop, 200 ms in, can end the call within 2 s.
  retryhttp_test::full_backlog_listener listener;
  REQUIRE(listener.connect_hangs());
  retryhttp::beast_transport_options options;
  options.connect_timeout = 30s;
  retryhttp::retry_config config;
  config.attempt_timeout = 30s;
  retryhttp::http_client<> client{config, beast_transport{listener.url(), options}};
  std::stop_source source;
  const auto start = std::chrono::steady_clock::now();  // before the stopper: took is at least its 200 ms
  std::thread stopper([&] {
    asio::io_context io;
    asio::steady_timer timer(io, 200ms);
    timer.wait();
    source.request_stop();
  });
  const auto result = client.send({http::verb::get, "/v1/vms", 11}, source.get_token());
  const auto took = std::chrono::steady_clock::now() - start;
  stopper.join();
  CHECK(result.error() == retryhttp::error::canceled);
  CHECK(result.attempts() == 1);
  REQUIRE(result.failure() != nullptr);
  CHECK(result.failure()->kind == failure_kind::not_sent);
  CHECK(result.failure()->code == boost::system::errc::operation_canceled);  // a stop, not timed_out
  CHECK(took >= 100ms);  // the connect was under way, not refused
  CHECK(took < 2s);
  CHECK(client.transport().connections_opened() == 0);
}

TEST_CASE("the word-at-a-time check of request text agrees with a byte-by-byte one", "[beast_transport]") {
  // Every byte value, at every position of texts of every length up to 24 (short texts are read in one
  // padded word, longer ones in overlapping words): the fast check must flag exactly the texts the plain
  // rule flags.
  const auto plain = [](std::string_view text, unsigned char limit, bool tab_allowed) {
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < limit && !(tab_allowed && byte == '\t')) || byte == 0x7f) return false;
    }
    return true;
  };
  std::size_t checked = 0;
  for (std::size_t length = 1; length <= 24; ++length) {
    for (std::size_t position = 0; position < length; ++position) {
      for (unsigned value = 0; value < 256; ++value) {
        std::string text(length, 'x');
        text[position] = static_cast<char>(value);
        CAPTURE(length, position, value);
        REQUIRE(retryhttp::detail::is_safe_field_value(text) == plain(text, 0x20, true));
        REQUIRE(retryhttp::detail::is_safe_request_word(text) == plain(text, 0x21, false));
        ++checked;
      }
    }
  }
  CHECK(checked == 256 * (24 * 25 / 2));
  CHECK(retryhttp::detail::is_safe_field_value(""));
  CHECK_FALSE(retryhttp::detail::is_safe_request_word(""));
  CHECK(retryhttp::detail::is_safe_field_value("a\tb"));  // a tab is allowed in a value
  CHECK_FALSE(retryhttp::detail::is_safe_request_word("a\tb"));
}

TEST_CASE("copies of one http_client, one per thread, each keep a connection of their own",
          "[beast_transport][threads]") {
  // beast_transport is one connection and is not shared by threads; a copy of the client per thread is the
  // documented way, and this runs two copies at once (under ThreadSanitizer in the tsan suite).
  constexpr int requests_per_thread = 50;
  asio::io_context server_io;
  asio::ip::tcp::acceptor acceptor(server_io, {asio::ip::make_address("127.0.0.1"), 0});
  const std::string url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  std::vector<std::thread> serving;
  std::thread accepting([&] {
    for (int i = 0; i < 2; ++i) {
      boost::system::error_code ec;
      asio::ip::tcp::socket socket(server_io);
      acceptor.accept(socket, ec);
      if (ec) return;
      serving.emplace_back([socket = std::move(socket)]() mutable {
        boost::beast::flat_buffer buffer;
        for (int n = 0; n < requests_per_thread; ++n) {
          http::request<http::string_body> request;
          boost::system::error_code error;
          http::read(socket, buffer, request, error);
          if (error) return;
          asio::write(socket, asio::buffer(ok_reply), error);
          if (error) return;
        }
      });
    }
  });

  const retryhttp::http_client<> original{retryhttp::retry_config{}, beast_transport{url}};
  std::atomic<int> delivered{0};
  std::atomic<std::size_t> connections{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t)
    clients.emplace_back([&, client = original]() mutable {
      for (int n = 0; n < requests_per_thread; ++n)
        delivered += client.send({http::verb::get, "/v1/vms", 11}).ok() ? 1 : 0;
      connections += client.transport().connections_opened();
    });
  for (auto& thread : clients) thread.join();
  accepting.join();
  for (auto& thread : serving) thread.join();
  CHECK(delivered == 2 * requests_per_thread);
  CHECK(connections == 2);  // one each, kept alive for all of its requests
  CHECK(original.transport().connections_opened() == 0);
}

namespace {
/// A Unix domain socket in a fresh directory, and a server on it that answers each request with `reply`
/// until the client closes; or, `listening` false, a path where nothing listens.
class unix_server {
 public:
  explicit unix_server(std::string reply, bool listening = true) {
    char directory[] = "/tmp/retryhttp-unix-XXXXXX";
    REQUIRE(::mkdtemp(directory) != nullptr);
    directory_ = directory;
    path_ = directory_ + "/orchestrator.sock";
    if (!listening) return;
    acceptor_.emplace(io_, asio::local::stream_protocol::endpoint(path_));
    thread_ = std::thread([this, reply = std::move(reply)] {
      boost::system::error_code ec;
      asio::local::stream_protocol::socket socket(io_);
      acceptor_->accept(socket, ec);
      if (ec) return;
      ++accepted_;
      asio::streambuf head;
      while (!ec) {
        const auto size = asio::read_until(socket, head, "\r\n\r\n", ec);
        if (ec) break;
        if (requests_ == 0)
          first_head_ =
              std::string(asio::buffers_begin(head.data()), asio::buffers_begin(head.data()) + size);
        head.consume(size);
        ++requests_;
        asio::write(socket, asio::buffer(reply), ec);
      }
    });
  }
  ~unix_server() {
    if (acceptor_) ::shutdown(acceptor_->native_handle(), SHUT_RDWR);  // wakes a blocked accept()
    if (thread_.joinable()) thread_.join();
    ::unlink(path_.c_str());
    ::rmdir(directory_.c_str());
  }
  std::string url() const { return "unix://" + path_; }
  // Both wait for the server's thread to end (the client has closed), so the reads follow its writes.
  int requests() {
    if (thread_.joinable()) thread_.join();
    return requests_;
  }
  const std::string& first_head() {
    if (thread_.joinable()) thread_.join();
    return first_head_;
  }

 private:
  asio::io_context io_;
  std::string directory_;
  std::string path_;
  std::optional<asio::local::stream_protocol::acceptor> acceptor_;
  std::thread thread_;
  int accepted_ = 0;
  int requests_ = 0;
  std::string first_head_;
};
}  // namespace

TEST_CASE("HTTP over a Unix domain socket: keep-alive, Host: localhost", "[beast_transport][unix]") {
  unix_server server(ok_reply);
  {
    beast_transport transport{server.url()};
    check_three_kept_alive(transport);
  }
  CHECK(server.requests() == 3);
  CHECK(server.first_head().find("\r\nHost: localhost\r\n") != std::string::npos);
}

TEST_CASE("a Unix socket nobody listens on is not_sent, naming the path", "[beast_transport][unix]") {
  unix_server nobody("", false);
  beast_transport transport{nobody.url()};
  auto outcome = get(transport);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::not_sent);
  CHECK_THAT(outcome.failure().message(), Catch::Contains("connecting to " + nobody.url()));
}

// ---- TLS over a server that does not speak it, the Authorization option, and the endpoint's name ----------

namespace {
/// "https://" for a canned server (which speaks no TLS).
std::string https_url(unsigned short port) {
  return "https://127.0.0.1:" + std::to_string(port);
}

/// Accepts one connection and writes `greeting` at once, before reading anything, then closes.
class greeting_server {
 public:
  explicit greeting_server(std::string greeting) : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this, greeting = std::move(greeting)] {
      boost::system::error_code ec;
      asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      asio::write(socket, asio::buffer(greeting), ec);
      socket.shutdown(asio::socket_base::shutdown_send, ec);
      char byte = 0;
      while (!ec) socket.read_some(asio::buffer(&byte, 1), ec);  // until the client closes
    });
  }
  ~greeting_server() {
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};
}  // namespace

TEST_CASE("a TLS handshake the server never answers times out within connect_timeout, not_sent",
          "[beast_transport][tls]") {
  canned_server silent(std::vector<std::string>{}, true);  // accepts, reads, never writes
  retryhttp::beast_transport_options options;
  options.connect_timeout = 300ms;
  beast_transport transport{https_url(silent.port()), options};
  const auto start = std::chrono::steady_clock::now();
  auto outcome = get(transport, 10s);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::not_sent);
  CHECK(outcome.failure().code == boost::system::errc::timed_out);
  CHECK_FALSE(outcome.failure().permanent);  // a slow server may answer the next handshake
  CHECK_THAT(outcome.failure().message(), Catch::Contains("TLS handshake with https://127.0.0.1:"));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("a stop during the TLS handshake ends it at once, not_sent", "[beast_transport][tls][threads]") {
  canned_server silent(std::vector<std::string>{}, true);
  beast_transport transport{https_url(silent.port())};
  std::stop_source source;
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    source.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  auto outcome = transport.attempt({http::verb::get, "/", 11}, {source.get_token(), 30s, 1});
  stopper.join();
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::not_sent);
  CHECK(outcome.failure().code == boost::system::errc::operation_canceled);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("https:// to a server that answers in plain HTTP: the handshake is refused, permanently",
          "[beast_transport][tls]") {
  greeting_server plain("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  beast_transport transport{https_url(plain.port())};
  auto outcome = get(transport);
  REQUIRE_FALSE(outcome.has_response());
  CHECK(outcome.failure().kind == failure_kind::not_sent);
  CHECK(outcome.failure().code == retryhttp::tls_error::handshake_refused);
  CHECK(outcome.failure().permanent);
  CHECK_THAT(outcome.failure().message(), Catch::Contains("the TLS handshake was refused"));
}

TEST_CASE("the Authorization option goes on the wire only; a request's own Authorization is kept",
          "[beast_transport]") {
  retryhttp::beast_transport_options options;
  options.authorization = "Bearer tok-123";
  {
    canned_server server(ok_reply);
    beast_transport transport{server.url(), options};
    const http::request<http::string_body> request{http::verb::get, "/v1/vms", 11};
    auto outcome = transport.attempt(request, {{}, 5s, 1});
    REQUIRE(outcome.has_response());
    CHECK_THAT(server.received_head(), Catch::Contains("Authorization: Bearer tok-123\r\n"));
    CHECK(request.count(http::field::authorization) == 0);  // the caller's request is not changed
  }
  {
    canned_server server(ok_reply);
    beast_transport transport{server.url(), options};
    http::request<http::string_body> request{http::verb::get, "/v1/vms", 11};
    request.set(http::field::authorization, "Bearer own");
    REQUIRE(transport.attempt(request, {{}, 5s, 1}).has_response());
    CHECK_THAT(server.received_head(), Catch::Contains("Authorization: Bearer own\r\n"));
    CHECK(server.received_head().find("tok-123") == std::string::npos);
  }
  options.authorization = "Bearer a\r\nX-Injected: 1";
  try {
    beast_transport transport{"http://127.0.0.1:1", options};
    FAIL("accepted an Authorization with CR LF");
  } catch (const std::invalid_argument& error) {
    CHECK_THAT(error.what(), Catch::Contains("authorization holds a control character"));
    CHECK(std::string(error.what()).find("X-Injected") == std::string::npos);  // never echoed
  }
}

TEST_CASE("each outcome names the endpoint it went to", "[beast_transport]") {
  canned_server server(ok_reply);
  beast_transport transport{server.url()};
  auto answered = get(transport);
  REQUIRE(answered.has_response());
  CHECK(answered.endpoint() == "127.0.0.1:" + std::to_string(server.port()));
  beast_transport nowhere{"unix:///nonexistent/retryhttp-test.sock"};
  auto failed = get(nowhere);
  REQUIRE_FALSE(failed.has_response());
  CHECK(failed.endpoint() == "unix:///nonexistent/retryhttp-test.sock");
}

namespace {
// Everything an observer is shown, formatted, and whether any event's request carried credentials.
struct telling_observer {
  std::vector<std::string>* lines;
  bool* saw_authorization;
  void on_attempt(const retryhttp::attempt_event& event) const {
    lines->push_back(fmt::format("{}", event));
    if (event.request.count(http::field::authorization) != 0) *saw_authorization = true;
  }
  void on_retry(const retryhttp::retry_event& event) const {
    lines->push_back(fmt::format("{}", event));
    if (event.request.count(http::field::authorization) != 0) *saw_authorization = true;
  }
  void on_give_up(const retryhttp::give_up_event& event) const {
    lines->push_back(fmt::format("{}", event.reason));
    if (event.request.count(http::field::authorization) != 0) *saw_authorization = true;
  }
};
}  // namespace

TEST_CASE("the Authorization option reaches no observer event, formatter or message", "[beast_transport]") {
  const std::string secret = "Bearer tok-observed-SECRET";
  // 503 three times (retried, so there are waits), then a 500 whose message the result quotes.
  const std::string busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}";
  const std::string broken =
      "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 17\r\n\r\n{\"error\":\"boom\"}\n";
  keep_alive_server server({busy, busy, busy, broken});
  retryhttp::beast_transport_options options;
  options.authorization = secret;
  retryhttp::retry_config config;
  config.base_delay = 1ms;
  config.max_delay = 2ms;
  std::vector<std::string> lines;
  bool saw_authorization = false;
  using client_type =
      retryhttp::basic_client<beast_transport, retryhttp::exponential_backoff, retryhttp::system_clock,
                              retryhttp::method_idempotency, telling_observer>;
  auto client = std::make_unique<client_type>(config, beast_transport{server.url(), options},
                                              retryhttp::exponential_backoff{}, retryhttp::system_clock{},
                                              retryhttp::method_idempotency{},
                                              telling_observer{&lines, &saw_authorization});
  const auto result = client->send({http::verb::get, "/v1/vms", 11});
  client.reset();  // closes the kept-alive connection, which ends the server's thread
  REQUIRE(result.has_response());
  CHECK(result.response().result_int() == 500);
  CHECK(lines.size() == 7);  // four attempts, three waits
  CHECK_FALSE(saw_authorization);
  for (const auto& line : lines) CHECK(line.find("SECRET") == std::string::npos);
  CHECK(fmt::format("{}", result).find("SECRET") == std::string::npos);
  CHECK(result.message().find("SECRET") == std::string::npos);
  // ... while the server got it with every attempt.
  CHECK_THAT(server.received_head(), Catch::Contains("Authorization: " + secret + "\r\n"));
}

TEST_CASE("a host name that does not exist (NXDOMAIN) fails at once: permanent, one attempt",
          "[beast_transport][dns]") {
  // The DNS's definite "no such name" would be its answer again; a time-out or a server failure would not.
  CHECK(retryhttp::detail::is_permanent_resolve_error(asio::error::host_not_found));
  CHECK_FALSE(retryhttp::detail::is_permanent_resolve_error(asio::error::host_not_found_try_again));
  CHECK_FALSE(retryhttp::detail::is_permanent_resolve_error(asio::error::connection_refused));

  // RFC 6761 reserves .invalid: no such name ever resolves. A machine without any DNS may answer "try again"
  // instead, which is transient and retried: then only the classification above is checked.
  retryhttp::retry_config config;
  config.base_delay = 300ms;  // a machine without DNS retries "try again": three retries, 0.9 s
  config.max_delay = 300ms;
  config.attempt_timeout = 3s;
  retryhttp::http_client<> client{config, beast_transport{"http://no-such-host.invalid:8080"}};
  const auto start = std::chrono::steady_clock::now();
  const auto result = client.send({http::verb::get, "/v1/vms", 11});
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.failure() != nullptr);
  if (result.failure()->code != asio::error::host_not_found) {
    WARN("no NXDOMAIN here (no DNS?): " << result.message());
    return;
  }
  CHECK(result.failure()->permanent);
  CHECK(result.failure()->kind == failure_kind::not_sent);
  CHECK(result.error() == retryhttp::error::permanent_failure);
  CHECK(result.attempts() == 1);
  CHECK(took < 3s);  // attempts() == 1 shows that nothing was retried; this bounds a slow resolver
  CHECK_THAT(result.message(), Catch::Contains("no-such-host.invalid"));
}

}  // namespace test_beast_transport
