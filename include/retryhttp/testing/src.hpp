#ifndef RETRYHTTP_TESTING_SRC_HPP
#define RETRYHTTP_TESTING_SRC_HPP

// The separately compiled part of the fakes, the counterpart of <retryhttp/src.hpp> for tests: in a program
// built with RETRYHTTP_SEPARATE_COMPILATION that uses fake_clock or fake_transport, include this header in
// exactly one translation unit. fake_clock's and fake_transport's functions, and the client most tests build
// (basic_client<fake_transport, exponential_backoff, fake_clock>), are then compiled there once instead of in
// every test. Another client type is instantiated where it is used, as without the macro.

#if !defined(RETRYHTTP_SEPARATE_COMPILATION)
#error \
    "<retryhttp/testing/src.hpp> is for builds that define RETRYHTTP_SEPARATE_COMPILATION in every translation unit"
#endif

#include <retryhttp/testing/impl/fake_clock.ipp>
#include <retryhttp/testing/impl/fake_transport.ipp>

namespace retryhttp {
template class basic_client<testing::fake_transport, exponential_backoff, testing::fake_clock>;
}  // namespace retryhttp

#endif  // RETRYHTTP_TESTING_SRC_HPP
