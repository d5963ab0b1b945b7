#!/usr/bin/env bash
# Sourced by scripts/keyfleet.sh (and its test): which preview and up runs get the key-hygiene
# policy pack, and with which environment's config. Needs ROOT (the checkout).

# The key-hygiene policy pack (policy/, docs/ops/policy.md) for a preview or up of STACK:
# --policy-pack policy with the environment's policy/config/<stack>.json, for every environment
# that has one; none for the others, nor when the command names a pack itself. Left in POLICY_ARGS.
policy_args() {
  local stack="$1" arg
  shift
  POLICY_ARGS=()
  for arg in "$@"; do case "$arg" in --policy-pack|--policy-pack=*) return 0 ;; esac; done
  # A qualified name (organization/keyfleet/prod) is the environment of its last part, as the
  # stack's settings file is (ops/secrets.ts); otherwise its up would run with no policy at all.
  stack="${stack##*/}"
  if [ -n "$stack" ] && [ -f "$ROOT/policy/config/$stack.json" ]; then
    POLICY_ARGS=(--policy-pack "$ROOT/policy" --policy-pack-config "$ROOT/policy/config/$stack.json")
  fi
  return 0
}

# The pulumi subcommand of a command line (its first word that is not an option).
pulumi_subcommand() {
  local arg prev=""
  for arg in "$@"; do
    # Options that take a value (the CLI's global ones too): the value is not the subcommand.
    case "$prev" in -s|--stack|-C|--cwd|--color|--profiling|--memprofilerate|--otel-traces|--tracing-header) prev=""; continue ;; esac
    case "$arg" in -*) ;; *) echo "$arg"; return ;; esac
    prev="$arg"
  done
}
