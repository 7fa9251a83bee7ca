#ifndef RETRYHTTP_VERSION_HPP
#define RETRYHTTP_VERSION_HPP

// The version of the retryhttp headers in use; meson.build's project version is the same (a test checks).

#define RETRYHTTP_VERSION_MAJOR 0
#define RETRYHTTP_VERSION_MINOR 1
#define RETRYHTTP_VERSION_PATCH 0
/// "MAJOR.MINOR.PATCH"
#define RETRYHTTP_VERSION_STRING "0.1.0"
/// MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons.
#define RETRYHTTP_VERSION \
  (RETRYHTTP_VERSION_MAJOR * 10000 + RETRYHTTP_VERSION_MINOR * 100 + RETRYHTTP_VERSION_PATCH)

#endif  // RETRYHTTP_VERSION_HPP
