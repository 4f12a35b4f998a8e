#!/bin/sh
# Throw-away PostgreSQL cluster for the store tests.
#
#   eval "$(scripts/ci_postgres.sh)"        # start; prints `export GV_TEST_PG_URL=...`
#   .venv/bin/python -m pytest tests/test_store.py
#   scripts/ci_postgres.sh stop             # stop the cluster and delete its folder
#
# Installs Debian's `postgresql` package with apt-get when initdb is missing. The cluster
# lives in a temporary folder, listens on a free loopback port only, trusts local
# connections (it holds nothing but test data) and is owned by the `postgres` user when run
# as root (initdb refuses to run as root). The folder is recorded in $GV_PG_STATE
# (default /tmp/goldenvision-ci-postgres.state) for `stop`.
set -eu
STATE="${GV_PG_STATE:-/tmp/goldenvision-ci-postgres.state}"

log() { echo "ci_postgres: $*" >&2; }

pg_bin() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    return 1
}

as_owner() {  # run a command as the cluster owner
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
    if [ ! -f "$STATE" ]; then log "no cluster recorded in $STATE"; return 0; fi
    dir=$(sed -n 1p "$STATE")
    bin=$(pg_bin) || true
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    fi
    case "$dir" in /tmp/gv-pg.*) rm -rf "$dir" ;; *) log "refusing to delete unexpected folder $dir" ;; esac
    rm -f "$STATE"
    log "stopped and deleted $dir"
}

if [ "${1:-start}" = stop ]; then stop; exit 0; fi

if ! bin=$(pg_bin); then
    log "initdb not found; installing postgresql with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
    bin=$(pg_bin) || { log "postgresql installed but initdb not found"; exit 69; }
fi
if [ -f "$STATE" ]; then log "a cluster is already recorded in $STATE; stopping it first"; stop; fi

dir=$(mktemp -d /tmp/gv-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
echo "$dir" > "$STATE"
as_owner "$bin/initdb" -D "$dir/data" -U gv --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 70; }
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off" start >&2 \
    || { cat "$dir/server.log" >&2; exit 69; }
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U gv gvtest
log "cluster in $dir on 127.0.0.1:$port; stop it with: $0 stop"
echo "export GV_TEST_PG_URL=postgresql+psycopg://gv@127.0.0.1:$port/gvtest"
