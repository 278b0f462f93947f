#!/usr/bin/env bash
# Durable trades through the market API (issue 16), recorded in BENCHMARKS.md: two subsidiaries'
# traders send limit orders that trade in pairs (bench/market_orders.lua) through `dualcarbon serve`
# on SQLite, and on PostgreSQL when PG_URL names a server (a new database is created). Every order
# is stored (command, journal entries, audit entry) before it is answered. Reports orders/s,
# trades/s (counted from the market before and after) and latency percentiles.
#   bash bench/market-api.sh
#   PG_URL=postgres://dualcarbon@127.0.0.1:55432/postgres bash bench/market-api.sh
# Needs wrk, curl, python3 and, for PostgreSQL, psql. Data goes to bench-data/market-api (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20s}
PORT=${PORT:-18091}
OUT=bench-data/market-api
PASSWORD=bench-market-password
rm -rf "$OUT" && mkdir -p "$OUT"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p dualcarbon
BIN=target/release/dualcarbon

run() { # $1: label, then the database flags
  local label=$1; shift
  "$BIN" bench market-setup --password "$PASSWORD" "$@"
  RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" "$@" >"$OUT/serve-$label.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
    kill -0 $pid 2>/dev/null || { cat "$OUT/serve-$label.log"; exit 1; }
    sleep 0.5
  done
  login() { curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}" | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])'; }
  local a b
  a=$(login trader-a); b=$(login trader-b)
  trades() { curl -sf -H "authorization: Bearer $a" "http://127.0.0.1:$PORT/api/v1/market" \
    | python3 -c 'import sys, json; print(sum(v["trades"] for v in json.load(sys.stdin)["vintages"]))'; }
  local before after
  before=$(trades)
  DUALCARBON_TOKEN_A=$a DUALCARBON_TOKEN_B=$b DUALCARBON_VINTAGE=2025 wrk -t2 -c"$CLIENTS" -d"$DURATION" --latency \
    -s bench/market_orders.lua "http://127.0.0.1:$PORT" | tee "$OUT/wrk-$label.txt"
  after=$(trades)
  local secs
  secs=$(grep -o 'seconds=[0-9.]*' "$OUT/wrk-$label.txt" | cut -d= -f2)
  python3 -c "print('TRADES $label: %d trades in %s s = %.0f durable trades/s' % ($after - $before, '$secs', ($after - $before) / float('$secs')))" \
    | tee -a "$OUT/summary.txt"
  kill -TERM $pid
  wait $pid || true
  "$BIN" market verify "$@" | tee -a "$OUT/summary.txt"
}

run sqlite --data-dir "$OUT/sqlite"
if [ -n "${PG_URL:-}" ]; then
  DB="dualcarbon_market_bench_$(date +%s)"
  psql -q "$PG_URL" -c "CREATE DATABASE $DB"
  run postgres --data-dir "$OUT/pg" --database-url "${PG_URL%/*}/$DB"
  psql -q "$PG_URL" -c "DROP DATABASE $DB"
fi
cat "$OUT/summary.txt"
