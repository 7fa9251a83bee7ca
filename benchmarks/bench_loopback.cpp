// What it costs when nothing fails, on a real socket: a keep-alive GET of a small JSON body from a server on
// 127.0.0.1 that this program starts itself, three ways, in the same run:
//   BM_LoopbackGet/raw_beast   synchronous Boost.Beast on one kept-alive socket (the floor)
//   BM_LoopbackGet/retryhttp   retryhttp::http_client over beast_transport
//   BM_LoopbackGet/libcurl     libcurl with one reused easy handle
// Each reports p50_us and p99_us (per-request latency) and allocs_per_request (operator new for Beast and
// retryhttp, libcurl's malloc family through curl_global_init_mem). Reproduce: scripts/bench-loopback.sh

#include <retryhttp/beast_transport.hpp>

#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "../tests/support/counting_new.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr const char* vm_json =
    R"({"name":"web-1","state":"running","cpus":2,"memory_mib":2048,"image":"debian-12"})";

// ---- The server: one thread per connection, synchronous Beast, keep-alive
// -------------------------------------
class loopback_server {
 public:
  loopback_server() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~loopback_server() {
    // Closing an acceptor does not wake a thread blocked in accept() on Linux: connect once to wake it.
    stopping_ = true;
    boost::system::error_code ignored;
    {
      tcp::socket wake(io_);
      wake.connect({asio::ip::make_address("127.0.0.1"), port_}, ignored);
    }
    accept_thread_.join();
    acceptor_.close(ignored);
    std::lock_guard lock(mutex_);
    for (auto& socket : sockets_) {
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      socket->close(ignored);
    }
    for (auto& thread : connection_threads_) thread.join();
  }
  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec || stopping_) return;
      std::lock_guard lock(mutex_);
      sockets_.push_back(socket);
      connection_threads_.emplace_back([socket] { serve(*socket); });
    }
  }
  static void serve(tcp::socket& socket) {
    socket.set_option(tcp::no_delay(true));
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response{http::status::ok, 11, vm_json};
    response.set(http::field::content_type, "application/json");
    response.keep_alive(true);
    response.prepare_payload();
    for (;;) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(socket, buffer, request, ec);
      if (ec) return;
      http::write(socket, response, ec);
      if (ec) return;
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> connection_threads_;
};

loopback_server& server() {
  static loopback_server instance;
  return instance;
}

// ---- Per-request latency percentiles and allocations
// ----------------------------------------------------------
std::atomic<std::size_t> curl_allocations{0};

template <class Request>
void run(benchmark::State& state, Request&& one_request, std::size_t (*allocations)()) {
  for (int warm = 0; warm < 100; ++warm) one_request();  // connect, fill caches and pools
  std::vector<double> micros;
  micros.reserve(1 << 20);
  const std::size_t allocations_before = allocations();
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    one_request();
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  const std::size_t allocated = allocations() - allocations_before;
  std::sort(micros.begin(), micros.end());
  auto percentile = [&](double p) {
    return micros.empty() ? 0.0 : micros[static_cast<std::size_t>(p * (micros.size() - 1))];
  };
  state.counters["p50_us"] = percentile(0.50);
  state.counters["p99_us"] = percentile(0.99);
  state.counters["allocs_per_request"] =
      static_cast<double>(allocated) / static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
}

std::size_t new_count() {
  return retryhttp_test::allocations_so_far();
}
std::size_t curl_count() {
  return curl_allocations.load(std::memory_order_relaxed);
}

http::request<http::string_body> make_request() {
  http::request<http::string_body> request{http::verb::get, "/v1/vms/web-1", 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(server().port()));
  request.set(http::field::user_agent, "bench");
  request.set(http::field::accept, "application/json");
  return request;
}

void BM_LoopbackGet_raw_beast(benchmark::State& state) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), server().port()});
  socket.set_option(tcp::no_delay(true));
  boost::beast::flat_buffer buffer;
  const auto request = make_request();
  std::size_t bytes = 0;
  run(
      state,
      [&] {
        http::write(socket, request);
        http::response<http::string_body> response;
        http::read(socket, buffer, response);
        bytes += response.body().size();
      },
      new_count);
  benchmark::DoNotOptimize(bytes);
}

void BM_LoopbackGet_retryhttp(benchmark::State& state) {
  retryhttp::http_client<> client{retryhttp::retry_config{}, retryhttp::beast_transport{server().url()}};
  const auto request = make_request();
  std::size_t bytes = 0;
  run(
      state,
      [&] {
        auto result = client.send(request);
        if (!result.ok()) std::abort();  // nothing fails here; a failure would make the numbers meaningless
        bytes += result.response().body().size();
      },
      new_count);
  benchmark::DoNotOptimize(bytes);
}

// libcurl's allocations, counted through its memory callbacks.
void* counting_malloc(std::size_t size) {
  curl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size);
}
void counting_free(void* pointer) {
  std::free(pointer);
}
void* counting_realloc(void* pointer, std::size_t size) {
  curl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::realloc(pointer, size);
}
char* counting_strdup(const char* text) {
  curl_allocations.fetch_add(1, std::memory_order_relaxed);
  return strdup(text);
}
void* counting_calloc(std::size_t count, std::size_t size) {
  curl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::calloc(count, size);
}

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

void BM_LoopbackGet_libcurl(benchmark::State& state) {
  CURL* handle = curl_easy_init();
  const std::string url = server().url() + "/v1/vms/web-1";
  std::string body;
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(handle, CURLOPT_TCP_NODELAY, 1L);
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  std::size_t bytes = 0;
  run(
      state,
      [&] {
        body.clear();
        if (curl_easy_perform(handle) != CURLE_OK) std::abort();
        bytes += body.size();
      },
      curl_count);
  benchmark::DoNotOptimize(bytes);
  curl_slist_free_all(headers);
  curl_easy_cleanup(handle);
}

}  // namespace

BENCHMARK(BM_LoopbackGet_raw_beast)->Name("BM_LoopbackGet/raw_beast");
BENCHMARK(BM_LoopbackGet_retryhttp)->Name("BM_LoopbackGet/retryhttp");
BENCHMARK(BM_LoopbackGet_libcurl)->Name("BM_LoopbackGet/libcurl");

int main(int argc, char** argv) {
  curl_global_init_mem(CURL_GLOBAL_ALL, counting_malloc, counting_free, counting_realloc, counting_strdup,
                       counting_calloc);
  (void)server();  // start it before any benchmark
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  curl_global_cleanup();
  return 0;
}
