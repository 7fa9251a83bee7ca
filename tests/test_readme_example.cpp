// The first example of README.md, verbatim inside a test, so the README never shows code that does not
// compile.

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_transport.hpp>

#include <catch2/catch.hpp>

#include <iostream>

TEST_CASE("README's first example compiles and retries a 503", "[readme]") {
  // --- README begin
  retryhttp::testing::fake_clock clock;  // virtual time: the 0.5-0.75 s backoff takes no real time
  retryhttp::testing::fake_transport transport{clock};
  transport.script({retryhttp::testing::respond(503), retryhttp::testing::respond(200, "hello")});

  retryhttp::basic_client client{retryhttp::retry_config{}, transport, retryhttp::exponential_backoff{},
                                 clock};
  auto result = client.send({boost::beast::http::verb::get, "/v1/vms", 11});
  std::cout << result.message() << '\n';  // 200 OK after 2 attempts
  // --- README end
  CHECK(result.message() == "200 OK after 2 attempts");
  CHECK(result.response().body() == "hello");
}
