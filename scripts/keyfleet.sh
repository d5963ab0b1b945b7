#!/usr/bin/env bash
# keyfleet's single entry point: every npm script comes through here, so that a fresh clone needs
# nothing installed by hand. This part only finds Node 24 (or installs it from the npm registry's
# node package into .keyfleet/node) and hands over to the TypeScript CLI, scripts/keyfleet.ts,
# which parses the command line (scripts/commands.ts lists every command, `--help` says more),
# sets up the npm packages and the Pulumi toolchain in .keyfleet/ and runs the command.
#
#   keyfleet.sh toolchain | up | preview | destroy | test | sandbox | bench | report | fleet |
#               validate | secrets | pulumi | node | tsc  [arguments]      (keyfleet.sh --help)
set -euo pipefail

# The folder this script was called through (a scratch copy of the project links scripts/ here).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KF="$ROOT/.keyfleet"
NODE_VERSION="$(tr -d ' \n' <"$ROOT/.node-version")"

say() { printf '[keyfleet] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

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

ensure_node
KEYFLEET_ROOT="$ROOT" exec node "$ROOT/scripts/keyfleet.ts" "$@"
