// vmm-ctl: the VM orchestrator's command-line client, on retryhttp.
//
//   vmm-ctl [--config PATH] [--endpoint URL]... [--verbose] COMMAND
//     list | get NAME | create NAME [--cpus N] [--memory-mib N] [--image IMAGE]
//     start NAME | stop NAME | delete NAME
//
// Exit codes: 0 success; 1 the server's final answer was an error status; 2 usage or config error;
// 3 network failure or retries exhausted; 4 a create failed after it may have been applied; 5 a TLS
// certificate was rejected (the server's, or ours by the server); 130 interrupted.

#include <retryhttp/beast_transport.hpp>
#include <retryhttp/client.hpp>
#include <retryhttp/failover_transport.hpp>
#include <retryhttp/format.hpp>
#include <retryhttp/idempotency_key.hpp>
#include <vmm/ctl_config.hpp>
#include <vmm/host_client.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <fmt/format.h>

#include <pthread.h>
#include <signal.h>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr const char* version = "vmm-ctl 0.1.0 (retryhttp 0.1.0)";
constexpr const char* usage_text =
    "usage: vmm-ctl [--config PATH] [--endpoint URL]... [--verbose] COMMAND\n"
    "  list | get NAME | create NAME [--cpus N] [--memory-mib N] [--image IMAGE] [--idempotency-key[=KEY]]\n"
    "  start NAME | stop NAME | delete NAME\n";

enum exit_code : int {
  success = 0,
  server_error = 1,
  usage_error = 2,
  network_failure = 3,
  may_have_been_applied = 4,
  certificate_failure = 5,
  interrupted = 130,
};

namespace http = boost::beast::http;

// The bearer token, so that no message shows it even when a server puts it in its answer (a proxy that echoes
// the request's fields in an error page): every text from the server that vmm-ctl prints on stderr goes
// through without_token. Set once in main, before any request.
std::string token_to_hide;

std::string without_token(std::string text) {
  if (token_to_hide.empty()) return text;
  for (auto at = text.find(token_to_hide); at != std::string::npos; at = text.find(token_to_hide, at + 3))
    text.replace(at, token_to_hide.size(), "***");
  return text;
}

// --verbose: one line per attempt and one per wait (with where its length came from), on stderr, from the
// client's observer hooks. The flag is checked at run time; the hooks themselves are compiled in.
struct verbose_observer {
  bool enabled = false;
  void on_attempt(const retryhttp::attempt_event& event) const {
    if (enabled) fmt::print(stderr, "vmm-ctl: {}\n", without_token(fmt::format("{}", event)));
  }
  void on_retry(const retryhttp::retry_event& event) const {
    if (enabled) fmt::print(stderr, "vmm-ctl: {}\n", without_token(fmt::format("{}", event)));
  }
};

using transport_type = retryhttp::failover_transport<retryhttp::beast_transport>;
using client_type =
    retryhttp::basic_client<transport_type, retryhttp::exponential_backoff, retryhttp::system_clock,
                            vmm::orchestrator_idempotency, verbose_observer>;

struct arguments {
  std::optional<std::string> config_path;
  std::vector<std::string> endpoints;  // --endpoint, repeatable: replaces the config's list
  bool verbose = false;
  std::vector<std::string> positional;
  vmm::vm_spec spec;
  bool has_create_options = false;
  bool idempotency_key = false;  // --idempotency-key: a key per call; --idempotency-key=KEY: the caller's key
};

struct usage_failure {
  std::string message;
};

std::int64_t parse_count(std::string_view option, const std::string& text, std::int64_t low,
                         std::int64_t high) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || value < low || value > high)
    throw usage_failure{
        fmt::format("{}: expected an integer from {} to {}, got \"{}\"", option, low, high, text)};
  return value;
}

arguments parse_arguments(int argc, char** argv) {
  arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw usage_failure{fmt::format("{} needs a value", arg)};
      return argv[++i];
    };
    if (arg == "--config") {
      args.config_path = value();
    } else if (arg == "--endpoint") {
      args.endpoints.push_back(value());
    } else if (arg == "--verbose" || arg == "-v") {
      args.verbose = true;
    } else if (arg == "--cpus") {
      args.spec.cpus = parse_count(arg, value(), 1, 256);
      args.has_create_options = true;
    } else if (arg == "--memory-mib") {
      args.spec.memory_mib = parse_count(arg, value(), 64, 4 * 1024 * 1024);
      args.has_create_options = true;
    } else if (arg == "--image") {
      args.spec.image = value();
      if (args.spec.image.empty()) throw usage_failure{"--image: expected a non-empty image name"};
      args.has_create_options = true;
    } else if (arg == "--idempotency-key") {
      args.idempotency_key = true;
      args.has_create_options = true;
    } else if (arg.rfind("--idempotency-key=", 0) == 0) {
      args.idempotency_key = true;
      args.spec.idempotency_key = std::string(arg.substr(18));
      // A blank key is no key to a server, and a control character would break the request: either could
      // let a retried create apply twice.
      if (!retryhttp::is_usable_key(*args.spec.idempotency_key))
        throw usage_failure{
            "--idempotency-key=KEY: expected 1 to 255 printable ASCII characters, not starting or ending "
            "with a "
            "space"};
      args.has_create_options = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw usage_failure{fmt::format("unknown option \"{}\"", arg)};
    } else {
      args.positional.emplace_back(arg);
    }
  }
  if (args.positional.empty()) throw usage_failure{"missing COMMAND"};
  const std::string& command = args.positional[0];
  const bool takes_name = command == "get" || command == "create" || command == "start" || command == "stop"
                          || command == "delete";
  if (command != "list" && !takes_name) throw usage_failure{fmt::format("unknown command \"{}\"", command)};
  if (takes_name && args.positional.size() < 2) throw usage_failure{fmt::format("{} needs a NAME", command)};
  if (args.positional.size() > (takes_name ? 2U : 1U))
    throw usage_failure{fmt::format("unexpected argument \"{}\"", args.positional.back())};
  if (args.has_create_options && command != "create")
    throw usage_failure{"--cpus, --memory-mib, --image and --idempotency-key go with create"};
  if (takes_name) args.spec.name = args.positional[1];
  return args;
}

// SIGINT and SIGTERM are blocked in every thread and taken by one thread with sigwait, which can then request
// the stop safely (a signal handler may not run stop callbacks).
std::stop_source stop_on_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::stop_source source;
  std::thread([signals, source]() mutable {
    int received = 0;
    if (sigwait(&signals, &received) == 0) source.request_stop();
  }).detach();
  return source;
}

template <class T>
int report(const vmm::call_result<T>& result, const std::string& command, const std::string& name,
           bool print_body) {
  using vmm::call_outcome;
  switch (result.outcome) {
    case call_outcome::ok:
      // The body, re-serialized so that no character in it can act on the terminal: JSON all the same.
      if (print_body) fmt::print("{}\n", vmm::detail::terminal_safe_json(boost::json::parse(result.body)));
      return success;
    case call_outcome::http_error:
    case call_outcome::bad_response:
      fmt::print(stderr, "vmm-ctl: {}\n", without_token(result.message));
      return server_error;
    case call_outcome::network_error:
      fmt::print(stderr, "vmm-ctl: {}\n", without_token(result.message));
      return result.transport_error.category() == retryhttp::tls_category() ? certificate_failure
                                                                            : network_failure;
    case call_outcome::may_have_been_applied:
      fmt::print(stderr, "vmm-ctl: {}\n", without_token(result.message));
      if (command == "create")
        fmt::print(stderr, "vmm-ctl: the VM \"{}\" may exist now; check with: vmm-ctl get {}\n", name, name);
      return may_have_been_applied;
    case call_outcome::canceled:
      fmt::print(stderr, "vmm-ctl: interrupted: {}\n", without_token(result.message));
      return interrupted;
    case call_outcome::bad_argument:
      fmt::print(stderr, "vmm-ctl: {}\n", without_token(result.message));
      return usage_error;
  }
  return network_failure;
}

// After a create that may have been applied: ask whether the VM exists. The exit code stays 4 whatever the
// answer: the create itself failed. A 404 is not proof that the create was not applied: a create that timed
// out may still be in flight on the server, so the check is repeated for up to one attempt timeout and a VM
// still missing then is reported as "not visible yet", never as "not created".
template <class Host>
void reconcile_create(Host& host, const std::string& name, std::chrono::milliseconds window,
                      const std::stop_token& stop) {
  const auto until = std::chrono::steady_clock::now() + window;
  auto pause = std::chrono::milliseconds(100);
  for (bool last = false;; pause *= 2) {
    const auto check = host.get_vm(name, stop);
    if (check.ok()) {
      fmt::print(
          stderr,
          "vmm-ctl: checked with GET /v1/vms/{}: the VM exists now (state {}): the create was applied\n",
          name, check.value->state);
      return;
    }
    if (check.status != 404) {
      fmt::print(stderr, "vmm-ctl: could not check whether the VM exists: {}\n",
                 without_token(check.message));
      return;
    }
    if (last || stop.stop_requested()) break;
    // The pauses grow, and the last one ends at the end of the window, where one more check is made.
    const auto now = std::chrono::steady_clock::now();
    last = now + pause >= until;
    const auto wake = last ? until : now + pause;
    if (!retryhttp::system_clock::sleep_until(wake, stop)) break;
  }
  fmt::print(stderr,
             "vmm-ctl: checked with GET /v1/vms/{} for {} ms: the VM is not visible; the create may not have "
             "been applied, or may still be in flight: check again with: vmm-ctl get {}\n",
             name, window.count(), name);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", usage_text);
      return success;
    }
    if (arg == "--version") {
      fmt::print("{}\n", version);
      return success;
    }
  }
  arguments args;
  try {
    args = parse_arguments(argc, argv);
  } catch (const usage_failure& failure) {
    fmt::print(stderr, "vmm-ctl: {}\n{}", failure.message, usage_text);
    return usage_error;
  }

  vmm::ctl_config config;
  try {
    config = vmm::load_ctl_config(args.config_path);
    vmm::apply_token_environment(config);
  } catch (const retryhttp::config_error& error) {
    fmt::print(stderr, "vmm-ctl: bad config: {}\n", error.what());
    return usage_error;
  }
  if (!args.endpoints.empty()) config.endpoints = args.endpoints;
  token_to_hide = config.token;

  // One transport per endpoint; a URL or a TLS file that cannot be used is a usage error, named.
  std::vector<retryhttp::beast_transport> transports;
  try {
    retryhttp::beast_transport_options options;
    options.tls = config.tls;
    if (!config.token.empty()) options.authorization = "Bearer " + config.token;
    for (const auto& url : config.endpoints) transports.emplace_back(url, options);
  } catch (const std::invalid_argument& error) {
    fmt::print(stderr, "vmm-ctl: {}{}\n", args.endpoints.empty() ? "" : "--endpoint: ", error.what());
    return usage_error;
  }

  std::stop_source stop = stop_on_signals();
  const bool keyed_create = config.idempotency_keys || args.idempotency_key;
  if (args.verbose) {
    std::string endpoints;
    for (const auto& transport : transports)
      endpoints += (endpoints.empty() ? "" : ", ") + transport.endpoint().name();
    // The token's source only: the token itself is never printed.
    fmt::print(stderr,
               "vmm-ctl: endpoint{} {}, config {}, max_retries {}, base {} ms, max {} ms, timeout {} ms, "
               "token {}\n",
               transports.size() > 1 ? "s" : "", endpoints, config.source, config.retry.max_retries,
               config.retry.base_delay.count(), config.retry.max_delay.count(), config.timeout.count(),
               config.token.empty() ? "none" : "from " + config.token_source);
  }
  client_type client{
      config.retry,
      transport_type{std::move(transports), retryhttp::failover_options{config.endpoint_cool_down}},
      retryhttp::exponential_backoff{},
      retryhttp::system_clock{},
      vmm::orchestrator_idempotency{keyed_create},
      verbose_observer{args.verbose}};
  vmm::host_client<client_type> host{std::move(client)};

  const std::string& command = args.positional[0];
  const std::string& name = args.spec.name;
  const auto token = stop.get_token();
  int code = success;
  if (command == "list") code = report(host.list_vms(token), command, name, true);
  if (command == "get") code = report(host.get_vm(name, token), command, name, true);
  if (command == "create") {
    const auto created = host.create_vm(args.spec, token);
    code = report(created, command, name, true);
    if (created.outcome == vmm::call_outcome::may_have_been_applied && !stop.stop_requested())
      reconcile_create(host, name, config.timeout, token);
  }
  if (command == "start") code = report(host.start_vm(name, token), command, name, true);
  if (command == "stop") code = report(host.stop_vm(name, token), command, name, true);
  if (command == "delete") code = report(host.delete_vm(name, token), command, name, false);
  // A signal that arrived while the last attempt was being answered still means "interrupted".
  if (stop.stop_requested() && code != success && code != may_have_been_applied) code = interrupted;
  std::fflush(stdout);
  return code;
}
