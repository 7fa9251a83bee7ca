// The transports write a request's head themselves (detail::write_head) rather than through Beast's
// serializer: byte for byte what the serializer writes, checked here against Beast's own output.

#include <retryhttp/detail/http_exchange.hpp>

#include <boost/beast/http/write.hpp>
#include <catch2/catch.hpp>

#include <sstream>
#include <string>

namespace http = boost::beast::http;
using retryhttp::detail::http_request;

namespace {

std::string beast_writes(const http_request& request) {
  std::ostringstream out;
  out << request;
  return out.str();
}

std::string we_write(const http_request& request) {
  std::string head = "left over from an earlier request";
  const auto rest = retryhttp::detail::write_head(request, head);
  return head + std::string(rest.body) + std::string(rest.tail);
}

http_request make(http::verb method, const char* target, const std::string& body = {},
                  unsigned version = 11) {
  http_request request{method, target, version};
  request.set(http::field::host, "orchestrator.example:8080");
  request.set(http::field::user_agent, "retryhttp-test");
  request.body() = body;
  return request;
}

}  // namespace

TEST_CASE("write_head writes what Beast's serializer writes", "[wire]") {
  SECTION("a GET without a body") {
    const auto request = make(http::verb::get, "/v1/vms?state=running");
    CHECK(we_write(request) == beast_writes(request));
    CHECK(we_write(request)
          == "GET /v1/vms?state=running HTTP/1.1\r\nHost: orchestrator.example:8080\r\n"
             "User-Agent: retryhttp-test\r\n\r\n");
  }
  SECTION("a POST with its Content-Length") {
    auto request = make(http::verb::post, "/v1/vms", R"({"name":"web-1"})");
    request.prepare_payload();
    CHECK(we_write(request) == beast_writes(request));
  }
  SECTION("HTTP/1.0, a method of the caller's, fields of its own, a field twice") {
    auto request = make(http::verb::unknown, "/cache/web-1", {}, 10);
    request.method_string("PURGE");
    request.insert("Idempotency-Key", "5f0c6a8e-0d5b-4a43-9e53-1d4b0c7f1e2a");
    request.insert(http::field::accept, "application/json");
    request.insert(http::field::accept, "text/plain");
    CHECK(we_write(request) == beast_writes(request));
    CHECK(we_write(request).starts_with("PURGE /cache/web-1 HTTP/1.0\r\n"));
  }
  SECTION("a chunked body: one chunk and the last chunk") {
    for (const std::size_t size : {1, 15, 16, 4096, 100000}) {
      CAPTURE(size);
      auto request = make(http::verb::put, "/v1/vms/web-1", std::string(size, 'x'));
      request.chunked(true);
      CHECK(we_write(request) == beast_writes(request));
    }
  }
  SECTION("an empty chunked body: the last chunk alone, where Beast writes an empty chunk before it") {
    auto request = make(http::verb::post, "/v1/vms/web-1/start");
    request.chunked(true);
    const std::string head =
        "POST /v1/vms/web-1/start HTTP/1.1\r\nHost: orchestrator.example:8080\r\n"
        "User-Agent: retryhttp-test\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(we_write(request) == head + "0\r\n\r\n");
    // Beast 1.81's serializer writes "0\r\n\r\n" twice: a server reads the first as the last chunk and the
    // second as the start of the next request on the connection.
    CHECK(beast_writes(request) == head + "0\r\n\r\n0\r\n\r\n");
  }
  SECTION("a body with no Content-Length is written as it is, as Beast writes it") {
    const auto request = make(http::verb::post, "/v1/vms", "{}");
    CHECK(we_write(request) == beast_writes(request));
  }
}
