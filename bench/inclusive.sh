#!/usr/bin/env bash
# 碳普惠 events benchmark (issue 17), recorded in BENCHMARKS.md: action events posted through the
# API (POST /api/v1/inclusive/events, machine credentials, batches of $BATCH) with every rule applied
# (methodology, plausibility, dedup, caps, risk, delay, one credit and one kept event each, one audit
# entry per batch), against the peer in the same run: the same events as plain inserts into the same
# database (one INSERT each, a transaction per batch, no HTTP).
#   bash bench/inclusive.sh                                                   # SQLite
#   PG_URL=postgres://dualcarbon@127.0.0.1:55433/postgres bash bench/inclusive.sh   # and PostgreSQL
# Needs wrk, curl, base64 and, for PostgreSQL, psql. Data goes to bench-data/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-600000}
BATCH=${BATCH:-100}
ACCOUNTS=${ACCOUNTS:-10000}
CONNECTIONS=${CONNECTIONS:-2}
DURATION=${DURATION:-10s}
PORT=${PORT:-18091}
OUT=bench-data/inclusive
mkdir -p "$OUT"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p dualcarbon
BIN=target/release/dualcarbon

run() { # backend, extra args for bench and serve
  local name=$1; shift
  local work="$OUT/$name"
  rm -rf "$work"
  echo "== $name: prepare $ACCOUNTS accounts and $EVENTS events; the peer: plain inserts"
  "$BIN" bench inclusive --work "$work" --events "$EVENTS" --batch "$BATCH" --accounts "$ACCOUNTS" "$@" | tee "$work-peer.json"
  RUST_LOG=warn "$BIN" serve --data-dir "$work/data" --listen "127.0.0.1:$PORT" "$@" >"$work-serve.log" 2>&1 &
  local pid=$!
  trap 'kill -TERM '"$pid"' 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
    kill -0 $pid 2>/dev/null || { cat "$work-serve.log"; exit 1; }
    sleep 0.5
  done
  echo "== $name: $CONNECTIONS connections for $DURATION, $BATCH events a request"
  INCLUSIVE_BATCHES="$work/batches.jsonl" INCLUSIVE_AUTH_B64=$(base64 -w0 <"$work/auth.txt") \
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/inclusive.lua "http://127.0.0.1:$PORT" | tee "$work-wrk.txt"
  kill -TERM $pid; wait $pid || true
  local sent batches
  sent=$(awk '/requests in/ {print $1}' "$work-wrk.txt")
  batches=$(wc -l <"$work/batches.jsonl")
  [ "$sent" -le "$batches" ] || echo "WARNING: $sent requests for $batches batches: some were replays; raise EVENTS"
  "$BIN" bench inclusive --work "$work" --report "$@" | tee "$work-report.json"
  python3 - "$work" "$BATCH" <<'PY'
import json, re, sys
work, batch = sys.argv[1], int(sys.argv[2])
wrk = open(work + "-wrk.txt").read()
peer = json.loads(open(work + "-peer.json").read())
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
def ms(p):
    m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % p, wrk)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
api = rps * batch
print(json.dumps({"api_events_per_second": round(api), "requests_per_second": rps, "p50_ms": ms(50), "p99_ms": ms(99),
                  "plain_inserts_per_second": peer["plain_inserts_per_second"],
                  "rules_over_plain": round(peer["plain_inserts_per_second"] / api, 2)}))
PY
}

run sqlite
if [ -n "${PG_URL:-}" ]; then
  DB="dualcarbon_inclusive_$(date +%s)"
  psql -q "$PG_URL" -c "CREATE DATABASE $DB"
  run postgres --database-url "${PG_URL%/*}/$DB"
  psql -q "$PG_URL" -c "DROP DATABASE $DB"
fi
