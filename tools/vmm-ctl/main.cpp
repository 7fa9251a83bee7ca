// vmm-ctl: the VM orchestrator's command-line client, on retryhttp.
//
//   vmm-ctl [OPTIONS] COMMAND [ARGS]
//     list | get NAME | create NAME [--cpus N] [--memory-mib N] [--image IMAGE] [--idempotency-key[=KEY]]
//     start NAME | stop NAME | delete NAME | help [COMMAND]
//
// Every option is also --option=VALUE, anywhere on the line; "--" ends the options. Everything typed is
// checked before anything is sent (exit 2). The reference is docs/vmm-ctl.md and the man page vmm-ctl(1).
//
// Exit codes: 0 success; 1 the server's final answer was an error status; 2 usage or config error;
// 3 network failure or retries exhausted; 4 a create failed after it may have been applied; 5 a TLS
// certificate was rejected (the server's, or ours by the server); 130 SIGINT; 143 SIGTERM.

#include <retryhttp/beast_transport.hpp>
#include <retryhttp/client.hpp>
#include <retryhttp/failover_transport.hpp>
#include <retryhttp/format.hpp>
#include <retryhttp/idempotency_key.hpp>
#include <retryhttp/version.hpp>
#include <vmm/ctl_config.hpp>
#include <vmm/host_client.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include "../common/strict_number.hpp"

#include <fmt/format.h>
#include <boost/asio/error.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace {

enum exit_code : int {
  success = 0,
  server_error = 1,
  usage_error = 2,
  network_failure = 3,
  may_have_been_applied = 4,
  certificate_failure = 5,
  // 128 + the signal's number, as a shell reports a command a signal ended.
  interrupted_by_sigint = 128 + SIGINT,
  interrupted_by_sigterm = 128 + SIGTERM,
};

constexpr const char* main_help =
    "usage: vmm-ctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "The VM orchestrator's client: every call is retried on transient failures, and a create is never sent\n"
    "twice unless it carries an idempotency key.\n"
    "\n"
    "Commands:\n"
    "  list            list the VMs\n"
    "  get NAME        show a VM\n"
    "  create NAME     create a VM (stopped); see vmm-ctl help create for its options\n"
    "  start NAME      start a VM\n"
    "  stop NAME       stop a VM\n"
    "  delete NAME     delete a VM\n"
    "  help [COMMAND]  this text, or a command's\n"
    "\n"
    "Options (anywhere on the line, as --option VALUE or --option=VALUE):\n"
    "  --config PATH         the config file (else $VMM_CTL_CONFIG, else\n"
    "                        $XDG_CONFIG_HOME/vmm-ctl/config.json, else ~/.config/vmm-ctl/config.json)\n"
    "  --endpoint URL        the orchestrator: http://HOST[:PORT], https://HOST[:PORT] or\n"
    "                        unix:///PATH.sock; repeat it for replicas (else $VMM_CTL_ENDPOINT, else the\n"
    "                        config's endpoint)\n"
    "  -o, --output FORMAT   table, json or name (default: table on a terminal, json otherwise)\n"
    "  --timeout DURATION    the whole call's deadline, attempts and waits: 500ms, 2s, 1m or 1h\n"
    "  --retries N           re-sends after the first attempt, 0 to 1000 (default 3)\n"
    "  -q, --quiet           nothing on standard output; errors still go to standard error\n"
    "  -v, --verbose         one line per attempt and per wait on standard error\n"
    "  -h, --help            this text (COMMAND --help: the command's)\n"
    "  --version             the version\n"
    "  --                    the end of the options: a NAME after it may start with '-'\n"
    "\n"
    "Exit status: 0 success; 1 the server answered an error; 2 usage or config error, nothing sent;\n"
    "3 network failure or retries exhausted; 4 a create that may have been applied; 5 a TLS certificate\n"
    "rejected; 130 interrupted by SIGINT; 143 by SIGTERM. See vmm-ctl(1).\n";

struct command_info {
  std::string_view name;
  bool takes_name;
  std::string_view help;
};

constexpr command_info commands[] = {
    {"list", false,
     "usage: vmm-ctl [OPTIONS] list\n"
     "\n"
     "Lists the VMs: a table on a terminal (NAME, STATE, CPUS, MEMORY, IMAGE), the server's JSON\n"
     "({\"vms\": [...]}) otherwise or with -o json, one name per line with -o name.\n"},
    {"get", true,
     "usage: vmm-ctl [OPTIONS] get NAME\n"
     "\n"
     "Shows the VM NAME: a table on a terminal, its JSON otherwise or with -o json, its name with -o name.\n"
     "A VM that does not exist is exit 1 (404).\n"},
    {"create", true,
     "usage: vmm-ctl [OPTIONS] create NAME [--cpus N] [--memory-mib N] [--image IMAGE]\n"
     "                                    [--idempotency-key[=KEY]]\n"
     "\n"
     "Creates the VM NAME, stopped, and prints it as get does.\n"
     "  --cpus N                1 to 256 (default 1)\n"
     "  --memory-mib N          64 to 4194304 (default 512)\n"
     "  --image IMAGE           1 to 255 characters, no spaces or control characters (default debian-12)\n"
     "  --idempotency-key       send an Idempotency-Key (a new UUID), so that a lost answer is retried\n"
     "  --idempotency-key=KEY   send KEY (1 to 255 printable ASCII characters): running the same create\n"
     "                          again with the same KEY is safe\n"
     "Without a key, a create whose answer was lost (or that got 502, 503 or 504) is not sent again: it\n"
     "exits 4, and vmm-ctl asks the server whether the VM exists.\n"},
    {"start", true,
     "usage: vmm-ctl [OPTIONS] start NAME\n"
     "\n"
     "Starts the VM NAME (nothing to do when it runs) and prints it as get does.\n"},
    {"stop", true,
     "usage: vmm-ctl [OPTIONS] stop NAME\n"
     "\n"
     "Stops the VM NAME (nothing to do when it is stopped) and prints it as get does.\n"},
    {"delete", true,
     "usage: vmm-ctl [OPTIONS] delete NAME\n"
     "\n"
     "Deletes the VM NAME. Prints nothing. A VM that does not exist is exit 1 (404).\n"},
    {"help", false,
     "usage: vmm-ctl help [COMMAND]\n"
     "\n"
     "Describes vmm-ctl, or COMMAND. COMMAND --help does the same.\n"},
};

const command_info* find_command(std::string_view name) {
  for (const auto& command : commands)
    if (command.name == name) return &command;
  return nullptr;
}

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

enum class output_format { table, json, name };

struct arguments {
  std::optional<std::string> config_path;
  std::vector<std::string> endpoints;  // --endpoint, repeatable: replaces the config's list
  bool verbose = false;
  bool quiet = false;
  std::optional<output_format> output;               // empty: table on a terminal, else JSON
  std::optional<std::chrono::milliseconds> timeout;  // --timeout: the call's deadline
  std::optional<unsigned> retries;
  std::string command;
  vmm::vm_spec spec;
  bool idempotency_key = false;  // --idempotency-key: a key per call; --idempotency-key=KEY: the caller's key
};

struct usage_failure {
  explicit usage_failure(std::string text, std::string_view about = {})
      : message(std::move(text)), command(about) {}
  std::string message;
  std::string_view command;  // the command whose help to point at, or empty
};

// ---- The command line, in two passes: words into options and operands (pass 1), then each value checked
// (pass 2). --help and --version win over any error of the line, wherever they are before "--".

enum class value_kind { none, required, optional_inline };

struct option_info {
  std::string_view long_name;
  char short_name;  // 0: none
  value_kind value;
};

constexpr option_info options[] = {
    {"--config", 0, value_kind::required},
    {"--endpoint", 0, value_kind::required},
    {"--output", 'o', value_kind::required},
    {"--timeout", 0, value_kind::required},
    {"--retries", 0, value_kind::required},
    {"--quiet", 'q', value_kind::none},
    {"--verbose", 'v', value_kind::none},
    {"--help", 'h', value_kind::none},
    {"--version", 0, value_kind::none},
    {"--cpus", 0, value_kind::required},
    {"--memory-mib", 0, value_kind::required},
    {"--image", 0, value_kind::required},
    {"--idempotency-key", 0, value_kind::optional_inline},
};

struct given_option {
  const option_info* info;
  std::optional<std::string> value;
};

struct command_line {
  std::vector<given_option> options;
  std::vector<std::string> operands;
  bool help = false;
  bool version = false;
  std::optional<std::string> error;  // the first problem of pass 1
};

std::string in_quotes(std::string_view text) {
  return "\"" + retryhttp::detail::printable(text) + "\"";
}

command_line split_command_line(int argc, char** argv) {
  command_line line;
  auto fail = [&](std::string message) {
    if (!line.error) line.error = std::move(message);
  };
  bool options_ended = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (options_ended || arg.size() < 2 || arg[0] != '-') {
      line.operands.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    const option_info* info = nullptr;
    std::optional<std::string> inline_value;
    std::string_view written = arg;
    if (arg.starts_with("--")) {
      const auto equals = arg.find('=');
      written = arg.substr(0, equals);
      if (equals != std::string_view::npos) inline_value = std::string(arg.substr(equals + 1));
      for (const auto& candidate : options)
        if (candidate.long_name == written) info = &candidate;
    } else {
      written = arg.substr(0, 2);
      for (const auto& candidate : options)
        if (candidate.short_name == arg[1]) info = &candidate;
      if (info && info->value == value_kind::none && arg.size() > 2) {
        info = nullptr;  // a short flag stands alone: no bundling such as -qv
        written = arg;
      } else if (info && arg.size() > 2) {
        inline_value = std::string(arg.substr(arg[2] == '=' ? 3 : 2));  // -oVALUE, -o=VALUE
      }
    }
    if (!info) {
      fail("unknown option " + in_quotes(arg.starts_with("--") ? written : arg)
           + " (a NAME that starts with '-' goes after \"--\")");
      continue;
    }
    if (info->long_name == "--help") line.help = true;
    if (info->long_name == "--version") line.version = true;
    if (info->value == value_kind::none && inline_value) {
      fail(std::string(info->long_name) + " takes no value");
      continue;
    }
    if (info->value == value_kind::required && !inline_value) {
      if (i + 1 >= argc) {
        fail(std::string(written) + " needs a value");
        continue;
      }
      inline_value = std::string(argv[++i]);
    }
    line.options.push_back({info, std::move(inline_value)});
  }
  return line;
}

std::uint64_t parse_count(std::string_view option, const std::string& text, std::uint64_t low,
                          std::uint64_t high) {
  const auto value = retryhttp_tools::parse_unsigned(text, low, high);
  if (!value)
    throw usage_failure{
        fmt::format("{}: expected an integer from {} to {}, got {}", option, low, high, in_quotes(text))};
  return *value;
}

// Pass 2: every value, each operand, and which options go with which command.
arguments check_command_line(const command_line& line) {
  arguments args;
  if (line.operands.empty()) throw usage_failure{"missing COMMAND"};
  args.command = line.operands[0];
  const command_info* command = find_command(args.command);
  if (!command || args.command == "help")
    throw usage_failure{fmt::format("unknown command {}", in_quotes(args.command))};
  bool has_create_options = false;
  for (const auto& [info, given] : line.options) {
    const std::string_view name = info->long_name;
    const std::string value = given.value_or("");
    if (name == "--config") {
      if (value.empty()) throw usage_failure{"--config: expected the path of a file, got \"\""};
      args.config_path = value;
    } else if (name == "--endpoint") {
      try {
        vmm::check_endpoint(value, "--endpoint");
      } catch (const retryhttp::config_error& error) {
        throw usage_failure{error.what()};
      }
      args.endpoints.push_back(value);
    } else if (name == "--output") {
      if (value == "table")
        args.output = output_format::table;
      else if (value == "json")
        args.output = output_format::json;
      else if (value == "name")
        args.output = output_format::name;
      else
        throw usage_failure{fmt::format("--output: expected table, json or name, got {}", in_quotes(value))};
    } else if (name == "--timeout") {
      const auto duration = retryhttp_tools::parse_duration(value);
      if (!duration || duration->count() < 1 || *duration > retryhttp::config_limits::max_delay)
        throw usage_failure{
            fmt::format("--timeout: expected a duration from 1ms to 24h such as 500ms, 2s, 1m or 1h, got {}",
                        in_quotes(value))};
      args.timeout = *duration;
    } else if (name == "--retries") {
      args.retries =
          static_cast<unsigned>(parse_count(name, value, 0, retryhttp::config_limits::max_retries));
    } else if (name == "--quiet") {
      args.quiet = true;
    } else if (name == "--verbose") {
      args.verbose = true;
    } else if (name == "--cpus") {
      args.spec.cpus = static_cast<std::int64_t>(parse_count(name, value, 1, 256));
      has_create_options = true;
    } else if (name == "--memory-mib") {
      args.spec.memory_mib = static_cast<std::int64_t>(parse_count(name, value, 64, 4 * 1024 * 1024));
      has_create_options = true;
    } else if (name == "--image") {
      const bool usable =
          !value.empty() && value.size() <= 255 && std::none_of(value.begin(), value.end(), [](char c) {
            const auto byte = static_cast<unsigned char>(c);
            return byte <= 0x20 || byte == 0x7f;
          });
      if (!usable)
        throw usage_failure{
            fmt::format("--image: expected 1 to 255 characters without spaces or control characters, got {}",
                        in_quotes(value))};
      args.spec.image = value;
      has_create_options = true;
    } else if (name == "--idempotency-key") {
      args.idempotency_key = true;
      has_create_options = true;
      if (given) {
        // A blank key is no key to a server, and a control character would break the request: either
        // could let a retried create apply twice.
        if (!retryhttp::is_usable_key(*given))
          throw usage_failure{
              "--idempotency-key=KEY: expected 1 to 255 printable ASCII characters, not starting or ending "
              "with a space"};
        args.spec.idempotency_key = *given;
      }
    }
  }
  if (command->takes_name && line.operands.size() < 2)
    throw usage_failure{fmt::format("{} needs a NAME", args.command), command->name};
  if (line.operands.size() > (command->takes_name ? 2U : 1U))
    throw usage_failure{fmt::format("unexpected argument {}", in_quotes(line.operands.back())),
                        command->name};
  if (has_create_options && args.command != "create")
    throw usage_failure{"--cpus, --memory-mib, --image and --idempotency-key go with create", command->name};
  if (command->takes_name) {
    args.spec.name = line.operands[1];
    // The names the orchestrator refuses, refused here before anything is sent.
    if (const auto problem = vmm::detail::name_problem(args.spec.name); !problem.empty())
      throw usage_failure{fmt::format("invalid VM name {}: {}", in_quotes(args.spec.name), problem)};
  }
  return args;
}

// "help", "help COMMAND", "--help", "COMMAND --help": the text to print, or a usage failure.
std::string_view help_text(const command_line& line) {
  const bool help_command = !line.operands.empty() && line.operands[0] == "help";
  if (!help_command) {
    // --help: the command's, when one was named before or after it.
    const command_info* command = line.operands.empty() ? nullptr : find_command(line.operands[0]);
    return command ? command->help : main_help;
  }
  if (line.operands.size() == 1) return main_help;
  if (line.operands.size() > 2)
    throw usage_failure{fmt::format("unexpected argument {}", in_quotes(line.operands.back())), "help"};
  const command_info* command = find_command(line.operands[1]);
  if (!command) throw usage_failure{fmt::format("unknown command {}", in_quotes(line.operands[1]))};
  return command->help;
}

// ---- Signals

// SIGINT and SIGTERM are blocked in every thread and taken by one thread with sigwait, which can then request
// the stop safely (a signal handler may not run stop callbacks). The signal's number decides the exit code.
std::atomic<int> received_signal{0};

std::stop_source stop_on_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::stop_source source;
  std::thread([signals, source]() mutable {
    int received = 0;
    if (sigwait(&signals, &received) == 0) {
      received_signal.store(received);
      source.request_stop();
    }
  }).detach();
  return source;
}

int interrupted_code() {
  return received_signal.load() == SIGTERM ? interrupted_by_sigterm : interrupted_by_sigint;
}

// ---- Output

// The width of a cell as a terminal shows it: printable() leaves only ASCII and whole UTF-8 characters, each
// counted once (wide characters are rare enough in VM and image names to be let off).
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

void print_table(const std::vector<vmm::vm>& vms) {
  std::vector<std::vector<std::string>> rows{{"NAME", "STATE", "CPUS", "MEMORY", "IMAGE"}};
  for (const auto& vm : vms)
    rows.push_back({retryhttp::detail::printable(vm.name), retryhttp::detail::printable(vm.state),
                    std::to_string(vm.cpus), std::to_string(vm.memory_mib) + " MiB",
                    retryhttp::detail::printable(vm.image)});
  std::vector<std::size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows)
    for (std::size_t column = 0; column < row.size(); ++column)
      widths[column] = std::max(widths[column], display_width(row[column]));
  for (const auto& row : rows) {
    std::string text;
    for (std::size_t column = 0; column < row.size(); ++column) {
      text += row[column];
      if (column + 1 < row.size()) text.append(widths[column] - display_width(row[column]) + 3, ' ');
    }
    fmt::print("{}\n", text);
  }
}

struct output_settings {
  output_format format = output_format::json;
  bool quiet = false;
};

template <class T>
void print_value(const vmm::call_result<T>& result, const output_settings& output) {
  if (output.quiet) return;
  if constexpr (std::is_same_v<T, std::monostate>) {
    return;  // delete: nothing to show
  } else {
    std::vector<vmm::vm> vms;
    if constexpr (std::is_same_v<T, vmm::vm>)
      vms.push_back(*result.value);
    else
      vms = *result.value;
    switch (output.format) {
      case output_format::json:
        // The body, re-serialized so that no character in it can act on the terminal: JSON all the same.
        fmt::print("{}\n", vmm::detail::terminal_safe_json(boost::json::parse(result.body)));
        return;
      case output_format::name:
        for (const auto& vm : vms) fmt::print("{}\n", retryhttp::detail::printable(vm.name));
        return;
      case output_format::table:
        print_table(vms);
        return;
    }
  }
}

template <class T>
int report(const vmm::call_result<T>& result, const std::string& command, const std::string& name,
           const output_settings& output) {
  using vmm::call_outcome;
  switch (result.outcome) {
    case call_outcome::ok:
      print_value(result, output);
      return success;
    case call_outcome::http_error:
    case call_outcome::bad_response:
      fmt::print(stderr, "vmm-ctl: {}\n", without_token(result.message));
      return server_error;
    case call_outcome::network_error:
      fmt::print(stderr, "vmm-ctl: {}\n", without_token(result.message));
      // A name that does not exist is the DNS's definite answer (NXDOMAIN): the transport marks it
      // permanent, so it was tried once. A DNS time-out (host_not_found_try_again) is retried instead.
      if (result.transport_error == boost::asio::error::host_not_found)
        fmt::print(stderr,
                   "vmm-ctl: no such host: the endpoint's host name does not exist (DNS says NXDOMAIN), so "
                   "it was not retried; check --endpoint, $VMM_CTL_ENDPOINT or the config's endpoint\n");
      return result.transport_error.category() == retryhttp::tls_category() ? certificate_failure
                                                                            : network_failure;
    case call_outcome::may_have_been_applied:
      fmt::print(stderr, "vmm-ctl: {}\n", without_token(result.message));
      if (command == "create")
        fmt::print(stderr, "vmm-ctl: the VM \"{}\" may exist now; check with: vmm-ctl get {}{}\n", name,
                   name.starts_with('-') ? "-- " : "", name);
      return may_have_been_applied;
    case call_outcome::canceled:
      fmt::print(stderr, "vmm-ctl: interrupted: {}\n", without_token(result.message));
      return interrupted_code();
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
  const std::string get_command = std::string("vmm-ctl get ") + (name.starts_with('-') ? "-- " : "") + name;
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
             "been applied, or may still be in flight: check again with: {}\n",
             name, window.count(), get_command);
}

int usage_failed(const usage_failure& failure) {
  fmt::print(stderr, "vmm-ctl: {}\nsee \"vmm-ctl help{}{}\"\n", failure.message,
             failure.command.empty() ? "" : " ", failure.command);
  return usage_error;
}

}  // namespace

int main(int argc, char** argv) {
  const command_line line = split_command_line(argc, argv);
  arguments args;
  try {
    if (line.help || (!line.operands.empty() && line.operands[0] == "help")) {
      fmt::print("{}", help_text(line));
      return success;
    }
    if (line.version) {
      fmt::print("vmm-ctl {} (retryhttp {})\n", RETRYHTTP_VERSION_STRING, RETRYHTTP_VERSION_STRING);
      return success;
    }
    if (line.error) throw usage_failure{*line.error};
    args = check_command_line(line);
  } catch (const usage_failure& failure) {
    return usage_failed(failure);
  }

  vmm::ctl_config config;
  try {
    config = vmm::load_ctl_config(args.config_path);
    vmm::apply_token_environment(config);
    vmm::apply_endpoint_environment(config);
  } catch (const retryhttp::config_error& error) {
    // A file that cannot be read has no key to name: its path and the reason say it all.
    fmt::print(stderr, "vmm-ctl: bad config: {}\n", error.key_path().empty() ? error.got() : error.what());
    return usage_error;
  }
  if (!args.endpoints.empty()) config.endpoints = args.endpoints;
  if (args.retries) config.retry.max_retries = *args.retries;
  if (args.timeout) config.retry.deadline = *args.timeout;
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
               "{}token {}\n",
               transports.size() > 1 ? "s" : "", endpoints, config.source, config.retry.max_retries,
               config.retry.base_delay.count(), config.retry.max_delay.count(), config.timeout.count(),
               config.retry.deadline.count() > 0
                   ? fmt::format("deadline {} ms, ", config.retry.deadline.count())
                   : std::string(),
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

  output_settings output;
  output.quiet = args.quiet;
  output.format = args.output.value_or(::isatty(STDOUT_FILENO) ? output_format::table : output_format::json);

  const std::string& command = args.command;
  const std::string& name = args.spec.name;
  const auto token = stop.get_token();
  int code = success;
  if (command == "list") code = report(host.list_vms(token), command, name, output);
  if (command == "get") code = report(host.get_vm(name, token), command, name, output);
  if (command == "create") {
    const auto created = host.create_vm(args.spec, token);
    code = report(created, command, name, output);
    // As long as one attempt may take, and no longer than the call's own deadline when one was given.
    auto window = config.timeout;
    if (config.retry.deadline.count() > 0) window = std::min(window, config.retry.deadline);
    if (created.outcome == vmm::call_outcome::may_have_been_applied && !stop.stop_requested())
      reconcile_create(host, name, window, token);
  }
  if (command == "start") code = report(host.start_vm(name, token), command, name, output);
  if (command == "stop") code = report(host.stop_vm(name, token), command, name, output);
  if (command == "delete") code = report(host.delete_vm(name, token), command, name, output);
  // A signal that arrived while the last attempt was being answered still means "interrupted". A create
  // that may have been applied keeps its 4: that matters more than the interruption.
  if (stop.stop_requested() && code != success && code != may_have_been_applied) code = interrupted_code();
  std::fflush(stdout);
  return code;
}
