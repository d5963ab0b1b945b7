#!/usr/bin/env bash
# A PostgreSQL server for Pulumi's PostgreSQL state backend (PULUMI_BACKEND_URL=postgres://…): the
# team's shared state, and the tests of it. Sourced by scripts/keyfleet.sh and the tests, or run:
#
#   bash scripts/postgres.sh [ensure]    make sure a server answers; prints `export KEYFLEET_PG_…=…`
#                                        lines, so `eval "$(bash scripts/postgres.sh)"` works
#   bash scripts/postgres.sh url [DB]    the backend URL of database DB (default keyfleet) on that server
#   bash scripts/postgres.sh createdb DB / dropdb DB
#   bash scripts/postgres.sh stop        stop the project-local server, if this project started one
#
# The configured server wins: KEYFLEET_PG_HOST/PORT/USER/PASSWORD (default 127.0.0.1:5432, user
# postgres, no password: a fresh Debian server trusts loopback only when told to, so that login
# may well be refused). It "answers" when psql logs in over TCP and runs `SELECT 1`. When it does
# not, a project-local PostgreSQL is used instead: data in .keyfleet/postgres, loopback only, port
# KEYFLEET_PG_LOCAL_PORT (default 5433), user postgres trusted on 127.0.0.1 and nothing else. It is
# started once and reused; Debian's postgresql is installed first where initdb is absent and the
# script runs as root (the server then runs as the postgres user, which refuses to run as root).

KEYFLEET_PG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEYFLEET_PG_KF="$KEYFLEET_PG_ROOT/.keyfleet"

_kf_pg_say() { printf '[keyfleet] %s\n' "$*" >&2; }

_kf_pg_bin() { # the newest installed PostgreSQL's program NAME (PATH first)
    local name="$1" found
    found="$(command -v "$name" 2>/dev/null)" && { echo "$found"; return; }
    found="$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n1)"
    [ -n "$found" ] && echo "$found"
}

_kf_pg_install() { # Debian's packages, when allowed
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        _kf_pg_say "error: $1 is not installed; install PostgreSQL (Debian: apt-get install postgresql) or point KEYFLEET_PG_HOST/PORT/USER/PASSWORD at a server"
        return 1
    fi
    _kf_pg_say "$1 is not installed; installing Debian's $2 (apt-get)"
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >&2; } || { _kf_pg_say "error: installing $2 failed"; return 1; }
}

# _kf_pg_psql HOST PORT USER PASSWORD [psql args…]: psql over TCP, never prompting for a password.
_kf_pg_psql() {
    local host="$1" port="$2" user="$3" password="$4"
    shift 4
    PGPASSWORD="$password" PGCONNECT_TIMEOUT=3 "$(_kf_pg_bin psql)" -X -w -h "$host" -p "$port" -U "$user" -v ON_ERROR_STOP=1 -At "$@"
}

_kf_pg_answers() { _kf_pg_psql "$@" -d postgres -c 'SELECT 1' >/dev/null 2>&1; }

_kf_pg_start_local() {
    local port="$1" data="$KEYFLEET_PG_KF/postgres" log="$KEYFLEET_PG_KF/postgres.log" initdb pg_ctl
    mkdir -p "$KEYFLEET_PG_KF"
    initdb="$(_kf_pg_bin initdb)" || true
    if [ -z "$initdb" ]; then
        _kf_pg_install initdb postgresql || return 1
        initdb="$(_kf_pg_bin initdb)" || { _kf_pg_say "error: postgresql installed, but no initdb found"; return 1; }
    fi
    pg_ctl="$(dirname "$initdb")/pg_ctl"
    # PostgreSQL refuses to run as root: as root, the data folder belongs to the postgres user.
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$data" --shell /usr/sbin/nologin postgres
        as=(runuser -u postgres --)
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        _kf_pg_say "initialising a project-local PostgreSQL data folder in .keyfleet/postgres"
        rm -rf "$data" && mkdir -p "$data" && chmod 700 "$data"
        [ ${#as[@]} -gt 0 ] && chown postgres "$data"
        if ! "${as[@]}" "$initdb" -D "$data" -U postgres --auth-local=trust --auth-host=trust -E UTF8 >"$KEYFLEET_PG_KF/postgres-init.log" 2>&1; then
            _kf_pg_say "error: initdb failed; see .keyfleet/postgres-init.log"
            tail -n 20 "$KEYFLEET_PG_KF/postgres-init.log" >&2
            return 1
        fi
    fi
    touch "$log" && [ ${#as[@]} -gt 0 ] && chown postgres "$log"
    _kf_pg_say "starting the project-local PostgreSQL on 127.0.0.1:$port (log: .keyfleet/postgres.log)"
    # Sockets in the data folder: /var/run/postgresql may not exist or belong to another server.
    "${as[@]}" "$pg_ctl" -D "$data" -l "$log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data -c max_connections=100" start >&2 || {
        _kf_pg_say "error: the project-local PostgreSQL did not start; the end of .keyfleet/postgres.log:"
        tail -n 20 "$log" >&2
        return 1
    }
}

keyfleet_postgres_stop() {
    local data="$KEYFLEET_PG_KF/postgres" pg_ctl as=()
    [ -f "$data/postmaster.pid" ] || { _kf_pg_say "no project-local PostgreSQL is running"; return 0; }
    pg_ctl="$(dirname "$(_kf_pg_bin initdb)")/pg_ctl"
    [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$pg_ctl" -D "$data" -m fast stop >&2
}

# Makes sure a server answers and exports KEYFLEET_PG_HOST, _PORT, _USER and _PASSWORD for it.
keyfleet_postgres_ensure() {
    local host="${KEYFLEET_PG_HOST:-127.0.0.1}" port="${KEYFLEET_PG_PORT:-5432}"
    local user="${KEYFLEET_PG_USER:-postgres}" password="${KEYFLEET_PG_PASSWORD:-}"
    local local_port="${KEYFLEET_PG_LOCAL_PORT:-5433}"
    if [ -z "$(_kf_pg_bin psql)" ]; then _kf_pg_install psql postgresql-client || return 1; fi
    if _kf_pg_answers "$host" "$port" "$user" "$password"; then
        _kf_pg_say "PostgreSQL at $host:$port answers (user $user)"
    else
        local why="nothing listens at $host:$port"
        (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && why="the server at $host:$port refuses user $user"
        if _kf_pg_answers 127.0.0.1 "$local_port" postgres ""; then
            _kf_pg_say "$why; using the project-local PostgreSQL on 127.0.0.1:$local_port"
        else
            _kf_pg_say "$why; falling back to a project-local PostgreSQL"
            _kf_pg_start_local "$local_port" || return 1
            _kf_pg_answers 127.0.0.1 "$local_port" postgres "" || { _kf_pg_say "error: the project-local PostgreSQL does not answer"; return 1; }
        fi
        host=127.0.0.1 port="$local_port" user=postgres password=""
    fi
    export KEYFLEET_PG_HOST="$host" KEYFLEET_PG_PORT="$port" KEYFLEET_PG_USER="$user" KEYFLEET_PG_PASSWORD="$password"
}

# The backend URL of database DB. The password, if any, is percent-encoded into it; TLS is off for
# loopback only (a server elsewhere gets sslmode=verify-full: see docs/ops/state-and-secrets.md).
keyfleet_postgres_url() {
    local db="${1:-keyfleet}" auth="$KEYFLEET_PG_USER" tls=verify-full
    [ -n "$KEYFLEET_PG_PASSWORD" ] && auth="$auth:$(node -p 'encodeURIComponent(process.argv[1])' "$KEYFLEET_PG_PASSWORD")"
    case "$KEYFLEET_PG_HOST" in 127.*|localhost|::1) tls=disable ;; esac
    echo "postgres://$auth@$KEYFLEET_PG_HOST:$KEYFLEET_PG_PORT/$db?sslmode=${KEYFLEET_PG_SSLMODE:-$tls}"
}

_kf_pg_name_ok() { [[ "$1" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || { _kf_pg_say "error: database names here are lower-case letters, digits and _: '$1'"; return 1; }; }

keyfleet_postgres_createdb() {
    _kf_pg_name_ok "$1" || return 1
    _kf_pg_psql "$KEYFLEET_PG_HOST" "$KEYFLEET_PG_PORT" "$KEYFLEET_PG_USER" "$KEYFLEET_PG_PASSWORD" -d postgres -c "CREATE DATABASE \"$1\"" >/dev/null
}

keyfleet_postgres_dropdb() {
    _kf_pg_name_ok "$1" || return 1
    # WITH (FORCE): a CLI killed mid-run may still hold a connection.
    _kf_pg_psql "$KEYFLEET_PG_HOST" "$KEYFLEET_PG_PORT" "$KEYFLEET_PG_USER" "$KEYFLEET_PG_PASSWORD" -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-ensure}" in
        ensure)
            keyfleet_postgres_ensure
            for v in KEYFLEET_PG_HOST KEYFLEET_PG_PORT KEYFLEET_PG_USER KEYFLEET_PG_PASSWORD; do printf 'export %s=%q\n' "$v" "${!v}"; done
            ;;
        url) keyfleet_postgres_ensure && keyfleet_postgres_url "${2:-keyfleet}" ;;
        createdb) [ -n "${2:-}" ] || exit 2; keyfleet_postgres_ensure && keyfleet_postgres_createdb "$2" ;;
        dropdb) [ -n "${2:-}" ] || exit 2; keyfleet_postgres_ensure && keyfleet_postgres_dropdb "$2" ;;
        stop) keyfleet_postgres_stop ;;
        *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
fi
