# Sourced by the benches: a scratch folder and PostgreSQL servers for the
# reference runs, started the way tierguard starts its own disposable ones
# (the settings of provision::SERVER_SETTINGS, data under /dev/shm when
# TMPDIR is unset and it has 8 GiB free, as the local backend chooses), so
# ratios compare like with like. Everything is stopped and removed on exit.
bindir=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")")
runas=(); [ "$(id -u)" -eq 0 ] && runas=(runuser -u postgres --)
bench_base=${TMPDIR:-}
if [ -z "$bench_base" ] && [ "$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -1)" -ge $((8 << 30)) ] 2>/dev/null; then
    bench_base=/dev/shm
fi
work=$(mktemp -d -p "${bench_base:-/tmp}"); chmod 755 "$work"; chown postgres "$work" 2>/dev/null || true
reference_servers=()
# Runs of tierguard kept up (--keep-servers) by a bench: Ctrl-C'd on exit,
# so a bench that fails midway leaves no server behind.
kept_runs=()
stop_reference_servers() {
    for pid in "${kept_runs[@]}"; do kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    for data in "${reference_servers[@]}"; do "${runas[@]}" "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap stop_reference_servers EXIT

# kept_tiers LOG: "TIER CONNINFO" per tier, from the psql commands a run
# with --keep-servers printed to LOG.
kept_tiers() {
    sed -n -E "s/^tier ([^:]+): .* psql '(.*)'$/\1 \2/p" "$1"
}

# start_reference_server NAME: starts a server with data in $work/NAME and
# sets reference_port to its port (trust authentication for postgres on
# 127.0.0.1). Not in a subshell: the exit trap must know the server.
start_reference_server() {
    local data=$work/$1 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir "$data"; chown postgres "$data" 2>/dev/null || true
    "${runas[@]}" "$bindir/initdb" -D "$data/db" -U postgres -A trust --no-sync -E UTF8 --locale=C >/dev/null
    "${runas[@]}" "$bindir/pg_ctl" -D "$data/db" -l "$data/log" -w -o "-p $port -k $data -c listen_addresses=127.0.0.1 \
        -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c wal_level=minimal -c max_wal_senders=0 \
        -c max_connections=200" start >/dev/null
    reference_servers+=("$data/db")
    reference_port=$port
}
