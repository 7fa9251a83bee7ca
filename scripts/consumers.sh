#!/usr/bin/env bash
# The ways to consume retryhttp, each built as a user would and run against orchestrator-sim:
#   meson        a project that vendors retryhttp as a subproject (dependency('retryhttp'))
#   pkg-config   a plain compiler command line after `meson install` to a temporary prefix
#   cmake        find_package(retryhttp CONFIG) after the same install
# Each consumer compiles tests/consumers/main.cpp with strict warnings of its own as errors (-Wconversion
# -Wsign-conversion -Wshadow) and GETs /v1/vms from an installed orchestrator-sim that answers 503 first: it
# must print "200 after 2 attempts". The install is checked too: headers, LICENSE, the pkg-config and CMake
# files, vmm-ctl and orchestrator-sim, vmm-ctl's manual page and its bash and zsh completions. Then a release
# build of the project (--buildtype=release), which a packager makes first. Needs build/ built
# (scripts/build.sh). One "PASS name" or "FAIL name" line per check goes to build/consumer-results.txt, which
# .ci/run counts. Exit status: 0 when every check passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
repo=$PWD
results=$repo/build/consumer-results.txt
: >"$results"
work=$(mktemp -d /tmp/retryhttp-consumers-XXXXXX)
sim_pid=""
cleanup() {
  [[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
status=0
record() {  # record NAME STATUS
  if (($2 == 0)); then echo "PASS $1" | tee -a "$results"; else echo "FAIL $1" | tee -a "$results"; status=1; fi
}

# -- Install to a staging directory; the files are used where they land (the CMake and pkg-config files are
# relocatable).
meson install -C build --destdir "$work/stage" >"$work/install.log" 2>&1
record install $?
prefix=$(meson introspect build --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
libdir=$(meson introspect build --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"))')
root=$work/stage$prefix
missing=0
for file in include/retryhttp/client.hpp include/retryhttp/version.hpp include/retryhttp/beast_transport.hpp \
  include/vmm/host_client.hpp share/doc/retryhttp/LICENSE "$libdir/pkgconfig/retryhttp.pc" \
  share/cmake/retryhttp/retryhttpConfig.cmake share/cmake/retryhttp/retryhttpConfigVersion.cmake \
  bin/vmm-ctl bin/orchestrator-sim share/man/man1/vmm-ctl.1 share/bash-completion/completions/vmm-ctl \
  share/zsh/site-functions/_vmm-ctl; do
  [[ -e $root/$file ]] || { echo "consumers.sh: the install has no $file" >&2; missing=1; }
done
record installed-files $missing

# -- One consumer run: a fresh simulator whose first GET /v1/vms is a 503.
run_consumer() {  # run_consumer NAME PROGRAM
  local out=$work/$1.sim.out
  "$root/bin/orchestrator-sim" --port 0 --quiet --fault 'GET /v1/vms 1 status 503' >"$out" 2>"$work/$1.sim.err" &
  sim_pid=$!
  local url=""
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$out")
    [[ -n $url ]] && break
    sleep 0.05
  done
  local printed
  printed=$(timeout 30 "$2" "$url" 2>&1)
  local code=$?
  kill "$sim_pid" 2>/dev/null
  wait "$sim_pid" 2>/dev/null
  sim_pid=""
  echo "consumers.sh: $1: $printed"
  [[ $code == 0 && $printed == *"retryhttp "*": 200 after 2 attempts: "* ]]
}

# -- The three consumers are built side by side (each is one compiler on one core), then each is run.
build_meson() {  # a project that vendors the repository's files as a subproject; no git needed
  mkdir -p "$work/meson/subprojects/retryhttp"
  cp tests/consumers/meson/meson.build tests/consumers/main.cpp "$work/meson/"
  # What a subproject uses (its tools, tests and benchmarks are not built as one).
  cp -r meson.build meson_options.txt LICENSE cmake include "$work/meson/subprojects/retryhttp/"
  (cd "$work/meson" && meson setup build && meson compile -C build)
}
# pkg-config: the .pc file is relocatable (its prefix comes from its own place). This consumer is built in the
# separately compiled mode (RETRYHTTP_SEPARATE_COMPILATION, one file including <retryhttp/src.hpp>); the other
# two header-only.
export PKG_CONFIG_PATH=$root/$libdir/pkgconfig
build_pkg_config() {
  echo '#include <retryhttp/src.hpp>' >"$work/retryhttp-src.cpp"
  # shellcheck disable=SC2046
  c++ -std=c++20 -O1 -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror \
    -DRETRYHTTP_SEPARATE_COMPILATION $(pkg-config --cflags retryhttp) tests/consumers/main.cpp \
    "$work/retryhttp-src.cpp" -o "$work/pkg-config-consumer" $(pkg-config --libs retryhttp)
}
build_cmake() {  # find_package with the staged prefix
  mkdir -p "$work/cmake"
  cp tests/consumers/cmake/CMakeLists.txt tests/consumers/main.cpp "$work/cmake/"
  cmake -G Ninja -S "$work/cmake" -B "$work/cmake/build" -DCMAKE_PREFIX_PATH="$root" -DCMAKE_BUILD_TYPE=Release \
    && cmake --build "$work/cmake/build"
}
build_meson >"$work/meson.log" 2>&1 &
meson_build=$!
build_pkg_config >"$work/pkg-config.log" 2>&1 &
pkg_build=$!
build_cmake >"$work/cmake.log" 2>&1 &
cmake_build=$!

wait "$meson_build" && run_consumer meson "$work/meson/build/consumer"
meson_status=$?
((meson_status == 0)) || tail -20 "$work/meson.log"
record consumer-meson $meson_status

wait "$pkg_build" && run_consumer pkg-config "$work/pkg-config-consumer"
pkg_status=$?
((pkg_status == 0)) || tail -20 "$work/pkg-config.log"
record consumer-pkg-config $pkg_status

wait "$cmake_build" && run_consumer cmake "$work/cmake/build/consumer"
cmake_status=$?
((cmake_status == 0)) || tail -20 "$work/cmake.log"
record consumer-cmake $cmake_status

# -- What a packager builds first: a release build (werror off, the default), tools and headers.
if [[ ! -f build-release/build.ninja ]]; then
  meson setup build-release --buildtype=release -Dtests=disabled -Dbenchmarks=disabled >"$work/release.log" 2>&1
fi
meson compile -C build-release >>"$work/release.log" 2>&1
release_status=$?
((release_status == 0)) || tail -20 "$work/release.log"
record release-build $release_status
exit $status
