#include <vmm/orchestrator_idempotency.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <catch2/catch.hpp>

#include <string>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_orchestrator_idempotency {

namespace http = boost::beast::http;

TEST_CASE("the ticket's idempotency rules for the orchestrator API", "[vmm][idempotency]") {
  using row = std::tuple<http::verb, std::string, bool>;
  const auto [method, target, safe] = GENERATE(table<http::verb, std::string, bool>({
      row{http::verb::get, "/v1/vms", true},
      row{http::verb::get, "/v1/vms/web-1", true},
      row{http::verb::delete_, "/v1/vms/web-1", true},
      row{http::verb::post, "/v1/vms/web-1/start", true},
      row{http::verb::post, "/v1/vms/web-1/stop", true},
      row{http::verb::post, "/v1/vms", false},  // VM create: a lost response could mean a duplicate
      row{http::verb::post, "/v1/vms?dry_run=1", false},
      row{http::verb::post, "/v1/vms/", false},
      row{http::verb::post, "/v1/vms/web-1", false},
      row{http::verb::post, "/v1/vms/web-1/restart", false},
      row{http::verb::post, "/v1/vms/../vms/start", false},
      row{http::verb::patch, "/v1/vms/web-1", false},
  }));
  CAPTURE(http::to_string(method), target);
  const http::request<http::empty_body> request{method, target, 11};
  CHECK(vmm::orchestrator_idempotency{}.is_idempotent(request) == safe);
}

}  // namespace test_orchestrator_idempotency
