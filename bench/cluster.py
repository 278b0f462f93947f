#!/usr/bin/env python3
"""Driver of bench/cluster.sh: sets a platform up over its API and loads it.

  cluster.py setup  BASE PASSWORD OUTDIR     orgs, facilities, meters, filings, one snapshot; token and org list
  cluster.py telemetry TOKEN READINGS BATCH WRITERS METERS BASE [BASE ...]
      WRITERS threads post READINGS readings in CSV batches of BATCH, round-robin over the BASEs;
      prints readings/s (acknowledged) and the batch latency percentiles.
"""
import json
import sys
import threading
import time
import urllib.request

ORGS = 31
SITES_PER_ORG = 20


def call(base, method, path, token=None, body=None, ctype="application/json"):
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", ctype)
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def must(res, what):
    status, body = res
    if status >= 300:
        sys.exit(f"{what}: {status} {body}")
    return body


def setup(base, password, out):
    token = must(call(base, "POST", "/api/v1/auth/login", body={"username": "admin", "password": password}), "login")["token"]
    orgs = "org_code,name,parent_code\nGROUP,Group,\n" + "".join(f"P{i:02},Province {i},GROUP\n" for i in range(ORGS))
    must(call(base, "POST", "/api/v1/reference/orgs", token, orgs, "text/csv"), "orgs")
    fac = "facility_code,name,type,org_code,province\n"
    for i in range(ORGS):
        fac += f"DC{i:02},DC {i},data_center,P{i:02},广东\n"
        fac += "".join(f"S{i:02}{j:03},Site {j},base_station_4g,P{i:02},广东\n" for j in range(SITES_PER_ORG))
    must(call(base, "POST", "/api/v1/reference/facilities", token, fac, "text/csv"), "facilities")
    meters = "meter_code,facility_code,role,kind\n"
    for i in range(ORGS):
        meters += f"DC{i:02}-TOT,DC{i:02},total_facility,counter\nDC{i:02}-IT,DC{i:02},it_load,counter\n"
        meters += "".join(f"S{i:02}{j:03}-M,S{i:02}{j:03},grid_import,counter\n" for j in range(SITES_PER_ORG))
    must(call(base, "POST", "/api/v1/meters", token, meters, "text/csv"), "meters")
    for i in range(ORGS):
        f = must(call(base, "POST", "/api/v1/filings", token, {"org_code": f"P{i:02}", "period": "2024-01"}), "filing")
        fid = f["filing"]["id"] if "filing" in f else f["id"]
        rows = "facility_code,period,carrier,quantity,unit,source_document\n" + "".join(
            f"S{i:02}{j:03},2024-01,electricity,{1000 + j},kWh,bill-{i}-{j}\n" for j in range(SITES_PER_ORG))
        must(call(base, "POST", f"/api/v1/filings/{fid}/upload", token, rows, "text/csv"), "upload")
        must(call(base, "POST", f"/api/v1/filings/{fid}/submit", token), "submit")
        must(call(base, "POST", f"/api/v1/filings/{fid}/approve", token), "approve")
    must(call(base, "POST", "/api/v1/inventories", token, {"org_code": "GROUP", "year": 2024}), "inventory")
    with open(f"{out}/orgs.txt", "w") as fh:
        fh.write("GROUP\n" + "".join(f"P{i:02}\n" for i in range(ORGS)))
    with open(f"{out}/token", "w") as fh:
        fh.write(token)
    # The meters the telemetry load posts to.
    with open(f"{out}/meters.txt", "w") as fh:
        for line in meters.splitlines()[1:]:
            fh.write(line.split(",")[0] + "\n")


def telemetry(token, readings, batch, writers, meters_file, bases):
    meters = [m.strip() for m in open(meters_file) if m.strip()]
    batches = readings // batch
    lat, lock, ok = [], threading.Lock(), [0]
    t0 = 1_714_492_800_000

    def writer(w):
        import http.client
        conns = {}
        for k in range(w, batches, writers):
            base = bases[k % len(bases)]
            host = base.split("//")[1]
            # Batch k: BATCH readings, consecutive meters, the quarter hour k // (meters / batch).
            per_q = max(1, len(meters) // batch)
            q, part = divmod(k, per_q)
            ts = t0 + q * 900_000
            lines = ["meter,ts,value"]
            for i in range(batch):
                m = meters[(part * batch + i) % len(meters)]
                lines.append(f"{m},{ts},{q * 10 + (i % 7)}")
            body = "\n".join(lines) + "\n"
            start = time.perf_counter()
            try:
                c = conns.get(host) or http.client.HTTPConnection(host, timeout=120)
                conns[host] = c
                c.request("POST", "/api/v1/telemetry/readings", body,
                          {"content-type": "text/csv", "authorization": "Bearer " + token})
                r = c.getresponse()
                r.read()
                good = r.status == 200
            except Exception:
                conns.pop(host, None)
                good = False
            took = time.perf_counter() - start
            with lock:
                lat.append(took)
                if good:
                    ok[0] += batch

    start = time.perf_counter()
    ts = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - start
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1000
    print(f"RESULT readings={ok[0]} of={batches * batch} wall_s={wall:.2f} per_s={ok[0] / wall:.0f} "
          f"p50_ms={pct(0.50):.1f} p99_ms={pct(0.99):.1f} max_ms={lat[-1] * 1000:.1f}")


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "telemetry":
        telemetry(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7:])
