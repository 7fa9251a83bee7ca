#ifndef VMM_ASYNC_HOST_CLIENT_HPP
#define VMM_ASYNC_HOST_CLIENT_HPP

// The asynchronous calls of vmm::host_client (async_list_vms, async_get_vm, async_create_vm, ...): each runs
// the same plan as its synchronous twin (the request, how its answer is read, create's rules) through the
// client's async_send, and completes with void(call_result<T>). An async_compose operation, so the handler's
// executor and cancellation slot reach async_send. A call refused before anything is sent (an invalid name or
// key) completes through a post, never inside the initiating call.

#include <retryhttp/async.hpp>
#include <vmm/host_client.hpp>

#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>

#include <memory>
#include <utility>

namespace vmm::detail {

template <class Client>
struct async_host_driver<host_client<Client>> {
  using host_type = host_client<Client>;

  template <class T>
  struct operation {
    host_type& host;
    std::shared_ptr<const typename host_type::template plan<T>> planned;  // outlives the send it starts
    bool posted = false;

    template <class Self>
    void operator()(Self& self) {
      if (planned->refused) {
        if (posted) return self.complete(*planned->refused);
        posted = true;
        return boost::asio::post(host.client().transport().get_executor(), std::move(self));
      }
      const auto& request = planned->request;  // taken before `self`, which owns `planned`, is moved
      host.client().async_send(request, std::move(self));
    }

    template <class Self, class Sent>
    void operator()(Self& self, Sent sent) {
      auto keep = planned;
      self.complete(host_type::result_of(*keep, sent));
    }
  };

  template <class T, class Token>
  static auto initiate(host_type& host, typename host_type::template plan<T> planned, Token&& token) {
    using plan_type = typename host_type::template plan<T>;
    return boost::asio::async_compose<Token, void(call_result<T>)>(
        operation<T>{host, std::make_shared<const plan_type>(std::move(planned))}, token,
        host.client().transport().get_executor());
  }
};

}  // namespace vmm::detail

#endif  // VMM_ASYNC_HOST_CLIENT_HPP
