#!/usr/bin/env bash
# Compile time of translation units as a user writes them, each against its floor measured in the same run:
#   core       client.hpp and the fakes, sending one request      vs  floor-core: Beast's message types only
#   core-sep   the same as core, built with RETRYHTTP_SEPARATE_COMPILATION vs floor-core (the fakes and
#              their usual client are then compiled once per program: testing-src-once)
#   core-own   client.hpp with a Transport of the user's own      vs  floor-core
#   real       http_client<> doing one GET (header-only)          vs  floor-real: the same GET with raw Beast
#   real-sep   the same, built with RETRYHTTP_SEPARATE_COMPILATION vs floor-real (<retryhttp/src.hpp> is then
#              compiled once per program: src-once)
# Same flags as the project's default build (g++ -std=c++20 -O2 -g). The units are compiled in a shuffled
# order in each of --rounds rounds (interleaved, so that the machine's drift touches all alike); the table
# shows each unit's median and the ratio of medians, with the lowest and highest per-round ratio.
#
# --first-build also times a first build of the whole repository (meson setup, then ninja on every core) in
# a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
first_build=false
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --first-build) first_build=true; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "compile-time.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
bash scripts/install-deps.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/floor-core.cpp" <<'CPP'
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
int main(int argc, char**) {
  namespace http = boost::beast::http;
  http::request<http::string_body> request{http::verb::get, "/", 11};
  request.set(http::field::host, "127.0.0.1");
  http::response<http::string_body> response{http::status::ok, 11};
  response.set(http::field::retry_after, "1");
  response.body() = std::string(request.target());
  response.prepare_payload();
  return response.result_int() == 200 && argc > 0 ? 0 : 1;
}
CPP
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
cat >"$work/core-own.cpp" <<'CPP'
#include <retryhttp/client.hpp>
#include <boost/beast/http/string_body.hpp>
struct canned {
  using request_type = boost::beast::http::request<boost::beast::http::string_body>;
  using response_type = boost::beast::http::response<boost::beast::http::string_body>;
  retryhttp::attempt_outcome<response_type> attempt(const request_type& request, const retryhttp::attempt_context&) {
    return response_type{boost::beast::http::status::ok, request.version()};
  }
};
int main() {
  retryhttp::basic_client<canned> client{retryhttp::retry_config{}, canned{}};
  return client.send({boost::beast::http::verb::get, "/", 11}).ok() ? 0 : 1;
}
CPP
cat >"$work/floor-real.cpp" <<'CPP'
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
int main(int argc, char** argv) {
  namespace http = boost::beast::http;
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver{io};
  boost::beast::tcp_stream stream{io};
  stream.expires_after(std::chrono::seconds(10));
  boost::beast::error_code ec;
  stream.connect(resolver.resolve("127.0.0.1", argc > 1 ? argv[1] : "1", ec), ec);
  if (ec) return 1;
  http::request<http::string_body> request{http::verb::get, "/", 11};
  request.set(http::field::host, "127.0.0.1");
  http::write(stream, request, ec);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, ec);
  return !ec && response.result_int() == 200 ? 0 : 1;
}
CPP
cat >"$work/real.cpp" <<'CPP'
#include <retryhttp/beast_transport.hpp>
int main(int argc, char** argv) {
  retryhttp::http_client<> client{retryhttp::retry_config{},
                                  retryhttp::beast_transport{argc > 1 ? argv[1] : "http://127.0.0.1:1"}};
  return client.send({boost::beast::http::verb::get, "/", 11}).ok() ? 0 : 1;
}
CPP
cp "$work/real.cpp" "$work/real-sep.cpp"
cp "$work/core.cpp" "$work/core-sep.cpp"
echo '#include <retryhttp/src.hpp>' >"$work/src-once.cpp"
echo '#include <retryhttp/testing/src.hpp>' >"$work/testing-src-once.cpp"

flags_of() {
  case $1 in
    real-sep | src-once | core-sep | testing-src-once) echo "-DRETRYHTTP_SEPARATE_COMPILATION" ;;
  esac
}
units=(floor-core core core-sep core-own floor-real real real-sep src-once testing-src-once)
: >"$work/times"
for ((round = 1; round <= rounds; round++)); do  # --rounds 0: the first build only
  for unit in $(printf '%s\n' "${units[@]}" | shuf); do
    start=$(date +%s.%N)
    # shellcheck disable=SC2046
    g++ -std=c++20 -O2 -g -Iinclude $(flags_of "$unit") -c "$work/$unit.cpp" -o "$work/$unit.o"
    end=$(date +%s.%N)
    echo "$round $unit $(echo "$start $end" | awk '{ printf "%.3f", $2 - $1 }')" >>"$work/times"
  done
  echo "compile-time.sh: round $round of $rounds done" >&2
done

median_of() { awk -v u="$1" '$2 == u { print $3 }' "$work/times" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# The lowest and highest ratio unit/floor over the rounds.
spread_of() {
  awk -v u="$1" -v f="$2" '$2 == u { t[$1] = $3 } $2 == f { b[$1] = $3 }
    END { lo = 1e9; hi = 0; for (r in t) { x = t[r] / b[r]; if (x < lo) lo = x; if (x > hi) hi = x }
          printf "%.2f-%.2f", lo, hi }' "$work/times"
}
if ((rounds > 0)); then
  echo
  echo "g++ $(g++ -dumpfullversion), -std=c++20 -O2 -g, $rounds interleaved rounds, medians:"
  echo
  echo "| unit | seconds | floor | ratio | per-round ratios |"
  echo "|---|---|---|---|---|"
  for pair in "core floor-core" "core-sep floor-core" "core-own floor-core" "real floor-real" "real-sep floor-real"; do
    read -r unit floor <<<"$pair"
    u=$(median_of "$unit")
    f=$(median_of "$floor")
    echo "| $unit | $u | $floor $f | $(echo "$u $f" | awk '{ printf "%.2f", $1 / $2 }')x | $(spread_of "$unit" "$floor") |"
  done
  echo "| src-once | $(median_of src-once) | | | |"
  echo "| testing-src-once | $(median_of testing-src-once) | | | |"
fi

if $first_build; then
  echo
  build="$work/first-build"
  meson setup "$build" -Dwerror=true >/dev/null
  start=$SECONDS
  ninja -C "$build" >/dev/null
  targets=$(ninja -C "$build" -t targets all | grep -c ': \(cpp_COMPILER\|cpp_LINKER\)' || true)
  echo "first build of the repository: $((SECONDS - start)) s on $(nproc) cores ($targets compile and link steps)"
  echo "the slowest steps (seconds each, as ninja ran them, several at a time):"
  awk 'NR > 1 { printf "  %6.1f %s\n", ($2 - $1) / 1000, $4 }' "$build/.ninja_log" | sort -rn | head -12
fi
