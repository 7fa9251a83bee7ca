#ifndef RETRYHTTP_CLIENT_HPP
#define RETRYHTTP_CLIENT_HPP

// basic_client: composes a Transport, a Backoff, a Clock and an Idempotency policy (and, optionally, an
// Observer) at compile time and drives the retry loop: attempt, classify, decide, wait, repeat. The rules
// live in next_step() (retry_step.hpp) and the per-call state in detail::call_state; this driver only
// sequences them, so the asynchronous driver can reuse both.

#include <retryhttp/backoff.hpp>
#include <retryhttp/budget.hpp>
#include <retryhttp/clock.hpp>
#include <retryhttp/config.hpp>
#include <retryhttp/decision.hpp>
#include <retryhttp/detail/call_state.hpp>
#include <retryhttp/detail/printable.hpp>
#include <retryhttp/detail/retry_after.hpp>
#include <retryhttp/error.hpp>
#include <retryhttp/idempotency.hpp>
#include <retryhttp/idempotency_key.hpp>
#include <retryhttp/observer.hpp>
#include <retryhttp/rate_limiter.hpp>
#include <retryhttp/retry_step.hpp>
#include <retryhttp/send_result.hpp>
#include <retryhttp/transport.hpp>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

namespace retryhttp {

namespace detail {
/// What an AsyncTransport names, checked without Asio; <retryhttp/async.hpp> checks the rest when
/// async_send is used.
template <class T>
concept names_async_transport_types = requires {
  typename T::request_type;
  typename T::response_type;
  typename T::executor_type;
}
&&is_beast_request<typename T::request_type>&& is_beast_response<typename T::response_type>;

/// The asynchronous driver of a client type, defined by <retryhttp/async.hpp>. Declared here so that
/// basic_client::async_send needs no Asio header until it is used.
template <class Client>
struct async_driver {
  static_assert(sizeof(Client) == 0,
                "basic_client::async_send needs #include <retryhttp/async.hpp> and a Transport that models "
                "retryhttp::AsyncTransport");
};
}  // namespace detail

/// Per-call options of basic_client::send and async_send.
struct call_options {
  /// Ends the call at once: before an attempt, during one, or during a wait.
  std::stop_token stop;
  /// The time the whole call may take, on the client's clock; overrides retry_config::deadline.
  std::optional<std::chrono::nanoseconds> deadline;
};

template <class T, class B = exponential_backoff, class C = system_clock, class I = method_idempotency,
          class O = no_observer>
class basic_client {
  static_assert(Transport<T> || detail::names_async_transport_types<T>,
                "basic_client: the Transport parameter must model retryhttp::Transport "
                "(request_type, response_type, attempt(request, attempt_context) -> attempt_outcome) or "
                "retryhttp::AsyncTransport (<retryhttp/async.hpp>)");
  static_assert(Backoff<B>,
                "basic_client: the Backoff parameter must model retryhttp::Backoff (start(base, cap) -> a "
                "movable schedule with next_delay(unsigned) -> std::chrono::nanoseconds)");
  static_assert(
      Clock<C>,
      "basic_client: the Clock parameter must model retryhttp::Clock (now(), sleep_until(t, stop_token) "
      "-> bool)");
  static_assert(Idempotency<I>,
                "basic_client: the Idempotency parameter must model retryhttp::Idempotency "
                "(is_idempotent(request_header) -> bool)");
  static_assert(detail::observer_hook_check<O>::value, "basic_client: see the Observer hook error above");
  static_assert(
      detail::key_for_is_usable<I>,
      "basic_client: the Idempotency policy has a member named key_for, so it hands out keys: key_for "
      "must be callable on a const policy with a const request_header& and return exactly "
      "std::optional<std::string>, and key_header() must be convertible to std::string_view");

 public:
  using transport_type = T;
  using backoff_type = B;
  using clock_type = C;
  using idempotency_type = I;
  using observer_type = O;
  using request_type = typename T::request_type;
  using response_type = typename T::response_type;
  using result_type = send_result<response_type>;

  /// Throws config_error when `config` is out of bounds (see validate()). A config that asks for a retry
  /// budget or a rate limiter gets one of its own; share_budget() and share_rate_limiter() share one between
  /// clients.
  explicit basic_client(retry_config config, T transport, B backoff = B(), C clock = C(), I idempotency = I(),
                        O observer = O())
      : config_(std::move(config)),
        transport_(std::move(transport)),
        backoff_(std::move(backoff)),
        clock_(std::move(clock)),
        idempotency_(std::move(idempotency)),
        observer_(std::move(observer)) {
    validate(config_);
    budget_ = make_retry_budget(config_.budget);
    limiter_ = make_rate_limiter(config_.rate_limit);
  }

  /// The default config with `transport`: `http_client<> client{beast_transport{url}}`.
  explicit basic_client(T transport) : basic_client(retry_config{}, std::move(transport)) {}
  /// `config` (or the default one) with a default-constructed transport. Only for a transport that has a
  /// default constructor, so that std::is_default_constructible and std::optional ask the right question.
  /// (A template, so that an explicit instantiation of basic_client does not instantiate it.)
  template <class Transport = T>
  requires std::default_initializable<Transport>
  explicit basic_client(retry_config config = {}) : basic_client(std::move(config), Transport()) {}

  /// Sends `request`, retrying as the config and policies say, until a response is delivered or the call
  /// fails. Never throws for network or HTTP failures: those are in the result. Exceptions come only from the
  /// policies themselves (bad_alloc, a fake's scripting error).
  result_type send(const request_type& request, std::stop_token stop = {}) {
    return send(request, call_options{std::move(stop), std::nullopt});
  }

  result_type send(const request_type& request, const call_options& options) {
    if constexpr (detail::issues_idempotency_keys<I>) {
      // One key per logical call: the copy carries it on every attempt.
      if (auto key = idempotency_.key_for(request)) {
        request_type keyed = request;
        keyed.set(idempotency_.key_header(), *key);
        return send_prepared(keyed, options);
      }
    }
    return send_prepared(request, options);
  }

  /// Sends `request` asynchronously, retrying as send() does, on the transport's executor, for any Asio
  /// completion token; completes with void(send_result<response_type>). Needs <retryhttp/async.hpp> and a
  /// Transport that models AsyncTransport. `request` must stay valid until the operation completes.
  template <class Token, class Self = basic_client>
  auto async_send(const request_type& request, Token&& token)
      -> decltype(detail::async_driver<Self>::initiate(std::declval<Self&>(), request, call_options{},
                                                       std::forward<Token>(token))) {
    return detail::async_driver<Self>::initiate(*this, request, call_options{}, std::forward<Token>(token));
  }
  template <class Token, class Self = basic_client>
  auto async_send(const request_type& request, call_options options, Token&& token)
      -> decltype(detail::async_driver<Self>::initiate(std::declval<Self&>(), request, std::move(options),
                                                       std::forward<Token>(token))) {
    return detail::async_driver<Self>::initiate(*this, request, std::move(options),
                                                std::forward<Token>(token));
  }

  /// Uses `budget` (or none) from now on; give several clients the same pointer to share it. Not synchronised
  /// with calls in flight: share budgets before the client is used by other threads.
  void share_budget(std::shared_ptr<retry_budget> budget) noexcept { budget_ = std::move(budget); }
  const std::shared_ptr<retry_budget>& budget() const noexcept { return budget_; }

  /// Uses `limiter` (or none) from now on; give the clients of one endpoint the same pointer to share it. The
  /// clients that share one must share a Clock (its readings are the limiter's time). Not synchronised with
  /// calls in flight: share limiters before the client is used by other threads.
  void share_rate_limiter(std::shared_ptr<adaptive_rate_limiter> limiter) noexcept {
    limiter_ = std::move(limiter);
  }
  const std::shared_ptr<adaptive_rate_limiter>& rate_limiter() const noexcept { return limiter_; }

  const retry_config& config() const noexcept { return config_; }
  T& transport() noexcept { return transport_; }
  const T& transport() const noexcept { return transport_; }
  const B& backoff() const noexcept { return backoff_; }
  C& clock() noexcept { return clock_; }
  const C& clock() const noexcept { return clock_; }
  const I& idempotency() const noexcept { return idempotency_; }
  O& observer() noexcept { return observer_; }

 private:
  template <class>
  friend struct detail::async_driver;

  // One result object, filled in place and returned on every path (NRVO): the last attempt's response is
  // constructed inside it and never moved again, so a successful send adds no move of the response (its
  // fields and body) to what the transport did.
  result_type send_prepared(const request_type& request, const call_options& options) {
    result_type result;
    const std::stop_token& stop = options.stop;
    const bool idempotent = static_cast<bool>(idempotency_.is_idempotent(request));
    detail::call_state state(backoff_.start(config_.base_delay, config_.max_delay));
    const unsigned max_attempts = config_.max_retries + 1;
    std::optional<std::chrono::nanoseconds> deadline = options.deadline;
    if (!deadline && config_.deadline.count() > 0) deadline = config_.deadline;
    // The clock is read only when something needs the time: without a deadline or an attempt observer, the
    // success path never calls now() (a mutex on the fake clock, a vDSO call on the real one).
    const auto start = deadline ? clock_.now() : typename C::time_point{};
    auto time_left = [&]() -> std::optional<std::chrono::nanoseconds> {
      if (!deadline) return std::nullopt;
      return *deadline - std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - start);
    };
    if (budget_) budget_->on_call();

    if (const auto reason = before_first_attempt(stop.stop_requested(), time_left())) {
      give_up(result, request, *reason, state, {}, {});
      return result;
    }
    std::string_view previous_endpoint;
    for (;;) {
      // The rate limiter, once a throttle engaged it: a token before each attempt, waited for on the Clock.
      const bool limited = limiter_ && limiter_->engaged();
      if (limited) {
        const auto token = request_token(time_left());
        if (!token.grant) {
          give_up(result, request, error::rate_limited, state, token.grant.wait, token.allowed);
          return result;
        }
        if (token.grant.wait.count() > 0) {
          const bool got =
              clock_.sleep_until(token.now + std::chrono::ceil<typename C::duration>(token.grant.wait), stop);
          if constexpr (detail::observes_call_ends<O>)  // a wait between attempts, as a backoff is
            state.add_wait(std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - token.now));
          if (!got) {
            limiter_->release(clock_reading(clock_.now()));
            give_up(result, request, error::canceled, state, {}, {});
            return result;
          }
          // A wait that overslept the deadline sends nothing: an attempt with no time left can only time out.
          if (const auto left = time_left(); left && left->count() <= 0) {
            limiter_->release(clock_reading(clock_.now()));
            give_up(result, request, error::deadline_exceeded, state, token.grant.wait, token.allowed);
            return result;
          }
        }
      }
      // Each attempt gets the smaller of its own timeout and the time left.
      const auto timeout = attempt_timeout(config_, time_left());
      typename C::time_point attempt_start{};
      if constexpr (detail::observes_attempts<O>) attempt_start = clock_.now();
      const attempt_context context{stop, timeout, state.attempts() + 1, previous_endpoint};
      auto& outcome = result.emplace_outcome([&] { return transport_.attempt(request, context); });
      const observed_outcome observed = outcome.observe();
      previous_endpoint = outcome.endpoint();
      if constexpr (detail::observes_attempts<O>)
        observer_.on_attempt(
            attempt_event{request, state.attempts() + 1, max_attempts, observed,
                          outcome.has_response() ? nullptr : &outcome.failure(),
                          std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - attempt_start),
                          outcome.endpoint()});
      if (limiter_) tell_rate_limiter(outcome, limited);
      const auto step = state.after_attempt(config_, observed, idempotent, retry_after_hint(outcome),
                                            time_left(), budget_.get());
      if (step.verdict.next == action::deliver) {
        deliver(result, request, state);
        return result;
      }
      if (step.verdict.next == action::fail) {
        give_up(result, request, step.verdict.reason, state, step.requested_wait, step.allowed_wait);
        return result;
      }
      // A stop that arrived during the attempt wins over the retry; the wait below also returns false at
      // once.
      if (stop.stop_requested()) {
        give_up(result, request, error::canceled, state, {}, {});
        return result;
      }
      if constexpr (detail::observes_retries<O>)
        observer_.on_retry(retry_event{request, state.attempts() + 1, max_attempts, step.delay, step.source});
      const auto wait_start = clock_.now();
      const bool waited =
          clock_.sleep_until(wait_start + std::chrono::ceil<typename C::duration>(step.delay), stop);
      if constexpr (detail::observes_call_ends<O>)
        state.add_wait(std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - wait_start));
      if (!waited) {
        give_up(result, request, error::canceled, state, {}, {});
        return result;
      }
    }
  }

  // The server's Retry-After, only for a status that is retried (the success path never reads a header). An
  // HTTP-date is measured from the response's own Date when it has one, which makes it immune to clock skew
  // between client and server; else from the Clock's wall time (wall_now() when it has one).
  std::optional<std::chrono::nanoseconds> retry_after_hint(
      const attempt_outcome<response_type>& outcome) const {
    if (!config_.respect_retry_after || !outcome.has_response()) return std::nullopt;
    const auto& response = outcome.response();
    if (!config_.retry_on.contains(response.result_int())) return std::nullopt;
    // One pass over the fields, the first of each kind, as operator[] would give: a response has a handful
    // of fields, and the fields' search tree costs more to compile than this loop costs to run.
    std::string_view value, date;
    bool value_seen = false, date_seen = false;
    for (const auto& field : response.base()) {
      const auto name = field.name();
      const bool is_value = name == boost::beast::http::field::retry_after;
      if (!is_value && name != boost::beast::http::field::date) continue;
      bool& seen = is_value ? value_seen : date_seen;
      if (seen) continue;
      seen = true;
      (is_value ? value : date) = std::string_view(field.value().data(), field.value().size());
    }
    if (value.empty()) return std::nullopt;
    detail::sys_seconds wall;
    if constexpr (requires { clock_.wall_now(); })
      wall = std::chrono::floor<std::chrono::seconds>(clock_.wall_now());
    else
      wall = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    std::optional<detail::sys_seconds> reference;
    if (!date.empty()) reference = detail::parse_http_date(date, wall);
    if (!reference) reference = wall;
    return detail::parse_retry_after(value, *reference);
  }

  // The Clock's reading as the rate limiter's time: a duration since the Clock's epoch.
  static std::chrono::nanoseconds clock_reading(typename C::time_point now) {
    if constexpr (requires { now.time_since_epoch(); })
      return std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
    else
      return std::chrono::duration_cast<std::chrono::nanoseconds>(now - typename C::time_point{});
  }

  struct token_request {
    adaptive_rate_limiter::grant grant;
    std::chrono::nanoseconds allowed;  // the wait limit: none (fail_fast), max_wait, or the time left
    typename C::time_point now;
  };
  // Asks the (engaged) limiter for a token now. A wait must end before the deadline, as a backoff must: one
  // that would not is refused at once, and the call fails with rate_limited rather than after waiting.
  token_request request_token(std::optional<std::chrono::nanoseconds> time_left) {
    const auto& limit = config_.rate_limit;
    auto allowed = adaptive_rate_limiter::no_wait_limit;
    if (limit.fail_fast)
      allowed = std::chrono::nanoseconds(0);
    else if (limit.max_wait.count() > 0)
      allowed = limit.max_wait;
    if (time_left) allowed = std::min(allowed, std::max(*time_left, std::chrono::nanoseconds(0)));
    const auto now = clock_.now();
    return {limiter_->acquire(clock_reading(now), allowed), allowed, now};
  }

  // Tells the limiter about an attempt's outcome: a throttle always (it may engage the limiter), anything
  // else only once it is engaged (`engaged`, as read before the attempt: the success path of a client never
  // throttled reads no clock and takes no lock). Only a 503 has its fields searched, for Retry-After.
  void tell_rate_limiter(const attempt_outcome<response_type>& outcome, bool engaged) {
    bool throttled = false;
    if (outcome.has_response()) {
      const auto& response = outcome.response();
      const unsigned status = response.result_int();
      bool retry_after = false;
      if (status == 503)
        for (const auto& field : response.base())
          if (field.name() == boost::beast::http::field::retry_after) {
            retry_after = true;
            break;
          }
      throttled = limiter_->is_throttle(status, retry_after);
    }
    if (throttled || engaged) limiter_->on_response(throttled, clock_reading(clock_.now()));
  }

  // The two ends of a call, shared by both drivers; `steps` is the call's detail::call_state.
  template <class Steps>
  void give_up(result_type& result, const request_type& request, error reason, const Steps& steps,
               std::chrono::nanoseconds requested_wait, std::chrono::nanoseconds allowed_wait) {
    const unsigned attempts = steps.attempts();
    if constexpr (detail::observes_give_ups<O>)
      observer_.on_give_up(give_up_event{request, reason, attempts, requested_wait, allowed_wait});
    if constexpr (detail::observes_call_ends<O>)
      observer_.on_call_end(call_end_event{request, attempts, false, reason, steps.waited()});
    result.fail(reason, attempts, request_line(request), requested_wait, allowed_wait);
  }
  template <class Steps>
  void deliver(result_type& result, [[maybe_unused]] const request_type& request, const Steps& steps) {
    if constexpr (detail::observes_call_ends<O>)
      observer_.on_call_end(call_end_event{request, steps.attempts(), true, error::canceled, steps.waited()});
    result.deliver(steps.attempts());
  }

  // "METHOD target" for the message of a failed call, made printable: a target the transport refused for a
  // CR or LF must not carry them into a log or onto a terminal.
  static std::string request_line(const request_type& request) {
    const auto method = request.method_string();
    const auto target = request.target();
    std::string line = detail::printable(std::string_view(method.data(), method.size()));
    line += ' ';
    line += detail::printable(std::string_view(target.data(), target.size()), 2048);
    return line;
  }

  retry_config config_;
  [[no_unique_address]] T transport_;
  [[no_unique_address]] B backoff_;
  [[no_unique_address]] C clock_;
  [[no_unique_address]] I idempotency_;
  [[no_unique_address]] O observer_;
  std::shared_ptr<retry_budget> budget_;
  std::shared_ptr<adaptive_rate_limiter> limiter_;
};

}  // namespace retryhttp

#endif  // RETRYHTTP_CLIENT_HPP
