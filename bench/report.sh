#!/usr/bin/env bash
# Disclosure report benchmark (issue 19), recorded in BENCHMARKS.md: the group's GHG inventory
# report of a generated operator of SITES sites (default 50,000) as PDF and as XLSX, from a data
# directory (`dualcarbon report inventory --data --year`). Targets: ≤ 5 s each at 50,000 sites,
# ≤ 30 s at 2,000,000. The peer in the same run is the inventory itself (`dualcarbon inventory`),
# which the report command also computes first; its own "report" time (building the tables in one
# pass over the records, then writing the file) is printed apart by the command.
#   bash bench/report.sh
#   SITES=2000000 ROUNDS=1 bash bench/report.sh   (generates 3.2 GB once, in about a minute)
#   SKIP_BUILD=1 to use the release binary as built
# Data goes to bench-data/ (git-ignored) and is reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${SITES:-50000}
ROUNDS=${ROUNDS:-3}
DATA=bench-data/report-$SITES
OUT=bench-data/report-out
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p dualcarbon
BIN=target/release/dualcarbon
[ -f "$DATA/activity.csv" ] || "$BIN" demo generate --sites "$SITES" --year 2024 --out "$DATA"
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$OUT/last.err"; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "== $SITES sites, $ROUNDS rounds (wall seconds, median); $(date -u +%H:%M) load before: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
INV=$(for _ in $(seq "$ROUNDS"); do secs "$BIN" inventory --data "$DATA" --year 2024 --format json; done | median)
echo "inventory (peer): $INV s"
for fmt in pdf xlsx; do
  T=$(for _ in $(seq "$ROUNDS"); do secs "$BIN" report inventory --data "$DATA" --year 2024 --format $fmt --lang zh --out "$OUT/report.$fmt"; done | median)
  echo "report $fmt: $T s wall (ratio to the inventory $(echo "scale=2; $T / $INV" | bc)); $(grep timings "$OUT/last.err"); $(stat -c %s "$OUT/report.$fmt") bytes"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
