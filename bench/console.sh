#!/usr/bin/env bash
# Web console benchmark (issue 3), recorded in BENCHMARKS.md: the group overview of a generated
# operator of SITES sites (default 2,000,000) opened in Debian's chromium, from navigation to the
# monthly chart drawn with data, and the overview API call as the page timed it (target ≤ 1 s).
# The server pre-aggregates: the overview reads the group snapshot's stored rows, and the figures
# by month come from a job that runs once per snapshot (its duration is reported too).
#   bash bench/console.sh               # 2,000,000 sites; the first run loads them (long)
#   SITES=50000 bash bench/console.sh
# Needs chromium (apt-get install chromium), Node.js and npm. Data goes to bench-data/ (git-ignored)
# and is reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${SITES:-2000000}
ROUNDS=${ROUNDS:-10}
PORT=${PORT:-18091}
DATA=bench-data/console-$SITES
OUT=bench-data/console
mkdir -p "$OUT"
(cd web && npm ci --no-audit --no-fund && npm run build)
cargo build --release -p dualcarbon
BIN=target/release/dualcarbon

echo "== platform with $SITES sites ($DATA)"
RUST_LOG=warn "$BIN" demo --data-dir "$DATA" --sites "$SITES" --years 2024 --listen "127.0.0.1:$PORT" >"$OUT/demo-$SITES.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 14400); do
  curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
  kill -0 $PID 2>/dev/null || { cat "$OUT/demo-$SITES.log"; exit 1; }
  sleep 1
done
grep -E "orgs,|snapshot" "$OUT/demo-$SITES.log" || true

TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"dualcarbon-demo"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
echo "== pre-aggregation of the group snapshot by month (once per snapshot; kept in $DATA/console-aggregates)"
START=$(date +%s.%N)
for _ in $(seq 1 7200); do
  STATUS=$(curl -sf -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/console/orgs/CT/overview" \
    | python3 -c 'import sys, json; print(json.load(sys.stdin)["monthly"]["status"])')
  [ "$STATUS" = computing ] || break
  sleep 1
done
echo "monthly figures $STATUS after $(python3 -c "print(round($(date +%s.%N) - $START, 1))") s (0 when kept from an earlier run)"
[ "$STATUS" = ready ] || exit 1

echo "== group overview in chromium, $ROUNDS page loads"
(cd web && node bench/overview.mjs "http://127.0.0.1:$PORT" "$ROUNDS") | tee "$OUT/overview-$SITES.jsonl"
