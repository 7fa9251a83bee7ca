# bash completion for vmm-ctl. Installed to share/bash-completion/completions/vmm-ctl, where the
# bash-completion package loads it on first use; or source it from ~/.bashrc. Needs nothing but bash.
#
# Completes commands, options, their fixed values (-o table|json|name), files for --config, and VM names for
# get, start, stop, delete, asked from the orchestrator with `vmm-ctl -o name list` (with the --config and
# --endpoint of the line, a 2 s deadline and no retries; nothing when it cannot be reached).

_vmm_ctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  local commands="list get create start stop delete help"
  local options="--config --endpoint --output -o --timeout --retries --quiet -q --verbose -v --help -h --version"
  local create_options="--cpus --memory-mib --image --idempotency-key --idempotency-key="
  COMPREPLY=()

  # The words before the cursor: the command, the options that reach the server, and whether "--" was seen.
  local i word command="" options_ended="" reach=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ -n $options_ended ]]; then
      [[ -z $command ]] && command=$word
      continue
    fi
    case $word in
      --) options_ended=1 ;;
      --config | --endpoint)
        ((i + 1 < COMP_CWORD)) && reach+=("$word" "${COMP_WORDS[i + 1]}")
        ((i++)) ;;
      --config=* | --endpoint=*) reach+=("$word") ;;
      --output | -o | --timeout | --retries | --cpus | --memory-mib | --image) ((i++)) ;;
      -*) ;;
      *) [[ -z $command ]] && command=$word ;;
    esac
  done

  if [[ -z $options_ended ]]; then
    case $prev in
      --output | -o)
        mapfile -t COMPREPLY < <(compgen -W "table json name" -- "$cur")
        return ;;
      --config)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return ;;
      --endpoint)
        mapfile -t COMPREPLY < <(compgen -W "http:// https:// unix:///" -- "$cur")
        return ;;
      --timeout)
        mapfile -t COMPREPLY < <(compgen -W "500ms 2s 10s 1m" -- "$cur")
        return ;;
      --retries | --cpus | --memory-mib | --image) return ;;
    esac
    case $cur in
      --output=*)
        mapfile -t COMPREPLY < <(compgen -P "--output=" -W "table json name" -- "${cur#--output=}")
        return ;;
      -*)
        local offered=$options
        [[ $command == create ]] && offered="$offered $create_options"
        mapfile -t COMPREPLY < <(compgen -W "$offered --" -- "$cur")
        return ;;
    esac
  fi

  case $command in
    "")
      mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur") ;;
    help)
      mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur") ;;
    get | start | stop | delete)
      local names
      names=$("${COMP_WORDS[0]}" "${reach[@]}" --timeout 2s --retries 0 -o name list 2>/dev/null)
      mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur") ;;
  esac
}

complete -F _vmm_ctl vmm-ctl
