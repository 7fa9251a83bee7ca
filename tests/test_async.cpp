#include <retryhttp/async.hpp>

#include <retryhttp/testing/fake_async.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stop_token>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_async {

// async_send on the asynchronous fakes: every attempt and every wait is an event in virtual time, so delays
// and request counts are asserted exactly, and nothing waits on the wall clock.

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace t = retryhttp::testing;
using retryhttp::error;
using retryhttp::retry_config;
using std::chrono::nanoseconds;

namespace {

using transport_type = t::fake_async_transport<asio::io_context::executor_type>;
using client_type = retryhttp::basic_client<transport_type, retryhttp::exponential_backoff, t::fake_clock,
                                            vmm::orchestrator_idempotency>;
using result_type = client_type::result_type;

static_assert(retryhttp::AsyncTransport<transport_type>);
static_assert(!retryhttp::Transport<transport_type>);

struct fixture {
  explicit fixture(retry_config config = {}, std::uint64_t seed = 42)
      : client(config, transport_type{io.get_executor(), clock}, retryhttp::exponential_backoff{seed},
               clock) {}
  asio::io_context io;
  t::fake_clock clock;
  client_type client;
  t::fake_transport& script() { return client.transport().script(); }

  /// Runs the io_context and virtual time until nothing is left to do (bounded).
  void run() { REQUIRE(t::run_until_idle(io, clock)); }
};

http::request<http::string_body> request(http::verb method, const char* target) {
  return {method, target, 11};
}
const auto list_vms = request(http::verb::get, "/v1/vms");
const auto create_vm = request(http::verb::post, "/v1/vms");

/// The delays a synchronous client with the same seed waits for the same script.
std::vector<nanoseconds> sync_delays(std::uint64_t seed, std::initializer_list<t::scripted_outcome> script) {
  t::fake_clock clock;
  retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock,
                          vmm::orchestrator_idempotency>
      client{{}, t::fake_transport{clock}, retryhttp::exponential_backoff{seed}, clock};
  client.transport().script(script);
  (void)client.send(list_vms);
  return clock.requested_delays();
}

// The exemplar of docs/concepts/AsyncTransport.md: answers 204 to everything, on the handler's executor,
// never from inside async_attempt.
// --- docs/concepts/AsyncTransport.md begin
struct always_ok_async_transport {
  using request_type = http::request<http::string_body>;
  using response_type = http::response<http::string_body>;
  using executor_type = asio::io_context::executor_type;

  executor_type executor;
  executor_type get_executor() const noexcept { return executor; }

  template <class Token>
  auto async_attempt(const request_type& request, const retryhttp::attempt_context&, Token&& token) {
    using outcome = retryhttp::attempt_outcome<response_type>;
    return asio::async_initiate<Token, void(outcome)>(
        [this](auto handler, unsigned version) {
          auto handler_executor = asio::get_associated_executor(handler, executor);
          asio::post(
              handler_executor,
              asio::append(std::move(handler), outcome(response_type{http::status::no_content, version})));
        },
        token, request.version());
  }
};
// --- docs/concepts/AsyncTransport.md end
static_assert(retryhttp::AsyncTransport<always_ok_async_transport>);

}  // namespace

TEST_CASE("the AsyncTransport exemplar with the real clock: one attempt, delivered", "[async][concepts]") {
  asio::io_context io;
  retryhttp::basic_client<always_ok_async_transport> client{retry_config{},
                                                            always_ok_async_transport{io.get_executor()}};
  std::optional<retryhttp::send_result<always_ok_async_transport::response_type>> result;
  client.async_send(list_vms, [&](auto r) { result = std::move(r); });
  CHECK_FALSE(result);  // not completed inside the initiating call
  io.run();
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(result->response().result_int() == 204);
}

TEST_CASE("async_send retries as send does: the same delays for the same seed, in virtual time", "[async]") {
  fixture f;
  f.script().script({t::respond(503).after(10ms), t::respond(503).after(10ms), t::respond(200).after(10ms)});
  std::optional<result_type> result;
  f.client.async_send(list_vms, [&](result_type r) { result = std::move(r); });
  f.run();
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(result->attempts() == 3);
  CHECK(f.script().attempt_count() == 3);
  const auto delays = f.clock.requested_delays();
  CHECK(delays == sync_delays(42, {t::respond(503), t::respond(503), t::respond(200)}));
  REQUIRE(delays.size() == 2);
  CHECK(f.clock.elapsed() == 30ms + delays[0] + delays[1]);
}

TEST_CASE("async_send never completes inside the initiating call", "[async]") {
  fixture f;
  f.script().then(t::respond(200));
  bool returned = false;
  bool completed_after_return = false;
  f.client.async_send(list_vms, [&](result_type) { completed_after_return = returned; });
  returned = true;
  // Also a call that ends before its first attempt (a stop already requested).
  std::stop_source stopped;
  stopped.request_stop();
  bool early_after_return = false;
  bool early_returned = false;
  f.client.async_send(list_vms, retryhttp::call_options{stopped.get_token(), {}}, [&](result_type r) {
    early_after_return = early_returned && r.error() == error::canceled;
  });
  early_returned = true;
  f.run();
  CHECK(completed_after_return);
  CHECK(early_after_return);
}

namespace {
/// An allocator that counts what goes through it, to show that a call's memory comes from the handler's
/// associated allocator when it has one.
template <class T>
struct counted_allocator {
  using value_type = T;
  std::size_t* allocated;
  std::size_t* freed;
  explicit counted_allocator(std::size_t* a, std::size_t* f) : allocated(a), freed(f) {}
  template <class U>
  counted_allocator(const counted_allocator<U>& other) : allocated(other.allocated), freed(other.freed) {}
  T* allocate(std::size_t n) {
    ++*allocated;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) {
    ++*freed;
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const counted_allocator<U>& other) const {
    return allocated == other.allocated;
  }
};
}  // namespace

TEST_CASE("the handler's associated executor and allocator are used", "[async]") {
  fixture f;
  f.script().script({t::respond(503), t::respond(200)});
  std::size_t allocated = 0;
  std::size_t freed = 0;
  auto strand = asio::make_strand(f.io);
  bool on_strand = false;
  std::size_t outstanding_at_completion = 1;
  std::optional<result_type> result;
  f.client.async_send(list_vms, asio::bind_allocator(counted_allocator<void>(&allocated, &freed),
                                                     asio::bind_executor(strand, [&](result_type r) {
                                                       on_strand = strand.running_in_this_thread();
                                                       outstanding_at_completion = allocated - freed;
                                                       result = std::move(r);
                                                     })));
  f.run();
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(on_strand);
  CHECK(allocated > 0);                   // the call's state, and what its attempts and wait allocated
  CHECK(outstanding_at_completion == 0);  // all of it returned before the handler ran
}

TEST_CASE("every kind of completion token: callback, use_future, use_awaitable, deferred, as_tuple",
          "[async]") {
  fixture f;
  f.script().otherwise(t::respond(200).after(5ms));
  SECTION("use_future") {
    // use_future's own executor is the system executor, whose threads would run the call's steps; bound to
    // the io_context they run where the test drives virtual time.
    auto future = f.client.async_send(list_vms, asio::bind_executor(f.io.get_executor(), asio::use_future));
    f.run();
    CHECK(future.get().ok());
  }
  SECTION("use_awaitable: a failure is a result, not an exception") {
    f.script().script(
        {t::reset_connection(), t::reset_connection(), t::reset_connection(), t::reset_connection()});
    std::optional<result_type> result;
    asio::co_spawn(
        f.io,
        [&]() -> asio::awaitable<void> {
          result = co_await f.client.async_send(list_vms, asio::use_awaitable);
        },
        asio::detached);
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::retries_exhausted);
    CHECK(result->attempts() == 4);
  }
  SECTION("deferred") {
    auto deferred = f.client.async_send(list_vms, asio::deferred);
    CHECK(f.script().attempt_count() == 0);  // nothing starts until the deferred operation is launched
    std::optional<result_type> result;
    std::move(deferred)([&](result_type r) { result = std::move(r); });
    f.run();
    REQUIRE(result);
    CHECK(result->ok());
  }
  SECTION("as_tuple") {
    std::optional<result_type> result;
    f.client.async_send(list_vms,
                        asio::as_tuple([&](std::tuple<result_type> r) { result = std::get<0>(r); }));
    f.run();
    REQUIRE(result);
    CHECK(result->ok());
  }
}

TEST_CASE("terminal cancellation through the slot ends the call at each stage, at once", "[async][cancel]") {
  fixture f;
  asio::cancellation_signal cancel;
  std::optional<result_type> result;
  auto handler = asio::bind_cancellation_slot(cancel.slot(), [&](result_type r) { result = std::move(r); });
  SECTION("mid-attempt: the attempt in flight is cancelled") {
    f.script().then(t::hang());
    f.client.async_send(list_vms, handler);
    f.clock.after(3s, [&] { cancel.emit(asio::cancellation_type::terminal); });
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(result->attempts() == 1);
    CHECK(f.clock.elapsed() == 3s);
    REQUIRE(result->failure());
    CHECK(result->failure()->code == boost::system::errc::operation_canceled);
  }
  SECTION("mid-wait: the wait ends at the cancellation, and no attempt follows") {
    f.script().script({t::respond(503), t::respond(200)});
    f.client.async_send(list_vms, handler);
    f.clock.after(100ms, [&] { cancel.emit(asio::cancellation_type::terminal); });
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(f.script().attempt_count() == 1);
    REQUIRE(f.clock.waits().size() == 1);
    CHECK(f.clock.waits()[0].interrupted);
    CHECK(f.clock.waits()[0].waited() == 100ms);
  }
  SECTION("before the first attempt completes: a cancellation emitted before the io_context runs") {
    f.script().then(t::respond(200).after(1s));
    f.client.async_send(list_vms, handler);
    cancel.emit(asio::cancellation_type::terminal);
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(f.clock.elapsed() == 0s);
  }
}

TEST_CASE("partial and total cancellation are ignored: only terminal cancellation ends a call",
          "[async][cancel]") {
  fixture f;
  f.script().script({t::respond(503).after(10ms), t::respond(200).after(10ms)});
  asio::cancellation_signal cancel;
  std::optional<result_type> result;
  f.client.async_send(list_vms,
                      asio::bind_cancellation_slot(cancel.slot(), [&](result_type r) { result = r; }));
  // During the attempt, and during the wait after the 503.
  f.clock.at(f.clock.now() + 5ms, [&] { cancel.emit(asio::cancellation_type::partial); });
  f.clock.at(f.clock.now() + 20ms, [&] { cancel.emit(asio::cancellation_type::total); });
  f.run();
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(result->attempts() == 2);
}

TEST_CASE("call_options::stop ends the call at each stage, from the virtual timeline", "[async][cancel]") {
  fixture f;
  std::stop_source stop;
  std::optional<result_type> result;
  const retryhttp::call_options options{stop.get_token(), {}};
  SECTION("before the first attempt: no attempt") {
    f.script().then(t::respond(200));
    stop.request_stop();
    f.client.async_send(list_vms, options, [&](result_type r) { result = std::move(r); });
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(result->attempts() == 0);
    CHECK(f.script().attempt_count() == 0);
  }
  SECTION("mid-attempt") {
    f.script().then(t::hang());
    f.client.async_send(list_vms, options, [&](result_type r) { result = std::move(r); });
    f.clock.request_stop_at(t::fake_clock::time_point{2s}, stop);
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(f.clock.elapsed() == 2s);
  }
  SECTION("mid-wait") {
    f.script().script({t::respond(503), t::respond(200)});
    f.client.async_send(list_vms, options, [&](result_type r) { result = std::move(r); });
    f.clock.request_stop_at(t::fake_clock::time_point{50ms}, stop);
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(f.script().attempt_count() == 1);
    REQUIRE(f.clock.waits().size() == 1);
    CHECK(f.clock.waits()[0].interrupted);
    CHECK(f.clock.waits()[0].waited() == 50ms);
  }
}

TEST_CASE("an asynchronous create is never re-sent after an ambiguous failure", "[async][vmm]") {
  fixture f;
  f.script().script({t::reset_connection(), t::respond(201)});
  std::optional<result_type> result;
  f.client.async_send(create_vm, [&](result_type r) { result = std::move(r); });
  f.run();
  REQUIRE(result);
  CHECK(result->error() == error::may_have_been_applied);
  CHECK(f.script().attempt_count() == 1);
  CHECK(f.clock.waits().empty());
}

TEST_CASE("an attempt timeout and a deadline hold in virtual time", "[async][deadline]") {
  retry_config config;
  config.attempt_timeout = 1s;
  config.deadline = 2500ms;
  fixture f{config};
  f.script().otherwise(t::hang());
  std::optional<result_type> result;
  f.client.async_send(list_vms, [&](result_type r) { result = std::move(r); });
  f.run();
  REQUIRE(result);
  CHECK(result->error() == error::deadline_exceeded);
  REQUIRE(result->failure());
  CHECK(result->failure()->code == boost::system::errc::timed_out);
  CHECK(f.clock.elapsed() <= 2500ms);
}

TEST_CASE("1,000 concurrent calls with scripted faults: every delay and every request count exact",
          "[async]") {
  asio::io_context io;
  t::fake_clock clock;
  constexpr int calls = 1000;
  std::vector<std::unique_ptr<client_type>> clients;
  std::vector<std::optional<result_type>> results(calls);
  std::vector<nanoseconds> expected;
  for (int i = 0; i < calls; ++i) {
    clients.push_back(
        std::make_unique<client_type>(retry_config{}, transport_type{io.get_executor(), clock},
                                      retryhttp::exponential_backoff{static_cast<std::uint64_t>(i)}, clock));
    // Call i: (i % 3) failures first (a 503, a reset, a 503), then the answer.
    auto& script = clients.back()->transport().script();
    const int failures = i % 3;
    for (int k = 0; k < failures; ++k)
      script.then(k == 1 ? t::reset_connection().after(7ms) : t::respond(503).after(7ms));
    script.then(t::respond(200).after(7ms));
    std::vector<t::scripted_outcome> same;
    for (int k = 0; k < failures; ++k) same.push_back(k == 1 ? t::reset_connection() : t::respond(503));
    same.push_back(t::respond(200));
    t::fake_clock alone;
    retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock,
                            vmm::orchestrator_idempotency>
        sync{{},
             t::fake_transport{alone},
             retryhttp::exponential_backoff{static_cast<std::uint64_t>(i)},
             alone};
    for (const auto& step : same) sync.transport().then(step);
    (void)sync.send(list_vms);
    for (const auto delay : alone.requested_delays()) expected.push_back(delay);
  }
  for (int i = 0; i < calls; ++i)
    clients[i]->async_send(list_vms, [&results, i](result_type r) { results[i] = std::move(r); });
  REQUIRE(t::run_until_idle(io, clock));
  for (int i = 0; i < calls; ++i) {
    CAPTURE(i);
    REQUIRE(results[i]);
    CHECK(results[i]->ok());
    CHECK(results[i]->attempts() == static_cast<unsigned>(i % 3 + 1));
    CHECK(clients[i]->transport().script().attempt_count() == static_cast<std::size_t>(i % 3 + 1));
  }
  auto delays = clock.requested_delays();
  std::sort(delays.begin(), delays.end());
  std::sort(expected.begin(), expected.end());
  CHECK(delays.size() == 999);  // 333 calls with two waits, 333 with one
  CHECK(delays == expected);
}

}  // namespace test_async
