#ifndef RETRYHTTP_BENCHMARKS_LOOPBACK_MEASURE_HPP
#define RETRYHTTP_BENCHMARKS_LOOPBACK_MEASURE_HPP

// What the loopback benchmarks (bench_loopback, bench_loopback_async) measure alike: libcurl's allocations
// through its memory callbacks, the benchmark thread's CPU time, and paired ratios.
//
// Paired ratios: this machine drifts by tens of percent within minutes, so medians of separate runs compare
// different moments. Each run of a way is compared with the baseline's run nearest to it in time instead, and
// the median and quartiles of those ratios are reported.

#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace loopback {

/// What the server answers: a VM's JSON, 86 bytes.
inline constexpr const char* vm_json =
    R"({"name":"web-1","state":"running","cpus":2,"memory_mib":2048,"image":"debian-12"})";

/// The request every way sends: a keep-alive GET of that VM.
inline boost::beast::http::request<boost::beast::http::string_body> make_request(unsigned short port) {
  namespace http = boost::beast::http;
  http::request<http::string_body> request{http::verb::get, "/v1/vms/web-1", 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(http::field::user_agent, "bench");
  request.set(http::field::accept, "application/json");
  return request;
}

inline std::atomic<std::size_t> curl_allocations{0};

inline void* counting_malloc(std::size_t size) {
  curl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size);
}
inline void counting_free(void* pointer) {
  std::free(pointer);
}
inline void* counting_realloc(void* pointer, std::size_t size) {
  curl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::realloc(pointer, size);
}
inline char* counting_strdup(const char* text) {
  curl_allocations.fetch_add(1, std::memory_order_relaxed);
  return strdup(text);
}
inline void* counting_calloc(std::size_t count, std::size_t size) {
  curl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::calloc(count, size);
}

/// curl_global_init with libcurl's allocations counted in curl_allocations.
inline void init_curl_counting_allocations() {
  curl_global_init_mem(CURL_GLOBAL_ALL, counting_malloc, counting_free, counting_realloc, counting_strdup,
                       counting_calloc);
}

inline double thread_cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

/// One measured run (a repetition, or Google Benchmark's last iteration-count probe): when it ended, its
/// figure (time or throughput per request) and the benchmark thread's CPU time per request.
struct timed_run {
  std::string name;
  double ended_s;
  double figure;
  double cpu_ns;
};

struct paired {
  std::array<double, 3> figure;  // quartiles: 25%, median, 75%
  std::array<double, 3> cpu;
  std::size_t runs = 0;
};

inline std::array<double, 3> quartiles(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  auto at = [&](double p) { return values[static_cast<std::size_t>(p * (values.size() - 1) + 0.5)]; };
  return {at(0.25), at(0.5), at(0.75)};
}

/// The runs of `name`, each divided by the `baseline` run nearest to it in time.
inline paired paired_ratios(const std::vector<timed_run>& runs, std::string_view name,
                            std::string_view baseline) {
  std::vector<double> figure;
  std::vector<double> cpu;
  for (const auto& run : runs) {
    if (run.name != name) continue;
    const timed_run* nearest = nullptr;
    for (const auto& floor : runs)
      if (floor.name == baseline
          && (!nearest || std::abs(floor.ended_s - run.ended_s) < std::abs(nearest->ended_s - run.ended_s)))
        nearest = &floor;
    if (!nearest) continue;
    figure.push_back(run.figure / nearest->figure);
    cpu.push_back(run.cpu_ns / nearest->cpu_ns);
  }
  if (figure.empty()) return {};
  return {quartiles(figure), quartiles(cpu), figure.size()};
}

template <class T>
struct way_tag {
  using type = T;
};

/// The program: `PROGRAM --requests WAY N` calls count_requests(way_tag<Way>{}, N) for the way named WAY (for
/// callgrind, outside Google Benchmark); anything else runs the benchmarks, then `after` (which prints the
/// paired ratios).
template <class... Ways, class CountRequests, class After>
int run_main(int argc, char** argv, const char* program, CountRequests count_requests, After after) {
  if (argc == 4 && std::string_view(argv[1]) == "--requests") {
    const std::string_view way = argv[2];
    const long count = std::atol(argv[3]);
    int status = -1;
    ((way == Ways::name ? (void)(status = count_requests(way_tag<Ways>{}, count)) : (void)0), ...);
    if (status != -1) return status;
    std::string names;
    ((names += (names.empty() ? "" : "|") + std::string(Ways::name)), ...);
    std::fprintf(stderr, "usage: %s --requests %s N\n", program, names.c_str());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  after();
  return 0;
}

}  // namespace loopback

#endif  // RETRYHTTP_BENCHMARKS_LOOPBACK_MEASURE_HPP
