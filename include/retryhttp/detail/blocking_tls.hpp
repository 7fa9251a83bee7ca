#ifndef RETRYHTTP_DETAIL_BLOCKING_TLS_HPP
#define RETRYHTTP_DETAIL_BLOCKING_TLS_HPP

// TLS for the synchronous transport, on OpenSSL directly: one SSL object whose BIO reads and writes through
// the socket_stream of the handshake or exchange under way (use()), so TLS keeps the deadline and the stop of
// plain HTTP.
//
// Why not Beast's ssl_stream (which the asynchronous transport uses): its header brings Asio's asynchronous
// SSL machinery (the engine's memory BIOs, the io operations, their handlers) into every program that
// includes the synchronous transport, whether it ever speaks https or not; that was a quarter of a plain-HTTP
// program's compile time beyond raw Beast's. A blocking stream needs none of it: OpenSSL calls the BIO, the
// BIO calls socket_stream, and a read that would block blocks there, under the deadline.
//
// The errors are those Asio's ssl::stream reports, so that one classification (detail/tls.hpp) serves both
// transports: an error of OpenSSL's queue in Asio's ssl category, eof after the peer's close_notify,
// ssl::error::stream_truncated for a connection that ended without one, and the socket's own error (time-out,
// stop, reset) as it came.

#include <retryhttp/detail/socket_stream.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstddef>
#include <string>

namespace retryhttp::detail {

class blocking_tls_stream {
 public:
  /// A client connection of `context`. Throws boost::system::system_error with OpenSSL's reason (as Asio's
  /// ssl::stream does) if OpenSSL cannot make one.
  explicit blocking_tls_stream(SSL_CTX* context) : ssl_(::SSL_new(context)) {
    const BIO_METHOD* method = ssl_ ? bio_method() : nullptr;
    BIO* bio = method ? ::BIO_new(method) : nullptr;
    if (!bio) {
      if (ssl_) ::SSL_free(ssl_);
      const unsigned long reason = ::ERR_get_error();
      ::ERR_clear_error();
      throw boost::system::system_error(reason != 0 ? boost::system::error_code(
                                            static_cast<int>(reason), boost::asio::error::get_ssl_category())
                                                    : make_error_code(boost::system::errc::not_enough_memory),
                                        "TLS connection");
    }
    ::BIO_set_data(bio, this);
    ::BIO_set_init(bio, 1);
    ::SSL_set_bio(ssl_, bio, bio);  // the SSL object owns the BIO
    ::SSL_set_connect_state(ssl_);
    // Records are read as far as the socket has them, not header then body: one recvmsg per response that
    // fits the socket's buffer, as with plain HTTP.
    ::SSL_set_read_ahead(ssl_, 1);
  }
  blocking_tls_stream(const blocking_tls_stream&) = delete;
  blocking_tls_stream& operator=(const blocking_tls_stream&) = delete;
  ~blocking_tls_stream() { ::SSL_free(ssl_); }

  SSL* native_handle() const noexcept { return ssl_; }

  /// Where the BIO reads and writes from now on (nullptr: nowhere, every transfer fails with not_connected).
  void use(socket_stream* stream) noexcept { stream_ = stream; }

  /// Decrypted bytes, or bytes of a record not yet decrypted, that no read has taken yet. With read-ahead
  /// this also counts a record the server sent after its response (a late session ticket, a close_notify), so
  /// such a connection is not reused: a new connection (a resumed handshake) rather than a request on a
  /// connection in an unknown state.
  bool has_pending() const noexcept { return ::SSL_has_pending(ssl_) == 1; }

  void handshake(boost::system::error_code& ec) {
    begin();
    const int result = ::SSL_do_handshake(ssl_);
    if (result == 1)
      ec.clear();
    else
      ec = error_after(result);
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    const boost::asio::mutable_buffer first = first_of<boost::asio::mutable_buffer>(buffers);
    ec.clear();
    if (first.size() == 0) return 0;
    begin();
    std::size_t n = 0;
    const int result = ::SSL_read_ex(ssl_, first.data(), first.size(), &n);
    if (result == 1) return n;
    ec = error_after(result);
    return 0;
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    return detail::or_throw([&](boost::system::error_code& ec) { return read_some(buffers, ec); });
  }

  /// Writes as one TLS record what fits in one (16 KiB) of the buffers, or the first buffer whole when it is
  /// larger, so that a request's head and small body go in one record and one sendmsg. Returns the bytes of
  /// `buffers` taken. A failed write returns 0 even if part of it reached the socket; the transport then
  /// calls the request not_sent only when this was its first write, which is safe: the first write is at most
  /// one record that starts the head (a record the server cannot decrypt until it is whole), or a head of 16
  /// KiB or more alone, which the server cannot act on while it is incomplete.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    constexpr std::size_t record = 16 * 1024;
    ec.clear();
    boost::asio::const_buffer first;
    std::size_t nonempty = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::const_buffer buffer(*it);
      if (buffer.size() == 0) continue;
      if (nonempty++ == 0) first = buffer;
    }
    if (nonempty == 0) return 0;
    if (nonempty == 1 || first.size() >= record) return write_record(first.data(), first.size(), ec);
    gathered_.clear();
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && gathered_.size() < record; ++it) {
      const boost::asio::const_buffer buffer(*it);
      gathered_.append(static_cast<const char*>(buffer.data()),
                       std::min(buffer.size(), record - gathered_.size()));
    }
    return write_record(gathered_.data(), gathered_.size(), ec);
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    return detail::or_throw([&](boost::system::error_code& ec) { return write_some(buffers, ec); });
  }

 private:
  template <class Buffer, class Sequence>
  static Buffer first_of(const Sequence& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it)
      if (const Buffer buffer(*it); buffer.size() != 0) return buffer;
    return Buffer();
  }

  std::size_t write_record(const void* data, std::size_t size, boost::system::error_code& ec) {
    begin();
    std::size_t n = 0;
    const int result = ::SSL_write_ex(ssl_, data, size, &n);
    if (result == 1) return n;
    ec = error_after(result);
    return 0;
  }

  void begin() {
    ::ERR_clear_error();
    socket_error_.clear();
  }

  // Why the call that returned `result` failed, as Asio's ssl::stream would say. A stop or a time-out reads
  // as such. Then an error OpenSSL found itself (a certificate it rejects, an alert) wins over the socket's:
  // it may have failed only while sending the alert that reports it, and the TLS error is what decides
  // whether a retry can help. Otherwise OpenSSL only saw its BIO fail, and the socket's error is the reason.
  boost::system::error_code error_after(int result) {
    const int reason = ::SSL_get_error(ssl_, result);
    const unsigned long queued = ::ERR_get_error();
    ::ERR_clear_error();
    if (socket_error_ == boost::system::errc::operation_canceled
        || socket_error_ == boost::system::errc::timed_out)
      return socket_error_;
    if (reason == SSL_ERROR_SSL && queued != 0)
      return boost::system::error_code(static_cast<int>(queued), boost::asio::error::get_ssl_category());
    if (socket_error_) {
      if (socket_error_ == boost::asio::error::eof && (::SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) == 0)
        return boost::asio::ssl::error::stream_truncated;
      return socket_error_;
    }
    if (reason == SSL_ERROR_ZERO_RETURN) return boost::asio::error::eof;
    if (queued != 0)
      return boost::system::error_code(static_cast<int>(queued), boost::asio::error::get_ssl_category());
    return boost::asio::ssl::error::unspecified_system_error;
  }

  static std::size_t transfer_failed(blocking_tls_stream& self, boost::system::error_code ec) {
    self.socket_error_ = ec;
    return 0;
  }

  // The BIO's callbacks. A failure is final for this call (no retry flag): socket_stream has already waited
  // as long as the deadline allows.
  static int bio_read(BIO* bio, char* data, std::size_t size, std::size_t* read) {
    auto& self = *static_cast<blocking_tls_stream*>(::BIO_get_data(bio));
    ::BIO_clear_retry_flags(bio);
    if (!self.stream_) return static_cast<int>(transfer_failed(self, boost::asio::error::not_connected));
    boost::system::error_code ec;
    const std::size_t n = self.stream_->read_some(boost::asio::mutable_buffer(data, size), ec);
    if (ec) return static_cast<int>(transfer_failed(self, ec));
    *read = n;
    return 1;
  }
  static int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
    auto& self = *static_cast<blocking_tls_stream*>(::BIO_get_data(bio));
    ::BIO_clear_retry_flags(bio);
    if (!self.stream_) return static_cast<int>(transfer_failed(self, boost::asio::error::not_connected));
    std::size_t done = 0;
    while (done < size) {  // whole, so that OpenSSL never has a record half written
      boost::system::error_code ec;
      done += self.stream_->write_some(boost::asio::const_buffer(data + done, size - done), ec);
      if (ec) return static_cast<int>(transfer_failed(self, ec));
    }
    *written = done;
    return 1;
  }
  static long bio_control(BIO*, int command, long, void*) {
    // Writes are never buffered here, so a flush has nothing to do; nothing else is supported.
    return command == BIO_CTRL_FLUSH ? 1 : 0;
  }
  static const BIO_METHOD* bio_method() {
    static BIO_METHOD* const method = [] {
      BIO_METHOD* m = ::BIO_meth_new(::BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "retryhttp socket_stream");
      if (m) {
        ::BIO_meth_set_read_ex(m, &bio_read);
        ::BIO_meth_set_write_ex(m, &bio_write);
        ::BIO_meth_set_ctrl(m, &bio_control);
      }
      return m;
    }();
    return method;
  }

  SSL* ssl_;
  socket_stream* stream_ = nullptr;
  boost::system::error_code socket_error_;
  std::string
      gathered_;  // the buffers of a write that go in one record; its capacity serves the connection's next
};

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_BLOCKING_TLS_HPP
