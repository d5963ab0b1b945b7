#!/usr/bin/env bash
# keyfleet's single entry point. Every npm script comes through here so that a fresh clone needs
# nothing installed by hand: it provides Node 24, the npm packages and the Pulumi toolchain (built
# from Go modules, never downloaded as a binary), then runs the command with that toolchain first
# on PATH. Everything it makes lives in the git-ignored .keyfleet/ folder and is reused next time.
#
#   keyfleet.sh toolchain          set up only, print versions
#   keyfleet.sh up [stack]         sandbox (local stack) + `pulumi up` of the stack (default local)
#   keyfleet.sh preview [stack]    the plan of `pulumi preview --refresh` (no change is made)
#   keyfleet.sh destroy [stack]    every key of the stack deleted (what each vendor keeps is said)
#                                  up, preview, destroy print keyfleet's plan (ops/plan.ts) instead of
#                                  the engine's display; --verbose shows the engine's too
#   keyfleet.sh test [args]        the test suite (vitest)
#   keyfleet.sh sandbox            all vendor sandboxes in the foreground
#   keyfleet.sh bench [args]       the benchmark
#   keyfleet.sh report [args]      the inventory report (ops/report.ts)
#   keyfleet.sh fleet [args]       preview|up|drift of many stacks at once (ops/fleet.ts)
#   keyfleet.sh validate [env|file…]  offline check of environments' YAML and stack settings
#                                  (Node and npm packages only: no Pulumi CLI, sandbox or database)
#   keyfleet.sh secrets [--require] <stack>  what the stack's own secrets provider needs, as shell
#                                  lines to eval (scripts/stack-secrets.ts; gitops.sh uses it)
#   keyfleet.sh pulumi [args]      the Pulumi CLI with keyfleet's environment
#   keyfleet.sh node|tsc [args]    Node 24 / the type checker with keyfleet's environment
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KF="$ROOT/.keyfleet"
BIN="$KF/bin"
NODE_VERSION="$(tr -d ' \n' <"$ROOT/.node-version")"
# One source for the Pulumi release: the @pulumi/pulumi pin. tools/go.mod must require the same
# release (a test checks it), because the CLI and the SDK speak one protocol version.
PULUMI_VERSION="$(sed -n 's/.*"@pulumi\/pulumi": "\([0-9.]*\)".*/\1/p' "$ROOT/package.json")"

say() { printf '[keyfleet] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

version_ge() { # version_ge A B: A >= B (dotted numbers)
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

ensure_node() {
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -eq 24 ]; then return; fi
  local nodedir="$KF/node"
  if [ ! -x "$nodedir/node_modules/node/bin/node" ] ||
     [ "$("$nodedir/node_modules/node/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
    say "system Node is $(node --version 2>/dev/null || echo absent), keyfleet runs on Node 24; installing Node $NODE_VERSION from the npm registry's node package"
    mkdir -p "$nodedir"
    cp "$ROOT/toolchain/node/package.json" "$nodedir/package.json"
    (cd "$nodedir" && npm install --no-audit --no-fund --no-package-lock >&2)
  fi
  export PATH="$nodedir/node_modules/node/bin:$PATH"
  [ "$(node -p 'process.versions.node.split(".")[0]')" -eq 24 ] || die "Node 24 did not install"
}

ensure_npm_packages() {
  local stamp="$ROOT/node_modules/.package-lock.json"
  # providers/shim is installed as a copy (see its index.js), so a change there needs a reinstall too.
  if [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ] || [ "$ROOT/package.json" -nt "$stamp" ] ||
     ! diff -rq "$ROOT/providers/shim" "$ROOT/node_modules/@keyfleet/provider-shim" >/dev/null 2>&1; then
    say "installing npm packages (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund >&2)
  fi
}

# The CLI's installer downloads a binary, which cannot work here; so unless a recent enough
# `pulumi` is already on PATH, build the release that matches the SDK from the Go module proxy.
ensure_pulumi() {
  mkdir -p "$BIN"
  local have
  if [ -z "${KEYFLEET_BUILD_PULUMI:-}" ] && have="$(command -v pulumi 2>/dev/null)" && [ "$have" != "$BIN/pulumi" ]; then
    local v
    v="$(pulumi version 2>/dev/null | sed 's/^v//' || true)"
    if [ -n "$v" ] && version_ge "${v%%-*}" "$PULUMI_VERSION"; then
      say "using the Pulumi CLI on PATH ($have, v$v)"
      PULUMI_FROM_PATH=1
    fi
  fi
  if [ -z "${PULUMI_FROM_PATH:-}" ]; then
    if [ ! -x "$BIN/pulumi" ] || [ "$(cat "$BIN/.pulumi-version" 2>/dev/null)" != "$PULUMI_VERSION" ]; then
      command -v go >/dev/null || die "no pulumi >= $PULUMI_VERSION on PATH and no Go to build it with"
      say "building the Pulumi CLI v$PULUMI_VERSION from Go modules (the first build takes several minutes)"
      local started=$SECONDS
      rm -f "$BIN/pulumi.tmp"
      (cd "$ROOT/tools" && go build -v -trimpath -o "$BIN/pulumi.tmp" \
          -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
          github.com/pulumi/pulumi/pkg/v3/cmd/pulumi 2>&1) |
        awk '/^go: downloading/ {d++; if (d % 50 == 1) printf "[keyfleet]   downloading modules (%d)…\n", d > "/dev/stderr"; next}
             {n++; if (n % 100 == 0) printf "[keyfleet]   compiled %d packages…\n", n > "/dev/stderr"}
             /\.go:[0-9]+:|^# |^go: / {print > "/dev/stderr"}' || true
      [ -x "$BIN/pulumi.tmp" ] || die "building the Pulumi CLI failed (see the errors above)"
      mv "$BIN/pulumi.tmp" "$BIN/pulumi"
      echo "$PULUMI_VERSION" >"$BIN/.pulumi-version"
      say "built the Pulumi CLI in $((SECONDS - started))s"
    fi
  fi
  # The Node.js language host. The Go module that holds Pulumi's own host
  # (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) is refused by the module
  # proxy here at every version, so keyfleet ships one built on @pulumi/pulumi's LanguageServer
  # (toolchain/language-host.ts). It also runs the key-hygiene policy pack (--policy-pack policy):
  # the CLI hands a nodejs pack to the language host's RunPlugin, so no pulumi-analyzer-policy
  # plugin is needed. A Pulumi on PATH keeps the host it was installed with.
  # Written to a temporary file and moved, so a run that starts meanwhile never sees half a script.
  # Each launcher names the engine that started it (KEYFLEET_ENGINE_PID, the shell's parent), so a
  # plugin still starting when its engine was killed ends too (toolchain/engine-watch.ts).
  cat >"$BIN/pulumi-language-nodejs.tmp" <<EOF
#!/bin/sh
KEYFLEET_ENGINE_PID=\$PPID exec node "$ROOT/toolchain/language-host.ts" "\$@"
EOF
  # The dynamic-provider plugin: @pulumi/pulumi's server plus the detailed diff it leaves out, so a
  # plan names the fields that differ, drift included (toolchain/dynamic-provider.ts says why).
  cat >"$BIN/pulumi-resource-pulumi-nodejs.tmp" <<EOF
#!/bin/sh
KEYFLEET_ENGINE_PID=\$PPID exec node "$ROOT/toolchain/dynamic-provider.ts" "\$@"
EOF
  for launcher in pulumi-language-nodejs pulumi-resource-pulumi-nodejs; do
    chmod +x "$BIN/$launcher.tmp" && mv -f "$BIN/$launcher.tmp" "$BIN/$launcher"
  done
  export PATH="$BIN:$PATH"
  ensure_command_plugin
}

# The plugin of @pulumi/command (key deliveries). A real `pulumi-resource-command` wins: installed
# with `pulumi plugin install` (PULUMI_HOME) or on PATH outside .keyfleet/bin, keyfleet uses it
# unchanged. Otherwise the stand-in toolchain/command-provider.ts serves command:local:Command,
# because the Go module proxy refuses github.com/pulumi/pulumi-command/provider at every version.
# The engine looks for `pulumi-resource-command` on PATH before its plugin folder (unless
# PULUMI_IGNORE_AMBIENT_PLUGINS is set), which is why the launcher must go when a real one exists.
command_plugin_installed() {
  local other
  other="$(PATH="${PATH//$BIN:/}" command -v pulumi-resource-command 2>/dev/null || true)"
  if [ -n "$other" ] && [ "$other" != "$BIN/pulumi-resource-command" ]; then
    COMMAND_PLUGIN="$other"
    return 0
  fi
  if pulumi plugin ls --json 2>/dev/null | node -e '
      const list = JSON.parse(require("fs").readFileSync(0, "utf8") || "[]") ?? [];
      process.exit(list.some((p) => p.name === "command" && p.kind === "resource") ? 0 : 1);' 2>/dev/null; then
    COMMAND_PLUGIN="installed plugin command (pulumi plugin ls)"
    return 0
  fi
  return 1
}

ensure_command_plugin() {
  if command_plugin_installed; then
    rm -f "$BIN/pulumi-resource-command"
    KEYFLEET_COMMAND_PLUGIN="real: $COMMAND_PLUGIN"
  else
    cat >"$BIN/pulumi-resource-command.tmp" <<EOF
#!/bin/sh
# keyfleet's stand-in for pulumi-resource-command (see toolchain/command-provider.ts).
KEYFLEET_ENGINE_PID=\$PPID exec node "$ROOT/toolchain/command-provider.ts" "\$@"
EOF
    chmod +x "$BIN/pulumi-resource-command.tmp" && mv -f "$BIN/pulumi-resource-command.tmp" "$BIN/pulumi-resource-command"
    KEYFLEET_COMMAND_PLUGIN="stand-in: toolchain/command-provider.ts (no pulumi-resource-command installed)"
  fi
  export KEYFLEET_COMMAND_PLUGIN
}

setup_env() {
  export PULUMI_HOME="${PULUMI_HOME:-$KF/home}"
  # Default backend: a project-local folder. A team sets PULUMI_BACKEND_URL (postgres://…, s3://…).
  if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
    mkdir -p "$KF/state"
    export PULUMI_BACKEND_URL="file://$KF/state"
  fi
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_SKIP_CONFIRMATIONS=true
  # --tracing records gRPC payloads (stack config, key values) unless told not to.
  export PULUMI_TRACING_NO_PAYLOADS=1
  export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true
  export KEYFLEET_ROOT="$ROOT"
  mkdir -p "$PULUMI_HOME"
}

toolchain() {
  ensure_node
  ensure_npm_packages
  ensure_pulumi
  setup_env
}

# The sandboxes, one "section port needs" line per vendor, from sandbox/index.ts.
sandbox_ports() { node "$ROOT/scripts/sandbox-ports.ts"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The sandboxes this run started stop with it: gone when the script returns (their ports free for
# whoever asks next), a few seconds at most for open connections to close.
stop_sandbox() {
  kill "$SANDBOX_PID" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$SANDBOX_PID" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$SANDBOX_PID" 2>/dev/null || true
}

# What a run leaves behind goes when it exits, however it exits: the sandbox it started and the
# temporary files of an engine run (engine_plan).
TEMP_FILES=()
on_exit() {
  [ ${#TEMP_FILES[@]} -gt 0 ] && rm -f "${TEMP_FILES[@]}"
  [ -n "${PLAN_DIR:-}" ] && rm -rf "$PLAN_DIR"
  [ -n "${SANDBOX_PID:-}" ] && stop_sandbox
  return 0
}

# The local stack points at the sandboxes; start those not listening yet (with their records kept
# on disk, so that the vendor side survives between runs just as a real one would).
ensure_sandbox() {
  local missing=() section port needs mysql=0
  while read -r section port needs; do
    if ! port_open "$port"; then
      missing+=("$section")
      case ",$needs," in *,mysql,*) mysql=1 ;; esac
    fi
  done < <(sandbox_ports)
  [ ${#missing[@]} -eq 0 ] && return
  [ $mysql -eq 1 ] && [ -z "${MYSQL_READY:-}" ] && ensure_mysql
  local only
  only="$(IFS=,; echo "${missing[*]}")"
  # KEYFLEET_SANDBOX_LOG moves the log with the data, so that two runs side by side keep their own.
  local log="${KEYFLEET_SANDBOX_LOG:-$KF/sandbox.log}" shown
  shown="${log#"$ROOT"/}"
  say "starting the sandbox for $only (log: $shown)"
  node "$ROOT/sandbox/main.ts" --data "${KEYFLEET_SANDBOX_DATA:-$KF/sandbox-data.json}" --only "$only" >"$log" 2>&1 &
  SANDBOX_PID=$!
  trap on_exit EXIT
  for _ in $(seq 1 100); do
    local all=1
    while read -r section port needs; do port_open "$port" || all=0; done < <(sandbox_ports)
    [ $all -eq 1 ] && return
    kill -0 "$SANDBOX_PID" 2>/dev/null || break
    sleep 0.1
  done
  die "the sandbox did not start; see $shown"
}

# A MySQL/MariaDB for the vendors whose keys live in a database table (the tests' databases, the local stack's):
# the configured server when it answers, else a project-local one (scripts/mariadb.sh). Exports
# KEYFLEET_MYSQL_HOST, _PORT, _USER and _PASSWORD for what follows.
ensure_mysql() {
  # shellcheck source=scripts/mariadb.sh
  source "$ROOT/scripts/mariadb.sh"
  keyfleet_mariadb_ensure || die "no MySQL/MariaDB server (see above)"
  MYSQL_READY=1
}

# Debian's chromium, for the report test (it renders the HTML report headless). No browser can be
# downloaded here, so it comes from apt: installed when running as root and absent; otherwise the
# test that needs it says how to get it.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium (apt-get) for the HTML report test"
    (apt-get install -y --no-install-recommends chromium >&2 || { apt-get update >&2 && apt-get install -y --no-install-recommends chromium >&2; }) ||
      say "warning: chromium did not install; the HTML report test will be skipped"
  else
    say "warning: no chromium (apt-get install chromium as root); the HTML report test will be skipped"
  fi
}

# The local stack's endpoints (scripts/local-stack-env.ts): stacks/Pulumi.local.yaml holds none of
# them, so moving a port (KEYFLEET_SANDBOX_*_PORT) or the database
# (KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE) moves the sandbox and the stack together.
local_stack_env() {
  eval "$(node "$ROOT/scripts/local-stack-env.ts")"
}

# The stack's own secrets provider, from its settings file (scripts/stack-secrets.ts, ops/secrets.ts):
# a passphrase is given or demanded only where the stack uses one (the local stack's is public), and
# STACK_SECRETS_ARGS holds the provider its file records, for a `stack select --create` that has to
# make the stack (the CLI ignores the file's provider there). `stack_secrets [--require] STACK`.
STACK_SECRETS_ARGS=()
stack_secrets() {
  local out
  out="$(node "$ROOT/scripts/stack-secrets.ts" "$@")" || exit 1
  eval "$out"
}

# Whether a report or fleet run reaches the local stack's vendors: a report only with --live; both
# when the local stack is named, or implied by --all / no --stacks (every stack of the backend).
uses_local_stack() {
  local cmd="$1" named="" live="" arg prev=""
  shift
  [ -n "${KEYFLEET_PROJECT_DIR:-}" ] && return 1
  for arg in "$@"; do
    case "$arg" in
      --live) live=1 ;;
      --all) named=all ;;
      --stacks=*|--stack=*) named="${named:-,}${arg#*=}," ;;
    esac
    case "$prev" in --stacks|--stack) named="${named:-,}$arg," ;; esac
    prev="$arg"
  done
  if [ "$cmd" = report ] && [ -z "$live" ]; then return 1; fi
  if [ "$cmd" = fleet ] && [ -z "$named" ]; then named=all; fi
  [ "$named" = all ] && [ -f "$ROOT/stacks/Pulumi.local.yaml" ] && return 0
  case ",$named," in *,local,*) return 0 ;; esac
  return 1
}

# The engine's verbose logging writes every configured credential and key value in plain text
# (58 hits at -v=9 in one run), to the terminal with --logtostderr and otherwise to files in /tmp
# that others may read. So the flags that turn it on are refused unless the operator says
# --unsafe-verbose; the cleaned arguments are left in ARGS.
guard_verbose() {
  ARGS=()
  local unsafe=0 found="" arg
  for arg in "$@"; do
    case "$arg" in
      --unsafe-verbose) unsafe=1; continue ;;
      -v|-v=*|-v[0-9]*|--verbose|--verbose=*|--logtostderr|--logtostderr=*|-d|--debug|--debug=*|--logflow|--logflow=*|--tracing|--tracing=*|--tracing-header|--tracing-header=*) found="${found:+$found }$arg" ;;
    esac
    # Short flags run together (-yv9, -fd): v or d after boolean flags only (-sdev is -s dev).
    if [[ "$arg" =~ ^-[yfjre]+[vd] ]]; then found="${found:+$found }$arg"; fi
    ARGS+=("$arg")
  done
  if [ -n "${PULUMI_DEBUG_GRPC:-}" ]; then found="${found:+$found }PULUMI_DEBUG_GRPC"; fi
  if [ -n "$found" ] && [ $unsafe -eq 0 ]; then
    die "refusing $found: the engine's verbose logs carry every credential and key value in plain text (on the terminal, or in /tmp/pulumi.*.log files others may read). Add --unsafe-verbose to run it anyway, on a machine and terminal no one else reads, and delete the logs after"
  fi
  if [ -n "$found" ]; then say "warning: --unsafe-verbose: $found writes credentials and key values in plain text; delete /tmp/pulumi.* logs after"; fi
  return 0
}

# ensure_sandbox says when it starts MySQL; a server that merely answers needs no line of its own.
ensure_mysql_quiet() {
  # shellcheck source=scripts/mariadb.sh
  source "$ROOT/scripts/mariadb.sh"
  local said status=0
  said="$(mktemp "$KF/mysql.XXXXXX")"
  keyfleet_mariadb_ensure 2>"$said" || status=$?
  grep -v 'answers (user' "$said" >&2 || true
  rm -f "$said"
  [ "$status" -eq 0 ] || die "no MySQL/MariaDB server (see above)"
  MYSQL_READY=1
}

# engine_plan MODE STACK <pulumi command and args>: the engine with its event log, its own display
# kept in a file (shown with --verbose, or its error lines when the events do not explain a failure),
# then keyfleet's plan (ops/plan.ts); after an up, what the stack manages comes just before the plan,
# so that the run's last lines say what changed and why. Both files may hold what the engine prints
# (secrets masked) and are removed here.
engine_plan() {
  local mode="$1" stack="$2" status=0
  shift 2
  local events output
  events="$(mktemp "$KF/events.XXXXXX")"
  output="$(mktemp "$KF/engine.XXXXXX")"
  # Gone however the run ends (an error, Ctrl-C, a cancelled CI job): they hold the stack's inputs.
  TEMP_FILES=("$events" "$output")
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  # The event log (the Automation API's source too) is behind PULUMI_DEBUG_COMMANDS in the CLI.
  if [ -n "${verbose:-}" ]; then
    PULUMI_DEBUG_COMMANDS=true pulumi "$@" --stack "$stack" --event-log "$events" 2>&1 | tee "$output" || status=${PIPESTATUS[0]}
  else
    PULUMI_DEBUG_COMMANDS=true pulumi "$@" --stack "$stack" --event-log "$events" >"$output" 2>&1 || status=$?
  fi
  # The plan is told the engine's status only: a summary that fails after a good run is its own error.
  local summary=0
  if [ "$mode" = up ] && [ "$status" -eq 0 ]; then node "$ROOT/stacks/summary.ts" "$stack" || summary=$?; echo; fi
  node "$ROOT/ops/plan.ts" --events "$events" --stack "$stack" --mode "$mode" \
    --status "$status" --engine-output "$output" ${verbose:+--verbose} || status=$?
  rm -f "$events" "$output"
  TEMP_FILES=()
  [ "$status" -eq 0 ] && status=$summary
  return "$status"
}

# shellcheck source=scripts/stack-of.sh
source "$ROOT/scripts/stack-of.sh"

# shellcheck source=scripts/policy-args.sh
source "$ROOT/scripts/policy-args.sh"

# `--help` (or -h) before any `--` answers with the command's usage and exit 0, and changes nothing:
# no install beyond what running a TypeScript entry point needs, no sandbox, no database.
wants_help() {
  local arg
  for arg in "$@"; do
    case "$arg" in --) return 1 ;; -h|--help) return 0 ;; esac
  done
  return 1
}

usage_of() {
  case "$1" in
    up) echo "usage: npm run up [-- <stack> [--verbose] [pulumi up options]]
  Starts the sandboxes (local stack only), then pulumi up --refresh of <stack> (default local),
  prints what it manages and keyfleet's plan of what it did: one line per key created, updated,
  rotated, replaced or deleted, and why, then the counts. The local stack applies at once; any other
  stack shows its plan and asks first, unless --yes (needed where there is no terminal); --confirm
  asks for local too, and what is applied is held to the plan confirmed (pulumi up --plan). --verbose
  also shows the engine's own output. Other options after the stack go to pulumi up." ;;
    preview) echo "usage: npm run preview [-- <stack> [--verbose] [pulumi preview options]]
  keyfleet's plan of <stack> (default local) after a refresh: one line per key that would change
  (create, update with its fields, rotate with its reason and overlap, replace and why, delete and
  what the vendor keeps), then the counts. Changes nothing. --verbose also shows the engine's output." ;;
    destroy) echo "usage: npm run destroy [-- <stack> [--verbose] [pulumi destroy options]]
  Deletes every key of <stack> (default local) and says, per key, what its vendor keeps. Any stack
  but local shows the plan and asks first, unless --yes (needed where there is no terminal)." ;;
    test) echo "usage: npm test [-- <test files or vitest options>]
  Sets up everything (Node 24, npm packages, the Pulumi CLI, MySQL/MariaDB, PostgreSQL, Chromium)
  and runs the suite with vitest; a plain 'tests: N passed, N failed, N skipped' line closes it." ;;
    toolchain) echo "usage: npm run toolchain
  Sets up Node 24, the npm packages and the Pulumi CLI (built from Go modules) and prints versions." ;;
    pulumi) echo "usage: npm run pulumi -- <pulumi arguments>
  The Pulumi CLI with keyfleet's environment (PULUMI_HOME, backend, the local stack's public
  passphrase when the command acts on the local stack and it uses one). Verbose engine logging needs --unsafe-verbose." ;;
    tsc) echo "usage: npm run typecheck [-- <tsc options>]" ;;
    *) sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' ;;
  esac
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
if [ "$cmd" = "-h" ] || [ "$cmd" = "--help" ]; then usage_of ""; exit 0; fi
if wants_help "$@"; then
  case "$cmd" in
    up|preview|destroy|test|toolchain|tsc) usage_of "$cmd"; exit 0 ;;
    report|fleet) ensure_node; ensure_npm_packages; cd "$ROOT"; exec node "ops/$cmd.ts" --help ;;
    sandbox) ensure_node; ensure_npm_packages; exec node "$ROOT/sandbox/main.ts" --help ;;
    bench) ensure_node; ensure_npm_packages; cd "$ROOT"; exec node bench/bench.ts --help ;;
    validate) ensure_node; ensure_npm_packages; exec node "$ROOT/scripts/validate.ts" --help ;;
    # `node <script> --help` (npm run bootstrap -- --help): the script answers; nothing is built for it.
    node) ensure_node; ensure_npm_packages; exec node "$@" ;;
  esac
fi
case "$cmd" in
  toolchain)
    toolchain
    say "node $(node --version), $(pulumi version) ($(command -v pulumi)), PULUMI_HOME=$PULUMI_HOME"
    say "command plugin: $KEYFLEET_COMMAND_PLUGIN"
    ;;
  up|preview|destroy)
    # --verbose (bare) is keyfleet's: the engine's own display besides the plan. Pulumi's --verbose=N
    # and -v are its logging, which guard_verbose refuses.
    verbose=""
    rest=()
    # A leading `--` (keyfleet.sh up -- …, as npm would pass it) separates nothing here.
    [ "${1:-}" = -- ] && shift
    confirm=""
    for arg in "$@"; do
      case "$arg" in
        --verbose) verbose=1 ;;
        # keyfleet's: ask before applying even where it would not (the local stack).
        --confirm) confirm=1 ;;
        *) rest+=("$arg") ;;
      esac
    done
    guard_verbose ${rest[@]+"${rest[@]}"}
    set -- ${ARGS[@]+"${ARGS[@]}"}
    stack="local"
    if [ $# -gt 0 ] && [[ "$1" != -* ]]; then stack="$1"; shift; fi
    # As `terraform apply`: only the local stack (sandboxes) applies at once. Any other stack shows
    # its plan and asks unless --yes; with no terminal to ask on, --yes is needed.
    yes=""
    for arg in "$@"; do case "$arg" in --yes|-y|--yes=true|--skip-preview|-f) yes=1 ;; esac; done
    [ "$cmd" = preview ] && yes=1
    [ "$stack" = local ] && [ -z "$confirm" ] && yes=1
    if [ -z "$yes" ] && { [ ! -t 0 ] || [ ! -t 1 ]; }; then
      die "$cmd of stack $stack asks for confirmation and there is no terminal to ask on; look at the plan (npm run preview -- $stack) and run again with --yes"
    fi
    toolchain
    stack_secrets --require "$stack"
    if [ "$stack" = local ]; then local_stack_env; ensure_mysql_quiet; ensure_sandbox; fi
    cd "$ROOT"
    # Quiet unless it fails ("Created stack" is no part of the plan).
    selected="$(pulumi stack select --create ${STACK_SECRETS_ARGS[@]+"${STACK_SECRETS_ARGS[@]}"} "$stack" 2>&1)" || { printf '%s\n' "$selected" >&2; exit 1; }
    # The key-hygiene policy pack where the environment has a policy config (preview and up).
    POLICY_ARGS=()
    [ "$cmd" = destroy ] || policy_args "$stack" "$@"
    status=0
    case "$cmd" in
      preview) engine_plan preview "$stack" preview --refresh ${POLICY_ARGS[@]+"${POLICY_ARGS[@]}"} "$@" || status=$? ;;
      up|destroy)
        args=(--refresh)
        [ "$cmd" = destroy ] && args=()
        if [ -z "$yes" ]; then
          # The plan first (as a preview), the question, then the run itself without the engine's prompt.
          # An up is held to the plan confirmed: the preview saves the engine's update plan and the up
          # applies it with --plan, so the engine refuses any step beyond it (a YAML or vendor change
          # in between) instead of applying what nobody saw. The file holds the stack's inputs, secrets
          # as ciphertext only; it lives in a 0700 directory of its own, removed however this exits.
          # (`up --plan` is hidden without PULUMI_EXPERIMENTAL but read all the same: CLI v3.259
          # pkg/cmd/pulumi/operations/up.go; --save-plan is a plain preview flag.)
          if [ "$cmd" = up ]; then
            PLAN_DIR="$(mktemp -d "$KF/plan.XXXXXX")"
            chmod 700 "$PLAN_DIR"
            trap on_exit EXIT
            (umask 077; : >"$PLAN_DIR/plan.json")
            engine_plan preview "$stack" preview --refresh --save-plan "$PLAN_DIR/plan.json" ${POLICY_ARGS[@]+"${POLICY_ARGS[@]}"} "$@" || exit $?
            chmod 600 "$PLAN_DIR/plan.json"
            args+=(--plan "$PLAN_DIR/plan.json")
          else engine_plan destroy-preview "$stack" destroy --preview-only "$@" || exit $?; fi
          what=update; [ "$cmd" = destroy ] && what=destroy
          printf 'Do you want to perform this %s? Type yes to apply: ' "$what"
          read -r answer || answer=""
          [ "$answer" = yes ] || { say "$cmd of stack $stack not applied (answer: '${answer}')"; exit 1; }
          args+=(--skip-preview)
        fi
        engine_plan "$cmd" "$stack" "$cmd" --yes ${args[@]+"${args[@]}"} ${POLICY_ARGS[@]+"${POLICY_ARGS[@]}"} "$@" || status=$?
        ;;
    esac
    exit "$status"
    ;;
  test)
    toolchain
    ensure_mysql
    ensure_chromium
    cd "$ROOT"
    status=0
    npx vitest run --reporter=default --reporter=json --outputFile.json="$KF/test-report.json" "$@" || status=$?
    # One plain closing line that any CI can read, whatever the reporter printed above it.
    node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);' \
      "$KF/test-report.json" 2>/dev/null || true
    exit "$status"
    ;;
  sandbox)
    ensure_node
    ensure_npm_packages
    ensure_mysql
    mkdir -p "$KF"
    umask 077
    exec node "$ROOT/sandbox/main.ts" --data "${KEYFLEET_SANDBOX_DATA:-$KF/sandbox-data.json}" "$@"
    ;;
  report|fleet)
    toolchain
    # The local stack reads its sandboxes and help desk database: live reads and runs of it start them.
    if uses_local_stack "$cmd" "$@"; then ensure_mysql; ensure_sandbox; local_stack_env; fi
    cd "$ROOT"
    status=0
    node "ops/$cmd.ts" "$@" || status=$?
    exit "$status"
    ;;
  secrets)
    # For gitops.sh: a stack's secrets provider, as shell lines (scripts/stack-secrets.ts). Only Node
    # and the npm packages, as validate: it reads one settings file, and runs before every preview.
    ensure_node
    ensure_npm_packages
    setup_env
    exec node "$ROOT/scripts/stack-secrets.ts" "$@"
    ;;
  validate)
    # Offline on purpose: a YAML check must not wait for the Pulumi CLI, a sandbox or MySQL.
    ensure_node
    ensure_npm_packages
    KEYFLEET_ROOT="$ROOT" exec node "$ROOT/scripts/validate.ts" "$@"
    ;;
  bench)
    toolchain
    cd "$ROOT"
    exec node bench/bench.ts "$@"
    ;;
  pulumi)
    guard_verbose "$@"
    set -- ${ARGS[@]+"${ARGS[@]}"}
    toolchain
    # The stack's own passphrase where it uses one (KEYFLEET_PASSPHRASE_<STACK> first, as up, gitops
    # and fleet take it; the local stack's public one only for the local stack), nothing demanded.
    acts_on="$(stack_of "$@")"
    if [ -n "$acts_on" ]; then stack_secrets "$acts_on"; fi
    if [ "$acts_on" = local ]; then local_stack_env; ensure_mysql; fi
    cd "$ROOT"
    POLICY_ARGS=()
    case "$(pulumi_subcommand "$@")" in preview|up|update) policy_args "$acts_on" "$@" ;; esac
    exec pulumi "$@" ${POLICY_ARGS[@]+"${POLICY_ARGS[@]}"}
    ;;
  node)
    toolchain
    exec node "$@"
    ;;
  tsc)
    toolchain
    cd "$ROOT"
    exec npx tsc -p tsconfig.json "$@"
    ;;
  *)
    [ -n "$cmd" ] && say "unknown command \"$cmd\""
    usage_of "" >&2
    exit 2
    ;;
esac
