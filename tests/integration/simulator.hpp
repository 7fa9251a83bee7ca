#ifndef RETRYHTTP_TESTS_INTEGRATION_SIMULATOR_HPP
#define RETRYHTTP_TESTS_INTEGRATION_SIMULATOR_HPP

// orchestrator-sim in a child process on a free loopback port, with scripted faults, and what it saw: the API
// requests, and the connections that carried them. Plain HTTP, a Unix domain socket, or HTTPS (optionally
// requiring a client certificate) with the certificates of tls_fixture.hpp, and optionally a bearer token.

#include <retryhttp/beast_transport.hpp>
#include <retryhttp/tls_options.hpp>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"
#include "tls_fixture.hpp"

namespace it {

/// HTTPS for the simulator: what it serves and requires, and what report() trusts and presents.
struct simulator_tls {
  std::filesystem::path cert_file;         ///< --tls-cert
  std::filesystem::path key_file;          ///< --tls-key
  std::filesystem::path client_ca_file;    ///< --client-ca; empty: no client certificate required
  std::filesystem::path ca_file;           ///< the CA report() trusts: the issuer of cert_file
  std::filesystem::path client_cert_file;  ///< presented by report(); needed with client_ca_file
  std::filesystem::path client_key_file;

  /// The fixture's good server certificate (localhost, 127.0.0.1, ::1); with `client_auth`, its client
  /// certificate is required, and presented by report().
  static simulator_tls from(const tls_files& files, bool client_auth = false) {
    simulator_tls tls{files.server_cert, files.server_key, {}, files.ca_cert, {}, {}};
    if (client_auth) {
      tls.client_ca_file = files.ca_cert;
      tls.client_cert_file = files.client_cert;
      tls.client_key_file = files.client_key;
    }
    return tls;
  }
};

struct simulator_options {
  std::vector<std::string> faults;
  /// A loopback address, or a Unix domain socket's path (starting with '/', --unix).
  std::string address = "127.0.0.1";
  /// No log line per request (a test with thousands of requests).
  bool quiet = false;
  std::optional<simulator_tls> tls;
  /// --token-file: every request under /v1/ must carry its token; report() sends it too. Empty: none.
  std::filesystem::path token_file;
  /// Appended to the command line as they are.
  std::vector<std::string> extra_args;
};

class simulator {
 public:
  /// `quiet`: no log line per request (a test with thousands of requests). An `address` that starts with '/'
  /// is a Unix domain socket's path (--unix). `extra_args` are appended to the simulator's command line; for
  /// HTTPS or a token, use simulator_options, so that report() can reach the simulator.
  explicit simulator(std::vector<std::string> faults = {}, std::string address = "127.0.0.1",
                     bool quiet = false, std::vector<std::string> extra_args = {})
      : simulator(
          simulator_options{std::move(faults), std::move(address), quiet, {}, {}, std::move(extra_args)}) {}

  explicit simulator(simulator_options options) : tls_(std::move(options.tls)) {
    using namespace std::chrono_literals;
    std::vector<std::string> args =
        options.address.starts_with('/')
            ? std::vector<std::string>{"--unix", options.address}
            : std::vector<std::string>{"--port", "0", "--address", options.address};
    if (options.quiet) args.push_back("--quiet");
    for (auto& fault : options.faults) {
      args.push_back("--fault");
      args.push_back(fault);
    }
    if (tls_) {
      args.insert(args.end(), {"--tls-cert", tls_->cert_file.string(), "--tls-key", tls_->key_file.string()});
      if (!tls_->client_ca_file.empty())
        args.insert(args.end(), {"--client-ca", tls_->client_ca_file.string()});
    }
    if (!options.token_file.empty()) {
      args.insert(args.end(), {"--token-file", options.token_file.string()});
      // As the simulator reads it: without one trailing newline.
      token_ = read_file(options.token_file);
      if (token_.ends_with('\n')) token_.pop_back();
      if (token_.ends_with('\r')) token_.pop_back();
    }
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    process_ = std::make_unique<process>(env_or_fail("ORCHESTRATOR_SIM"), args);
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      const std::string out = process_->out();
      const auto at = out.find("listening on ");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
        url_ = out.substr(at + 13, out.find('\n', at) - at - 13);
        if (!url_.starts_with("http://") && !url_.starts_with("https://") && !url_.starts_with("unix://"))
          throw std::runtime_error("orchestrator-sim listens on an unexpected URL: " + url_);
        return;
      }
      // Exited at once (a usage error): its message, not a 10 s wait.
      if (process_->wait_for(std::chrono::milliseconds(0)))
        throw std::runtime_error("orchestrator-sim exited at start: " + process_->err());
      std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("orchestrator-sim did not start: " + process_->err());
  }
  ~simulator() {
    using namespace std::chrono_literals;
    process_->signal(SIGTERM);
    (void)process_->wait_for(5s);
  }

  /// "http://127.0.0.1:PORT", "https://127.0.0.1:PORT" or "unix:///path".
  const std::string& url() const { return url_; }

  /// What a client of this simulator trusts and presents: the CA of its certificate, and the client
  /// certificate when one is required. Empty for plain HTTP.
  retryhttp::tls_options client_tls() const {
    if (!tls_) return {};
    return {tls_->ca_file.string(), tls_->client_cert_file.string(), tls_->client_key_file.string()};
  }
  /// The bearer token the simulator requires, or empty.
  const std::string& token() const { return token_; }

  /// What GET /_sim/requests answers.
  boost::json::value report() const {
    using namespace std::chrono_literals;
    namespace http = boost::beast::http;
    retryhttp::beast_transport_options options;
    options.tls = client_tls();
    retryhttp::beast_transport transport{url_, options};
    retryhttp::beast_transport::request_type request{http::verb::get, "/_sim/requests", 11};
    // The /_sim/ routes need no token; it is sent as any client of the simulator would send it.
    if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
    const auto outcome = transport.attempt(request, {{}, 5s, 1});
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
  /// Whether every API request seen so far carried the right token (or none was required).
  bool all_authorized() const {
    const auto value = report();
    for (const auto& entry : value.at("requests").as_array())
      if (!entry.at("authorized").as_bool()) return false;
    return true;
  }
  std::string log() const { return process_->err(); }

 private:
  std::optional<simulator_tls> tls_;
  std::string token_;
  std::unique_ptr<process> process_;
  std::string url_;
};

}  // namespace it

#endif  // RETRYHTTP_TESTS_INTEGRATION_SIMULATOR_HPP
