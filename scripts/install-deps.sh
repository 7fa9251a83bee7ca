#!/usr/bin/env bash
# Installs what retryhttp needs to build and test, from Debian 12's packages, when it is missing.
# Safe to run again: it installs nothing when everything is there. Needs root (or sudo) for apt-get.
# man-db, groff-base and zsh are for the tests of vmm-ctl's manual page (man -l) and zsh completion.
# clang-format (14) is for the format test (scripts/check-format.sh).
# --clang adds clang 14 and its runtime libraries (ASan, UBSan, libFuzzer) for scripts/sanitize.sh and
# scripts/fuzz.sh.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libfmt-dev catch2 libbenchmark-dev libcurl4-openssl-dev
  libssl-dev openssl cmake clang-format
  man-db groff-base zsh
)
if [[ ${1:-} == --clang ]]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
