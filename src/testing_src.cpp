// The separately compiled part of the fakes (see <retryhttp/testing/src.hpp>), for this repository's tests
// and tools, which are built with RETRYHTTP_SEPARATE_COMPILATION (meson option separate_compilation).
#include <retryhttp/testing/src.hpp>
