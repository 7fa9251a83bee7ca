#!/usr/bin/env bash
# Runs a ThreadSanitizer program with address-space layout randomization turned off for that process alone.
# GCC 12's TSan reserves its shadow memory at fixed addresses; on a kernel that randomizes mmap with more bits
# than it supports (vm.mmap_rnd_bits above 28, as many current kernels set), a library placed at random can
# land in that range, and the program dies before its first test with "FATAL: ThreadSanitizer: unexpected
# memory mapping": on some runs, not all. Newer TSan runtimes re-execute themselves this way; GCC 12's does not.
# Where the personality cannot be set (a sandbox that forbids it), the program runs as it is.
set -u
if setarch "$(uname -m)" -R true 2>/dev/null; then
  exec setarch "$(uname -m)" -R "$@"
fi
exec "$@"
