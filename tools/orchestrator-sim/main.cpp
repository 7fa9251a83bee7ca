// orchestrator-sim: an in-memory VM orchestrator over real HTTP/1.1 (Boost.Beast), with scriptable faults,
// for integration tests and demos of retryhttp and vmm-ctl. Serves the API in docs/vmm-ctl.md:
//
//   GET /v1/vms · POST /v1/vms · GET|DELETE /v1/vms/{name} · POST /v1/vms/{name}/start|stop
//
// plus GET /_sim/requests, which lists the API requests seen so far (it is not counted itself).
//
//   orchestrator-sim [--address 127.0.0.1] [--port 8080 | --unix PATH]
//                    [--tls-cert FILE --tls-key FILE [--client-ca FILE]] [--token-file FILE]
//                    [--fault RULE]... [--faults FILE] [--quiet]
//
// --port 0 picks a free port; the first line on stdout is "listening on http://ADDRESS:PORT". --unix PATH
// serves the same HTTP/1.1 on a Unix domain socket at PATH (absolute) instead of TCP, and the first line is
// then "listening on unix://PATH" (Docker's spelling); a stale socket at PATH is replaced, and the socket
// file is removed when the simulator stops.
//
// --tls-cert and --tls-key (PEM, given together, TCP only) serve HTTPS instead, TLS 1.2 or later, and the
// first line is "listening on https://ADDRESS:PORT". --client-ca FILE then also requires a client certificate
// issued by that CA (mutual TLS). A failed handshake is logged on stderr with its reason, even with --quiet,
// and the connection dropped. --token-file FILE requires "Authorization: Bearer TOKEN" (the file's content
// without its trailing newline) on every request under /v1/; one without it is answered 401. The token is
// never logged.
//
// Fault rules are described in faults.hpp; over TLS they act on the TLS connection as they do on a plain one
// (a close before anything is read happens before the handshake). Each request is logged on stderr. SIGINT
// or SIGTERM stops it cleanly.

#include "faults.hpp"

#include <retryhttp/detail/printable.hpp>
#include <retryhttp/version.hpp>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using namespace std::chrono_literals;
using orchestrator_sim::fault_action;
using orchestrator_sim::fault_rule;

constexpr std::size_t max_request_body = 1024 * 1024;  // larger bodies get 413
constexpr std::size_t max_request_header = 16 * 1024;
constexpr std::size_t max_request_buffer = 64 * 1024;
// A client that connects and never completes the handshake would otherwise keep its coroutine forever.
constexpr auto handshake_timeout = 10s;

struct vm {
  std::string name;
  std::string state;
  std::int64_t cpus;
  std::int64_t memory_mib;
  std::string image;
};

json::object to_json(const vm& v) {
  return {{"name", v.name},
          {"state", v.state},
          {"cpus", v.cpus},
          {"memory_mib", v.memory_mib},
          {"image", v.image}};
}

struct seen_request {
  std::string method;
  std::string target;
  std::string fault;
  bool authorized;  // the right bearer token came, or none is required
};

// What a POST /v1/vms with an Idempotency-Key answered, to replay for the same key.
struct stored_answer {
  std::string request_body;
  unsigned status;
  std::string response_body;
};

struct simulator {
  std::map<std::string, vm> vms;
  std::map<std::string, stored_answer> idempotency_keys;
  std::vector<fault_rule> faults;
  std::vector<seen_request> seen;
  std::uint64_t connections = 0;
  // Connections that carried an API request (the /_sim/ queries of a test are not counted): open now, and
  // the most open at once, so that a test can check a client's connection pool from the server's side.
  std::uint64_t api_connections = 0;
  std::uint64_t open_api_connections = 0;
  std::uint64_t peak_api_connections = 0;
  bool quiet = false;
  std::string token;  // the bearer token required under /v1/; empty: none

  void log(const std::string& line) const {
    if (!quiet) fmt::print(stderr, "orchestrator-sim: {}\n", line);
  }
};

using response = http::response<http::string_body>;
using request = http::request<http::string_body>;

response answer(const request& req, http::status status, std::string body) {
  response res{status, req.version()};
  res.set(http::field::server, "orchestrator-sim");
  if (!body.empty()) res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

response error_answer(const request& req, http::status status, const std::string& message) {
  return answer(req, status, json::serialize(json::object{{"error", message}}));
}

std::string decode(std::string_view segment) {
  std::string out;
  retryhttp::detail::decode_segment(segment, [&](char c) { out += c; });
  return out;
}

std::vector<std::string_view> split_path(std::string_view target) {
  std::string_view path = retryhttp::detail::target_path(target);
  std::vector<std::string_view> segments;
  if (path.empty() || path.front() != '/') return segments;
  path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

// Validates a create body; returns an error message, or empty when the VM is fine.
std::string read_create_body(const std::string& body, vm& out) {
  json::error_code ec;
  const json::value value = json::parse(body, ec);
  if (ec) return "body is not JSON: " + ec.message();
  if (!value.is_object()) return "body must be a JSON object";
  const auto& object = value.get_object();
  for (const auto& entry : object) {
    const std::string_view key = entry.key();
    if (key != "name" && key != "cpus" && key != "memory_mib" && key != "image")
      return "unknown key \"" + std::string(key) + "\"";
  }
  const auto* name = object.if_contains("name");
  if (!name || !name->is_string() || name->get_string().empty() || name->get_string().size() > 63)
    return "name: expected a string of 1 to 63 characters";
  out.name = std::string(name->get_string());
  if (out.name.find('/') != std::string::npos || out.name == "." || out.name == "..")
    return "name: must not contain '/' or be a dot segment";
  auto integer = [&](const char* key, std::int64_t low, std::int64_t high, std::int64_t fallback,
                     std::int64_t& target) -> std::string {
    const auto* field = object.if_contains(key);
    if (!field) {
      target = fallback;
      return {};
    }
    if (!field->is_int64() || field->get_int64() < low || field->get_int64() > high)
      return fmt::format("{}: expected an integer from {} to {}", key, low, high);
    target = field->get_int64();
    return {};
  };
  if (auto error = integer("cpus", 1, 256, 1, out.cpus); !error.empty()) return error;
  if (auto error = integer("memory_mib", 64, 4 * 1024 * 1024, 512, out.memory_mib); !error.empty())
    return error;
  const auto* image = object.if_contains("image");
  if (image && (!image->is_string() || image->get_string().empty()))
    return "image: expected a non-empty string";
  out.image = image ? std::string(image->get_string()) : std::string("debian-12");
  out.state = "stopped";
  return {};
}

response create(simulator& sim, const request& req) {
  vm created;
  if (auto error = read_create_body(req.body(), created); !error.empty())
    return error_answer(req, http::status::bad_request, error);
  if (sim.vms.count(created.name) != 0)
    return error_answer(req, http::status::conflict, "a VM named \"" + created.name + "\" exists");
  sim.vms[created.name] = created;
  return answer(req, http::status::created, json::serialize(to_json(created)));
}

// POST /v1/vms with an Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): the same key and body
// replay the stored answer (marked Idempotent-Replayed); the same key with another body is 422.
response create_with_key(simulator& sim, const request& req, const std::string& key) {
  if (const auto stored = sim.idempotency_keys.find(key); stored != sim.idempotency_keys.end()) {
    if (stored->second.request_body != req.body())
      return error_answer(req, http::status::unprocessable_entity,
                          "Idempotency-Key " + key + " was used with another body");
    auto replay = answer(req, http::status::ok, stored->second.response_body);
    replay.result(stored->second.status);
    replay.set("Idempotent-Replayed", "true");
    return replay;
  }
  auto first = create(sim, req);
  sim.idempotency_keys[key] = {req.body(), first.result_int(), first.body()};
  return first;
}

// The API itself, applied to the store.
response handle(simulator& sim, const request& req) {
  const auto segments = split_path(req.target());
  const auto method = req.method();
  if (segments.size() < 2 || segments[0] != "v1" || segments[1] != "vms")
    return error_answer(req, http::status::not_found, "no such route");
  if (segments.size() == 2) {
    if (method == http::verb::get) {
      json::array list;
      for (const auto& [name, v] : sim.vms) list.push_back(to_json(v));
      return answer(req, http::status::ok, json::serialize(json::object{{"vms", list}}));
    }
    if (method == http::verb::post) {
      const auto key = req["Idempotency-Key"];
      return key.empty() ? create(sim, req) : create_with_key(sim, req, std::string(key));
    }
    return error_answer(req, http::status::method_not_allowed, "use GET or POST");
  }
  const std::string name = decode(segments[2]);
  const auto found = sim.vms.find(name);
  if (segments.size() == 3) {
    if (method != http::verb::get && method != http::verb::delete_)
      return error_answer(req, http::status::method_not_allowed, "use GET or DELETE");
    if (found == sim.vms.end())
      return error_answer(req, http::status::not_found, "no VM named \"" + name + "\"");
    if (method == http::verb::get)
      return answer(req, http::status::ok, json::serialize(to_json(found->second)));
    sim.vms.erase(found);
    return answer(req, http::status::no_content, {});
  }
  if (segments.size() == 4 && (segments[3] == "start" || segments[3] == "stop")) {
    if (method != http::verb::post) return error_answer(req, http::status::method_not_allowed, "use POST");
    if (found == sim.vms.end())
      return error_answer(req, http::status::not_found, "no VM named \"" + name + "\"");
    found->second.state = segments[3] == "start" ? "running" : "stopped";  // a no-op when already there
    return answer(req, http::status::ok, json::serialize(to_json(found->second)));
  }
  return error_answer(req, http::status::not_found, "no such route");
}

fault_rule* match_fault(simulator& sim, const request& req) {
  fault_rule* hit = nullptr;
  const std::string_view target(req.target().data(), req.target().size());
  for (auto& rule : sim.faults) {
    if (rule.per_connection) continue;
    if (rule.method && *rule.method != req.method()) continue;
    if (rule.pattern && !rule.pattern->matches(target)) continue;
    ++rule.seen;  // every matching rule counts its arrivals; the first that hits acts
    if (!hit && rule.hits(rule.seen)) hit = &rule;
  }
  return hit;
}

enum class authorization { not_required, accepted, missing, wrong };

authorization authorize(const simulator& sim, const request& req) {
  if (sim.token.empty()) return authorization::not_required;
  const std::string_view path = retryhttp::detail::target_path(req.target());
  if (path != "/v1" && !path.starts_with("/v1/")) return authorization::not_required;
  const auto field = req[http::field::authorization];
  std::string_view credentials(field.data(), field.size());
  // The scheme is case-insensitive (RFC 9110 section 11.1); the token is compared exactly.
  constexpr std::string_view scheme = "bearer ";
  if (credentials.size() < scheme.size() || !beast::iequals(credentials.substr(0, scheme.size()), scheme))
    return authorization::missing;
  credentials.remove_prefix(scheme.size());
  return credentials == sim.token ? authorization::accepted : authorization::wrong;
}

bool allowed(authorization auth) {
  return auth == authorization::not_required || auth == authorization::accepted;
}

// What the log adds for a refused token; says which way it was wrong, never what was sent.
std::string_view refusal(authorization auth) {
  if (auth == authorization::missing) return " (no bearer token)";
  if (auth == authorization::wrong) return " (wrong bearer token)";
  return "";
}

// The API behind the bearer token check (a fault acts before it, as a proxy in front of the API would).
response serve_api(simulator& sim, const request& req, authorization auth) {
  if (allowed(auth)) return handle(sim, req);
  auto res = error_answer(req, http::status::unauthorized, "missing or wrong bearer token");
  res.set(http::field::www_authenticate, "Bearer");
  return res;
}

// Ends the sending side once the last answer is out, so the client reads a clean end rather than a reset.
template <typename Protocol>
asio::awaitable<void> finish_sending(beast::basic_stream<Protocol, asio::any_io_executor>& stream) {
  beast::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_send, ignored);
  co_return;
}

// Over TLS the clean end is a close_notify alert first: without it the client cannot tell the end of the
// stream from a connection cut by an attacker (it reads "stream truncated"). The client's own close_notify is
// not waited for (RFC 8446 section 6.1 allows closing without it), so a kept-alive client that sends nothing
// cannot hold the session: marking the peer's alert as received lets SSL_shutdown send ours and complete.
asio::awaitable<void> finish_sending(tls_stream& stream) {
  constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
  SSL* ssl = stream.native_handle();
  ::SSL_set_shutdown(ssl, ::SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
  beast::get_lowest_layer(stream).expires_after(5s);
  co_await stream.async_shutdown(no_throw);
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(asio::socket_base::shutdown_send, ignored);
}

// The HTTP exchanges of one connection, over a plain stream (TCP or a Unix domain socket) or a TLS stream
// whose handshake is done. A `co_return` from the loop is an abrupt close (the socket closes as the stream
// goes out of scope, with no close_notify over TLS), as a fault that cuts a connection needs; a `break` ends
// the connection cleanly. Timeouts and raw reads act on the TCP (or Unix) stream beneath, the lowest layer.
template <typename Stream>
asio::awaitable<void> session(simulator& sim, Stream& stream) {
  constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
  auto& lowest_layer = beast::get_lowest_layer(stream);
  // Counted once the connection carries an API request; uncounted however the session ends.
  struct api_connection_count {
    simulator& sim;
    bool counted = false;
    void count() {
      if (counted) return;
      counted = true;
      ++sim.api_connections;
      sim.peak_api_connections = std::max(sim.peak_api_connections, ++sim.open_api_connections);
    }
    ~api_connection_count() {
      if (counted) --sim.open_api_connections;
    }
  } api_count{sim};
  // The read buffer has a maximum: Beast's parser limits the header and the body but not a chunk-size line
  // with its extensions or a trailer, which would otherwise grow it for as long as a client sends them.
  beast::flat_buffer buffer(max_request_buffer);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(max_request_body);
    parser.header_limit(max_request_header);
    lowest_layer.expires_after(120s);  // an idle keep-alive connection is closed after two minutes
    auto [read_error, bytes] = co_await http::async_read(stream, buffer, parser, no_throw);
    (void)bytes;
    if (read_error == http::error::body_limit) {
      request head;
      head.version(11);
      auto res = error_answer(head, http::status::payload_too_large,
                              fmt::format("request body larger than {} bytes", max_request_body));
      res.keep_alive(false);
      sim.log("413 for an oversized body");
      co_await http::async_write(stream, res, no_throw);
      // Read and discard the rest of the body (bounded) before closing: closing with unread data would reset
      // the connection, and the client would lose the 413 it has not read yet. Over TLS the bytes are read
      // undecrypted: after close_notify they are only drained.
      co_await finish_sending(stream);
      lowest_layer.expires_after(5s);
      std::size_t drained = 0;
      static char sink[16 * 1024];
      while (drained < 64 * max_request_body) {
        auto [drain_error, n] = co_await lowest_layer.async_read_some(asio::buffer(sink), no_throw);
        if (drain_error) break;
        drained += n;
      }
      co_return;
    }
    if (read_error) break;
    request req = parser.release();
    std::string target(req.target());
    if (target == "/_sim/requests") {
      json::array list;
      for (const auto& seen : sim.seen)
        list.push_back(json::object{{"method", seen.method},
                                    {"target", seen.target},
                                    {"fault", seen.fault},
                                    {"authorized", seen.authorized}});
      auto res = answer(req, http::status::ok,
                        json::serialize(json::object{{"count", sim.seen.size()},
                                                     {"requests", list},
                                                     {"api_connections", sim.api_connections},
                                                     {"peak_api_connections", sim.peak_api_connections}}));
      co_await http::async_write(stream, res, no_throw);
      if (!req.keep_alive()) break;
      continue;
    }

    api_count.count();
    fault_rule* fault = match_fault(sim, req);
    const authorization auth = authorize(sim, req);
    sim.seen.push_back(
        {std::string(req.method_string()), target, fault ? fault->text : std::string(), allowed(auth)});
    const auto number = sim.seen.size();
    // Method and target only: the Authorization field (the token) is never logged.
    const std::string line = fmt::format("#{} {} {}", number, std::string_view(req.method_string()), target);

    if (fault && fault->action == fault_action::delay) {
      sim.log(fmt::format("{} -> delay {} ms (fault \"{}\")", line, fault->delay_ms, fault->text));
      asio::steady_timer timer(stream.get_executor(), std::chrono::milliseconds(fault->delay_ms));
      co_await timer.async_wait(no_throw);
      fault = nullptr;
    }
    if (fault) {
      switch (fault->action) {
        case fault_action::status: {
          auto res = error_answer(req, static_cast<http::status>(fault->status), "injected fault");
          res.result(fault->status);
          if (fault->retry_after_seconds)
            res.set(http::field::retry_after, std::to_string(*fault->retry_after_seconds));
          sim.log(fmt::format("{} -> {} (fault \"{}\")", line, fault->status, fault->text));
          auto [write_error, written] = co_await http::async_write(stream, res, no_throw);
          (void)written;
          if (write_error) co_return;
          if (!res.keep_alive()) break;
          continue;
        }
        case fault_action::drop:
          sim.log(fmt::format("{} -> connection closed, not applied (fault \"{}\")", line, fault->text));
          co_return;
        case fault_action::apply_drop: {
          const auto applied = serve_api(sim, req, auth);
          sim.log(fmt::format("{} -> applied ({}{}), connection closed without answering (fault \"{}\")",
                              line, applied.result_int(), refusal(auth), fault->text));
          co_return;
        }
        case fault_action::hang: {
          sim.log(fmt::format("{} -> no answer (fault \"{}\")", line, fault->text));
          // Wait until the client closes the connection or sends anything (a raw read of the lowest layer
          // completes; over TLS any record, a close_notify too) or the idle limit.
          lowest_layer.expires_after(600s);
          char byte = 0;
          co_await lowest_layer.async_read_some(asio::buffer(&byte, 1), no_throw);
          co_return;
        }
        default:
          break;
      }
    }
    auto res = serve_api(sim, req, auth);
    const bool close_after = fault && fault->action == fault_action::answer_close;
    sim.log(
        fmt::format("{} -> {}{}{}", line, res.result_int(), refusal(auth),
                    close_after ? fmt::format(", then connection closed (fault \"{}\")", fault->text) : ""));
    auto [write_error, written] = co_await http::async_write(stream, res, no_throw);
    (void)written;
    if (write_error) co_return;
    if (!res.keep_alive() || close_after) break;
  }
  co_await finish_sending(stream);
}

// Whether a "connection N close" rule closes this connection before anything is read.
bool closed_on_accept(simulator& sim, std::uint64_t connection) {
  for (const auto& rule : sim.faults) {
    if (rule.per_connection && rule.hits(connection)) {
      sim.log(fmt::format("connection {} closed on accept (fault \"{}\")", connection, rule.text));
      return true;
    }
  }
  return false;
}

// One connection over TCP or a Unix domain socket (Protocol is ip::tcp or local::stream_protocol).
template <typename Protocol>
asio::awaitable<void> plain_connection(simulator& sim,
                                       asio::basic_stream_socket<Protocol, asio::any_io_executor> socket) {
  if (closed_on_accept(sim, ++sim.connections)) co_return;  // the socket closes as it goes out of scope
  beast::basic_stream<Protocol, asio::any_io_executor> stream(std::move(socket));
  co_await session(sim, stream);
}

// Why a handshake failed, for the log: OpenSSL's reason, and for a rejected certificate the verifier's.
std::string handshake_failure(const beast::error_code& error, tls_stream& stream) {
  if (error == beast::error::timeout)
    return fmt::format("no handshake within {} s", std::chrono::seconds(handshake_timeout).count());
  std::string reason = error.message();
  const long verify_result = ::SSL_get_verify_result(stream.native_handle());
  if (error.category() == asio::error::get_ssl_category() && verify_result != X509_V_OK)
    reason += fmt::format(": client certificate: {}", ::X509_verify_cert_error_string(verify_result));
  return reason;
}

// One HTTPS connection: the handshake (bounded), then the same session as plain HTTP.
asio::awaitable<void> tls_connection(simulator& sim, asio::ssl::context& context, tcp::socket socket) {
  constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
  const std::uint64_t connection = ++sim.connections;
  // Before the handshake: the client's handshake is cut off, as a plain client's request finds the
  // connection closed.
  if (closed_on_accept(sim, connection)) co_return;
  beast::error_code ignored;
  const auto peer = socket.remote_endpoint(ignored);
  tls_stream stream(std::move(socket), context);
  beast::get_lowest_layer(stream).expires_after(handshake_timeout);
  auto [error] = co_await stream.async_handshake(asio::ssl::stream_base::server, no_throw);
  if (error) {
    // Printed even with --quiet: a client that cannot connect at all is what an operator needs to see.
    const std::string host =
        peer.address().is_v6() ? "[" + peer.address().to_string() + "]" : peer.address().to_string();
    fmt::print(stderr, "orchestrator-sim: connection {} from {}:{}: TLS handshake failed: {}\n", connection,
               host, peer.port(), handshake_failure(error, stream));
    co_return;
  }
  co_await session(sim, stream);
}

// `start(socket)` makes the coroutine that serves one accepted connection.
template <typename Protocol, typename StartConnection>
asio::awaitable<void> accept_loop(asio::basic_socket_acceptor<Protocol, asio::any_io_executor>& acceptor,
                                  StartConnection start) {
  constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(no_throw);
    if (error == asio::error::operation_aborted) co_return;
    if (error) continue;
    asio::co_spawn(acceptor.get_executor(), start(std::move(socket)), asio::detached);
  }
}

constexpr const char* usage_text =
    "usage: orchestrator-sim [--address ADDR] [--port N | --unix PATH]\n"
    "                        [--tls-cert FILE --tls-key FILE [--client-ca FILE]] [--token-file FILE]\n"
    "                        [--fault RULE]... [--faults FILE] [--quiet]\n"
    "       orchestrator-sim --help | --version\n"
    "\n"
    "An in-memory VM orchestrator over HTTP/1.1 with scripted faults, for tests and demos of vmm-ctl.\n"
    "The first line on stdout says where it listens: \"listening on http://127.0.0.1:PORT\".\n"
    "SIGINT or SIGTERM stops it.\n"
    "\n"
    "Options:\n"
    "  --address ADDR       the address to listen on (default 127.0.0.1; ::1 for IPv6)\n"
    "  --port N             the TCP port, 0 to 65535 (default 8080); 0 picks a free one\n"
    "  --unix PATH          serve on a Unix domain socket at PATH (absolute, at most 107 bytes) instead of\n"
    "                       TCP; not with --address or --port\n"
    "  --tls-cert FILE      with --tls-key: serve HTTPS (TLS 1.2 or later) with this PEM certificate chain\n"
    "  --tls-key FILE       the certificate's private key (PEM); TCP only\n"
    "  --client-ca FILE     with --tls-cert: require a client certificate issued by the CA in FILE (PEM)\n"
    "  --token-file FILE    require \"Authorization: Bearer TOKEN\" under /v1/ (TOKEN: the file's content\n"
    "                       without its trailing newline), else answer 401\n"
    "  --fault RULE         a fault rule (repeatable; several rules may be separated by ';')\n"
    "  --faults FILE        fault rules, one per line; lines starting with # are comments\n"
    "  --quiet              no log line per request on stderr\n"
    "  --help               this text\n"
    "  --version            the version\n"
    "\n"
    "Fault rules:\n"
    "  METHOD PATTERN ARRIVALS ACTION [ARGS]\n"
    "    METHOD    GET, POST, DELETE, ... or * for any\n"
    "    PATTERN   a path such as /v1/vms or /v1/vms/{name}/start, or * for any path\n"
    "    ARRIVALS  which matching requests, counted per rule from 1: 3 | 1-3 | 2,4 | * (all)\n"
    "    ACTION    status CODE [retry-after SECONDS]  answer CODE (100-599), apply nothing\n"
    "              delay MS                           wait MS milliseconds, then serve normally\n"
    "              drop                               close after reading the request, apply nothing\n"
    "              apply-drop                         apply, then close without answering (a lost response)\n"
    "              hang                               never answer (until the client closes)\n"
    "              answer-close                       serve, then close the kept-alive connection "
    "unannounced\n"
    "  connection ARRIVALS close                      close the Nth accepted connection before reading\n"
    "  Example: --fault 'GET /v1/vms 1-2 status 503' --fault 'POST /v1/vms 1 apply-drop'\n"
    "\n"
    "API: GET /v1/vms, POST /v1/vms, GET|DELETE /v1/vms/{name}, POST /v1/vms/{name}/start|stop, and\n"
    "GET /_sim/requests, the API requests seen so far.\n";

int usage(int code) {
  fmt::print(code == 0 ? stdout : stderr, "{}", usage_text);
  return code;
}

// The longest path a Unix domain socket address holds (sun_path keeps room for a terminating NUL).
constexpr std::size_t max_unix_path = sizeof(sockaddr_un::sun_path) - 1;

void check_unix_path(const std::string& path) {
  if (path.empty() || path.front() != '/')
    throw std::invalid_argument("--unix: expected an absolute path, got \"" + path + "\"");
  if (path.size() > max_unix_path)
    throw std::invalid_argument(fmt::format(
        "--unix: the path is {} bytes, a Unix socket address holds at most {}", path.size(), max_unix_path));
}

// The files of --tls-cert, --tls-key and --client-ca.
struct tls_settings {
  std::string cert_file;
  std::string key_file;
  std::optional<std::string> client_ca_file;
};

// Opening the file first gives "No such file or directory" or "Permission denied", where OpenSSL would only
// say that it found no PEM data. A directory opens as a file but reads as nothing.
void check_readable(const std::string& option, const std::string& path) {
  std::ifstream file(path);
  const int open_error = file ? (std::filesystem::is_directory(path) ? EISDIR : 0) : errno;
  if (open_error != 0)
    throw std::invalid_argument(
        fmt::format("{}: cannot read {}: {}", option, path, std::strerror(open_error)));
}

// Throws std::invalid_argument naming the option, the file and what is wrong with it.
asio::ssl::context make_tls_context(const tls_settings& settings) {
  check_readable("--tls-cert", settings.cert_file);
  check_readable("--tls-key", settings.key_file);
  if (settings.client_ca_file) check_readable("--client-ca", *settings.client_ca_file);
  asio::ssl::context context(asio::ssl::context::tls_server);
  // TLS 1.0 and 1.1 are deprecated (RFC 8996); no client of ours needs them.
  ::SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  context.set_options(asio::ssl::context::default_workarounds);
  beast::error_code error;
  context.use_certificate_chain_file(settings.cert_file, error);
  if (error)
    throw std::invalid_argument(fmt::format("--tls-cert: {} is not a PEM certificate chain: {}",
                                            settings.cert_file, error.message()));
  context.use_private_key_file(settings.key_file, asio::ssl::context::pem, error);
  // A key that does not match is refused here by OpenSSL 3 (as "key values mismatch") and, by older versions,
  // only by the check below; either way the message names both files.
  const bool mismatch =
      error.category() == asio::error::get_ssl_category()
      && ERR_GET_REASON(static_cast<unsigned long>(error.value())) == X509_R_KEY_VALUES_MISMATCH;
  if (error && !mismatch)
    throw std::invalid_argument(
        fmt::format("--tls-key: {} is not a PEM private key: {}", settings.key_file, error.message()));
  if (mismatch || ::SSL_CTX_check_private_key(context.native_handle()) != 1)
    throw std::invalid_argument(fmt::format("--tls-key: {} is not the key of the certificate in {}",
                                            settings.key_file, settings.cert_file));
  if (settings.client_ca_file) {
    context.load_verify_file(*settings.client_ca_file, error);
    if (error)
      throw std::invalid_argument(fmt::format("--client-ca: {} holds no PEM certificate: {}",
                                              *settings.client_ca_file, error.message()));
    context.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    // The CA's name in the certificate request lets a client holding several certificates pick the right one.
    if (STACK_OF(X509_NAME)* names = ::SSL_load_client_CA_file(settings.client_ca_file->c_str()))
      ::SSL_CTX_set_client_CA_list(context.native_handle(), names);
  }
  return context;
}

// The token of --token-file: the content without one trailing newline (as an editor or `echo` leaves it).
std::string read_token(const std::string& path) {
  check_readable("--token-file", path);
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  std::string token = text.str();
  if (token.ends_with('\n')) token.pop_back();
  if (token.ends_with('\r')) token.pop_back();  // the newline was CRLF
  if (token.empty()) throw std::invalid_argument(fmt::format("--token-file: {} is empty", path));
  // No client could send such a token in a field value (the token itself is not printed).
  for (const char c : token)
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f')
      throw std::invalid_argument(
          fmt::format("--token-file: the token in {} holds a space or a control character", path));
  return token;
}

// Serves until SIGINT or SIGTERM (the signals are registered by the caller before it starts listening, so one
// sent as soon as the "listening" line is read is not lost). `start(socket)` serves one connection.
template <typename Protocol, typename StartConnection>
void serve(simulator& sim, asio::io_context& io, asio::signal_set& signals,
           asio::basic_socket_acceptor<Protocol, asio::any_io_executor>& acceptor, StartConnection start) {
  for (const auto& rule : sim.faults) sim.log("fault: " + rule.text);
  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) return;
    sim.log(fmt::format("signal {}: stopping after {} requests", signal, sim.seen.size()));
    io.stop();
  });
  asio::co_spawn(io, accept_loop(acceptor, std::move(start)), asio::detached);
  io.run();
}

// `tls`: serve HTTPS with this context; null for plain HTTP.
int serve_tcp(simulator& sim, asio::io_context& io, asio::signal_set& signals, const std::string& address,
              unsigned short port, asio::ssl::context* tls) {
  tcp::acceptor acceptor(io);
  try {
    const tcp::endpoint endpoint(asio::ip::make_address(address), port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
  } catch (const std::exception& error) {
    fmt::print(stderr, "orchestrator-sim: cannot listen on {} port {}: {}\n", address, port, error.what());
    return 1;
  }
  const auto bound = acceptor.local_endpoint();
  const std::string host =
      bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
  fmt::print("listening on {}://{}:{}\n", tls ? "https" : "http", host, bound.port());
  std::fflush(stdout);
  if (tls)
    serve(sim, io, signals, acceptor,
          [&sim, tls](tcp::socket socket) { return tls_connection(sim, *tls, std::move(socket)); });
  else
    serve(sim, io, signals, acceptor,
          [&sim](tcp::socket socket) { return plain_connection(sim, std::move(socket)); });
  return 0;
}

int serve_unix(simulator& sim, asio::io_context& io, asio::signal_set& signals, const std::string& path) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      fmt::print(stderr, "orchestrator-sim: --unix: {} exists and is not a socket\n", path);
      return 2;
    }
    // Left by an earlier run that did not stop cleanly; binding over it would fail with EADDRINUSE.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      fmt::print(stderr, "orchestrator-sim: cannot remove the stale socket {}: {}\n", path,
                 std::strerror(errno));
      return 1;
    }
  }
  unix_socket::acceptor acceptor(io);
  try {
    const unix_socket::endpoint endpoint(path);
    acceptor.open(endpoint.protocol());
    acceptor.bind(endpoint);
    acceptor.listen();
  } catch (const std::exception& error) {
    fmt::print(stderr, "orchestrator-sim: cannot listen on unix socket {}: {}\n", path, error.what());
    return 1;
  }
  // Only the socket file this run created is removed at the end: a later run may have replaced it meanwhile.
  struct stat created {};
  const bool know_created = ::lstat(path.c_str(), &created) == 0;
  fmt::print("listening on unix://{}\n", path);
  std::fflush(stdout);
  serve(sim, io, signals, acceptor,
        [&sim](unix_socket::socket socket) { return plain_connection(sim, std::move(socket)); });
  struct stat now {};
  if (know_created && ::lstat(path.c_str(), &now) == 0 && now.st_dev == created.st_dev
      && now.st_ino == created.st_ino)
    ::unlink(path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  simulator sim;
  std::string address = "127.0.0.1";
  unsigned short port = 8080;
  bool tcp_option_given = false;
  std::optional<std::string> unix_path;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  std::optional<std::string> client_ca;
  std::optional<asio::ssl::context> tls;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
        return argv[++i];
      };
      if (arg == "--help" || arg == "-h") return usage(0);
      if (arg == "--version") {
        fmt::print("orchestrator-sim {}\n", RETRYHTTP_VERSION_STRING);
        return 0;
      }
      if (arg == "--address") {
        address = value();
        tcp_option_given = true;
      } else if (arg == "--port") {
        const std::string text = value();
        const auto n = retryhttp_tools::parse_unsigned(text, 0, 65535);
        if (!n)
          throw std::invalid_argument(
              "--port: expected a port number (0 to 65535; 0 picks a free port), got \""
              + retryhttp::detail::printable(text) + "\"");
        port = static_cast<unsigned short>(*n);
        tcp_option_given = true;
      } else if (arg == "--unix") {
        unix_path = value();
      } else if (arg == "--tls-cert") {
        tls_cert = value();
      } else if (arg == "--tls-key") {
        tls_key = value();
      } else if (arg == "--client-ca") {
        client_ca = value();
      } else if (arg == "--token-file") {
        sim.token = read_token(value());
      } else if (arg == "--fault") {
        for (auto& rule : orchestrator_sim::parse_faults(value())) sim.faults.push_back(std::move(rule));
      } else if (arg == "--faults") {
        const std::string path = value();
        std::ifstream file(path);
        if (!file) throw std::invalid_argument("cannot read fault file " + path);
        std::stringstream text;
        text << file.rdbuf();
        for (auto& rule : orchestrator_sim::parse_faults(text.str())) sim.faults.push_back(std::move(rule));
      } else if (arg == "--quiet") {
        sim.quiet = true;
      } else {
        fmt::print(stderr, "orchestrator-sim: unknown argument \"{}\" (see orchestrator-sim --help)\n",
                   retryhttp::detail::printable(arg));
        return 2;
      }
    }
    if (unix_path) {
      if (tcp_option_given) throw std::invalid_argument("--unix cannot be combined with --address or --port");
      if (tls_cert || tls_key || client_ca)
        throw std::invalid_argument(
            "--tls-cert, --tls-key and --client-ca serve TCP; they cannot be combined with --unix");
      check_unix_path(*unix_path);
    }
    if (tls_cert.has_value() != tls_key.has_value())
      throw std::invalid_argument("--tls-cert and --tls-key go together: give both or neither");
    if (client_ca && !tls_cert) throw std::invalid_argument("--client-ca needs --tls-cert and --tls-key");
    if (tls_cert) tls.emplace(make_tls_context({*tls_cert, *tls_key, client_ca}));
  } catch (const std::exception& error) {
    fmt::print(stderr, "orchestrator-sim: {}\n", error.what());
    return 2;
  }

  asio::io_context io{1};
  asio::signal_set signals(io, SIGINT, SIGTERM);
  return unix_path ? serve_unix(sim, io, signals, *unix_path)
                   : serve_tcp(sim, io, signals, address, port, tls ? &*tls : nullptr);
}
