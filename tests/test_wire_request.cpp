// The transports write a request's head themselves (detail::write_head) rather than through Beast's
// serializer, and complete a request field by field (detail::completed_request) rather than with set() and
// prepare_payload(): byte for byte what Beast wrote, checked here against Beast's own output.

#include <retryhttp/detail/http_exchange.hpp>

#include <boost/beast/http/write.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_wire_request {

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

namespace {

// What the transports did before: copy, set() the missing fields, prepare_payload().
http_request completed_by_beast(http_request request) {
  if (request.count(http::field::host) == 0) request.set(http::field::host, "orchestrator.example:8080");
  if (request.count(http::field::user_agent) == 0) request.set(http::field::user_agent, "retryhttp/test");
  if (request.count(http::field::authorization) == 0) request.set(http::field::authorization, "Bearer t");
  request.prepare_payload();
  return request;
}

http_request completed(const http_request& request) {
  return retryhttp::detail::completed_request(request, "orchestrator.example:8080", "retryhttp/test",
                                              "Bearer t");
}

/// The fields, sorted: the same whatever their order.
std::vector<std::pair<std::string, std::string>> fields_of(const http_request& request) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& field : request) fields.emplace_back(field.name_string(), field.value());
  std::sort(fields.begin(), fields.end());
  return fields;
}

http_request bare(http::verb method, const char* target, const std::string& body = {}) {
  http_request request{method, target, 11};
  request.body() = body;
  return request;
}

}  // namespace

TEST_CASE("completed_request adds what prepare_payload and set() added, byte for byte", "[wire]") {
  SECTION("a GET with nothing: Host, User-Agent, Authorization, no Content-Length") {
    const auto request = bare(http::verb::get, "/v1/vms");
    CHECK(beast_writes(completed(request)) == beast_writes(completed_by_beast(request)));
    CHECK(completed(request).count(http::field::content_length) == 0);
  }
  SECTION("a POST whose Content-Length is wrong, twice: one, the body's") {
    auto request = bare(http::verb::post, "/v1/vms", R"({"name":"web-1"})");
    request.insert(http::field::content_length, "5");
    request.insert(http::field::content_length, "7");
    request.insert("Idempotency-Key", "k-1");
    CHECK(beast_writes(completed(request)) == beast_writes(completed_by_beast(request)));
    CHECK(completed(request)[http::field::content_length] == "16");
  }
  SECTION("an empty POST, PUT and OPTIONS say Content-Length: 0") {
    for (const auto method : {http::verb::post, http::verb::put, http::verb::options}) {
      const auto request = bare(method, "/v1/vms/web-1/start");
      CHECK(beast_writes(completed(request)) == beast_writes(completed_by_beast(request)));
      CHECK(completed(request)[http::field::content_length] == "0");
    }
  }
  SECTION("an empty PATCH says Content-Length: 0 too (RFC 9110, 8.6), where prepare_payload says nothing") {
    CHECK(completed(bare(http::verb::patch, "/v1/vms/web-1"))[http::field::content_length] == "0");
  }
  SECTION("a chunked coding gives way to Content-Length; other codings stay") {
    auto request = bare(http::verb::put, "/v1/vms/web-1", "body");
    request.set(http::field::transfer_encoding, "gzip, chunked");
    // set() moved Transfer-Encoding to the end; the fields are the same.
    CHECK(fields_of(completed(request)) == fields_of(completed_by_beast(request)));
    CHECK(completed(request)[http::field::transfer_encoding] == "gzip");
    request.set(http::field::transfer_encoding, "chunked");
    CHECK(beast_writes(completed(request)) == beast_writes(completed_by_beast(request)));
    CHECK(completed(request).count(http::field::transfer_encoding) == 0);
  }
  SECTION("fields of the caller's are kept, in order; a method of the caller's too") {
    auto request = bare(http::verb::unknown, "/cache/web-1");
    request.method_string("PURGE");
    request.insert(http::field::accept, "application/json");
    request.insert("X-Trace", "1");
    request.insert(http::field::authorization, "Bearer mine");
    request.insert(http::field::host, "elsewhere:1");
    CHECK(beast_writes(completed(request)) == beast_writes(completed_by_beast(request)));
    CHECK(completed(request)[http::field::authorization] == "Bearer mine");
  }
  SECTION("a stray Content-Length on an empty GET goes") {
    auto request = bare(http::verb::get, "/v1/vms");
    request.insert(http::field::content_length, "5");
    CHECK(beast_writes(completed(request)) == beast_writes(completed_by_beast(request)));
    CHECK(completed(request).count(http::field::content_length) == 0);
  }
}

TEST_CASE("check_request and completed_request agree on which requests state an empty length", "[wire]") {
  // A request check_request passes goes out as it is, so it must already be what completed_request would
  // make of it; and what completed_request makes must pass, or a request is copied and still not complete.
  for (const auto method : {http::verb::get, http::verb::head, http::verb::delete_, http::verb::post,
                            http::verb::put, http::verb::patch, http::verb::options}) {
    for (const std::string body : {"", "x"}) {
      INFO(http::to_string(method) << " with a body of " << body.size());
      auto request = bare(method, "/v1/vms/web-1", body);
      request.insert(http::field::host, "orchestrator.example:8080");
      request.insert(http::field::user_agent, "retryhttp/test");
      const auto check = retryhttp::detail::check_request(request);
      const auto made =
          retryhttp::detail::completed_request(request, "orchestrator.example:8080", "retryhttp/test");
      CHECK(retryhttp::detail::check_request(made) == retryhttp::detail::request_check::ready);
      if (check == retryhttp::detail::request_check::ready) CHECK(fields_of(made) == fields_of(request));
      const bool states_length = !body.empty() || method == http::verb::post || method == http::verb::put
                                 || method == http::verb::patch || method == http::verb::options;
      CHECK(made.count(http::field::content_length) == (states_length ? 1u : 0u));
    }
  }
}

TEST_CASE("a TRACE with a body is refused unsent, not thrown at the caller", "[wire]") {
  const auto request = bare(http::verb::trace, "/", "body");
  CHECK(retryhttp::detail::check_request(request) == retryhttp::detail::request_check::unsafe_to_write);
  const auto refused = retryhttp::detail::refused_request(request);
  CHECK(refused.kind == retryhttp::failure_kind::not_sent);
  CHECK(refused.permanent);
  CHECK(refused.detail.find("TRACE") != std::string::npos);
  CHECK_THROWS_AS(completed_by_beast(request), std::invalid_argument);  // what prepare_payload did
  CHECK(retryhttp::detail::check_request(bare(http::verb::trace, "/"))
        != retryhttp::detail::request_check::unsafe_to_write);
}

namespace {
using retryhttp::detail::check_request;
using retryhttp::detail::request_check;

http_request with_codings(std::initializer_list<const char*> fields, const std::string& body = "hello") {
  auto request = make(http::verb::post, "/v1/vms", body);
  for (const char* value : fields) request.insert(http::field::transfer_encoding, value);
  return request;
}
}  // namespace

TEST_CASE("Transfer-Encoding: chunked framing only when unambiguous, never beside Content-Length",
          "[wire][framing]") {
  SECTION("one field, chunked once, no Content-Length, HTTP/1.1: written in chunks as it is") {
    for (const char* list : {"chunked", "chunked,", " chunked , ", ",chunked"}) {
      CAPTURE(list);
      const auto request = with_codings({list});
      CHECK(check_request(request) == request_check::ready);
      CHECK(we_write(request).ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    }
  }
  SECTION("a list with empty elements after chunked is still chunked: completed, it has no chunked left") {
    // Such a list once kept its chunked coding through completion, beside the new Content-Length: a proxy
    // honouring the length would read the chunk framing as the start of another request.
    for (const char* list : {"chunked,", "chunked , ", "chunked,,", ",, chunked"}) {
      CAPTURE(list);
      auto request = with_codings({list});
      request.erase(http::field::user_agent);  // needs completion
      REQUIRE(check_request(request) == request_check::needs_completion);
      const auto done = completed(request);
      CHECK(done.count(http::field::transfer_encoding) == 0);
      CHECK_FALSE(done.chunked());
      CHECK(done[http::field::content_length] == "5");
      CHECK(we_write(done).ends_with("Content-Length: 5\r\n\r\nhello"));
    }
  }
  SECTION("chunked beside a Content-Length, twice, over two fields, or in HTTP/1.0: completed, by length") {
    auto beside_length = with_codings({"chunked"});
    beside_length.insert(http::field::content_length, "99");
    auto http10 = with_codings({"chunked"});
    http10.version(10);
    for (const auto& request :
         {beside_length, with_codings({"chunked, chunked"}), with_codings({"chunked", "chunked"}), http10}) {
      CHECK(check_request(request) == request_check::needs_completion);
      const auto done = completed(request);
      CHECK(done.count(http::field::transfer_encoding) == 0);
      CHECK(done[http::field::content_length] == "5");
      CHECK(we_write(done).ends_with("\r\n\r\nhello"));
    }
  }
  SECTION("a coding other than chunked, in any field or order: refused, naming Transfer-Encoding") {
    for (const auto& request :
         {with_codings({"gzip"}), with_codings({"gzip, chunked"}), with_codings({"chunked", "gzip"}),
          with_codings({"gzip", "chunked"}), with_codings({"chunked;q=1"})}) {
      CHECK(check_request(request) == request_check::unsafe_to_write);
      const auto refused = retryhttp::detail::refused_request(request);
      CHECK(refused.kind == retryhttp::failure_kind::not_sent);
      CHECK(refused.detail.find("Transfer-Encoding") != std::string::npos);
    }
  }
  SECTION("completed_request on its own keeps other codings, in one field, without chunked") {
    const auto done = completed(with_codings({"gzip, chunked", "br"}));
    CHECK(done[http::field::transfer_encoding] == "gzip, br");
    CHECK(done.count(http::field::transfer_encoding) == 1);
  }
}

TEST_CASE("a request line for a version other than HTTP/1.0 or 1.1 is refused unsent", "[wire]") {
  for (const unsigned version : {9U, 12U, 20U, 99U}) {  // Beast asserts 0 < version < 100
    CAPTURE(version);
    auto request = make(http::verb::get, "/");
    request.version(version);
    CHECK(check_request(request) == request_check::unsafe_to_write);
    CHECK(retryhttp::detail::refused_request(request).detail.find("version") != std::string::npos);
  }
}

}  // namespace test_wire_request
