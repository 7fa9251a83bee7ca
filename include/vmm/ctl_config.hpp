#ifndef VMM_CTL_CONFIG_HPP
#define VMM_CTL_CONFIG_HPP

// The vmm-ctl JSON config:
//   {"endpoint": "http://127.0.0.1:8080", "timeout_ms": 10000, "idempotency_keys": false,
//    "retry": {"max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 10000, "retry_on": [502, 503, 504]}}
// or, for replicas over HTTPS with a bearer token:
//   {"endpoints": ["https://orch-a:8443", "https://orch-b:8443"], "endpoint_cool_down_ms": 5000,
//    "tls": {"ca_file": "ca.pem", "cert_file": "client.pem", "key_file": "client.key"},
//    "token_file": "token"}
// Relative file names are taken from the config file's directory. The token comes from $VMM_CTL_TOKEN when
// that is set, else from token_file; it is sent as "Authorization: Bearer TOKEN" and never printed.
// $VMM_CTL_ENDPOINT, when set, replaces the endpoints (apply_endpoint_environment); --endpoint replaces both.
// Found at --config PATH, else $VMM_CTL_CONFIG, else $XDG_CONFIG_HOME/vmm-ctl/config.json, else
// ~/.config/vmm-ctl/config.json, else the built-in defaults. Every error names the key
// (retryhttp::config_error).

#include <retryhttp/detail/wire_text.hpp>
#include <retryhttp/http_endpoint.hpp>
#include <retryhttp/json_config.hpp>
#include <retryhttp/tls_options.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace vmm {

struct ctl_config {
  /// Replicas of the orchestrator in order of preference; a retry goes to the next. [endpoint, endpoints]
  std::vector<std::string> endpoints{"http://127.0.0.1:8080"};
  /// How long an endpoint that failed is passed over (retryhttp::failover_options). [endpoint_cool_down_ms]
  std::chrono::milliseconds endpoint_cool_down{5000};
  /// Trust and client certificate for https:// endpoints. [tls.ca_file, tls.cert_file, tls.key_file]
  retryhttp::tls_options tls;
  /// The bearer token, or empty. Never printed: not by --verbose, not in any message.
  std::string token;
  /// Where the token came from, for --verbose: "$VMM_CTL_TOKEN", the token file's path, or empty.
  std::string token_source;
  /// Per attempt (connect, send, receive). [timeout_ms]
  std::chrono::milliseconds timeout{10'000};
  /// retry_config::recommended() unless the file's "retry" object says otherwise, key by key (a "budget" or
  /// "rate_limit" object given replaces that part whole). [retry]
  retryhttp::retry_config retry = retryhttp::retry_config::recommended();
  /// Send an Idempotency-Key with create, which makes it safe to retry on an orchestrator that honours keys.
  /// [idempotency_keys]
  bool idempotency_keys = false;
  /// Where it came from: a path, or "built-in defaults".
  std::string source = "built-in defaults";
};

/// Throws retryhttp::config_error naming `key` if `url` is not an endpoint a transport takes.
inline void check_endpoint(const std::string& url, const std::string& key) {
  try {
    (void)retryhttp::http_endpoint::parse(url);
  } catch (const std::invalid_argument& error) {
    throw retryhttp::config_error(key, "an http://, https:// or unix:// URL such as http://127.0.0.1:8080",
                                  error.what());  // quotes the URL, printable, without user info
  }
}

/// The largest token file read: a bearer token is at most a few kilobytes (a JWT).
inline constexpr std::size_t max_token_size = 16 * 1024;

/// Why `token` cannot be sent as a bearer token, or empty. Never quotes the token.
inline std::string token_problem(std::string_view token) {
  if (token.empty()) return "it is empty";
  if (token.size() > max_token_size) return "it is longer than " + std::to_string(max_token_size) + " bytes";
  if (!retryhttp::detail::is_safe_field_value(token) || token.find_first_of(" \t") != std::string_view::npos)
    return "it holds a space or a control character (only one trailing newline is taken off)";
  return {};
}

/// A token file's content without one trailing newline (LF or CRLF). Throws retryhttp::config_error naming
/// `key` and the file, never the content.
inline std::string read_token_file(const std::filesystem::path& path, const std::string& key) {
  auto fail = [&](const std::string& why) {
    return retryhttp::config_error(key, "a readable file holding the bearer token",
                                   path.string() + ": " + why);
  };
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec) throw fail(ec.message());
  if (!std::filesystem::is_regular_file(status)) throw fail("it is not a regular file");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw fail(std::generic_category().message(errno));
  std::string token(max_token_size + 3, '\0');
  file.read(token.data(), static_cast<std::streamsize>(token.size()));
  if (file.bad()) throw fail(std::generic_category().message(errno));
  token.resize(static_cast<std::size_t>(file.gcount()));
  if (token.ends_with('\n')) token.pop_back();
  if (token.ends_with('\r')) token.pop_back();
  if (const auto problem = token_problem(token); !problem.empty()) throw fail(problem);
  return token;
}

/// Parses a config document. Throws retryhttp::config_error naming the key. `directory` is where relative
/// file names (tls.*, token_file) are taken from: the config file's directory.
inline ctl_config parse_ctl_config(std::string_view json_text, const std::filesystem::path& directory = {}) {
  namespace d = retryhttp::detail;
  const auto document = d::parse_json_strict(json_text);
  const auto& root = d::json_object(document, "");
  d::reject_unknown_keys(root, "",
                         {"endpoint", "endpoints", "endpoint_cool_down_ms", "timeout_ms", "idempotency_keys",
                          "retry", "tls", "token_file"});
  ctl_config config;
  const auto file_name = [&](const boost::json::value& value, const std::string& key) {
    const std::string name = d::json_string(value, key);
    if (name.empty()) throw retryhttp::config_error(key, "a file name", "\"\"");
    const std::filesystem::path path(name);
    return (path.is_relative() && !directory.empty() ? directory / path : path).string();
  };
  if (root.contains("endpoint") && root.contains("endpoints"))
    throw retryhttp::config_error("endpoints", "either endpoint or endpoints", "both");
  if (const auto* endpoint = root.if_contains("endpoint")) {
    config.endpoints = {d::json_string(*endpoint, "endpoint")};
    check_endpoint(config.endpoints.front(), "endpoint");
  }
  if (const auto* endpoints = root.if_contains("endpoints")) {
    if (!endpoints->is_array() || endpoints->get_array().empty())
      throw retryhttp::config_error("endpoints", "a non-empty array of URLs", d::describe_json(*endpoints));
    config.endpoints.clear();
    for (std::size_t i = 0; i < endpoints->get_array().size(); ++i) {
      const std::string key = d::index_key("endpoints", i);
      config.endpoints.push_back(d::json_string(endpoints->get_array()[i], key));
      check_endpoint(config.endpoints.back(), key);
    }
  }
  if (const auto* cool_down = root.if_contains("endpoint_cool_down_ms"))
    config.endpoint_cool_down = std::chrono::milliseconds(
        d::json_integer(*cool_down, "endpoint_cool_down_ms", 0, retryhttp::config_limits::max_delay.count(),
                        "a number of milliseconds"));
  if (const auto* tls = root.if_contains("tls")) {
    const auto& object = d::json_object(*tls, "tls");
    d::reject_unknown_keys(object, "tls", {"ca_file", "cert_file", "key_file"});
    if (const auto* ca = object.if_contains("ca_file")) config.tls.ca_file = file_name(*ca, "tls.ca_file");
    if (const auto* cert = object.if_contains("cert_file"))
      config.tls.cert_file = file_name(*cert, "tls.cert_file");
    if (const auto* key = object.if_contains("key_file"))
      config.tls.key_file = file_name(*key, "tls.key_file");
    if (config.tls.cert_file.empty() != config.tls.key_file.empty())
      throw retryhttp::config_error(config.tls.cert_file.empty() ? "tls.cert_file" : "tls.key_file",
                                    "tls.cert_file and tls.key_file together (mutual TLS needs both)",
                                    "only one of them");
  }
  if (const auto* token_file = root.if_contains("token_file")) {
    const std::string path = file_name(*token_file, "token_file");
    config.token = read_token_file(path, "token_file");
    config.token_source = path;
  }
  if (const auto* timeout = root.if_contains("timeout_ms"))
    config.timeout = std::chrono::milliseconds(d::json_integer(
        *timeout, "timeout_ms", 1, retryhttp::config_limits::max_delay.count(), "a number of milliseconds"));
  if (const auto* keys = root.if_contains("idempotency_keys"))
    config.idempotency_keys = d::json_bool(*keys, "idempotency_keys");
  if (const auto* retry = root.if_contains("retry")) {
    if (retry->is_object() && retry->get_object().contains("attempt_timeout_ms"))
      throw retryhttp::config_error("retry.attempt_timeout_ms",
                                    "the per-attempt timeout as the top-level timeout_ms", "it inside retry");
    config.retry = retryhttp::retry_config_from_json(*retry, "retry", config.retry);
  }
  config.retry.attempt_timeout = config.timeout;
  return config;
}

/// The file to read, by the precedence above; empty when none applies (then: defaults).
/// `explicit_path` is --config; a path given there or in $VMM_CTL_CONFIG must exist.
inline std::optional<std::filesystem::path> find_ctl_config(const std::optional<std::string>& explicit_path) {
  if (explicit_path) return std::filesystem::path(*explicit_path);
  if (const char* env = std::getenv("VMM_CTL_CONFIG"); env && *env) return std::filesystem::path(env);
  std::filesystem::path candidate;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) {
    candidate = std::filesystem::path(xdg) / "vmm-ctl" / "config.json";
    std::error_code ec;  // an unreadable directory on the way is "not there", never an exception
    if (std::filesystem::exists(candidate, ec)) return candidate;
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    candidate = std::filesystem::path(home) / ".config" / "vmm-ctl" / "config.json";
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) return candidate;
  }
  return std::nullopt;
}

/// The largest config file read: a config is a few hundred bytes, and a path such as /dev/zero must not be
/// read forever.
inline constexpr std::size_t max_ctl_config_size = 1024 * 1024;

/// Finds and reads the config. Throws retryhttp::config_error for a bad or unreadable file (the key path is
/// empty for the latter, and the message names the file and the reason).
inline ctl_config load_ctl_config(const std::optional<std::string>& explicit_path) {
  const auto path = find_ctl_config(explicit_path);
  if (!path) return ctl_config{};
  const auto unreadable = [&](const std::string& why) {
    return retryhttp::config_error("", "a readable config file", path->string() + " cannot be read: " + why);
  };
  std::error_code ec;
  const auto status = std::filesystem::status(*path, ec);
  if (ec) throw unreadable(ec.message());
  if (std::filesystem::is_directory(status)) throw unreadable("it is a directory");
  // Only a regular file: opening a FIFO would wait for a writer, and a device (/dev/zero, a terminal) may
  // never end.
  if (!std::filesystem::is_regular_file(status)) throw unreadable("it is not a regular file");
  std::ifstream file(*path, std::ios::binary);
  if (!file) throw unreadable(std::generic_category().message(errno));
  // Read one byte past the limit to tell a file at the limit from a larger one (or an endless device).
  std::string text(max_ctl_config_size + 1, '\0');
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (file.bad()) throw unreadable(std::generic_category().message(errno));
  text.resize(static_cast<std::size_t>(file.gcount()));
  if (text.size() > max_ctl_config_size)
    throw unreadable("it is larger than " + std::to_string(max_ctl_config_size) + " bytes");
  try {
    ctl_config config = parse_ctl_config(text, path->parent_path());
    config.source = path->string();
    return config;
  } catch (const retryhttp::config_error& error) {
    throw retryhttp::config_error(error.key_path(), error.expected(),
                                  error.got() + " (in " + path->string() + ")");
  }
}

/// $VMM_CTL_TOKEN, when set and not empty, replaces the config's token. Throws retryhttp::config_error for a
/// token that cannot be sent, without quoting it.
inline void apply_token_environment(ctl_config& config) {
  const char* token = std::getenv("VMM_CTL_TOKEN");
  if (!token || !*token) return;  // set but empty counts as not set, as for $VMM_CTL_CONFIG
  if (const auto problem = token_problem(token); !problem.empty())
    throw retryhttp::config_error("$VMM_CTL_TOKEN", "a bearer token", problem);
  config.token = token;
  config.token_source = "$VMM_CTL_TOKEN";
}

/// $VMM_CTL_ENDPOINT, when set and not empty, replaces the config's endpoints with its one URL (--endpoint in
/// turn replaces it). Throws retryhttp::config_error naming $VMM_CTL_ENDPOINT for a URL no transport takes.
inline void apply_endpoint_environment(ctl_config& config) {
  const char* endpoint = std::getenv("VMM_CTL_ENDPOINT");
  if (!endpoint || !*endpoint) return;
  check_endpoint(endpoint, "$VMM_CTL_ENDPOINT");
  config.endpoints = {endpoint};
}

}  // namespace vmm

#endif  // VMM_CTL_CONFIG_HPP
