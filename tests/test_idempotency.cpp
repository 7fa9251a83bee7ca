#include <retryhttp/idempotency.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <catch2/catch.hpp>

#include <string>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_idempotency {

namespace http = boost::beast::http;
using retryhttp::method_idempotency;
using retryhttp::route_idempotency;
using retryhttp::route_rule;

namespace {
http::request<http::empty_body> request(http::verb method, std::string target) {
  return {method, target, 11};
}
}  // namespace

TEST_CASE("method_idempotency follows RFC 9110: GET HEAD OPTIONS TRACE PUT DELETE", "[idempotency]") {
  using row = std::tuple<http::verb, bool>;
  const auto [method, expected] = GENERATE(table<http::verb, bool>({
      row{http::verb::get, true},
      row{http::verb::head, true},
      row{http::verb::options, true},
      row{http::verb::trace, true},
      row{http::verb::put, true},
      row{http::verb::delete_, true},
      row{http::verb::post, false},
      row{http::verb::patch, false},
      row{http::verb::connect, false},
      row{http::verb::unknown, false},
  }));
  CAPTURE(http::to_string(method));
  CHECK(method_idempotency{}.is_idempotent(request(method, "/anything")) == expected);
}

TEST_CASE("a request with a custom method string is not idempotent", "[idempotency]") {
  http::request<http::empty_body> custom;
  custom.method_string("PURGE");
  custom.target("/cache");
  CHECK_FALSE(method_idempotency{}.is_idempotent(custom));
}

TEST_CASE("method_idempotency's set can be replaced", "[idempotency]") {
  const method_idempotency only_get{http::verb::get};
  CHECK(only_get.is_idempotent(request(http::verb::get, "/")));
  CHECK_FALSE(only_get.is_idempotent(request(http::verb::delete_, "/")));
}

TEST_CASE("route rules decide first, in order; unmatched requests fall back to the method", "[idempotency]") {
  const route_idempotency policy{
      route_rule::safe(http::verb::post, "/v1/jobs/{id}/cancel"),
      route_rule::unsafe(http::verb::delete_, "/v1/queue/head"),
      route_rule::safe(http::verb::post, "/v1/queue/{name}"),
      route_rule::unsafe(http::verb::post, "/v1/queue/{name}"),  // shadowed by the rule above
  };
  CHECK(policy.is_idempotent(request(http::verb::post, "/v1/jobs/42/cancel")));
  CHECK_FALSE(policy.is_idempotent(request(http::verb::delete_, "/v1/queue/head")));
  CHECK(policy.is_idempotent(request(http::verb::delete_, "/v1/queue/tail")));
  CHECK(policy.is_idempotent(request(http::verb::post, "/v1/queue/q1")));
  CHECK_FALSE(policy.is_idempotent(request(http::verb::post, "/v1/jobs")));
  CHECK(policy.is_idempotent(request(http::verb::get, "/v1/jobs/42/cancel")));
  // Body type does not matter: every request<Body> is a request_header.
  const http::request<http::string_body> with_body{http::verb::post, "/v1/jobs/7/cancel", 11, "{}"};
  CHECK(policy.is_idempotent(with_body));
}

TEST_CASE("a placeholder matches exactly one plain segment, conservatively", "[idempotency]") {
  const route_idempotency policy{route_rule::safe(http::verb::post, "/v1/vms/{name}/start")};
  using row = std::tuple<std::string, bool>;
  const auto [target, safe] = GENERATE(table<std::string, bool>({
      row{"/v1/vms/web-1/start", true},
      row{"/v1/vms/web-1/start?force=1", true},
      row{"/v1/vms/web-1/start#frag", true},
      row{"http://host:8080/v1/vms/web-1/start", true},
      row{"/v1/vms/we%20b/start", true},
      row{"/v1/v%6Ds/web-1/%73tart", true},  // percent-decoded literals are the same route
      row{"/v1/vms//start", false},          // empty name
      row{"/v1/vms/start", false},           // missing segment
      row{"/v1/vms/a/b/start", false},       // two segments
      row{"/v1/vms/web-1/start/", false},    // trailing slash: another path
      row{"/v1/vms/../start", false},        // dot segment
      row{"/v1/vms/./start", false},
      row{"/v1/vms/%2e%2E/start", false},  // encoded dot segment
      row{"/v1/vms/a%2Fb/start", false},   // encoded slash in the name
      row{"/v1/vms/web-1/stop", false},
      row{"/V1/vms/web-1/start", false},  // paths are case-sensitive
      row{"v1/vms/web-1/start", false},
      row{"", false},
      row{"*", false},
      row{"http://host:8080", false},
      row{"/v1/vms/web-1/start%", false},
      // The authority of an absolute-form target ends at '?' or '#' as well as '/': what follows is the
      // query or fragment of an empty path, not the start route.
      row{"http://h?/v1/vms/x/start", false},
      row{"http://h#/v1/vms/x/start", false},
      row{"http://h?x=/v1/vms/x/start", false},
      row{"http://h/v1/vms/x/start?/", true},
      // Only a real scheme introduces an authority.
      row{"1x://h/v1/vms/x/start", false},
      row{"a b://h/v1/vms/x/start", false},
  }));
  CAPTURE(target);
  CHECK(policy.is_idempotent(request(http::verb::post, target)) == safe);
}

TEST_CASE("a malformed pattern is rejected when the policy is built", "[idempotency]") {
  CHECK_THROWS_AS(route_idempotency({route_rule::safe(http::verb::post, "v1/vms")}), std::invalid_argument);
  CHECK_THROWS_AS(route_idempotency({route_rule::safe(http::verb::post, "/v1/vm{name}")}),
                  std::invalid_argument);
  CHECK_THROWS_AS(route_idempotency({route_rule::safe(http::verb::post, "")}), std::invalid_argument);
  CHECK_NOTHROW(route_idempotency({route_rule::safe(http::verb::post, "/")}));
}

TEST_CASE("the pattern \"/\" matches only the root", "[idempotency]") {
  const route_idempotency policy{route_rule::safe(http::verb::post, "/")};
  CHECK(policy.is_idempotent(request(http::verb::post, "/")));
  CHECK(policy.is_idempotent(request(http::verb::post, "/?q=1")));
  CHECK_FALSE(policy.is_idempotent(request(http::verb::post, "/x")));
}

}  // namespace test_idempotency
