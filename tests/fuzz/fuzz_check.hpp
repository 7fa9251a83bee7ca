#ifndef RETRYHTTP_TESTS_FUZZ_CHECK_HPP
#define RETRYHTTP_TESTS_FUZZ_CHECK_HPP

// The fuzz targets' assertion: a broken property names itself on stderr, then aborts, which libFuzzer reports
// as a crash and saves the input as the reproducer. (assert() would vanish under NDEBUG.)

#include <cstdio>
#include <cstdlib>

namespace retryhttp_fuzz {
inline void require(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property broken: %s\n", property);
  std::abort();
}
}  // namespace retryhttp_fuzz

#endif  // RETRYHTTP_TESTS_FUZZ_CHECK_HPP
