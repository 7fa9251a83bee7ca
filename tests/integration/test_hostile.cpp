// The hostile-server suite: vmm-ctl against a server that misbehaves in one scripted way per test
// case, once for a create (POST /v1/vms, which must never be sent twice) and once for a safe route
// (GET /v1/vms/{name}, which may be retried). For every run:
//   1. the create is received at most once, and the GET as often as the case makes certain;
//   2. the call ends within its deadline, with one of vmm-ctl's documented exit codes;
//   3. vmm-ctl's peak memory stays bounded, whatever the server sends;
//   4. stderr says what happened, in words a user can act on.
// Real time over loopback, so time is checked only with a generous upper bound. Set HOSTILE_SUMMARY=1 to
// print a summary of each run on stderr (exit code, requests received, peak RSS, time, vmm-ctl's message).

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <retryhttp/beast_transport.hpp>
#include <retryhttp/client.hpp>
#include <vmm/host_client.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "hostile_server.hpp"
#include "process.hpp"

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_hostile {

using namespace std::chrono_literals;
using it::hostile_behaviour;

namespace {

// Short backoff so retries cost little real time; a 1 s attempt timeout, so a silent server costs 1 s per
// attempt; a 5 s deadline for a whole call, so four silent attempts (4 s and three short waits) still fit.
constexpr const char* config_json =
    R"({"timeout_ms": 1000, "retry": {"base_delay_ms": 10, "max_delay_ms": 50, "deadline_ms": 5000}})";

// The call's deadline is 5 s; a create that may have been applied is followed by vmm-ctl's reconciliation
// GET, a second call with the same deadline. 15 s leaves room for a loaded machine and a sanitizer build.
constexpr auto time_bound = 15s;

// vmm-ctl's peak RSS against a well-behaved server is about 5 MiB (4.9-5.0 MiB with /usr/bin/time; through
// wait4 5.0-5.6 MiB, as that measure is never below this program's own peak, see it::process). The most a
// bounded client reaches here is ~29 MiB: a chunked body cut at the 8 MiB body limit, in a read buffer that
// grows by doubling, and again as the body string. 64 MiB is twice that and 12 times the baseline, and a
// quarter of the 256 MiB the server sends at most per connection, so a client that keeps what it reads
// cannot pass (with endless chunk extensions or trailers it reached 370-530 MiB before the read buffer was
// bounded). Sanitizer builds carry shadow memory and a quarantine of freed blocks, and this program's own
// peak, the floor of the measure, is larger: with ASan+UBSan vmm-ctl's baseline is 32 MiB, the 8 MiB-limited
// body 143 MiB, this program ~70 MiB, and a client without a limit 587 MiB. There the bound is 256 MiB.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HOSTILE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define HOSTILE_SANITIZED 1
#endif
#endif
#ifdef HOSTILE_SANITIZED
constexpr long rss_bound_kib = 256 * 1024;
#else
constexpr long rss_bound_kib = 64 * 1024;
#endif

const std::string vm_name = "web-1";

std::string config_path() {
  static const std::string path = [] {
    const auto file = it::scratch_dir() / "hostile.json";
    std::ofstream(file) << config_json;
    return file.string();
  }();
  return path;
}

struct ctl_run {
  int code = -1;
  std::string out;
  std::string err;
  long peak_rss_kib = 0;
  std::chrono::milliseconds elapsed{0};
};

ctl_run run_vmm_ctl(const it::hostile_server& server, const std::string& command) {
  const auto started = std::chrono::steady_clock::now();
  // --verbose: the attempt lines let a test count what the client sent even when the server never read it.
  it::process ctl(it::env_or_fail("VMM_CTL"),
                  {"--config", config_path(), "--endpoint", server.url(), "--verbose", command, vm_name});
  // Far beyond time_bound, so a hung vmm-ctl fails the test rather than blocking it (then it is killed).
  const auto code = ctl.wait_for(60s);
  ctl_run run;
  run.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  run.out = ctl.out();
  run.err = ctl.err();
  if (code) {
    run.code = *code;
    run.peak_rss_kib = ctl.peak_rss_kib().value_or(0);
  }
  return run;
}

/// stderr without --verbose's attempt and wait lines: the message a user sees without --verbose.
std::string final_message(const std::string& err) {
  std::istringstream lines(err);
  std::string line;
  std::string kept;
  while (std::getline(lines, line)) {
    if (line.rfind("vmm-ctl: attempt ", 0) == 0 || line.rfind("vmm-ctl: wait ", 0) == 0
        || line.rfind("vmm-ctl: endpoint ", 0) == 0)
      continue;
    kept += line + '\n';
  }
  return kept;
}

/// The attempts of `request_line` vmm-ctl reported with --verbose ("attempt 2 of 4: POST /v1/vms -> ...").
std::size_t client_attempts(const std::string& err, const std::string& request_line) {
  // "attempt 1 of 4: GET /v1/vms (127.0.0.1:8080) -> ...": the endpoint between the target and the arrow.
  std::size_t count = 0;
  const std::string prefix = ": " + request_line + " (";
  for (auto at = err.find(prefix); at != std::string::npos; at = err.find(prefix, at + 1)) {
    const auto close = err.find(") -> ", at + prefix.size());
    if (close != std::string::npos && err.find('\n', at) > close) ++count;
  }
  return count;
}

/// Whether `text` contains one of `words`, in any case. strerror(ETIMEDOUT), "Connection timed out", does not
/// count: alone it reads as if connecting had failed, when the server accepted the request and then did not
/// answer in time, so the message must say that in words of its own.
bool contains_any(std::string text, const std::vector<std::string>& words) {
  for (auto at = text.find("Connection timed out"); at != std::string::npos;
       at = text.find("Connection timed out"))
    text.erase(at, std::string_view("Connection timed out").size());
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  const auto haystack = lower(text);
  return std::any_of(words.begin(), words.end(), [&](const std::string& word) {
    return haystack.find(lower(word)) != std::string::npos;
  });
}

struct expected {
  std::vector<int> exit_codes;  ///< any of these
  std::size_t min_received;     ///< requests of the route the server read
  std::size_t max_received;
  std::vector<std::string> words;  ///< the final message names what happened: any one of these, any case
};

enum class route { create, get };

struct checked_run {
  ctl_run run;
  std::vector<std::string> received;
  std::size_t connections = 0;
};

/// One run of a case: vmm-ctl `create web-1` or `get web-1` against a fresh server playing `behaviour`, with
/// the checks every case shares. Returns the run and the server's record for the case's own checks.
checked_run check_call(hostile_behaviour behaviour, route which, const expected& want) {
  it::hostile_server server(behaviour);
  const std::string command = which == route::create ? "create" : "get";
  const std::string request_line = which == route::create ? "POST /v1/vms" : "GET /v1/vms/" + vm_name;
  const auto run = run_vmm_ctl(server, command);
  const auto received = server.requests();
  const auto route_received = server.count(request_line);
  const auto message = final_message(run.err);

  if (std::getenv("HOSTILE_SUMMARY"))
    std::fprintf(stderr, "%s | %s: exit %d, %s received %zu, connections %zu, peak %ld KiB, %lld ms\n%s\n",
                 Catch::getResultCapture().getCurrentTestName().c_str(), command.c_str(), run.code,
                 request_line.c_str(), route_received, server.connections(), run.peak_rss_kib,
                 static_cast<long long>(run.elapsed.count()), message.c_str());

  CAPTURE(command, run.code, route_received, server.connections(), run.peak_rss_kib, run.elapsed.count());
  INFO("requests received: " << ::Catch::Detail::stringify(received));
  INFO("stderr:\n" << run.err);
  INFO("stdout:\n" << run.out);
  REQUIRE(run.code >= 0);  // vmm-ctl ended (else it was killed after 60 s)

  // (1) The create is never received twice, whatever the case; the route as often as the case says.
  CHECK(server.count("POST /v1/vms") <= 1);
  CHECK(route_received >= want.min_received);
  CHECK(route_received <= want.max_received);
  if (which == route::create) CHECK(client_attempts(run.err, "POST /v1/vms") == 1);

  // (2) Within the deadline, with a documented exit code.
  CHECK(run.elapsed < time_bound);
  CHECK_THAT(want.exit_codes, Catch::VectorContains(run.code));

  // (3) Bounded memory. The measure can be no lower than this program's own peak (see it::process), so that
  // must be well below the bound for a failure to be vmm-ctl's.
  CHECK(run.peak_rss_kib < rss_bound_kib);
  CHECK(it::own_peak_rss_kib() < rss_bound_kib / 2);

  // A sanitizer build of vmm-ctl reports on stderr what the server's input provoked (an overflow, a bad
  // read).
  CHECK(run.err.find("runtime error:") == std::string::npos);
  CHECK(run.err.find("Sanitizer") == std::string::npos);

  // (4) The message says what happened; a success prints the VM the server answered for this request.
  if (run.code == 0) {
    boost::system::error_code ec;
    const auto vm = boost::json::parse(run.out, ec);
    CHECK_FALSE(ec);
    const auto* name = !ec && vm.is_object() ? vm.get_object().if_contains("name") : nullptr;
    CHECK((name && name->is_string() && name->get_string() == vm_name));
  }
  if (!want.words.empty()) {
    INFO("expected the message to contain one of: " << ::Catch::Detail::stringify(want.words));
    CHECK(contains_any(message, want.words));
  }
  return {run, received, server.connections()};
}

// The words of each kind of failure.
const std::vector<std::string> timed_out_words{"timed out", "timeout"};
const std::vector<std::string> limit_words{"limit"};
const std::vector<std::string> invalid_http_words{"not valid HTTP"};
const std::vector<std::string> cut_off_words{"cut off"};

// A create that may have reached the server: exit 4, never re-sent. A GET: retried until the retries are
// exhausted (4 attempts), exit 3.
constexpr std::size_t all_attempts = 4;

}  // namespace

TEST_CASE("a server that closes each connection on accept: the GET is retried, the create is not re-sent",
          "[hostile]") {
  // Nothing is read, so the server records no request: the client's own attempt lines and the connections
  // count what was tried.
  const std::vector<std::string> words{"closed", "reset", "without answering"};
  SECTION("create") {
    // Written before the close was seen, so it may have been applied (4), or provably not (3).
    check_call(hostile_behaviour::close_on_accept, route::create, {{3, 4}, 0, 0, words});
  }
  SECTION("get") {
    const auto checked = check_call(hostile_behaviour::close_on_accept, route::get, {{3}, 0, 0, words});
    CHECK(checked.connections == all_attempts);
    CHECK(client_attempts(checked.run.err, "GET /v1/vms/" + vm_name) == all_attempts);
  }
}

TEST_CASE("a connection reset after the request: the GET is retried, the create is not, both say reset",
          "[hostile]") {
  SECTION("create") {
    check_call(hostile_behaviour::reset_after_request, route::create, {{4}, 1, 1, {"reset"}});
  }
  SECTION("get") {
    check_call(hostile_behaviour::reset_after_request, route::get,
               {{3}, all_attempts, all_attempts, {"reset"}});
  }
}

TEST_CASE("a status line cut off by a close: the GET is retried, the create is not", "[hostile]") {
  const std::vector<std::string> words{"cut off", "closed"};
  SECTION("create") {
    check_call(hostile_behaviour::partial_status_line, route::create, {{4}, 1, 1, words});
  }
  SECTION("get") {
    check_call(hostile_behaviour::partial_status_line, route::get, {{3}, all_attempts, all_attempts, words});
  }
}

TEST_CASE("headers that trickle in a byte every 100 ms: each attempt times out within its timeout",
          "[hostile][timeout]") {
  // A byte now and then must not extend the attempt: its timeout is a deadline for the whole response.
  SECTION("create") {
    check_call(hostile_behaviour::slow_headers, route::create, {{4}, 1, 1, timed_out_words});
  }
  SECTION("get") {
    // Four attempts of 1 s and three short waits fit in the 5 s deadline.
    check_call(hostile_behaviour::slow_headers, route::get,
               {{3}, all_attempts, all_attempts, timed_out_words});
  }
}

TEST_CASE("headers that never end: the header limit ends the attempt and it is not retried",
          "[hostile][limits]") {
  // A server that sends too much will do it again: a retry only repeats the download.
  SECTION("create") {
    check_call(hostile_behaviour::endless_headers, route::create, {{4}, 1, 1, limit_words});
  }
  SECTION("get") {
    check_call(hostile_behaviour::endless_headers, route::get, {{3}, 1, 1, limit_words});
  }
}

TEST_CASE("a body shorter than its Content-Length: the response was cut off", "[hostile]") {
  SECTION("create") {
    check_call(hostile_behaviour::short_body, route::create, {{4}, 1, 1, cut_off_words});
  }
  SECTION("get") {
    check_call(hostile_behaviour::short_body, route::get, {{3}, all_attempts, all_attempts, cut_off_words});
  }
}

TEST_CASE("a chunked body that never ends: the body limit ends the attempt and it is not retried",
          "[hostile][limits]") {
  SECTION("create") {
    check_call(hostile_behaviour::endless_chunked_body, route::create, {{4}, 1, 1, limit_words});
  }
  SECTION("get") {
    check_call(hostile_behaviour::endless_chunked_body, route::get, {{3}, 1, 1, limit_words});
  }
}

TEST_CASE("a chunk extension that never ends: memory stays bounded and a limit ends the attempt",
          "[hostile][limits][memory]") {
  // Boost 1.81's parser counts chunk extensions against no limit: the read buffer itself must be bounded.
  SECTION("create") {
    check_call(hostile_behaviour::endless_chunk_extensions, route::create, {{4}, 1, 1, limit_words});
  }
  SECTION("get") {
    check_call(hostile_behaviour::endless_chunk_extensions, route::get, {{3}, 1, 1, limit_words});
  }
}

TEST_CASE("a trailer that never ends: memory stays bounded and a limit ends the attempt",
          "[hostile][limits][memory]") {
  SECTION("create") {
    check_call(hostile_behaviour::endless_trailer, route::create, {{4}, 1, 1, limit_words});
  }
  SECTION("get") {
    check_call(hostile_behaviour::endless_trailer, route::get, {{3}, 1, 1, limit_words});
  }
}

TEST_CASE("a chunk size that is not hexadecimal: the reply is not valid HTTP", "[hostile]") {
  SECTION("create") {
    check_call(hostile_behaviour::bad_chunk_size, route::create, {{4}, 1, 1, invalid_http_words});
  }
  SECTION("get") {
    // Whether a broken reply is worth another try is the library's choice; it is bounded either way.
    check_call(hostile_behaviour::bad_chunk_size, route::get, {{3}, 1, all_attempts, invalid_http_words});
  }
}

TEST_CASE("100 Continue before the answer is skipped: the real answer is used", "[hostile][1xx]") {
  // An interim response is not the answer (RFC 9110 15.2): a create the server applied must succeed, once.
  SECTION("create") {
    check_call(hostile_behaviour::continue_then_answer, route::create, {{0}, 1, 1, {}});
  }
  SECTION("get") {
    check_call(hostile_behaviour::continue_then_answer, route::get, {{0}, 1, 1, {}});
  }
}

TEST_CASE("103 Early Hints before the answer is skipped: the real answer is used", "[hostile][1xx]") {
  SECTION("create") {
    check_call(hostile_behaviour::early_hints_then_answer, route::create, {{0}, 1, 1, {}});
  }
  SECTION("get") {
    check_call(hostile_behaviour::early_hints_then_answer, route::get, {{0}, 1, 1, {}});
  }
}

TEST_CASE("100 Continue and then nothing: the attempt times out; the GET is retried, the create is not",
          "[hostile][1xx][timeout]") {
  SECTION("create") {
    check_call(hostile_behaviour::continue_then_nothing, route::create, {{4}, 1, 1, timed_out_words});
  }
  SECTION("get") {
    check_call(hostile_behaviour::continue_then_nothing, route::get,
               {{3}, all_attempts, all_attempts, timed_out_words});
  }
}

TEST_CASE("two responses at once: the first is the answer", "[hostile][keep-alive]") {
  SECTION("create") {
    check_call(hostile_behaviour::two_responses, route::create, {{0}, 1, 1, {}});
  }
  SECTION("get") {
    check_call(hostile_behaviour::two_responses, route::get, {{0}, 1, 1, {}});
  }
}

TEST_CASE("503 with a Retry-After in the year 9999: not retried, and the create is not re-sent",
          "[hostile][retry_after]") {
  // A server's "never" must not overflow into an immediate retry: the wait it asks is far above the cap.
  SECTION("create") {
    // A 503 to a create is not retried, and it may have been applied (a gateway may answer so): exit 4.
    check_call(hostile_behaviour::retry_after_far_future, route::create, {{4}, 1, 1, {"503"}});
  }
  SECTION("get") {
    check_call(hostile_behaviour::retry_after_far_future, route::get, {{3}, 1, 1, {"Retry-After"}});
  }
}

TEST_CASE("503 with Retry-After: -5: the header is ignored and the backoff paces the retries",
          "[hostile][retry_after]") {
  SECTION("create") {
    check_call(hostile_behaviour::retry_after_negative, route::create, {{4}, 1, 1, {"503"}});
  }
  SECTION("get") {
    const auto checked = check_call(hostile_behaviour::retry_after_negative, route::get,
                                    {{3}, all_attempts, all_attempts, {"503"}});
    // Not a wait of -5 s, or of 0 s taken from the header: the client's own backoff.
    CHECK(checked.run.err.find("(backoff) before attempt 2") != std::string::npos);
    CHECK(checked.run.err.find("(Retry-After)") == std::string::npos);
  }
}

TEST_CASE("bytes that are not HTTP: the reply is not valid HTTP", "[hostile]") {
  SECTION("create") {
    check_call(hostile_behaviour::garbage, route::create, {{4}, 1, 1, invalid_http_words});
  }
  SECTION("get") {
    check_call(hostile_behaviour::garbage, route::get, {{3}, 1, all_attempts, invalid_http_words});
  }
}

// ---- A kept-alive connection after an odd reply: in-process, as vmm-ctl makes one call per run
// -------------

namespace {

using orchestrator_client =
    retryhttp::basic_client<retryhttp::beast_transport, retryhttp::exponential_backoff,
                            retryhttp::system_clock, vmm::orchestrator_idempotency>;

vmm::host_client<orchestrator_client> host_for(const it::hostile_server& server) {
  retryhttp::retry_config config;
  config.base_delay = 10ms;
  config.max_delay = 50ms;
  config.attempt_timeout = 1s;
  return vmm::host_client<orchestrator_client>{orchestrator_client{
      config, retryhttp::beast_transport{server.url()}, retryhttp::exponential_backoff{1}, {}, {}}};
}

}  // namespace

TEST_CASE("after two responses at once, the next call gets its own answer on a new connection",
          "[hostile][keep-alive]") {
  // The second response was never asked for: reading it as the answer to the next request would hand the
  // caller another VM.
  it::hostile_server server(hostile_behaviour::two_responses);
  auto host = host_for(server);
  const auto first = host.get_vm("first");
  CAPTURE(first.message, first.body);
  REQUIRE(first.ok());
  CHECK(first.value->name == "first");
  const auto second = host.get_vm("second");
  CAPTURE(second.message, second.body);
  REQUIRE(second.ok());
  CHECK(second.value->name == "second");
  CHECK(host.client().transport().connections_opened() == 2);
  CHECK(server.count("GET /v1/vms/second") == 1);
}

TEST_CASE("after an interim response and the answer, the next call on the connection gets its own answer",
          "[hostile][keep-alive][1xx]") {
  // A regression test: the final response left behind after a 1xx was read as the answer to the next request
  // (get_vm("y") returned VM "x" with status 201). The create's failure must not stop the test before that.
  const auto behaviour =
      GENERATE(hostile_behaviour::continue_then_answer, hostile_behaviour::early_hints_then_answer);
  const std::string interim =
      behaviour == hostile_behaviour::continue_then_answer ? "100 Continue" : "103 Early Hints";
  CAPTURE(interim);
  it::hostile_server server(behaviour);
  auto host = host_for(server);
  const auto created = host.create_vm({"x"});
  CAPTURE(created.message, created.status);
  CHECK(created.ok());
  CHECK(created.status == 201);
  if (created.ok()) CHECK(created.value->name == "x");
  const auto got = host.get_vm("y");
  CAPTURE(got.message, got.status, got.body);
  CHECK(got.status == 200);
  REQUIRE(got.ok());
  CHECK(got.value->name == "y");
  CHECK(server.count("POST /v1/vms") == 1);
  CHECK(server.count("GET /v1/vms/y") == 1);
}

TEST_CASE("a server that echoes the request in its error message never makes vmm-ctl print the token",
          "[hostile][token]") {
  it::hostile_server server(hostile_behaviour::echo_request_in_error);
  const std::string token = "tok-echo-5d2e-SECRET";
  it::process ctl(it::env_or_fail("VMM_CTL"),
                  {"--config", config_path(), "--endpoint", server.url(), "--verbose", "get", vm_name},
                  {"VMM_CTL_TOKEN=" + token});
  const auto code = ctl.wait_for(60s);
  REQUIRE(code);
  INFO("stderr:\n" << ctl.err());
  CHECK(*code == 1);  // the server's answer, 500, is the result
  CHECK(server.count("GET /v1/vms/" + vm_name) == 1);
  // The server did send the token back (its error message holds the request's fields), and vmm-ctl shows
  // it masked, in the final message and nowhere else.
  CHECK_THAT(ctl.err(), Catch::Contains("Authorization: Bearer ***"));
  CHECK(ctl.err().find(token) == std::string::npos);
  CHECK(ctl.out().find(token) == std::string::npos);
  CHECK_THAT(ctl.err(), Catch::Contains("token from $VMM_CTL_TOKEN"));
}

}  // namespace test_hostile
