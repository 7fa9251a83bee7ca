// retry-sim: what retry policies do to a server when everything fails, simulated deterministically on virtual
// time.
//
//   retry-sim occ      [--clients N[,N...]] [--strategy S[,S...]] [--trials N] [--seed N]
//   retry-sim overload [--clients N] [--p P[,P...]] [--capacity N] [--strategy S[,S...]] [--trials N] [--seed
//   N] [--fast-ms MS] [--slow FRACTION] [--slow-ms MS] [--hedge-delay-ms MS]
//
// Prints CSV: experiment,strategy,clients,p,trials,calls,time_ms,amplification,success,p99_ms,hedges (the
// last two empty for occ). See sim.hpp.

#include "../common/strict_number.hpp"
#include "sim.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: retry-sim occ [--clients N,...] [--strategy S,...] [--trials N] [--seed N]\n"
    "       retry-sim overload [--clients N] [--p P,...] [--capacity N] [--strategy S,...] [--trials N] "
    "[--seed N]\n"
    "                          [--fast-ms MS] [--slow FRACTION] [--slow-ms MS] [--hedge-delay-ms MS]\n"
    "  occ strategies: none, no_jitter, full_jitter, equal_jitter, decorrelated, exponential\n"
    "  overload strategies: ticket, ticket+percent_budget, ticket+token_bucket, ticket+adaptive, "
    "recommended,\n"
    "                       ticket+hedging, ticket+percent_budget+hedging, recommended+hedging,\n"
    "                       three_attempts, go_retryablehttp, envoy, aws_standard\n"
    "  overload latency: |Normal(fast, fast/5)| per answer, except a fraction --slow (default 0.02) taking\n"
    "                    --slow-ms (default 1000); --fast-ms defaults to 10; hedging after --hedge-delay-ms\n"
    "                    (default 100)\n"
    "  output: CSV experiment,strategy,clients,p,trials,calls,time_ms,amplification,success,p99_ms,hedges\n";

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

unsigned long long number(const std::string& option, const std::string& text) {
  const auto value = retryhttp_tools::parse_unsigned(text);
  if (!value) throw std::invalid_argument(option + ": expected a non-negative integer, got \"" + text + "\"");
  return *value;
}

double fraction(const std::string& option, const std::string& text) {
  std::size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(value >= 0 && value <= 1))
    throw std::invalid_argument(option + ": expected a probability from 0 to 1, got \"" + text + "\"");
  return value;
}

std::chrono::nanoseconds milliseconds(const std::string& option, const std::string& text) {
  const auto value = number(option, text);
  if (value == 0 || value > 3'600'000)
    throw std::invalid_argument(option + ": expected milliseconds from 1 to 3600000, got \"" + text + "\"");
  return std::chrono::milliseconds(value);
}

void print(const retry_sim::row& r) {
  fmt::print("{},{},{},{:.3f},{},{:.1f},{:.1f},{:.4f},{:.4f}", r.experiment, r.strategy, r.clients, r.p,
             r.trials, r.calls, r.time_ms, r.amplification, r.success);
  if (r.experiment == "occ")
    fmt::print(",,\n");
  else
    fmt::print(",{:.1f},{:.1f}\n", r.p99_ms, r.hedges);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h") {
    fmt::print("{}", usage);
    return argc < 2 ? 2 : 0;
  }
  const std::string experiment = argv[1];
  try {
    if (experiment != "occ" && experiment != "overload")
      throw std::invalid_argument("unknown experiment \"" + experiment + "\"");
    std::vector<unsigned> clients =
        experiment == "occ" ? std::vector<unsigned>{10, 25, 50, 75, 100} : std::vector<unsigned>{100};
    std::vector<std::string> strategies;
    std::vector<double> ps{0.5, 0.9, 0.99, 1.0};
    unsigned trials = experiment == "occ" ? 20 : 3;
    unsigned capacity = 0;
    std::uint64_t seed = 1;
    retry_sim::latency_model latency;
    std::optional<std::chrono::nanoseconds> hedge_delay;
    for (int i = 2; i < argc; ++i) {
      const std::string option = argv[i];
      if (option == "--help") {
        fmt::print("{}", usage);
        return 0;
      }
      if (i + 1 >= argc) throw std::invalid_argument(option + " needs a value");
      const std::string value = argv[++i];
      if (option == "--clients") {
        clients.clear();
        for (const auto& part : split(value)) {
          const auto n = number(option, part);
          if (n == 0 || n > 100000) throw std::invalid_argument("--clients: expected 1..100000");
          clients.push_back(static_cast<unsigned>(n));
        }
      } else if (option == "--strategy") {
        strategies = split(value);
      } else if (option == "--p") {
        ps.clear();
        for (const auto& part : split(value)) ps.push_back(fraction(option, part));
      } else if (option == "--trials") {
        trials = static_cast<unsigned>(number(option, value));
        if (trials == 0 || trials > 100000) throw std::invalid_argument("--trials: expected 1..100000");
      } else if (option == "--capacity") {
        capacity = static_cast<unsigned>(number(option, value));
      } else if (option == "--seed") {
        seed = number(option, value);
      } else if (option == "--fast-ms") {
        latency.fast = milliseconds(option, value);
      } else if (option == "--slow") {
        latency.slow_fraction = fraction(option, value);
      } else if (option == "--slow-ms") {
        latency.slow = milliseconds(option, value);
      } else if (option == "--hedge-delay-ms") {
        hedge_delay = milliseconds(option, value);
      } else {
        throw std::invalid_argument("unknown option \"" + option + "\"");
      }
    }
    fmt::print("experiment,strategy,clients,p,trials,calls,time_ms,amplification,success,p99_ms,hedges\n");
    if (experiment == "occ") {
      if (strategies.empty()) strategies = retry_sim::strategy::occ_names();
      for (const auto& name : strategies) (void)retry_sim::strategy(name, 0);  // validate before running
      for (const auto& name : strategies)
        for (unsigned n : clients) print(retry_sim::occ(name, n, trials, seed));
    } else {
      std::vector<retry_sim::client_policy> policies;
      for (const auto& policy : retry_sim::client_policy::all())
        if (strategies.empty()
            || std::find(strategies.begin(), strategies.end(), policy.name) != strategies.end())
          policies.push_back(policy);
      if (hedge_delay)
        for (auto& policy : policies)
          if (policy.hedge_delay.count() > 0) policy.hedge_delay = *hedge_delay;
      if (policies.empty()) throw std::invalid_argument("--strategy: no known overload strategy given");
      if (capacity > 0) ps = {0};
      for (const auto& policy : policies)
        for (unsigned n : clients)
          for (double p : ps) print(retry_sim::overload(policy, n, p, capacity, trials, seed, latency));
    }
  } catch (const std::exception& error) {
    fmt::print(stderr, "retry-sim: {}\n{}", error.what(), usage);
    return 2;
  }
  return 0;
}
