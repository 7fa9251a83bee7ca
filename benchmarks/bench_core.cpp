// Core costs, on the fake transport and the fake clock so only the library is measured:
//  - one delay computation per backoff policy;
//  - a retry decision plus its delay (call_state::after_attempt), the work between two attempts;
//  - a whole send() with 0 and with 3 retries, each against its baseline: the transport's own attempts alone,
//    run in the same process, so the ratio is what the retry loop adds;
//  - heap allocations per send (operator new is counted), reported as counters next to the transport's;
//  - how fast system_clock::sleep_until wakes after a stop request.
// Reproduce: scripts/bench.sh  (or build/benchmarks/bench_core --benchmark_repetitions=5)

#include <retryhttp/backoff.hpp>
#include <retryhttp/client.hpp>
#include <retryhttp/clock.hpp>
#include <retryhttp/detail/call_state.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <benchmark/benchmark.h>
#include <boost/beast/http/empty_body.hpp>

#include "../tests/support/counting_new.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>

namespace {

using namespace std::chrono_literals;
namespace rh = retryhttp;
namespace t = retryhttp::testing;
namespace http = boost::beast::http;

// ---- One delay per policy
// ---------------------------------------------------------------------------------------
template <class Policy>
void BM_Delay(benchmark::State& state) {
  const Policy policy = [] {
    if constexpr (std::is_constructible_v<Policy, std::uint64_t>)
      return Policy{42};
    else
      return Policy{};
  }();
  auto schedule = policy.start(500ms, 10s);
  unsigned retry = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(schedule.next_delay(retry));
    retry = (retry + 1) & 7;  // the first eight retries, over and over
  }
}
BENCHMARK(BM_Delay<rh::exponential_backoff>)->Name("BM_Delay/exponential");
BENCHMARK(BM_Delay<rh::no_jitter_backoff>)->Name("BM_Delay/no_jitter");
BENCHMARK(BM_Delay<rh::full_jitter_backoff>)->Name("BM_Delay/full_jitter");
BENCHMARK(BM_Delay<rh::equal_jitter_backoff>)->Name("BM_Delay/equal_jitter");
BENCHMARK(BM_Delay<rh::decorrelated_jitter_backoff>)->Name("BM_Delay/decorrelated_jitter");
BENCHMARK(BM_Delay<rh::constant_backoff>)->Name("BM_Delay/constant");

// ---- A decision plus its delay
// ----------------------------------------------------------------------------------
void BM_DecisionPlusDelay(benchmark::State& state) {
  const rh::retry_config config;
  const rh::exponential_backoff policy{42};
  const auto outcome = rh::observed_outcome::response(503);
  for (auto _ : state) {
    // A fresh call each time: start the schedule, decide on a 503, compute the delay.
    rh::detail::call_state call(policy.start(config.base_delay, config.max_delay));
    benchmark::DoNotOptimize(call.after_attempt(config, outcome, true));
  }
}
BENCHMARK(BM_DecisionPlusDelay);

void BM_IdempotencyVerdict(benchmark::State& state) {
  const vmm::orchestrator_idempotency policy;
  const http::request<http::empty_body> start{http::verb::post, "/v1/vms/web-1/start", 11};
  for (auto _ : state) benchmark::DoNotOptimize(policy.is_idempotent(start));
}
BENCHMARK(BM_IdempotencyVerdict);

// ---- Whole sends against the transport alone
// ---------------------------------------------------------------------
using client_type = rh::basic_client<t::fake_transport, rh::exponential_backoff, t::fake_clock,
                                     vmm::orchestrator_idempotency>;

void report_allocations(benchmark::State& state, std::size_t before) {
  state.counters["allocs_per_call"] =
      benchmark::Counter(static_cast<double>(retryhttp_test::allocations_so_far() - before)
                         / static_cast<double>(state.iterations()));
}

t::fake_transport make_transport(const t::fake_clock& clock, unsigned failures_before_success) {
  t::fake_transport transport{clock};
  transport.record_requests(false);
  for (unsigned i = 0; i < failures_before_success; ++i) transport.then(t::respond(503));
  transport.then(t::respond(200, R"({"name":"web-1","state":"running"})")).repeat_script();
  return transport;
}

const t::fake_transport::request_type get_vm{http::verb::get, "/v1/vms/web-1", 11};

// The baseline: the same attempts made directly on the transport, without the retry loop.
void BM_TransportAlone(benchmark::State& state) {
  const auto attempts = static_cast<unsigned>(state.range(0)) + 1;
  t::fake_clock clock;
  auto transport = make_transport(clock, attempts - 1);
  const std::size_t before = retryhttp_test::allocations_so_far();
  for (auto _ : state)
    for (unsigned i = 0; i < attempts; ++i) benchmark::DoNotOptimize(transport.attempt(get_vm, {}));
  report_allocations(state, before);
}
BENCHMARK(BM_TransportAlone)->Arg(0)->Arg(3)->ArgName("retries");

void BM_Send(benchmark::State& state) {
  const auto retries = static_cast<unsigned>(state.range(0));
  t::fake_clock clock;
  client_type client{{}, make_transport(clock, retries), rh::exponential_backoff{42}, clock};
  const std::size_t before = retryhttp_test::allocations_so_far();
  for (auto _ : state) {
    benchmark::DoNotOptimize(client.send(get_vm));
    if (retries != 0) clock.clear_waits();  // keep the fake clock's record from growing without bound
  }
  report_allocations(state, before);
}
BENCHMARK(BM_Send)->Arg(0)->Arg(3)->ArgName("retries");

// ---- What the opt-in features cost on the success path
// ------------------------------------------------------
struct hookless_observer {};  // an observer type with no hooks: nothing is called, nothing is built
struct counting_observer {
  std::size_t attempts = 0;
  std::size_t retries = 0;
  void on_attempt(const rh::attempt_event& event) { attempts += event.attempt; }
  void on_retry(const rh::retry_event&) { ++retries; }
  void on_give_up(const rh::give_up_event&) {}
};

template <class Observer>
void BM_SendObserved(benchmark::State& state) {
  t::fake_clock clock;
  rh::basic_client<t::fake_transport, rh::exponential_backoff, t::fake_clock, vmm::orchestrator_idempotency,
                   Observer>
      client{{}, make_transport(clock, 0), rh::exponential_backoff{42}, clock, {}, Observer{}};
  for (auto _ : state) benchmark::DoNotOptimize(client.send(get_vm));
  if constexpr (std::is_same_v<Observer, counting_observer>)
    benchmark::DoNotOptimize(client.observer().attempts);
}
BENCHMARK(BM_SendObserved<rh::no_observer>)->Name("BM_SendObserved/no_observer");
BENCHMARK(BM_SendObserved<hookless_observer>)->Name("BM_SendObserved/hookless_observer");
BENCHMARK(BM_SendObserved<counting_observer>)->Name("BM_SendObserved/counting_observer");

void BM_SendWithBudget(benchmark::State& state) {
  t::fake_clock clock;
  rh::retry_config config;
  config.budget.type =
      state.range(0) == 0 ? rh::budget_config::kind::token_bucket : rh::budget_config::kind::percent;
  client_type client{config, make_transport(clock, 0), rh::exponential_backoff{42}, clock};
  for (auto _ : state) benchmark::DoNotOptimize(client.send(get_vm));
}
BENCHMARK(BM_SendWithBudget)->Arg(0)->Arg(1)->ArgName("percent");

// ---- system_clock: time from request_stop() to the sleeper running again
// ----------------------------------------
void BM_SystemClockStopLatency(benchmark::State& state) {
  for (auto _ : state) {
    std::stop_source source;
    std::atomic<bool> sleeping{false};
    std::atomic<std::int64_t> woke{0};
    std::thread sleeper([&] {
      sleeping = true;
      rh::system_clock::sleep_until(rh::system_clock::now() + 10s, source.get_token());
      woke = rh::system_clock::now().time_since_epoch().count();
    });
    while (!sleeping) std::this_thread::yield();
    // Let the sleeper reach its wait (it is blocked in the kernel long before 2 ms pass).
    rh::system_clock::sleep_until(rh::system_clock::now() + 2ms, {});
    const auto stopped = rh::system_clock::now().time_since_epoch().count();
    source.request_stop();
    sleeper.join();
    state.SetIterationTime(static_cast<double>(woke - stopped) * 1e-9);
  }
}
BENCHMARK(BM_SystemClockStopLatency)->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(200);

}  // namespace

BENCHMARK_MAIN();
