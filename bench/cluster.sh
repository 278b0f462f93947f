#!/usr/bin/env bash
# Cluster mode benchmark (docs/cluster.md, BENCHMARKS.md "Cluster mode"): in one run,
#   1. telemetry acknowledged through JetStream with 1, 2 and 3 instances behind HAProxy
#      (readings/s acknowledged, p99 batch latency), and the embedded single process (SQLite, reading
#      log) with the same load as the reference;
#   2. dashboard p99 at 200 clients (wrk) through HAProxy, 3 instances against 1.
#
#   PG_URL=postgres://dualcarbon@127.0.0.1:55432/postgres bash bench/cluster.sh
#   READINGS=200000 BATCH=500 WRITERS=8 CLIENTS=200 DURATION=20s INSTANCES="1 2 3" ...
#
# Needs nats-server, haproxy, wrk, psql, python3 (Debian packages). Data in bench-data/cluster/.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_URL=${PG_URL:?set PG_URL=postgres://user@host:port/postgres (a database per run is created there)}
BIN=${BIN:-target/release/dualcarbon}
READINGS=${READINGS:-200000}
BATCH=${BATCH:-500}
WRITERS=${WRITERS:-8}
CLIENTS=${CLIENTS:-200}
DURATION=${DURATION:-20s}
INSTANCES=${INSTANCES:-"1 2 3"}
OUT=bench-data/cluster
export PATH="$PATH:/usr/sbin"
[ -x "$BIN" ] || cargo build --release -p dualcarbon --locked
rm -rf "$OUT" && mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap stop_all EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; return 1; }
db_url() { echo "${PG_URL%/*}/$1"; }
password_of() { for _ in $(seq 1 100); do grep -ho "with password [^ ]*" "$1" 2>/dev/null | awk '{print $3}' && return 0; sleep 0.1; done; }
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), $("$BIN" --version 2>/dev/null || true)" | tee "$OUT/summary.txt"

haproxy_on() { # PORT BACKEND_PORTS...
    local port=$1; shift
    { printf 'global\n    maxconn 8192\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\nfrontend f\n    bind 127.0.0.1:%s\n    default_backend b\nbackend b\n    balance roundrobin\n    http-reuse always\n' "$port"
      local i=0; for p in "$@"; do i=$((i+1)); printf '    server i%s 127.0.0.1:%s\n' "$i" "$p"; done; } >"$OUT/haproxy-$port.cfg"
    haproxy -f "$OUT/haproxy-$port.cfg" >"$OUT/haproxy-$port.log" 2>&1 &
    PIDS+=($!)
    wait_port "$port"
}

# Reference: the embedded single process, same load.
P=$(free_port)
"$BIN" serve --listen "127.0.0.1:$P" --data-dir "$OUT/embedded" >"$OUT/embedded.out" 2>"$OUT/embedded.log" &
PIDS+=($!)
wait_port "$P"
python3 bench/cluster.py setup "http://127.0.0.1:$P" "$(password_of "$OUT/embedded.out")" "$OUT" >/dev/null
R=$(python3 bench/cluster.py telemetry "$(cat "$OUT/token")" "$READINGS" "$BATCH" "$WRITERS" "$OUT/meters.txt" "http://127.0.0.1:$P")
echo "telemetry embedded (SQLite, reading log), 1 process: $R" | tee -a "$OUT/summary.txt"
stop_all

for N in $INSTANCES; do
    DB=dc_bench_cluster_$N
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
    NP=$(free_port)
    nats-server -js -a 127.0.0.1 -p "$NP" -sd "$OUT/js-$N" >"$OUT/nats-$N.log" 2>&1 &
    PIDS+=($!)
    wait_port "$NP"
    PORTS=()
    for i in $(seq 1 "$N"); do
        P=$(free_port)
        "$BIN" serve --listen "127.0.0.1:$P" --database-url "$(db_url "$DB")" --data-dir "$OUT/c$N-$i" \
            --audit-key-file "$OUT/audit-$N.key" --cluster "nats://127.0.0.1:$NP" --instance-name "i$i" \
            >"$OUT/c$N-$i.out" 2>"$OUT/c$N-$i.log" &
        PIDS+=($!)
        wait_port "$P"
        PORTS+=("$P")
    done
    LB=$(free_port)
    haproxy_on "$LB" "${PORTS[@]}"
    python3 bench/cluster.py setup "http://127.0.0.1:$LB" "$(password_of "$OUT/c$N-1.out")" "$OUT" >/dev/null
    sleep 2 # every instance has rebuilt monitoring after the meters
    R=$(python3 bench/cluster.py telemetry "$(cat "$OUT/token")" "$READINGS" "$BATCH" "$WRITERS" "$OUT/meters.txt" "http://127.0.0.1:$LB")
    echo "telemetry cluster, $N instance(s) through HAProxy and JetStream: $R" | tee -a "$OUT/summary.txt"
    echo "  partitions owned: $(for p in "${PORTS[@]}"; do curl -s "http://127.0.0.1:$p/api/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("partitions"), end=" ")'; done)" | tee -a "$OUT/summary.txt"
    D=$(DUALCARBON_TOKEN=$(cat "$OUT/token") DUALCARBON_ORGS=$OUT/orgs.txt wrk -t2 -c"$CLIENTS" -d"$DURATION" --latency \
        -s bench/dashboard.lua "http://127.0.0.1:$LB" | tee "$OUT/dashboard-$N.txt" | grep RESULT)
    RPS=$(grep "Requests/sec" "$OUT/dashboard-$N.txt" | awk '{print $2}')
    echo "dashboard $CLIENTS clients through HAProxy, $N instance(s): $D requests_per_s=$RPS" | tee -a "$OUT/summary.txt"
    stop_all
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null || true
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" | tee -a "$OUT/summary.txt"
echo "summary: $OUT/summary.txt"
