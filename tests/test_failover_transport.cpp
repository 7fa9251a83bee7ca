#include <retryhttp/async.hpp>
#include <retryhttp/client.hpp>
#include <retryhttp/failover_transport.hpp>
#include <retryhttp/format.hpp>
#include <retryhttp/testing/fake_async.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <fmt/format.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_failover_transport {

using namespace std::chrono_literals;
namespace t = retryhttp::testing;
namespace http = boost::beast::http;
using retryhttp::failover_options;
using retryhttp::failover_transport;
using retryhttp::failure_kind;

namespace {

// Records the endpoint of every attempt, as --verbose prints it.
struct endpoint_log {
  std::vector<std::string>* seen;
  std::vector<std::string>* lines;
  void on_attempt(const retryhttp::attempt_event& event) const {
    seen->emplace_back(event.endpoint);
    lines->push_back(fmt::format("{}", event));
  }
};

using transport_type = failover_transport<t::fake_transport, t::fake_clock>;
using client_type = retryhttp::basic_client<transport_type, retryhttp::no_jitter_backoff, t::fake_clock,
                                            vmm::orchestrator_idempotency, endpoint_log>;

struct fixture {
  explicit fixture(std::size_t endpoints = 2, failover_options options = {},
                   retryhttp::retry_config config = {}) {
    std::vector<t::fake_transport> transports;
    for (std::size_t i = 0; i < endpoints; ++i) transports.emplace_back(clock);
    fakes = transports;  // copies share their script and record
    client.emplace(config, transport_type{std::move(transports), options, clock},
                   retryhttp::no_jitter_backoff{}, clock, vmm::orchestrator_idempotency{},
                   endpoint_log{&seen, &lines});
  }
  t::fake_clock clock;
  std::vector<t::fake_transport> fakes;
  std::vector<std::string> seen;
  std::vector<std::string> lines;
  std::optional<client_type> client;
};

http::request<http::string_body> request(http::verb method, const char* target) {
  return {method, target, 11};
}
const auto list_vms = request(http::verb::get, "/v1/vms");
const auto create_vm = request(http::verb::post, "/v1/vms");

}  // namespace

TEST_CASE("failover: a retry goes to the next endpoint, and the call succeeds there", "[failover]") {
  fixture f;
  f.fakes[0].otherwise(t::refuse_connection());
  f.fakes[1].otherwise(t::respond(200, "[]"));
  const auto result = f.client->send(list_vms);
  REQUIRE(result.ok());
  CHECK(result.attempts() == 2);
  CHECK(f.fakes[0].attempt_count() == 1);
  CHECK(f.fakes[1].attempt_count() == 1);
  CHECK(f.seen == std::vector<std::string>{"endpoint 1", "endpoint 2"});
  // The observer's event names the endpoint, and so does its formatted line.
  CHECK(f.lines.front() == "attempt 1 of 4: GET /v1/vms (endpoint 1) -> Connection refused (not sent)");
}

TEST_CASE("failover: an endpoint that failed cools down, then is preferred again", "[failover]") {
  fixture f{2, failover_options{2s}};
  f.fakes[0].script({t::refuse_connection(), t::respond(200)});
  f.fakes[1].otherwise(t::respond(200));
  REQUIRE(f.client->send(list_vms).ok());
  CHECK(f.client->transport().cooling_down(0));
  // The next call starts at the second endpoint: the first is passed over while it cools down.
  f.seen.clear();
  REQUIRE(f.client->send(list_vms).ok());
  CHECK(f.seen == std::vector<std::string>{"endpoint 2"});
  CHECK(f.fakes[0].attempt_count() == 1);
  // After the cool-down, the first endpoint (the preferred one) is used again.
  f.clock.advance(2s);
  CHECK_FALSE(f.client->transport().cooling_down(0));
  f.seen.clear();
  REQUIRE(f.client->send(list_vms).ok());
  CHECK(f.seen == std::vector<std::string>{"endpoint 1"});
  CHECK(f.fakes[0].attempt_count() == 2);
}

TEST_CASE("failover: a retried status also moves the retry on, and cools the endpoint down", "[failover]") {
  fixture f{3};
  f.fakes[0].otherwise(t::respond(503));
  f.fakes[1].otherwise(t::respond(502));
  f.fakes[2].otherwise(t::respond(200));
  const auto result = f.client->send(list_vms);
  REQUIRE(result.ok());
  CHECK(f.seen == std::vector<std::string>{"endpoint 1", "endpoint 2", "endpoint 3"});
  CHECK(f.client->transport().cooling_down(0));
  CHECK(f.client->transport().cooling_down(1));
  CHECK_FALSE(f.client->transport().cooling_down(2));
}

TEST_CASE("failover: a create lost after it may have been sent is not sent again anywhere", "[failover]") {
  fixture f;
  f.fakes[0].otherwise(t::reset_connection());
  f.fakes[1].otherwise(t::respond(201));
  const auto result = f.client->send(create_vm);
  CHECK_FALSE(result.ok());
  CHECK(result.error() == retryhttp::error::may_have_been_applied);
  CHECK(result.attempts() == 1);
  CHECK(f.fakes[0].attempt_count() == 1);
  CHECK(f.fakes[1].attempt_count() == 0);
  // A create that provably was not sent moves to the next endpoint when the config allows its retry.
  retryhttp::retry_config config;
  config.retry_unsafe_when_not_sent = true;
  fixture g{2, {}, config};
  g.fakes[0].otherwise(t::refuse_connection());
  g.fakes[1].otherwise(t::respond(201));
  REQUIRE(g.client->send(create_vm).ok());
  CHECK(g.seen == std::vector<std::string>{"endpoint 1", "endpoint 2"});
}

TEST_CASE("failover: with every endpoint cooling down, the one that cools down first is used", "[failover]") {
  retryhttp::retry_config config;
  config.max_retries = 2;
  fixture f{3, failover_options{10s}, config};
  f.fakes[0].otherwise(t::refuse_connection());
  f.fakes[1].otherwise(t::refuse_connection());
  f.fakes[2].otherwise(t::refuse_connection());
  CHECK_FALSE(f.client->send(list_vms).ok());
  CHECK(f.seen == std::vector<std::string>{"endpoint 1", "endpoint 2", "endpoint 3"});
  // All three cool down; the first one's cool-down began 0.5 s before the second's and 1.5 s before the
  // third's (the waits between the attempts), so it ends first.
  f.seen.clear();
  CHECK_FALSE(f.client->send(list_vms).ok());
  REQUIRE_FALSE(f.seen.empty());
  CHECK(f.seen.front() == "endpoint 1");
}

TEST_CASE("failover: one endpoint never reads the clock and needs no cool-down", "[failover]") {
  fixture f{1};
  f.fakes[0].script({t::respond(503), t::respond(200)});
  REQUIRE(f.client->send(list_vms).ok());
  CHECK(f.seen == std::vector<std::string>{"endpoint 1", "endpoint 1"});
  CHECK_FALSE(f.client->transport().cooling_down(0));
  CHECK_THROWS_AS(transport_type(std::vector<t::fake_transport>{}, failover_options{}, f.clock),
                  std::invalid_argument);
}

TEST_CASE("failover: asynchronous endpoints, with the handler's executor kept", "[failover][async]") {
  namespace asio = boost::asio;
  using async_fake = t::fake_async_transport<asio::io_context::executor_type>;
  using async_failover = failover_transport<async_fake, t::fake_clock>;
  using async_client = retryhttp::basic_client<async_failover, retryhttp::no_jitter_backoff, t::fake_clock,
                                               vmm::orchestrator_idempotency, endpoint_log>;
  static_assert(retryhttp::AsyncTransport<async_failover>);
  asio::io_context io;
  t::fake_clock clock;
  std::vector<async_fake> transports{async_fake{io.get_executor(), clock},
                                     async_fake{io.get_executor(), clock}};
  transports[0].script().otherwise(t::refuse_connection());
  transports[1].script().otherwise(t::respond(200));
  const t::fake_transport first = transports[0].script();
  const t::fake_transport second = transports[1].script();
  std::vector<std::string> seen;
  std::vector<std::string> lines;
  async_client client{retryhttp::retry_config{},       async_failover{std::move(transports), {}, clock},
                      retryhttp::no_jitter_backoff{},  clock,
                      vmm::orchestrator_idempotency{}, endpoint_log{&seen, &lines}};
  auto strand = asio::make_strand(io);
  std::optional<async_client::result_type> result;
  bool on_strand = false;
  client.async_send(list_vms, asio::bind_executor(strand, [&](auto r) {
                      on_strand = strand.running_in_this_thread();
                      result = std::move(r);
                    }));
  REQUIRE(t::run_until_idle(io, clock));
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(on_strand);
  CHECK(first.attempt_count() == 1);
  CHECK(second.attempt_count() == 1);
  CHECK(seen == std::vector<std::string>{"endpoint 1", "endpoint 2"});
}

}  // namespace test_failover_transport
