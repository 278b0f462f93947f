"""Times what a console slider change costs through the platform API (issue 4: <= 100 ms): the
deterministic scenario re-run (POST /api/v1/scenario/run) and the console's comparison request
(POST /api/v1/scenario/compare: business as usual beside the edited scenario), each with a new
driver value, on the baseline calibrated from the demo operator's group snapshot. Client-side wall
time per request on 127.0.0.1, including JSON in and out. Standard library only.
    python3 bench/scenario_api.py http://127.0.0.1:PORT [ROUNDS]
"""
import json
import statistics
import sys
import time
import urllib.request

base = sys.argv[1].rstrip("/")
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 50


def call(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


token = call("POST", "/api/v1/auth/login", {"username": "admin", "password": "dualcarbon-demo"})["token"]
snaps = [s for s in call("GET", "/api/v1/snapshots", token=token)["snapshots"] if s["org_code"] == "CT" and not s["superseded"]]
snap = max(snaps, key=lambda s: (s["year"], s["id"]))
t0 = time.perf_counter()
b = call("GET", f"/api/v1/snapshots/{snap['id']}/scenario/baseline", token=token)
calibrate_s = time.perf_counter() - t0
baseline = b["baseline"]
print(f"snapshot {snap['id']} ({snap['year']}): {len(baseline['provinces'])} provinces, calibrated in {calibrate_s:.2f} s")


def time_route(path, make):
    out = []
    for i in range(rounds):
        growth = 0.02 + 0.005 * (i % 40)
        t = time.perf_counter()
        call("POST", path, make(growth), token)
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    p95 = out[min(len(out) - 1, int(0.95 * len(out)))]
    print(f"{path}: {rounds} requests, median {statistics.median(out):.1f} ms, p95 {p95:.1f} ms, max {out[-1]:.1f} ms"
          f" (budget 100 ms: median at {statistics.median(out) / 100:.2f}x)")


def edited(g):
    return {"name": "slider", "drivers": {"traffic_growth": g}, "measures": [{"id": "dc_pue_upgrade", "start": 2026}],
            "targets": {"peak_by": 2030}}


time_route("/api/v1/scenario/run", lambda g: {"baseline": baseline, "scenario": edited(g)})
time_route("/api/v1/scenario/compare",
           lambda g: {"baseline": baseline, "scenarios": [{"name": "bau", "targets": {"peak_by": 2030}}, edited(g)]})
