#!/usr/bin/env bash
# Inventory benchmark (issue: accounting core): DualCarbon against DuckDB on the same files, same run.
#   SITES=2000000 bash bench/inventory.sh        # the full benchmark recorded in BENCHMARKS.md
#   SITES=20000 bash bench/inventory.sh          # a quick check
# Generated data is kept in bench-data/ (git-ignored) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${SITES:-2000000}
YEAR=${YEAR:-2024}
DIR=${DIR:-bench-data/sites-$SITES}
OUT=${OUT:-bench-data/results-$SITES}
mkdir -p "$OUT"
cargo build --release -p dualcarbon
BIN=target/release/dualcarbon
if [ ! -f "$DIR/activity.csv" ]; then
  "$BIN" demo generate --sites "$SITES" --year "$YEAR" --out "$DIR"
fi
# Drop the page cache where allowed, so neither engine gets the files warm from the other.
sync; (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null || true
"$BIN" bench inventory --data "$DIR" --year "$YEAR" --repeat 3 | tee "$OUT/dualcarbon.json"
"$BIN" bench export-coefficients --data "$DIR" --year "$YEAR" --out "$OUT/coef" >/dev/null
if [ ! -x bench-data/venv/bin/python ]; then
  python3 -m venv bench-data/venv
  bench-data/venv/bin/pip install --quiet duckdb
fi
sync; (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null || true
bench-data/venv/bin/python bench/duckdb_inventory.py "$DIR" "$OUT/coef" "$OUT/dualcarbon.json" | tee "$OUT/comparison.json"
