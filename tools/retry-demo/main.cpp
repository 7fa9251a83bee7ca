// retry-demo: the retry loop against the fake transport and the fake clock, printing each attempt and each
// delay. Runs in an instant (virtual time) and is deterministic for a given --seed.
//
//   retry-demo [--seed N] [--config FILE]
//
// FILE is the ticket's JSON shape, {"retry": {"max_retries": 3, "base_delay_ms": 500, ...}}.

#include <retryhttp/client.hpp>
#include <retryhttp/detail/printable.hpp>
#include <retryhttp/json_config.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include "../common/strict_number.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace {

namespace http = boost::beast::http;
namespace t = retryhttp::testing;
using client_type = retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock,
                                            vmm::orchestrator_idempotency>;

double ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string describe(const retryhttp::observed_outcome& outcome) {
  switch (outcome.what) {
    case retryhttp::observed_outcome::kind::response:
      return retryhttp::detail::status_text(outcome.status);
    case retryhttp::observed_outcome::kind::not_sent:
      return "failed, nothing sent";
    case retryhttp::observed_outcome::kind::ambiguous:
      return "failed after sending";
  }
  return "?";
}

void run(const retryhttp::retry_config& config, std::uint64_t seed, std::string_view title, http::verb method,
         const char* target, std::initializer_list<t::scripted_outcome> script) {
  t::fake_clock clock;
  client_type client{config, t::fake_transport{clock}, retryhttp::exponential_backoff{seed}, clock};
  client.transport().script(script);
  const t::fake_transport::request_type request{method, target, 11};

  fmt::print("\n== {}: {} {}\n", title, http::to_string(method), target);
  const auto result = client.send(request);

  const auto attempts = client.transport().attempts();
  const auto waits = clock.waits();
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const auto& attempt = attempts[i];
    fmt::print("  t={:>9.1f} ms  attempt {} of {}: {}\n", ms(attempt.started.time_since_epoch()),
               attempt.attempt, config.max_retries + 1, describe(attempt.result));
    if (i < waits.size())
      fmt::print("  t={:>9.1f} ms  wait {:.1f} ms (backoff, retry {})\n",
                 ms(waits[i].from.time_since_epoch()), ms(waits[i].requested()), i + 1);
  }
  if (result.ok())
    fmt::print("  => delivered {}\n", result.message());
  else
    fmt::print("  => gave up: {}\n", result.message());
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 42;
  retryhttp::retry_config config;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--seed" && i + 1 < argc) {
        const std::string_view text = argv[++i];
        const auto value = retryhttp_tools::parse_unsigned(text);
        if (!value) {
          fmt::print(stderr, "retry-demo: --seed: expected a non-negative integer, got \"{}\"\n",
                     retryhttp::detail::printable(text));
          return 2;
        }
        seed = *value;
      } else if (arg == "--config" && i + 1 < argc) {
        const std::string path = argv[++i];
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
          fmt::print(stderr, "retry-demo: --config: {} cannot be read: it is a directory\n", path);
          return 2;
        }
        std::ifstream file(path);
        if (!file) {
          fmt::print(stderr, "retry-demo: --config: {} cannot be read: {}\n", path, std::strerror(errno));
          return 2;
        }
        std::stringstream text;
        text << file.rdbuf();
        config = retryhttp::load_retry_config(text.str());
      } else {
        const bool help = arg == "--help" || arg == "-h";
        fmt::print(help ? stdout : stderr, "usage: retry-demo [--seed N] [--config FILE]\n");
        return help ? 0 : 2;
      }
    }
  } catch (const retryhttp::config_error& error) {
    fmt::print(stderr, "retry-demo: bad config: {}\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    fmt::print(stderr, "retry-demo: {}\n", error.what());
    return 2;
  }

  fmt::print("retry-demo: max_retries {}, base_delay {} ms, max_delay {} ms, seed {} (virtual time)\n",
             config.max_retries, config.base_delay.count(), config.max_delay.count(), seed);
  run(config, seed, "list VMs, two transient failures", http::verb::get, "/v1/vms",
      {t::respond(503), t::reset_connection(), t::respond(200, R"({"vms":[]})")});
  run(config, seed, "start a VM, refused then a bad gateway", http::verb::post, "/v1/vms/web-1/start",
      {t::refuse_connection(), t::respond(502), t::respond(200)});
  run(config, seed, "create a VM, response lost", http::verb::post, "/v1/vms",
      {t::reset_connection(), t::respond(201)});
  run(config, seed, "get a VM that does not exist", http::verb::get, "/v1/vms/nope", {t::respond(404)});
  run(config, seed, "an orchestrator that stays down", http::verb::get, "/v1/vms",
      {t::respond(503), t::respond(503), t::respond(503), t::respond(503), t::respond(503), t::respond(503)});
  return 0;
}
