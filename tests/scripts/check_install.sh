#!/usr/bin/env bash
# vmm-ctl's manual page and shell completions, as `meson install` puts them: installs them (meson's "man" and
# "completion" install tags) into a temporary DESTDIR, then checks that each file is where man, bash-completion
# and zsh look; that `man -l` renders the page without a warning, with its sections and the project's version;
# that the bash completion completes commands, options, their values and the VM names of a running
# orchestrator-sim; that zsh completes the same through its own completion system (zsh_complete.zsh); and
# that both know every option `vmm-ctl --help` lists.
#
#   check_install.sh BUILD_DIR PROJECT_VERSION VMM_CTL ORCHESTRATOR_SIM
#
# Needs man (man-db) and zsh: scripts/install-deps.sh installs them.
set -uo pipefail
build=$1 version=$2 ctl=$3 sim=$4
work=$(mktemp -d /tmp/retryhttp-install-XXXXXX)
sim_pid=""
cleanup() {
  [[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

if ! meson install -C "$build" --no-rebuild --quiet --destdir "$work/stage" --tags man,completion \
  >"$work/install.log" 2>&1; then
  cat "$work/install.log" >&2
  fail "meson install"
  exit 1
fi
option() {
  meson introspect "$build" --buildoptions | python3 -c \
    'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
prefix=$(option prefix)
relative() { [[ $1 == /* ]] && echo "$1" || echo "$prefix/$1"; }
page=$work/stage$(relative "$(option mandir)")/man1/vmm-ctl.1
datadir=$work/stage$(relative "$(option datadir)")
bash_completion=$datadir/bash-completion/completions/vmm-ctl
zsh_completion=$datadir/zsh/site-functions/_vmm-ctl
for file in "$page" "$bash_completion" "$zsh_completion"; do
  [[ -f $file ]] || fail "not installed: ${file#"$work/stage"}"
done
((failures == 0)) || exit 1

# -- The manual page renders, without a warning, with its sections.
if ! command -v man >/dev/null; then
  fail "no man here (scripts/install-deps.sh installs man-db)"
else
  MANWIDTH=100 man --warnings -l "$page" >"$work/page.txt" 2>"$work/page.err" || fail "man -l exited $?"
  [[ -s $work/page.err ]] && fail "man -l warns: $(cat "$work/page.err")"
  for words in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT "--output" "--timeout" \
    "--retries" "--quiet" "VMM_CTL_ENDPOINT" "130" "143" "retryhttp $version"; do
    grep -qF -- "$words" "$work/page.txt" || fail "the rendered page does not say \"$words\""
  done
fi

# -- Every option vmm-ctl --help and vmm-ctl help create list is known to both completions.
# The option lists' lines: "  -o, --output FORMAT   ...", "  --cpus N   ...".
mapfile -t options < <({ "$ctl" --help; "$ctl" help create; } \
  | sed -nE 's/^ +(-[a-z], )?(--[a-z][a-z-]*).*/\2/p' | sort -u)
((${#options[@]} >= 12)) || fail "vmm-ctl --help lists only ${#options[@]} options"
for opt in "${options[@]}"; do
  grep -qF -- "$opt" "$bash_completion" || fail "the bash completion does not know $opt"
  grep -qF -- "$opt" "$zsh_completion" || fail "the zsh completion does not know $opt"
done

# -- zsh parses its completion.
if ! command -v zsh >/dev/null; then
  fail "no zsh here (scripts/install-deps.sh installs it)"
else
  zsh -n "$zsh_completion" || fail "zsh -n $zsh_completion"
fi

# -- bash completes, from the installed file alone (no bash-completion package needed).
"$sim" --port 0 --quiet >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
url=""
for _ in $(seq 200); do
  url=$(sed -n 's/^listening on //p' "$work/sim.out")
  [[ -n $url ]] && break
  sleep 0.05
done
[[ -n $url ]] || fail "orchestrator-sim did not start: $(cat "$work/sim.err")"
"$ctl" --endpoint "$url" --quiet create web-1 || fail "vmm-ctl create web-1"
"$ctl" --endpoint "$url" --quiet create web-2 || fail "vmm-ctl create web-2"

completes() {  # completes EXPECTED WORD... : the completion of the last word is EXPECTED (space-separated)
  local expected=$1
  shift
  local got
  got=$(bash --norc --noprofile -c '
    source "$1" || exit 1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _vmm_ctl
    echo "${COMPREPLY[*]}"' _ "$bash_completion" "$@" 2>&1)
  [[ $got == "$expected" ]] || fail "completing \"$*\": expected \"$expected\", got \"$got\""
}
completes "create" vmm-ctl cr
completes "start stop" vmm-ctl st
completes "table json name" vmm-ctl list -o ""
completes "--output=json" vmm-ctl list --output=j
completes "--endpoint" vmm-ctl --end
completes "--cpus" vmm-ctl create web-3 --cp
completes "" vmm-ctl list --cp
completes "create" vmm-ctl help cr
completes "web-1 web-2" "$ctl" --endpoint "$url" get we
completes "web-2" "$ctl" "--endpoint=$url" delete web-2
completes "" "$ctl" --endpoint "$url" create we
completes "" "$ctl" --endpoint http://127.0.0.1:1 get we

# -- zsh completes too, through its own completion system (compinit, _arguments) in a pseudo-terminal.
zsh_completes() {  # zsh_completes EXPECTED LINE
  local got
  got=$(timeout 30 zsh -f "$(dirname "$0")/zsh_complete.zsh" "$(dirname "$zsh_completion")" "$2" 2>&1 | tr '\n' ' ')
  [[ ${got% } == "$1" ]] || fail "zsh completing \"$2\": expected \"$1\", got \"${got% }\""
}
if command -v zsh >/dev/null; then
  zsh_completes "create" "vmm-ctl cr"
  zsh_completes "start stop" "vmm-ctl st"
  zsh_completes "json name table" "vmm-ctl list -o "
  zsh_completes "--endpoint" "vmm-ctl --end"
  zsh_completes "--cpus" "vmm-ctl create web-3 --cp"
  zsh_completes "" "vmm-ctl list --cp"
  zsh_completes "create" "vmm-ctl help cr"
  zsh_completes "web-1 web-2" "$ctl --endpoint $url get we"
  zsh_completes "web-2" "$ctl --endpoint=$url stop web-2"
fi

if ((failures > 0)); then
  echo "check_install.sh: $failures failure(s)" >&2
  exit 1
fi
echo "check_install.sh: the man page and both completions are installed and work"
