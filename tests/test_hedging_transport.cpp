#include <retryhttp/hedging_transport.hpp>

#include <retryhttp/async.hpp>
#include <retryhttp/async_beast_transport.hpp>
#include <retryhttp/budget.hpp>
#include <retryhttp/testing/fake_async.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_hedging_transport {

// hedging_transport on the asynchronous fakes: the attempts, the hedge's delay and the cancellations are
// events in virtual time, so every instant is asserted exactly. A cancelled attempt's scripted event is
// removed from the timeline: that the clock stops at the winner's answer (and not at the loser's scripted
// one) is the proof that the loser was cancelled.

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace t = retryhttp::testing;
using retryhttp::error;
using retryhttp::hedging_options;
using retryhttp::retry_config;
using std::chrono::nanoseconds;
using time_point = t::fake_clock::time_point;

namespace {

using inner_type = t::fake_async_transport<asio::io_context::executor_type>;
using hedging_type = retryhttp::hedging_transport<inner_type, vmm::orchestrator_idempotency, t::fake_clock>;
// Records where each attempt the client saw went (attempt_event::endpoint).
struct endpoint_log {
  std::vector<std::string>* seen;
  void on_attempt(const retryhttp::attempt_event& event) const { seen->emplace_back(event.endpoint); }
};
using client_type = retryhttp::basic_client<hedging_type, retryhttp::no_jitter_backoff, t::fake_clock,
                                            vmm::orchestrator_idempotency, endpoint_log>;
using result_type = client_type::result_type;
using outcome_type = hedging_type::outcome_type;

static_assert(retryhttp::AsyncTransport<hedging_type>);
static_assert(retryhttp::Transport<hedging_type>);  // on an io_context: send() hedges too
static_assert(retryhttp::AsyncTransport<retryhttp::hedging_transport<retryhttp::async_beast_transport<>>>);
static_assert(!retryhttp::Transport<retryhttp::hedging_transport<retryhttp::async_beast_transport<>>>);

hedging_options options_with(nanoseconds delay, std::shared_ptr<retryhttp::retry_budget> budget = nullptr) {
  hedging_options options;
  options.delay = delay;
  options.budget = std::move(budget);
  return options;
}

struct fixture {
  explicit fixture(hedging_options options = options_with(100ms), retry_config config = {},
                   vmm::orchestrator_idempotency policy = vmm::orchestrator_idempotency{})
      : client(config, hedging_type{inner_type{io.get_executor(), clock}, std::move(options), policy, clock},
               retryhttp::no_jitter_backoff{}, clock, policy, endpoint_log{&seen}) {}
  asio::io_context io;
  t::fake_clock clock;
  std::vector<std::string> seen;
  client_type client;
  hedging_type& hedging() { return client.transport(); }
  t::fake_transport& script() { return client.transport().primary().script(); }
  void run() { REQUIRE(t::run_until_idle(io, clock)); }

  std::optional<result_type> send(const http::request<http::string_body>& request) {
    std::optional<result_type> result;
    client.async_send(request, [&](result_type r) { result = std::move(r); });
    run();
    return result;
  }
};

http::request<http::string_body> request(http::verb method, const char* target) {
  return {method, target, 11};
}
const auto list_vms = request(http::verb::get, "/v1/vms");
const auto create_vm = request(http::verb::post, "/v1/vms");
const auto start_vm = request(http::verb::post, "/v1/vms/web-1/start");

retry_config config_with(unsigned max_retries, std::chrono::milliseconds attempt_timeout = {}) {
  retry_config config;
  config.max_retries = max_retries;
  config.attempt_timeout = attempt_timeout;
  return config;
}

bool canceled_or_cut(const retryhttp::observed_outcome& observed) {
  return observed == retryhttp::observed_outcome::ambiguous();
}

}  // namespace

// The code of docs/hedging.md: the two setups (built, not run: they name a host that is not there), then a
// test in virtual time.
TEST_CASE("docs/hedging.md: the asynchronous and the synchronous setups build", "[hedging][docs]") {
  // --- docs/hedging.md async begin
  asio::io_context io;
  retryhttp::retry_config config;
  auto budget = std::make_shared<retryhttp::percent_budget>(10.0, 10);  // retries and hedges together
  retryhttp::hedging_options options;
  options.delay = 50ms;  // about the latency's 95th percentile
  options.retry_on = config.retry_on;
  options.budget = budget;
  using hedged =
      retryhttp::hedging_transport<retryhttp::async_beast_transport<>, vmm::orchestrator_idempotency>;
  retryhttp::basic_client<hedged, retryhttp::exponential_backoff, retryhttp::system_clock,
                          vmm::orchestrator_idempotency>
      client{config, hedged{{io.get_executor(), "http://10.0.0.5:8080"}, options}};
  client.share_budget(budget);
  // --- docs/hedging.md async end
  CHECK(client.transport().options().delay == 50ms);
  CHECK(client.budget() == client.transport().options().budget);
  CHECK_FALSE(client.transport().may_hedge(create_vm));

  // --- docs/hedging.md sync begin
  asio::io_context private_io;  // run by send(), in the thread that calls it
  using sync_hedged =
      retryhttp::hedging_transport<retryhttp::async_beast_transport<asio::io_context::executor_type>>;
  retryhttp::basic_client<sync_hedged> sync_client{
      retryhttp::retry_config{}, sync_hedged{{private_io.get_executor(), "http://10.0.0.5:8080"}}};
  // --- docs/hedging.md sync end
  CHECK(sync_client.transport().may_hedge(list_vms));
}

TEST_CASE("docs/hedging.md: a hedge in virtual time", "[hedging][docs]") {
  // --- docs/hedging.md virtual time begin
  asio::io_context io;
  t::fake_clock clock;
  hedging_type hedging{inner_type{io.get_executor(), clock}, options_with(100ms), {}, clock};
  hedging.primary().script().script({t::respond(200, "slow").after(1s), t::respond(200, "fast").after(30ms)});
  retryhttp::basic_client<hedging_type, retryhttp::no_jitter_backoff, t::fake_clock> client{
      {}, std::move(hedging), {}, clock};
  std::optional<result_type> result;
  client.async_send(list_vms, [&](result_type r) { result = std::move(r); });
  REQUIRE(t::run_until_idle(io, clock));
  CHECK(result->response().body() == "fast");
  CHECK(clock.elapsed() == 130ms);  // the delay, then the hedge's answer; the slow one was cancelled
  // --- docs/hedging.md virtual time end
}

TEST_CASE("hedging: the hedge starts exactly at the delay, and the first good answer wins", "[hedging]") {
  fixture f;
  f.script().script({t::respond(200, "slow").after(1s), t::respond(200, "fast").after(30ms)});
  const auto result = f.send(list_vms);
  REQUIRE(result);
  REQUIRE(result->ok());
  CHECK(result->response().body() == "fast");
  CHECK(result->attempts() == 1);     // the client saw one attempt: hedging is inside it
  CHECK(f.clock.elapsed() == 130ms);  // the delay, then the hedge's latency; not the first attempt's 1 s
  // The fake records attempts as they end: the hedge first, then the first attempt, cancelled.
  const auto attempts = f.script().attempts();
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0].started == time_point{100ms});  // the hedge, exactly at the delay
  CHECK(attempts[0].ended == time_point{130ms});
  CHECK(attempts[0].result == retryhttp::observed_outcome::response(200));
  CHECK(attempts[1].started == time_point{0ms});
  // The loser was cancelled at the winner's answer (its scripted answer at 1 s never came).
  CHECK(attempts[1].ended == time_point{130ms});
  CHECK(canceled_or_cut(attempts[1].result));
  // The hedge's delay is a wait on the Clock, recorded as the backoff's waits are.
  REQUIRE(f.clock.waits().size() == 1);
  CHECK(f.clock.waits()[0].requested() == 100ms);
  CHECK_FALSE(f.clock.waits()[0].interrupted);
  CHECK(f.hedging().hedges_started() == 1);
  CHECK(f.hedging().hedges_won() == 1);
  CHECK(f.hedging().losers_canceled() == 1);
  CHECK(f.seen == std::vector<std::string>{"hedge"});  // the observer sees that the hedge answered
}

TEST_CASE("hedging: the first attempt wins when it answers after the delay but before the hedge",
          "[hedging]") {
  fixture f;
  f.script().script({t::respond(200, "first").after(120ms), t::respond(200, "hedge").after(50ms)});
  const auto result = f.send(list_vms);
  REQUIRE(result);
  REQUIRE(result->ok());
  CHECK(result->response().body() == "first");
  CHECK(f.clock.elapsed() == 120ms);
  const auto attempts = f.script().attempts();
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0].result == retryhttp::observed_outcome::response(200));
  CHECK(attempts[1].started == time_point{100ms});  // the hedge, cancelled at the first one's answer
  CHECK(attempts[1].ended == time_point{120ms});
  CHECK(canceled_or_cut(attempts[1].result));
  CHECK(f.hedging().hedges_started() == 1);
  CHECK(f.hedging().hedges_won() == 0);
  CHECK(f.hedging().losers_canceled() == 1);
  CHECK(f.seen == std::vector<std::string>{"primary"});
}

TEST_CASE("hedging: no hedge when the first answer comes before the delay", "[hedging]") {
  fixture f;
  f.script().script({t::respond(200).after(99ms)});
  const auto result = f.send(list_vms);
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(f.script().attempt_count() == 1);
  CHECK(f.clock.elapsed() == 99ms);  // the delay's timer was cancelled: time did not run on to 100 ms
  REQUIRE(f.clock.waits().size() == 1);
  CHECK(f.clock.waits()[0].interrupted);
  CHECK(f.clock.waits()[0].waited() == 99ms);
  CHECK(f.hedging().hedges_started() == 0);
}

TEST_CASE("hedging: a failure before the delay is the attempt's outcome, and the client retries it",
          "[hedging]") {
  fixture f;
  f.script().script({t::respond(503).after(20ms), t::respond(200).after(10ms)});
  const auto result = f.send(list_vms);
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(result->attempts() == 2);
  CHECK(f.script().attempt_count() == 2);
  CHECK(f.hedging().hedges_started() == 0);
  // Each attempt's hedge timer, cancelled at its answer, and the backoff's 500 ms between them.
  using wait = t::fake_clock::recorded_wait;
  const std::vector<wait> expected{{time_point{0ms}, time_point{100ms}, time_point{20ms}, true},
                                   {time_point{20ms}, time_point{520ms}, time_point{520ms}, false},
                                   {time_point{520ms}, time_point{620ms}, time_point{530ms}, true}};
  const auto waits = f.clock.waits();
  REQUIRE(waits.size() == expected.size());
  for (std::size_t i = 0; i < waits.size(); ++i) {
    CAPTURE(i);
    CHECK(waits[i].from == expected[i].from);
    CHECK(waits[i].until == expected[i].until);
    CHECK(waits[i].woke == expected[i].woke);
    CHECK(waits[i].interrupted == expected[i].interrupted);
  }
  CHECK(f.clock.elapsed() == 530ms);
}

TEST_CASE("hedging: a create is never hedged, keyed or not; an idempotent POST is", "[hedging][vmm]") {
  SECTION("POST /v1/vms with vmm::orchestrator_idempotency: one copy, however slow") {
    fixture f;
    f.script().otherwise(t::respond(201).after(1s));
    const auto result = f.send(create_vm);
    REQUIRE(result);
    CHECK(result->ok());
    CHECK(f.script().attempt_count() == 1);
    CHECK(f.clock.elapsed() == 1s);
    CHECK(f.hedging().hedges_started() == 0);
  }
  SECTION("a keyed create is safe to retry, not to send twice at once") {
    const vmm::orchestrator_idempotency keyed{true, 7};
    fixture f{options_with(100ms), {}, keyed};
    f.script().otherwise(t::respond(201).after(1s));
    const auto result = f.send(create_vm);
    REQUIRE(result);
    CHECK(result->ok());
    CHECK(f.script().attempt_count() == 1);
    CHECK(f.script().requests().front().count("Idempotency-Key") == 1);
    CHECK(f.hedging().hedges_started() == 0);
  }
  SECTION(
      "with the default options, only safe methods: a start or a DELETE the policy calls idempotent is not "
      "hedged") {
    fixture f;
    CHECK(f.hedging().may_hedge(list_vms));
    CHECK_FALSE(f.hedging().may_hedge(start_vm));
    CHECK_FALSE(f.hedging().may_hedge(request(http::verb::delete_, "/v1/vms/web-1")));
    CHECK_FALSE(f.hedging().may_hedge(request(http::verb::put, "/v1/vms/web-1")));
    f.script().script({t::respond(200).after(1s)});
    const auto result = f.send(start_vm);
    REQUIRE(result);
    CHECK(f.script().attempt_count() == 1);
    CHECK(f.hedging().hedges_started() == 0);
  }
  SECTION(
      "POST /v1/vms/{name}/start, idempotent by the orchestrator's rules, is hedged once safe_methods_only "
      "is "
      "off") {
    auto options = options_with(100ms);
    options.safe_methods_only = false;
    fixture f{options};
    f.script().script({t::respond(200).after(1s), t::respond(200).after(10ms)});
    const auto result = f.send(start_vm);
    REQUIRE(result);
    CHECK(result->ok());
    CHECK(f.script().attempt_count() == 2);
    CHECK(f.clock.elapsed() == 110ms);
  }
  SECTION("the default policy hedges reads only: a PUT or a DELETE is not hedged") {
    asio::io_context io;
    t::fake_clock clock;
    retryhttp::hedging_transport<inner_type, retryhttp::safe_method_idempotency, t::fake_clock> hedging{
        inner_type{io.get_executor(), clock}, options_with(100ms), {}, clock};
    static_assert(std::is_same_v<retryhttp::hedging_transport<inner_type>::idempotency_type,
                                 retryhttp::safe_method_idempotency>);
    CHECK(hedging.may_hedge(list_vms));
    CHECK(hedging.may_hedge(request(http::verb::head, "/v1/vms")));
    CHECK_FALSE(hedging.may_hedge(request(http::verb::put, "/v1/vms/web-1")));
    CHECK_FALSE(hedging.may_hedge(request(http::verb::delete_, "/v1/vms/web-1")));
    CHECK_FALSE(hedging.may_hedge(create_vm));
  }
}

TEST_CASE("hedging: a hedge draws on the retry budget, as a retry does", "[hedging][budget]") {
  SECTION("a budget that refuses: no hedge") {
    auto budget = std::make_shared<retryhttp::percent_budget>(0.0, 0);
    fixture f{options_with(100ms, budget)};
    f.script().script({t::respond(200).after(1s), t::respond(200).after(10ms)});
    const auto result = f.send(list_vms);
    REQUIRE(result);
    CHECK(result->ok());
    CHECK(f.script().attempt_count() == 1);
    CHECK(f.clock.elapsed() == 1s);
    CHECK(f.hedging().hedges_started() == 0);
    CHECK(f.hedging().hedges_refused() == 1);
  }
  SECTION("a budget that grants: charged once per hedge, and not for a call that was not hedged") {
    auto budget = std::make_shared<retryhttp::percent_budget>(0.0, 3);
    fixture f{options_with(100ms, budget)};
    f.script().script({t::respond(200).after(1s), t::respond(200).after(10ms),    // hedged
                       t::respond(200).after(10ms),                               // fast: not hedged
                       t::respond(200).after(1s), t::respond(200).after(10ms)});  // hedged
    CHECK(budget->available() == 3.0);
    REQUIRE(f.send(list_vms)->ok());
    CHECK(budget->available() == 2.0);
    REQUIRE(f.send(list_vms)->ok());
    CHECK(budget->available() == 2.0);
    REQUIRE(f.send(list_vms)->ok());
    CHECK(budget->available() == 1.0);
    CHECK(f.hedging().hedges_started() == 2);
    CHECK(f.script().attempt_count() == 5);
  }
}

namespace {
/// A budget that refuses its first `refusals` questions, then grants every one.
class refusing_at_first final : public retryhttp::retry_budget {
 public:
  explicit refusing_at_first(int refusals) : refusals_(refusals) {}
  void on_success() noexcept override {}
  void on_transient_failure() noexcept override {}
  bool try_retry() noexcept override { return refusals_-- <= 0; }

 private:
  int refusals_;
};

hedging_options allowance_of(double fraction, unsigned burst,
                             std::shared_ptr<retryhttp::retry_budget> budget) {
  auto options = options_with(100ms, std::move(budget));
  options.max_hedged_fraction = fraction;
  options.hedge_burst = burst;
  return options;
}
}  // namespace

TEST_CASE("hedging: at most max_hedged_fraction of the attempts are hedged, however slow the server",
          "[hedging][budget]") {
  SECTION("a server slow on every answer, and a budget full of its successes: 12 hedges in 30 calls") {
    // recommended()'s token bucket refuses only while failures drain it: every answer here is a success.
    // The allowance starts with 10 hedges and earns 0.1 per attempt (the first 0.1 is over its cap).
    auto budget = std::make_shared<retryhttp::token_bucket_budget>(100, 2);
    fixture f{options_with(100ms, budget)};
    f.script().otherwise(t::respond(200).after(1s));  // the first attempt always wins, at 1 s
    for (int call = 0; call < 30; ++call) REQUIRE(f.send(list_vms)->ok());
    CHECK(f.hedging().hedges_started() == 12);
    CHECK(f.hedging().hedges_refused() == 18);
    CHECK(f.script().attempt_count() == 42);
    CHECK(budget->try_retry());  // the budget would have granted every one
  }
  SECTION("all of them, when the fraction is 1") {
    auto budget = std::make_shared<retryhttp::token_bucket_budget>(100, 2);
    fixture f{allowance_of(1.0, 1, budget)};
    f.script().otherwise(t::respond(200).after(1s));
    for (int call = 0; call < 30; ++call) REQUIRE(f.send(list_vms)->ok());
    CHECK(f.hedging().hedges_started() == 30);
    CHECK(f.script().attempt_count() == 60);
  }
  SECTION("half, one saved up: every other slow call is hedged, in virtual time") {
    fixture f{allowance_of(0.5, 1, nullptr)};
    for (int call = 0; call < 10; ++call) {
      if (call % 2 == 0)
        f.script()
            .then(t::respond(200).after(1s))
            .then(t::respond(200).after(10ms));  // hedged: won at 110 ms
      else
        f.script().then(t::respond(200).after(1s));  // not hedged: answered at 1 s
    }
    for (int call = 0; call < 10; ++call) REQUIRE(f.send(list_vms)->ok());
    CHECK(f.hedging().hedges_started() == 5);
    CHECK(f.hedging().hedges_refused() == 5);
    CHECK(f.hedging().hedges_won() == 5);
    CHECK(f.script().attempt_count() == 15);
    CHECK(f.clock.elapsed() == 5 * 110ms + 5 * 1s);
  }
  SECTION("a hedge the budget refuses is given back to the allowance") {
    // One hedge saved up and none earned: the budget's refusal of the first must leave it for the second.
    fixture f{allowance_of(0.0, 1, std::make_shared<refusing_at_first>(1))};
    f.script().then(t::respond(200).after(1s));                                    // refused by the budget
    f.script().then(t::respond(200).after(1s)).then(t::respond(200).after(10ms));  // hedged
    f.script().then(t::respond(200).after(1s));  // the allowance is spent: not hedged
    for (int call = 0; call < 3; ++call) REQUIRE(f.send(list_vms)->ok());
    CHECK(f.hedging().hedges_started() == 1);
    CHECK(f.hedging().hedges_refused() == 2);
    CHECK(f.clock.elapsed() == 1s + 110ms + 1s);
  }
  SECTION("a fraction outside 0 to 1, or no hedge saved up, is refused when the transport is made") {
    asio::io_context io;
    t::fake_clock clock;
    for (double fraction : {-0.1, 1.5}) {
      CAPTURE(fraction);
      CHECK_THROWS_AS((hedging_type{inner_type{io.get_executor(), clock}, allowance_of(fraction, 10, nullptr),
                                    vmm::orchestrator_idempotency{}, clock}),
                      std::invalid_argument);
    }
    // No hedge saved up, ever: hedging would be off whatever the fraction says.
    CHECK_THROWS_AS((hedging_type{inner_type{io.get_executor(), clock}, allowance_of(1.0, 0, nullptr),
                                  vmm::orchestrator_idempotency{}, clock}),
                    std::invalid_argument);
  }
}

TEST_CASE("hedging: when neither answer is good, the client's retry rules apply to the outcome",
          "[hedging]") {
  fixture f;
  // A 503 from the hedge does not win while the first attempt is in flight; the first's 503 (the later) is
  // the outcome; the retry (fast) is not hedged.
  f.script().script({t::respond(503, "first").after(1s), t::respond(503, "hedge").after(50ms),
                     t::respond(200).after(10ms)});
  const auto result = f.send(list_vms);
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(result->attempts() == 2);
  CHECK(f.script().attempt_count() == 3);
  CHECK(f.clock.elapsed() == 1s + 500ms + 10ms);  // the first's answer, the backoff's delay, the retry
  CHECK(f.hedging().hedges_started() == 1);
  CHECK(f.hedging().hedges_won() == 0);
  CHECK(f.hedging().losers_canceled() == 0);
}

TEST_CASE("hedging: a response beats a failure when neither is good", "[hedging]") {
  fixture f{options_with(100ms), config_with(0)};
  f.script().script({t::reset_connection().after(1s), t::respond(503, "hedge").after(50ms)});
  const auto result = f.send(list_vms);
  REQUIRE(result);
  REQUIRE(result->has_response());
  CHECK(result->response().body() == "hedge");
  CHECK(f.clock.elapsed() == 1s);
}

TEST_CASE("hedging: terminal cancellation of the call cancels both attempts and the timer",
          "[hedging][cancel]") {
  fixture f;
  asio::cancellation_signal cancel;
  std::optional<result_type> result;
  auto handler = asio::bind_cancellation_slot(cancel.slot(), [&](result_type r) { result = std::move(r); });
  SECTION("both attempts in flight") {
    f.script().script({t::hang(), t::hang()});
    f.client.async_send(list_vms, handler);
    f.clock.after(300ms, [&] { cancel.emit(asio::cancellation_type::terminal); });
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(f.clock.elapsed() == 300ms);
    const auto attempts = f.script().attempts();
    REQUIRE(attempts.size() == 2);
    CHECK(attempts[0].ended == time_point{300ms});
    CHECK(attempts[1].ended == time_point{300ms});
    REQUIRE(result->failure());
    CHECK(result->failure()->code == boost::system::errc::operation_canceled);
    CHECK(f.hedging().losers_canceled() == 0);  // the call was cancelled, nobody lost
  }
  SECTION("before the delay: the timer is cancelled, and no hedge starts") {
    f.script().script({t::hang(), t::hang()});
    f.client.async_send(list_vms, handler);
    f.clock.after(50ms, [&] { cancel.emit(asio::cancellation_type::terminal); });
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(f.clock.elapsed() == 50ms);
    CHECK(f.script().attempt_count() == 1);
    CHECK(f.hedging().hedges_started() == 0);
  }
  SECTION("call_options::stop") {
    f.script().script({t::hang(), t::hang()});
    std::stop_source stop;
    f.client.async_send(list_vms, retryhttp::call_options{stop.get_token(), {}},
                        [&](result_type r) { result = std::move(r); });
    f.clock.request_stop_at(time_point{300ms}, stop);
    f.run();
    REQUIRE(result);
    CHECK(result->error() == error::canceled);
    CHECK(f.clock.elapsed() == 300ms);
    CHECK(f.script().attempt_count() == 2);
  }
}

TEST_CASE("hedging: the attempt's timeout bounds the hedge too", "[hedging][deadline]") {
  fixture f{options_with(100ms), config_with(0, 250ms)};
  f.script().script({t::hang(), t::hang()});
  const auto result = f.send(list_vms);
  REQUIRE(result);
  CHECK(result->error() == error::retries_exhausted);
  CHECK(f.clock.elapsed() == 250ms);
  const auto attempts = f.script().attempts();
  REQUIRE(attempts.size() == 2);
  REQUIRE(attempts[1].timeout);
  CHECK(*attempts[1].timeout == 150ms);  // what is left of the attempt's 250 ms at the delay
}

TEST_CASE("hedging: a second transport takes the hedge (another endpoint)", "[hedging]") {
  asio::io_context io;
  t::fake_clock clock;
  inner_type primary{io.get_executor(), clock};
  inner_type standby{io.get_executor(), clock};
  primary.script().otherwise(t::respond(200, "primary").after(1s));
  standby.script().otherwise(t::respond(200, "standby").after(20ms));
  std::vector<std::string> seen;
  client_type client{{},
                     hedging_type{primary, standby, options_with(100ms), {}, clock},
                     retryhttp::no_jitter_backoff{},
                     clock,
                     {},
                     endpoint_log{&seen}};
  std::optional<result_type> result;
  client.async_send(list_vms, [&](result_type r) { result = std::move(r); });
  REQUIRE(t::run_until_idle(io, clock));
  REQUIRE(result);
  REQUIRE(result->ok());
  CHECK(result->response().body() == "standby");
  CHECK(clock.elapsed() == 120ms);
  CHECK(primary.script().attempt_count() == 1);
  CHECK(standby.script().attempt_count() == 1);
  CHECK(seen == std::vector<std::string>{"hedge"});
}

TEST_CASE("hedging: async_attempt never completes inline, and completes on the handler's executor",
          "[hedging][async]") {
  asio::io_context io;
  t::fake_clock clock;
  hedging_type hedging{inner_type{io.get_executor(), clock}, options_with(100ms), {}, clock};
  hedging.primary().script().script({t::respond(200).after(1s), t::respond(200).after(10ms)});
  auto strand = asio::make_strand(io);
  bool returned = false;
  bool completed_after_return = false;
  bool on_strand = false;
  hedging.async_attempt(list_vms, {}, asio::bind_executor(strand, [&](outcome_type outcome) {
                          completed_after_return = returned && outcome.has_response();
                          on_strand = strand.running_in_this_thread();
                        }));
  returned = true;
  REQUIRE(t::run_until_idle(io, clock));
  CHECK(completed_after_return);
  CHECK(on_strand);
  CHECK(clock.elapsed() == 110ms);
}

TEST_CASE("hedging: the synchronous client hedges too, on the inner transport's io_context",
          "[hedging][sync]") {
  fixture f;
  SECTION("the hedge wins") {
    f.script().script({t::respond(200, "slow").after(1s), t::respond(200, "fast").after(30ms)});
    const auto result = f.client.send(list_vms);
    REQUIRE(result.ok());
    CHECK(result.response().body() == "fast");
    CHECK(f.clock.elapsed() == 130ms);
    CHECK(f.script().attempt_count() == 2);
    CHECK(f.hedging().hedges_won() == 1);
    CHECK(f.hedging().losers_canceled() == 1);
  }
  SECTION("a create is not hedged") {
    f.script().otherwise(t::respond(201).after(1s));
    CHECK(f.client.send(create_vm).ok());
    CHECK(f.script().attempt_count() == 1);
    CHECK(f.clock.elapsed() == 1s);
  }
  SECTION("a stop from the timeline cancels both attempts") {
    f.script().script({t::hang(), t::hang()});
    std::stop_source stop;
    f.clock.request_stop_at(time_point{300ms}, stop);
    const auto result = f.client.send(list_vms, stop.get_token());
    CHECK(result.error() == error::canceled);
    CHECK(f.clock.elapsed() == 300ms);
    const auto attempts = f.script().attempts();
    REQUIRE(attempts.size() == 2);
    CHECK(attempts[0].ended == time_point{300ms});
    CHECK(attempts[1].ended == time_point{300ms});
  }
}

}  // namespace test_hedging_transport
