#!/usr/bin/env bash
# BM_LoopbackAsync: 64 concurrent keep-alive GETs on one client thread, raw async Beast, async retryhttp and
# libcurl's multi interface against one in-process asynchronous server on 127.0.0.1, 30 short repetitions
# each, interleaved at random so that the machine's drift hits all three alike. At the end (standard error) the
# paired ratios of requests per second: each run against the raw Beast run nearest to it in time. Arguments go
# to Google Benchmark (e.g. --benchmark_format=json for the raw figures).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
exec build/benchmarks/bench_loopback_async --benchmark_repetitions=30 --benchmark_enable_random_interleaving=true \
  --benchmark_min_time=0.2 --benchmark_report_aggregates_only=true "$@"
