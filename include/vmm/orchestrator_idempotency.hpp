#ifndef VMM_ORCHESTRATOR_IDEMPOTENCY_HPP
#define VMM_ORCHESTRATOR_IDEMPOTENCY_HPP

// The specified idempotency rules for the VM orchestrator API:
//   GET, DELETE (and the other RFC 9110 idempotent methods)  safe
//   POST /v1/vms/{name}/start                                safe: starting a running VM is a no-op
//   POST /v1/vms/{name}/stop                                 safe: stopping a stopped VM is a no-op
//   POST /v1/vms                                             NOT safe: a lost response could mean a duplicate
//   VM any other POST, PATCH, ...                               not safe
// With keyed_create, POST /v1/vms carries an Idempotency-Key (the orchestrator replays the stored answer for
// a repeated key), which makes it safe to retry.

#include <retryhttp/idempotency.hpp>
#include <retryhttp/idempotency_key.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace vmm {

class orchestrator_idempotency {
 public:
  orchestrator_idempotency() : orchestrator_idempotency(false) {}
  /// `keyed_create`: send an Idempotency-Key with POST /v1/vms and retry it; `seed`: reproducible keys
  /// (tests).
  explicit orchestrator_idempotency(bool keyed_create, std::optional<std::uint64_t> seed = std::nullopt)
      : policy_(keyed_create
                    ? std::vector<retryhttp::keyed_route>{{boost::beast::http::verb::post, "/v1/vms"}}
                    : std::vector<retryhttp::keyed_route>{},
                orchestrator_rules(), seed) {}

  bool is_idempotent(const retryhttp::request_header& request) const {
    return policy_.is_idempotent(request);
  }
  std::optional<std::string> key_for(const retryhttp::request_header& request) const {
    return policy_.key_for(request);
  }
  const std::string& key_header() const noexcept { return policy_.key_header(); }

 private:
  static retryhttp::route_idempotency orchestrator_rules() {
    return retryhttp::route_idempotency{
        retryhttp::route_rule::safe(boost::beast::http::verb::post, "/v1/vms/{name}/start"),
        retryhttp::route_rule::safe(boost::beast::http::verb::post, "/v1/vms/{name}/stop"),
        retryhttp::route_rule::unsafe(boost::beast::http::verb::post, "/v1/vms")};
  }

  retryhttp::idempotency_keys<retryhttp::route_idempotency> policy_;
};

}  // namespace vmm

#endif  // VMM_ORCHESTRATOR_IDEMPOTENCY_HPP
