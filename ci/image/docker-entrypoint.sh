#!/usr/bin/env bash
# Entrypoint for the locally built tierguard-postgres image.  Mimics the parts
# of the official postgres image's entrypoint that clients (testcontainers)
# rely on: the POSTGRES_* variables, first-run initdb, password auth from any
# host, extra args passed to `postgres`, and the log lines they wait for.
set -euo pipefail

# `docker run IMAGE -c fsync=off` means `postgres -c fsync=off`.
case "${1:-}" in -*) set -- postgres "$@" ;; esac
# Anything other than the server (a shell, psql, ...) just runs as given.
if [ "${1:-}" != "postgres" ]; then
    exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# postgres refuses to run as root: fix ownership, then re-run this script as
# the postgres user.  setpriv comes with util-linux, which minbase includes.
if [ "$(id -u)" = 0 ]; then
    install -d -o postgres -g postgres -m 0700 "$PGDATA"
    chown -R postgres:postgres "$PGDATA"
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    export HOME=/var/lib/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    POSTGRES_USER=${POSTGRES_USER:-postgres}
    POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
        echo "       (set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password)" >&2
        exit 1
    fi

    # Quoted words in POSTGRES_INITDB_ARGS are honoured, as in the official image.
    initdb_args=()
    eval "initdb_args=(${POSTGRES_INITDB_ARGS:-})"
    # The password goes through a pipe, never the command line.  --no-sync
    # (not in the official image) saves seconds of fsync on busy CI disks;
    # these containers are throwaway and usually run with fsync=off anyway.
    initdb --username="$POSTGRES_USER" --no-sync \
        --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") "${initdb_args[@]}"

    # Later lines win for listen_addresses; first match wins in pg_hba, so
    # initdb's local/loopback trust lines stay and everyone else needs $auth.
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

    # Temporary server on the unix socket only, so nobody can connect over TCP
    # before init is done.  pg_ctl sends its server log to stdout: that is
    # where the official image prints the first "ready to accept connections"
    # line (testcontainers-modules waits for one on stdout and one on stderr).
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER")
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    # Same init hooks as the official image (testcontainers' with_init_sql uses them).
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "running $f"; bash "$f" ;;
            *.sql) echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *) echo "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo
    echo "PostgreSQL init process complete; ready for start up."
    echo
fi

# The real server logs to stderr, including the final
# "database system is ready to accept connections".
exec "$@"
