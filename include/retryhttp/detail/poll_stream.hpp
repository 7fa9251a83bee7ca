#ifndef RETRYHTTP_DETAIL_POLL_STREAM_HPP
#define RETRYHTTP_DETAIL_POLL_STREAM_HPP

// A synchronous stream over a connected socket descriptor for Beast's http::read and http::write, with a
// deadline for the whole exchange and an eventfd that wakes it at once when a stop is requested from another
// thread. Each read or write first tries the socket without blocking (MSG_DONTWAIT) and polls only when it
// would block, so a kept-alive request that is answered promptly costs one sendmsg and one or two recvmsg
// calls: no epoll, no timerfd. beast_transport uses it for requests on a connection that is already open.

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <cstddef>

namespace retryhttp::detail {

class poll_stream {
 public:
  using clock = std::chrono::steady_clock;

  poll_stream(int socket, int wake, clock::time_point deadline) noexcept
      : socket_(socket), wake_(wake), deadline_(deadline) {}

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    return transfer(buffers, POLLIN, ec,
                    [this](msghdr* message) { return ::recvmsg(socket_, message, MSG_DONTWAIT); });
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    const auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    return transfer(buffers, POLLOUT, ec, [this](msghdr* message) {
      return ::sendmsg(socket_, message, MSG_DONTWAIT | MSG_NOSIGNAL);
    });
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    const auto n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  template <class BufferSequence, class Io>
  std::size_t transfer(const BufferSequence& buffers, short direction, boost::system::error_code& ec, Io io) {
    iovec vectors[16];
    std::size_t count = 0;
    std::size_t total = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && count < 16; ++it) {
      const boost::asio::const_buffer buffer(*it);
      if (buffer.size() == 0) continue;
      vectors[count].iov_base = const_cast<void*>(buffer.data());
      vectors[count].iov_len = buffer.size();
      total += buffer.size();
      ++count;
    }
    ec.clear();
    if (total == 0) return 0;
    msghdr message{};
    message.msg_iov = vectors;
    message.msg_iovlen = count;
    for (;;) {
      const auto n = io(&message);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0 && direction == POLLIN) {
        ec = boost::asio::error::eof;
        return 0;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        ec.assign(errno, boost::system::system_category());
        return 0;
      }
      if (!wait(direction, ec)) return 0;
    }
  }

  // Waits until the socket is ready, the deadline passes (timed_out) or the wake descriptor fires (canceled).
  bool wait(short direction, boost::system::error_code& ec) {
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - clock::now()).count();
      if (left <= 0) {
        ec = make_error_code(boost::system::errc::timed_out);
        return false;
      }
      pollfd watched[2] = {{socket_, direction, 0}, {wake_, POLLIN, 0}};
      const int ready = ::poll(watched, 2, left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) {
        ec.assign(errno, boost::system::system_category());
        return false;
      }
      if (watched[1].revents != 0) {
        ec = make_error_code(boost::system::errc::operation_canceled);
        return false;
      }
      if (watched[0].revents != 0) return true;
    }
  }

  int socket_;
  int wake_;
  clock::time_point deadline_;
};

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_POLL_STREAM_HPP
