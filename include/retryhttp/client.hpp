#ifndef RETRYHTTP_CLIENT_HPP
#define RETRYHTTP_CLIENT_HPP

// basic_client: composes a Transport, a Backoff, a Clock and an Idempotency policy at compile time and drives
// the retry loop: attempt, classify, decide, wait, repeat. The rules live in decide() (decision.hpp) and the
// per-call state in detail::call_state; this driver only sequences them, so async_send can reuse both.

#include <retryhttp/backoff.hpp>
#include <retryhttp/clock.hpp>
#include <retryhttp/config.hpp>
#include <retryhttp/decision.hpp>
#include <retryhttp/detail/call_state.hpp>
#include <retryhttp/error.hpp>
#include <retryhttp/idempotency.hpp>
#include <retryhttp/send_result.hpp>
#include <retryhttp/transport.hpp>

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>

namespace retryhttp {

template <class T, class B = exponential_backoff, class C = system_clock, class I = method_idempotency>
class basic_client {
  static_assert(Transport<T>,
                "basic_client: the Transport parameter must model retryhttp::Transport "
                "(request_type, response_type, attempt(request, attempt_context) -> attempt_outcome)");
  static_assert(
      Backoff<B>,
      "basic_client: the Backoff parameter must model retryhttp::Backoff (start(base, cap) -> a schedule "
      "with next_delay(unsigned) -> std::chrono::nanoseconds)");
  static_assert(
      Clock<C>,
      "basic_client: the Clock parameter must model retryhttp::Clock (now(), sleep_until(t, stop_token) "
      "-> bool)");
  static_assert(Idempotency<I>,
                "basic_client: the Idempotency parameter must model retryhttp::Idempotency "
                "(is_idempotent(request_header) -> bool)");

 public:
  using transport_type = T;
  using backoff_type = B;
  using clock_type = C;
  using idempotency_type = I;
  using request_type = typename T::request_type;
  using response_type = typename T::response_type;
  using result_type = send_result<response_type>;

  /// Throws config_error when `config` is out of bounds (see validate()).
  explicit basic_client(retry_config config = {}, T transport = T(), B backoff = B(), C clock = C(),
                        I idempotency = I())
      : config_(std::move(config)),
        transport_(std::move(transport)),
        backoff_(std::move(backoff)),
        clock_(std::move(clock)),
        idempotency_(std::move(idempotency)) {
    validate(config_);
  }

  /// Sends `request`, retrying as the config and policies say, until a response is delivered or the call
  /// fails. `stop` ends the call at once: before an attempt, during one (if the Transport supports it) and
  /// during a wait. Never throws for network or HTTP failures: those are in the result. Exceptions come only
  /// from the policies themselves (bad_alloc, a fake's scripting error).
  result_type send(const request_type& request, std::stop_token stop = {}) {
    const bool idempotent = static_cast<bool>(idempotency_.is_idempotent(request));
    detail::call_state state(backoff_.start(config_.base_delay, config_.max_delay));
    std::optional<std::chrono::nanoseconds> timeout;
    if (config_.attempt_timeout.count() > 0) timeout = config_.attempt_timeout;

    if (stop.stop_requested()) return result_type::canceled_before_first_attempt(request_line(request));
    for (;;) {
      auto outcome = transport_.attempt(request, attempt_context{stop, timeout, state.attempts() + 1});
      const auto step = state.after_attempt(config_, outcome.observe(), idempotent);
      switch (step.verdict.next) {
        case action::deliver:
          return result_type::delivered(std::move(outcome).response(), state.attempts());
        case action::fail:
          return result_type::failed(step.verdict.reason, state.attempts(), std::move(outcome),
                                     request_line(request));
        case action::retry:
          break;
      }
      // A stop that arrived during the attempt wins over the retry; the wait below also returns false at
      // once.
      const auto until = clock_.now() + std::chrono::ceil<typename C::duration>(step.delay);
      if (stop.stop_requested() || !clock_.sleep_until(until, stop))
        return result_type::failed(error::canceled, state.attempts(), std::move(outcome),
                                   request_line(request));
    }
  }

  const retry_config& config() const noexcept { return config_; }
  T& transport() noexcept { return transport_; }
  const T& transport() const noexcept { return transport_; }
  const B& backoff() const noexcept { return backoff_; }
  C& clock() noexcept { return clock_; }
  const C& clock() const noexcept { return clock_; }
  const I& idempotency() const noexcept { return idempotency_; }

 private:
  static std::string request_line(const request_type& request) {
    const auto method = request.method_string();
    const auto target = request.target();
    std::string line(method.data(), method.size());
    line += ' ';
    line.append(target.data(), target.size());
    return line;
  }

  retry_config config_;
  [[no_unique_address]] T transport_;
  [[no_unique_address]] B backoff_;
  [[no_unique_address]] C clock_;
  [[no_unique_address]] I idempotency_;
};

}  // namespace retryhttp

#endif  // RETRYHTTP_CLIENT_HPP
