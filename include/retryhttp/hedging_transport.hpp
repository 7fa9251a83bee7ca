#ifndef RETRYHTTP_HEDGING_TRANSPORT_HPP
#define RETRYHTTP_HEDGING_TRANSPORT_HPP

// hedging_transport: hedged requests as a transport decorator. An attempt starts on the inner AsyncTransport;
// if no answer has come after hedging_options::delay, and the request may be hedged, and the retry budget
// grants it, a second attempt (the hedge) starts, on the same inner transport (another pooled connection) or
// on a second one (another endpoint). The first good answer (a response whose status is not in
// hedging_options::retry_on) is the attempt's outcome; the other attempt is cancelled through its
// cancellation slot (terminal), and the inner transport discards its connection as it does for any cancelled
// attempt. When neither answer is good, a response is preferred to a failure, else the later outcome is
// kept; the client's retry rules then apply to it as to any attempt.
//
// What is never hedged:
// - a method that is not safe (GET, HEAD, OPTIONS, TRACE), unless hedging_options::safe_methods_only is off,
//   and a request the Idempotency policy does not call idempotent (with vmm::orchestrator_idempotency, POST
//   /v1/vms is never hedged, whatever the options);
// - a request that carries the policy's idempotency key (a create made safe to *retry* by a key is not made
//   safe to send twice *at once*: a server may apply both copies before it stores the first answer);
// - an attempt whose timeout is not longer than the delay, or that was stopped.
//
// The budget: a hedge is a second copy of a request, so it costs what a retry costs: retry_budget::
// try_retry() is asked when the delay runs out, and a refusal means no hedge. With one budget shared by the
// client (retry_config::budget) and the decorator, hedges and retries together add a bounded load. A budget
// refuses only while answers fail, though, and a server that is slow on every answer, and answers them all,
// is when hedging would double the load: so the decorator also hedges at most
// hedging_options::max_hedged_fraction of the attempts (10% by default), whatever the budget says.
//
// The completion waits for the cancelled loser (as asio::experimental::parallel_group does), so that nothing
// refers to the request once the handler runs; a terminal cancellation is carried out at once, so this costs
// one turn of the executor. Terminal cancellation of the whole attempt cancels both attempts and the timer.
//
// The synchronous Transport requirement (attempt(), for basic_client::send) is there when the inner
// transport runs on an io_context: the asynchronous attempts run on that io_context, in the calling thread,
// until the outcome is known, so that io_context must be one that nothing else runs (a private one).
// attempt_context::stop, from any thread, cancels both attempts. With a Clock whose time is virtual
// (testing::fake_clock), the loop moves virtual time when nothing is ready, so send() hedges in tests too.

#include <retryhttp/async.hpp>
#include <retryhttp/budget.hpp>
#include <retryhttp/clock.hpp>
#include <retryhttp/config.hpp>
#include <retryhttp/detail/hedge_allowance.hpp>
#include <retryhttp/detail/operation_memory.hpp>
#include <retryhttp/idempotency.hpp>
#include <retryhttp/idempotency_key.hpp>
#include <retryhttp/transport.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/errc.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string_view>
#include <type_traits>
#include <utility>

namespace retryhttp {

struct hedging_options {
  /// How long the first attempt may go unanswered before the hedge starts: about the latency's 95th
  /// percentile, so that about one call in twenty is hedged.
  std::chrono::nanoseconds delay = detail::hedging_defaults::delay;
  /// Statuses that are not a good answer: a response with one of them does not win while the other attempt
  /// is in flight. Give it the client's retry_config::retry_on.
  status_set retry_on{502, 503, 504};
  /// Asked once per hedge (try_retry()); a refusal means no hedge. Share the client's to bound hedges and
  /// retries together. Null: hedges are not limited.
  std::shared_ptr<retry_budget> budget;
  /// Hedge only RFC 9110's safe methods (GET, HEAD, OPTIONS, TRACE), and only those the policy also calls
  /// idempotent. Off, every request the policy calls idempotent may be hedged: a PUT, a DELETE, a start. Two
  /// copies of those in flight race each other (the DELETE that loses answers 404, and that answer may win),
  /// so turn it off only for a server that answers both copies alike.
  bool safe_methods_only = true;
  /// At most this fraction of the attempts that may be hedged is hedged, over time, whatever the budget says:
  /// each such attempt earns this fraction of a hedge and a hedge spends one, with at most hedge_burst saved
  /// up (and that many at the start). A budget refuses only while answers fail, and a server slow on every
  /// answer would otherwise get every request twice. 1: every attempt may be hedged. From 0 to 1 (to a
  /// thousandth), and hedge_burst at least 1, else the constructor throws std::invalid_argument.
  double max_hedged_fraction = detail::hedging_defaults::max_hedged_fraction;
  unsigned hedge_burst = detail::hedging_defaults::hedge_burst;
};

namespace detail {

/// What a hedging_transport counts and its allowance, shared by its copies and with its operations.
struct hedge_counters {
  explicit hedge_counters(const hedging_options& options)
      : allowance(options.max_hedged_fraction, options.hedge_burst) {}
  hedge_allowance allowance;
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::uint64_t> won{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> losers_canceled{0};
};

/// A Clock whose time is virtual and moved by the test (testing::fake_clock).
template <class C>
concept virtual_clock = requires(C& clock) {
  { clock.run_next_event() } -> std::same_as<bool>;
};

template <class Executor>
concept io_context_executor = std::same_as<Executor, boost::asio::io_context::executor_type>;

}  // namespace detail

/// The Idempotency policy hedging_transport uses unless told otherwise: RFC 9110's safe methods only (GET,
/// HEAD, OPTIONS, TRACE). A PUT or a DELETE may be retried, but two copies in flight at once race each other
/// (the DELETE that loses answers 404, and that 404 may be the one that wins).
class safe_method_idempotency : public method_idempotency {
 public:
  safe_method_idempotency() noexcept
      : method_idempotency({boost::beast::http::verb::get, boost::beast::http::verb::head,
                            boost::beast::http::verb::options, boost::beast::http::verb::trace}) {}
};

template <class T, class I = safe_method_idempotency, class C = system_clock>
class hedging_transport {
  static_assert(AsyncTransport<T>,
                "hedging_transport: the inner transport must model retryhttp::AsyncTransport");
  static_assert(Idempotency<I>, "hedging_transport: the policy must model retryhttp::Idempotency");
  static_assert(Clock<C>, "hedging_transport: the clock must model retryhttp::Clock");

 public:
  using request_type = typename T::request_type;
  using response_type = typename T::response_type;
  using executor_type = typename T::executor_type;
  using outcome_type = attempt_outcome<response_type>;
  using idempotency_type = I;
  using clock_type = C;

  /// Both attempts on `inner` (a pooled transport opens another connection for the hedge).
  explicit hedging_transport(T inner, hedging_options options = {}, I idempotency = {}, C clock = {})
      : primary_(std::move(inner)),
        options_(std::move(options)),
        idempotency_(std::move(idempotency)),
        clock_(std::move(clock)) {}

  /// The first attempt on `primary`, the hedge on `hedge` (another endpoint of the same service). Both run on
  /// executors of the same type; the steps run on the primary's.
  hedging_transport(T primary, T hedge, hedging_options options = {}, I idempotency = {}, C clock = {})
      : primary_(std::move(primary)),
        hedge_(std::make_unique<T>(std::move(hedge))),
        options_(std::move(options)),
        idempotency_(std::move(idempotency)),
        clock_(std::move(clock)) {}

  executor_type get_executor() const noexcept { return primary_.get_executor(); }

  /// The AsyncTransport requirement: one attempt, hedged when allowed. Completes with the winner's outcome.
  template <class Token>
  auto async_attempt(const request_type& request, const attempt_context& context, Token&& token) {
    return boost::asio::async_initiate<Token, void(outcome_type)>(initiation{this}, token, &request, context);
  }

  /// The Transport requirement, when the inner transport runs on an io_context: runs the asynchronous attempt
  /// on it, in the calling thread, until it completes. Nothing else may run that io_context meanwhile.
  outcome_type attempt(const request_type& request,
                       const attempt_context& context) requires detail::io_context_executor<executor_type> {
    namespace asio = boost::asio;
    asio::io_context& io = asio::query(get_executor(), asio::execution::context);
    // Shared with the stop callback's posted emission, which may run after this attempt is over (on an empty
    // slot: nothing happens).
    auto stop = std::make_shared<asio::cancellation_signal>();
    // Shared with the handler too: an attempt left pending by a broken inner transport must not write into
    // this frame once it has returned.
    auto result = std::make_shared<std::optional<outcome_type>>();
    async_attempt(request, context,
                  asio::bind_cancellation_slot(
                      stop->slot(), [result](outcome_type outcome) { result->emplace(std::move(outcome)); }));
    auto forward_stop = [&io, stop] {
      asio::post(io, [stop] { stop->emit(asio::cancellation_type::terminal); });
    };
    std::optional<std::stop_callback<decltype(forward_stop)>> on_stop;
    if (context.stop.stop_possible()) on_stop.emplace(context.stop, std::move(forward_stop));
    while (!*result) {
      io.restart();
      if constexpr (detail::virtual_clock<C>) {
        // The operation holds work on the io_context, so run_one() would block: what is ready, else the next
        // event of the virtual timeline.
        if (io.poll_one() == 0 && !clock_.run_next_event()) break;
      } else {
        if (io.run_one() == 0) break;
      }
    }
    if (!*result) {
      // The inner transport left its handler pending with nothing to wake it: a broken transport. Cancel
      // what is in flight (no hedge starts after this, so the request is not read again) and run what that
      // makes ready.
      stop->emit(asio::cancellation_type::terminal);
      io.restart();
      io.poll();
      if (!*result)
        return transport_failure{failure_kind::ambiguous,
                                 make_error_code(boost::system::errc::operation_canceled),
                                 "the hedged attempt never completed"};
    }
    return std::move(**result);
  }

  /// Whether `request` may be hedged: the policy calls it idempotent and it carries no idempotency key.
  bool may_hedge(const request_header& request) const {
    if (options_.safe_methods_only) {
      using boost::beast::http::verb;
      const verb method = request.method();
      if (method != verb::get && method != verb::head && method != verb::options && method != verb::trace)
        return false;
    }
    if constexpr (detail::issues_idempotency_keys<I>) {
      if (request.find(idempotency_.key_header()) != request.end()) return false;
    }
    return static_cast<bool>(idempotency_.is_idempotent(request));
  }

  /// Hedges started (each granted by the allowance and the budget), hedges whose answer won, hedges the
  /// allowance or the budget refused, and attempts cancelled because the other one answered first. Atomic:
  /// readable from any thread.
  std::uint64_t hedges_started() const noexcept { return counters_->started.load(std::memory_order_relaxed); }
  std::uint64_t hedges_won() const noexcept { return counters_->won.load(std::memory_order_relaxed); }
  std::uint64_t hedges_refused() const noexcept { return counters_->refused.load(std::memory_order_relaxed); }
  std::uint64_t losers_canceled() const noexcept {
    return counters_->losers_canceled.load(std::memory_order_relaxed);
  }

  T& primary() noexcept { return primary_; }
  const T& primary() const noexcept { return primary_; }
  /// Where hedges go: the second transport, or the primary when there is none.
  T& hedge_target() noexcept { return hedge_ ? *hedge_ : primary_; }
  const hedging_options& options() const noexcept { return options_; }
  const I& idempotency() const noexcept { return idempotency_; }

 private:
  static constexpr std::size_t first = 0;
  static constexpr std::size_t second = 1;
  static constexpr std::size_t timer = 2;

  // What lives for one hedged attempt, whatever its handler.
  struct operation {
    operation(hedging_transport& o, const request_type& r, const attempt_context& c)
        : owner(o),
          request(&r),
          context(c),
          strand(boost::asio::make_strand(o.get_executor())),
          started(o.clock_.now()) {}

    hedging_transport& owner;
    const request_type* request;
    attempt_context context;
    boost::asio::cancellation_signal signals[3];  // the first attempt, the hedge, the timer
    bool running[3] = {false, false, false};
    unsigned pending = 0;
    bool decided = false;   // the outcome is known; what is still running is being cancelled
    bool canceled = false;  // the whole attempt was cancelled: no hedge starts
    bool emitting = false;  // cancelling: a completion inside the emission must not complete the operation
    bool finished = false;
    std::optional<outcome_type> outcome;
    // The two attempts and the timer complete here, one at a time, even on an io_context that several
    // threads run: the state above is not synchronised otherwise.
    boost::asio::strand<executor_type> strand;
    typename C::time_point started;  // the first attempt's start, for what the hedge has left of the timeout

    bool good(const outcome_type& candidate) const {
      return candidate.has_response() && !owner.options_.retry_on.contains(candidate.response().result_int());
    }
    // A response is better than a failure; between equals, the later one.
    void keep(outcome_type&& candidate) {
      if (!outcome || !outcome->has_response() || candidate.has_response())
        outcome.emplace(std::move(candidate));
    }
    // The caller completes the operation afterwards if nothing is pending any more: a cancellation handler
    // may complete its operation inline (async_beast_transport's dispatches to the executor we run on).
    void cancel_running() {
      emitting = true;
      for (std::size_t i = 0; i < 3; ++i) {
        if (!running[i]) continue;
        if (i != timer && !canceled) owner.counters_->losers_canceled.fetch_add(1, std::memory_order_relaxed);
        signals[i].emit(boost::asio::cancellation_type::terminal);
      }
      emitting = false;
    }
  };

  template <class Handler>
  struct operation_with final : operation {
    using handler_executor = boost::asio::associated_executor_t<Handler, executor_type>;
    using allocator_type = decltype(detail::operation_allocator_for(std::declval<const Handler&>()));
    using tracked_executor = std::decay_t<decltype(boost::asio::prefer(
        std::declval<handler_executor>(), boost::asio::execution::outstanding_work.tracked))>;

    template <class H>
    operation_with(hedging_transport& o, const request_type& r, const attempt_context& c, H&& h)
        : operation(o, r, c),
          handler(std::forward<H>(h)),
          work(boost::asio::prefer(boost::asio::get_associated_executor(handler, o.get_executor()),
                                   boost::asio::execution::outstanding_work.tracked)) {}

    Handler handler;
    tracked_executor work;
    boost::asio::cancellation_slot slot;  // the handler's, while the operation runs
  };

  // What the two attempts and the timer complete to: the operation's state and which of the three it is.
  // Its executor is the transport's, its allocator the handler's, its cancellation slot its own signal's.
  template <class Handler>
  struct step {
    std::shared_ptr<operation_with<Handler>> op;
    std::size_t which;

    using executor_type = boost::asio::strand<typename hedging_transport::executor_type>;
    executor_type get_executor() const noexcept { return op->strand; }
    using allocator_type = typename operation_with<Handler>::allocator_type;
    allocator_type get_allocator() const noexcept { return detail::operation_allocator_for(op->handler); }
    using cancellation_slot_type = boost::asio::cancellation_slot;
    cancellation_slot_type get_cancellation_slot() const noexcept { return op->signals[which].slot(); }

    template <class Outcome>
    requires std::same_as<std::decay_t<Outcome>, outcome_type>
    void operator()(Outcome&& result) {
      after_attempt(std::move(op), which, outcome_type(std::forward<Outcome>(result)));
    }
    void operator()(boost::system::error_code ec) { after_delay(std::move(op), ec); }
  };

  struct initiation {
    hedging_transport* owner;

    template <class Handler>
    void operator()(Handler&& handler, const request_type* request, const attempt_context& context) const {
      using state = operation_with<std::decay_t<Handler>>;
      auto allocator = detail::operation_allocator_for(handler);
      auto op = std::allocate_shared<state>(
          typename std::allocator_traits<decltype(allocator)>::template rebind_alloc<state>(allocator),
          *owner, *request, context, std::forward<Handler>(handler));
      op->slot = boost::asio::get_associated_cancellation_slot(op->handler);
      if (op->slot.is_connected()) {
        // Terminal cancellation of the attempt cancels both attempts and the timer, on the transport's
        // executor, where they installed their handlers.
        op->slot.assign(
            [weak = std::weak_ptr<state>(op), executor = op->strand](boost::asio::cancellation_type type) {
              if ((type & boost::asio::cancellation_type::terminal) == boost::asio::cancellation_type::none)
                return;
              boost::asio::dispatch(executor, [weak] {
                if (auto target = weak.lock()) {
                  target->canceled = true;
                  target->cancel_running();
                  // Posted: this runs inside the canceller's emission, which must not see its handler run.
                  if (target->pending == 0) finish(std::move(target), true);
                }
              });
            });
      }
      const bool hedge = owner->may_hedge(*request) && !context.stop.stop_requested()
                         && (!context.timeout || *context.timeout > owner->options_.delay);
      if (hedge) owner->counters_->allowance.on_attempt();
      op->running[first] = true;
      op->running[timer] = hedge;
      op->pending = hedge ? 2 : 1;
      owner->primary_.async_attempt(*request, context, step<std::decay_t<Handler>>{op, first});
      if (hedge) {
        const auto until =
            owner->clock_.now() + std::chrono::ceil<typename C::duration>(owner->options_.delay);
        async_wait_until(owner->clock_, owner->get_executor(), until, step<std::decay_t<Handler>>{op, timer});
      }
    }
  };

  template <class Handler>
  static void after_attempt(std::shared_ptr<operation_with<Handler>> op, std::size_t which,
                            outcome_type result) {
    op->signals[which].slot().clear();  // the attempt is over: its cancellation handler must not be called
    op->running[which] = false;
    --op->pending;
    if (result.endpoint().empty()) result.set_endpoint(which == first ? "primary" : "hedge");
    if (!op->decided) {
      const std::size_t other = which == first ? second : first;
      if (op->good(result)) {
        op->decided = true;
        if (which == second) op->owner.counters_->won.fetch_add(1, std::memory_order_relaxed);
        op->outcome.emplace(std::move(result));
      } else {
        op->keep(std::move(result));
        // Decided unless the other attempt is in flight: the first attempt's failure before the delay is the
        // outcome (the client's backoff and retry rules apply), not a reason to hedge at once.
        op->decided = !op->running[other];
      }
      if (op->decided) op->cancel_running();
    }
    if (op->pending == 0) finish(std::move(op));
  }

  template <class Handler>
  static void after_delay(std::shared_ptr<operation_with<Handler>> op, boost::system::error_code ec) {
    op->signals[timer].slot().clear();
    op->running[timer] = false;
    --op->pending;
    if (!ec && !op->decided && !op->canceled && !op->context.stop.stop_requested()) {
      hedging_transport& owner = op->owner;
      attempt_context context = op->context;
      if (context.timeout)  // the attempt as a whole keeps its timeout, however late the timer fired
        *context.timeout -=
            std::chrono::duration_cast<std::chrono::nanoseconds>(owner.clock_.now() - op->started);
      const auto& budget = owner.options_.budget;
      if (context.timeout && context.timeout->count() <= 0) {
        // Nothing left for a hedge: the first attempt's own timeout ends the attempt.
      } else if (!owner.counters_->allowance.try_take()) {
        owner.counters_->refused.fetch_add(1, std::memory_order_relaxed);
      } else if (budget && !budget->try_retry()) {
        owner.counters_->allowance.refund();
        owner.counters_->refused.fetch_add(1, std::memory_order_relaxed);
      } else {
        owner.counters_->started.fetch_add(1, std::memory_order_relaxed);
        op->running[second] = true;
        ++op->pending;
        const request_type& request = *op->request;
        owner.hedge_target().async_attempt(request, context, step<Handler>{std::move(op), second});
        return;
      }
    }
    if (op->pending == 0) finish(std::move(op));
  }

  // Completes on the handler's associated executor: at once when this thread runs it, else by dispatching
  // there. Never from the initiating function: only an attempt's or the timer's completion gets here. The
  // state is freed first, as Asio requires.
  template <class Handler>
  static void finish(std::shared_ptr<operation_with<Handler>> op, bool soon = false) {
    if (op->finished || op->emitting) return;  // completed already, or the canceller completes it
    op->finished = true;
    if (op->slot.is_connected()) op->slot.clear();
    Handler handler(std::move(op->handler));
    auto work = std::move(op->work);
    outcome_type result = std::move(*op->outcome);
    op.reset();
    if (soon) return boost::asio::post(work, boost::asio::append(std::move(handler), std::move(result)));
    if (detail::running_in_this_thread(work)) return std::move(handler)(std::move(result));
    boost::asio::dispatch(work, boost::asio::append(std::move(handler), std::move(result)));
  }

  T primary_;
  std::unique_ptr<T>
      hedge_;  // null: hedges go to the primary (a unique_ptr: GCC 12 misreads an optional one)
  hedging_options options_;
  I idempotency_;
  C clock_;
  std::shared_ptr<detail::hedge_counters> counters_ = std::make_shared<detail::hedge_counters>(options_);
};

}  // namespace retryhttp

#endif  // RETRYHTTP_HEDGING_TRANSPORT_HPP
