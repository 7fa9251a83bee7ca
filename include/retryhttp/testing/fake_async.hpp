#ifndef RETRYHTTP_TESTING_FAKE_ASYNC_HPP
#define RETRYHTTP_TESTING_FAKE_ASYNC_HPP

// The fakes for asynchronous sends: waits and attempts that complete in virtual time. A wait on a fake_clock
// (async_wait_until) and an attempt of a fake_async_transport are events on the clock's timeline; when a test
// moves virtual time past them (fake_clock::run_next_event), their handlers are posted to their executors, so
// running the io_context then completes them. Nothing reads the wall clock or sleeps:
//
//   testing::run_until_idle(io, clock);  // io.poll(), then the next event, until nothing is left
//
// Both honour per-operation cancellation through the handler's cancellation slot, at once.

#include <retryhttp/async.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace retryhttp::testing {

namespace detail {
/// A handler waiting for an event on the fake timeline, completed once: by the event, or by a cancellation.
template <class Signature>
class pending_completion;

template <class... Args>
class pending_completion<void(Args...)>
    : public std::enable_shared_from_this<pending_completion<void(Args...)>> {
 public:
  template <class Handler, class Executor>
  pending_completion(Handler&& handler, const Executor& io_executor)
      : executor_(boost::asio::get_associated_executor(handler, io_executor)),
        handler_(std::forward<Handler>(handler)) {}

  /// Posts the handler with `args` to its executor; false when it was completed before.
  bool complete(Args... args) {
    std::optional<boost::asio::any_completion_handler<void(Args...)>> handler;
    {
      std::lock_guard lock(mutex_);
      if (!handler_) return false;
      handler.emplace(std::move(*handler_));
      handler_.reset();
    }
    boost::asio::post(executor_, boost::asio::append(std::move(*handler), std::move(args)...));
    return true;
  }

 private:
  std::mutex mutex_;
  boost::asio::any_io_executor executor_;
  std::optional<boost::asio::any_completion_handler<void(Args...)>> handler_;
};
}  // namespace detail

/// Runs `io` and the clock's virtual time until nothing is left to do: the handlers that are ready, then the
/// next event on the timeline, and again. Returns true once settled, false after `max_rounds` rounds (so a
/// test that never settles fails instead of hanging).
inline bool run_until_idle(boost::asio::io_context& io, fake_clock& clock,
                           std::size_t max_rounds = 1'000'000) {
  for (std::size_t round = 0; round < max_rounds; ++round) {
    io.restart();
    io.poll();
    if (!clock.run_next_event()) {
      io.restart();
      io.poll();
      return true;
    }
  }
  return false;
}

/// fake_clock's asynchronous wait: an event at `until` on the clock's timeline, recorded in waits() as
/// sleep_until's are. Completes with void(error_code): success at `until`, operation_aborted when the
/// handler's cancellation slot fires first (the wait is recorded as interrupted at that virtual instant).
template <class Executor, class Token>
auto async_wait_until(fake_clock& clock, const Executor& executor, fake_clock::time_point until,
                      Token&& token) {
  using signature = void(boost::system::error_code);
  return boost::asio::async_initiate<Token, signature>(
      [clock, executor, until](auto handler) mutable {
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        auto pending = std::make_shared<detail::pending_completion<signature>>(std::move(handler), executor);
        const auto from = clock.now();
        const auto id = clock.at(until, [clock, pending, from, until]() mutable {
          if (pending->complete({})) clock.record_wait({from, until, clock.now(), false});
        });
        if (slot.is_connected()) {
          slot.assign([clock, pending, id, from, until](boost::asio::cancellation_type) mutable {
            if (clock.cancel(id) && pending->complete(boost::asio::error::operation_aborted))
              clock.record_wait({from, until, clock.now(), true});
          });
        }
      },
      token);
}

/// An AsyncTransport that plays a fake_transport's script in virtual time: a step's latency (after()) passes
/// on the fake clock, an attempt timeout ends it as the synchronous fake does (timed_out, ambiguous unless
/// the step is a scripted not_sent failure), a hang() waits for its timeout or a cancellation. Copies share
/// the script and the record; requests(), attempt_count() and attempts() are the fake_transport's.
template <class Executor = boost::asio::any_io_executor>
class fake_async_transport {
 public:
  using request_type = fake_transport::request_type;
  using response_type = fake_transport::response_type;
  using executor_type = Executor;

  fake_async_transport(const executor_type& executor, fake_clock clock)
      : executor_(executor), script_(std::move(clock)) {}

  executor_type get_executor() const noexcept { return executor_; }
  /// The script and the record: then(), script(), otherwise(), requests(), attempt_count(), ...
  fake_transport& script() noexcept { return script_; }
  const fake_transport& script() const noexcept { return script_; }
  fake_clock& clock() noexcept { return script_.clock(); }

  /// The AsyncTransport requirement.
  template <class Token>
  auto async_attempt(const request_type& request, const attempt_context& context, Token&& token) {
    using signature = void(attempt_outcome<response_type>);
    return boost::asio::async_initiate<Token, signature>(
        [this](auto handler, request_type copied_request, attempt_context copied_context) {
          this->start(std::move(handler), std::move(copied_request), std::move(copied_context));
        },
        token, request, context);
  }

 private:
  using pending = detail::pending_completion<void(attempt_outcome<response_type>)>;

  template <class Handler>
  void start(Handler handler, request_type request, attempt_context context) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    auto waiting = std::make_shared<pending>(std::move(handler), executor_);
    fake_clock clock = script_.clock();
    fake_transport script = script_;
    const auto started = clock.now();
    // Ends the attempt once, whichever comes first: its event or a cancellation.
    auto ended = std::make_shared<std::atomic<bool>>(false);
    auto finish = [waiting, script, request, context, started,
                   ended](attempt_outcome<response_type> outcome) mutable {
      if (ended->exchange(true)) return;
      script.record_attempt(request, context, started, outcome);
      waiting->complete(std::move(outcome));
    };
    if (context.stop.stop_requested()) {
      finish(failure(failure_kind::not_sent, boost::system::errc::operation_canceled));
      return;
    }
    const scripted_outcome step = script_.take_next_step();
    // As the synchronous fake: a scripted not_sent failure stays not_sent when cut short; anything else was
    // written, so cutting it short is ambiguous.
    const failure_kind cut_kind =
        step.what() == scripted_outcome::kind::fail ? step.failure() : failure_kind::ambiguous;
    const auto done = step.what() == scripted_outcome::kind::hang ? fake_clock::time_point::max()
                                                                  : started + step.latency();
    const auto deadline = context.timeout ? started + *context.timeout : fake_clock::time_point::max();
    std::optional<std::uint64_t> event;
    if (done <= deadline) {
      if (done != fake_clock::time_point::max())
        event = clock.at(done, [finish, step]() mutable { finish(fake_transport::scripted_result(step)); });
    } else {
      event = clock.at(deadline, [finish, cut_kind]() mutable {
        finish(failure(cut_kind, boost::system::errc::timed_out));
      });
    }
    if (slot.is_connected()) {
      slot.assign([clock, event, finish, cut_kind](boost::asio::cancellation_type) mutable {
        if (!event || clock.cancel(*event))
          finish(failure(cut_kind, boost::system::errc::operation_canceled));
      });
    }
  }

  static attempt_outcome<response_type> failure(failure_kind kind, boost::system::errc::errc_t code) {
    return transport_failure{kind, make_error_code(code), {}};
  }

  executor_type executor_;
  fake_transport script_;
};

}  // namespace retryhttp::testing

#endif  // RETRYHTTP_TESTING_FAKE_ASYNC_HPP
