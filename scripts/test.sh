#!/usr/bin/env bash
# The test command: installs what is missing (Debian packages), builds, and runs every test suite, in four
# parts:
#   main      build/: the unit, integration and tsan suites (arguments go to its meson test)
#   consumers meson install to a temporary prefix, then a meson subproject, a pkg-config and a CMake consumer
#             built and run against orchestrator-sim, and a release build (scripts/consumers.sh)
#   sanitize  build-asan/: the unit and integration suites under ASan+UBSan (scripts/sanitize.sh)
#   fuzz      build-fuzz/: each fuzz target for FUZZ_SECONDS (default 30) seconds (scripts/fuzz.sh)
# Every part runs even when one before it failed. --main-only runs the first part alone. Each part's exit
# status and time go to build/test-parts.txt, which .ci/run reads for its count. Exit status: 0 when every
# part passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit

parts=(main consumers sanitize fuzz)
if [[ ${1:-} == --main-only ]]; then
  parts=(main)
  shift
fi

run_part() {
  case $1 in
    main) bash scripts/build.sh && meson test -C build --print-errorlogs "${main_args[@]}" ;;
    consumers) bash scripts/consumers.sh ;;
    sanitize) bash scripts/sanitize.sh ;;
    fuzz) bash scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-30}" ;;
  esac
}

main_args=("$@")
# Results of an earlier run must not be counted as this one's.
rm -f build/meson-logs/testlog.json build-asan/meson-logs/testlog.json build-fuzz/fuzz-results.txt \
  build/consumer-results.txt
mkdir -p build
summary=build/test-parts.txt
: >"$summary"
status=0
for part in "${parts[@]}"; do
  echo "== test.sh: $part"
  start=$SECONDS
  run_part "$part"
  part_status=$?
  echo "$part $part_status $((SECONDS - start))" >>"$summary"
  echo "== test.sh: $part exited $part_status after $((SECONDS - start)) s"
  ((part_status == 0)) || status=1
done
exit $status
