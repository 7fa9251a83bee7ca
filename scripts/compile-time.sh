#!/usr/bin/env bash
# Compile time of two translation units, as a user would write them: one that includes only the core headers with
# the fakes, and one that also includes beast_transport.hpp (Asio and Beast's I/O). Same flags as the project's
# build (g++ -std=c++20 -O2 -g). Prints the median of 5 runs of each, in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/core.cpp" <<'CPP'
#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
int main() {
  retryhttp::testing::fake_clock clock;
  retryhttp::testing::fake_transport transport{clock};
  transport.then(retryhttp::testing::respond(200));
  retryhttp::basic_client client{retryhttp::retry_config{}, transport, retryhttp::exponential_backoff{}, clock};
  return client.send({boost::beast::http::verb::get, "/", 11}).ok() ? 0 : 1;
}
CPP
cat >"$work/real.cpp" <<'CPP'
#include <retryhttp/beast_transport.hpp>
int main(int argc, char** argv) {
  retryhttp::http_client<> client{retryhttp::retry_config{}, retryhttp::beast_transport{argc > 1 ? argv[1] : "http://127.0.0.1:1"}};
  return client.send({boost::beast::http::verb::get, "/", 11}).ok() ? 0 : 1;
}
CPP
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for unit in core real; do
  for _ in 1 2 3 4 5; do
    start=$(date +%s.%N)
    g++ -std=c++20 -O2 -g -Iinclude -c "$work/$unit.cpp" -o "$work/$unit.o"
    end=$(date +%s.%N)
    echo "$end - $start" | awk '{ printf "%.2f\n", $1 - $3 }'
  done | median | sed "s/^/$unit.cpp (s): /"
done
