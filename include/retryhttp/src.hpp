#ifndef RETRYHTTP_SRC_HPP
#define RETRYHTTP_SRC_HPP

// The separately compiled part of retryhttp, as Asio and Beast offer theirs: define
// RETRYHTTP_SEPARATE_COMPILATION for every translation unit of the program, and include this header in
// exactly one of them. The transports' I/O (beast_transport's, and async_beast_transport's on
// asio::any_io_executor, io_context::executor_type and a strand of it) and http_client<> are then compiled
// there once, instead of in every translation unit that uses them. Everything else stays header-only: another
// executor, another client type or another completion handler's allocator is instantiated where it is used,
// as without the macro.

#if !defined(RETRYHTTP_SEPARATE_COMPILATION)
#error \
    "<retryhttp/src.hpp> is for builds that define RETRYHTTP_SEPARATE_COMPILATION in every translation unit"
#endif

#include <retryhttp/async_beast_transport.hpp>
#include <retryhttp/beast_transport.hpp>

namespace retryhttp {
template struct beast_transport::io<void>;
template class basic_client<beast_transport>;
RETRYHTTP_DETAIL_ASYNC_BEAST_TRANSPORT(, boost::asio::any_io_executor)
RETRYHTTP_DETAIL_ASYNC_BEAST_TRANSPORT(, boost::asio::io_context::executor_type)
RETRYHTTP_DETAIL_ASYNC_BEAST_TRANSPORT(, boost::asio::strand<boost::asio::io_context::executor_type>)
}  // namespace retryhttp

#endif  // RETRYHTTP_SRC_HPP
