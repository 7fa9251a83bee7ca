#ifndef RETRYHTTP_ASYNC_HPP
#define RETRYHTTP_ASYNC_HPP

// Asynchronous sends: basic_client::async_send for a Transport that models AsyncTransport, on the
// transport's executor, for any Asio completion token (a callback, use_future, use_awaitable, deferred,
// as_tuple). The driver is an async_compose state machine that sequences the same retry step as send()
// (retry_step.hpp, detail::call_state): attempt, step, wait, attempt. Its waits go through the Clock policy's
// async_wait_until, so testing::fake_clock drives them in virtual time (testing/fake_async.hpp).
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

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/consign.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <stop_token>
#include <utility>

namespace retryhttp {

namespace detail {
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
        auto timer = std::make_shared<timer_type>(ex, when);
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

  // What lives for one call. On the heap so that the stop callback and the cancellation handler can refer to
  // it while async_compose moves the operation around.
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
    boost::asio::cancellation_signal inner;  // cancels the attempt or the wait in flight
    std::atomic<bool> canceled{false};

    const request_type& to_send() const { return keyed ? *keyed : *request; }
    std::optional<std::chrono::nanoseconds> time_left() const {
      if (!deadline) return std::nullopt;
      return *deadline - std::chrono::duration_cast<std::chrono::nanoseconds>(client.clock_.now() - start);
    }
    bool stopped() const { return canceled.load(std::memory_order_acquire) || options.stop.stop_requested(); }
  };

  // call_options::stop, from any thread: the cancellation is carried out on the operation's executor.
  struct stop_forwarder {
    std::weak_ptr<call> target;
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

  struct operation {
    std::shared_ptr<call> c;
    std::shared_ptr<std::stop_callback<stop_forwarder>> on_stop;
    bool finished_early = false;

    // The start, and the completion of a post made to end a call before its first attempt.
    template <class Self>
    void operator()(Self& self) {
      if (finished_early) return self.complete(std::move(c->result));
      if (c->options.stop.stop_possible())
        on_stop = std::make_shared<std::stop_callback<stop_forwarder>>(
            c->options.stop, stop_forwarder{c, c->client.transport().get_executor()});
      if (const auto reason = before_first_attempt(c->stopped(), c->time_left())) {
        c->client.give_up(c->result, c->to_send(), *reason, 0, {}, {});
        // Never complete from inside the initiating function: post, then complete.
        finished_early = true;
        return boost::asio::post(c->client.transport().get_executor(), std::move(self));
      }
      attempt(self);
    }

    // An attempt ended.
    template <class Self>
    void operator()(Self& self, attempt_outcome<response_type> outcome) {
      client_type& client = c->client;
      auto& stored = c->result.emplace_outcome([&] { return std::move(outcome); });
      const observed_outcome observed = stored.observe();
      const unsigned max_attempts = client.config_.max_retries + 1;
      if constexpr (detail::observes_attempts<O>)
        client.observer_.on_attempt(attempt_event{
            c->to_send(), c->steps.attempts() + 1, max_attempts, observed,
            stored.has_response() ? nullptr : &stored.failure(),
            std::chrono::duration_cast<std::chrono::nanoseconds>(client.clock_.now() - c->attempt_start)});
      const auto step =
          c->steps.after_attempt(client.config_, observed, c->idempotent, client.retry_after_hint(stored),
                                 c->time_left(), client.budget_.get());
      if (step.verdict.next == action::deliver) {
        c->result.deliver(c->steps.attempts());
        return finish(self);
      }
      if (step.verdict.next == action::fail) {
        client.give_up(c->result, c->to_send(), step.verdict.reason, c->steps.attempts(), step.requested_wait,
                       step.allowed_wait);
        return finish(self);
      }
      if (c->stopped()) {  // a stop during the attempt wins over the retry
        client.give_up(c->result, c->to_send(), error::canceled, c->steps.attempts(), {}, {});
        return finish(self);
      }
      if constexpr (detail::observes_retries<O>)
        client.observer_.on_retry(
            retry_event{c->to_send(), c->steps.attempts() + 1, max_attempts, step.delay, step.source});
      const auto until = client.clock_.now() + std::chrono::ceil<typename C::duration>(step.delay);
      forward_cancellation(self);
      auto slot = c->inner.slot();
      async_wait_until(client.clock_, client.transport().get_executor(), until,
                       boost::asio::bind_cancellation_slot(slot, std::move(self)));
    }

    // A wait ended.
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec) {
      if (ec || c->stopped()) {
        c->client.give_up(c->result, c->to_send(), error::canceled, c->steps.attempts(), {}, {});
        return finish(self);
      }
      attempt(self);
    }

   private:
    // Terminal cancellation of this operation cancels what is in flight inside it. async_compose clears the
    // handler on its slot at every step, so it is installed again before each attempt and each wait.
    template <class Self>
    void forward_cancellation(Self& self) {
      if (auto slot = self.get_cancellation_state().slot(); slot.is_connected()) {
        slot.assign([target = c.get()](boost::asio::cancellation_type type) {
          target->canceled.store(true, std::memory_order_release);
          target->inner.emit(type);
        });
      }
    }

    template <class Self>
    void attempt(Self& self) {
      client_type& client = c->client;
      forward_cancellation(self);
      if constexpr (detail::observes_attempts<O>) c->attempt_start = client.clock_.now();
      const attempt_context context{c->options.stop, attempt_timeout(client.config_, c->time_left()),
                                    c->steps.attempts() + 1};
      // Everything taken from the call before `self` (which owns `c`) is moved into the handler: arguments
      // are evaluated in no fixed order.
      const request_type& request = c->to_send();
      auto slot = c->inner.slot();
      client.transport().async_attempt(request, context,
                                       boost::asio::bind_cancellation_slot(slot, std::move(self)));
    }

    template <class Self>
    void finish(Self& self) {
      on_stop.reset();  // no stop may reach this call once it has completed
      // The call's state is freed before the handler runs, so that a call the handler starts reuses its
      // memory.
      result_type result = std::move(c->result);
      c.reset();
      self.complete(std::move(result));
    }
  };

  template <class Token>
  static auto initiate(client_type& client, const request_type& request, call_options options,
                       Token&& token) {
    auto c = std::allocate_shared<call>(
        boost::asio::recycling_allocator<call>(), client, request, std::move(options),
        client.backoff_.start(client.config_.base_delay, client.config_.max_delay));
    if constexpr (detail::issues_idempotency_keys<I>) {
      if (auto key = client.idempotency_.key_for(request)) {
        c->keyed.emplace(request);
        c->keyed->set(client.idempotency_.key_header(), *key);
      }
    }
    c->idempotent = static_cast<bool>(client.idempotency_.is_idempotent(c->to_send()));
    c->deadline = c->options.deadline;
    if (!c->deadline && client.config_.deadline.count() > 0) c->deadline = client.config_.deadline;
    if (c->deadline) c->start = client.clock_.now();
    if (client.budget_) client.budget_->on_call();
    return boost::asio::async_compose<Token, void(result_type)>(operation{std::move(c), {}, false}, token,
                                                                client.transport().get_executor());
  }
};

}  // namespace detail

}  // namespace retryhttp

#endif  // RETRYHTTP_ASYNC_HPP
