#!/usr/bin/env zsh
# zsh_complete.zsh FPATH_DIR LINE: prints, one per line and sorted, the matches zsh's own completion system
# offers at the end of LINE, with the completion functions of FPATH_DIR. An interactive zsh runs in a
# pseudo-terminal (zsh/zpty); its compadd prints each match between the bytes \x01 and \x02 instead of showing
# it, and the shell exits once the completion is done. The caller bounds the time (timeout).
zmodload zsh/zpty || { print -u2 "zsh_complete.zsh: no zsh/zpty module"; exit 2 }
setup=$(mktemp)
trap 'rm -f $setup' EXIT
cat >$setup <<'SETUP'
PROMPT=''
autoload -Uz compinit
compinit -u -D
bindkey '^I' complete-word
compadd() {
  # compadd -O/-A/-D only fill arrays (as _describe uses them): no match is added by those.
  if [[ ${@[1,-1]} == *-(O|A|D)* ]]; then builtin compadd "$@"; return $?; fi
  local -a hits
  builtin compadd -A hits "$@"
  (( $#hits )) && print -l -- $'\x01'${^hits}$'\x02'
}
comppostfuncs=(exit)
SETUP
zpty completing zsh -f -i
zpty -w completing "fpath=(${(q)1} \$fpath); source ${(q)setup}"
zpty -w -n completing "$2"$'\t'
typeset output="" chunk
while zpty -r completing chunk; do output+=$chunk; done
zpty -d completing
typeset -a matches
while [[ $output =~ $'\x01([^\x01\x02]*)\x02' ]]; do
  matches+=($match[1])
  output=${output[MEND+1,-1]}
done
print -l -- ${(ou)matches}
