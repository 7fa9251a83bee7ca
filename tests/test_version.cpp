#include <retryhttp/version.hpp>

#include <catch2/catch.hpp>

#include <string>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_version {

TEST_CASE("the version macros agree with each other and with the build's project version", "[version]") {
  const std::string parts = std::to_string(RETRYHTTP_VERSION_MAJOR) + "."
                            + std::to_string(RETRYHTTP_VERSION_MINOR) + "."
                            + std::to_string(RETRYHTTP_VERSION_PATCH);
  CHECK(parts == RETRYHTTP_VERSION_STRING);
  CHECK(std::string(RETRYHTTP_VERSION_STRING) == RETRYHTTP_PROJECT_VERSION);
  static_assert(RETRYHTTP_VERSION
                == RETRYHTTP_VERSION_MAJOR * 10000 + RETRYHTTP_VERSION_MINOR * 100 + RETRYHTTP_VERSION_PATCH);
}

}  // namespace test_version
