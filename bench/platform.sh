#!/usr/bin/env bash
# Platform benchmarks (issue 7), recorded in BENCHMARKS.md:
#  1. a 1,000,000-row filing CSV uploaded through the HTTP API into SQLite (target ≤ 20 s, memory
#     bounded), and the same into PostgreSQL when PG_URL names a server (a new database is created);
#  2. 200 concurrent clients (wrk, loopback) reading dashboard figures of random orgs of the demo
#     operator served by `dualcarbon demo` (target p99 ≤ 50 ms).
#   bash bench/platform.sh
#   PG_URL=postgres://dualcarbon@127.0.0.1:54329/postgres bash bench/platform.sh
# Needs wrk (apt-get install wrk), curl and, for PostgreSQL, psql. Data goes to bench-data/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
SITES=${SITES:-50000}
CLIENTS=${CLIENTS:-200}
DURATION=${DURATION:-30s}
PORT=${PORT:-18090}
OUT=bench-data/platform
mkdir -p "$OUT"
cargo build --release -p dualcarbon
BIN=target/release/dualcarbon

echo "== import: $ROWS rows through the API into SQLite"
"$BIN" bench import --rows "$ROWS" --sites "$SITES" --work bench-data/import | tee "$OUT/import-sqlite.json"
if [ -n "${PG_URL:-}" ]; then
  DB="dualcarbon_bench_$(date +%s)"
  psql -q "$PG_URL" -c "CREATE DATABASE $DB"
  echo "== import: $ROWS rows through the API into PostgreSQL ($DB)"
  "$BIN" bench import --rows "$ROWS" --sites "$SITES" --work bench-data/import --database-url "${PG_URL%/*}/$DB" \
    | tee "$OUT/import-postgres.json"
  psql -q "$PG_URL" -c "DROP DATABASE $DB"
fi

echo "== dashboard: $CLIENTS concurrent clients for $DURATION"
rm -rf bench-data/demo-platform
RUST_LOG=warn "$BIN" demo --data-dir bench-data/demo-platform --sites "$SITES" --years 2024 --listen "127.0.0.1:$PORT" >"$OUT/demo.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
  kill -0 $PID 2>/dev/null || { cat "$OUT/demo.log"; exit 1; }
  sleep 1
done
grep -E "orgs,|snapshot" "$OUT/demo.log" || true
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"employee","password":"dualcarbon-demo"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
curl -sf -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/orgs" \
  | python3 -c 'import sys, json; [print(o["code"]) for o in json.load(sys.stdin)["orgs"]]' >"$OUT/orgs.txt"
echo "$(wc -l <"$OUT/orgs.txt") orgs"
DUALCARBON_TOKEN=$TOKEN DUALCARBON_ORGS=$OUT/orgs.txt wrk -t2 -c"$CLIENTS" -d"$DURATION" --latency \
  -s bench/dashboard.lua "http://127.0.0.1:$PORT" | tee "$OUT/dashboard.txt"
kill -TERM $PID
wait $PID || true
