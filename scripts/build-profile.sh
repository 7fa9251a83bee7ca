#!/usr/bin/env bash
# Where a build's compile time goes: its N slowest translation units (default 20), from the times ninja logged
# in the build's last run, each compiled once more, alone, with GCC's -ftime-report, split into its phases:
#   parsing     the front end: reading and parsing the headers and the file
#   deferred    what GCC does after the file is parsed: mostly instantiating templates (Beast's, Asio's, ours)
#   generation  optimizing and generating the code of everything parsed and instantiated
# Prints a Markdown table (docs/benchmarks.md keeps one per build). The "ninja" column is the step's time in the
# build as it ran (shared with other jobs); the others are from the lone compile.
#
#   scripts/build-profile.sh BUILD_DIR [N]     e.g. scripts/build-profile.sh build 20
#
# Runs as many compiles at once as there are cores; each phase's time is that compile's own.
#
# GCC builds only (-ftime-report's format). The build directory must have been built by ninja (.ninja_log) and
# have meson's compile_commands.json. Each compile writes its object to a temporary directory, not the build's.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/build-profile.sh BUILD_DIR [N]}
count=${2:-20}
[[ -f $build/.ninja_log && -f $build/compile_commands.json ]] \
  || { echo "build-profile.sh: $build has no .ninja_log or compile_commands.json: build it first" >&2; exit 2; }

python3 - "$build" "$count" <<'PY'
import concurrent.futures, json, os, re, shlex, subprocess, sys, tempfile

build, count = sys.argv[1], int(sys.argv[2])
# .ninja_log: start, end (ms), mtime, output, hash; a later line for the same output replaces an earlier one.
steps = {}
with open(os.path.join(build, ".ninja_log")) as log:
    for line in log:
        if line.startswith("#"):
            continue
        start, end, _, output, _ = line.rstrip("\n").split("\t")
        steps[output] = (int(end) - int(start)) / 1000
commands = {entry["output"]: entry for entry in json.load(open(os.path.join(build, "compile_commands.json")))}
slowest = sorted((seconds, output) for output, seconds in steps.items() if output in commands)[::-1][:count]

def profile(temp, index, output):
    entry = commands[output]
    kept, skip = [], 0
    for word in shlex.split(entry["command"]):
        if skip:
            skip -= 1
        elif word in ("-MQ", "-MF", "-o"):  # the dependency file's options, and the object: written elsewhere
            skip = 1
        elif word != "-MD":
            kept.append(word)
    kept += ["-o", os.path.join(temp, f"unit{index}.o"), "-ftime-report"]
    run = subprocess.run(kept, cwd=entry["directory"], capture_output=True, text=True)
    phases = {}
    for line in run.stderr.splitlines():
        match = re.match(r"^ phase (parsing|lang\. deferred|opt and generate)\s*:", line)
        if match:
            # usr, sys, wall, memory: the wall column is the third "x.xx (n%)".
            times = re.findall(r"(\d+\.\d+) \(\s*\d+%\)", line)
            phases[match.group(1)] = float(times[2]) if len(times) >= 3 else float("nan")
    return entry, phases

print("| translation unit | ninja (s) | alone (s) | parsing | deferred (instantiation) | generation |")
print("|---|---:|---:|---:|---:|---:|")
with tempfile.TemporaryDirectory() as temp, concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
    results = pool.map(lambda job: profile(temp, *job), enumerate(output for _, output in slowest))
    for (seconds, _), (entry, phases) in zip(slowest, results):
        total = sum(phases.values())
        def share(name):
            value = phases.get(name, 0.0)
            return f"{value:.1f} ({value / total:.0%})" if total else "?"
        # The file, and the target it was compiled for (tests/main.cpp is compiled for two).
        name = os.path.relpath(os.path.join(entry["directory"], entry["file"]))
        name += f" ({os.path.basename(os.path.dirname(entry['output'])).removesuffix('.p')})"
        print(f"| {name} | {seconds:.1f} | {total:.1f} | {share('parsing')} | {share('lang. deferred')} | "
              f"{share('opt and generate')} |", flush=True)
PY
