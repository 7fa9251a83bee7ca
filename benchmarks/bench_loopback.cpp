// What it costs when nothing fails, on a real socket: a keep-alive GET of a small JSON body from a server on
// 127.0.0.1 that this program starts itself, three ways, in the same run:
//   BM_LoopbackGet/raw_beast   synchronous Boost.Beast on one kept-alive socket (the floor)
//   BM_LoopbackGet/retryhttp   retryhttp::http_client over beast_transport
//   BM_LoopbackGet/libcurl     libcurl with one reused easy handle
// Each reports p50_us and p99_us (per-request latency) and allocs_per_request (operator new for Beast and
// retryhttp, libcurl's malloc family through curl_global_init_mem). At the end it prints, on standard error,
// the paired ratios to raw Beast (see print_paired_ratios). Reproduce: scripts/bench-loopback.sh
// And over a Unix domain socket (the same server, listening in a fresh directory under /tmp):
//   BM_LoopbackGetUnix/raw_beast   synchronous Boost.Beast on one kept-alive local socket
//   BM_LoopbackGetUnix/retryhttp   retryhttp::http_client over beast_transport on unix://
// And over TLS (the same server behind OpenSSL, with a certificate for 127.0.0.1 made in this process, which
// every client verifies):
//   BM_LoopbackGetTls/raw_beast   synchronous Beast over ssl_stream<tcp::socket> (the floor)
//   BM_LoopbackGetTls/retryhttp   retryhttp::http_client over beast_transport on https://
//   BM_LoopbackGetTls/libcurl     libcurl (OpenSSL) with one reused easy handle
// `bench_loopback --requests WAY N` makes N requests one way without Google Benchmark, for callgrind.

#include <retryhttp/beast_transport.hpp>

#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../tests/support/counting_new.hpp"
#include "loopback_measure.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <time.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

using loopback::vm_json;

// ---- The server: one thread per connection, synchronous Beast, keep-alive
// -------------------------------------
using local = asio::local::stream_protocol;

// TCP on 127.0.0.1, or a Unix domain socket in a fresh directory.
template <class Protocol>
typename Protocol::endpoint listening_endpoint() {
  if constexpr (std::is_same_v<Protocol, tcp>) {
    return {asio::ip::make_address("127.0.0.1"), 0};
  } else {
    static std::string directory = [] {
      char name[] = "/tmp/retryhttp-bench-XXXXXX";
      if (::mkdtemp(name) == nullptr) std::abort();
      return std::string(name);
    }();
    return typename Protocol::endpoint(directory + "/bench.sock");
  }
}

// ---- TLS material: a self-signed certificate for IP 127.0.0.1 (its own CA), written to a fresh directory
struct tls_material {
  std::string cert_file;  // the certificate, which clients trust as their CA file
  std::string key_file;
};

const tls_material& tls_files() {
  static const tls_material files = [] {
    char directory[] = "/tmp/retryhttp-bench-tls-XXXXXX";
    if (::mkdtemp(directory) == nullptr) std::abort();
    tls_material made{std::string(directory) + "/cert.pem", std::string(directory) + "/key.pem"};
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("retryhttp-bench"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
    const std::pair<int, const char*> extensions[] = {{NID_subject_alt_name, "IP:127.0.0.1"},
                                                      {NID_basic_constraints, "critical,CA:TRUE"}};
    for (const auto& [nid, value] : extensions) {
      X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
      X509_add_ext(cert, extension, -1);
      X509_EXTENSION_free(extension);
    }
    if (key == nullptr || X509_sign(cert, key, EVP_sha256()) == 0) std::abort();
    std::FILE* cert_out = std::fopen(made.cert_file.c_str(), "w");
    std::FILE* key_out = std::fopen(made.key_file.c_str(), "w");
    if (!cert_out || !key_out || PEM_write_X509(cert_out, cert) != 1
        || PEM_write_PrivateKey(key_out, key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
      std::abort();
    std::fclose(cert_out);
    std::fclose(key_out);
    X509_free(cert);
    EVP_PKEY_free(key);
    return made;
  }();
  return files;
}

asio::ssl::context& server_tls_context() {
  static asio::ssl::context context = [] {
    asio::ssl::context made(asio::ssl::context::tls_server);
    made.use_certificate_chain_file(tls_files().cert_file);
    made.use_private_key_file(tls_files().key_file, asio::ssl::context::pem);
    return made;
  }();
  return context;
}

// Plain HTTP, or (Tls) HTTPS with the certificate above.
template <class Protocol, bool Tls = false>
class loopback_server {
 public:
  using socket_type = typename Protocol::socket;
  loopback_server() : acceptor_(io_, listening_endpoint<Protocol>()) {
    endpoint_ = acceptor_.local_endpoint();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~loopback_server() {
    // Closing an acceptor does not wake a thread blocked in accept() on Linux: connect once to wake it.
    stopping_ = true;
    boost::system::error_code ignored;
    {
      socket_type wake(io_);
      wake.connect(endpoint_, ignored);
    }
    accept_thread_.join();
    acceptor_.close(ignored);
    std::lock_guard lock(mutex_);
    for (auto& socket : sockets_) {
      socket->shutdown(asio::socket_base::shutdown_both, ignored);
      socket->close(ignored);
    }
    for (auto& thread : connection_threads_) thread.join();
    if constexpr (std::is_same_v<Protocol, local>) {
      ::unlink(endpoint_.path().c_str());
      ::rmdir(endpoint_.path().substr(0, endpoint_.path().rfind('/')).c_str());
    }
  }
  const typename Protocol::endpoint& endpoint() const { return endpoint_; }
  unsigned short port() const {
    if constexpr (std::is_same_v<Protocol, tcp>)
      return endpoint_.port();
    else
      return 0;
  }
  std::string url() const {
    if constexpr (std::is_same_v<Protocol, tcp>)
      return (Tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(endpoint_.port());
    else
      return "unix://" + endpoint_.path();
  }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<socket_type>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec || stopping_) return;
      std::lock_guard lock(mutex_);
      sockets_.push_back(socket);
      connection_threads_.emplace_back([socket] { serve(*socket); });
    }
  }
  static void serve(socket_type& socket) {
    if constexpr (std::is_same_v<Protocol, tcp>) socket.set_option(tcp::no_delay(true));
    if constexpr (Tls) {
      boost::beast::ssl_stream<socket_type&> stream(socket, server_tls_context());
      boost::system::error_code ec;
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) answer(stream);
    } else {
      answer(socket);
    }
  }
  template <class Stream>
  static void answer(Stream& stream) {
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response{http::status::ok, 11, vm_json};
    response.set(http::field::content_type, "application/json");
    response.keep_alive(true);
    response.prepare_payload();
    for (;;) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(stream, buffer, request, ec);
      if (ec) return;
      http::write(stream, response, ec);
      if (ec) return;
    }
  }

  asio::io_context io_;
  typename Protocol::acceptor acceptor_;
  typename Protocol::endpoint endpoint_;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<socket_type>> sockets_;
  std::vector<std::thread> connection_threads_;
};

template <class Protocol = tcp, bool Tls = false>
loopback_server<Protocol, Tls>& server() {
  static loopback_server<Protocol, Tls> instance;
  return instance;
}
loopback_server<tcp, true>& tls_server() {
  return server<tcp, true>();
}

// ---- The three ways to GET, each set up once and then asked for one response at a time
// -----------------------

template <class Protocol = tcp>
http::request<http::string_body> make_request() {
  auto request = loopback::make_request(server<Protocol>().port());
  if constexpr (std::is_same_v<Protocol, local>) request.set(http::field::host, "localhost");
  return request;
}

// Synchronous Beast on one kept-alive socket: the floor. No timeout, no cancellation, no check that the
// connection is still open before writing.
template <class Protocol>
class raw_beast_way {
 public:
  static constexpr const char* name = std::is_same_v<Protocol, tcp> ? "raw_beast" : "raw_beast_unix";
  raw_beast_way() : socket_(io_) {
    socket_.connect(server<Protocol>().endpoint());
    if constexpr (std::is_same_v<Protocol, tcp>) socket_.set_option(tcp::no_delay(true));
  }
  std::size_t get() {
    http::write(socket_, request_);
    http::response<http::string_body> response;
    http::read(socket_, buffer_, response);
    return response.body().size();
  }

 private:
  asio::io_context io_;
  typename Protocol::socket socket_;
  boost::beast::flat_buffer buffer_;
  const http::request<http::string_body> request_ = make_request<Protocol>();
};
using raw_beast_get = raw_beast_way<tcp>;

// Synchronous Beast over TLS on one kept-alive connection, verifying the server as retryhttp does (the CA
// file, the address in the certificate): the floor for TLS.
class raw_beast_tls_get {
 public:
  static constexpr const char* name = "raw_beast_tls";
  raw_beast_tls_get() : stream_(io_, context_) {
    context_.load_verify_file(tls_files().cert_file);
    context_.set_verify_mode(asio::ssl::verify_peer);
    stream_ = boost::beast::ssl_stream<tcp::socket>(io_, context_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream_.native_handle()), "127.0.0.1");
    stream_.next_layer().connect(tls_server().endpoint());
    stream_.next_layer().set_option(tcp::no_delay(true));
    stream_.handshake(asio::ssl::stream_base::client);
  }
  std::size_t get() {
    http::write(stream_, request_);
    http::response<http::string_body> response;
    http::read(stream_, buffer_, response);
    return response.body().size();
  }

 private:
  asio::io_context io_;
  asio::ssl::context context_{asio::ssl::context::tls_client};
  boost::beast::ssl_stream<tcp::socket> stream_;
  boost::beast::flat_buffer buffer_;
  const http::request<http::string_body> request_ = loopback::make_request(tls_server().port());
};

template <class Protocol>
class retryhttp_way {
 public:
  static constexpr const char* name = std::is_same_v<Protocol, tcp> ? "retryhttp" : "retryhttp_unix";
  std::size_t get() {
    auto result = client_.send(request_);
    if (!result.ok()) std::abort();  // nothing fails here; a failure would make the numbers meaningless
    return result.response().body().size();
  }

 private:
  retryhttp::http_client<> client_{retryhttp::retry_config{},
                                   retryhttp::beast_transport{server<Protocol>().url()}};
  const http::request<http::string_body> request_ = make_request<Protocol>();
};
using retryhttp_get = retryhttp_way<tcp>;

class retryhttp_tls_get {
 public:
  static constexpr const char* name = "retryhttp_tls";
  std::size_t get() {
    auto result = client_.send(request_);
    if (!result.ok()) std::abort();
    return result.response().body().size();
  }

 private:
  static retryhttp::beast_transport_options options() {
    retryhttp::beast_transport_options made;
    made.tls.ca_file = tls_files().cert_file;
    return made;
  }
  retryhttp::http_client<> client_{retryhttp::retry_config{},
                                   retryhttp::beast_transport{tls_server().url(), options()}};
  const http::request<http::string_body> request_ = loopback::make_request(tls_server().port());
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

// libcurl with one reused easy handle (over TLS: OpenSSL, verifying the server against the same CA file).
template <bool Tls>
class libcurl_way {
 public:
  static constexpr const char* name = Tls ? "libcurl_tls" : "libcurl";
  libcurl_way()
      : handle_(curl_easy_init()), url_((Tls ? tls_server().url() : server().url()) + "/v1/vms/web-1") {
    curl_easy_setopt(handle_, CURLOPT_URL, url_.c_str());
    if constexpr (Tls) curl_easy_setopt(handle_, CURLOPT_CAINFO, tls_files().cert_file.c_str());
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &body_);
    curl_easy_setopt(handle_, CURLOPT_TCP_NODELAY, 1L);
    headers_ = curl_slist_append(nullptr, "Accept: application/json");
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, headers_);
  }
  ~libcurl_way() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(handle_);
  }
  libcurl_way(const libcurl_way&) = delete;
  libcurl_way& operator=(const libcurl_way&) = delete;
  std::size_t get() {
    body_.clear();
    if (curl_easy_perform(handle_) != CURLE_OK) std::abort();
    return body_.size();
  }

 private:
  CURL* handle_;
  std::string url_;
  std::string body_;
  curl_slist* headers_ = nullptr;
};
using libcurl_get = libcurl_way<false>;
using libcurl_tls_get = libcurl_way<true>;

// ---- Measuring: latency percentiles, allocations, and each run's times for the paired ratios
// ----------------

using loopback::thread_cpu_ns;
using loopback::timed_run;  // figure: wall time per request

template <class Get>
std::size_t allocations() {
  return std::is_same_v<Get, libcurl_get> || std::is_same_v<Get, libcurl_tls_get>
             ? loopback::curl_allocations.load(std::memory_order_relaxed)
             : retryhttp_test::allocations_so_far();
}

std::vector<timed_run> timed_runs;

template <class Get>
void run(benchmark::State& state) {
  Get way;
  std::size_t bytes = 0;
  for (int warm = 0; warm < 100; ++warm) bytes += way.get();  // connect, fill caches and pools
  std::vector<double> micros;
  micros.reserve(1 << 20);
  const std::size_t allocations_before = allocations<Get>();
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_ns();
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    bytes += way.get();
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  const double cpu_spent = thread_cpu_ns() - cpu_start;
  const auto wall_end = std::chrono::steady_clock::now();
  const std::size_t allocated = allocations<Get>() - allocations_before;
  benchmark::DoNotOptimize(bytes);

  const auto requests = static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
  const double wall_spent = std::chrono::duration<double, std::nano>(wall_end - wall_start).count();
  // Google Benchmark's short probes (it grows the iteration count until a run lasts --benchmark_min_time) are
  // too short to compare; runs of 50 ms and more are kept.
  if (wall_spent >= 50e6)
    timed_runs.push_back({Get::name, std::chrono::duration<double>(wall_end.time_since_epoch()).count(),
                          wall_spent / requests, cpu_spent / requests});

  std::sort(micros.begin(), micros.end());
  auto percentile = [&](double p) {
    return micros.empty() ? 0.0 : micros[static_cast<std::size_t>(p * (micros.size() - 1))];
  };
  state.counters["p50_us"] = percentile(0.50);
  state.counters["p99_us"] = percentile(0.99);
  state.counters["allocs_per_request"] = static_cast<double>(allocated) / requests;
}

// The machine drifts (wall time per request moved between 18 and 100 us over one session on the 2-vCPU VM),
// so medians of separate runs compare different moments. Each run of retryhttp and of libcurl is compared
// with the raw Beast run nearest to it in time instead, and the median and quartiles of those ratios are
// printed.
void print_paired_ratios(std::FILE* out) {
  std::fprintf(out,
               "\nPaired ratios to raw_beast (each run / the raw_beast run nearest in time): "
               "median [quartiles]\n");
  const std::pair<const char*, const char*> pairs[] = {
      {retryhttp_get::name, raw_beast_get::name},
      {libcurl_get::name, raw_beast_get::name},
      {retryhttp_way<local>::name, raw_beast_way<local>::name},
      {retryhttp_tls_get::name, raw_beast_tls_get::name},
      {libcurl_tls_get::name, raw_beast_tls_get::name}};
  for (const auto& [name, baseline] : pairs) {
    const auto p = loopback::paired_ratios(timed_runs, name, baseline);
    if (p.runs == 0) continue;
    std::fprintf(out, "  %-14s / %-14s wall %.3f [%.3f, %.3f]   client CPU %.3f [%.3f, %.3f]   (%zu runs)\n",
                 name, baseline, p.figure[1], p.figure[0], p.figure[2], p.cpu[1], p.cpu[0], p.cpu[2], p.runs);
  }
}

void BM_LoopbackGet_raw_beast(benchmark::State& state) {
  run<raw_beast_get>(state);
}
void BM_LoopbackGet_retryhttp(benchmark::State& state) {
  run<retryhttp_get>(state);
}
void BM_LoopbackGet_libcurl(benchmark::State& state) {
  run<libcurl_get>(state);
}
void BM_LoopbackGetUnix_raw_beast(benchmark::State& state) {
  run<raw_beast_way<local>>(state);
}
void BM_LoopbackGetUnix_retryhttp(benchmark::State& state) {
  run<retryhttp_way<local>>(state);
}
void BM_LoopbackGetTls_raw_beast(benchmark::State& state) {
  run<raw_beast_tls_get>(state);
}
void BM_LoopbackGetTls_retryhttp(benchmark::State& state) {
  run<retryhttp_tls_get>(state);
}
void BM_LoopbackGetTls_libcurl(benchmark::State& state) {
  run<libcurl_tls_get>(state);
}

// `bench_loopback --requests WAY N`: N requests one way, outside Google Benchmark, for counting instructions
// with callgrind (scripts/instructions.sh: --toggle-collect on measured_requests, so setup and the server's
// threads are not counted).
template <class Get>
[[gnu::noinline]] std::size_t measured_requests(Get& way, long count) {
  std::size_t bytes = 0;
  for (long i = 0; i < count; ++i) bytes += way.get();
  return bytes;
}
template <class Get>
int count_requests(long count) {
  Get way;
  for (int warm = 0; warm < 100; ++warm) way.get();
  return measured_requests(way, count) > 0 || count == 0 ? 0 : 1;
}

}  // namespace

BENCHMARK(BM_LoopbackGet_raw_beast)->Name("BM_LoopbackGet/raw_beast");
BENCHMARK(BM_LoopbackGet_retryhttp)->Name("BM_LoopbackGet/retryhttp");
BENCHMARK(BM_LoopbackGet_libcurl)->Name("BM_LoopbackGet/libcurl");
BENCHMARK(BM_LoopbackGetUnix_raw_beast)->Name("BM_LoopbackGetUnix/raw_beast");
BENCHMARK(BM_LoopbackGetUnix_retryhttp)->Name("BM_LoopbackGetUnix/retryhttp");
BENCHMARK(BM_LoopbackGetTls_raw_beast)->Name("BM_LoopbackGetTls/raw_beast");
BENCHMARK(BM_LoopbackGetTls_retryhttp)->Name("BM_LoopbackGetTls/retryhttp");
BENCHMARK(BM_LoopbackGetTls_libcurl)->Name("BM_LoopbackGetTls/libcurl");

int main(int argc, char** argv) {
  loopback::init_curl_counting_allocations();
  (void)server<tcp>();  // start them before any benchmark
  (void)server<local>();
  (void)tls_server();
  const int status =
      loopback::run_main<raw_beast_get, retryhttp_get, libcurl_get, raw_beast_way<local>,
                         retryhttp_way<local>, raw_beast_tls_get, retryhttp_tls_get, libcurl_tls_get>(
          argc, argv, "bench_loopback",
          [](auto way, long count) { return count_requests<typename decltype(way)::type>(count); },
          // On standard error, so that --benchmark_format=json on standard output stays JSON.
          [] { print_paired_ratios(stderr); });
  curl_global_cleanup();
  return status;
}
