#ifndef RETRY_SIM_SIM_HPP
#define RETRY_SIM_SIM_HPP

// retry-sim's experiments: deterministic discrete-event simulations that drive retryhttp's real backoff
// policies and budgets on a testing::fake_clock (virtual time only), seeded. Each experiment returns rows for
// the CSV.
//
//  occ       Marc Brooker, "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015) and its simulator
//            aws-samples/aws-arch-backoff-simulator, whose model this is, message for message: N clients
//            contend on one versioned row; each reads the version, then sends a conditional write; a write
//            that finds another version fails, and when its answer arrives the client backs off (first
//            backoff with n = 1), then reads again. Every message (read, its answer, write, its answer) takes
//            |Normal(10 ms, 2 ms)|. Base 5 ms, cap 2000 ms. "calls" counts writes reaching the server; "time"
//            is the last event, the last client receiving its successful write's answer.
//  overload  a server that rejects a fraction p of attempts (or, with --capacity, everything beyond a fixed
//            number of attempts per second); clients with the ticket's policy, with a retry budget, with the
//            adaptive rate limiter, with retry_config::recommended(), hedged, and with peers' defaults. The
//            server answers after |Normal(10 ms, 2 ms)|, or 1 s for 2% of the attempts (the slow tail that
//            hedging is for). Reports amplification (attempts, hedges included, / calls), the success rate
//            and the 99th percentile of a call's time. A rejection of the p variant is a failing backend's
//            plain 503; one of the capacity variant is a throttle (a 429, or a 503 with Retry-After), which
//            is what engages a rate limiter.

#include <retryhttp/backoff.hpp>
#include <retryhttp/budget.hpp>
#include <retryhttp/detail/hedge_allowance.hpp>
#include <retryhttp/detail/random.hpp>
#include <retryhttp/rate_limiter.hpp>
#include <retryhttp/retry_step.hpp>
#include <retryhttp/testing/fake_clock.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <stdexcept>
#include <string>
#include <vector>

namespace retry_sim {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using clock_type = retryhttp::testing::fake_clock;

struct row {
  std::string experiment;
  std::string strategy;
  unsigned clients = 0;
  double p = 0;
  unsigned trials = 0;
  double calls = 0;
  double time_ms = 0;
  double amplification = 0;
  double success = 0;
  double p99_ms = 0;  ///< overload: a call's 99th-percentile time, start to end
  double hedges = 0;  ///< overload: hedges sent
};

/// A seeded source of the randomness the experiments need (not the policies' jitter: that is their own).
class random_source {
 public:
  explicit random_source(std::uint64_t seed) : generator_(seed) {}
  double uniform() { return static_cast<double>(generator_() >> 11) * 0x1.0p-53; }
  /// |Normal(mean, stddev)| by Box-Muller.
  double abs_normal(double mean, double stddev) {
    const double u1 = std::max(uniform(), 1e-300);
    const double u2 = uniform();
    return std::fabs(mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2));
  }
  std::uint64_t next() { return generator_(); }

 private:
  retryhttp::detail::splitmix64 generator_;
};

/// A backoff strategy by name, as a factory of per-call delay functions driven by the library's own
/// schedules.
class strategy {
 public:
  static const std::vector<std::string>& occ_names() {
    static const std::vector<std::string> names{"none",         "no_jitter",    "full_jitter",
                                                "equal_jitter", "decorrelated", "exponential"};
    return names;
  }

  strategy(const std::string& name, std::uint64_t seed) : name_(name) {
    if (name == "none") return;
    if (name == "no_jitter") return;
    if (name == "full_jitter")
      full_.emplace(seed);
    else if (name == "equal_jitter")
      equal_.emplace(seed);
    else if (name == "decorrelated")
      decorrelated_.emplace(seed);
    else if (name == "exponential")
      exponential_.emplace(seed);
    else
      throw std::invalid_argument("unknown strategy \"" + name + "\"");
  }

  /// A per-call schedule: delay(n) for the n-th backoff of this call (n from 1, as Brooker's simulator
  /// counts).
  std::function<nanoseconds(unsigned)> start(nanoseconds base, nanoseconds cap) const {
    if (name_ == "none") return [](unsigned) { return nanoseconds(0); };
    if (name_ == "no_jitter") {
      auto schedule = retryhttp::no_jitter_backoff{}.start(base, cap);
      return [schedule](unsigned n) mutable { return schedule.next_delay(n); };
    }
    if (full_) return wrap(full_->start(base, cap));
    if (equal_) return wrap(equal_->start(base, cap));
    if (decorrelated_) return wrap(decorrelated_->start(base, cap));
    return wrap(exponential_->start(base, cap));
  }
  const std::string& name() const { return name_; }

 private:
  template <class Schedule>
  static std::function<nanoseconds(unsigned)> wrap(Schedule schedule) {
    return [schedule](unsigned n) mutable { return schedule.next_delay(n); };
  }
  std::string name_;
  std::optional<retryhttp::full_jitter_backoff> full_;
  std::optional<retryhttp::equal_jitter_backoff> equal_;
  std::optional<retryhttp::decorrelated_jitter_backoff> decorrelated_;
  std::optional<retryhttp::exponential_backoff> exponential_;
};

/// The event queue: actions at virtual instants, in time order (ties in scheduling order). Time itself is the
/// fake clock's, so the simulation never reads the wall clock.
class event_queue {
 public:
  explicit event_queue(clock_type clock) : clock_(std::move(clock)) {}
  void at(clock_type::time_point when, std::function<void()> action) {
    events_.push({when, sequence_++, std::move(action)});
  }
  void after(nanoseconds delay, std::function<void()> action) { at(clock_.now() + delay, std::move(action)); }
  void run() {
    while (!events_.empty()) {
      auto next = events_.top();
      events_.pop();
      clock_.elapse_until(next.when);
      next.action();
    }
  }
  clock_type::time_point now() const { return clock_.now(); }

 private:
  struct event {
    clock_type::time_point when;
    std::uint64_t sequence;
    std::function<void()> action;
    bool operator>(const event& other) const {
      return when != other.when ? when > other.when : sequence > other.sequence;
    }
  };
  clock_type clock_;
  std::uint64_t sequence_ = 0;
  std::priority_queue<event, std::vector<event>, std::greater<>> events_;
};

/// Brooker's OCC experiment, one trial: returns {writes, completion time in ms}. The model is the reference
/// simulator's (aws-samples/aws-arch-backoff-simulator, src/backoff_simulator.py), event for event:
///
///   t = 0      every client sends a read;
///   read       reaches the server one message delay later and takes the version there; the answer reaches
///              the client one message delay after that;
///   write      the client sends it at once, conditional on that version; it reaches the server one message
///              delay later: this is the "call" counted, and it succeeds when the row still has that version;
///              the answer reaches the client one message delay after that;
///   failure    the backoff (n = 1 for the first) starts when the failed answer reaches the client; then the
///              client sends the next read, which reaches the server one message delay later.
///
/// So one round trip is four message delays, each |Normal(10 ms, 2 ms)|, and the backoff sits between two of
/// them. The time is that of the last event, the answer to the last successful write reaching its client.
inline std::pair<double, double> occ_trial(const std::string& strategy_name, unsigned clients,
                                           std::uint64_t seed) {
  clock_type clock;
  event_queue queue{clock};
  random_source random{seed};
  const strategy policy{strategy_name, seed ^ 0x5eedULL};
  auto latency = [&] {
    return std::chrono::duration_cast<nanoseconds>(
        std::chrono::duration<double, std::milli>(random.abs_normal(10, 2)));
  };
  std::uint64_t version = 0;
  double writes = 0;

  struct client_state {
    std::function<nanoseconds(unsigned)> delay;
    unsigned failures = 0;
  };
  std::vector<client_state> states(clients);
  // send_read(id, wait): the client sends a read after `wait` (its backoff; 0 at the start). Each nested
  // action below is one message arriving, one message delay after the previous one.
  std::function<void(unsigned, nanoseconds)> send_read;
  send_read = [&](unsigned id, nanoseconds wait) {
    queue.after(wait + latency(), [&, id] {  // the read reaches the server
      const std::uint64_t seen = version;
      queue.after(latency(), [&, id, seen] {    // its answer reaches the client, which sends the write
        queue.after(latency(), [&, id, seen] {  // the write reaches the server: one call
          writes += 1;
          const bool success = version == seen;
          if (success) ++version;
          queue.after(latency(), [&, id, success] {  // its answer reaches the client
            if (success) return;                     // this client is done
            auto& state = states[id];
            ++state.failures;
            send_read(id, state.delay(state.failures));
          });
        });
      });
    });
  };
  for (unsigned id = 0; id < clients; ++id) {
    states[id].delay = policy.start(5ms, 2000ms);
    send_read(id, nanoseconds(0));
  }
  queue.run();
  // The queue runs dry on the last event: the answer to the last successful write reaching its client.
  return {writes, std::chrono::duration<double, std::milli>(queue.now().time_since_epoch()).count()};
}

inline row occ(const std::string& strategy_name, unsigned clients, unsigned trials, std::uint64_t seed) {
  row result{"occ", strategy_name, clients, 0, trials};
  for (unsigned trial = 0; trial < trials; ++trial) {
    const auto [calls, time] = occ_trial(strategy_name, clients, seed + trial * 7919ULL);
    result.calls += calls / trials;
    result.time_ms += time / trials;
  }
  return result;
}

// ---- Overload
// ------------------------------------------------------------------------------------------------

/// How long the server takes to answer an attempt: |Normal(fast, fast / 5)|, except for a fraction
/// `slow_fraction` of the attempts, which take `slow` (the slow tail: a pause, a cold cache, a slow replica).
/// Drawn per attempt, whatever the answer; a hedge draws its own.
struct latency_model {
  nanoseconds fast = 10ms;
  double slow_fraction = 0.02;
  nanoseconds slow = 1s;

  nanoseconds draw(random_source& random) const {
    if (slow_fraction > 0 && random.uniform() < slow_fraction) return slow;
    const double mean = std::chrono::duration<double>(fast).count();
    return std::chrono::duration_cast<nanoseconds>(
        std::chrono::duration<double>(random.abs_normal(mean, mean / 5)));
  }
};

/// A client policy of the overload experiment.
struct client_policy {
  std::string name;
  unsigned max_attempts;
  nanoseconds base;
  nanoseconds cap;
  std::string backoff;  // strategy name
  /// from_config: the budget of `library` (make_retry_budget), as a client built from it has.
  enum class budget_kind {
    none,
    percent_10,
    aws_quota,
    token_bucket,
    from_config
  } budget = budget_kind::none;
  /// A retryhttp configuration whose rate limiter (make_rate_limiter) and deadline apply too, when there is
  /// one.
  std::optional<retryhttp::retry_config> library;
  /// Hedged attempts as hedging_transport makes them with its default options, after this delay (0: none).
  /// A hedge asks the decorator's allowance (10% of the attempts), then the policy's budget, the one the
  /// client retries with (hedging_options::budget shared with the client).
  nanoseconds hedge_delay{0};

  /// A policy that is a retryhttp configuration: its attempts, delays, budget, rate limiter and deadline.
  static client_policy of(std::string name, const retryhttp::retry_config& config) {
    return {std::move(name),
            config.max_retries + 1,
            config.base_delay,
            config.max_delay,
            "exponential",
            budget_kind::from_config,
            config};
  }
  /// The same policy, hedged after hedging_options' default delay.
  static client_policy hedged(client_policy policy, std::string name) {
    policy.name = std::move(name);
    policy.hedge_delay = retryhttp::detail::hedging_defaults::delay;
    return policy;
  }
  /// The ticket's configuration with the adaptive rate limiter and nothing else.
  static retryhttp::retry_config ticket_with_rate_limiter() {
    retryhttp::retry_config config;
    config.rate_limit.type = retryhttp::rate_limit_config::kind::adaptive;
    return config;
  }

  static const std::vector<client_policy>& all() {
    static const std::vector<client_policy> policies{
        {"ticket", 4, 500ms, 10s, "exponential", budget_kind::none, std::nullopt},
        {"ticket+percent_budget", 4, 500ms, 10s, "exponential", budget_kind::percent_10, std::nullopt},
        {"ticket+token_bucket", 4, 500ms, 10s, "exponential", budget_kind::token_bucket, std::nullopt},
        of("ticket+adaptive", ticket_with_rate_limiter()),
        of("recommended", retryhttp::retry_config::recommended()),
        hedged({"ticket", 4, 500ms, 10s, "exponential", budget_kind::none, std::nullopt}, "ticket+hedging"),
        hedged({"ticket+percent_budget", 4, 500ms, 10s, "exponential", budget_kind::percent_10, std::nullopt},
               "ticket+percent_budget+hedging"),
        hedged(of("recommended", retryhttp::retry_config::recommended()), "recommended+hedging"),
        {"three_attempts", 3, 500ms, 10s, "exponential", budget_kind::none, std::nullopt},
        {"go_retryablehttp", 5, 1s, 30s, "no_jitter", budget_kind::none, std::nullopt},
        {"envoy", 2, 25ms, 250ms, "full_jitter", budget_kind::none, std::nullopt},
        {"aws_standard", 3, 1s, 20s, "full_jitter", budget_kind::aws_quota, std::nullopt},
    };
    return policies;
  }
};

/// AWS SDKs' standard retry quota: 500 tokens, a retry costs 5, a success refunds what its retry took (or 1).
class aws_quota {
 public:
  bool take() {
    if (tokens_ < 5) return false;
    tokens_ -= 5;
    return true;
  }
  void success(bool was_retry) { tokens_ = std::min(500, tokens_ + (was_retry ? 5 : 1)); }

 private:
  int tokens_ = 500;
};

/// One overload run: `clients` clients each start a call every second for `seconds` seconds (staggered); the
/// server rejects each attempt with probability p, or, when capacity > 0, every attempt beyond `capacity` in
/// the current second, deciding when the attempt arrives and answering after the latency.
struct overload_outcome {
  double amplification;  ///< attempts (hedges included) / calls
  double success;        ///< successful calls / calls
  double attempts;
  double time_ms;  ///< the last event
  double p99_ms;   ///< the 99th percentile of a call's time, start to end (delivered or not)
  double hedges;   ///< hedges sent
};

inline overload_outcome overload_trial(const client_policy& policy, unsigned clients, double p,
                                       unsigned capacity, std::uint64_t seed,
                                       const latency_model& latency = {}, unsigned seconds = 60) {
  clock_type clock;
  event_queue queue{clock};
  random_source random{seed};
  const strategy backoff{policy.backoff, seed ^ 0xb0ffULL};
  std::shared_ptr<retryhttp::retry_budget> budget;
  if (policy.budget == client_policy::budget_kind::percent_10)
    budget = std::make_shared<retryhttp::percent_budget>(10, 0);
  if (policy.budget == client_policy::budget_kind::token_bucket)
    budget = std::make_shared<retryhttp::token_bucket_budget>(100, 0.1);
  if (policy.budget == client_policy::budget_kind::from_config)
    budget = retryhttp::make_retry_budget(policy.library->budget);
  // One limiter for every client: they are the clients of one endpoint.
  std::shared_ptr<retryhttp::adaptive_rate_limiter> limiter;
  if (policy.library) limiter = retryhttp::make_rate_limiter(policy.library->rate_limit);
  aws_quota quota;
  // One decorator's allowance for every client, as with their budget and limiter.
  retryhttp::detail::hedge_allowance allowance{retryhttp::detail::hedging_defaults::max_hedged_fraction,
                                               retryhttp::detail::hedging_defaults::hedge_burst};
  retryhttp::retry_config config;
  config.max_retries = policy.max_attempts - 1;
  config.base_delay = std::chrono::duration_cast<std::chrono::milliseconds>(policy.base);
  config.max_delay = std::chrono::duration_cast<std::chrono::milliseconds>(policy.cap);
  const nanoseconds deadline = policy.library ? nanoseconds(policy.library->deadline) : nanoseconds(0);
  auto since_start = [&](clock_type::time_point start) { return queue.now() - start; };
  double attempts = 0;
  double first_tries = 0;
  double calls = 0;
  double successes = 0;
  double hedges = 0;
  std::vector<double> call_ms;
  std::vector<unsigned> per_second(seconds + 600, 0);
  auto end_call = [&](clock_type::time_point start) {
    call_ms.push_back(std::chrono::duration<double, std::milli>(since_start(start)).count());
  };

  // The server: decides when the attempt arrives (the capacity counts arrivals per second) and answers after
  // the latency.
  auto serve = [&](std::function<void(bool)> on_answer) {
    attempts += 1;
    const auto second = static_cast<std::size_t>(
        std::chrono::duration_cast<std::chrono::seconds>(queue.now().time_since_epoch()).count());
    bool rejected = false;
    if (capacity > 0) {
      if (second < per_second.size()) rejected = ++per_second[second] > capacity;
    } else {
      rejected = random.uniform() < p;
    }
    queue.after(latency.draw(random), [on_answer = std::move(on_answer), rejected] { on_answer(rejected); });
  };

  using delay_function = std::shared_ptr<std::function<nanoseconds(unsigned)>>;
  std::function<void(delay_function, unsigned, clock_type::time_point)> attempt, send;
  std::function<void(delay_function, unsigned, clock_type::time_point, bool)> answered;
  // Before each attempt, as basic_client does: a token from the limiter once a throttle engaged it, waited
  // for (within max_wait and the deadline) or refused, which fails the call with nothing sent. A hedged
  // attempt is one attempt to the limiter.
  attempt = [&](delay_function delays, unsigned number, clock_type::time_point start) {
    if (limiter && limiter->engaged()) {
      const auto& limit = policy.library->rate_limit;
      auto allowed = retryhttp::adaptive_rate_limiter::no_wait_limit;
      if (limit.fail_fast)
        allowed = nanoseconds(0);
      else if (limit.max_wait.count() > 0)
        allowed = limit.max_wait;
      if (deadline.count() > 0)
        allowed = std::min(allowed, std::max(deadline - since_start(start), nanoseconds(0)));
      const auto grant = limiter->acquire(queue.now().time_since_epoch(), allowed);
      if (!grant) return end_call(start);
      if (grant.wait.count() > 0) {
        queue.after(grant.wait, [&, delays, number, start] { send(delays, number, start); });
        return;
      }
    }
    send(delays, number, start);
  };
  // One attempt as the client sees it, with hedging as hedging_transport does it: the hedge starts when the
  // delay runs out with no answer and the allowance and then the budget's try_retry() grant it; the first
  // good answer wins; a rejection is the outcome unless the other copy is still out; the loser's answer is
  // never read (it was cancelled, but the server had it: it counts as an attempt).
  send = [&](delay_function delays, unsigned number, clock_type::time_point start) {
    struct copies {
      bool decided = false;
      bool out[2] = {false, false};
    };
    auto state = std::make_shared<copies>();
    auto on_answer = [&, state, delays, number, start](std::size_t which, bool rejected) {
      if (state->decided) return;
      state->out[which] = false;
      if (!rejected || !state->out[1 - which]) {
        state->decided = true;
        answered(delays, number, start, rejected);
      }
    };
    state->out[0] = true;
    serve([on_answer](bool rejected) { on_answer(0, rejected); });
    if (policy.hedge_delay.count() > 0) {
      allowance.on_attempt();
      queue.after(policy.hedge_delay, [&, state, on_answer] {
        if (state->decided || !allowance.try_take()) return;
        if (budget && !budget->try_retry()) return allowance.refund();
        hedges += 1;
        state->out[1] = true;
        serve([on_answer](bool rejected) { on_answer(1, rejected); });
      });
    }
  };
  answered = [&](delay_function delays, unsigned number, clock_type::time_point start, bool rejected) {
    // The library's own step decides, as in basic_client: a rejection is a 503, retried while retries
    // remain; the delay is this experiment's schedule (Brooker's numbering, the first backoff with n = 1).
    const auto outcome = retryhttp::observed_outcome::response(rejected ? 503 : 200);
    // Only the capacity variant's rejections are throttles.
    const bool throttled = rejected && capacity > 0;
    if (limiter && (throttled || limiter->engaged()))
      limiter->on_response(throttled, queue.now().time_since_epoch());
    if (!rejected) {
      successes += 1;
      if (budget) budget->on_success();
      if (policy.budget == client_policy::budget_kind::aws_quota) quota.success(number > 1);
    } else if (budget) {
      budget->on_transient_failure();
    }
    std::optional<nanoseconds> time_left;
    if (deadline.count() > 0) time_left = deadline - since_start(start);
    const auto step = retryhttp::next_step(config, {outcome, true, number - 1, std::nullopt, time_left},
                                           [&] { return (*delays)(number); });
    if (!step.retries() || (budget && !budget->try_retry())
        || (policy.budget == client_policy::budget_kind::aws_quota && !quota.take()))
      return end_call(start);
    queue.after(step.delay, [&, delays, number, start] { attempt(delays, number + 1, start); });
  };
  for (unsigned s = 0; s < seconds; ++s)
    for (unsigned c = 0; c < clients; ++c) {
      const auto offset =
          std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(s + random.uniform()));
      queue.at(clock_type::time_point{offset}, [&] {
        calls += 1;
        first_tries += 1;
        if (budget) budget->on_call();
        auto delays =
            std::make_shared<std::function<nanoseconds(unsigned)>>(backoff.start(policy.base, policy.cap));
        attempt(delays, 1, queue.now());
      });
    }
  queue.run();
  double p99 = 0;
  if (!call_ms.empty()) {
    const auto rank = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(call_ms.size()))) - 1;
    std::nth_element(call_ms.begin(), call_ms.begin() + static_cast<std::ptrdiff_t>(rank), call_ms.end());
    p99 = call_ms[rank];
  }
  return {attempts / first_tries,
          successes / calls,
          attempts,
          std::chrono::duration<double, std::milli>(queue.now().time_since_epoch()).count(),
          p99,
          hedges};
}

inline row overload(const client_policy& policy, unsigned clients, double p, unsigned capacity,
                    unsigned trials, std::uint64_t seed, const latency_model& latency = {}) {
  row result{capacity > 0 ? "overload_capacity" : "overload", policy.name, clients, p, trials};
  for (unsigned trial = 0; trial < trials; ++trial) {
    const auto outcome = overload_trial(policy, clients, p, capacity, seed + trial * 104729ULL, latency);
    result.amplification += outcome.amplification / trials;
    result.success += outcome.success / trials;
    result.calls += outcome.attempts / trials;
    result.time_ms += outcome.time_ms / trials;
    result.p99_ms += outcome.p99_ms / trials;
    result.hedges += outcome.hedges / trials;
  }
  return result;
}

}  // namespace retry_sim

#endif  // RETRY_SIM_SIM_HPP
