#!/usr/bin/env bash
# Runs retry-sim's experiments and turns their CSV into the PNG charts of docs/simulation.md (gnuplot, installed
# from Debian when missing). Deterministic: the same seed gives the same CSV and the same charts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
command -v gnuplot >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null; }
sim=build/tools/retry-sim/retry-sim
out=build/sim
mkdir -p "$out" docs/img
"$sim" occ --clients 5,10,20,30,40,50,60,70,80,90,100 --trials 50 --seed 1 >"$out/occ.csv"
"$sim" overload --clients 50 --p 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,0.99,1 --trials 3 --seed 1 >"$out/overload.csv"
"$sim" overload --clients 100 --capacity 60 --trials 3 --seed 1 >"$out/capacity.csv"

for s in none no_jitter full_jitter equal_jitter decorrelated exponential; do
  grep "^occ,$s," "$out/occ.csv" >"$out/occ-$s.dat"
done
for s in ticket ticket+percent_budget ticket+token_bucket three_attempts go_retryablehttp envoy aws_standard; do
  grep "^overload,$s," "$out/overload.csv" >"$out/overload-$s.dat"
done

gnuplot <<GNUPLOT
set datafile separator ","
set terminal pngcairo size 900,560 font ",11" noenhanced
set key left top
set grid
set xlabel "clients"
set output "docs/img/occ-calls.png"
set title "OCC contention: total calls (writes) until every client succeeded, mean of 50 trials"
set ylabel "calls"
plot for [s in "none no_jitter full_jitter equal_jitter decorrelated exponential"] "$out/occ-".s.".dat" using 3:6 with linespoints title s
set output "docs/img/occ-time.png"
set title "OCC contention: time until the last client succeeded (ms), mean of 50 trials"
set ylabel "time (ms)"
set logscale y
plot for [s in "none no_jitter full_jitter equal_jitter decorrelated exponential"] "$out/occ-".s.".dat" using 3:7 with linespoints title s
unset logscale y
set output "docs/img/overload-amplification.png"
set title "Load amplification (attempts / first tries) against the rejection rate p, 50 clients"
set xlabel "p (fraction of attempts the server rejects)"
set ylabel "amplification"
plot for [s in "ticket ticket+percent_budget ticket+token_bucket three_attempts go_retryablehttp envoy aws_standard"] "$out/overload-".s.".dat" using 4:8 with linespoints title s
GNUPLOT
echo "wrote docs/img/occ-calls.png docs/img/occ-time.png docs/img/overload-amplification.png; CSV in $out/"
