// A program a consumer of the installed (or vendored) retryhttp writes: one GET with the default retries,
// printing what it got. Built by each of tests/consumers' projects with strict warnings of its own
// (-Wconversion -Wsign-conversion -Wshadow), against orchestrator-sim (scripts/consumers.sh).

#include <retryhttp/beast_transport.hpp>
#include <retryhttp/format.hpp>
#include <retryhttp/version.hpp>

#include <fmt/format.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer URL\n");
    return 2;
  }
  retryhttp::retry_config config;
  config.base_delay = std::chrono::milliseconds(10);
  retryhttp::http_client<> client{config, retryhttp::beast_transport{argv[1]}};
  const auto result = client.send({boost::beast::http::verb::get, "/v1/vms", 11});
  fmt::print("retryhttp {}: {} after {} attempts: {}\n", RETRYHTTP_VERSION_STRING,
             result.has_response() ? result.response().result_int() : 0U, result.attempts(),
             result.ok() ? result.response().body() : fmt::format("{}", result));
  return result.ok() ? 0 : 1;
}
