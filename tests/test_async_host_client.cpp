#include <vmm/async_host_client.hpp>

#include <retryhttp/testing/fake_async.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_async_host_client {

// vmm::host_client's asynchronous calls on the asynchronous fakes, in virtual time: the same plans as the
// synchronous calls, so the same requests, rules and results.

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace t = retryhttp::testing;
using vmm::call_outcome;

namespace {
using transport_type = t::fake_async_transport<asio::io_context::executor_type>;
using client_type = retryhttp::basic_client<transport_type, retryhttp::exponential_backoff, t::fake_clock,
                                            vmm::orchestrator_idempotency>;
const char* vm_json = R"({"name":"web-1","state":"running","cpus":2,"memory_mib":2048,"image":"debian-12"})";

struct fixture {
  explicit fixture(bool keyed = false)
      : host{client_type{{},
                         transport_type{io.get_executor(), clock},
                         retryhttp::exponential_backoff{1},
                         clock,
                         vmm::orchestrator_idempotency{keyed, 7}}} {}
  asio::io_context io;
  t::fake_clock clock;
  vmm::host_client<client_type> host;
  t::fake_transport& script() { return host.client().transport().script(); }
  void run() { REQUIRE(t::run_until_idle(io, clock)); }
};
}  // namespace

TEST_CASE("async calls send the API's requests and read its answers, retrying as the sync calls do",
          "[async_host_client]") {
  fixture f;
  f.script().script({t::respond(503).after(5ms), t::respond(200, std::string(R"({"vms":[)") + vm_json + "]}"),
                     t::respond(200, vm_json), t::respond(204)});
  std::optional<vmm::call_result<std::vector<vmm::vm>>> listed;
  std::optional<vmm::call_result<vmm::vm>> started;
  std::optional<vmm::call_result<std::monostate>> deleted;
  f.host.async_list_vms([&](auto r) { listed = std::move(r); });
  f.run();
  {
    std::string name = "web-1";
    f.host.async_start_vm(name, [&](auto r) { started = std::move(r); });
    name = "overwritten";  // the call keeps its own copy
  }
  f.run();
  f.host.async_delete_vm("web-1", [&](auto r) { deleted = std::move(r); });
  f.run();
  REQUIRE(listed);
  REQUIRE(listed->ok());
  CHECK(listed->attempts == 2);
  CHECK(listed->value->size() == 1);
  REQUIRE(started);
  CHECK(started->ok());
  REQUIRE(deleted);
  CHECK(deleted->ok());
  const auto sent = f.script().requests();
  REQUIRE(sent.size() == 4);
  CHECK(sent[2].target() == "/v1/vms/web-1/start");
  CHECK(sent[3].method() == boost::beast::http::verb::delete_);
}

TEST_CASE("an async create is never re-sent after an ambiguous failure; with keys it is, with one key",
          "[async_host_client]") {
  SECTION("without keys: may have been applied, one POST") {
    fixture f;
    f.script().script({t::reset_connection(), t::respond(201, vm_json)});
    std::optional<vmm::call_result<vmm::vm>> created;
    f.host.async_create_vm({"web-1"}, [&](auto r) { created = std::move(r); });
    f.run();
    REQUIRE(created);
    CHECK(created->outcome == call_outcome::may_have_been_applied);
    CHECK(f.script().attempt_count() == 1);
  }
  SECTION("with keys: retried with the same key, created once") {
    fixture f{true};
    f.script().script({t::reset_connection(), t::respond(201, vm_json)});
    std::optional<vmm::call_result<vmm::vm>> created;
    asio::co_spawn(
        f.io,
        [&]() -> asio::awaitable<void> {
          // A named spec: GCC 12 destroys a braced temporary inside a co_await expression twice.
          const vmm::vm_spec spec{"web-1"};
          created = co_await f.host.async_create_vm(spec, asio::use_awaitable);
        },
        asio::detached);
    f.run();
    REQUIRE(created);
    CHECK(created->ok());
    const auto sent = f.script().requests();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0]["Idempotency-Key"] == sent[1]["Idempotency-Key"]);
    CHECK(sent[0]["Idempotency-Key"].size() == 36);
  }
  SECTION("an answer about another VM: may have been applied") {
    fixture f;
    f.script().then(t::respond(201, vm_json));
    std::optional<vmm::call_result<vmm::vm>> created;
    f.host.async_create_vm({"web-2"}, [&](auto r) { created = std::move(r); });
    f.run();
    REQUIRE(created);
    CHECK(created->outcome == call_outcome::may_have_been_applied);
  }
}

TEST_CASE("an async call refused before sending completes after the initiating call, sending nothing",
          "[async_host_client]") {
  fixture f;
  bool returned = false;
  std::optional<vmm::call_result<vmm::vm>> result;
  vmm::vm_spec spec{"web-1"};
  spec.idempotency_key = " ";
  f.host.async_create_vm(spec, [&](auto r) {
    CHECK(returned);
    result = std::move(r);
  });
  returned = true;
  f.run();
  REQUIRE(result);
  CHECK(result->outcome == call_outcome::bad_argument);
  CHECK(f.script().attempt_count() == 0);
  std::optional<vmm::call_result<vmm::vm>> bad_name;
  f.host.async_get_vm("a/b", [&](auto r) { bad_name = std::move(r); });
  f.run();
  REQUIRE(bad_name);
  CHECK(bad_name->outcome == call_outcome::bad_argument);
}

}  // namespace test_async_host_client
