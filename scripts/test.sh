#!/usr/bin/env bash
# The test command: installs what is missing (Debian packages), builds, and runs every test suite.
# Exit status is meson's: 0 when all tests passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
meson test -C build --print-errorlogs "$@"
