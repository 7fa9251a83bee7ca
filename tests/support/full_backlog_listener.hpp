#ifndef RETRYHTTP_TESTS_FULL_BACKLOG_LISTENER_HPP
#define RETRYHTTP_TESTS_FULL_BACKLOG_LISTENER_HPP

// A TCP listener on 127.0.0.1 that completes no more connections, so that a connect to it hangs, on loopback
// only: it listens with a backlog of 0 and one connection, never accepted, fills its accept queue. Linux then
// drops every further SYN (LISTENOVERFLOWS, whatever tcp_syncookies says), and a connecting client
// retransmits its SYN, unanswered, until it gives up: 1 s, 3 s, 7 s later and so on. A test stops such a
// connect long before any retransmission could find room (there is none: the filler stays queued while this
// lives).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

namespace retryhttp_test {

class full_backlog_listener {
 public:
  full_backlog_listener() : acceptor_(io_), filler_(io_) {
    namespace ip = boost::asio::ip;
    acceptor_.open(ip::tcp::v4());
    acceptor_.bind({ip::make_address("127.0.0.1"), 0});
    acceptor_.listen(0);
    filler_.connect(acceptor_.local_endpoint());  // the one connection the queue has room for
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

  /// Whether a further connect hangs: a non-blocking connect is still in progress after `wait`. Checks the
  /// premise of a test that needs a connect under way.
  bool connect_hangs(std::chrono::milliseconds wait = std::chrono::milliseconds(300)) const {
    const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (probe < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(acceptor_.local_endpoint().port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool hangs = false;
    if (::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0
        && errno == EINPROGRESS) {
      pollfd watched{probe, POLLOUT, 0};
      hangs = ::poll(&watched, 1, static_cast<int>(wait.count())) == 0;
    }
    ::close(probe);
    return hangs;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::socket filler_;
};

}  // namespace retryhttp_test

#endif  // RETRYHTTP_TESTS_FULL_BACKLOG_LISTENER_HPP
