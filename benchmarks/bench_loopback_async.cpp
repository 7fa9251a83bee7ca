// What it costs when nothing fails and many requests are in flight: 64 concurrent keep-alive GETs of a small
// JSON body on ONE client thread, against a server on 127.0.0.1 that this program starts itself (one thread,
// asynchronous), three ways, in the same run:
//   BM_LoopbackAsync/raw_beast      64 kept-alive beast::tcp_streams, a callback loop each (the floor)
//   BM_LoopbackAsync/retryhttp      64 callback loops of async_send on one retryhttp::async_http_client
//   BM_LoopbackAsync/libcurl_multi  libcurl's multi interface with 64 easy handles
// Each iteration completes a batch of 1024 requests on connections made and warmed once. Each reports
// items_per_second (requests), allocs_per_request (operator new for Beast and retryhttp, libcurl's malloc
// family through curl_global_init_mem) and new_connections (connections opened during the run: 0 when
// keep-alive holds). At the end it prints, on standard error, the paired ratios to raw Beast (see
// print_paired_ratios). Reproduce: scripts/bench-loopback-async.sh. `bench_loopback_async --requests WAY N`
// makes N requests one way without Google Benchmark, for callgrind.

#include <retryhttp/async_beast_transport.hpp>

#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "../tests/support/counting_new.hpp"
#include "loopback_measure.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <time.h>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

using loopback::vm_json;

constexpr std::size_t concurrency = 64;
constexpr std::size_t batch_requests = concurrency * 16;

// ---- The server: one thread, one io_context, an asynchronous session per connection, keep-alive
// ---------------

// The server runs in this process, so operator new on its thread would be counted with the client's. It
// allocates through malloc instead, which counting_new does not see, so that allocs_per_request is the
// client's alone (as libcurl's count is).
template <class T>
struct malloc_allocator {
  using value_type = T;
  malloc_allocator() = default;
  template <class U>
  malloc_allocator(const malloc_allocator<U>&) noexcept {}
  T* allocate(std::size_t count) {
    if (void* memory = std::malloc(count * sizeof(T))) return static_cast<T*>(memory);
    throw std::bad_alloc();
  }
  void deallocate(T* memory, std::size_t) noexcept { std::free(memory); }
  template <class U>
  bool operator==(const malloc_allocator<U>&) const noexcept {
    return true;
  }
};

class loopback_server {
 public:
  loopback_server() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    response_.set(http::field::content_type, "application/json");
    response_.keep_alive(true);
    response_.prepare_payload();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~loopback_server() {
    // Closing every socket ends every pending operation; run() returns once the last session is gone.
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& session : sessions_) session.close();
    });
    thread_.join();
  }
  loopback_server(const loopback_server&) = delete;
  loopback_server& operator=(const loopback_server&) = delete;

  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  // Reads a request, writes the canned response, again until the client closes. A parser and a serializer
  // rather than a message: http::async_read and async_write of a message allocate their state (through the
  // handler's allocator) for every request.
  class session {
   public:
    session(tcp::socket socket, loopback_server& server) : socket_(std::move(socket)), server_(server) {}
    void start(std::list<session, malloc_allocator<session>>::iterator self) {
      self_ = self;
      read_request();
    }
    void close() {
      boost::system::error_code ignored;
      socket_.close(ignored);
    }

   private:
    void read_request() {
      parser_.emplace();
      http::async_read(socket_, buffer_, *parser_, [this](beast::error_code ec, std::size_t) {
        if (ec) return end();
        serializer_.emplace(server_.response_);
        http::async_write(socket_, *serializer_, [this](beast::error_code ec, std::size_t) {
          if (ec) return end();
          read_request();
        });
      });
    }
    // Destroys this session: the last thing its handler does.
    void end() { server_.sessions_.erase(self_); }

    tcp::socket socket_;
    loopback_server& server_;
    std::list<session, malloc_allocator<session>>::iterator self_;
    beast::basic_flat_buffer<malloc_allocator<char>> buffer_;
    std::optional<http::request_parser<http::empty_body, malloc_allocator<char>>> parser_;
    std::optional<http::response_serializer<http::string_body>> serializer_;
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed: the server is stopping
      socket.set_option(tcp::no_delay(true));
      const auto added = sessions_.emplace(sessions_.end(), std::move(socket), *this);
      added->start(added);
      accept();
    });
  }

  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  http::response<http::string_body> response_{http::status::ok, 11, vm_json};
  std::list<session, malloc_allocator<session>> sessions_;
  std::thread thread_;
};

loopback_server& server() {
  static loopback_server instance;
  return instance;
}

// ---- The ways to GET, each set up once and then asked for batches of concurrent requests
// ----------------------

http::request<http::string_body> make_request() {
  return loopback::make_request(server().port());
}

// How many requests of a batch were started and completed: each way's loops ask it before sending again. A
// batch ends at its last response (io_context::stop), whatever work the way leaves pending, so that no way's
// batch waits on timers or cancellations; what is left runs at the start of the next batch, still measured.
class batch_progress {
 public:
  void begin(std::size_t requests) {
    target_ = requests;
    started_ = 0;
    completed_ = 0;
    bytes_ = 0;
  }
  bool start_another() {
    if (started_ == target_) return false;
    ++started_;
    return true;
  }
  // True when this was the batch's last request.
  bool complete(std::size_t body_bytes) {
    bytes_ += body_bytes;
    return ++completed_ == target_;
  }
  bool done() const { return completed_ == target_; }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t target_ = 0;
  std::size_t started_ = 0;
  std::size_t completed_ = 0;
  std::size_t bytes_ = 0;
};

// 64 kept-alive tcp_streams, each a callback loop of write, read, write... The floor: a timeout per
// exchange (as retryhttp has), but no pool, no retry and no checks.
class raw_beast_way {
 public:
  static constexpr const char* name = "raw_beast";
  raw_beast_way() {
    const tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), server().port()};
    for (std::size_t i = 0; i < concurrency; ++i) {
      auto& added = *connections_.emplace_back(std::make_unique<connection>(*this));
      added.stream.socket().connect(endpoint);
      added.stream.socket().set_option(tcp::no_delay(true));
    }
  }
  std::size_t run_batch(std::size_t requests) {
    progress_.begin(requests);
    for (auto& each : connections_)
      if (progress_.start_another()) each->send();
    if (!progress_.done()) {
      io_.restart();
      io_.run();
    }
    return progress_.bytes();
  }
  std::size_t connections_opened() const { return concurrency; }

 private:
  struct connection {
    explicit connection(raw_beast_way& way) : way(way), stream(way.io_) {}
    void send() {
      stream.expires_after(std::chrono::seconds(30));
      http::async_write(stream, way.request_, [this](beast::error_code ec, std::size_t) {
        if (ec) std::abort();  // nothing fails here; a failure would make the numbers meaningless
        response = {};
        http::async_read(stream, buffer, response, [this](beast::error_code ec, std::size_t) {
          if (ec || response.result() != http::status::ok) std::abort();
          if (way.progress_.complete(response.body().size()))
            way.io_.stop();
          else if (way.progress_.start_another())
            send();
        });
      });
    }

    raw_beast_way& way;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
  };

  asio::io_context io_{1};
  const http::request<http::string_body> request_ = make_request();
  batch_progress progress_;
  std::vector<std::unique_ptr<connection>> connections_;
};

// 64 callback loops of async_send on one client, whose transport pools up to 64 connections.
class retryhttp_way {
 public:
  static constexpr const char* name = "retryhttp";
  std::size_t run_batch(std::size_t requests) {
    progress_.begin(requests);
    for (std::size_t loop = 0; loop < concurrency && progress_.start_another(); ++loop) send();
    if (!progress_.done()) {
      io_.restart();
      io_.run();
    }
    return progress_.bytes();
  }
  std::size_t connections_opened() const { return client_.transport().connections_opened(); }

 private:
  using client_type = retryhttp::async_http_client<>;

  static retryhttp::async_beast_transport_options pool_of_64() {
    retryhttp::async_beast_transport_options options;
    options.max_connections = concurrency;
    return options;
  }
  void send() {
    client_.async_send(request_, [this](retryhttp::send_result<client_type::response_type> result) {
      if (!result.ok()) std::abort();  // nothing fails here; a failure would make the numbers meaningless
      if (progress_.complete(result.response().body().size()))
        io_.stop();
      else if (progress_.start_another())
        send();
    });
  }

  asio::io_context io_{1};
  client_type client_{retryhttp::retry_config{},
                      retryhttp::async_beast_transport<>{io_.get_executor(), server().url(), pool_of_64()}};
  const http::request<http::string_body> request_ = make_request();
  batch_progress progress_;
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

// libcurl's multi interface: 64 easy handles, each added again once it completes, so that the multi's
// connection cache keeps 64 connections alive. Driven with curl_multi_perform and curl_multi_poll on this
// thread, as an application with its own loop would.
class libcurl_multi_way {
 public:
  static constexpr const char* name = "libcurl_multi";
  libcurl_multi_way() : multi_(curl_multi_init()), url_(server().url() + "/v1/vms/web-1") {
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(concurrency));
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(concurrency));
    headers_ = curl_slist_append(nullptr, "Accept: application/json");
    for (auto& each : transfers_) {
      each.handle = curl_easy_init();
      curl_easy_setopt(each.handle, CURLOPT_URL, url_.c_str());
      curl_easy_setopt(each.handle, CURLOPT_WRITEFUNCTION, collect_body);
      curl_easy_setopt(each.handle, CURLOPT_WRITEDATA, &each.body);
      curl_easy_setopt(each.handle, CURLOPT_PRIVATE, &each);
      curl_easy_setopt(each.handle, CURLOPT_TCP_NODELAY, 1L);
      curl_easy_setopt(each.handle, CURLOPT_HTTPHEADER, headers_);
    }
  }
  ~libcurl_multi_way() {
    for (auto& each : transfers_) {
      curl_multi_remove_handle(multi_, each.handle);  // harmless for a handle not added
      curl_easy_cleanup(each.handle);
    }
    curl_multi_cleanup(multi_);
    curl_slist_free_all(headers_);
  }
  libcurl_multi_way(const libcurl_multi_way&) = delete;
  libcurl_multi_way& operator=(const libcurl_multi_way&) = delete;

  std::size_t run_batch(std::size_t requests) {
    progress_.begin(requests);
    for (auto& each : transfers_)
      if (progress_.start_another()) add(each);
    while (!progress_.done()) {
      int running = 0;
      if (curl_multi_perform(multi_, &running) != CURLM_OK) std::abort();
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        CURL* handle = message->easy_handle;
        long status = 0;
        long connects = 0;
        curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &connects);
        if (message->data.result != CURLE_OK || status != 200) std::abort();
        connections_opened_ += static_cast<std::size_t>(connects);
        transfer* done = nullptr;
        curl_easy_getinfo(handle, CURLINFO_PRIVATE, &done);
        curl_multi_remove_handle(multi_, handle);
        progress_.complete(done->body.size());
        if (progress_.start_another()) add(*done);
      }
      // A handle just added is due at once: curl_multi_poll then returns without waiting.
      if (!progress_.done() && curl_multi_poll(multi_, nullptr, 0, 1000, nullptr) != CURLM_OK) std::abort();
    }
    return progress_.bytes();
  }
  std::size_t connections_opened() const { return connections_opened_; }

 private:
  struct transfer {
    CURL* handle = nullptr;
    std::string body;
  };
  void add(transfer& each) {
    each.body.clear();
    if (curl_multi_add_handle(multi_, each.handle) != CURLM_OK) std::abort();
  }

  CURLM* multi_;
  std::string url_;
  curl_slist* headers_ = nullptr;
  std::array<transfer, concurrency> transfers_;
  batch_progress progress_;
  std::size_t connections_opened_ = 0;
};

// Each way is built and warmed once (64 connections, grown buffers) and kept for every run: building it
// per run would open 64 connections each time and leave thousands of ports in TIME_WAIT over a session.
// main destroys them before curl_global_cleanup and the server.
template <class Way>
std::unique_ptr<Way>& kept_way() {
  static std::unique_ptr<Way> way;
  return way;
}
template <class Way>
Way& warmed_way() {
  auto& way = kept_way<Way>();
  if (!way) {
    way = std::make_unique<Way>();
    way->run_batch(2 * batch_requests);
  }
  return *way;
}

// ---- Measuring: throughput, allocations, and each run's figures for the paired ratios
// ------------------------

using loopback::thread_cpu_ns;
using loopback::timed_run;  // figure: requests per second

template <class Way>
std::size_t allocations() {
  return std::is_same_v<Way, libcurl_multi_way> ? loopback::curl_allocations.load(std::memory_order_relaxed)
                                                : retryhttp_test::allocations_so_far();
}

std::vector<timed_run> timed_runs;

template <class Way>
void run(benchmark::State& state) {
  Way& way = warmed_way<Way>();
  std::size_t bytes = 0;
  const std::size_t allocations_before = allocations<Way>();
  const std::size_t connections_before = way.connections_opened();
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_ns();
  for (auto _ : state) bytes += way.run_batch(batch_requests);
  const double cpu_spent = thread_cpu_ns() - cpu_start;
  const auto wall_end = std::chrono::steady_clock::now();
  const std::size_t allocated = allocations<Way>() - allocations_before;
  benchmark::DoNotOptimize(bytes);

  const auto requests = static_cast<double>(state.iterations()) * batch_requests;
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  const double wall_spent = std::chrono::duration<double, std::nano>(wall_end - wall_start).count();
  // Google Benchmark's short probes (it grows the iteration count until a run lasts --benchmark_min_time) are
  // too short to compare; runs of 50 ms and more are kept.
  if (wall_spent >= 50e6 && requests > 0)
    timed_runs.push_back({Way::name, std::chrono::duration<double>(wall_end.time_since_epoch()).count(),
                          requests / (wall_spent / 1e9), cpu_spent / requests});
  state.counters["allocs_per_request"] = requests > 0 ? static_cast<double>(allocated) / requests : 0.0;
  state.counters["new_connections"] = static_cast<double>(way.connections_opened() - connections_before);
}

// The machine drifts, so medians of separate runs compare different moments. Each run of the other ways is
// compared with the raw Beast run nearest to it in time instead, and the median and quartiles of those ratios
// are printed: requests per second (above 1: faster than raw Beast) and the client thread's CPU time per
// request (above 1: costlier).
void print_paired_ratios(std::FILE* out) {
  std::fprintf(out,
               "\nPaired ratios to raw_beast (each run / the raw_beast run nearest in time): "
               "median [quartiles]\n");
  for (const char* name : {retryhttp_way::name, libcurl_multi_way::name}) {
    const auto p = loopback::paired_ratios(timed_runs, name, raw_beast_way::name);
    if (p.runs == 0) continue;
    std::fprintf(out,
                 "  %-13s items_per_second %.3f [%.3f, %.3f]   client CPU per request %.3f [%.3f, %.3f]   "
                 "(%zu runs)\n",
                 name, p.figure[1], p.figure[0], p.figure[2], p.cpu[1], p.cpu[0], p.cpu[2], p.runs);
  }
}

void BM_LoopbackAsync_raw_beast(benchmark::State& state) {
  run<raw_beast_way>(state);
}
void BM_LoopbackAsync_retryhttp(benchmark::State& state) {
  run<retryhttp_way>(state);
}
void BM_LoopbackAsync_libcurl_multi(benchmark::State& state) {
  run<libcurl_multi_way>(state);
}

// `bench_loopback_async --requests WAY N`: N requests one way (64 at a time), outside Google Benchmark, for
// counting instructions with callgrind (--toggle-collect='*measured_requests*', so that setup, warming and
// the server's thread are not counted).
template <class Way>
[[gnu::noinline]] std::size_t measured_requests(Way& way, long count) {
  return way.run_batch(static_cast<std::size_t>(count));
}
template <class Way>
int count_requests(long count) {
  Way& way = warmed_way<Way>();
  return measured_requests(way, count) > 0 || count == 0 ? 0 : 1;
}

}  // namespace

// Real time, so that items_per_second is requests per second of wall time: by default Google Benchmark
// divides by the benchmark thread's CPU time, which leaves out the time the client waits for the server (it
// appends
// "/real_time" to the names).
BENCHMARK(BM_LoopbackAsync_raw_beast)->Name("BM_LoopbackAsync/raw_beast")->UseRealTime();
BENCHMARK(BM_LoopbackAsync_retryhttp)->Name("BM_LoopbackAsync/retryhttp")->UseRealTime();
BENCHMARK(BM_LoopbackAsync_libcurl_multi)->Name("BM_LoopbackAsync/libcurl_multi")->UseRealTime();

int main(int argc, char** argv) {
  loopback::init_curl_counting_allocations();
  (void)server();  // start it before any benchmark
  const int status = loopback::run_main<raw_beast_way, retryhttp_way, libcurl_multi_way>(
      argc, argv, "bench_loopback_async",
      [](auto way, long count) { return count_requests<typename decltype(way)::type>(count); },
      // On standard error, so that --benchmark_format=json on standard output stays JSON.
      [] { print_paired_ratios(stderr); });
  // The clients close their connections before the server stops, and libcurl's before curl_global_cleanup.
  kept_way<raw_beast_way>().reset();
  kept_way<retryhttp_way>().reset();
  kept_way<libcurl_multi_way>().reset();
  curl_global_cleanup();
  return status;
}
