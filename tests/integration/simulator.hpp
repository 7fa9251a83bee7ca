#ifndef RETRYHTTP_TESTS_INTEGRATION_SIMULATOR_HPP
#define RETRYHTTP_TESTS_INTEGRATION_SIMULATOR_HPP

// orchestrator-sim in a child process on a free loopback port, with scripted faults, and what it saw: the API
// requests, and the connections that carried them.

#include <retryhttp/beast_transport.hpp>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"

namespace it {

class simulator {
 public:
  /// `quiet`: no log line per request (a test with thousands of requests). An `address` that starts with '/'
  /// is a Unix domain socket's path (--unix).
  explicit simulator(std::vector<std::string> faults = {}, std::string address = "127.0.0.1",
                     bool quiet = false) {
    using namespace std::chrono_literals;
    std::vector<std::string> args =
        address.starts_with('/') ? std::vector<std::string>{"--unix", address}
                                 : std::vector<std::string>{"--port", "0", "--address", address};
    if (quiet) args.push_back("--quiet");
    for (auto& fault : faults) {
      args.push_back("--fault");
      args.push_back(fault);
    }
    process_ = std::make_unique<process>(env_or_fail("ORCHESTRATOR_SIM"), args);
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      const std::string out = process_->out();
      const auto at = out.find("listening on ");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
        url_ = out.substr(at + 13, out.find('\n', at) - at - 13);
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("orchestrator-sim did not start: " + process_->err());
  }
  ~simulator() {
    using namespace std::chrono_literals;
    process_->signal(SIGTERM);
    (void)process_->wait_for(5s);
  }

  const std::string& url() const { return url_; }

  /// What GET /_sim/requests answers.
  boost::json::value report() const {
    using namespace std::chrono_literals;
    namespace http = boost::beast::http;
    retryhttp::beast_transport transport{url_};
    const auto outcome = transport.attempt({http::verb::get, "/_sim/requests", 11}, {{}, 5s, 1});
    REQUIRE(outcome.has_response());
    return boost::json::parse(outcome.response().body());
  }

  /// The API requests the simulator has seen, as "METHOD target".
  std::vector<std::string> requests() const {
    const auto value = report();
    std::vector<std::string> seen;
    for (const auto& entry : value.at("requests").as_array())
      seen.push_back(std::string(entry.at("method").as_string()) + " "
                     + std::string(entry.at("target").as_string()));
    return seen;
  }
  std::size_t count(const std::string& request_line) const {
    std::size_t n = 0;
    for (const auto& seen : requests()) n += seen == request_line ? 1 : 0;
    return n;
  }
  std::string log() const { return process_->err(); }

 private:
  std::unique_ptr<process> process_;
  std::string url_;
};

}  // namespace it

#endif  // RETRYHTTP_TESTS_INTEGRATION_SIMULATOR_HPP
