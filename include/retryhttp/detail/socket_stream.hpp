#ifndef RETRYHTTP_DETAIL_SOCKET_STREAM_HPP
#define RETRYHTTP_DETAIL_SOCKET_STREAM_HPP

// A synchronous stream over a connected socket descriptor in blocking mode, for Beast's http::read and
// http::write, with a deadline for the whole exchange and a stop that works from any thread.
//
// Why not Asio: a request on a kept-alive connection is the common case, and Asio's reactor costs several
// syscalls per request beyond the two a blocking exchange needs (epoll_wait, timerfd_settime, ioctl). Here a
// request that is answered promptly costs one sendmsg and one recvmsg, as raw Beast on a blocking socket
// does.
//
// - Reading blocks in recvmsg. The deadline is the socket's receive timeout (SO_RCVTIMEO), set only when it
//   differs from the time left by more than a millisecond, so that a connection whose attempts share a
//   timeout sets it once. recvmsg returning EAGAIN means that timeout passed; the loop re-checks the
//   deadline.
// - Writing tries sendmsg with MSG_DONTWAIT and polls the socket, up to the deadline, only when its send
// buffer
//   is full (a small request never waits).
// - Stopping: the owner's stop callback sets `stopped` and shuts the socket down (shutdown(2) wakes a thread
//   blocked in recvmsg, sendmsg or poll on that socket at once); every error seen after that reads as
//   operation_canceled. The owner must keep the descriptor open until its stop callback can no longer run.

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>

namespace retryhttp::detail {

/// The throwing read_some or write_some that SyncReadStream and SyncWriteStream ask for, from the error_code
/// one (Beast's http::read and http::write with an error_code never call it).
template <class Transfer>
std::size_t or_throw(Transfer transfer) {
  boost::system::error_code ec;
  const std::size_t n = transfer(ec);
  if (ec) throw boost::system::system_error(ec);
  return n;
}

class socket_stream {
 public:
  using clock = std::chrono::steady_clock;

  /// `receive_timeout` is the SO_RCVTIMEO the socket has now (zero: none set yet) and is kept up to date.
  socket_stream(int socket, clock::time_point deadline, std::chrono::microseconds& receive_timeout,
                const std::atomic<bool>& stopped) noexcept
      : socket_(socket), deadline_(deadline), receive_timeout_(receive_timeout), stopped_(stopped) {}

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    vectors vs(buffers);
    ec.clear();
    if (vs.total == 0) return 0;
    for (;;) {
      if (!arm_receive_timeout(ec)) return 0;
      const auto n = ::recvmsg(socket_, &vs.message, 0);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0) {
        ec = stopped() ? canceled() : boost::system::error_code(boost::asio::error::eof);
        return 0;
      }
      // EAGAIN: the receive timeout passed. The next round checks the stop and the deadline.
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return fail(ec);
    }
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    return detail::or_throw([&](boost::system::error_code& ec) { return read_some(buffers, ec); });
  }

  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    vectors vs(buffers);
    ec.clear();
    if (vs.total == 0) return 0;
    for (;;) {
      const auto n = ::sendmsg(socket_, &vs.message, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(ec);
      if (!wait_writable(ec)) return 0;
    }
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    return detail::or_throw([&](boost::system::error_code& ec) { return write_some(buffers, ec); });
  }

 private:
  // Up to 16 buffers per call (Beast's serializer hands over fewer); the rest go in the next call.
  struct vectors {
    template <class BufferSequence>
    explicit vectors(const BufferSequence& buffers) {
      std::size_t count = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers) && count < 16; ++it) {
        const boost::asio::const_buffer buffer(*it);
        if (buffer.size() == 0) continue;
        iov[count].iov_base = const_cast<void*>(buffer.data());
        iov[count].iov_len = buffer.size();
        total += buffer.size();
        ++count;
      }
      message.msg_iov = iov;
      message.msg_iovlen = count;
    }
    vectors(const vectors&) = delete;
    vectors& operator=(const vectors&) = delete;
    iovec iov[16];
    msghdr message{};
    std::size_t total = 0;
  };

  bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }
  static boost::system::error_code canceled() {
    return make_error_code(boost::system::errc::operation_canceled);
  }
  static boost::system::error_code timed_out() { return make_error_code(boost::system::errc::timed_out); }
  std::size_t fail(boost::system::error_code& ec) const {
    ec = stopped() ? canceled() : boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }

  // The receive timeout becomes the time left (rounded up to a microsecond) unless it is already within a
  // millisecond of it. False, with timed_out (or canceled), if the deadline has passed.
  bool arm_receive_timeout(boost::system::error_code& ec) {
    if (stopped()) {
      ec = canceled();
      return false;
    }
    const auto left = std::chrono::ceil<std::chrono::microseconds>(deadline_ - clock::now());
    if (left.count() <= 0) {
      ec = timed_out();
      return false;
    }
    const auto difference = left > receive_timeout_ ? left - receive_timeout_ : receive_timeout_ - left;
    if (receive_timeout_.count() != 0 && difference <= std::chrono::milliseconds(1)) return true;
    timeval limit{};
    limit.tv_sec = static_cast<decltype(limit.tv_sec)>(left.count() / 1'000'000);
    limit.tv_usec = static_cast<decltype(limit.tv_usec)>(left.count() % 1'000'000);
    if (::setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0) {
      fail(ec);
      return false;
    }
    receive_timeout_ = left;
    return true;
  }

  bool wait_writable(boost::system::error_code& ec) {
    for (;;) {
      if (stopped()) {
        ec = canceled();
        return false;
      }
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - clock::now()).count();
      if (left <= 0) {
        ec = timed_out();
        return false;
      }
      pollfd watched{socket_, POLLOUT, 0};
      const int ready = ::poll(&watched, 1, left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left));
      if (ready < 0 && errno != EINTR) {
        fail(ec);
        return false;
      }
      if (ready > 0) return true;  // writable, or an error or hang-up the next sendmsg reports
    }
  }

  int socket_;
  clock::time_point deadline_;
  std::chrono::microseconds& receive_timeout_;
  const std::atomic<bool>& stopped_;
};

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_SOCKET_STREAM_HPP
