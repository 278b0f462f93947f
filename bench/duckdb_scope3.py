"""The peer of bench/supply.sh: the same Scope 3 (categories 1, 2, 4, the hierarchy supplier-specific
> average > spend) of a `dualcarbon supply demo` directory, as DuckDB SQL over the same files.
Loading the CSVs and footprints is not timed; the computation is (best of 3).
  python bench/duckdb_scope3.py DIR"""
import json, sys, time
import duckdb

d = sys.argv[1]
con = duckdb.connect()
con.execute(f"CREATE TABLE p AS SELECT * FROM read_csv('{d}/procurement.csv', header=true, all_varchar=true)")
con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{d}/transport.csv', header=true, all_varchar=true)")
pfs = json.load(open(f"{d}/footprints/suppliers.json"))
con.execute("CREATE TABLE f (supplier VARCHAR, item VARCHAR, kg DOUBLE)")
con.executemany("INSERT INTO f VALUES (?, ?, ?)", [
    (pf["companyIds"][0].split(":")[-1], pf["productIds"][0].split(":")[-1],
     float(pf["pcf"]["pcfExcludingBiogenicUptake"]) / float(pf["pcf"]["declaredUnitAmount"])) for pf in pfs])
# The secondary data of the demo (500 kg per piece for every class, 0.1 kg per t·km for every mode)
# and the shipped EEIO factor: 2024 CNY × 100 / 94.866 / 6.7261 × 0.058 kg.
con.execute("CREATE TABLE a AS SELECT DISTINCT class, 500.0 AS kg FROM p WHERE class <> ''")
spend_factor = 100 / 94.866 / 6.7261 * 0.058
q = f"""
SELECT category, method, count(*) AS lines, sum(g) AS grams FROM (
  SELECT p.category,
    CASE WHEN f.kg IS NOT NULL THEN 'supplier_specific' WHEN a.kg IS NOT NULL THEN 'average' ELSE 'spend' END AS method,
    round(1000 * CASE WHEN f.kg IS NOT NULL THEN CAST(p.quantity AS DOUBLE) * f.kg
                      WHEN a.kg IS NOT NULL THEN CAST(p.quantity AS DOUBLE) * a.kg
                      ELSE CAST(p.spend AS DOUBLE) * {spend_factor} END) AS g
  FROM p LEFT JOIN f ON f.supplier = p.supplier AND f.item = p.item LEFT JOIN a ON a.class = p.class
  UNION ALL
  SELECT '4', 'distance', round(1000 * CAST(tonnes AS DOUBLE) * CAST(km AS DOUBLE) * 0.1) FROM t
) GROUP BY ALL ORDER BY ALL"""
best, rows = None, None
for _ in range(3):
    t0 = time.perf_counter()
    rows = con.execute(q).fetchall()
    dt = time.perf_counter() - t0
    best = dt if best is None else min(best, dt)
total = sum(r[3] for r in rows)
print(json.dumps({"duckdb_compute_ms": round(best * 1000, 1), "total_t": round(total / 1e6, 3),
                  "cells": [[r[0], r[1], r[2], round(r[3] / 1e6, 3)] for r in rows]}))
