#include <vmm/ctl_config.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_ctl_config {

using namespace std::chrono_literals;
using retryhttp::config_error;

TEST_CASE("the vmm-ctl config: defaults, every key, and the retry object", "[ctl_config]") {
  const auto defaults = vmm::parse_ctl_config("{}");
  CHECK(defaults.endpoints == std::vector<std::string>{"http://127.0.0.1:8080"});
  CHECK(defaults.token.empty());
  CHECK(defaults.tls.ca_file.empty());
  CHECK(defaults.endpoint_cool_down == 5s);
  CHECK(defaults.timeout == 10s);
  CHECK(defaults.retry.attempt_timeout == 10s);
  CHECK(defaults.retry.max_retries == 3);
  const auto config = vmm::parse_ctl_config(
      R"({"endpoint": "http://[::1]:9000", "timeout_ms": 2500, "retry": {"max_retries": 5, "base_delay_ms": 100}})");
  CHECK(config.endpoints == std::vector<std::string>{"http://[::1]:9000"});
  CHECK(config.retry.attempt_timeout == 2500ms);
  CHECK(config.retry.max_retries == 5);
  CHECK(config.retry.base_delay == 100ms);
  CHECK_FALSE(config.idempotency_keys);
  CHECK(vmm::parse_ctl_config(R"({"idempotency_keys": true})").idempotency_keys);
  const auto budgeted = vmm::parse_ctl_config(
      R"({"retry": {"budget": {"kind": "percent", "percent": 5}, "deadline_ms": 9000}})");
  CHECK(budgeted.retry.budget.type == retryhttp::budget_config::kind::percent);
  CHECK(budgeted.retry.deadline == 9s);
}

TEST_CASE("a bad vmm-ctl config names the key", "[ctl_config]") {
  using row = std::tuple<std::string, std::string>;
  const auto [json, key] = GENERATE(table<std::string, std::string>({
      row{R"({"endpoint": 8080})", "endpoint"},
      row{R"({"endpoint": "ftp://x"})", "endpoint"},
      row{R"({"endpoints": []})", "endpoints"},
      row{R"({"endpoints": "http://a"})", "endpoints"},
      row{R"({"endpoints": ["http://a", 7]})", "endpoints[1]"},
      row{R"({"endpoints": ["http://a", "http://h:99999"]})", "endpoints[1]"},
      row{R"({"endpoint": "http://a", "endpoints": ["http://b"]})", "endpoints"},
      row{R"({"endpoint_cool_down_ms": -1})", "endpoint_cool_down_ms"},
      row{R"({"tls": {"ca": "x"}})", "tls.ca"},
      row{R"({"tls": {"ca_file": ""}})", "tls.ca_file"},
      row{R"({"tls": {"cert_file": "c.pem"}})", "tls.key_file"},
      row{R"({"tls": {"key_file": "k.pem"}})", "tls.cert_file"},
      row{R"({"tls": "yes"})", "tls"},
      row{R"({"token_file": 5})", "token_file"},
      row{R"({"token_file": "/nonexistent/retryhttp-token"})", "token_file"},
      row{R"({"endpoint": "http://u:s3cret@h\u001b[2J:1"})", "endpoint"},
      row{R"({"timeout_ms": 0})", "timeout_ms"},
      row{R"({"timeout_ms": "10s"})", "timeout_ms"},
      row{R"({"retries": {}})", "retries"},
      row{R"({"retry": {"max_retries": -1}})", "retry.max_retries"},
      row{R"({"retry": {"attempt_timeout_ms": 5}})", "retry.attempt_timeout_ms"},
      row{R"({"endpoint": "http://a", "endpoint": "http://b"})", "endpoint"},
      row{R"({"idempotency_keys": "yes"})", "idempotency_keys"},
      row{R"(nope)", ""},
  }));
  CAPTURE(json);
  try {
    (void)vmm::parse_ctl_config(json);
    FAIL("accepted");
  } catch (const config_error& error) {
    CHECK(error.key_path() == key);
    // What the message quotes of the file never carries a password or a terminal escape.
    CHECK(std::string(error.what()).find("s3cret") == std::string::npos);
    CHECK(std::string(error.what()).find('\x1b') == std::string::npos);
  }
}

TEST_CASE("the vmm-ctl config: several endpoints, TLS files and a token file, relative to the config",
          "[ctl_config]") {
  const auto config = vmm::parse_ctl_config(
      R"({"endpoints": ["https://a.example:8443", "unix:///run/o.sock", "http://[::1]:9"],
          "endpoint_cool_down_ms": 250, "tls": {"ca_file": "/etc/ca.pem"}})");
  CHECK(config.endpoints
        == std::vector<std::string>{"https://a.example:8443", "unix:///run/o.sock", "http://[::1]:9"});
  CHECK(config.endpoint_cool_down == 250ms);
  CHECK(config.tls.ca_file == "/etc/ca.pem");

  const auto dir = std::filesystem::temp_directory_path() / "retryhttp-ctl-config-files";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "s3cret-token\n";
  std::ofstream(dir / "crlf-token") << "s3cret-token\r\n";
  std::ofstream(dir / "spaced-token") << "s3cret token\n";
  std::ofstream(dir / "empty-token") << "\n";
  std::ofstream(dir / "config.json")
      << R"({"tls": {"ca_file": "ca.pem", "cert_file": "/abs/c.pem", "key_file": "k.pem"}, "token_file": "token"})";
  const auto loaded = vmm::load_ctl_config((dir / "config.json").string());
  CHECK(loaded.tls.ca_file == (dir / "ca.pem").string());
  CHECK(loaded.tls.cert_file == "/abs/c.pem");
  CHECK(loaded.tls.key_file == (dir / "k.pem").string());
  CHECK(loaded.token == "s3cret-token");  // one trailing newline taken off
  CHECK(loaded.token_source == (dir / "token").string());
  CHECK(vmm::read_token_file(dir / "crlf-token", "token_file") == "s3cret-token");

  // A token that cannot be sent is refused, naming the file and the problem, never the token.
  for (const auto& [file, words] :
       {std::pair<std::string, std::string>{"spaced-token", "a space or a control"},
        {"empty-token", "it is empty"}}) {
    try {
      (void)vmm::read_token_file(dir / file, "token_file");
      FAIL("accepted " + file);
    } catch (const config_error& error) {
      CHECK_THAT(error.what(), Catch::Contains(words) && Catch::Contains(file));
      CHECK(std::string(error.what()).find("s3cret") == std::string::npos);
    }
  }

  // $VMM_CTL_TOKEN wins over the file; a bad one is refused without being quoted.
  auto from_env = loaded;
  ::setenv("VMM_CTL_TOKEN", "env-s3cret", 1);
  vmm::apply_token_environment(from_env);
  CHECK(from_env.token == "env-s3cret");
  CHECK(from_env.token_source == "$VMM_CTL_TOKEN");
  auto empty_env = loaded;
  ::setenv("VMM_CTL_TOKEN", "", 1);  // set but empty: the file's token stays
  vmm::apply_token_environment(empty_env);
  CHECK(empty_env.token == "s3cret-token");
  ::setenv("VMM_CTL_TOKEN", "bad\x1bs3cret", 1);
  try {
    vmm::apply_token_environment(from_env);
    FAIL("accepted a token with an escape");
  } catch (const config_error& error) {
    CHECK(error.key_path() == "$VMM_CTL_TOKEN");
    CHECK(std::string(error.what()).find("s3cret") == std::string::npos);
  }
  ::unsetenv("VMM_CTL_TOKEN");
  std::filesystem::remove_all(dir);
}

TEST_CASE("config file precedence: --config, $VMM_CTL_CONFIG, XDG, ~/.config, defaults", "[ctl_config]") {
  const auto dir = std::filesystem::temp_directory_path() / "retryhttp-ctl-config-test";
  std::filesystem::create_directories(dir / "xdg" / "vmm-ctl");
  std::filesystem::create_directories(dir / "home" / ".config" / "vmm-ctl");
  std::ofstream(dir / "explicit.json") << R"({"timeout_ms": 1})";
  std::ofstream(dir / "env.json") << R"({"timeout_ms": 2})";
  std::ofstream(dir / "xdg" / "vmm-ctl" / "config.json") << R"({"timeout_ms": 3})";
  std::ofstream(dir / "home" / ".config" / "vmm-ctl" / "config.json") << R"({"timeout_ms": 4})";
  ::setenv("VMM_CTL_CONFIG", (dir / "env.json").c_str(), 1);
  ::setenv("XDG_CONFIG_HOME", (dir / "xdg").c_str(), 1);
  ::setenv("HOME", (dir / "home").c_str(), 1);
  CHECK(vmm::load_ctl_config((dir / "explicit.json").string()).timeout == 1ms);
  CHECK(vmm::load_ctl_config(std::nullopt).timeout == 2ms);
  ::unsetenv("VMM_CTL_CONFIG");
  CHECK(vmm::load_ctl_config(std::nullopt).timeout == 3ms);
  ::setenv("XDG_CONFIG_HOME", (dir / "nothing-here").c_str(), 1);
  const auto from_home = vmm::load_ctl_config(std::nullopt);
  CHECK(from_home.timeout == 4ms);
  CHECK(from_home.source == (dir / "home" / ".config" / "vmm-ctl" / "config.json").string());
  ::setenv("HOME", (dir / "nobody").c_str(), 1);
  CHECK(vmm::load_ctl_config(std::nullopt).source == "built-in defaults");
  CHECK_THROWS_AS(vmm::load_ctl_config((dir / "missing.json").string()), config_error);
  std::ofstream(dir / "bad.json") << R"({"retry": {"max_retries": true}})";
  try {
    (void)vmm::load_ctl_config((dir / "bad.json").string());
    FAIL("accepted");
  } catch (const config_error& error) {
    CHECK_THAT(error.what(), Catch::Contains("bad.json"));
    CHECK(error.key_path() == "retry.max_retries");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a config that cannot be read says why: missing, a directory, too large, not a file",
          "[ctl_config]") {
  const auto dir = std::filesystem::temp_directory_path() / "retryhttp-ctl-config-unreadable";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "large.json") << std::string(vmm::max_ctl_config_size + 1, ' ');
  std::filesystem::remove(dir / "fifo");
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  std::ofstream(dir / "at-limit.json") << std::string(vmm::max_ctl_config_size - 2, ' ') << "{}";
  using row = std::tuple<std::string, std::string>;
  const auto [path, words] = GENERATE_COPY(table<std::string, std::string>({
      row{(dir / "missing.json").string(), "cannot be read: No such file or directory"},
      row{dir.string(), "cannot be read: it is a directory"},
      row{(dir / "large.json").string(), "cannot be read: it is larger than 1048576 bytes"},
      // A device that never ends, or a FIFO that would wait for a writer, is not read at all.
      row{"/dev/zero", "cannot be read: it is not a regular file"},
      row{(dir / "fifo").string(), "cannot be read: it is not a regular file"},
  }));
  CAPTURE(path);
  try {
    (void)vmm::load_ctl_config(path);
    FAIL("accepted");
  } catch (const config_error& error) {
    CHECK_THAT(error.what(), Catch::Contains(words));
  }
  CHECK(vmm::load_ctl_config((dir / "at-limit.json").string()).source == (dir / "at-limit.json").string());
  std::filesystem::remove_all(dir);
}

TEST_CASE("$VMM_CTL_ENDPOINT replaces the config's endpoints; a bad one names the variable", "[ctl_config]") {
  vmm::ctl_config config;
  config.endpoints = {"http://a.example:8080", "http://b.example:8080"};
  ::unsetenv("VMM_CTL_ENDPOINT");
  auto unset = config;
  vmm::apply_endpoint_environment(unset);
  CHECK(unset.endpoints == config.endpoints);
  ::setenv("VMM_CTL_ENDPOINT", "", 1);  // set but empty counts as not set
  auto empty = config;
  vmm::apply_endpoint_environment(empty);
  CHECK(empty.endpoints == config.endpoints);
  ::setenv("VMM_CTL_ENDPOINT", "http://127.0.0.1:9090", 1);
  auto replaced = config;
  vmm::apply_endpoint_environment(replaced);
  CHECK(replaced.endpoints == std::vector<std::string>{"http://127.0.0.1:9090"});
  ::setenv("VMM_CTL_ENDPOINT", "ftp://127.0.0.1:21", 1);
  try {
    auto refused = config;
    vmm::apply_endpoint_environment(refused);
    FAIL("accepted an ftp:// endpoint");
  } catch (const config_error& error) {
    CHECK(error.key_path() == "$VMM_CTL_ENDPOINT");
    CHECK_THAT(error.what(), Catch::Contains("expected an http://"));
  }
  ::unsetenv("VMM_CTL_ENDPOINT");
}

}  // namespace test_ctl_config
