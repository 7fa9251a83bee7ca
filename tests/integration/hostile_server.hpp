#ifndef RETRYHTTP_TESTS_HOSTILE_SERVER_HPP
#define RETRYHTTP_TESTS_HOSTILE_SERVER_HPP

// A scriptable misbehaving HTTP server for the hostile-server tests: it listens on 127.0.0.1 (a free port),
// reads each request head and its Content-Length body, records the request line ("POST /v1/vms"), then plays
// one scripted behaviour: a reset, a cut-off reply, headers or chunk extensions that never end, 1xx interim
// responses, a far-future Retry-After, garbage...
//
// Raw POSIX sockets rather than Beast: the point is to send what a correct HTTP library would refuse to send,
// byte by byte when needed, and to reset a connection on purpose (SO_LINGER 0).
//
// Everything is bounded so that a broken client cannot hang or exhaust the test: "endless" output stops after
// `limits::max_bytes` per connection or `limits::max_time`, or as soon as the client closes; every wait is a
// poll of at most 100 ms that re-checks the stop flag; at most `limits::max_connections` connections are
// served. The destructor stops and joins every thread.

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace it {

enum class hostile_behaviour {
  close_on_accept,           ///< close each connection at once, before reading anything
  reset_after_request,       ///< read the request, then reset the connection (SO_LINGER 0, close)
  partial_status_line,       ///< "HTTP/1.1 20", then close
  slow_headers,              ///< a status line, then one header byte every 100 ms, never finishing
  endless_headers,           ///< a status line, then header fields forever
  short_body,                ///< Content-Length: 4096 and a few bytes of body, then close
  endless_chunked_body,      ///< chunked, 64 KiB chunks forever
  endless_chunk_extensions,  ///< chunked, "1;a=aaaa..." never ending
  endless_trailer,           ///< chunked, the last chunk, then trailer fields forever
  bad_chunk_size,            ///< chunked, "zz\r\n" as the first chunk size, then close
  continue_then_answer,      ///< "100 Continue", then the real answer
  early_hints_then_answer,   ///< "103 Early Hints" with a Link field, then the real answer
  continue_then_nothing,     ///< "100 Continue", then hold the connection without a word
  two_responses,             ///< the real answer immediately followed by a second complete response
  retry_after_far_future,    ///< 503 with "Retry-After: Fri, 31 Dec 9999 23:59:59 GMT"
  retry_after_negative,      ///< 503 with "Retry-After: -5"
  garbage,                   ///< bytes that are not HTTP (an SSH banner and binary), then close
  echo_request_in_error,     ///< 500 whose JSON error message is the request's head, credentials and all
};

class hostile_server {
 public:
  struct limits {
    /// Bytes one connection may send; far above any sane client limit (8 MiB bodies, 64 KiB headers), so that
    /// a client without a limit shows up as a large RSS, yet small enough to never threaten the machine.
    std::uint64_t max_bytes = 256ull * 1024 * 1024;
    /// Life of one connection: longer than any call in these tests may take.
    std::chrono::milliseconds max_time{20'000};
    /// Connections served; more are closed at once (a retry storm cannot spawn threads without end).
    std::size_t max_connections = 64;
  };

  explicit hostile_server(hostile_behaviour behaviour) : hostile_server(behaviour, limits{}) {}
  hostile_server(hostile_behaviour behaviour, limits bounds) : behaviour_(behaviour), limits_(bounds) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listener_ < 0) throw std::runtime_error("hostile_server: socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0
        || ::listen(listener_, 64) != 0
        || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ::close(listener_);
      throw std::runtime_error("hostile_server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  hostile_server(const hostile_server&) = delete;
  hostile_server& operator=(const hostile_server&) = delete;
  ~hostile_server() {
    stopping_.store(true);
    acceptor_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      workers.swap(workers_);
    }
    for (auto& worker : workers) worker.join();
    ::close(listener_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  /// Every request received so far, as "METHOD target", in order.
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t count(std::string_view request_line) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count(requests_.begin(), requests_.end(), request_line));
  }
  std::size_t connections() const { return connections_.load(); }
  std::uint64_t bytes_sent() const { return bytes_sent_.load(); }

 private:
  using clock = std::chrono::steady_clock;
  static constexpr auto tick = std::chrono::milliseconds(100);

  struct connection {
    int fd;
    clock::time_point until;
    std::uint64_t sent = 0;
    std::string buffer;  // received bytes not yet consumed
  };
  struct request {
    std::string method;
    std::string target;
    std::string body;
    std::string head;  // the request line and fields, as read
  };

  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }

  void accept_loop() {
    while (!stopping()) {
      pollfd ready{listener_, POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(tick.count())) <= 0) continue;
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) continue;
      const auto number = ++connections_;
      if (behaviour_ == hostile_behaviour::close_on_accept || number > limits_.max_connections) {
        ::close(fd);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, fd] {
        connection c{fd, clock::now() + limits_.max_time, 0, {}};
        serve(c);
        ::close(fd);
      });
    }
  }

  // Waits up to one tick for `events`; false when the connection's time is up or the server stops.
  bool wait_for(connection& c, short events) const {
    while (!stopping() && clock::now() < c.until) {
      pollfd ready{c.fd, events, 0};
      const int n = ::poll(&ready, 1, static_cast<int>(tick.count()));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
    return false;
  }

  // Reads more bytes into c.buffer; false when the client closed or time is up.
  bool receive(connection& c) const {
    if (!wait_for(c, POLLIN)) return false;
    char chunk[4096];
    const auto n = ::recv(c.fd, chunk, sizeof chunk, 0);
    if (n <= 0) return n < 0 && (errno == EAGAIN || errno == EINTR);
    c.buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  // Whether the client has closed (or reset) its side: checked between slow writes, so that "endless" output
  // stops when nobody listens.
  static bool client_gone(const connection& c) {
    pollfd ready{c.fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&ready, 1, 0) <= 0) return false;
    if (ready.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
    char byte = 0;
    return ::recv(c.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }

  // Sends all of `bytes`, within the connection's byte and time caps; false when the client is gone or a cap
  // was reached.
  bool send_all(connection& c, std::string_view bytes) {
    while (!bytes.empty()) {
      if (c.sent >= limits_.max_bytes) return false;
      if (!wait_for(c, POLLOUT)) return false;
      const auto allowed = std::min<std::uint64_t>(bytes.size(), limits_.max_bytes - c.sent);
      const auto n = ::send(c.fd, bytes.data(), static_cast<std::size_t>(allowed), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return false;  // EPIPE, ECONNRESET: the client went away
      }
      c.sent += static_cast<std::uint64_t>(n);
      bytes_sent_ += static_cast<std::uint64_t>(n);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Sends `block` again and again until a cap is reached or the client goes away.
  void send_forever(connection& c, std::string_view block) {
    while (send_all(c, block) && !client_gone(c)) {
    }
  }

  // Keeps the connection open, silent, until the client closes it or time is up.
  void hold(connection& c) {
    while (!stopping() && clock::now() < c.until && !client_gone(c)) std::this_thread::sleep_for(tick / 5);
  }

  // Reads one request head and its Content-Length body; nothing when the client closed or sent no request.
  std::optional<request> read_request(connection& c) {
    std::size_t end = std::string::npos;
    while ((end = c.buffer.find("\r\n\r\n")) == std::string::npos) {
      if (c.buffer.size() > 64 * 1024 || !receive(c)) return std::nullopt;
    }
    const std::string head = c.buffer.substr(0, end + 2);
    c.buffer.erase(0, end + 4);
    request r;
    r.head = head;
    const auto line_end = head.find("\r\n");
    const std::string line = head.substr(0, line_end);
    const auto first_space = line.find(' ');
    const auto second_space = line.find(' ', first_space + 1);
    if (first_space == std::string::npos || second_space == std::string::npos) return std::nullopt;
    r.method = line.substr(0, first_space);
    r.target = line.substr(first_space + 1, second_space - first_space - 1);
    std::size_t length = 0;
    std::string lowered = head;
    std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (const auto at = lowered.find("\r\ncontent-length:"); at != std::string::npos) {
      auto digits = at + 17;
      while (digits < head.size() && head[digits] == ' ') ++digits;
      std::from_chars(head.data() + digits, head.data() + head.size(), length);
    }
    while (c.buffer.size() < length) {
      if (length > 1024 * 1024 || !receive(c)) return std::nullopt;
    }
    r.body = c.buffer.substr(0, length);
    c.buffer.erase(0, length);
    std::lock_guard lock(mutex_);
    requests_.push_back(r.method + " " + r.target);
    return r;
  }

  static std::string vm_json(const std::string& name) {
    return boost::json::serialize(boost::json::object{
        {"name", name}, {"state", "stopped"}, {"cpus", 1}, {"memory_mib", 512}, {"image", "debian-12"}});
  }

  static std::string response(std::string_view status_line, const std::string& body,
                              std::string_view extra_fields = {}) {
    return "HTTP/1.1 " + std::string(status_line) + "\r\nContent-Type: application/json\r\nContent-Length: "
           + std::to_string(body.size()) + "\r\n" + std::string(extra_fields) + "\r\n" + body;
  }

  // The valid orchestrator answer: 201 and the VM for a create, 200 and the VM for GET /v1/vms/{name}.
  static std::string real_answer(const request& r) {
    if (r.method == "POST" && r.target == "/v1/vms") {
      std::string name = "unnamed";
      boost::system::error_code ec;
      const auto body = boost::json::parse(r.body, ec);
      if (!ec && body.is_object())
        if (const auto* field = body.get_object().if_contains("name"); field && field->is_string())
          name = std::string(field->get_string());
      return response("201 Created", vm_json(name));
    }
    constexpr std::string_view prefix = "/v1/vms/";
    if (r.method == "GET" && r.target.rfind(prefix, 0) == 0
        && r.target.find('/', prefix.size()) == std::string::npos)
      return response("200 OK", vm_json(r.target.substr(prefix.size())));
    return response("404 Not Found", R"({"error":"no such route"})");
  }

  static std::string block_of(std::string_view unit, std::size_t size = 64 * 1024) {
    std::string block;
    while (block.size() + unit.size() <= size) block += unit;
    return block;
  }

  void serve(connection& c) {
    using b = hostile_behaviour;
    constexpr std::string_view chunked_head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    // Behaviours that end with a complete answer keep the connection, as a server would; the rest end it.
    while (auto r = read_request(c)) {
      switch (behaviour_) {
        case b::close_on_accept:
          return;
        case b::reset_after_request: {
          const linger abort_on_close{1, 0};
          ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
          return;
        }
        case b::partial_status_line:
          send_all(c, "HTTP/1.1 20");
          return;
        case b::slow_headers:
          if (!send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ")) return;
          while (!client_gone(c) && send_all(c, "a")) std::this_thread::sleep_for(tick);
          return;
        case b::endless_headers: {
          if (!send_all(c, "HTTP/1.1 200 OK\r\n")) return;
          send_forever(c, block_of("X-Endless: " + std::string(100, 'a') + "\r\n"));
          return;
        }
        case b::short_body:
          send_all(
              c,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"name\":");
          return;
        case b::endless_chunked_body: {
          if (!send_all(c, chunked_head)) return;
          const std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
          send_forever(c, chunk);
          return;
        }
        case b::endless_chunk_extensions:
          if (!send_all(c, chunked_head) || !send_all(c, "1;a=")) return;
          send_forever(c, std::string(64 * 1024, 'a'));
          return;
        case b::endless_trailer:
          if (!send_all(c, chunked_head) || !send_all(c, "5\r\nhello\r\n0\r\n")) return;
          send_forever(c, block_of("X-Trailer: " + std::string(100, 'a') + "\r\n"));
          return;
        case b::bad_chunk_size:
          send_all(c, std::string(chunked_head) + "zz\r\nhello\r\n0\r\n\r\n");
          return;
        case b::continue_then_answer:
        case b::early_hints_then_answer:
          // The interim response first, the final one a moment later, as a server that starts work would.
          if (!send_all(
                  c, behaviour_ == b::continue_then_answer
                         ? "HTTP/1.1 100 Continue\r\n\r\n"
                         : "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"))
            return;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          if (!send_all(c, real_answer(*r))) return;
          break;
        case b::continue_then_nothing:
          if (send_all(c, "HTTP/1.1 100 Continue\r\n\r\n")) hold(c);
          return;
        case b::two_responses:
          // The second answer names another VM: a client that reads it as the answer to its next request
          // shows it.
          if (!send_all(c, real_answer(*r) + response("200 OK", vm_json("intruder")))) return;
          break;
        case b::retry_after_far_future:
          if (!send_all(c, response("503 Service Unavailable", R"({"error":"closed for maintenance"})",
                                    "Retry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\n")))
            return;
          break;
        case b::echo_request_in_error:
          // As a careless proxy's error page does: whatever the client sent, shown back to it.
          if (!send_all(c, response("500 Internal Server Error",
                                    boost::json::serialize(boost::json::object{{"error", r->head}}))))
            return;
          break;
        case b::retry_after_negative:
          if (!send_all(c, response("503 Service Unavailable", R"({"error":"busy"})", "Retry-After: -5\r\n")))
            return;
          break;
        case b::garbage: {
          // What an SSH server says first, then binary: an endpoint that points at the wrong service.
          static constexpr char not_http[] =
              "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x00\x00\x05\xdc\x07\x14\xff\xfe";
          send_all(c, std::string_view(not_http, sizeof not_http - 1));
          return;
        }
      }
    }
  }

  hostile_behaviour behaviour_;
  limits limits_;
  int listener_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace it

#endif  // RETRYHTTP_TESTS_HOSTILE_SERVER_HPP
