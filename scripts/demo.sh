#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the retry loop against the fake transport and fake
# clock, printing each attempt and each delay. Arguments go to retry-demo (--seed N, --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
exec build/tools/retry-demo/retry-demo "$@"
