#!/usr/bin/env bash
# Instructions per send for each variant, counted by callgrind (repeatable: the same binary and input give the
# same count, whatever else the machine does). Prints "variant instructions_per_call". Needs valgrind.
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
