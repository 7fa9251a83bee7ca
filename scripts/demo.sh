#!/usr/bin/env bash
# The main job: installs what is missing, builds everything, starts orchestrator-sim on a free loopback port
# with a few faults, runs a short vmm-ctl --verbose session (create, list, start, get, stop, delete) that shows
# retries happening, and stops the simulator. Then, for the library alone, the retry loop on the fakes.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'USAGE'
usage: scripts/demo.sh [--seed N] [--config FILE]
       scripts/demo.sh --help

Builds everything (build/), starts orchestrator-sim with a few faults, runs a vmm-ctl --verbose session
against it that shows retries, a lost create and its check, stops the simulator; then runs retry-demo, the
retry loop alone on the fake transport and the fake clock.

  --seed N       the seed of retry-demo's jitter (default 42); the vmm-ctl session's jitter is random
  --config FILE  a retry config, {"retry": {"max_retries": 3, "base_delay_ms": 500, ...}}, used by both
                 parts: vmm-ctl reads it as its config file (endpoint: the simulator's), retry-demo as
                 its retry policy. Default: short delays for vmm-ctl, the library's defaults for
                 retry-demo.
  --help         this text

DEMO_BUILD_DIR=DIR takes the programs already built in DIR and builds nothing.
USAGE
}

seed=""
config=""
while (($# > 0)); do
  case $1 in
    --help | -h)
      usage
      exit 0 ;;
    --seed | --config)
      if (($# < 2)); then
        echo "demo.sh: $1 needs a value" >&2
        exit 2
      fi
      if [[ $1 == --seed ]]; then seed=$2; else config=$2; fi
      shift 2 ;;
    *)
      echo "demo.sh: unknown argument \"$1\" (see scripts/demo.sh --help)" >&2
      exit 2 ;;
  esac
done
if [[ -n $config && ! -f $config ]]; then
  echo "demo.sh: --config: $config is not a readable file" >&2
  exit 2
fi
if [[ -n $seed && ! $seed =~ ^[0-9]+$ ]]; then
  echo "demo.sh: --seed: expected a non-negative integer, got \"$seed\"" >&2
  exit 2
fi

build=${DEMO_BUILD_DIR:-build}
if [[ -z ${DEMO_BUILD_DIR:-} ]]; then
  bash scripts/build.sh >/dev/null
fi

sim=$build/tools/orchestrator-sim/orchestrator-sim
ctl=$build/tools/vmm-ctl/vmm-ctl
work=$(mktemp -d)
sim_pid=""
trap '[[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# Faults: the first list answers 503 twice; the first start loses its connection; the first get is slow;
# the first stop gets a 503 with Retry-After: 1; the second and third creates are applied but their responses
# are lost: without a key that is exit 4 (and vmm-ctl checks whether the VM exists), with a key it is retried.
"$sim" --port 0 \
  --fault 'GET /v1/vms 1-2 status 503' \
  --fault 'POST /v1/vms/{name}/start 1 drop' \
  --fault 'GET /v1/vms/{name} 1 delay 300' \
  --fault 'POST /v1/vms/{name}/stop 1 status 503 retry-after 1' \
  --fault 'POST /v1/vms 2-3 apply-drop' \
  >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/^listening on //p' "$work/sim.out")
echo "== orchestrator-sim at $endpoint"

user_config=$config
if [[ -z $config ]]; then
  config=$work/config.json
  cat >"$config" <<JSON
{"timeout_ms": 2000,
 "retry": {"max_retries": 3, "base_delay_ms": 200, "max_delay_ms": 2000, "retry_on": [502, 503, 504]}}
JSON
fi

run() {
  echo
  echo "\$ vmm-ctl --verbose $*"
  set +e
  "$ctl" --config "$config" --endpoint "$endpoint" --verbose "$@"
  echo "(exit $?)"
  set -e
}
run create web-1 --cpus 2 --memory-mib 2048
run list
run start web-1
run get web-1
run stop web-1
run delete web-1
run get web-1
run create web-2
run create web-3 --idempotency-key
run list

echo
echo "== what the server saw"
cat "$work/sim.log"

echo
echo "== the retry loop alone, on the fake transport and fake clock"
demo_args=()
[[ -n $user_config ]] && demo_args+=(--config "$user_config")
[[ -n $seed ]] && demo_args+=(--seed "$seed")
"$build/tools/retry-demo/retry-demo" "${demo_args[@]}"
