#!/usr/bin/env bash
# Runs a ThreadSanitizer program with address-space layout randomization turned off for that process alone.
# GCC 12's TSan reserves its shadow memory at fixed addresses; on a kernel that randomizes mmap with more bits
# than it supports (vm.mmap_rnd_bits above 28, as many current kernels set), a library placed at random can
# land in that range, and the program dies before its first test with "FATAL: ThreadSanitizer: unexpected
# memory mapping": on some runs, not all. Newer TSan runtimes re-execute themselves this way; GCC 12's does not.
#
# Where the personality cannot be set (a container whose seccomp profile forbids it), the program runs with
# randomization, and a run that died of that mapping failure (and of nothing else) is run again, up to three
# times in all. A data race, or any other failure, is reported as it is.
set -u
no_aslr=false
if setarch "$(uname -m)" -R true 2>/dev/null; then
  no_aslr=true
else
  echo "without-aslr.sh: cannot turn off address-space randomization here; running with it" >&2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for run in 1 2 3; do
  if $no_aslr; then
    setarch "$(uname -m)" -R "$@" 2>"$log"
  else
    "$@" 2>"$log"
  fi
  status=$?
  cat "$log" >&2
  if ((status != 0)) && ((run < 3)) && grep -q -E 'ThreadSanitizer: (unexpected memory mapping|failed to)' "$log" \
    && ! grep -q -E 'WARNING: ThreadSanitizer|FAILED' "$log"; then
    echo "without-aslr.sh: ThreadSanitizer could not map its memory (run $run); running again" >&2
    continue
  fi
  exit "$status"
done
