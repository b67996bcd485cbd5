#!/usr/bin/env bash
# A throwaway PostgreSQL 15 + pgvector server for tests and benchmarks, on 127.0.0.1 only.
#
#   bash scripts/postgres.sh install   # apt packages + pgvector built from Debian trixie's source
#   bash scripts/postgres.sh start     # install if needed, create the cluster in .pgdata, start it
#   bash scripts/postgres.sh stop | restart | status | url
#
# Every command is idempotent. Environment: REVERIE_PG_PORT (default 55432),
# REVERIE_PGDATA (default <repo>/.pgdata).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PGBIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PORT="${REVERIE_PG_PORT:-55432}"
PGDATA="${REVERIE_PGDATA:-$REPO/.pgdata}"
URL="postgresql://postgres@127.0.0.1:${PORT}/postgres"
APT_SRC_FILE=/etc/apt/sources.list.d/reverie-trixie-src.sources

say() { echo "postgres.sh: $*"; }
die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# The server refuses to run as root: as root, act as the `postgres` OS user; otherwise as oneself.
as_owner() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# The server runs as the `postgres` OS user, which may be unable to reach a repository under a
# private home directory (e.g. /root): keep the cluster under its own home then.
resolve_pgdata() {
    is_root && id postgres >/dev/null 2>&1 || return 0
    runuser -u postgres -- test -x "$(dirname "$PGDATA")" 2>/dev/null && return 0
    local tag
    tag="$(printf '%s' "$PGDATA" | md5sum | cut -c1-8)"
    PGDATA="/var/lib/postgresql/reverie-${PORT}-${tag}"
}

server_installed() { [ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pg_config" ]; }

vector_installed() {
    server_installed && [ -f "$("$PGBIN/pg_config" --sharedir)/extension/vector.control" ]
}

need_root() {
    is_root && return 0
    die "$1 needs root. Run \`sudo bash scripts/postgres.sh start\` once (installs postgresql-${PG_MAJOR} and pgvector), or set REVERIE_POSTGRES_URL to an existing server with pgvector."
}

install_packages() {
    local missing=()
    server_installed || missing+=("postgresql-${PG_MAJOR}")
    [ -f "/usr/include/postgresql/${PG_MAJOR}/server/postgres.h" ] ||
        missing+=("postgresql-server-dev-${PG_MAJOR}")
    command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
    command -v make >/dev/null && command -v gcc >/dev/null || missing+=(build-essential)
    [ ${#missing[@]} -eq 0 ] && return 0
    need_root "Installing ${missing[*]}"
    say "installing ${missing[*]}"
    # Only our own cluster is wanted; do not let the package create and start a default one.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/reverie.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build_pgvector() {
    vector_installed && return 0
    need_root "Building pgvector"
    # pgvector is not packaged for Debian 12; its trixie source package builds cleanly against 15.
    if [ ! -f "$APT_SRC_FILE" ]; then
        cat >"$APT_SRC_FILE" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    fi
    say "fetching pgvector source from Debian trixie"
    apt-get update -qq
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && apt-get source -qq pgvector >/dev/null 2>&1) ||
        die "apt-get source pgvector failed (is deb.debian.org reachable?)"
    local src
    src="$(find "$tmp" -maxdepth 1 -type d -name 'pgvector-*' | head -n1)"
    [ -n "$src" ] || die "pgvector source not found after apt-get source"
    say "building $(basename "$src")"
    make -s -C "$src" PG_CONFIG="$PGBIN/pg_config" >/dev/null 2>&1 ||
        die "building pgvector failed; run make in $src to see why"
    make -s -C "$src" PG_CONFIG="$PGBIN/pg_config" install >/dev/null
    rm -rf "$tmp"
    vector_installed || die "pgvector installed but vector.control is still missing"
}

cmd_install() {
    if vector_installed && [ -f "/usr/include/postgresql/${PG_MAJOR}/server/postgres.h" ]; then
        say "PostgreSQL ${PG_MAJOR} and pgvector already installed"
        return 0
    fi
    install_packages
    build_pgvector
    resolve_pgdata
    say "installed PostgreSQL ${PG_MAJOR} and pgvector"
}

running() {
    [ -f "$PGDATA/PG_VERSION" ] && as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

psql_admin() { as_owner "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }

init_cluster() {
    [ -f "$PGDATA/PG_VERSION" ] && return 0
    if is_root; then
        mkdir -p "$PGDATA"
        chown postgres:postgres "$PGDATA"
        chmod 700 "$PGDATA"
    fi
    as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >/dev/null
    cat >>"$PGDATA/postgresql.conf" <<EOF

# Reverie test server: loopback only, no unix socket, durable writes.
listen_addresses = '127.0.0.1'
port = ${PORT}
unix_socket_directories = ''
fsync = on
synchronous_commit = on
max_connections = 200
shared_buffers = 256MB
maintenance_work_mem = 512MB
logging_collector = off
EOF
}

cmd_start() {
    if ! vector_installed; then
        is_root || die "PostgreSQL ${PG_MAJOR} with pgvector is not installed. Run \`sudo bash scripts/postgres.sh start\` to install and start it."
        cmd_install
    fi
    init_cluster
    if ! running; then
        as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null ||
            die "server did not start; see $PGDATA/server.log"
    fi
    local i
    for i in $(seq 1 60); do
        "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
        sleep 0.5
    done
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || die "server not accepting connections on port $PORT"
    psql_admin -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null 2>&1 ||
        psql_admin -c "CREATE EXTENSION IF NOT EXISTS vector"
    say "running at $URL"
}

cmd_stop() {
    if running; then
        as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
        say "stopped"
    else
        say "not running"
    fi
}

cmd_restart() {
    running || die "not running; use \`bash scripts/postgres.sh start\`"
    as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 restart -l "$PGDATA/server.log" >/dev/null ||
        die "restart failed; see $PGDATA/server.log"
    say "restarted"
}

cmd_status() {
    if running && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
        say "running at $URL"
    else
        say "not running"
        return 1
    fi
}

resolve_pgdata
case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_restart ;;
status) cmd_status ;;
url) echo "$URL" ;;
*)
    echo "usage: bash scripts/postgres.sh {install|start|stop|restart|status|url}" >&2
    exit 2
    ;;
esac
