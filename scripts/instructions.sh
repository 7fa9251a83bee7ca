#!/usr/bin/env bash
# Instructions per send for each variant, counted by callgrind (repeatable: the same binary and input give the
# same count, whatever else the machine does). Prints "variant instructions_per_call". Needs valgrind.
# Then the same for one kept-alive GET on loopback, raw Beast, retryhttp and libcurl (bench_loopback --requests):
# only the client thread inside measured_requests is counted, not setup, not the server, not the kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
command -v valgrind >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
calls=${CALLS:-20000}
count() {  # total instructions of one run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null build/benchmarks/instructions "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for variant in transport_alone send hookless_observer counting_observer token_bucket percent deadline; do
  base=$(count "$variant" 0)
  total=$(count "$variant" "$calls")
  echo "$variant $(( (total - base) / calls ))"
done

requests=${REQUESTS:-1000}
count_requests() {  # instructions of N requests, client thread only
  valgrind --tool=callgrind --toggle-collect='*measured_requests*' --callgrind-out-file=/dev/null \
    build/benchmarks/bench_loopback --requests "$1" "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
if [[ -x build/benchmarks/bench_loopback ]]; then
  for way in raw_beast retryhttp libcurl; do
    echo "loopback_$way $(( $(count_requests "$way" "$requests") / requests ))"
  done
fi
