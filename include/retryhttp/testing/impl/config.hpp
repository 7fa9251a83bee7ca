#ifndef RETRYHTTP_TESTING_IMPL_CONFIG_HPP
#define RETRYHTTP_TESTING_IMPL_CONFIG_HPP

// How the fakes' functions are defined: inline in every translation unit that includes them (header-only, the
// default), or once, in the translation unit that includes <retryhttp/testing/src.hpp>, in a program built
// with RETRYHTTP_SEPARATE_COMPILATION (as Asio's BOOST_ASIO_DECL does).
#if defined(RETRYHTTP_SEPARATE_COMPILATION)
#define RETRYHTTP_TESTING_DECL
#else
#define RETRYHTTP_TESTING_DECL inline
#endif

#endif  // RETRYHTTP_TESTING_IMPL_CONFIG_HPP
