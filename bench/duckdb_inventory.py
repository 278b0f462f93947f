#!/usr/bin/env python3
"""Peer benchmark: the same inventory totals computed by DuckDB with SQL over the same CSV files.

DuckDB gets the coefficients DualCarbon resolved (per carrier, province, combustion kind and unit,
written by `dualcarbon bench export-coefficients`), the province-name table and each org's boundary
share (operational control 1/0, or the equity product), so both engines do the
same work: parse the files, join activity to facilities and coefficients, apply shares, aggregate.

usage: duckdb_inventory.py DATA_DIR COEF_DIR DUALCARBON_JSON
Prints a JSON object with DuckDB's timings and totals, DualCarbon's, the ratios, and whether the
totals agree; exits 1 if they do not.
"""
import json
import resource
import sys
import time

import duckdb

data, coef, ours_path = sys.argv[1], sys.argv[2], sys.argv[3]
ours = json.load(open(ours_path))
con = duckdb.connect()
con.execute("PRAGMA threads=%d" % ours.get("threads", 2))

FAC = f"""
  SELECT f.facility_code, p.code AS province, CASE WHEN f.type = 'fleet' THEN 1 ELSE 0 END AS mobile,
         CASE WHEN coalesce(f.allocation_share, '') = '' THEN 1.0
              WHEN f.allocation_share LIKE '%\\%%' ESCAPE '\\' THEN CAST(replace(f.allocation_share, '%', '') AS DOUBLE) / 100
              ELSE CAST(f.allocation_share AS DOUBLE) END * CAST(b.boundary_share AS DOUBLE) AS share
  FROM read_csv('{data}/facilities.csv', header=true, all_varchar=true) f
  JOIN read_csv('{coef}/provinces.csv', header=true, all_varchar=true) p ON p.name = f.province
  JOIN read_csv('{coef}/org_boundary.csv', header=true, all_varchar=true) b ON b.org_code = f.org_code
"""
COEF = f"""SELECT carrier, province, CAST(mobile AS INTEGER) AS mobile, unit,
  CAST(scope1_t AS DOUBLE) s1, CAST(scope2_location_t AS DOUBLE) s2l, CAST(scope2_market_t AS DOUBLE) s2m,
  CAST(scope3_t AS DOUBLE) s3, CAST(energy_tce AS DOUBLE) tce
  FROM read_csv('{coef}/coefficients.csv', header=true, all_varchar=true)"""
ACT_FILE = f"""SELECT facility_code, carrier, CAST(quantity AS DOUBLE) AS q, unit
  FROM read_csv('{data}/activity.csv', header=true, all_varchar=true)"""

AGG = """
SELECT sum(a.q * c.s1 * f.share) AS scope1, sum(a.q * c.s2l * f.share) AS scope2_location,
       sum(a.q * c.s2m * f.share) AS scope2_market, sum(a.q * c.s3 * f.share) AS scope3,
       sum(a.q * c.tce * f.share) AS energy_tce, count(*) AS records,
       count(c.carrier) AS matched
FROM {act} a JOIN {fac} f USING (facility_code)
LEFT JOIN {coef} c ON c.carrier = a.carrier AND c.province = f.province AND c.mobile = f.mobile AND c.unit = a.unit
"""

def run(sql):
    t = time.perf_counter()
    row = con.execute(sql).fetchone()
    return time.perf_counter() - t, row

# End to end: SQL straight over the files.
e2e, row = run(AGG.format(act=f"({ACT_FILE})", fac=f"({FAC})", coef=f"({COEF})"))
# Compute only: the same aggregate over tables already loaded in memory.
t = time.perf_counter()
con.execute(f"CREATE TABLE act AS {ACT_FILE}")
con.execute(f"CREATE TABLE fac AS {FAC}")
con.execute(f"CREATE TABLE coef AS {COEF}")
load = time.perf_counter() - t
best = float("inf")
for _ in range(3):
    dt, row2 = run(AGG.format(act="act", fac="fac", coef="coef"))
    best = min(best, dt)

keys = ["scope1", "scope2_location", "scope2_market", "scope3", "energy_tce"]
duck = dict(zip(keys, row[:5]))
agree = row[5] == row[6] == ours["records"] and all(
    abs(duck[k] - ours["totals"][k]) <= 1e-6 * max(1.0, abs(ours["totals"][k])) for k in keys
)
out = {
    "records": row[5],
    "duckdb_version": duckdb.__version__,
    "duckdb_end_to_end_seconds": e2e,
    "duckdb_load_seconds": load,
    "duckdb_compute_seconds_best": best,
    "duckdb_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "dualcarbon_end_to_end_seconds": ours["end_to_end_seconds"],
    "dualcarbon_load_seconds": ours["load_seconds"],
    "dualcarbon_compute_seconds_best": ours["compute_seconds_best"],
    "dualcarbon_peak_rss_mb": ours.get("peak_rss_mb"),
    "speedup_end_to_end": e2e / ours["end_to_end_seconds"],
    "speedup_compute": best / ours["compute_seconds_best"],
    "totals_duckdb": duck,
    "totals_dualcarbon": {k: ours["totals"][k] for k in keys},
    "totals_agree": agree,
}
print(json.dumps(out, indent=2))
sys.exit(0 if agree else 1)
