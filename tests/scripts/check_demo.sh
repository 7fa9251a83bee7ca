#!/usr/bin/env bash
# scripts/demo.sh's options do what its --help and the README say: --help prints the usage and runs nothing,
# a bad argument is exit 2, and --seed N and --config FILE reach both parts of the demo (the vmm-ctl session
# reads FILE; retry-demo reads FILE and N). Runs the demo on the programs already built in BUILD_DIR.
#
#   check_demo.sh SOURCE_ROOT BUILD_DIR
set -uo pipefail
root=$1 build=$2
work=$(mktemp -d /tmp/retryhttp-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# --help: the usage, at once; it neither builds nor starts anything. DEMO_BUILD_DIR names a directory that
# does not exist, so that a demo.sh whose --help went on could neither build (it builds only without
# DEMO_BUILD_DIR) nor run a program, and would fail here.
start=$SECONDS
DEMO_BUILD_DIR=$work/no-build timeout 20 bash "$root/scripts/demo.sh" --help >"$work/help.out" 2>&1
code=$?
((code == 0)) || fail "demo.sh --help exited $code"
grep -q "^usage: scripts/demo.sh \[--seed N\] \[--config FILE\]" "$work/help.out" || fail "demo.sh --help: no usage"
grep -q "orchestrator-sim at" "$work/help.out" && fail "demo.sh --help ran the demo"
((SECONDS - start < 5)) || fail "demo.sh --help took $((SECONDS - start)) s"

for args in "--bogus" "--seed" "--seed -1" "--config /nonexistent.json"; do
  # shellcheck disable=SC2086
  DEMO_BUILD_DIR=$work/no-build timeout 20 bash "$root/scripts/demo.sh" $args >"$work/bad.out" 2>&1
  code=$?
  ((code == 2)) || fail "demo.sh $args exited $code, not 2: $(cat "$work/bad.out")"
done

# The options reach both parts.
cat >"$work/retry.json" <<'JSON'
{"retry": {"max_retries": 2, "base_delay_ms": 20, "max_delay_ms": 40}}
JSON
DEMO_BUILD_DIR=$build timeout 120 bash "$root/scripts/demo.sh" --seed 7 --config "$work/retry.json" \
  >"$work/demo.out" 2>&1
code=$?
((code == 0)) || fail "demo.sh --seed 7 --config FILE exited $code: $(tail -20 "$work/demo.out")"
grep -qF "config $work/retry.json, max_retries 2, base 20 ms, max 40 ms" "$work/demo.out" \
  || fail "the vmm-ctl session did not read --config"
grep -qF "retry-demo: max_retries 2, base_delay 20 ms, max_delay 40 ms, seed 7" "$work/demo.out" \
  || fail "retry-demo did not get --config and --seed"

if ((failures > 0)); then
  echo "check_demo.sh: $failures failure(s)" >&2
  exit 1
fi
echo "check_demo.sh: demo.sh --help, bad arguments, --seed and --config behave as documented"
