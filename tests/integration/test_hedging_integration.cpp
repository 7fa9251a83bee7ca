// Hedged requests over loopback: hedging_transport over the pooled async_beast_transport against
// orchestrator-sim, whose "delay MS" fault makes chosen arrivals of a route slow. Calls are made one after
// another, so that arrival 2k-1 of a route is call k's first attempt and arrival 2k its hedge: the fault on
// the odd arrivals makes every first attempt slow and every hedge fast. Each hedged call must end at about
// the hedge's delay plus one fast answer, far below the slow answer's delay, and the simulator must have seen
// exactly two requests per hedged call and one per call that was not hedged (a fast one, a create). Real
// time, with generous upper bounds only.

#include <retryhttp/hedging_transport.hpp>

#include <retryhttp/async_beast_transport.hpp>
#include <retryhttp/budget.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "simulator.hpp"

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_hedging_integration {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr auto hedge_delay = 500ms;  // a fast answer comes back far sooner, even on a loaded machine
constexpr auto slow = 3000ms;        // the fault's delay: what a call that was not hedged would take
constexpr std::size_t hedged_calls = 5;

using inner_type = retryhttp::async_beast_transport<asio::io_context::executor_type>;
using hedging_type = retryhttp::hedging_transport<inner_type, vmm::orchestrator_idempotency>;
using client_type = retryhttp::basic_client<hedging_type, retryhttp::exponential_backoff,
                                            retryhttp::system_clock, vmm::orchestrator_idempotency>;
using result_type = client_type::result_type;

/// "1,3,5,...": the first attempts of `calls` hedged calls made one after another.
std::string odd_arrivals(std::size_t calls) {
  std::string list;
  for (std::size_t k = 0; k < calls; ++k) list += (k ? "," : "") + std::to_string(2 * k + 1);
  return list;
}

retryhttp::hedging_options hedging_options() {
  retryhttp::hedging_options options;
  options.delay = hedge_delay;
  options.budget = std::make_shared<retryhttp::percent_budget>(10.0, 100);
  return options;
}

retryhttp::retry_config client_config() {
  retryhttp::retry_config config;
  config.attempt_timeout = 10s;
  return config;
}

http::request<http::string_body> create_request(const std::string& name) {
  http::request<http::string_body> request{http::verb::post, "/v1/vms", 11};
  request.set(http::field::content_type, "application/json");
  request.body() = R"({"name":")" + name + R"(","cpus":1,"memory_mib":512,"image":"debian-12"})";
  return request;
}

std::chrono::milliseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

}  // namespace

TEST_CASE("hedged GETs with async_send: each ends at about the delay plus one fast answer, two requests each",
          "[hedging_integration]") {
  it::simulator sim({"GET /v1/vms " + odd_arrivals(hedged_calls) + " delay " + std::to_string(slow.count()),
                     "POST /v1/vms 1 delay 800"});
  asio::io_context io;
  client_type client{client_config(),
                     hedging_type{inner_type{io.get_executor(), sim.url()}, hedging_options()}};
  const http::request<http::string_body> list{http::verb::get, "/v1/vms", 11};

  for (std::size_t k = 0; k < hedged_calls; ++k) {
    CAPTURE(k);
    std::optional<result_type> result;
    const auto start = std::chrono::steady_clock::now();
    client.async_send(list, [&](result_type r) { result = std::move(r); });
    io.restart();
    io.run_for(20s);
    const auto took = since(start);
    CAPTURE(took.count());
    REQUIRE(result);
    REQUIRE(result->ok());
    CHECK(result->response().result_int() == 200);
    CHECK(result->attempts() == 1);
    CHECK(took >= hedge_delay);
    CHECK(took < hedge_delay + 1s);  // the hedge's answer, not the slow one's 3 s
    WARN("hedged call " << k + 1 << " took " << took.count() << " ms");
  }
  CHECK(client.transport().hedges_started() == hedged_calls);
  CHECK(client.transport().hedges_won() == hedged_calls);
  CHECK(client.transport().losers_canceled() == hedged_calls);
  CHECK(sim.count("GET /v1/vms") == 2 * hedged_calls);

  // A fast answer: no hedge, one request.
  {
    std::optional<result_type> result;
    const auto start = std::chrono::steady_clock::now();
    client.async_send(list, [&](result_type r) { result = std::move(r); });
    io.restart();
    io.run_for(20s);
    REQUIRE(result);
    CHECK(result->ok());
    CHECK(since(start) < hedge_delay);
  }
  CHECK(sim.count("GET /v1/vms") == 2 * hedged_calls + 1);

  // A slow create is never hedged: one request, the whole 800 ms.
  {
    const auto create = create_request("web-1");
    std::optional<result_type> result;
    const auto start = std::chrono::steady_clock::now();
    client.async_send(create, [&](result_type r) { result = std::move(r); });
    io.restart();
    io.run_for(20s);
    REQUIRE(result);
    REQUIRE(result->ok());
    CHECK(result->response().result_int() == 201);
    CHECK(since(start) >= 800ms);
  }
  CHECK(sim.count("POST /v1/vms") == 1);
  CHECK(client.transport().hedges_started() == hedged_calls);
}

TEST_CASE("hedged GETs with the synchronous send, on a private io_context: the same timing and counts",
          "[hedging_integration][sync]") {
  it::simulator sim({"GET /v1/vms " + odd_arrivals(hedged_calls) + " delay " + std::to_string(slow.count())});
  asio::io_context io;  // private: send() runs it in this thread
  client_type client{client_config(),
                     hedging_type{inner_type{io.get_executor(), sim.url()}, hedging_options()}};
  const http::request<http::string_body> list{http::verb::get, "/v1/vms", 11};
  for (std::size_t k = 0; k < hedged_calls; ++k) {
    CAPTURE(k);
    const auto start = std::chrono::steady_clock::now();
    const auto result = client.send(list);
    const auto took = since(start);
    CAPTURE(took.count());
    REQUIRE(result.ok());
    CHECK(took >= hedge_delay);
    CHECK(took < hedge_delay + 1s);
    WARN("synchronous hedged call " << k + 1 << " took " << took.count() << " ms");
  }
  CHECK(client.transport().hedges_won() == hedged_calls);
  CHECK(sim.count("GET /v1/vms") == 2 * hedged_calls);
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(client.send(list).ok());  // fast: not hedged
  CHECK(since(start) < hedge_delay);
  CHECK(sim.count("GET /v1/vms") == 2 * hedged_calls + 1);
}

}  // namespace test_hedging_integration
