#ifndef VMM_CTL_CONFIG_HPP
#define VMM_CTL_CONFIG_HPP

// The vmm-ctl JSON config:
//   {"endpoint": "http://127.0.0.1:8080", "timeout_ms": 10000, "idempotency_keys": false,
//    "retry": {"max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 10000, "retry_on": [502, 503, 504]}}
// Found at --config PATH, else $VMM_CTL_CONFIG, else $XDG_CONFIG_HOME/vmm-ctl/config.json, else
// ~/.config/vmm-ctl/config.json, else the built-in defaults. Every error names the key
// (retryhttp::config_error).

#include <retryhttp/http_endpoint.hpp>
#include <retryhttp/json_config.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace vmm {

struct ctl_config {
  std::string endpoint = "http://127.0.0.1:8080";
  /// Per attempt (connect, send, receive). [timeout_ms]
  std::chrono::milliseconds timeout{10'000};
  retryhttp::retry_config retry;
  /// Send an Idempotency-Key with create, which makes it safe to retry on an orchestrator that honours keys.
  /// [idempotency_keys]
  bool idempotency_keys = false;
  /// Where it came from: a path, or "built-in defaults".
  std::string source = "built-in defaults";
};

/// Parses a config document. Throws retryhttp::config_error naming the key.
inline ctl_config parse_ctl_config(std::string_view json_text) {
  namespace d = retryhttp::detail;
  const auto document = d::parse_json_strict(json_text);
  const auto& root = d::json_object(document, "");
  d::reject_unknown_keys(root, "", {"endpoint", "timeout_ms", "idempotency_keys", "retry"});
  ctl_config config;
  if (const auto* endpoint = root.if_contains("endpoint")) {
    config.endpoint = d::json_string(*endpoint, "endpoint");
    try {
      (void)retryhttp::http_endpoint::parse(config.endpoint);
    } catch (const std::invalid_argument& error) {
      throw retryhttp::config_error("endpoint", "an http:// URL such as http://127.0.0.1:8080",
                                    error.what());  // quotes the URL, printable, without user info
    }
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
    config.retry = retryhttp::retry_config_from_json(*retry, "retry");
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
    ctl_config config = parse_ctl_config(text);
    config.source = path->string();
    return config;
  } catch (const retryhttp::config_error& error) {
    throw retryhttp::config_error(error.key_path(), error.expected(),
                                  error.got() + " (in " + path->string() + ")");
  }
}

}  // namespace vmm

#endif  // VMM_CTL_CONFIG_HPP
