#include <vmm/host_client.hpp>

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <catch2/catch.hpp>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_host_client {

namespace t = retryhttp::testing;
namespace http = boost::beast::http;
using fake_client = retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock,
                                            vmm::orchestrator_idempotency>;
using vmm::call_outcome;

namespace {
struct fixture {
  t::fake_clock clock;
  vmm::host_client<fake_client> host{
      fake_client{{}, t::fake_transport{clock}, retryhttp::exponential_backoff{1}, clock}};
  t::fake_transport& transport() { return host.client().transport(); }
};
const char* vm_json = R"({"name":"web-1","state":"running","cpus":2,"memory_mib":2048,"image":"debian-12"})";
}  // namespace

TEST_CASE("typed calls send the API's requests and parse its VMs", "[host_client]") {
  fixture f;
  f.transport().script({t::respond(201, vm_json),
                        t::respond(200, std::string(R"({"vms":[)") + vm_json + "]}"),
                        t::respond(200, vm_json), t::respond(204)});
  const auto created = f.host.create_vm({"web-1", 2, 2048, "debian-12"});
  REQUIRE(created.ok());
  CHECK(*created.value == vmm::vm{"web-1", "running", 2, 2048, "debian-12"});
  REQUIRE(f.host.list_vms().ok());
  REQUIRE(f.host.start_vm("web-1").ok());
  REQUIRE(f.host.delete_vm("web-1").ok());
  const auto sent = f.transport().requests();
  REQUIRE(sent.size() == 4);
  CHECK(sent[0].method() == http::verb::post);
  CHECK(sent[0].target() == "/v1/vms");
  CHECK(sent[0][http::field::content_type] == "application/json");
  CHECK(boost::json::parse(sent[0].body())
        == boost::json::parse(R"({"name":"web-1","cpus":2,"memory_mib":2048,"image":"debian-12"})"));
  CHECK(sent[1].target() == "/v1/vms");
  CHECK(sent[2].target() == "/v1/vms/web-1/start");
  CHECK(sent[3].method() == http::verb::delete_);
}

TEST_CASE("names are validated, and percent-encoded so no name reaches another route", "[host_client]") {
  fixture f;
  for (const char* bad : {"a/b", "../x", "..", ".", ""}) {
    CAPTURE(bad);
    const auto result = f.host.get_vm(bad);
    CHECK(result.outcome == call_outcome::bad_argument);
    CHECK_THAT(result.message, Catch::Contains("invalid VM name"));
  }
  CHECK(f.host.create_vm({std::string(64, 'x')}).outcome == call_outcome::bad_argument);
  CHECK(f.transport().attempt_count() == 0);
  f.transport().otherwise(t::respond(200, vm_json));
  (void)f.host.start_vm("we b?x#%");
  CHECK(f.transport().requests().at(0).target() == "/v1/vms/we%20b%3Fx%23%25/start");
}

TEST_CASE("a malformed or unexpected body is a clear error", "[host_client]") {
  using row = std::tuple<std::string, std::string>;
  const auto [body, words] = GENERATE(table<std::string, std::string>({
      row{"not json", "the body is not JSON"},
      row{"[]", "expected a VM object"},
      row{R"({"name":"a","state":"paused","cpus":1,"memory_mib":1,"image":"i"})", "vm.state"},
      row{R"({"name":"a","state":"running","cpus":"1","memory_mib":1,"image":"i"})",
          "vm.cpus: expected an integer"},
      row{R"({"state":"running","cpus":1,"memory_mib":1,"image":"i"})", "vm.name: expected a string"},
  }));
  CAPTURE(body);
  fixture f;
  f.transport().then(t::respond(200, body));
  const auto result = f.host.get_vm("a");
  CHECK(result.outcome == call_outcome::bad_response);
  CHECK_THAT(result.message, Catch::Contains(words));
  CHECK_THAT(result.message, Catch::Contains("unexpected response body"));
}

TEST_CASE("outcomes map to what vmm-ctl reports", "[host_client]") {
  SECTION("an error status is the server's answer, with its message") {
    fixture f;
    f.transport().then(t::respond(409, R"({"error":"a VM named \"web-1\" exists"})"));
    const auto result = f.host.create_vm({"web-1"});
    CHECK(result.outcome == call_outcome::http_error);
    CHECK(result.status == 409);
    CHECK_THAT(result.message, Catch::Contains("exists"));
  }
  SECTION("a create whose answer was lost may have been applied") {
    fixture f;
    f.transport().then(t::reset_connection());
    CHECK(f.host.create_vm({"web-1"}).outcome == call_outcome::may_have_been_applied);
  }
  SECTION("a 503 to a create is not retried, and it may have been applied (a gateway may answer so)") {
    fixture f;
    f.transport().then(t::respond(503));
    const auto result = f.host.create_vm({"web-1"});
    CHECK(result.outcome == call_outcome::may_have_been_applied);
    CHECK(result.status == 503);
    CHECK_THAT(result.message, Catch::Contains("may have been applied"));
    CHECK(f.transport().attempt_count() == 1);
  }
  SECTION("exhausted retries are a network error") {
    fixture f;
    f.transport().otherwise(t::respond(503));
    const auto result = f.host.list_vms();
    CHECK(result.outcome == call_outcome::network_error);
    CHECK(result.attempts == 4);
  }
  SECTION("a stop is canceled") {
    fixture f;
    f.transport().otherwise(t::respond(503));
    std::stop_source source;
    source.request_stop();
    CHECK(f.host.list_vms(source.get_token()).outcome == call_outcome::canceled);
  }
}

TEST_CASE("an idempotency key that is blank or holds a control character is refused before anything is sent",
          "[host_client]") {
  fixture f;
  const std::string key = GENERATE(as<std::string>{}, "", " ", "\t", "k\r\nX-Injected: 1", " k");
  CAPTURE(key);
  vmm::vm_spec spec{"web-1"};
  spec.idempotency_key = key;
  const auto result = f.host.create_vm(spec);
  CHECK(result.outcome == call_outcome::bad_argument);
  CHECK_THAT(result.message, Catch::Contains("invalid idempotency key"));
  CHECK(f.transport().attempt_count() == 0);
}

TEST_CASE("an answer about another VM than the one asked for is not the answer", "[host_client]") {
  fixture f;
  f.transport().otherwise(t::respond(200, vm_json));  // always "web-1"
  const auto got = f.host.get_vm("web-2");
  CHECK(got.outcome == call_outcome::bad_response);
  CHECK_THAT(got.message, Catch::Contains("the answer is about VM \"web-1\", not \"web-2\""));
  CHECK(f.host.start_vm("web-2").outcome == call_outcome::bad_response);
  CHECK(f.host.get_vm("web-1").ok());
}

TEST_CASE("a 2xx create whose answer cannot be read still says the VM was created", "[host_client]") {
  fixture f;
  f.transport().then(t::respond(201, "{not json"));
  const auto result = f.host.create_vm({"web-1"});
  CHECK(result.outcome == call_outcome::bad_response);
  CHECK(result.status == 201);
  CHECK_THAT(result.message,
             Catch::StartsWith("the VM \"web-1\" was created (the server answered 201), but"));
}

TEST_CASE("server text is made printable: no terminal escapes, no control bytes, no bidi overrides",
          "[host_client]") {
  using vmm::detail::printable;
  CHECK(printable("plain text: caf\xc3\xa9 \xe2\x9c\x93") == "plain text: caf\xc3\xa9 \xe2\x9c\x93");
  CHECK(printable("\x1b[2J\x1b]0;owned\x07") == "\\x1b[2J\\x1b]0;owned\\x07");
  CHECK(printable("a\r\nb\tc\x7f") == "a\\x0d\\x0ab\\x09c\\x7f");
  CHECK(printable("\xc2\x9b"
                  "31m")
        == "\\xc2\\x9b31m");  // C1 CSI
  CHECK(printable("x\xe2\x80\xae"
                  "cod.exe")
        == "x\\xe2\\x80\\xaecod.exe");           // right-to-left override
  CHECK(printable("\xff\xfe") == "\\xff\\xfe");  // not UTF-8
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");  // overlong '/'
  CHECK(printable(std::string(300, 'x')) == std::string(200, 'x') + "...");

  fixture f;
  f.transport().then(t::respond(409, "{\"error\":\"gone \\u001b[31mred\"}"));
  const auto result = f.host.create_vm({"web-1"});
  CHECK(result.outcome == call_outcome::http_error);
  CHECK(result.message.find('\x1b') == std::string::npos);
  CHECK_THAT(result.message, Catch::Contains("gone \\x1b[31mred"));
}

TEST_CASE("a create answered about another VM may have been applied: whether it was is unknown",
          "[host_client]") {
  fixture f;
  f.transport().then(t::respond(201, vm_json));  // "web-1"
  const auto result = f.host.create_vm({"web-2"});
  CHECK(result.outcome == call_outcome::may_have_been_applied);
  CHECK_FALSE(result.value);
  CHECK_THAT(result.message,
             Catch::Contains("is about VM \"web-1\", not \"web-2\": whether it was created is unknown"));
  CHECK(f.transport().attempt_count() == 1);
}

TEST_CASE("JSON printed for a terminal is the same JSON, with no character a terminal acts on",
          "[host_client]") {
  using vmm::detail::terminal_safe_json;
  const auto same = [](const std::string& text) {
    return boost::json::parse(terminal_safe_json(boost::json::parse(text))) == boost::json::parse(text);
  };
  // C1 CSI (U+009B), right-to-left override (U+202E), line separator (U+2028), and an escaped ESC.
  const std::string hostile =
      "{\"image\":\"a\xc2\x9b"
      "2J b\xe2\x80\xae"
      "c\xe2\x80\xa8"
      "d\\u001b[31m\"}";
  const auto printed = terminal_safe_json(boost::json::parse(hostile));
  CHECK(printed == R"({"image":"a\u009b2J b\u202ec\u2028d\u001b[31m"})");
  CHECK(same(hostile));
  // Ordinary text, accents and symbols included, is printed as it is.
  CHECK(terminal_safe_json(boost::json::parse(R"({"image":"caf\u00e9 \u2713"})"))
        == "{\"image\":\"caf\xc3\xa9 \xe2\x9c\x93\"}");
}

}  // namespace test_host_client
