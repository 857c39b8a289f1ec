"""Load on `harmony study serve`: 200 raters, 50 concurrent clients, 50 votes each, retries.

Starts the real server (a subprocess on loopback, uvicorn + Starlette + SQLite WAL) on a task list of 8
methods x 40 images, and drives it with :func:`harmony.study.loadtest.run_load`: 50 asyncio clients on
persistent connections, each taking 4 raters in turn (session, state, 50 votes); 5 % of the votes are sent
a second time with the same vote id (a lost acknowledgement / double click). After each run the database
must hold exactly the 10,000 acknowledged votes, once each (the script exits 1 otherwise).

Reported (medians over ``--repeats`` runs per design): the server process's CPU time per vote (user +
system from /proc, load-independent; its inverse is the capacity of one free core), sustained votes/s (acknowledged votes / wall time
of the run, sessions included), p50 and p99 latency of a vote (send to acknowledgement, client side), and
the ratio to the floor: the same clients fetching ``/healthz`` (an empty JSON reply: HTTP + ASGI cost
only, no database) as fast as they can in the same run. Targets of the issue: >= 500 votes/s, p99 <= 100 ms.
The client runs on the same machine as the server (2 cores shared with other work: see the load average
printed with each result).

Run: ``.venv/bin/python benchmarks/bench_study_server.py`` (``--quick``: 1 repeat).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def health_floor(base: str, clients: int = 50, requests: int = 4000) -> float:
    """Requests/s of GET /healthz through the same kind of client (HTTP + ASGI floor, no database)."""
    from urllib.parse import urlparse

    from harmony.study.loadtest import _Conn

    u = urlparse(base)

    async def one(n):
        c = _Conn(u.hostname, u.port)
        for _ in range(n):
            await c.request("GET", "/healthz")
        await c.close()

    async def main():
        t0 = time.perf_counter()
        await asyncio.gather(*(one(requests // clients) for _ in range(clients)))
        return requests / (time.perf_counter() - t0)

    return asyncio.run(main())


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc): not inflated by other jobs on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(design: str, tmp: Path, seed: int, raters: int, clients: int) -> dict:
    sys.path.insert(0, str(REPO))
    from harmony.study.loadtest import run_load
    from tests._study_util import Server, db_votes, make_study_dir

    d = tmp / f"{design}{seed}"
    d.mkdir()
    tasks, imgs = make_study_dir(d, images=[f"i{k}" for k in range(40)], methods=[f"m{k}" for k in range(8)],
                                 sentinels=0)
    srv = Server(tasks, imgs, d / "study.sqlite", "--votes-per-rater", 50, "--design", design, "--seed", seed)
    try:
        floor = health_floor(srv.base)
        cpu0 = proc_cpu_s(srv.proc.pid)
        res = run_load(srv.base, raters=raters, clients=clients, resend=0.05, seed=seed)
        cpu = proc_cpu_s(srv.proc.pid) - cpu0
    finally:
        srv.stop()
    rows = db_votes(d / "study.sqlite")
    ok = (len(rows) == len(res.acked) == raters * 50 and len({r[0] for r in rows}) == len(rows)
          and sorted(r[0] for r in rows) == sorted(res.acked))
    lat = np.array(res.latencies_ms)
    return {"votes_s": res.votes_per_s, "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "floor": floor, "ok": ok, "rows": len(rows), "acked": len(res.acked), "resent": res.resent,
            "dup_acked": res.duplicates_acked, "load": os.getloadavg()[0],
            "cpu_ms_per_vote": 1000 * cpu / len(res.acked)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--raters", type=int, default=200)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1
    tmp = Path(tempfile.mkdtemp(prefix="bench_study_"))
    failed = False
    try:
        for design in ("balanced", "asap"):
            runs = []
            for k in range(args.repeats):
                r = run_once(design, tmp, k, args.raters, args.clients)
                runs.append(r)
                print(f"  {design} run {k}: {r['votes_s']:.0f} votes/s, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms; "
                      f"floor {r['floor']:.0f} req/s; db {r['rows']} rows = {r['acked']} acknowledged "
                      f"({r['resent']} re-sent, {r['dup_acked']} acknowledged as duplicates): "
                      f"server CPU {r['cpu_ms_per_vote']:.2f} ms per vote (session and state calls included); "
                      f"{'OK' if r['ok'] else 'MISMATCH'}; load average {r['load']:.1f}")
                failed |= not r["ok"]
            med = {k: statistics.median(r[k] for r in runs) for k in ("votes_s", "p50", "p99", "floor",
                                                                       "cpu_ms_per_vote")}
            print(f"{design}: median of {len(runs)}: {med['votes_s']:.0f} votes/s (target >= 500: "
                  f"{med['votes_s'] / 500:.2f}x), p50 {med['p50']:.1f} ms, p99 {med['p99']:.1f} ms (target <= 100); "
                  f"ratio to the /healthz floor ({med['floor']:.0f} req/s): {med['votes_s'] / med['floor']:.2f}; "
                  f"server CPU {med['cpu_ms_per_vote']:.2f} ms per vote = {1000 / med['cpu_ms_per_vote']:.0f} votes/s "
                  f"per fully available core")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        print("FAILED: the database does not hold exactly the acknowledged votes")
        sys.exit(1)


if __name__ == "__main__":
    main()
