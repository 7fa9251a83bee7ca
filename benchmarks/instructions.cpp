// Instruction counts per send, for comparisons that wall time on a shared 2-vCPU machine is too noisy to
// settle (a few ns apart). Run under callgrind by scripts/instructions.sh, which subtracts a run of 0 calls:
//
//   instructions VARIANT CALLS
//
// Variants: transport_alone, send, no_observer, hookless_observer, counting_observer, token_bucket, percent,
//           deadline, keyed_create_off.

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

namespace rh = retryhttp;
namespace t = retryhttp::testing;
namespace http = boost::beast::http;

struct hookless_observer {};
struct counting_observer {
  std::size_t attempts = 0;
  void on_attempt(const rh::attempt_event& event) { attempts += event.attempt; }
  void on_retry(const rh::retry_event&) {}
  void on_give_up(const rh::give_up_event&) {}
};

const t::fake_transport::request_type request{http::verb::get, "/v1/vms/web-1", 11};

t::fake_transport transport_for(const t::fake_clock& clock) {
  t::fake_transport transport{clock};
  transport.record_requests(false).otherwise(t::respond(200, R"({"name":"web-1","state":"running"})"));
  return transport;
}

template <class Observer>
std::size_t run_sends(long calls, rh::retry_config config = {}, rh::call_options options = {}) {
  t::fake_clock clock;
  rh::basic_client<t::fake_transport, rh::exponential_backoff, t::fake_clock, vmm::orchestrator_idempotency,
                   Observer>
      client{config, transport_for(clock), rh::exponential_backoff{42}, clock, {}, Observer{}};
  std::size_t delivered = 0;
  for (long i = 0; i < calls; ++i) delivered += client.send(request, options).ok() ? 1 : 0;
  return delivered;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: instructions VARIANT CALLS\n");
    return 2;
  }
  const std::string_view variant = argv[1];
  const long calls = std::atol(argv[2]);
  std::size_t delivered = 0;
  if (variant == "transport_alone") {
    t::fake_clock clock;
    auto transport = transport_for(clock);
    for (long i = 0; i < calls; ++i) delivered += transport.attempt(request, {}).has_response() ? 1 : 0;
  } else if (variant == "send" || variant == "no_observer") {
    delivered = run_sends<rh::no_observer>(calls);
  } else if (variant == "hookless_observer") {
    delivered = run_sends<hookless_observer>(calls);
  } else if (variant == "counting_observer") {
    delivered = run_sends<counting_observer>(calls);
  } else if (variant == "token_bucket" || variant == "percent") {
    rh::retry_config config;
    config.budget.type =
        variant == "percent" ? rh::budget_config::kind::percent : rh::budget_config::kind::token_bucket;
    delivered = run_sends<rh::no_observer>(calls, config);
  } else if (variant == "deadline") {
    rh::call_options options;
    options.deadline = std::chrono::seconds(30);
    delivered = run_sends<rh::no_observer>(calls, {}, options);
  } else {
    std::fprintf(stderr, "instructions: unknown variant %s\n", argv[1]);
    return 2;
  }
  return delivered == static_cast<std::size_t>(calls) ? 0 : 1;
}
