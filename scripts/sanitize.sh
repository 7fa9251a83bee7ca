#!/usr/bin/env bash
# The unit and integration suites once more under AddressSanitizer and UndefinedBehaviorSanitizer, in
# build-asan/ (clang 14, -O0). Any report fails its test: UBSan halts on the first error, ASan always does, and
# LeakSanitizer checks every test program and every tool the integration tests start at exit.
#
# Clang, where the main build is GCC's: with both sanitizers at -O0 it compiles this build in about a third of
# GCC's time (orchestrator-sim 16 s against 57 s alone; the whole build 132 s against 330 s on 2 cores), and the
# code is then built, with warnings as errors, by a second compiler. Clang's `undefined` holds every check of
# GCC's; the one it has beyond them, `function`, clang 14 cannot emit for coroutines (meson.build).
#
#   scripts/sanitize.sh [--build-only | --no-build] [meson test arguments]     e.g. --suite unit, or a test's name
#
# --build-only builds and runs nothing; --no-build runs what an earlier --build-only built (scripts/test.sh
# builds while another part runs its tests).
#
# Builds only what those suites run (the test programs, orchestrator-sim, vmm-ctl and retry-demo), not the
# benchmarks or the other tools. The TSan suite is the main build's (scripts/test.sh): TSan and ASan cannot share a program.
set -euo pipefail
cd "$(dirname "$0")/.."
build_step=true
run_step=true
case ${1:-} in
  --build-only) run_step=false; shift ;;
  --no-build) build_step=false; shift ;;
esac

build="build-asan"
if $build_step; then
  bash scripts/install-deps.sh --clang
  if [[ ! -f $build/build.ninja ]]; then
    # b_lundef=false: a sanitized shared object may leave the runtime's symbols to the program (meson's advice
    # for -Db_sanitize). -O0: the build takes a third of the CPU time of -O1 (Beast and Catch2 are heavy to
    # optimize), the suites run as fast (they wait on sockets and timers more than they compute), and the
    # sanitizers find the same errors, with exact stacks. -g1: line tables, all that a report's stack needs, and
    # an eighth less compile time than -g.
    CXX=clang++-14 meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=disabled -Dwerror=true \
      -Doptimization=0 -Ddebug=false -Dcpp_args=-g1 >/dev/null
  fi
  ninja -C "$build" build.ninja >/dev/null  # regenerates when a meson.build changed, so the list below is current
  mapfile -t programs < <(ninja -C "$build" -t targets all | sed -n 's/^\(tests\/[a-z_]*_tests\): .*/\1/p')
  ninja -C "$build" "${programs[@]}" tools/orchestrator-sim/orchestrator-sim tools/vmm-ctl/vmm-ctl tools/retry-demo/retry-demo
fi
$run_step || exit 0

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
meson test -C "$build" --no-rebuild --print-errorlogs --suite unit --suite integration "$@"
