// async_send over the pooled async_beast_transport against orchestrator-sim with scripted faults: 1,000
// concurrent calls (creates, reads, starts) on one io_context, and again on an io_context run by two threads
// with the transport on a strand (this file is also built with ThreadSanitizer, for the tsan suite). The
// requests the simulator saw are counted exactly, route by route: no create sent twice, every retried route
// retried once per injected fault, and no more connections open at once than the pool's maximum, as the
// transport counts them and as the server does. Real time, with generous upper bounds only.

#include <retryhttp/async_beast_transport.hpp>

#include <vmm/orchestrator_idempotency.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "simulator.hpp"

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_async_integration {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr std::size_t max_connections = 24;
constexpr std::size_t existing_vms = 100;
constexpr std::size_t creates = 100;
constexpr std::size_t reads = 500;
constexpr std::size_t starts = 400;
constexpr std::size_t lost_creates = 10;  // applied, then the connection is closed without an answer
constexpr std::size_t read_faults = 50;   // 503
constexpr std::size_t start_faults = 20;  // the connection is closed before the start is applied

std::vector<std::string> faults() {
  // The setup's creates are POST /v1/vms arrivals 1-100: the lost answers hit the concurrent creates.
  return {"POST /v1/vms " + std::to_string(existing_vms + 1) + "-"
              + std::to_string(existing_vms + lost_creates) + " apply-drop",
          "GET /v1/vms/{name} 1-" + std::to_string(read_faults) + " status 503",
          "POST /v1/vms/{name}/start 1-" + std::to_string(start_faults) + " drop"};
}

http::request<http::string_body> create_request(const std::string& name) {
  http::request<http::string_body> request{http::verb::post, "/v1/vms", 11};
  request.set(http::field::content_type, "application/json");
  request.body() = R"({"name":")" + name + R"(","cpus":1,"memory_mib":512,"image":"debian-12"})";
  return request;
}

struct tally {
  std::atomic<std::size_t> completed{0};
  std::atomic<std::size_t> created{0};
  std::atomic<std::size_t> may_have_been_applied{0};
  std::atomic<std::size_t> read{0};
  std::atomic<std::size_t> started{0};
  std::atomic<std::size_t> unexpected{0};
};

/// Runs the 1,000 calls on an io_context run by `threads` threads, the transport on `executor`.
template <class Executor>
void run_thousand_calls(unsigned threads, Executor executor, asio::io_context& io) {
  it::simulator sim(faults(), "127.0.0.1", true);

  using transport_type = retryhttp::async_beast_transport<Executor>;
  using client_type = retryhttp::basic_client<transport_type, retryhttp::exponential_backoff,
                                              retryhttp::system_clock, vmm::orchestrator_idempotency>;
  using result_type = typename client_type::result_type;
  retryhttp::retry_config config;
  config.base_delay = 50ms;  // a retry arrives after every first attempt: the faulty arrivals are first ones
  config.max_delay = 200ms;
  config.attempt_timeout = 10s;
  retryhttp::async_beast_transport_options options;
  options.max_connections = max_connections;
  client_type client(config, transport_type(executor, sim.url(), options), retryhttp::exponential_backoff{7});

  // The requests live until their calls complete.
  std::vector<http::request<http::string_body>> requests;
  requests.reserve(existing_vms + creates + reads + starts);
  for (std::size_t i = 0; i < existing_vms; ++i)
    requests.push_back(create_request("old-" + std::to_string(i)));
  for (std::size_t i = 0; i < creates; ++i) requests.push_back(create_request("new-" + std::to_string(i)));
  for (std::size_t i = 0; i < reads; ++i)
    requests.push_back({http::verb::get, "/v1/vms/old-" + std::to_string(i % existing_vms), 11});
  for (std::size_t i = 0; i < starts; ++i)
    requests.push_back({http::verb::post, "/v1/vms/old-" + std::to_string(i % existing_vms) + "/start", 11});

  // The setup: the VMs the reads and starts use, one create after another (arrivals 1-100).
  std::size_t set_up = 0;
  std::function<void(result_type)> next_setup = [&](result_type result) {
    REQUIRE(result.ok());
    if (++set_up < existing_vms) client.async_send(requests[set_up], next_setup);
  };
  client.async_send(requests[0], next_setup);
  io.run_for(30s);
  REQUIRE(set_up == existing_vms);
  io.restart();

  // The 1,000 concurrent calls, all started before the io_context runs.
  tally t;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = existing_vms; i < requests.size(); ++i) {
    const auto& request = requests[i];
    client.async_send(request, [&t, &request](result_type result) {
      if (request.method() == http::verb::post && request.target() == "/v1/vms") {
        if (result.ok() && result.response().result_int() == 201)
          ++t.created;
        else if (result.error() == retryhttp::error::may_have_been_applied && result.attempts() == 1)
          ++t.may_have_been_applied;
        else
          ++t.unexpected;
      } else if (request.method() == http::verb::get) {
        if (result.ok() && result.response().result_int() == 200)
          ++t.read;
        else
          ++t.unexpected;
      } else {
        if (result.ok() && result.response().result_int() == 200)
          ++t.started;
        else
          ++t.unexpected;
      }
      ++t.completed;
    });
  }
  std::vector<std::thread> more;
  for (unsigned i = 1; i < threads; ++i) more.emplace_back([&io] { io.run_for(60s); });
  io.run_for(60s);
  for (auto& thread : more) thread.join();
  const auto took = std::chrono::steady_clock::now() - start;

  const std::size_t calls = creates + reads + starts;
  CHECK(t.completed == calls);
  CHECK(t.unexpected == 0);
  CHECK(t.created == creates - lost_creates);
  CHECK(t.may_have_been_applied == lost_creates);
  CHECK(t.read == reads);
  CHECK(t.started == starts);
  CHECK(took < 30s);

  // What the server saw, route by route.
  std::map<std::string, std::size_t> by_route;
  for (const auto& line : sim.requests()) {
    const auto space = line.find(' ');
    const std::string method = line.substr(0, space);
    const std::string target = line.substr(space + 1);
    if (target == "/v1/vms")
      ++by_route[method + " create"];
    else if (target.ends_with("/start"))
      ++by_route[method + " start"];
    else
      ++by_route[method + " one"];
  }
  CHECK(by_route["POST create"] == existing_vms + creates);  // no create sent twice
  CHECK(by_route["GET one"] == reads + read_faults);         // each 503 retried once
  CHECK(by_route["POST start"] == starts + start_faults);    // each dropped start retried once
  CHECK(by_route.size() == 3);

  // Connections: never more than the pool's maximum at once, on either side. Each connection the server
  // closed (a lost create, a dropped start) is replaced by at most one new one.
  const auto report = sim.report();
  CHECK(client.transport().peak_connections() <= max_connections);
  CHECK(report.at("peak_api_connections").as_int64() <= static_cast<std::int64_t>(max_connections));
  CHECK(client.transport().connections_opened() <= max_connections + lost_creates + start_faults);
  CHECK(report.at("api_connections").as_int64()
        == static_cast<std::int64_t>(client.transport().connections_opened()));
}

}  // namespace

TEST_CASE(
    "1,000 concurrent async calls on one io_context thread: exact request counts, the pool's maximum held",
    "[async_integration]") {
  asio::io_context io(1);
  run_thousand_calls(1, io.get_executor(), io);
}

TEST_CASE("the same 1,000 calls on an io_context run by two threads, the transport on a strand",
          "[async_integration][threads]") {
  asio::io_context io(2);
  run_thousand_calls(2, asio::make_strand(io), io);
}

}  // namespace test_async_integration
