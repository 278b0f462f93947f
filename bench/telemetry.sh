#!/usr/bin/env bash
# Telemetry ingestion benchmark (issue 2): meter readings into DualCarbon's crash-safe reading log
# (acknowledged only after fdatasync) and the same CSV batches into VictoriaMetrics on loopback,
# same run, ratio printed. VictoriaMetrics comes from the Debian package `victoria-metrics`.
#   bash bench/telemetry.sh                                  # the run recorded in BENCHMARKS.md
#   READINGS=1000000 bash bench/telemetry.sh                 # a quick check
set -euo pipefail
cd "$(dirname "$0")/.."
READINGS=${READINGS:-20000000}
METERS=${METERS:-200000}
BATCH=${BATCH:-10000}
WRITERS=${WRITERS:-4}
PATHS=${PATHS:-both}
PORT=${PORT:-18428}
OUT=${OUT:-bench-data/telemetry}
if ! command -v victoria-metrics >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq victoria-metrics >/dev/null
  else
    echo "victoria-metrics is not installed: apt-get install victoria-metrics" >&2
    exit 1
  fi
fi
cargo build --release -p dualcarbon
BIN=target/release/dualcarbon
rm -rf "$OUT" && mkdir -p "$OUT"
victoria-metrics -httpListenAddr="127.0.0.1:$PORT" -storageDataPath="$OUT/vm-data" -retentionPeriod=1y \
  >"$OUT/vm.log" 2>&1 &
VM_PID=$!
trap 'kill "$VM_PID" 2>/dev/null || true; wait "$VM_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.2
done
"$BIN" bench telemetry --readings "$READINGS" --meters "$METERS" --batch "$BATCH" --writers "$WRITERS" \
  --dir "$OUT/reading-log" --path "$PATHS" --vm-url "http://127.0.0.1:$PORT" 2> >(tee "$OUT/result.log" >&2)
