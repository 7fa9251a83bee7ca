// The separately compiled part of retryhttp (see <retryhttp/src.hpp>): the tests and tools of this repository
// are built with RETRYHTTP_SEPARATE_COMPILATION (meson option separate_compilation) and linked with it.
#include <retryhttp/src.hpp>
