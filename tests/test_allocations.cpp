// The success path allocates nothing beyond what the transport allocates. Global operator new is replaced in
// this program (support/counting_new.cpp) to count allocations; the baseline is the transport's own
// attempt(), measured in the same run; for async_send, the transport's own async_attempt.

#include <retryhttp/client.hpp>

#include <retryhttp/async.hpp>

#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include "support/counting_new.hpp"

#include <cstddef>

namespace t = retryhttp::testing;
namespace http = boost::beast::http;

namespace {
template <class F>
std::size_t allocations_of(F&& work) {
  const std::size_t before = retryhttp_test::allocations_so_far();
  work();
  return retryhttp_test::allocations_so_far() - before;
}
}  // namespace

TEST_CASE("a successful send allocates exactly what the transport allocates", "[client][allocations]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.record_requests(false).otherwise(
      t::respond(200, std::string(64, 'x')).header("Content-Type", "a/b"));
  const t::fake_transport::request_type request{http::verb::get, "/v1/vms/web-1", 11};

  SECTION("with the method policy") {
    retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock> client{
        {}, transport, retryhttp::exponential_backoff{1}, clock};
    const std::size_t transport_alone = allocations_of([&] { (void)transport.attempt(request, {}); });
    const std::size_t whole_send = allocations_of([&] { (void)client.send(request); });
    CHECK(transport_alone > 0);  // the response's fields and body: the baseline is real
    CHECK(whole_send == transport_alone);
  }
  SECTION("with the route policy of the orchestrator and every backoff") {
    retryhttp::basic_client<t::fake_transport, retryhttp::decorrelated_jitter_backoff, t::fake_clock,
                            vmm::orchestrator_idempotency>
        client{{}, transport, retryhttp::decorrelated_jitter_backoff{1}, clock};
    const t::fake_transport::request_type start{http::verb::post, "/v1/vms/web-1/start", 11};
    const std::size_t transport_alone = allocations_of([&] { (void)transport.attempt(start, {}); });
    const std::size_t whole_send = allocations_of([&] { (void)client.send(start); });
    CHECK(whole_send == transport_alone);
  }
}

TEST_CASE("a retry adds no allocation beyond the transport's, on the fake clock", "[client][allocations]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  // Bodies, so that each response allocates (its Content-Length field): the count below then has something
  // to be equal to.
  transport.record_requests(false).script({t::respond(503, "busy"), t::respond(200, "ok")}).repeat_script();
  retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock> client{
      {}, transport, retryhttp::exponential_backoff{1}, clock};
  const t::fake_transport::request_type request{http::verb::get, "/", 11};
  // Warm up: the fake clock's record of waits grows once, to hold one wait, and clear_waits() keeps that
  // capacity, so recording the measured send's wait allocates nothing. That is the clock's (a test double's)
  // one-time cost, not the client's, and it is paid here rather than allowed for below.
  (void)client.send(request);
  clock.clear_waits();
  const std::size_t transport_alone = allocations_of([&] {
    (void)transport.attempt(request, {});
    (void)transport.attempt(request, {});
  });
  const std::size_t whole_send = allocations_of([&] { (void)client.send(request); });
  REQUIRE(clock.waits().size() == 1);  // the send did retry once, and waited
  CHECK(transport_alone > 0);
  CHECK(whole_send == transport_alone);
}

TEST_CASE("the rate limiter adds no allocation to a send, idle or limiting",
          "[client][allocations][rate_limiter]") {
  t::fake_clock clock;
  t::fake_transport transport{clock};
  transport.record_requests(false).otherwise(t::respond(200, std::string(64, 'x')));
  retryhttp::retry_config config;
  config.rate_limit.type = retryhttp::rate_limit_config::kind::adaptive;
  retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock> client{
      config, transport, retryhttp::exponential_backoff{1}, clock};
  REQUIRE(client.rate_limiter() != nullptr);
  const t::fake_transport::request_type request{http::verb::get, "/v1/vms/web-1", 11};
  const std::size_t transport_alone = allocations_of([&] { (void)transport.attempt(request, {}); });
  CHECK(transport_alone > 0);

  SECTION("idle: never throttled") {
    CHECK(allocations_of([&] { (void)client.send(request); }) == transport_alone);
    CHECK_FALSE(client.rate_limiter()->engaged());
  }
  SECTION("limiting, with a token in the bucket") {
    // Throttled once, then ten answers 100 ms apart: limiting from 0.5 s at 7 a second, the bucket full.
    client.rate_limiter()->on_response(true, std::chrono::milliseconds(100));
    for (int i = 2; i <= 5; ++i)
      client.rate_limiter()->on_response(false, std::chrono::milliseconds(100 * i));
    REQUIRE(client.rate_limiter()->current_phase() == retryhttp::adaptive_rate_limiter::phase::limiting);
    clock.advance(std::chrono::seconds(1));
    CHECK(allocations_of([&] { (void)client.send(request); }) == transport_alone);
    CHECK(clock.waits().empty());
  }
}

namespace {
/// An AsyncTransport that answers every attempt with a copy of one canned response, posted to its executor.
/// The copy allocates (the body); posting a plain handler goes through Asio's recycling allocator.
struct canned_async_transport {
  using request_type = http::request<http::string_body>;
  using response_type = http::response<http::string_body>;
  using executor_type = boost::asio::io_context::executor_type;

  executor_type executor;
  response_type canned;

  executor_type get_executor() const { return executor; }
  template <class Token>
  auto async_attempt(const request_type&, const retryhttp::attempt_context&, Token&& token) {
    return boost::asio::async_initiate<Token, void(retryhttp::attempt_outcome<response_type>)>(
        [this](auto handler) {
          boost::asio::post(executor, boost::asio::append(std::move(handler),
                                                          retryhttp::attempt_outcome<response_type>(canned)));
        },
        token);
  }
};
}  // namespace

TEST_CASE("a successful async_send allocates exactly what the transport allocates", "[async][allocations]") {
  boost::asio::io_context io(1);
  canned_async_transport transport{io.get_executor(), {http::status::ok, 11, std::string(64, 'x')}};
  retryhttp::basic_client<canned_async_transport, retryhttp::exponential_backoff, retryhttp::system_clock>
      client{
          {}, canned_async_transport{io.get_executor(), transport.canned}, retryhttp::exponential_backoff{1}};
  const canned_async_transport::request_type request{http::verb::get, "/v1/vms/web-1", 11};
  constexpr int calls = 200;
  auto run = [&] {
    io.run();
    io.restart();
  };

  std::size_t delivered = 0;
  const auto attempts_alone = [&] {
    for (int i = 0; i < calls; ++i) {
      transport.async_attempt(request, {},
                              [&](retryhttp::attempt_outcome<http::response<http::string_body>> o) {
                                delivered += o.has_response() ? 1 : 0;
                              });
      run();
    }
  };
  const auto sends = [&] {
    for (int i = 0; i < calls; ++i) {
      client.async_send(request, [&](auto result) { delivered += result.ok() ? 1 : 0; });
      run();
    }
  };
  attempts_alone();  // warm up Asio's and retryhttp's caches of operation memory
  sends();
  const std::size_t transport_alone = allocations_of(attempts_alone);
  const std::size_t whole_sends = allocations_of(sends);
  CHECK(delivered == 4 * calls);
  CHECK(transport_alone >= calls);  // the body of each copied response: the baseline is real
  CHECK(whole_sends == transport_alone);
}
