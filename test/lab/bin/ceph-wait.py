#!/usr/bin/python3
"""Waits until the lab cluster is really ready (LAB.md: HEALTH_OK alone is not):

    ceph-wait.py CONF OSDS TIMEOUT_S

Ready = OSDS OSDs exist, all up and in; the mgr is available; at least one PG and every PG
active+clean, read after the up OSDs flushed their PG stats to the mgr (`tell osd.* flush_pg_stats`,
then `pg dump osds` until the mgr holds those seqs: its view lags up to mgr_stats_period otherwise);
no pg_temp left in the OSD map; HEALTH_OK. Prints each new state; exit 1 on timeout.
"""
import json
import subprocess
import sys
import time

conf, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])


def ceph(*args):
    r = subprocess.run(["ceph", "-c", conf, "--connect-timeout", "10", *args], capture_output=True, text=True)
    return r.returncode, r.stdout


def state():
    rc, out = ceph("osd", "dump", "-f", "json")
    if rc != 0:
        return False, "mon not answering"
    dump = json.loads(out)
    osds = dump["osds"]
    up = [o["osd"] for o in osds if o["up"]]
    nin = sum(1 for o in osds if o["in"])
    # One call flushes every up OSD ("osd.N: <seq>" lines; ENXIO for the down ones), one call
    # per round reads the seqs the mgr holds.
    seqs = {}
    if up:
        rc, out = ceph("tell", "osd.*", "flush_pg_stats")
        for line in out.splitlines():
            name, _, seq = line.partition(":")
            if name.startswith("osd.") and seq.strip().isdigit():
                seqs[int(name[4:])] = int(seq.strip())
    for _ in range(100):
        rc, out = ceph("pg", "dump", "osds", "-f", "json")
        if rc != 0:
            break
        doc = json.loads(out)
        held = {e["osd"]: e.get("seq", 0) for e in (doc if isinstance(doc, list) else doc.get("osd_stats", []))}
        if all(held.get(o, 0) >= seq for o, seq in seqs.items()):
            break
        time.sleep(0.1)
    rc, out = ceph("status", "-f", "json")
    if rc != 0:
        return False, "status failed"
    s = json.loads(out)
    pgs = s["pgmap"].get("num_pgs", 0)
    by = {x["state_name"]: x["count"] for x in s["pgmap"].get("pgs_by_state", [])}
    health = s["health"]["status"]
    mgr = s["mgrmap"]["available"]
    line = "osds %d/%d up %d in, mgr %s, pgs %s, pg_temp %d, %s" % (
        len(up), len(osds), nin, "up" if mgr else "down", by or pgs, len(dump["pg_temp"]), health)
    if health != "HEALTH_OK":
        line += " " + ",".join(sorted(s["health"].get("checks", {}).keys()))
    ok = (len(osds) == want and len(up) == want and nin == want and mgr and pgs > 0
          and by.get("active+clean", 0) == pgs and not dump["pg_temp"] and health == "HEALTH_OK")
    return ok, line


t0 = time.time()
last = None
while True:
    ok, line = state()
    if line != last:
        print("[ceph-wait %5.1fs] %s" % (time.time() - t0, line), flush=True)
        last = line
    if ok:
        sys.exit(0)
    if time.time() - t0 > timeout:
        print("[ceph-wait] not ready after %ds" % timeout, flush=True)
        sys.exit(1)
    time.sleep(0.5)
