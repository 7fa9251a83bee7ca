#ifndef RETRYHTTP_ASYNC_HPP
#define RETRYHTTP_ASYNC_HPP

// Asynchronous sends: basic_client::async_send for a Transport that models AsyncTransport, on the
// transport's executor, for any Asio completion token (a callback, use_future, use_awaitable, deferred,
// as_tuple). The driver is a hand-written asynchronous operation (docs/design.md says why not async_compose)
// that sequences the same retry step as send() (retry_step.hpp, detail::call_state): attempt, step, wait,
// attempt. Its waits go through the Clock policy's async_wait_until, so testing::fake_clock drives them in
// virtual time (testing/fake_async.hpp).
//
// The completion signature is void(send_result<response_type>): a network or HTTP failure is a result, as
// with send(), never an exception, also for a use_awaitable caller.
//
// Cancellation: the handler's cancellation slot (terminal cancellation) and call_options::stop both end the
// call at once, before the first attempt, during an attempt (the attempt in flight is cancelled through its
// own slot) or during a wait, with error::canceled. As with send(), a stop that arrives while an attempt is
// answered does not turn a final answer into a cancellation.
//
// The request must stay valid until the operation completes (as the buffers of Asio's async_write). The
// client must outlive its operations. Operations of one client may run concurrently on one thread; on a
// multi-threaded io_context give the transport a strand, as for any Asio I/O object.

#include <retryhttp/client.hpp>
#include <retryhttp/detail/operation_memory.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/consign.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <stop_token>
#include <string_view>
#include <type_traits>
#include <utility>

namespace retryhttp {

namespace detail {
/// Whether the calling thread runs `executor`'s work now, so that a step may run inline instead of being
/// dispatched. False when the executor cannot tell (the caller then dispatches).
template <class Executor>
bool running_in_this_thread(const Executor& executor) noexcept {
  if constexpr (requires { executor.running_in_this_thread(); }) {
    return executor.running_in_this_thread();
  } else if constexpr (std::is_same_v<Executor, boost::asio::any_io_executor>) {
    // An io_context's executor, with or without outstanding work tracked (a composed operation's handler
    // executor tracks work), or a strand of either.
    using plain = boost::asio::io_context::basic_executor_type<std::allocator<void>, 0>;
    using tracked = boost::asio::io_context::basic_executor_type<std::allocator<void>, 4>;
    if (const auto* io = executor.template target<plain>()) return io->running_in_this_thread();
    if (const auto* io = executor.template target<tracked>()) return io->running_in_this_thread();
    if (const auto* strand = executor.template target<boost::asio::strand<plain>>())
      return strand->running_in_this_thread();
    if (const auto* strand = executor.template target<boost::asio::strand<tracked>>())
      return strand->running_in_this_thread();
    return false;
  } else {
    return false;
  }
}

/// The simplest completion handler of an attempt: what the AsyncTransport concept checks async_attempt with.
template <class Response>
struct attempt_handler_archetype {
  void operator()(attempt_outcome<Response>) {}
};
}  // namespace detail

/// Performs one attempt asynchronously. See docs/concepts/AsyncTransport.md for the requirements table.
template <class T>
concept AsyncTransport = requires {
  typename T::request_type;
  typename T::response_type;
  typename T::executor_type;
}
&&detail::is_beast_request<typename T::request_type>&&
    detail::is_beast_response<typename T::response_type>&& requires(T& transport,
                                                                    const typename T::request_type& request,
                                                                    const attempt_context& context) {
  { transport.get_executor() } -> std::convertible_to<typename T::executor_type>;
  transport.async_attempt(request, context, detail::attempt_handler_archetype<typename T::response_type>{});
};

/// system_clock's asynchronous wait: a steady_timer on `executor` until `until`, cancelled through the
/// handler's cancellation slot. Completes with void(error_code): operation_aborted when cancelled.
template <class Executor, class Token>
auto async_wait_until(system_clock&, const Executor& executor, system_clock::time_point until,
                      Token&& token) {
  using timer_type =
      boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                        boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      [](auto handler, const Executor& ex, system_clock::time_point when) {
        // The timer lives until the wait completes, in the handler's memory (detail/operation_memory.hpp).
        auto allocator = detail::operation_allocator_for(handler);
        auto timer = std::allocate_shared<timer_type>(
            typename std::allocator_traits<decltype(allocator)>::template rebind_alloc<timer_type>(allocator),
            ex, when);
        timer_type& waiting = *timer;
        waiting.async_wait(boost::asio::consign(std::move(handler), std::move(timer)));
      },
      token, executor, until);
}

namespace detail {

template <class T, class B, class C, class I, class O>
struct async_driver<basic_client<T, B, C, I, O>> {
  using client_type = basic_client<T, B, C, I, O>;
  using request_type = typename client_type::request_type;
  using response_type = typename client_type::response_type;
  using result_type = typename client_type::result_type;
  using schedule_type =
      decltype(std::declval<const B&>().start(std::chrono::nanoseconds{}, std::chrono::nanoseconds{}));
  using executor_type = typename T::executor_type;

  // What lives for one call, whatever its handler. On the heap, so that the stop callback, the cancellation
  // handler and the steps can refer to it.
  struct call {
    call(client_type& c, const request_type& r, call_options o, schedule_type schedule)
        : client(c), request(&r), options(std::move(o)), steps(std::move(schedule)) {}

    client_type& client;
    const request_type* request;
    std::optional<request_type> keyed;  // the request with its idempotency key, when the policy issued one
    call_options options;
    detail::call_state<schedule_type> steps;
    result_type result;
    bool idempotent = false;
    std::optional<std::chrono::nanoseconds> deadline;
    typename C::time_point start{};
    typename C::time_point attempt_start{};
    typename C::time_point wait_start{};
    std::string_view previous_endpoint;      // where the last attempt went (a view the transport keeps)
    boost::asio::cancellation_signal inner;  // cancels the attempt or the wait in flight
    std::atomic<bool> canceled{false};
    bool limited = false;       // the rate limiter was engaged before the attempt in flight
    bool token_waited = false;  // the wait in flight, or just ended, is for the rate limiter's token

    const request_type& to_send() const { return keyed ? *keyed : *request; }
    std::optional<std::chrono::nanoseconds> time_left() const {
      if (!deadline) return std::nullopt;
      return *deadline - std::chrono::duration_cast<std::chrono::nanoseconds>(client.clock_.now() - start);
    }
    bool stopped() const { return canceled.load(std::memory_order_acquire) || options.stop.stop_requested(); }
  };

  // call_options::stop, from any thread: the cancellation is carried out on the operation's executor.
  struct stop_forwarder {
    std::weak_ptr<call> target;  // gone once the call has completed
    executor_type executor;
    void operator()() const {
      boost::asio::post(executor, [target = target] {
        if (const auto c = target.lock()) {
          c->canceled.store(true, std::memory_order_release);
          c->inner.emit(boost::asio::cancellation_type::terminal);
        }
      });
    }
  };

  // One call: a hand-written asynchronous operation. The caller's handler is kept in the call's state, and
  // the attempts and waits get a small handler (step) that points at that state, so that the caller's
  // handler is not moved through the transport's and Asio's layers at every step.
  template <class Handler>
  struct call_with final : call {
    using handler_executor = boost::asio::associated_executor_t<Handler, executor_type>;
    using allocator_type = decltype(operation_allocator_for(std::declval<const Handler&>()));
    using tracked_executor = std::decay_t<decltype(boost::asio::prefer(
        std::declval<handler_executor>(), boost::asio::execution::outstanding_work.tracked))>;

    template <class H>
    call_with(client_type& c, const request_type& r, call_options o, schedule_type schedule, H&& h)
        : call(c, r, std::move(o), std::move(schedule)),
          handler(std::forward<H>(h)),
          work(
              boost::asio::prefer(boost::asio::get_associated_executor(handler, c.transport().get_executor()),
                                  boost::asio::execution::outstanding_work.tracked)) {}

    Handler handler;
    tracked_executor work;                // outstanding work on the handler's executor until completion
    boost::asio::cancellation_slot slot;  // the handler's, while the call runs
    std::optional<std::stop_callback<stop_forwarder>> on_stop;
  };

  // What attempts and waits complete to. Its executor is the transport's (the steps run there), its
  // cancellation slot the call's inner signal.
  template <class Handler>
  struct step {
    std::shared_ptr<call_with<Handler>> c;

    using executor_type = typename async_driver::executor_type;
    executor_type get_executor() const noexcept { return c->client.transport().get_executor(); }
    using allocator_type = typename call_with<Handler>::allocator_type;
    allocator_type get_allocator() const noexcept { return operation_allocator_for(c->handler); }
    using cancellation_slot_type = boost::asio::cancellation_slot;
    cancellation_slot_type get_cancellation_slot() const noexcept { return c->inner.slot(); }

    // An attempt ended.
    template <class Outcome>
    requires std::same_as<std::decay_t<Outcome>, attempt_outcome<response_type>>
    void operator()(Outcome&& outcome) { after_attempt(std::move(c), std::forward<Outcome>(outcome)); }
    // A wait ended.
    void operator()(boost::system::error_code ec) { after_wait(std::move(c), ec); }
  };

  struct initiation {
    client_type* client;

    template <class Handler>
    void operator()(Handler&& handler, const request_type* request, call_options options) const {
      using state = call_with<std::decay_t<Handler>>;
      // The call's state takes the handler's allocator, or the operation cache (detail/operation_memory.hpp).
      auto allocator = operation_allocator_for(handler);
      auto c = std::allocate_shared<state>(
          typename std::allocator_traits<decltype(allocator)>::template rebind_alloc<state>(allocator),
          *client, *request, std::move(options),
          client->backoff_.start(client->config_.base_delay, client->config_.max_delay),
          std::forward<Handler>(handler));
      set_up(*c);
      // Terminal cancellation of the call cancels what is in flight inside it: the attempt or the wait.
      c->slot = boost::asio::get_associated_cancellation_slot(c->handler);
      // Only terminal cancellation is supported: a retry loop cannot stop half-way and keep what it knows.
      // The flag is set at once; the inner signal is emitted on the transport's executor, where the attempt
      // or the wait installs its handlers.
      if (c->slot.is_connected()) {
        c->slot.assign([weak = std::weak_ptr<call>(c), executor = c->client.transport().get_executor()](
                           boost::asio::cancellation_type type) {
          if ((type & boost::asio::cancellation_type::terminal) == boost::asio::cancellation_type::none)
            return;
          if (const auto target = weak.lock()) target->canceled.store(true, std::memory_order_release);
          boost::asio::dispatch(executor, [weak] {
            if (const auto target = weak.lock()) target->inner.emit(boost::asio::cancellation_type::terminal);
          });
        });
      }
      if (c->options.stop.stop_possible())
        c->on_stop.emplace(c->options.stop, stop_forwarder{c, c->client.transport().get_executor()});
      if (const auto reason = before_first_attempt(c->stopped(), c->time_left())) {
        c->client.give_up(c->result, c->to_send(), *reason, c->steps, {}, {});
        return finish(std::move(c), true);  // never complete from inside the initiating function
      }
      attempt(std::move(c), true);
    }
  };

  // `initiating`: called from the initiating function, which must not complete the operation itself.
  template <class Handler>
  static void attempt(std::shared_ptr<call_with<Handler>> c, bool initiating = false) {
    client_type& client = c->client;
    // The rate limiter, once a throttle engaged it: a token before each attempt, waited for on a timer of the
    // transport's executor (the Clock's async_wait_until), cancelled like a backoff wait. After that wait the
    // token is the call's: the attempt goes out without asking again.
    if (c->token_waited) {
      c->token_waited = false;
      // A wait that overslept the deadline sends nothing: an attempt with no time left can only time out.
      if (const auto left = c->time_left(); left && left->count() <= 0) {
        client.limiter_->release(client.clock_reading(client.clock_.now()));
        client.give_up(c->result, c->to_send(), error::deadline_exceeded, c->steps, {}, {});
        return finish(std::move(c));
      }
    } else {
      c->limited = client.limiter_ && client.limiter_->engaged();
      if (c->limited) {
        const auto token = client.request_token(c->time_left());
        if (!token.grant) {
          client.give_up(c->result, c->to_send(), error::rate_limited, c->steps, token.grant.wait,
                         token.allowed);
          return finish(std::move(c), initiating);
        }
        if (token.grant.wait.count() > 0) {
          c->token_waited = true;
          if constexpr (detail::observes_call_ends<O>) c->wait_start = token.now;  // a wait between attempts
          const auto until = token.now + std::chrono::ceil<typename C::duration>(token.grant.wait);
          async_wait_until(client.clock_, client.transport().get_executor(), until,
                           step<Handler>{std::move(c)});
          return;
        }
      }
    }
    if constexpr (detail::observes_attempts<O>) c->attempt_start = client.clock_.now();
    const attempt_context context{c->options.stop, attempt_timeout(client.config_, c->time_left()),
                                  c->steps.attempts() + 1, c->previous_endpoint};
    const request_type& request = c->to_send();
    client.transport().async_attempt(request, context, step<Handler>{std::move(c)});
  }

  template <class Handler>
  static void after_attempt(std::shared_ptr<call_with<Handler>> c, attempt_outcome<response_type>&& outcome) {
    // Asio leaves a completed operation's handler in the slot: what it points at may be gone.
    c->inner.slot().clear();
    client_type& client = c->client;
    auto& stored = c->result.emplace_outcome([&] { return std::move(outcome); });
    const observed_outcome observed = stored.observe();
    c->previous_endpoint = stored.endpoint();
    const unsigned max_attempts = client.config_.max_retries + 1;
    if constexpr (detail::observes_attempts<O>)
      client.observer_.on_attempt(attempt_event{
          c->to_send(), c->steps.attempts() + 1, max_attempts, observed,
          stored.has_response() ? nullptr : &stored.failure(),
          std::chrono::duration_cast<std::chrono::nanoseconds>(client.clock_.now() - c->attempt_start),
          stored.endpoint()});
    if (client.limiter_) client.tell_rate_limiter(stored, c->limited);
    const auto step_taken =
        c->steps.after_attempt(client.config_, observed, c->idempotent, client.retry_after_hint(stored),
                               c->time_left(), client.budget_.get());
    if (step_taken.verdict.next == action::deliver) {
      client.deliver(c->result, c->to_send(), c->steps);
      return finish(std::move(c));
    }
    if (step_taken.verdict.next == action::fail) {
      client.give_up(c->result, c->to_send(), step_taken.verdict.reason, c->steps, step_taken.requested_wait,
                     step_taken.allowed_wait);
      return finish(std::move(c));
    }
    if (c->stopped()) {  // a stop during the attempt wins over the retry
      client.give_up(c->result, c->to_send(), error::canceled, c->steps, {}, {});
      return finish(std::move(c));
    }
    if constexpr (detail::observes_retries<O>)
      client.observer_.on_retry(retry_event{c->to_send(), c->steps.attempts() + 1, max_attempts,
                                            step_taken.delay, step_taken.source});
    const auto now = client.clock_.now();
    if constexpr (detail::observes_call_ends<O>) c->wait_start = now;
    const auto until = now + std::chrono::ceil<typename C::duration>(step_taken.delay);
    async_wait_until(client.clock_, client.transport().get_executor(), until, step<Handler>{std::move(c)});
  }

  template <class Handler>
  static void after_wait(std::shared_ptr<call_with<Handler>> c, boost::system::error_code ec) {
    c->inner.slot().clear();  // the timer is gone: its cancellation handler must not be called
    if constexpr (detail::observes_call_ends<O>)
      c->steps.add_wait(
          std::chrono::duration_cast<std::chrono::nanoseconds>(c->client.clock_.now() - c->wait_start));
    if (ec || c->stopped()) {
      if (c->token_waited) c->client.limiter_->release(c->client.clock_reading(c->client.clock_.now()));
      c->client.give_up(c->result, c->to_send(), error::canceled, c->steps, {}, {});
      return finish(std::move(c));
    }
    attempt(std::move(c));
  }

  // Completes on the handler's associated executor: at once when this thread runs it (the common case),
  // else by dispatching there; `soon`: by posting (the call may still be inside its initiating function).
  // The call's state is freed first, as Asio requires, so that a call the handler starts reuses its memory,
  // and no stop or cancellation can reach it any more.
  template <class Handler>
  static void finish(std::shared_ptr<call_with<Handler>> c, bool soon = false) {
    if (c->slot.is_connected()) c->slot.clear();
    c->on_stop.reset();
    Handler handler(std::move(c->handler));
    auto work = std::move(c->work);
    result_type result = std::move(c->result);
    c.reset();
    if (!soon && running_in_this_thread(work)) return std::move(handler)(std::move(result));
    if (soon) return boost::asio::post(work, boost::asio::append(std::move(handler), std::move(result)));
    boost::asio::dispatch(work, boost::asio::append(std::move(handler), std::move(result)));
  }

  // The idempotency key, the idempotency verdict, the deadline and the budget's count of calls.
  static void set_up(call& c) {
    client_type& client = c.client;
    if constexpr (detail::issues_idempotency_keys<I>) {
      if (auto key = client.idempotency_.key_for(*c.request)) {
        c.keyed.emplace(*c.request);
        c.keyed->set(client.idempotency_.key_header(), *key);
      }
    }
    c.idempotent = static_cast<bool>(client.idempotency_.is_idempotent(c.to_send()));
    c.deadline = c.options.deadline;
    if (!c.deadline && client.config_.deadline.count() > 0) c.deadline = client.config_.deadline;
    if (c.deadline) c.start = client.clock_.now();
    if (client.budget_) client.budget_->on_call();
  }

  template <class Token>
  static auto initiate(client_type& client, const request_type& request, call_options options,
                       Token&& token) {
    return boost::asio::async_initiate<Token, void(result_type)>(initiation{&client}, token, &request,
                                                                 std::move(options));
  }
};

}  // namespace detail

}  // namespace retryhttp

#endif  // RETRYHTTP_ASYNC_HPP
