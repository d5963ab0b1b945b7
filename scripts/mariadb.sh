#!/usr/bin/env bash
# A MySQL/MariaDB server for the tests and the local stack (SupportSystem keeps its API keys in a
# database table). Sourced by the CLI (scripts/services.ts ensureMysql), or run on its own:
#
#   bash scripts/mariadb.sh [ensure]   make sure a server answers; prints `export KEYFLEET_MYSQL_…=…`
#                                      lines on stdout, so `eval "$(bash scripts/mariadb.sh)"` works
#   bash scripts/mariadb.sh stop       stop the project-local server, if this project started one
#
# The configured server wins: KEYFLEET_MYSQL_HOST/PORT/USER/PASSWORD (default 127.0.0.1:3306, root,
# no password). It "answers" when it accepts that login and runs `SELECT 1`. When it does not, a
# project-local MariaDB is used instead: data in .keyfleet/mariadb, socket and pid file in
# .keyfleet (KEYFLEET_MARIADB_DIR moves all three: tests), loopback only, port
# KEYFLEET_MYSQL_LOCAL_PORT (default 3407), root without password.
# It is started once (in the background, surviving this script) and reused afterwards; Debian's
# mariadb-server is installed first where mariadbd is absent and the script runs as root.
# Afterwards KEYFLEET_MYSQL_HOST, _PORT, _USER and _PASSWORD name the server that answered.

KEYFLEET_MARIADB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEYFLEET_MARIADB_KF="${KEYFLEET_MARIADB_DIR:-$KEYFLEET_MARIADB_ROOT/.keyfleet}"

_kf_mariadb_say() { printf '[keyfleet] %s\n' "$*" >&2; }

_kf_mariadb_client() { # the command-line client, if any
    command -v mariadb 2>/dev/null || command -v mysql 2>/dev/null || true
}

# _kf_mariadb_answers HOST PORT USER PASSWORD: whether that server accepts the login and runs a query.
# With the command-line client when there is one, else with the project's mysql2 through Node.
_kf_mariadb_answers() {
    local host="$1" port="$2" user="$3" password="$4" client
    client="$(_kf_mariadb_client)"
    if [ -n "$client" ]; then
        MYSQL_PWD="$password" "$client" --no-defaults --protocol=TCP --connect-timeout=3 \
            -h "$host" -P "$port" -u "$user" -N -B -e 'SELECT 1' >/dev/null 2>&1
        return
    fi
    if command -v node >/dev/null && [ -d "$KEYFLEET_MARIADB_ROOT/node_modules/mysql2" ]; then
        # The password goes in the environment, never on the command line (which `ps` shows to everyone).
        (cd "$KEYFLEET_MARIADB_ROOT" && KEYFLEET_MYSQL_PROBE_PASSWORD="$password" node -e '
            const [host, port, user] = process.argv.slice(1);
            const password = process.env.KEYFLEET_MYSQL_PROBE_PASSWORD;
            require("mysql2/promise")
                .createConnection({ host, port: Number(port), user, password, connectTimeout: 3000 })
                .then(async (c) => { await c.query("SELECT 1"); await c.end(); })
                .then(() => process.exit(0), () => process.exit(1));' "$host" "$port" "$user") >/dev/null 2>&1
        return
    fi
    # Neither: a bare TCP probe is the best that can be said.
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

_kf_mariadb_bin() { # _kf_mariadb_bin NAME...: the first of these programs found (PATH, then sbin)
    local name dir
    for name in "$@"; do
        command -v "$name" 2>/dev/null && return
        for dir in /usr/sbin /usr/local/sbin /sbin; do
            [ -x "$dir/$name" ] && { echo "$dir/$name"; return; }
        done
    done
    return 1
}

_kf_mariadb_socket() {
    local sock="$KEYFLEET_MARIADB_KF/mariadb.sock"
    # Unix socket paths are limited to ~107 bytes; a deep checkout gets one in /tmp instead.
    if [ ${#sock} -gt 100 ]; then
        sock="/tmp/keyfleet-mariadb-$(printf '%s' "$KEYFLEET_MARIADB_ROOT" | cksum | cut -d' ' -f1).sock"
    fi
    echo "$sock"
}

# Starts (installing and initialising first where needed) the project-local server on PORT.
_kf_mariadb_start_local() {
    local port="$1" data="$KEYFLEET_MARIADB_KF/mariadb" pidfile="$KEYFLEET_MARIADB_KF/mariadb.pid"
    local log="$KEYFLEET_MARIADB_KF/mariadb.log" sock mariadbd installdb
    sock="$(_kf_mariadb_socket)"
    mkdir -p "$KEYFLEET_MARIADB_KF"

    if ! mariadbd="$(_kf_mariadb_bin mariadbd mysqld)"; then
        if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
            _kf_mariadb_say "error: no MySQL/MariaDB server answers and mariadbd is not installed; install mariadb-server (Debian: apt-get install mariadb-server) or point KEYFLEET_MYSQL_HOST/PORT/USER/PASSWORD at a server"
            return 1
        fi
        _kf_mariadb_say "mariadbd is not installed; installing Debian's mariadb-server (apt-get)"
        # The package may start the system's own server (port 3306) as it installs; keyfleet does not
        # rely on it and starts its own below.
        if ! { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server >&2; }; then
            _kf_mariadb_say "error: installing mariadb-server failed (see above)"
            return 1
        fi
        mariadbd="$(_kf_mariadb_bin mariadbd mysqld)" || { _kf_mariadb_say "error: mariadb-server installed, but no mariadbd found"; return 1; }
        _kf_mariadb_say "installed $("$mariadbd" --version 2>/dev/null | head -n1)"
    fi
    installdb="$(_kf_mariadb_bin mariadb-install-db mysql_install_db)" || { _kf_mariadb_say "error: mariadb-install-db not found"; return 1; }

    # mariadbd refuses to run as root unless told to; as another user it runs as that user.
    local as_user=()
    [ "$(id -u)" -eq 0 ] && as_user=(--user=root)

    if [ ! -d "$data/mysql" ]; then
        _kf_mariadb_say "initialising a project-local MariaDB data folder in $data"
        rm -rf "$data"
        mkdir -p "$data"
        if ! "$installdb" --no-defaults --datadir="$data" "${as_user[@]}" --auth-root-authentication-method=normal \
                --skip-test-db >"$KEYFLEET_MARIADB_KF/mariadb-install.log" 2>&1; then
            _kf_mariadb_say "error: mariadb-install-db failed; see $KEYFLEET_MARIADB_KF/mariadb-install.log"
            tail -n 20 "$KEYFLEET_MARIADB_KF/mariadb-install.log" >&2
            rm -rf "$data"
            return 1
        fi
    fi

    # A server of ours that is running but no longer answers (stale pid file, wrong port) is stopped first.
    _kf_mariadb_stop_local quiet

    _kf_mariadb_say "starting the project-local MariaDB on 127.0.0.1:$port (log: $log)"
    # setsid + nohup: the server outlives this script, so later runs reuse it.
    setsid nohup "$mariadbd" --no-defaults "${as_user[@]}" --datadir="$data" --port="$port" --bind-address=127.0.0.1 \
        --socket="$sock" --pid-file="$pidfile" --log-error="$log" \
        --innodb-buffer-pool-size=64M --max-connections=200 \
        </dev/null >>"$log" 2>&1 &
    local pid=$! started=$SECONDS
    for _ in $(seq 1 300); do
        if _kf_mariadb_answers 127.0.0.1 "$port" root ""; then
            _kf_mariadb_say "project-local MariaDB answers on 127.0.0.1:$port (pid $(cat "$pidfile" 2>/dev/null || echo "$pid"), up in $((SECONDS - started))s)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    _kf_mariadb_say "error: the project-local MariaDB did not start; the end of $log:"
    tail -n 20 "$log" >&2
    return 1
}

# Stops the project-local server (only the one whose pid file is in .keyfleet). With an argument,
# says nothing when none runs.
_kf_mariadb_stop_local() {
    local quiet="${1:-}" pidfile="$KEYFLEET_MARIADB_KF/mariadb.pid" pid
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$pidfile"
        [ -n "$quiet" ] || _kf_mariadb_say "no project-local MariaDB is running"
        return 0
    fi
    _kf_mariadb_say "stopping the project-local MariaDB (pid $pid)${quiet:+, which does not answer on the port asked for}"
    kill "$pid"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
        sleep 0.1
    done
    _kf_mariadb_say "error: the project-local MariaDB (pid $pid) did not stop within 30 s"
    return 1
}

# Makes sure a server answers and exports KEYFLEET_MYSQL_HOST, _PORT, _USER and _PASSWORD for it.
keyfleet_mariadb_ensure() {
    local host="${KEYFLEET_MYSQL_HOST:-127.0.0.1}" port="${KEYFLEET_MYSQL_PORT:-3306}"
    local user="${KEYFLEET_MYSQL_USER:-root}" password="${KEYFLEET_MYSQL_PASSWORD:-}"
    local local_port="${KEYFLEET_MYSQL_LOCAL_PORT:-3407}"
    if _kf_mariadb_answers "$host" "$port" "$user" "$password"; then
        _kf_mariadb_say "MySQL/MariaDB at $host:$port answers (user $user)"
    else
        local why="nothing listens at $host:$port"
        (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && why="the server at $host:$port refuses user $user"
        if _kf_mariadb_answers 127.0.0.1 "$local_port" root ""; then
            _kf_mariadb_say "$why; using the project-local MariaDB on 127.0.0.1:$local_port"
        else
            _kf_mariadb_say "$why; falling back to a project-local MariaDB"
            _kf_mariadb_start_local "$local_port" || return 1
        fi
        host=127.0.0.1 port="$local_port" user=root password=""
    fi
    export KEYFLEET_MYSQL_HOST="$host" KEYFLEET_MYSQL_PORT="$port" KEYFLEET_MYSQL_USER="$user" KEYFLEET_MYSQL_PASSWORD="$password"
}

keyfleet_mariadb_stop() { _kf_mariadb_stop_local; }

# Run on its own (not sourced).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-ensure}" in
        ensure)
            keyfleet_mariadb_ensure
            for v in KEYFLEET_MYSQL_HOST KEYFLEET_MYSQL_PORT KEYFLEET_MYSQL_USER KEYFLEET_MYSQL_PASSWORD; do
                printf 'export %s=%q\n' "$v" "${!v}"
            done
            ;;
        stop) keyfleet_mariadb_stop ;;
        *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
fi
