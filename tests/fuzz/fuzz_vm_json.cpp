// Fuzzes the orchestrator's VM JSON as vmm::host_client reads it: detail::parse_vm over detail::parse_body
// (one VM), and list_vms and get_vm through a host_client whose fake transport answers with the input as the
// body (the list shape, and the server's error text for a 404). std::invalid_argument is what parse_body and
// parse_vm throw for a bad body; host_client turns it into bad_response. Properties:
//   - a VM that parses has the state "running" or "stopped";
//   - list_vms and get_vm over a 200 end ok or bad_response, never in an exception; get_vm("web-1") is ok
//     only with the VM named web-1;
//   - get_vm over a 404 is an http_error;
//   - every message is safe to print on a terminal, whatever the server sent: well-formed UTF-8 without C0
//     or C1 controls, DEL, line or paragraph separators, or bidirectional overrides and isolates.

// Boost.JSON's parser is instrumented too: meson.build links its sources, compiled for the fuzz build
// (boost_json_src.cpp).

#include <vmm/host_client.hpp>

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {
namespace t = retryhttp::testing;
using retryhttp_fuzz::require;
using fake_client = retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock,
                                            vmm::orchestrator_idempotency>;

// Independent of the library's own filter, on purpose: this is the property, not the implementation.
bool is_terminal_safe(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const auto lead = static_cast<unsigned char>(text[at]);
    std::size_t length = 1;
    char32_t code = lead;
    if (lead >= 0x80) {
      if (lead >= 0xc2 && lead <= 0xdf)
        length = 2;
      else if (lead >= 0xe0 && lead <= 0xef)
        length = 3;
      else if (lead >= 0xf0 && lead <= 0xf4)
        length = 4;
      else
        return false;
      if (at + length > text.size()) return false;
      code = lead & (0x7f >> length);
      for (std::size_t i = 1; i < length; ++i) {
        const auto next = static_cast<unsigned char>(text[at + i]);
        if ((next & 0xc0) != 0x80) return false;
        code = (code << 6) | (next & 0x3f);
      }
      constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
      if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    }
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code == 0x2028 || code == 0x2029
        || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069))
      return false;
    at += length;
  }
  return true;
}

bool has_known_state(const vmm::vm& vm) {
  return vm.state == "running" || vm.state == "stopped";
}

struct fixture {
  t::fake_clock clock;
  vmm::host_client<fake_client> host{
      fake_client{{}, t::fake_transport{clock}, retryhttp::exponential_backoff{1}, clock}};
  fixture() { host.client().transport().record_requests(false); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  try {
    const vmm::vm vm = vmm::detail::parse_vm(vmm::detail::parse_body(body), "vm");
    require(has_known_state(vm), "a parsed VM is running or stopped");
  } catch (const std::invalid_argument&) {
  }

  static fixture f;  // one client for the run: a fresh one per input would only slow the fuzzer down
  auto& transport = f.host.client().transport();

  transport.otherwise(t::respond(200, body));
  const auto list = f.host.list_vms();
  require(list.ok() || list.outcome == vmm::call_outcome::bad_response, "a listed 200 is ok or bad_response");
  require(is_terminal_safe(list.message), "a message is safe to print on a terminal");
  if (list.ok())
    for (const auto& vm : *list.value) require(has_known_state(vm), "a listed VM is running or stopped");

  transport.otherwise(t::respond(200, body));
  const auto one = f.host.get_vm("web-1");
  require(one.ok() || one.outcome == vmm::call_outcome::bad_response, "a got 200 is ok or bad_response");
  require(is_terminal_safe(one.message), "a message is safe to print on a terminal");
  if (one.ok()) {
    require(has_known_state(*one.value), "a got VM is running or stopped");
    require(one.value->name == "web-1", "get_vm returns the VM it asked for");
  }

  transport.otherwise(t::respond(404, body));
  const auto missing = f.host.get_vm("web-1");
  require(missing.outcome == vmm::call_outcome::http_error, "a 404 is an http_error");
  require(is_terminal_safe(missing.message), "a message is safe to print on a terminal");
  return 0;
}
