#ifndef VMM_ORCHESTRATOR_IDEMPOTENCY_HPP
#define VMM_ORCHESTRATOR_IDEMPOTENCY_HPP

// The ticket's idempotency rules for the VM orchestrator API:
//   GET, DELETE (and the other RFC 9110 idempotent methods)  safe
//   POST /v1/vms/{name}/start                                safe: starting a running VM is a no-op
//   POST /v1/vms/{name}/stop                                 safe: stopping a stopped VM is a no-op
//   POST /v1/vms                                             NOT safe: a lost response could mean a duplicate
//   VM any other POST, PATCH, ...                               not safe

#include <retryhttp/idempotency.hpp>

namespace vmm {

class orchestrator_idempotency {
 public:
  orchestrator_idempotency()
      : rules_({retryhttp::route_rule::safe(boost::beast::http::verb::post, "/v1/vms/{name}/start"),
                retryhttp::route_rule::safe(boost::beast::http::verb::post, "/v1/vms/{name}/stop"),
                retryhttp::route_rule::unsafe(boost::beast::http::verb::post, "/v1/vms")}) {}

  bool is_idempotent(const retryhttp::request_header& request) const noexcept {
    return rules_.is_idempotent(request);
  }

 private:
  retryhttp::route_idempotency rules_;
};

}  // namespace vmm

#endif  // VMM_ORCHESTRATOR_IDEMPOTENCY_HPP
