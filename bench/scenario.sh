#!/usr/bin/env bash
# Scenario benchmark (issue 4): 10,000 Monte Carlo paths × 31 provinces × 2024-2060 (target ≤ 2 s)
# and the deterministic re-run a console slider triggers (target ≤ 100 ms).
#   bash bench/scenario.sh                    # synthetic 31-province baseline
#   SITES=50000 bash bench/scenario.sh        # calibrated on a generated demo operator instead
# Results go in BENCHMARKS.md with the machine and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
PATHS=${PATHS:-10000}
REPEAT=${REPEAT:-5}
cargo build --release -p dualcarbon
BIN=target/release/dualcarbon
nproc
if [ -n "${SITES:-}" ]; then
  DIR=bench-data/sites-$SITES
  [ -f "$DIR/activity.csv" ] || "$BIN" demo generate --sites "$SITES" --year 2024 --out "$DIR"
  "$BIN" scenario bench --data "$DIR" --year 2024 --paths "$PATHS" --repeat "$REPEAT"
else
  "$BIN" scenario bench --paths "$PATHS" --repeat "$REPEAT"
fi
