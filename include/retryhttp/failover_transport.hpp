#ifndef RETRYHTTP_FAILOVER_TRANSPORT_HPP
#define RETRYHTTP_FAILOVER_TRANSPORT_HPP

// failover_transport: several endpoints (replicas of one service) as one Transport. It holds one Transport
// per endpoint, each with its own connections, and picks the endpoint of each attempt:
//
// - The first attempt of a call goes to the first endpoint in the list that is not cooling down: the list's
//   order is the order of preference (a primary, then its standbys).
// - A retry goes to the endpoint after the previous attempt's (attempt_context::previous_endpoint), skipping
//   those cooling down. A retry happens only after a failure or a retried status, so the endpoint it leaves
//   has just failed: it cools down. This is Envoy's "previous hosts" retry predicate, and a light form of
//   its outlier ejection.
// - An endpoint cools down for failover_options::cool_down after a transport failure (or after an answer the
//   client retried): calls made meanwhile pass it over, so that they do not each pay a connect time-out to
//   learn it is down. When every endpoint is cooling down, the one that cools down first is used.
//
// The retry rules are the client's and do not change: a request that may not be idempotent is never sent
// again after an ambiguous failure, to this endpoint or to any other.
//
// The outcome of each attempt names the endpoint it went to (attempt_outcome::endpoint()), which the client
// passes to its Observer (attempt_event::endpoint) and back here with the next attempt. Works with
// asynchronous transports too: async_attempt forwards to the chosen endpoint's transport, keeping the
// handler's executor, allocator and cancellation slot.

#include <retryhttp/clock.hpp>
#include <retryhttp/transport.hpp>

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace retryhttp {

struct failover_options {
  /// How long an endpoint that just failed is passed over. [endpoint_cool_down_ms]
  std::chrono::milliseconds cool_down{5000};
};

namespace detail {

/// A transport that can say where it connects (the Beast transports: endpoint().name()).
template <class T>
concept names_its_endpoint = requires(const T& transport) {
  { transport.endpoint().name() } -> std::convertible_to<std::string>;
};

template <class T>
concept runs_on_an_executor = requires(T& transport) {
  typename T::executor_type;
  transport.get_executor();
};

template <class T>
struct failover_executor {};
template <runs_on_an_executor T>
struct failover_executor<T> {
  using executor_type = typename T::executor_type;
};

/// What failover_transport's endpoints share with its asynchronous operations: names and cool-downs.
template <class C>
class endpoint_rotation {
 public:
  endpoint_rotation(std::vector<std::string> names, failover_options options, C clock)
      : names_(std::move(names)),
        cooling_until_(std::make_unique<std::atomic<std::int64_t>[]>(names_.size())),
        options_(options),
        clock_(std::move(clock)) {
    for (std::size_t i = 0; i < names_.size(); ++i) cooling_until_[i].store(0, std::memory_order_relaxed);
  }

  std::size_t size() const noexcept { return names_.size(); }
  const std::string& name(std::size_t index) const noexcept { return names_[index]; }

  /// The endpoint of the next attempt of a call whose previous attempt went to `previous` (empty for a
  /// first attempt). The previous endpoint starts cooling down.
  std::size_t choose(std::string_view previous) {
    if (names_.size() == 1) return 0;
    std::size_t start = 0;
    const std::int64_t now = now_ns();
    if (const auto left = index_of(previous); left < names_.size()) {
      cool(left, now);
      start = (left + 1) % names_.size();
    }
    std::size_t soonest = start;
    for (std::size_t step = 0; step < names_.size(); ++step) {
      const std::size_t candidate = (start + step) % names_.size();
      const auto until = cooling_until_[candidate].load(std::memory_order_relaxed);
      if (until <= now) return candidate;
      if (until < cooling_until_[soonest].load(std::memory_order_relaxed)) soonest = candidate;
    }
    return soonest;
  }

  /// After an attempt at `index`: a transport failure (other than a cancellation) starts its cool-down.
  template <class Response>
  void after(std::size_t index, attempt_outcome<Response>& outcome) {
    if (!outcome.has_response() && outcome.failure().code != boost::system::errc::operation_canceled
        && names_.size() > 1)
      cool(index, now_ns());
    outcome.set_endpoint(names_[index]);
  }

  /// Whether `index` is cooling down now.
  bool cooling(std::size_t index) const {
    return cooling_until_[index].load(std::memory_order_relaxed) > now_ns();
  }

 private:
  std::size_t index_of(std::string_view name) const noexcept {
    if (name.empty()) return names_.size();
    // The outcome's name is a view of one of ours: the address tells, even when two names are equal.
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (name.data() == names_[i].data()) return i;
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (name == names_[i]) return i;
    return names_.size();
  }

  std::int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now().time_since_epoch()).count();
  }

  void cool(std::size_t index, std::int64_t now) {
    cooling_until_[index].store(now + std::chrono::nanoseconds(options_.cool_down).count(),
                                std::memory_order_relaxed);
  }

  std::vector<std::string> names_;
  std::unique_ptr<std::atomic<std::int64_t>[]> cooling_until_;
  failover_options options_;
  mutable C clock_;
};

/// The handler an endpoint's asynchronous attempt completes to: records the outcome, names its endpoint, and
/// passes it on. Its executor, allocator and cancellation slot are its inner handler's (the associator
/// below).
template <class Handler, class Rotation>
struct failover_completion {
  Handler handler;
  std::shared_ptr<Rotation> rotation;
  std::size_t index;

  template <class Outcome>
  void operator()(Outcome&& outcome) {
    rotation->after(index, outcome);
    std::move(handler)(std::forward<Outcome>(outcome));
  }
};

}  // namespace detail

template <class T, class C = system_clock>
class failover_transport : public detail::failover_executor<T> {
  static_assert(Clock<C>, "failover_transport: the clock must model retryhttp::Clock");

 public:
  using request_type = typename T::request_type;
  using response_type = typename T::response_type;

  /// One transport per endpoint, in order of preference. Throws std::invalid_argument for an empty list.
  explicit failover_transport(std::vector<T> transports, failover_options options = {}, C clock = {})
      : transports_(checked(std::move(transports))),
        rotation_(std::make_shared<detail::endpoint_rotation<C>>(names_of(transports_), options,
                                                                 std::move(clock))) {}

  /// The Transport requirement: one attempt, at the endpoint chosen for it.
  attempt_outcome<response_type> attempt(const request_type& request,
                                         const attempt_context& context) requires Transport<T> {
    const std::size_t index = rotation_->choose(context.previous_endpoint);
    attempt_outcome<response_type> outcome = transports_[index].attempt(request, context);
    rotation_->after(index, outcome);
    return outcome;
  }

  /// The AsyncTransport requirement, when the endpoints' transports are asynchronous.
  template <class Token>
  requires detail::runs_on_an_executor<T>
  auto async_attempt(const request_type& request, const attempt_context& context, Token&& token) {
    const std::size_t index = rotation_->choose(context.previous_endpoint);
    return boost::asio::async_initiate<Token, void(attempt_outcome<response_type>)>(
        [](auto handler, T* transport, const request_type* to_send, const attempt_context& ctx,
           std::shared_ptr<detail::endpoint_rotation<C>> rotation, std::size_t chosen) {
          using completion = detail::failover_completion<decltype(handler), detail::endpoint_rotation<C>>;
          transport->async_attempt(*to_send, ctx,
                                   completion{std::move(handler), std::move(rotation), chosen});
        },
        token, &transports_[index], &request, context, rotation_, index);
  }

  auto get_executor() const noexcept requires detail::runs_on_an_executor<T> {
    return transports_.front().get_executor();
  }

  std::size_t size() const noexcept { return transports_.size(); }
  T& endpoint_transport(std::size_t index) noexcept { return transports_[index]; }
  const T& endpoint_transport(std::size_t index) const noexcept { return transports_[index]; }
  /// What outcomes call endpoint `index`: its transport's endpoint().name(), else "endpoint N" (1-based).
  const std::string& endpoint_name(std::size_t index) const noexcept { return rotation_->name(index); }
  /// Whether endpoint `index` is cooling down now (passed over by the next call's first attempt).
  bool cooling_down(std::size_t index) const { return rotation_->cooling(index); }

 private:
  static std::vector<T> checked(std::vector<T> transports) {
    if (transports.empty()) throw std::invalid_argument("failover_transport needs at least one endpoint");
    return transports;
  }

  static std::vector<std::string> names_of(const std::vector<T>& transports) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < transports.size(); ++i) {
      if constexpr (detail::names_its_endpoint<T>)
        names.emplace_back(transports[i].endpoint().name());
      else
        names.emplace_back("endpoint " + std::to_string(i + 1));
    }
    return names;
  }

  std::vector<T> transports_;
  std::shared_ptr<detail::endpoint_rotation<C>> rotation_;
};

}  // namespace retryhttp

/// failover_completion has its inner handler's associated executor, allocator and cancellation slot.
template <template <class, class> class Associator, class Handler, class Rotation, class DefaultCandidate>
struct boost::asio::associator<Associator, retryhttp::detail::failover_completion<Handler, Rotation>,
                               DefaultCandidate> : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const retryhttp::detail::failover_completion<Handler, Rotation>& completion) noexcept {
    return Associator<Handler, DefaultCandidate>::get(completion.handler);
  }
  static auto get(const retryhttp::detail::failover_completion<Handler, Rotation>& completion,
                  const DefaultCandidate& candidate) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(completion.handler, candidate)) {
    return Associator<Handler, DefaultCandidate>::get(completion.handler, candidate);
  }
};

#endif  // RETRYHTTP_FAILOVER_TRANSPORT_HPP
