#!/usr/bin/env bash
# The test command: installs what is missing (Debian packages), builds, and runs every test suite, in four
# parts:
#   main      build/: the unit, integration, lint and tsan suites (arguments go to its meson test)
#   consumers meson install to a temporary prefix, then a meson subproject, a pkg-config and a CMake consumer
#             built and run against orchestrator-sim, and a release build (scripts/consumers.sh)
#   sanitize  build-asan/: the unit and integration suites under ASan+UBSan (scripts/sanitize.sh)
#   fuzz      build-fuzz/: each fuzz target for FUZZ_SECONDS (default 30) seconds (scripts/fuzz.sh)
#
# The parts overlap. A suite spends most of its time waiting on sockets and timers, so the next part builds while
# one runs its tests, in two lanes:
#   tests lane   main build, main tests, sanitize tests, fuzz runs
#   builds lane  (once the main build is done) sanitize build, fuzz build, consumers
# The builds lane runs at the lowest priority (nice 19): a test that wants the CPU has it, and a build takes what
# the tests leave. A step of the tests lane waits for the build it needs. Every step's output goes to
# build/logs/STEP.log; a test step's output is printed when it ends, a build's last lines when it fails. At the
# end: each step's time, and the slowest tests.
#
# Every part runs even when one before it failed. --main-only runs the first part alone. Each part's exit
# status and time go to build/test-parts.txt, which .ci/run reads for its count. Exit status: 0 when every
# part passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit

main_only=false
if [[ ${1:-} == --main-only ]]; then
  main_only=true
  shift
fi
main_args=("$@")

# Results of an earlier run must not be counted as this one's.
rm -f build/meson-logs/testlog.json build-asan/meson-logs/testlog.json build-fuzz/fuzz-results.txt \
  build/consumer-results.txt
logs=build/logs
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs"/*.done
summary=build/test-parts.txt
steps=$logs/steps.txt
: >"$summary"
: >"$steps"
started=$SECONDS

# step NAME PRINT COMMAND...: runs COMMAND, its output in build/logs/NAME.log; writes build/logs/NAME.done with
# its exit status, and a line to steps.txt. PRINT: "all" prints the log when the step ends, "tail" its last lines
# when it failed. Lines of the two lanes are printed one block at a time.
step() {
  local name=$1 print=$2 start=$SECONDS status
  shift 2
  echo "== test.sh: $name started at $((start - started)) s"
  "$@" >"$logs/$name.log" 2>&1
  status=$?
  echo "$name $status $((start - started)) $((SECONDS - started))" >>"$steps"
  {
    flock 9
    if [[ $print == all ]]; then
      cat "$logs/$name.log"
    elif ((status != 0)); then
      echo "== test.sh: the last lines of $logs/$name.log:"
      tail -n 40 "$logs/$name.log"
    fi
    echo "== test.sh: $name exited $status after $((SECONDS - start)) s"
  } 9>"$logs/.print.lock"
  echo "$status" >"$logs/$name.done"
  return "$status"
}

# wait_for NAME: waits until step NAME of the other lane has ended; returns its exit status.
wait_for() {
  until [[ -f $logs/$1.done ]]; do sleep 1; done
  return "$(cat "$logs/$1.done")"
}

# part NAME STATUS START: a part's line in test-parts.txt (its time: from its first step's start to now).
part() {
  echo "$1 $2 $((SECONDS - started - $3))" >>"$summary"
}

# Every package of every part, in one apt-get run.
bash scripts/install-deps.sh --clang || echo "== test.sh: installing the packages failed; the builds will say what is missing"

# -- The main part's build, on every core.
step main-build tail bash scripts/build.sh
main_built=$?

if $main_only; then
  main_status=$main_built
  ((main_built == 0)) && { step main-tests all meson test -C build --no-rebuild --print-errorlogs "${main_args[@]}"; main_status=$?; }
  part main "$main_status" 0
  exit "$main_status"
fi

# -- The builds lane, in the background.
(
  step sanitize-build tail nice -n 19 bash scripts/sanitize.sh --build-only
  step fuzz-build tail nice -n 19 bash scripts/fuzz.sh --build-only
  if ((main_built == 0)); then
    step consumers all nice -n 19 bash scripts/consumers.sh
  else
    step consumers all bash -c 'echo "consumers: not run, the main build failed"; exit 1'
  fi
) &
builds_lane=$!

# -- The tests lane.
main_status=$main_built
if ((main_built == 0)); then
  step main-tests all meson test -C build --no-rebuild --print-errorlogs "${main_args[@]}"
  main_status=$?
fi
part main "$main_status" 0

wait_for sanitize-build
sanitize_status=$?
if ((sanitize_status == 0)); then
  step sanitize-tests all bash scripts/sanitize.sh --no-build
  sanitize_status=$?
fi

fuzz_status=0
wait_for fuzz-build || fuzz_status=1
if ((fuzz_status == 0)); then
  step fuzz-runs all bash scripts/fuzz.sh --no-build --seconds "${FUZZ_SECONDS:-30}"
  fuzz_status=$?
fi

wait "$builds_lane"
consumers_status=$(cat "$logs/consumers.done" 2>/dev/null || echo 1)

# Parts in the order .ci/run reports them; a part's time spans its steps, which overlap other parts' steps.
step_start() { awk -v name="$1" '$1 == name { print $3 }' "$steps"; }
part consumers "$consumers_status" "$(step_start consumers)"
part sanitize "$sanitize_status" "$(step_start sanitize-build)"
part fuzz "$fuzz_status" "$(step_start fuzz-build)"

echo "== test.sh: the steps (name, exit status, start and end in seconds from the start)"
column -t "$steps" | sed 's/^/   /'
echo "== test.sh: the slowest tests"
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY' || true
import json, os, sys
tests = []
for path in sys.argv[1:]:
    if os.path.exists(path):
        build = path.split("/")[0]
        tests += [(json.loads(line), build) for line in open(path, encoding="utf-8", errors="replace")]
for test, build in sorted(tests, key=lambda pair: -pair[0].get("duration", 0))[:10]:
    print(f"   {test.get('duration', 0):6.1f} s  {build}: {test['name']} ({test['result']})")
PY
echo "== test.sh: all parts took $((SECONDS - started)) s"
((main_status == 0 && consumers_status == 0 && sanitize_status == 0 && fuzz_status == 0))
