#!/usr/bin/env bash
# The platform's inventory run (issue 12, recorded in BENCHMARKS.md): POST /api/v1/inventories for the
# demo operator's group and year, timed from the client, on a data directory loaded once by
# `dualcarbon demo`. Compare two builds on the same data: BIN=path/to/other/dualcarbon bash bench/platform-inventory.sh
#   SITES=50000 RUNS=3 bash bench/platform-inventory.sh
# Needs curl and python3. Data goes to bench-data/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${SITES:-50000}
RUNS=${RUNS:-3}
PORT=${PORT:-18091}
DIR=bench-data/inventory-run-$SITES
mkdir -p bench-data
if [ -z "${BIN:-}" ]; then
  cargo build --release -p dualcarbon
  BIN=target/release/dualcarbon
fi
if [ ! -f "$DIR/dualcarbon.sqlite3" ]; then
  rm -rf "$DIR"
  "$BIN" demo --data-dir "$DIR" --sites "$SITES" --years 2024 --listen "127.0.0.1:$PORT" >"$DIR.log" 2>&1 &
  PID=$!
  until grep -qs "demo platform" "$DIR.log"; do kill -0 $PID 2>/dev/null || { cat "$DIR.log"; exit 1; }; sleep 1; done
  kill -TERM $PID; wait $PID || true
  grep -E "2024:|snapshot" "$DIR.log"
fi
"$BIN" serve --data-dir "$DIR" --listen "127.0.0.1:$PORT" >"$DIR.serve.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 1; done
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"dualcarbon-demo"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
for _ in $(seq 1 "$RUNS"); do
  curl -s -o /dev/null -w "inventory run: HTTP %{http_code} in %{time_total} s\n" -X POST "http://127.0.0.1:$PORT/api/v1/inventories" \
    -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"org_code":"CT","year":2024}'
done
