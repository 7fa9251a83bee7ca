#!/usr/bin/env bash
# Builds and runs the benchmarks with the options docs/benchmarks.md quotes. Arguments go to Google Benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
exec build/benchmarks/bench_core --benchmark_repetitions=5 --benchmark_report_aggregates_only=true "$@"
