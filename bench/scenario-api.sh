#!/usr/bin/env bash
# The console slider's cost through the platform API (issue 4: a deterministic re-run in <= 100 ms),
# recorded in BENCHMARKS.md: starts `dualcarbon demo` with SITES sites (31 provinces) on 127.0.0.1,
# then bench/scenario_api.py times POST /api/v1/scenario/run and /compare.
#   bash bench/scenario-api.sh                        # release build, 50,000 sites
#   BIN=target/debug/dualcarbon SITES=2000 bash bench/scenario-api.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${SITES:-50000}
PORT=${PORT:-18093}
ROUNDS=${ROUNDS:-50}
if [ -z "${BIN:-}" ]; then
  cargo build --release -p dualcarbon
  BIN=target/release/dualcarbon
fi
DATA=$(mktemp -d)
RUST_LOG=warn "$BIN" demo --data-dir "$DATA" --sites "$SITES" --years 2024 --listen "127.0.0.1:$PORT" >"$DATA/demo.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 3600); do
  grep -q "DualCarbon demo platform" "$DATA/demo.log" && break
  kill -0 $PID 2>/dev/null || { cat "$DATA/demo.log"; exit 1; }
  sleep 1
done
echo "binary $BIN, $SITES sites, load average $(cut -d' ' -f1 /proc/loadavg)"
python3 bench/scenario_api.py "http://127.0.0.1:$PORT" "$ROUNDS"
