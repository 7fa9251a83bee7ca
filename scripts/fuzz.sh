#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang into build-fuzz/ and runs each for a bounded time.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--build-only | --no-build] [target...]
#
# N seconds per target (default 30), J targets at once (default: the number of cores; each run is one process
# on one core); default: every target. --build-only builds the targets and runs none; --no-build runs what an
# earlier --build-only built (scripts/test.sh builds while another part runs its tests).
#
# Each run starts from a scratch copy of the target's seed corpus (tests/fuzz/corpus/TARGET, never written to)
# and its dictionary, under ASan and UBSan (a UBSan report is a crash), with a 10 s limit per input (a hang
# fails) and 2 GiB of memory. Exits non-zero when any run found a crash, a sanitizer report, a hang or a leak,
# and prints the reproducer's path (kept in build-fuzz/artifacts/). Writes one "PASS target" or "FAIL target"
# line per run to build-fuzz/fuzz-results.txt, which .ci/run counts.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(fuzz_retry_after fuzz_json_config fuzz_endpoint fuzz_route_pattern fuzz_vm_json)
seconds=30
jobs=$(nproc)
build_step=true
run_step=true
targets=()
while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --jobs=*) jobs=${1#--jobs=}; shift ;;
    --build-only) run_step=false; shift ;;
    --no-build) build_step=false; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  [[ -f tests/fuzz/$target.cpp ]] || { echo "fuzz.sh: no target $target (tests/fuzz/$target.cpp)" >&2; exit 2; }
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --seconds takes a positive number" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --jobs takes a positive number" >&2; exit 2; }

build="build-fuzz"
if $build_step; then
  bash scripts/install-deps.sh --clang
  if [[ ! -f $build/build.ninja ]]; then
    # Only the fuzz targets: the tests, tools and benchmarks are the other builds' business.
    CXX=clang++-14 meson setup "$build" -Dfuzz=enabled -Dtests=disabled -Dtools=disabled -Dbenchmarks=disabled \
      -Dwerror=true -Doptimization=1 >/dev/null
  fi
  ninja -C "$build" "${targets[@]/#/tests/fuzz/}"
fi
$run_step || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$build/fuzz-results.txt
: >"$results"
mkdir -p "$build/logs"
# A UBSan report aborts (the targets are also built with -fno-sanitize-recover=undefined).
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# One target's run; its lines go to $work/TARGET.out, printed when it ends, so that runs side by side do not mix.
fuzz_one() {  # fuzz_one TARGET
  local target=$1 corpus artifacts log dict start status runs reproducer
  corpus=$work/$target
  cp -r "tests/fuzz/corpus/$target" "$corpus"
  artifacts=$build/artifacts/$target
  rm -rf "$artifacts"
  mkdir -p "$artifacts"
  log=$build/logs/$target.log
  dict=()
  [[ -f tests/fuzz/$target.dict ]] && dict=("-dict=tests/fuzz/$target.dict")
  start=$SECONDS
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" "${dict[@]}" -print_final_stats=1 "$corpus" >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  if [[ $status == 0 ]]; then
    echo "fuzz.sh: $target passed: ${runs:-?} inputs in $((SECONDS - start)) s"
    return 0
  fi
  reproducer=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
  echo "fuzz.sh: $target FAILED (exit $status) after $((SECONDS - start)) s; log: $log"
  grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz property broken|.*runtime error|.*Assertion .* failed)' "$log" | head -n 5 || true
  if [[ -n $reproducer ]]; then
    echo "fuzz.sh: reproducer: $reproducer"
    echo "fuzz.sh: run it again: $build/tests/fuzz/$target $reproducer"
  fi
  return 1
}

# At most $jobs runs at once; each target's PASS or FAIL line is written in the targets' order.
set +e
pids=()
for index in "${!targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
  fuzz_one "${targets[index]}" >"$work/${targets[index]}.out" 2>&1 &
  pids[index]=$!
done
failed=0
for index in "${!targets[@]}"; do
  target=${targets[index]}
  wait "${pids[index]}"
  status=$?
  cat "$work/$target.out"
  if ((status == 0)); then
    echo "PASS $target" >>"$results"
  else
    failed=1
    echo "FAIL $target" >>"$results"
  fi
done
exit $failed
