#!/usr/bin/env bash
# Checks that the C++ sources are formatted as .clang-format says (clang-format 14, Debian 12's); prints the
# first differences and exits 1 when one is not. --fix formats them in place instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(--dry-run -Werror)
[[ ${1:-} == --fix ]] && mode=(-i)
mapfile -t sources < <(find include src tests tools benchmarks -type f \
  \( -name '*.hpp' -o -name '*.cpp' -o -name '*.ipp' -o -name '*.h' \) | sort)
if ! clang-format "${mode[@]}" "${sources[@]}" 2>"${TMPDIR:-/tmp}/check-format.$$"; then
  head -n 30 "${TMPDIR:-/tmp}/check-format.$$" >&2
  rm -f "${TMPDIR:-/tmp}/check-format.$$"
  echo "check-format.sh: not formatted as .clang-format says; bash scripts/check-format.sh --fix formats them" >&2
  exit 1
fi
rm -f "${TMPDIR:-/tmp}/check-format.$$"
echo "check-format.sh: ${#sources[@]} files checked, all formatted as .clang-format says"
