#ifndef RETRYHTTP_TESTS_COUNTING_NEW_HPP
#define RETRYHTTP_TESTS_COUNTING_NEW_HPP

// A program that links counting_new.cpp counts every call of the global operator new.

#include <cstddef>

namespace retryhttp_test {
/// Global operator new calls so far in this program.
std::size_t allocations_so_far() noexcept;
}  // namespace retryhttp_test

#endif  // RETRYHTTP_TESTS_COUNTING_NEW_HPP
