// The code of docs/async.md, docs/tls.md and the exemplars of docs/concepts/Observer.md and
// docs/concepts/RetryBudget.md, compiled and run. Each region between a "// --- docs/NAME.md ... begin" line
// and its "end" line is one ```cpp block of that page, in order, verbatim: test_doc_snippets compares them.

#include <retryhttp/async.hpp>
#include <retryhttp/async_beast_transport.hpp>
#include <retryhttp/budget.hpp>
#include <retryhttp/client.hpp>
#include <retryhttp/format.hpp>
#include <retryhttp/observer.hpp>
#include <retryhttp/testing/fake_async.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include "support/capture_stream.hpp"

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

using retryhttp_tests::capture;

const http::request<http::string_body> list_request{http::verb::get, "/v1/vms", 11};

}  // namespace

// ---- docs/async.md
// -----------------------------------------------------------------------------------------------------

using client_type =
    retryhttp::basic_client<retryhttp::testing::fake_async_transport<asio::io_context::executor_type>,
                            retryhttp::exponential_backoff, retryhttp::testing::fake_clock>;
using request_type = client_type::request_type;

// --- docs/async.md awaitable begin
#include <retryhttp/async.hpp>

asio::awaitable<void> list(client_type& client, const request_type& request) {
  auto result = co_await client.async_send(request, asio::use_awaitable);
  if (!result) std::cerr << result.message() << '\n';  // a failure is a result, never an exception
}
// --- docs/async.md awaitable end

TEST_CASE("docs/async.md: a failed call is a result for a coroutine too", "[docs][async]") {
  asio::io_context io;
  retryhttp::testing::fake_clock clock;
  retryhttp::retry_config config;
  config.max_retries = 1;
  client_type client{config, {io.get_executor(), clock}, retryhttp::exponential_backoff{42}, clock};
  client.transport().script().otherwise(retryhttp::testing::respond(503));
  const capture err{std::cerr};
  asio::co_spawn(io, list(client, list_request), asio::detached);
  REQUIRE(retryhttp::testing::run_until_idle(io, clock));
  CHECK(err.text() == "request failed after 1 retry: 503 Service Unavailable\n");
  CHECK(client.transport().script().attempt_count() == 2);
}

TEST_CASE("docs/async.md: testing in virtual time", "[docs][async]") {
  using namespace retryhttp;
  const auto& request = list_request;
  const capture out{std::cout};
  // --- docs/async.md virtual time begin
  asio::io_context io;
  testing::fake_clock clock;
  using client_type = basic_client<testing::fake_async_transport<asio::io_context::executor_type>,
                                   exponential_backoff, testing::fake_clock>;
  client_type client{{}, {io.get_executor(), clock}, exponential_backoff{42}, clock};
  client.transport().script().script({testing::respond(503).after(10ms), testing::respond(200).after(10ms)});
  client.async_send(request, [](auto result) { std::cout << result.message() << '\n'; });
  testing::run_until_idle(io, clock);  // ready handlers, then the next virtual-time event, until none is left
  // --- docs/async.md virtual time end
  CHECK(out.text() == "200 OK after 2 attempts\n");
  REQUIRE(clock.requested_delays().size() == 1);
  CHECK(clock.elapsed() == 20ms + clock.requested_delays()[0]);
}

TEST_CASE("docs/async.md: the asynchronous Beast transport's options", "[docs][async]") {
  asio::io_context io;
  // --- docs/async.md options begin
  retryhttp::async_beast_transport_options options;
  options.max_connections = 32;  // default 16
  retryhttp::async_http_client<> client{retryhttp::retry_config{},
                                        {io.get_executor(), "http://10.0.0.5:8080", options}};
  // --- docs/async.md options end
  CHECK(client.transport().options().max_connections == 32);
  CHECK(client.transport().endpoint().name() == "10.0.0.5:8080");
  CHECK(client.transport().connections_opened() == 0);  // connects lazily, on the first attempt
}

// ---- docs/tls.md
// -------------------------------------------------------------------------------------------------------

TEST_CASE("docs/tls.md: the options of an https:// endpoint; files that cannot be used throw",
          "[docs][tls]") {
  const auto build = [] {
    // --- docs/tls.md options begin
    retryhttp::beast_transport_options options;
    options.tls.ca_file = "/etc/orchestrator/ca.pem";   // empty: the system's trust store
    options.tls.cert_file = "/etc/vmm-ctl/client.pem";  // mutual TLS: both or neither
    options.tls.key_file = "/etc/vmm-ctl/client.key";
    retryhttp::http_client<> client{retryhttp::retry_config{},
                                    retryhttp::beast_transport{"https://orch.example:8443", options}};
    // --- docs/tls.md options end
    return client.transport().endpoint().name();
  };
  // This machine has no such files: the transport names the option and refuses to be built.
  CHECK_THROWS_WITH(build(), Catch::Contains("ca_file") && Catch::Contains("/etc/orchestrator/ca.pem"));
}

// ---- docs/concepts/Observer.md
// ---------------------------------------------------------------------------------------

namespace {

// --- docs/concepts/Observer.md begin
struct printing_observer {  // one line per attempt, per wait and per failed call, as vmm-ctl --verbose
  std::ostream* out;
  void on_attempt(const retryhttp::attempt_event& event) { *out << fmt::format("{}\n", event); }
  void on_retry(const retryhttp::retry_event& event) { *out << fmt::format("{}\n", event); }
  void on_give_up(const retryhttp::give_up_event& event) {
    *out << fmt::format("gave up after {} attempts: {}\n", event.attempts, event.reason);
  }
};
// --- docs/concepts/Observer.md end

template <class Observer>
using observed_client =
    retryhttp::basic_client<retryhttp::testing::fake_transport, retryhttp::no_jitter_backoff,
                            retryhttp::testing::fake_clock, retryhttp::method_idempotency, Observer>;

struct misspelled_observer {  // on_attempts is not a hook: it is never called
  int* calls;
  void on_attempts(const retryhttp::attempt_event&) { ++*calls; }
};

}  // namespace

TEST_CASE("docs/concepts/Observer.md: the exemplar sees each attempt, each wait and the give-up",
          "[docs][observer]") {
  retryhttp::testing::fake_clock clock;
  std::ostringstream out;
  retryhttp::retry_config config;
  config.max_retries = 2;
  observed_client<printing_observer> client{
      config, retryhttp::testing::fake_transport{clock}, {}, clock, {}, printing_observer{&out}};

  SECTION("a call that succeeds has no give-up") {
    client.transport().script({retryhttp::testing::respond(503), retryhttp::testing::reset_connection(),
                               retryhttp::testing::respond(200)});
    CHECK(client.send(list_request).ok());
    CHECK(out.str()
          == "attempt 1 of 3: GET /v1/vms -> 503 Service Unavailable\n"
             "wait 500 ms (backoff) before attempt 2 of 3\n"
             "attempt 2 of 3: GET /v1/vms -> Connection reset by peer (ambiguous)\n"
             "wait 1 s (backoff) before attempt 3 of 3\n"
             "attempt 3 of 3: GET /v1/vms -> 200 OK\n");
  }
  SECTION("a call that fails ends with a give-up") {
    client.transport().otherwise(retryhttp::testing::respond(502));
    CHECK_FALSE(client.send(list_request).ok());
    CHECK(out.str()
          == "attempt 1 of 3: GET /v1/vms -> 502 Bad Gateway\n"
             "wait 500 ms (backoff) before attempt 2 of 3\n"
             "attempt 2 of 3: GET /v1/vms -> 502 Bad Gateway\n"
             "wait 1 s (backoff) before attempt 3 of 3\n"
             "attempt 3 of 3: GET /v1/vms -> 502 Bad Gateway\n"
             "gave up after 3 attempts: retries exhausted\n");
  }
}

TEST_CASE("docs/concepts/Observer.md: a member with another name is not a hook", "[docs][observer]") {
  retryhttp::testing::fake_clock clock;
  int calls = 0;
  observed_client<misspelled_observer> client{
      {}, retryhttp::testing::fake_transport{clock}, {}, clock, {}, misspelled_observer{&calls}};
  client.transport().script({retryhttp::testing::respond(503), retryhttp::testing::respond(200)});
  CHECK(client.send(list_request).ok());
  CHECK(calls == 0);
}

// ---- docs/concepts/RetryBudget.md
// ------------------------------------------------------------------------------------

namespace {

// --- docs/concepts/RetryBudget.md begin
class fixed_retry_budget final : public retryhttp::retry_budget {  // N retries in all, then none
 public:
  explicit fixed_retry_budget(unsigned retries) noexcept : left_(retries) {}

  bool try_retry() noexcept override {  // takes one retry if there is one left, from any thread
    unsigned left = left_.load(std::memory_order_relaxed);
    while (left > 0)
      if (left_.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) return true;
    return false;
  }

 private:
  std::atomic<unsigned> left_;
};
// --- docs/concepts/RetryBudget.md end

}  // namespace

TEST_CASE("docs/concepts/RetryBudget.md: the exemplar, shared by two clients", "[docs][budget]") {
  retryhttp::testing::fake_clock clock;
  using client = retryhttp::basic_client<retryhttp::testing::fake_transport, retryhttp::no_jitter_backoff,
                                         retryhttp::testing::fake_clock>;
  client first{{}, retryhttp::testing::fake_transport{clock}, {}, clock};
  client second{{}, retryhttp::testing::fake_transport{clock}, {}, clock};
  first.transport().otherwise(retryhttp::testing::respond(503));
  second.transport().otherwise(retryhttp::testing::respond(503));
  const auto budget = std::make_shared<fixed_retry_budget>(2);
  first.share_budget(budget);
  second.share_budget(budget);

  const auto spent = first.send(list_request);  // two retries, then the budget says no
  CHECK(spent.error() == retryhttp::error::budget_exhausted);
  CHECK(spent.message() == "retry budget exhausted after 3 attempts: 503 Service Unavailable");
  const auto none_left = second.send(list_request);
  CHECK(none_left.message() == "retry budget exhausted after 1 attempt: 503 Service Unavailable");
  CHECK(second.transport().attempt_count() == 1);
  CHECK(clock.requested_delays() == std::vector<std::chrono::nanoseconds>{500ms, 1000ms});
}
