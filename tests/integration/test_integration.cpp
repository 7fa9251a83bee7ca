// Integration tests over loopback: orchestrator-sim on a free port, and host_client or vmm-ctl against its
// scripted faults. Real time, so they assert outcomes and the exact number of requests the server saw, with
// only generous upper bounds on time. Every loop and wait is bounded.

#include <retryhttp/beast_transport.hpp>

#include <retryhttp/client.hpp>
#include <retryhttp/version.hpp>
#include <vmm/host_client.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "close_wait.hpp"
#include "process.hpp"
#include "simulator.hpp"
#include "terminal.hpp"

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_integration {

using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

using it::simulator;

using orchestrator_client =
    retryhttp::basic_client<retryhttp::beast_transport, retryhttp::exponential_backoff,
                            retryhttp::system_clock, vmm::orchestrator_idempotency>;

/// A host_client with short delays, so the tests spend little real time in backoff.
vmm::host_client<orchestrator_client> fast_host(const std::string& url,
                                                std::chrono::milliseconds timeout = 2s) {
  retryhttp::retry_config config;
  config.base_delay = 10ms;
  config.max_delay = 50ms;
  config.attempt_timeout = timeout;
  return vmm::host_client<orchestrator_client>{orchestrator_client{
      config, retryhttp::beast_transport{url}, retryhttp::exponential_backoff{1}, {}, {}}};
}

std::string write_config(const std::string& name, const std::string& json) {
  const auto path = it::scratch_dir() / name;
  std::ofstream(path) << json;
  return path.string();
}

struct ctl_run {
  int code;
  std::string out;
  std::string err;
};

// No config, endpoint or token from the environment unless a test gives one.
const std::vector<std::string> clean_env{"VMM_CTL_CONFIG=", "XDG_CONFIG_HOME=/nonexistent",
                                         "HOME=/nonexistent"};

ctl_run vmm_ctl(const std::vector<std::string>& args, std::chrono::milliseconds limit = 30s,
                const std::vector<std::string>& env = {}) {
  std::vector<std::string> environment = clean_env;
  environment.insert(environment.end(), env.begin(), env.end());
  it::process ctl(it::env_or_fail("VMM_CTL"), args, environment);
  const auto code = ctl.wait_for(limit);
  REQUIRE(code.has_value());
  return {*code, ctl.out(), ctl.err()};
}

std::string fast_config() {
  return write_config("fast.json",
                      R"({"timeout_ms": 2000, "retry": {"base_delay_ms": 10, "max_delay_ms": 50}})");
}

/// Attempts that give up after 300 ms, and as long to check afterwards whether a create was applied.
std::string short_window_config() {
  return write_config("short_window.json",
                      R"({"timeout_ms": 300, "retry": {"base_delay_ms": 10, "max_delay_ms": 50}})");
}

}  // namespace

TEST_CASE("503, 503, 200 on list gives 3 requests and the list", "[integration]") {
  simulator sim({"GET /v1/vms 1-2 status 503"});
  auto host = fast_host(sim.url());
  const auto result = host.list_vms();
  REQUIRE(result.ok());
  CHECK(result.value->empty());
  CHECK(result.attempts == 3);
  CHECK(sim.count("GET /v1/vms") == 3);
}

TEST_CASE("a 500 is answered once, never retried", "[integration]") {
  simulator sim({"GET /v1/vms * status 500"});
  auto host = fast_host(sim.url());
  const auto result = host.list_vms();
  CHECK(result.outcome == vmm::call_outcome::http_error);
  CHECK(result.status == 500);
  CHECK(sim.count("GET /v1/vms") == 1);
}

TEST_CASE("a 404 is answered once, with the server's message", "[integration]") {
  simulator sim;
  auto host = fast_host(sim.url());
  const auto result = host.get_vm("nope");
  CHECK(result.outcome == vmm::call_outcome::http_error);
  CHECK(result.status == 404);
  CHECK(result.message.find("no VM named \"nope\"") != std::string::npos);
  CHECK(sim.requests().size() == 1);
}

TEST_CASE("keep-alive: many calls share one connection", "[integration]") {
  simulator sim;
  auto host = fast_host(sim.url());
  for (int i = 0; i < 5; ++i) REQUIRE(host.list_vms().ok());
  CHECK(host.client().transport().connections_opened() == 1);
  CHECK(sim.requests().size() == 5);
}

TEST_CASE("a kept-alive connection the server closed is replaced before anything is sent", "[integration]") {
  // The server answers the list, then closes the idle connection without saying so. The create that follows
  // must notice the dead connection before writing, open a new one and succeed: one POST, no ambiguity.
  simulator sim({"GET /v1/vms 1 answer-close"});
  auto host = fast_host(sim.url());
  REQUIRE(host.list_vms().ok());
  it::wait_until_closed_by_server(sim.url());  // the server's FIN is in: no race with the create's write
  const auto created = host.create_vm({"web-1"});
  CAPTURE(created.message);
  REQUIRE(created.ok());
  CHECK(created.attempts == 1);
  CHECK(host.client().transport().connections_opened() == 2);
  CHECK(sim.count("POST /v1/vms") == 1);
}

TEST_CASE("a dropped GET is retried on a new connection", "[integration]") {
  simulator sim({"GET /v1/vms 1 drop"});
  auto host = fast_host(sim.url());
  const auto result = host.list_vms();
  REQUIRE(result.ok());
  CHECK(result.attempts == 2);
  CHECK(host.client().transport().connections_opened() == 2);
  CHECK(sim.count("GET /v1/vms") == 2);
}

TEST_CASE("IPv6 loopback works", "[integration]") {
  std::unique_ptr<simulator> sim;
  try {
    sim = std::make_unique<simulator>(std::vector<std::string>{}, "::1");
  } catch (const std::exception& error) {
    WARN("no IPv6 loopback here: " << error.what());
    return;
  }
  CHECK(sim->url().find("[::1]") != std::string::npos);
  auto host = fast_host(sim->url());
  CHECK(host.list_vms().ok());
}

TEST_CASE("create with a lost response: exactly one VM, one POST, exit 4 with advice",
          "[integration][vmm-ctl]") {
  simulator sim({"POST /v1/vms 1 apply-drop"});
  const auto run = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "create", "web-1"});
  CHECK(run.code == 4);
  CHECK(run.err.find("may exist") != std::string::npos);
  CHECK(run.err.find("vmm-ctl get web-1") != std::string::npos);
  CHECK(sim.count("POST /v1/vms") == 1);
  auto host = fast_host(sim.url());
  const auto list = host.list_vms();
  REQUIRE(list.ok());
  REQUIRE(list.value->size() == 1);
  CHECK(list.value->at(0).name == "web-1");
}

TEST_CASE("start after a dropped connection is retried", "[integration][vmm-ctl]") {
  simulator sim({"POST /v1/vms/{name}/start 1 drop"});
  auto host = fast_host(sim.url());
  REQUIRE(host.create_vm({"web-1"}).ok());
  const auto run = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "start", "web-1"});
  CHECK(run.code == 0);
  CHECK(run.out.find("\"running\"") != std::string::npos);
  CHECK(sim.count("POST /v1/vms/web-1/start") == 2);
}

TEST_CASE("a server that never answers: the attempt times out and a GET retries it", "[integration]") {
  simulator sim({"GET /v1/vms 1 hang"});
  // Attempts of 1 s: the first hangs; the second is answered within its second even on a loaded machine.
  auto host = fast_host(sim.url(), 1s);
  const auto start = std::chrono::steady_clock::now();
  const auto result = host.list_vms();
  CHECK(result.ok());
  CHECK(result.attempts == 2);
  CHECK(sim.count("GET /v1/vms") == 2);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("a create that never gets an answer is not retried", "[integration]") {
  simulator sim({"POST /v1/vms 1 hang"});
  auto host = fast_host(sim.url(), 300ms);
  const auto result = host.create_vm({"web-1"});
  CHECK(result.outcome == vmm::call_outcome::may_have_been_applied);
  CHECK(sim.count("POST /v1/vms") == 1);
}

TEST_CASE("a refused connection: GET is retried then exhausted (exit 3); create is not retried",
          "[integration]") {
  // A port that was free a moment ago and has no listener.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = probe.local_endpoint().port();
  probe.close();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const auto list = vmm_ctl({"--config", fast_config(), "--endpoint", url, "--verbose", "list"});
  CHECK(list.code == 3);
  CHECK(list.err.find("attempt 4 of 4") != std::string::npos);
  CHECK(list.err.find("request failed after 3 retries") != std::string::npos);
  const auto create = vmm_ctl({"--config", fast_config(), "--endpoint", url, "--verbose", "create", "web-1"});
  CHECK(create.code == 3);
  CHECK(create.err.find("attempt 2 of 4") == std::string::npos);
  CHECK(create.err.find("nothing was applied") != std::string::npos);
}

TEST_CASE("SIGINT during a 5 s wait ends vmm-ctl with 130 and no further request", "[integration][vmm-ctl]") {
  simulator sim({"GET /v1/vms * status 503"});
  const auto config = write_config(
      "slow.json", R"({"timeout_ms": 2000, "retry": {"base_delay_ms": 5000, "max_delay_ms": 10000}})");
  it::process ctl(it::env_or_fail("VMM_CTL"),
                  {"--config", config, "--endpoint", sim.url(), "--verbose", "list"});
  // Wait (bounded) until the first attempt was answered and vmm-ctl is in its backoff.
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (ctl.err().find("(backoff) before attempt") == std::string::npos
         && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  REQUIRE(ctl.err().find("(backoff) before attempt") != std::string::npos);
  const auto interrupted_at = std::chrono::steady_clock::now();
  ctl.signal(SIGINT);
  const auto code = ctl.wait_for(4s);
  REQUIRE(code.has_value());
  CHECK(*code == 130);
  CHECK(std::chrono::steady_clock::now() - interrupted_at < 3s);  // far less than the 5 s wait
  CHECK(ctl.err().find("interrupted") != std::string::npos);
  CHECK(sim.count("GET /v1/vms") == 1);
}

TEST_CASE("a signal during a request in flight ends vmm-ctl at once: 130 for SIGINT, 143 for SIGTERM",
          "[integration][vmm-ctl]") {
  const auto [signal_number, expected_code] = GENERATE(table<int, int>({{SIGINT, 130}, {SIGTERM, 143}}));
  CAPTURE(signal_number);
  simulator sim({"GET /v1/vms * hang"});
  const auto config = write_config("long.json", R"({"timeout_ms": 60000})");
  it::process ctl(it::env_or_fail("VMM_CTL"), {"--config", config, "--endpoint", sim.url(), "list"});
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (sim.count("GET /v1/vms") == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  REQUIRE(sim.count("GET /v1/vms") == 1);
  const auto signalled_at = std::chrono::steady_clock::now();
  ctl.signal(signal_number);
  const auto code = ctl.wait_for(4s);
  REQUIRE(code.has_value());
  CHECK(*code == expected_code);
  CHECK(std::chrono::steady_clock::now() - signalled_at < 3s);  // far less than the 60 s attempt timeout
  CHECK(ctl.err().find("interrupted") != std::string::npos);
  CHECK(sim.count("GET /v1/vms") == 1);
}

TEST_CASE("vmm-ctl: bad arguments and bad config are exit 2 and send nothing", "[integration][vmm-ctl]") {
  simulator sim;
  const auto bad_config = write_config("bad.json", R"({"retry": {"max_retries": "three"}})");
  const std::vector<std::vector<std::string>> cases{
      {"--endpoint", sim.url(), "frobnicate"},
      {"--endpoint", sim.url(), "get"},
      {"--endpoint", sim.url(), "create", "web-1", "--cpus", "abc"},
      {"--endpoint", sim.url(), "list", "--cpus", "2"},
      {"--endpoint", "ftp://127.0.0.1:1", "list"},
      {"--config", bad_config, "--endpoint", sim.url(), "list"},
      {"--config", "/nonexistent/config.json", "list"},
      {"--endpoint", sim.url(), "get", "../x"},
  };
  for (const auto& args : cases) {
    const auto run = vmm_ctl(args);
    CAPTURE(args, run.err);
    CHECK(run.code == 2);
    CHECK_FALSE(run.err.empty());
  }
  CHECK(vmm_ctl({"--config", bad_config, "list"}).err.find("retry.max_retries") != std::string::npos);
  CHECK(sim.requests().empty());
  CHECK(vmm_ctl({"--help"}).code == 0);
  CHECK(vmm_ctl({"--version"}).out.find("vmm-ctl") != std::string::npos);
}

TEST_CASE("vmm-ctl: a full session prints the server's JSON and exits 0", "[integration][vmm-ctl]") {
  simulator sim;
  const auto config = fast_config();
  CHECK(vmm_ctl({"--config", config, "--endpoint", sim.url(), "create", "web-1", "--cpus", "2"}).code == 0);
  const auto get = vmm_ctl({"--config", config, "--endpoint", sim.url(), "get", "web-1"});
  CHECK(get.code == 0);
  CHECK(boost::json::parse(get.out).at("cpus").as_int64() == 2);
  CHECK(vmm_ctl({"--config", config, "--endpoint", sim.url(), "stop", "web-1"}).code == 0);
  const auto removed = vmm_ctl({"--config", config, "--endpoint", sim.url(), "delete", "web-1"});
  CHECK(removed.code == 0);
  CHECK(removed.out.empty());
  CHECK(vmm_ctl({"--config", config, "--endpoint", sim.url(), "delete", "web-1"}).code == 1);
}

TEST_CASE("orchestrator-sim: 400 for a malformed body, 413 for an oversized one, clean stop",
          "[integration][sim]") {
  auto sim = std::make_unique<simulator>(std::vector<std::string>{"connection 1 close"});
  retryhttp::beast_transport transport{sim->url()};
  // The first connection is closed before anything is read: nothing was processed, and a new one serves.
  auto first = transport.attempt({http::verb::get, "/v1/vms", 11}, {{}, 5s, 1});
  CHECK_FALSE(first.has_response());
  auto malformed = transport.attempt({http::verb::post, "/v1/vms", 11, "{not json"}, {{}, 5s, 2});
  REQUIRE(malformed.has_response());
  CHECK(malformed.response().result_int() == 400);
  auto wrong_type =
      transport.attempt({http::verb::post, "/v1/vms", 11, R"({"name":"a","cpus":"two"})"}, {{}, 5s, 3});
  REQUIRE(wrong_type.has_response());
  CHECK(wrong_type.response().result_int() == 400);
  CHECK_THAT(wrong_type.response().body(), Catch::Contains("cpus"));
  auto oversized =
      transport.attempt({http::verb::post, "/v1/vms", 11, std::string(2 * 1024 * 1024, 'x')}, {{}, 5s, 4});
  REQUIRE(oversized.has_response());
  CHECK(oversized.response().result_int() == 413);
  CHECK(sim->requests().size() == 2);  // the two 400s; the 413 body was never read as a request
  sim.reset();                         // SIGTERM; the destructor waits for a clean exit
}

TEST_CASE("orchestrator-sim: a request whose chunk extension never ends is cut off, not buffered",
          "[integration][sim]") {
  simulator sim;
  const auto port = static_cast<unsigned short>(std::stoi(sim.url().substr(sim.url().rfind(':') + 1)));
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  const std::string head = "POST /v1/vms HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=";
  boost::system::error_code ec;
  boost::asio::write(socket, boost::asio::buffer(head), ec);
  // Send up to 256 MiB of one chunk extension. Its read buffer holds 64 KiB, so the simulator closes the
  // connection long before; without the bound it read all of it (and held it).
  const std::string endless(64 * 1024, 'a');
  std::size_t sent = 0;
  while (!ec && sent < 256 * 1024 * 1024)
    sent += boost::asio::write(socket, boost::asio::buffer(endless), ec);
  CHECK(ec);
  CHECK(sent < 32 * 1024 * 1024);  // what the kernel's socket buffers take in before the close is seen
  // The simulator still serves, and counted no request.
  auto host = fast_host(sim.url());
  CHECK(host.list_vms().ok());
  CHECK(sim.count("POST /v1/vms") == 0);
}

// ---- Retry-After, deadlines, budgets and keys, each against the simulator
// ------------------------------------------------

TEST_CASE("Retry-After from the server sets the wait, and vmm-ctl says where the wait came from",
          "[integration][retry_after]") {
  simulator sim({"GET /v1/vms 1 status 503 retry-after 1"});
  const auto config = write_config(
      "retry_after.json",
      R"({"timeout_ms": 2000, "retry": {"base_delay_ms": 10, "max_delay_ms": 50, "retry_after_max_ms": 5000}})");
  const auto run = vmm_ctl({"--config", config, "--endpoint", sim.url(), "--verbose", "list"});
  CHECK(run.code == 0);
  CHECK(run.err.find("wait 1 s (Retry-After) before attempt 2 of 4") != std::string::npos);
  CHECK(sim.count("GET /v1/vms") == 2);
}

TEST_CASE("a Retry-After beyond the cap fails at once, naming the wait", "[integration][retry_after]") {
  simulator sim({"GET /v1/vms * status 503 retry-after 3600"});
  const auto start = std::chrono::steady_clock::now();
  const auto run = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "list"});
  CHECK(run.code == 3);
  CHECK(run.err.find("asked to wait 3600 s (Retry-After)") != std::string::npos);
  CHECK(sim.count("GET /v1/vms") == 1);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("the call's deadline cuts a hung attempt and refuses the next wait", "[integration][deadline]") {
  simulator sim({"GET /v1/vms * hang"});
  const auto config =
      write_config("deadline.json", R"({"timeout_ms": 30000, "retry": {"deadline_ms": 400}})");
  const auto start = std::chrono::steady_clock::now();
  const auto run = vmm_ctl({"--config", config, "--endpoint", sim.url(), "list"});
  CHECK(run.code == 3);
  CHECK(run.err.find("deadline exceeded after 1 attempt") != std::string::npos);
  CHECK(sim.count("GET /v1/vms") == 1);
  CHECK(std::chrono::steady_clock::now() - start < 10s);  // far below the 30 s attempt timeout
}

TEST_CASE("a shared retry budget bounds the retries of two clients", "[integration][budget]") {
  simulator sim({"GET /v1/vms * status 503"});
  auto first = fast_host(sim.url());
  auto second = fast_host(sim.url());
  auto bucket = std::make_shared<retryhttp::token_bucket_budget>(4, 0.1);
  first.client().share_budget(bucket);
  second.client().share_budget(bucket);
  CHECK(first.list_vms().outcome == vmm::call_outcome::network_error);   // 503, retry, 503: tokens 2, stop
  CHECK(second.list_vms().outcome == vmm::call_outcome::network_error);  // 503: tokens 1, stop
  CHECK(sim.count("GET /v1/vms") == 3);                                  // without the budget: 8
}

TEST_CASE("create with an idempotency key: the lost response is retried and exactly one VM exists, exit 0",
          "[integration][idempotency_key]") {
  simulator sim({"POST /v1/vms 1 apply-drop"});
  const auto run = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "--verbose", "create",
                            "web-1", "--idempotency-key"});
  CAPTURE(run.err);
  CHECK(run.code == 0);
  CHECK(boost::json::parse(run.out).at("name").as_string() == "web-1");
  CHECK(sim.count("POST /v1/vms") == 2);
  auto host = fast_host(sim.url());
  const auto list = host.list_vms();
  REQUIRE(list.ok());
  CHECK(list.value->size() == 1);
}

TEST_CASE("the same idempotency key with another body is refused with 422",
          "[integration][idempotency_key]") {
  simulator sim;
  const auto config = fast_config();
  CHECK(
      vmm_ctl({"--config", config, "--endpoint", sim.url(), "create", "web-1", "--idempotency-key=k-1"}).code
      == 0);
  // The same request again: the stored answer is replayed, nothing new is created.
  const auto replay =
      vmm_ctl({"--config", config, "--endpoint", sim.url(), "create", "web-1", "--idempotency-key=k-1"});
  CHECK(replay.code == 0);
  const auto other = vmm_ctl({"--config", config, "--endpoint", sim.url(), "create", "web-1", "--cpus", "4",
                              "--idempotency-key=k-1"});
  CHECK(other.code == 1);
  CHECK(other.err.find("422") != std::string::npos);
  auto host = fast_host(sim.url());
  CHECK(host.list_vms().value->size() == 1);
}

TEST_CASE("after an ambiguous create without a key, vmm-ctl checks whether the VM exists (exit 4)",
          "[integration][reconcile]") {
  SECTION("applied") {
    simulator sim({"POST /v1/vms 1 apply-drop"});
    const auto run = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "create", "web-1"});
    CHECK(run.code == 4);
    CHECK(run.err.find("the VM exists now (state stopped): the create was applied") != std::string::npos);
    CHECK(sim.count("POST /v1/vms") == 1);
    CHECK(sim.count("GET /v1/vms/web-1") == 1);
  }
  SECTION("not applied: a 404 is reported as not visible, never as not created") {
    simulator sim({"POST /v1/vms 1 drop"});
    const auto run = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "create", "web-1"});
    CAPTURE(run.err);
    CHECK(run.code == 4);
    CHECK(run.err.find("the VM is not visible; the create may not have been applied, or may still be in "
                       "flight")
          != std::string::npos);
    CHECK(run.err.find("was not applied") == std::string::npos);
    CHECK(sim.count("POST /v1/vms") == 1);
    CHECK(sim.count("GET /v1/vms/web-1") >= 2);  // checked again within the window, not once
  }
}

TEST_CASE("a create still in flight when its attempt timed out is never reported as not applied",
          "[integration][reconcile]") {
  // The server takes 1.5 s to apply the create; the client gives up after 300 ms and checks for 300 ms more.
  simulator sim({"POST /v1/vms 1 delay 1500"});
  const auto config = short_window_config();
  const auto run = vmm_ctl({"--config", config, "--endpoint", sim.url(), "create", "web-1"});
  CAPTURE(run.err);
  CHECK(run.code == 4);
  CHECK(run.err.find("was not applied") == std::string::npos);
  CHECK(run.err.find("may still be in flight") != std::string::npos);
  // And it was in flight: the VM appears once the server is done (bounded wait).
  auto host = fast_host(sim.url());
  bool appeared = false;
  for (int i = 0; i < 50 && !appeared; ++i) {
    appeared = host.get_vm("web-1").ok();
    if (!appeared) std::this_thread::sleep_for(100ms);
  }
  CHECK(appeared);
  CHECK(sim.count("POST /v1/vms") == 1);
}

TEST_CASE("a blank or malformed idempotency key is refused before anything is sent (exit 2)",
          "[integration][idempotency_key]") {
  // A blank key is no key to the server: had it been sent, the lost response would be retried and the VM
  // created twice.
  simulator sim({"POST /v1/vms 1 apply-drop"});
  const std::string key = GENERATE(as<std::string>{}, "--idempotency-key= ", "--idempotency-key=\t",
                                   "--idempotency-key=a\r\nX-Injected: 1", "--idempotency-key=");
  CAPTURE(key);
  const auto run = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "create", "dupvm", key});
  CAPTURE(run.err);
  CHECK(run.code == 2);
  CHECK(run.err.find("--idempotency-key=KEY: expected 1 to 255 printable ASCII characters")
        != std::string::npos);
  CHECK(sim.count("POST /v1/vms") == 0);
}

TEST_CASE("over a Unix domain socket: vmm-ctl lists, a 503 is retried, a lost create is sent once (exit 4)",
          "[integration][unix]") {
  const auto directory = it::scratch_dir() / "unix";
  std::filesystem::create_directories(directory);
  const std::string socket = (directory / "orchestrator.sock").string();
  simulator sim({"GET /v1/vms 1 status 503", "POST /v1/vms 1 apply-drop"}, socket);
  REQUIRE(sim.url() == "unix://" + socket);
  const std::string config = fast_config();

  auto listed = vmm_ctl({"--config", config, "--endpoint", sim.url(), "list"});
  CHECK(listed.code == 0);
  CHECK(sim.count("GET /v1/vms") == 2);  // the 503, then the answer

  auto created = vmm_ctl({"--config", config, "--endpoint", sim.url(), "create", "web-1"});
  CHECK(created.code == 4);
  CHECK(sim.count("POST /v1/vms") == 1);  // applied, answer lost: never sent again
}

// ---- vmm-ctl as an operator's tool: output formats, flags, help, every input checked
// ------------------------------------------------

namespace {

/// Two VMs on the simulator, made through the API.
void create_two(const simulator& sim) {
  auto host = fast_host(sim.url());
  REQUIRE(host.create_vm({"web-1", 2, 1024, "debian-12"}).ok());
  REQUIRE(host.create_vm({"db-1", 4, 4096, "postgres-16"}).ok());
}

/// The lines of `text`, without the empty last one.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  for (const char c : text) {
    if (c == '\n') {
      lines.push_back(line);
      line.clear();
    } else {
      line += c;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("vmm-ctl list: a table on a terminal, JSON through a pipe, names with -o name",
          "[integration][vmm-ctl][output]") {
  simulator sim;
  create_two(sim);
  const std::string ctl = it::env_or_fail("VMM_CTL");
  const std::vector<std::string> base{"--config", fast_config(), "--endpoint", sim.url()};
  auto with = [&](std::vector<std::string> more) {
    auto args = base;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };

  SECTION("a terminal gets a table, aligned, one VM per row") {
    const auto run = it::run_on_terminal(ctl, with({"list"}), clean_env);
    INFO(run.out);
    REQUIRE(run.code == 0);
    const auto lines = lines_of(run.out);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].starts_with("NAME"));
    CHECK(lines[0].find("STATE") != std::string::npos);
    CHECK(lines[0].find("MEMORY") != std::string::npos);
    // Sorted as the server lists them; each column starts where its header does.
    CHECK(lines[1].starts_with("db-1 "));
    CHECK(lines[2].starts_with("web-1 "));
    CHECK(lines[1].find("stopped") == lines[0].find("STATE"));
    CHECK(lines[2].find("1024 MiB") == lines[0].find("MEMORY"));
    CHECK(lines[1].find("postgres-16") == lines[0].find("IMAGE"));
    CHECK(run.out.find('{') == std::string::npos);
  }
  SECTION("a pipe gets the server's JSON, as before") {
    const auto run = it::run_into_pipe(ctl, with({"list"}), clean_env);
    REQUIRE(run.code == 0);
    const auto value = boost::json::parse(run.out);
    CHECK(value.at("vms").as_array().size() == 2);
    CHECK(lines_of(run.out).size() == 1);
  }
  SECTION("-o json on a terminal, -o table through a pipe: the option wins") {
    const auto json = it::run_on_terminal(ctl, with({"-o", "json", "list"}), clean_env);
    REQUIRE(json.code == 0);
    CHECK(boost::json::parse(json.out).at("vms").as_array().size() == 2);
    const auto table = it::run_into_pipe(ctl, with({"list", "--output=table"}), clean_env);
    REQUIRE(table.code == 0);
    CHECK(table.out.starts_with("NAME"));
  }
  SECTION("-o name: one name per line, for scripts") {
    const auto run = it::run_into_pipe(ctl, with({"-oname", "list"}), clean_env);
    REQUIRE(run.code == 0);
    CHECK(run.out == "db-1\nweb-1\n");
    const auto one = it::run_into_pipe(ctl, with({"get", "web-1", "-o", "name"}), clean_env);
    CHECK(one.out == "web-1\n");
  }
  SECTION("get on a terminal: a table of one row") {
    const auto run = it::run_on_terminal(ctl, with({"get", "db-1"}), clean_env);
    REQUIRE(run.code == 0);
    const auto lines = lines_of(run.out);
    REQUIRE(lines.size() == 2);
    CHECK(lines[1].starts_with("db-1 "));
  }
}

TEST_CASE("vmm-ctl: --flag=value for every flag, -- before a name that starts with '-'",
          "[integration][vmm-ctl][flags]") {
  simulator sim;
  const auto created =
      vmm_ctl({"--config=" + fast_config(), "--endpoint=" + sim.url(), "--output=json", "--retries=1",
               "--timeout=10s", "create", "web-1", "--cpus=2", "--memory-mib=1024", "--image=img-1"});
  CAPTURE(created.err);
  REQUIRE(created.code == 0);
  const auto vm = boost::json::parse(created.out);
  CHECK(vm.at("cpus").as_int64() == 2);
  CHECK(vm.at("memory_mib").as_int64() == 1024);
  CHECK(vm.at("image").as_string() == "img-1");

  // A name that starts with '-' is an option unless "--" ended them.
  const auto refused = vmm_ctl({"--endpoint", sim.url(), "create", "-web"});
  CHECK(refused.code == 2);
  CHECK(refused.err.find("unknown option \"-web\"") != std::string::npos);
  const auto dashed = vmm_ctl({"--endpoint", sim.url(), "-o", "json", "create", "--", "-web"});
  CAPTURE(dashed.err);
  CHECK(dashed.code == 0);
  CHECK(boost::json::parse(dashed.out).at("name").as_string() == "-web");
  // Options still come before "--"; after it, "--help" is a name, not a request for help.
  const auto got = vmm_ctl({"get", "--endpoint", sim.url(), "-o", "name", "--", "-web"});
  CHECK(got.code == 0);
  CHECK(got.out == "-web\n");
  CHECK(vmm_ctl({"--endpoint", sim.url(), "get", "--", "--help"}).code == 1);  // 404: asked, not helped
  CHECK(sim.count("POST /v1/vms") == 2);
}

TEST_CASE("vmm-ctl --quiet prints nothing on success; errors still go to stderr",
          "[integration][vmm-ctl][flags]") {
  simulator sim;
  const auto created = vmm_ctl({"--endpoint", sim.url(), "--quiet", "create", "web-1"});
  CHECK(created.code == 0);
  CHECK(created.out.empty());
  const auto listed = vmm_ctl({"--endpoint", sim.url(), "-q", "-o", "json", "list"});
  CHECK(listed.code == 0);
  CHECK(listed.out.empty());
  const auto missing = vmm_ctl({"--endpoint", sim.url(), "-q", "get", "nope"});
  CHECK(missing.code == 1);
  CHECK(missing.out.empty());
  CHECK(missing.err.find("404") != std::string::npos);
  CHECK(sim.count("POST /v1/vms") == 1);
}

TEST_CASE("vmm-ctl --retries N makes N re-sends; --retries 0 makes none", "[integration][vmm-ctl][flags]") {
  simulator sim({"GET /v1/vms * status 503"});
  const auto one = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "--retries", "1", "list"});
  CHECK(one.code == 3);
  CHECK(one.err.find("after 1 retr") != std::string::npos);
  CHECK(sim.count("GET /v1/vms") == 2);
  const auto none = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "--retries=0", "list"});
  CHECK(none.code == 3);
  CHECK(sim.count("GET /v1/vms") == 3);
}

TEST_CASE("vmm-ctl --timeout bounds the whole call, whatever the attempt timeout",
          "[integration][vmm-ctl][flags]") {
  simulator sim({"GET /v1/vms * hang"});
  const auto config = write_config("slow_attempts.json", R"({"timeout_ms": 30000})");
  const auto start = std::chrono::steady_clock::now();
  const auto run = vmm_ctl({"--config", config, "--endpoint", sim.url(), "--timeout", "400ms", "list"});
  const auto took = std::chrono::steady_clock::now() - start;
  CAPTURE(run.err);
  CHECK(run.code == 3);
  CHECK(run.err.find("deadline exceeded after 1 attempt") != std::string::npos);
  CHECK(took < 10s);  // far below the 30 s attempt timeout
  CHECK(sim.count("GET /v1/vms") == 1);
}

TEST_CASE("$VMM_CTL_ENDPOINT replaces the config's endpoint, and --endpoint replaces it",
          "[integration][vmm-ctl][flags]") {
  simulator sim;
  const auto from_env =
      vmm_ctl({"--config", fast_config(), "--verbose", "list"}, 30s, {"VMM_CTL_ENDPOINT=" + sim.url()});
  CAPTURE(from_env.err);
  CHECK(from_env.code == 0);
  CHECK(sim.count("GET /v1/vms") == 1);
  // A dead endpoint in the environment is not used when --endpoint is given.
  const auto overridden = vmm_ctl({"--config", fast_config(), "--endpoint", sim.url(), "list"}, 30s,
                                  {"VMM_CTL_ENDPOINT=http://127.0.0.1:1"});
  CHECK(overridden.code == 0);
  CHECK(sim.count("GET /v1/vms") == 2);
  const auto bad = vmm_ctl({"list"}, 30s, {"VMM_CTL_ENDPOINT=ftp://127.0.0.1:21"});
  CHECK(bad.code == 2);
  CHECK(bad.err.find("$VMM_CTL_ENDPOINT: expected an http://") != std::string::npos);
}

TEST_CASE("vmm-ctl help, help COMMAND, COMMAND --help and --version", "[integration][vmm-ctl][help]") {
  const auto general = vmm_ctl({"help"});
  CHECK(general.code == 0);
  CHECK(general.out.find("Commands:") != std::string::npos);
  CHECK(general.out.find("--output") != std::string::npos);
  CHECK(general.out.find("143") != std::string::npos);
  CHECK(vmm_ctl({"--help"}).out == general.out);
  CHECK(vmm_ctl({"-h"}).out == general.out);

  const auto create = vmm_ctl({"help", "create"});
  CHECK(create.code == 0);
  CHECK(create.out.find("--cpus N") != std::string::npos);
  CHECK(create.out != general.out);
  CHECK(vmm_ctl({"create", "--help"}).out == create.out);
  CHECK(vmm_ctl({"create", "web-1", "--cpus", "abc", "--help"}).code == 0);  // help wins over the error
  CHECK(vmm_ctl({"get", "--help"}).out.find("usage: vmm-ctl [OPTIONS] get NAME") != std::string::npos);

  const auto unknown = vmm_ctl({"help", "frobnicate"});
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("unknown command \"frobnicate\"") != std::string::npos);
  const auto version = vmm_ctl({"--version"});
  CHECK(version.code == 0);
  CHECK(version.out == "vmm-ctl " RETRYHTTP_VERSION_STRING " (retryhttp " RETRYHTTP_VERSION_STRING ")\n");
}

TEST_CASE("vmm-ctl: every input is checked before anything is sent, naming the flag (exit 2)",
          "[integration][vmm-ctl][input]") {
  simulator sim;
  const auto directory = it::scratch_dir() / "config-dir";
  std::filesystem::create_directories(directory);
  const auto plain_file = write_config("plain.json", "{}");
  struct bad_case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<bad_case> cases{
      {{"create", "web-1", "--cpus", "+5"}, "--cpus: expected an integer from 1 to 256, got \"+5\""},
      {{"create", "web-1", "--cpus", " 7"}, "--cpus: expected an integer from 1 to 256, got \" 7\""},
      {{"create", "web-1", "--cpus=-1"}, "--cpus: expected an integer from 1 to 256, got \"-1\""},
      {{"create", "web-1", "--cpus", "2 "}, "--cpus: expected"},
      {{"create", "web-1", "--memory-mib", "99999999999999999999999"}, "--memory-mib: expected an integer"},
      {{"create", "web-1", "--memory-mib", "63"}, "--memory-mib: expected an integer from 64"},
      {{"create", "web-1", "--image", "a b"}, "--image: expected 1 to 255 characters"},
      {{"create", "web-1", "--image="}, "--image: expected"},
      {{"list", "--retries", "-1"}, "--retries: expected an integer from 0 to 1000, got \"-1\""},
      {{"list", "--retries=1001"}, "--retries: expected an integer from 0 to 1000"},
      {{"list", "--timeout", "5"}, "--timeout: expected a duration"},
      {{"list", "--timeout", " 2s"}, "--timeout: expected a duration"},
      {{"list", "--timeout=-1s"}, "--timeout: expected a duration"},
      {{"list", "--timeout", "0ms"}, "--timeout: expected a duration from 1ms to 24h"},
      {{"list", "--timeout", "25h"}, "--timeout: expected a duration from 1ms to 24h"},
      {{"list", "-o", "yaml"}, "--output: expected table, json or name, got \"yaml\""},
      {{"list", "--output="}, "--output: expected table, json or name"},
      {{"list", "--verbose=yes"}, "--verbose takes no value"},
      {{"list", "-qv"}, "unknown option \"-qv\""},
      {{"list", "--frobnicate"}, "unknown option \"--frobnicate\""},
      {{"list", "--retries"}, "--retries needs a value"},
      {{"list", "extra"}, "unexpected argument \"extra\""},
      {{"get", std::string(64, 'a')}, "invalid VM name"},
      {{"get", "a/b"}, "invalid VM name \"a/b\""},
      {{"delete", ".."}, "invalid VM name"},
      {{"start"}, "start needs a NAME"},
      {{"list", "--config", directory.string()}, "it is a directory"},
      {{"list", "--config", "/nonexistent/config.json"}, "No such file or directory"},
      {{"list", "--config", plain_file + "/below"}, "Not a directory"},
      {{"list", "--config="}, "--config: expected"},
      {{"list", "--endpoint=ftp://127.0.0.1:21"}, "--endpoint: expected an http://"},
  };
  for (const auto& [args, says] : cases) {
    std::vector<std::string> full{"--endpoint", sim.url()};
    full.insert(full.end(), args.begin(), args.end());
    const auto run = vmm_ctl(full);
    CAPTURE(full, run.err);
    CHECK(run.code == 2);
    CHECK(run.err.find(says) != std::string::npos);
  }
  CHECK(sim.requests().empty());
}

TEST_CASE("a create answered 503 may have been applied: exit 4, one POST, and a check whether the VM exists",
          "[integration][vmm-ctl][reconcile]") {
  simulator sim({"POST /v1/vms 1 status 503"});
  const auto config = short_window_config();
  const auto run = vmm_ctl({"--config", config, "--endpoint", sim.url(), "create", "web-1"});
  CAPTURE(run.err);
  CHECK(run.code == 4);
  CHECK(run.err.find("may have been applied") != std::string::npos);
  CHECK(run.err.find("503") != std::string::npos);
  CHECK(run.err.find("the VM is not visible") != std::string::npos);
  CHECK(sim.count("POST /v1/vms") == 1);
  CHECK(sim.count("GET /v1/vms/web-1") >= 1);
}

TEST_CASE("a host name that does not exist (NXDOMAIN) fails at once with its own message, not retried",
          "[integration][vmm-ctl][dns]") {
  // RFC 6761 reserves .invalid. A machine without any DNS may answer "try again" instead, which is transient:
  // then vmm-ctl retries, as it should, and this test checks nothing more.
  const auto start = std::chrono::steady_clock::now();
  const auto config = write_config(
      "dns.json", R"({"timeout_ms": 3000, "retry": {"base_delay_ms": 300, "max_delay_ms": 300}})");
  const auto run =
      vmm_ctl({"--config", config, "--endpoint", "http://no-such-host.invalid:8080", "--verbose", "list"});
  const auto took = std::chrono::steady_clock::now() - start;
  CAPTURE(run.err);
  CHECK(run.code == 3);
  if (run.err.find("Host not found (authoritative)") == std::string::npos) {
    WARN("no NXDOMAIN here (no DNS?): " << run.err);
    return;
  }
  CHECK(run.err.find("no such host") != std::string::npos);
  CHECK(run.err.find("attempt 1 of 4") != std::string::npos);
  CHECK(run.err.find("attempt 2 of 4") == std::string::npos);
  CHECK(took < 3s);  // the attempt count above shows that nothing was retried; this bounds a slow resolver
}

TEST_CASE("orchestrator-sim: --port, --help and --version, and strict numbers in fault rules",
          "[integration][sim]") {
  const std::string program = it::env_or_fail("ORCHESTRATOR_SIM");
  auto run = [&](const std::vector<std::string>& args) {
    it::process sim(program, args);
    const auto code = sim.wait_for(10s);
    REQUIRE(code.has_value());
    return ctl_run{*code, sim.out(), sim.err()};
  };
  for (const std::string port : {"abc", "-1", "+80", " 80", "80 ", "65536", "99999999999999999999999", ""}) {
    const auto bad = run({"--port", port});
    CAPTURE(port, bad.err);
    CHECK(bad.code == 2);
    CHECK(
        bad.err.find("--port: expected a port number (0 to 65535; 0 picks a free port), got \"" + port + "\"")
        != std::string::npos);
    CHECK(bad.err.find("fault") == std::string::npos);
  }
  const auto help = run({"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("Fault rules:") != std::string::npos);
  CHECK(help.out.find("apply-drop") != std::string::npos);
  CHECK(help.out.find("--tls-cert") != std::string::npos);
  CHECK(help.out.find(".hpp") == std::string::npos);  // describes itself, points at no source file
  const auto version = run({"--version"});
  CHECK(version.code == 0);
  CHECK(version.out == "orchestrator-sim " RETRYHTTP_VERSION_STRING "\n");
  const auto signed_arrival = run({"--port", "0", "--fault", "GET /v1/vms +1 drop"});
  CHECK(signed_arrival.code == 2);
  CHECK(signed_arrival.err.find("got \"+1\"") != std::string::npos);
  const auto wrapped_status = run({"--port", "0", "--fault", "GET /v1/vms 1 status 4294967796"});
  CHECK(wrapped_status.code == 2);  // not 500 after a wrap-around
}

TEST_CASE("retry-demo: --seed is a strict number", "[integration][demo]") {
  const std::string program = it::env_or_fail("RETRY_DEMO");
  auto run = [&](const std::vector<std::string>& args) {
    it::process demo(program, args);
    const auto code = demo.wait_for(30s);
    REQUIRE(code.has_value());
    return ctl_run{*code, demo.out(), demo.err()};
  };
  for (const std::string seed : {"-1", " 7", "+7", "7x", "18446744073709551616"}) {
    const auto bad = run({"--seed", seed});
    CAPTURE(seed);
    CHECK(bad.code == 2);
    CHECK(bad.err.find("--seed: expected a non-negative integer") != std::string::npos);
  }
  const auto good = run({"--seed", "7"});
  CHECK(good.code == 0);
  CHECK(good.out.find("seed 7") != std::string::npos);
  const auto directory = run({"--config", it::scratch_dir().string()});
  CHECK(directory.code == 2);
  CHECK(directory.err.find("it is a directory") != std::string::npos);
  CHECK(run({"--help"}).code == 0);
}

}  // namespace test_integration
