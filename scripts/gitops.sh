#!/usr/bin/env bash
# keyfleet's GitOps pipeline as plain shell, for any CI runner (the GitHub Actions workflow in
# .github/workflows/keyfleet.yml calls exactly this). Every Pulumi call goes through
# scripts/keyfleet.sh, so the toolchain is set up the same way as for `npm run up`.
#
#   gitops.sh changed <base-ref>        the environments a change touches since <base-ref> (one per line):
#                                       config/<env>.yaml, stacks/Pulumi.<env>.yaml or policy/config/<env>.json
#                                       changed, or, for every environment, the program (stacks/*.ts, providers/,
#                                       config/*.ts), the policy pack, scripts/, ops/, toolchain/, tools/,
#                                       Pulumi.yaml, package.json, the lock file or .node-version
#   gitops.sh envs                      every environment (config/<env>.yaml beside stacks/Pulumi.<env>.yaml)
#   gitops.sh preview <stack>           pull request: `npm run validate` of the environment first (offline,
#                                       stops at its first error), then `preview --refresh --diff`; output and a
#                                       summary (created, updated, replaced and why, deleted) in $KEYFLEET_GITOPS_OUT
#   gitops.sh apply <stack>             merge: `up --refresh` (scripts/keyfleet.sh up)
#   gitops.sh drift <stack> [--within 7d]
#                                       schedule: `preview --refresh --expect-no-changes`; exit 3 naming each
#                                       finding by what it is: changed at the vendor, missing at the vendor,
#                                       not yet applied (YAML changed), expiring (with the date) or rotation
#                                       due, within the horizon when given; 0 when none, another status when
#                                       the check failed
#
# Environment: KEYFLEET_GITOPS_OUT (default .keyfleet/gitops), KEYFLEET_GITOPS_EXCLUDE (stacks `changed`
# and `envs` leave out, space separated; default "local", the sandbox stack), PULUMI_BACKEND_URL as for
# every stack, and what the stack's own secrets provider needs (stacks/Pulumi.<env>.yaml records it):
# PULUMI_CONFIG_PASSPHRASE for a passphrase stack only; a KMS's or Vault's credentials otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEYFLEET="$ROOT/scripts/keyfleet.sh"
OUT="${KEYFLEET_GITOPS_OUT:-$ROOT/.keyfleet/gitops}"
EXCLUDE=" ${KEYFLEET_GITOPS_EXCLUDE-local} "
WITHIN=""

say() { printf '[gitops] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }
usage() { sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2; }

excluded() { [[ "$EXCLUDE" == *" $1 "* ]]; }

# Every environment: a keys file and a stack settings file of the same name.
envs() {
  local f env
  for f in "$ROOT"/config/*.yaml; do
    [ -e "$f" ] || continue
    env="$(basename "$f" .yaml)"
    [ -f "$ROOT/stacks/Pulumi.$env.yaml" ] && ! excluded "$env" && echo "$env"
  done
  return 0
}

changed() {
  local base="$1" files
  git -C "$ROOT" rev-parse --verify --quiet "$base^{commit}" >/dev/null || die "unknown git revision '$base' (fetch it first: git fetch origin <branch>)"
  # Against the merge base, as a pull request's diff is: changes on the base branch since are not ours.
  local since
  since="$(git -C "$ROOT" merge-base "$base" HEAD 2>/dev/null || echo "$base")"
  files="$(git -C "$ROOT" diff --name-only "$since" -- config stacks providers policy scripts ops toolchain tools \
    Pulumi.yaml package.json package-lock.json .node-version)"
  # The program, a vendor, the policy pack or the toolchain that runs them changed: every environment
  # previews, not only those whose files did. An environment's own policy config is its own file.
  if grep -vE '^policy/config/[^/]+\.json$' <<<"$files" |
     grep -qE '^(stacks/[^/]+\.ts|providers/|config/[^/]+\.ts|policy/|scripts/|ops/|toolchain/|tools/|Pulumi\.yaml$|package(-lock)?\.json$|\.node-version$)'; then
    envs
    return
  fi
  local env
  sed -nE 's#^config/([^/]+)\.yaml$#\1#p; s#^stacks/Pulumi\.([^/]+)\.yaml$#\1#p; s#^policy/config/([^/]+)\.json$#\1#p' <<<"$files" | sort -u |
    while read -r env; do
      # A deleted environment has nothing left to preview.
      [ -f "$ROOT/config/$env.yaml" ] && [ -f "$ROOT/stacks/Pulumi.$env.yaml" ] && ! excluded "$env" && echo "$env"
    done
  return 0
}

# The stack's secrets, from its own settings file (scripts/stack-secrets.ts): a passphrase stack
# without its passphrase stops here, naming the stack and the fix, before any backend is touched.
STACK_SECRETS_ARGS=()
stack_secrets() {
  local out
  out="$(bash "$KEYFLEET" secrets --require "$1")" || exit 2
  eval "$out"
}

# The stack exists in the backend (a new environment's first pull request creates it empty), with
# the secrets provider its committed settings file records.
select_stack() {
  bash "$KEYFLEET" pulumi stack select --create ${STACK_SECRETS_ARGS[@]+"${STACK_SECRETS_ARGS[@]}"} --stack "$1" >/dev/null
}

# preview_run STACK MODE [pulumi args…]: one preview with the engine's event log, summarised.
preview_run() {
  local stack="$1" mode="$2"
  shift 2
  mkdir -p "$OUT"
  local events text status=0
  events="$(mktemp "${TMPDIR:-/tmp}/keyfleet-events.XXXXXX")"
  # Removed however the job ends (a cancelled run too): it holds the stack's inputs, secrets masked.
  GITOPS_EVENTS="$events"
  trap 'rm -f "${GITOPS_EVENTS:-}"' EXIT
  text="$OUT/$stack.$mode.txt"
  # The event log (the Automation API's source too) is behind PULUMI_DEBUG_COMMANDS in the CLI.
  # Secrets in it are masked by the engine; it is read and removed here, never kept.
  PULUMI_DEBUG_COMMANDS=true bash "$KEYFLEET" pulumi preview --stack "$stack" --refresh --color never \
      --event-log "$events" "$@" >"$text" 2>&1 || status=$?
  # The plan below says what the engine's display does, each warning and error once; the display
  # itself is the artifact, printed into the job's log only when the preview failed.
  if [ "$status" -ne 0 ]; then cat "$text"; else say "the engine's own display: ${text#"$ROOT"/}"; fi
  local summary_status=0
  bash "$KEYFLEET" node "$ROOT/scripts/gitops-summary.ts" --mode "$mode" --stack "$stack" --events "$events" \
      --status "$status" --out "$OUT/$stack.$mode.md" --within "${WITHIN:-}" || summary_status=$?
  rm -f "$events"
  return "$summary_status"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
help() { sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
# `gitops.sh <command> --help` is this usage too, before anything runs (it went on to validate, the
# secrets eval or git as an argument).
for arg in "$@"; do case "$arg" in -h|--help) help; exit 0 ;; esac; done
case "$cmd" in
  -h|--help)
    help
    exit 0
    ;;
  changed)
    [ $# -eq 1 ] || usage
    changed "$1"
    ;;
  envs)
    envs
    ;;
  preview)
    [ $# -ge 1 ] || usage
    stack="$1"
    shift
    # A YAML or stack-file mistake fails in a second, with its file:line:col, before any backend,
    # vendor or secret is touched; only then the preview.
    bash "$KEYFLEET" validate "$stack" || { status=$?; say "validate found errors in environment $stack; no preview was run"; exit "$status"; }
    stack_secrets "$stack"
    select_stack "$stack"
    preview_run "$stack" preview --diff "$@"
    ;;
  apply)
    [ $# -ge 1 ] || usage
    stack="$1"
    shift
    # The merge is the approval: the pipeline applies without a prompt.
    exec bash "$KEYFLEET" up "$stack" --yes "$@"
    ;;
  drift)
    [ $# -ge 1 ] || usage
    stack="$1"
    shift
    if [ "${1:-}" = --within ]; then
      [ -n "${2:-}" ] || die "--within takes a duration like 12h, 7d or 2w"
      # Moves the run's clock (stacks' clock.ts), so what rotates or expires within the horizon shows now.
      KEYFLEET_CLOCK_OFFSET_MS="$(node -e 'const m = /^(\d+)([hdw])$/.exec(process.argv[1]);
        if (!m) { process.exit(1); } console.log(Number(m[1]) * { h: 3600e3, d: 86400e3, w: 604800e3 }[m[2]]);' "$2")" ||
        die "--within takes a duration like 12h, 7d or 2w, not '$2'"
      export KEYFLEET_CLOCK_OFFSET_MS
      # The summary runs on the real clock and is told the horizon, to date what expires within it.
      WITHIN="$2"
      shift 2
    fi
    stack_secrets "$stack"
    preview_run "$stack" drift --expect-no-changes "$@"
    ;;
  *)
    usage
    ;;
esac
