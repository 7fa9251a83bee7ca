#!/usr/bin/env bash
# The main job: installs what is missing, builds everything, starts orchestrator-sim on a free loopback port
# with a few faults, runs a short vmm-ctl --verbose session (create, list, start, get, stop, delete) that shows
# retries happening, and stops the simulator. Then, for the library alone, the retry loop on the fakes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null

sim=build/tools/orchestrator-sim/orchestrator-sim
ctl=build/tools/vmm-ctl/vmm-ctl
work=$(mktemp -d)
trap 'kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; rm -rf "$work"' EXIT

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

cat >"$work/config.json" <<JSON
{"endpoint": "$endpoint", "timeout_ms": 2000,
 "retry": {"max_retries": 3, "base_delay_ms": 200, "max_delay_ms": 2000, "retry_on": [502, 503, 504]}}
JSON

run() {
  echo
  echo "\$ vmm-ctl --verbose $*"
  set +e
  "$ctl" --config "$work/config.json" --verbose "$@"
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
build/tools/retry-demo/retry-demo "$@"
