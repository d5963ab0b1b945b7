#!/usr/bin/env bash
# Sourced by scripts/keyfleet.sh (and its test): which stack a `pulumi` command acts on, so that the
# local stack's public passphrase is given to commands on the local stack only.

# The stack a `pulumi` command acts on: its --stack/-s argument, else the selected stack.
stack_of() {
  local prev="" a
  # `stack init|select|rm NAME` names it positionally (`stack change-secrets-provider URL` does not:
  # its positional is the new provider, and the stack is --stack's or the selected one).
  if [ "${1:-}" = stack ] && [[ "${2:-}" =~ ^(init|select|rm)$ ]] && [ -n "${3:-}" ] && [[ "${3}" != -* ]]; then
    echo "${3##*/}"; return
  fi
  for a in "$@"; do
    case "$prev" in --stack|-s) echo "${a##*/}"; return ;; esac
    case "$a" in --stack=*) a="${a#--stack=}"; echo "${a##*/}"; return ;; -s=*) a="${a#-s=}"; echo "${a##*/}"; return ;; -s?*) a="${a#-s}"; echo "${a##*/}"; return ;; esac
    prev="$a"
  done
  (cd "${ROOT:-.}" && pulumi stack --show-name 2>/dev/null) || true
}

