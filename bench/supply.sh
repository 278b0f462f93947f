#!/usr/bin/env bash
# Supply-chain benchmark (issue 18), recorded in BENCHMARKS.md:
# 1. Scope 3 (categories 1, 2, 4 through the hierarchy) of 1,000,000 procurement lines and 100,000
#    transport legs (`dualcarbon supply demo`), compute time as `dualcarbon supply scope3` reports
#    it (reading and parsing the CSV not counted), against DuckDB computing the same in SQL over the
#    same files (bench/duckdb_scope3.py, load not counted). Bar: ≤ 2 s.
# 2. The PACT host's ListFootprints over 100,000 footprints, pages of 100 at random cursors, 50
#    connections over TLS (a self-signed certificate), with wrk; the peer in the same run: the same
#    server's health route over the same TLS connections. Bar: p99 ≤ 50 ms per page.
#   bash bench/supply.sh
# Needs wrk, openssl, curl, python3 (DuckDB is installed into bench-data/venv). Data: bench-data/supply.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${LINES:-1000000}
FOOTPRINTS=${FOOTPRINTS:-100000}
CONNECTIONS=${CONNECTIONS:-50}
DURATION=${DURATION:-20s}
PORT=${PORT:-18093}
OUT=bench-data/supply
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p dualcarbon
BIN=target/release/dualcarbon

echo "== Scope 3 of $LINES procurement lines"
rm -rf "$OUT/dir"
"$BIN" supply demo "$OUT/dir" --lines "$LINES"
for i in 1 2 3; do "$BIN" supply scope3 "$OUT/dir" 2>&1 >"$OUT/scope3.txt" | tee -a "$OUT/scope3-times.txt"; done
cat "$OUT/scope3.txt"
if [ ! -x bench-data/venv/bin/python ]; then python3 -m venv bench-data/venv; fi
bench-data/venv/bin/python -c 'import duckdb' 2>/dev/null || bench-data/venv/bin/pip install --quiet duckdb
bench-data/venv/bin/python bench/duckdb_scope3.py "$OUT/dir" | tee "$OUT/duckdb.json"

echo "== PACT list: $FOOTPRINTS footprints"
work="$OUT/pact"
rm -rf "$work"; mkdir -p "$work"
"$BIN" bench supply-pact --data-dir "$work/data" --footprints "$FOOTPRINTS" --token-file "$work/token.txt"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
RUST_LOG=warn "$BIN" serve --data-dir "$work/data" --listen "127.0.0.1:$PORT" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill -TERM '"$pid"' 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -skf "https://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.5
done
PACT_TOKEN=$(cat "$work/token.txt") PACT_N=$FOOTPRINTS \
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/supply_pact.lua "https://127.0.0.1:$PORT" | tee "$work/wrk.txt"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "https://127.0.0.1:$PORT/api/v1/health" | tee "$work/wrk-health.txt"
kill -TERM $pid; wait $pid || true
python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
times = [float(m) for m in re.findall(r"compute: ([\d.]+) ms", open(out + "/scope3-times.txt").read())]
duck = json.loads(open(out + "/duckdb.json").read())
def lat(f):
    w = open(f).read()
    def ms(p):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % p, w)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1)), "p50_ms": ms(50), "p99_ms": ms(99)}
pact, health = lat(out + "/pact/wrk.txt"), lat(out + "/pact/wrk-health.txt")
print(json.dumps({"scope3_compute_ms_best": min(times), "duckdb_compute_ms": duck["duckdb_compute_ms"],
                  "scope3_over_duckdb": round(min(times) / duck["duckdb_compute_ms"], 2),
                  "pact_pages_per_s": pact["rps"], "pact_p50_ms": pact["p50_ms"], "pact_p99_ms": pact["p99_ms"],
                  "health_p99_ms": health["p99_ms"], "pact_p99_over_health_p99": round(pact["p99_ms"] / health["p99_ms"], 2)}))
PY
