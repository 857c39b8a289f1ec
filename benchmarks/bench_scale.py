"""`harmony datagen coco` at COCO train2017 scale: planning, memory, resume, throughput, SIGTERM.

Builds (once, under ``--workdir``, never in the repository) a COCO-format file of train2017's size:
118,287 images, ~887,000 polygon annotations, ``file_name``s symlinked to a few real 640x480 JPEGs
(see ``scale_data.py``), then measures with the real command line:

1. planning: load + validate the JSON, select objects, choose references (in one process; peak RSS);
2. memory: a ``--workers 2`` run's parent peak RSS and every process's proportional set size (PSS), and
   the projection to 16 workers (parent + 16 x the largest worker);
3. SIGTERM: time from SIGTERM to the parent until no process of the run is left;
4. resume: time from start to the first new unit with 10 % and 90 % of the units done (a journal of
   that many finished units is written first), against the planning time;
5. throughput on a 400-image file: 1 and 2 local workers, 1 and 2 Dask workers (real ``dask scheduler``
   and ``dask worker --nthreads 1`` processes on loopback), with their ratios to the single local
   worker, and a byte-identity check of the Dask output against the local one.

The machine is shared: run it under ``nice`` and read the ratios, not the absolute times.

    nice python benchmarks/bench_scale.py --workdir /tmp/harmony_scale
    nice python benchmarks/bench_scale.py --workdir /tmp/harmony_scale --images 5000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harmony.parallel import process_alive

HERE = Path(__file__).resolve().parent


def _scale_data():
    import importlib.util

    spec = importlib.util.spec_from_file_location("harmony_bench_scale_data", HERE / "scale_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PLAN_SNIPPET = r"""
import json, resource, sys, time
from harmony import io as hio
from harmony.datagen import coco
t0 = time.perf_counter()
data = coco.load_annotations(sys.argv[1])
hio.sha256_file(sys.argv[1])
t1 = time.perf_counter()
units, stats = coco.plan_units(data, sys.argv[2], coco.CocoOptions())
t2 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "plan_s": t2 - t1, "total_s": t2 - t0, "cpu_s": time.process_time(),
                  "units": len(units),
                  "objects": stats.objects, "annotations": len(data["annotations"]),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def harmony_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harmony", *args]


def journal_lines(out: Path) -> int:
    try:
        return (out / "HCOCO" / ".harmony" / "journal.txt").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def alive(procs) -> list:
    """The processes (``psutil.Process``) still running: neither gone nor zombies."""
    return [p for p in procs if process_alive(p.pid)]


def pss_mb(p: psutil.Process) -> float:
    try:
        return p.memory_full_info().pss / 2**20
    except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
        return float("nan")


def measure_planning(images: Path, ann: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", PLAN_SNIPPET, str(ann), str(images)], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_and_sigterm(images: Path, ann: Path, out: Path, sample_s: float) -> dict:
    """A --workers 2 run: PSS of every process while units run, parent peak RSS, SIGTERM to no process."""
    shutil.rmtree(out, ignore_errors=True)
    t_start = time.monotonic()
    proc = subprocess.Popen(harmony_cmd("datagen", "coco", "--images", str(images), "--annotations", str(ann),
                                        "--out", str(out), "--workers", "2"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parent = psutil.Process(proc.pid)
    while journal_lines(out) < 1:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        time.sleep(0.2)
    t_first = time.monotonic() - t_start
    parent_pss, worker_pss, server_pss, n_workers = 0.0, 0.0, 0.0, 0
    t_end = time.monotonic() + sample_s
    kids = []
    while time.monotonic() < t_end:
        parent_pss = max(parent_pss, pss_mb(parent))
        # Workers are the children of the forkserver (itself a child of the parent).
        for server in parent.children():
            try:
                if "forkserver" not in " ".join(server.cmdline()):
                    continue
                server_pss = max(server_pss, pss_mb(server))
                workers = server.children()
            except psutil.NoSuchProcess:
                continue
            n_workers = max(n_workers, len(workers))
            for k in workers:
                worker_pss = max(worker_pss, pss_mb(k))
        time.sleep(1.0)
    done_before = journal_lines(out)
    kids = parent.children(recursive=True)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    while alive(kids) and time.monotonic() - t0 < 30:
        time.sleep(0.02)
    t_gone = time.monotonic() - t0
    err = proc.stderr.read().decode()
    return {"first_unit_s": t_first, "parent_pss_mb": parent_pss, "worker_pss_mb": worker_pss,
            "forkserver_pss_mb": server_pss, "workers_seen": n_workers,
            "parent_peak_rss_mb": usage.ru_maxrss / 1024, "sigterm_to_gone_s": t_gone,
            "exit_code": proc.returncode, "processes": len(kids) + 1, "units_done": done_before,
            "message": [ln for ln in err.splitlines() if ln.startswith("interrupted")][-1:]}


def resume_latency(images: Path, ann: Path, out: Path, fraction: float, keys: list[str]) -> float:
    """Start-to-first-new-unit with ``fraction`` of the units already in the journal."""
    hdir = out / "HCOCO" / ".harmony"
    done = keys[: int(round(fraction * len(keys)))]
    (hdir / "journal.txt").write_text("".join(json.dumps(k) + "\n" for k in done))
    before = len(done)
    t0 = time.monotonic()
    proc = subprocess.Popen(harmony_cmd("datagen", "coco", "--images", str(images), "--annotations", str(ann),
                                        "--out", str(out), "--workers", "2", "--quiet"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while journal_lines(out) <= before:
            if proc.poll() is not None:
                raise RuntimeError(f"resume run ended early ({proc.returncode})")
            time.sleep(0.05)
        return time.monotonic() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throughput(images: Path, ann: Path, workdir: Path) -> dict:
    """composites/s of the map phase (from the run summary) for local and Dask runs of the same file."""
    def run(out: Path, *extra: str) -> tuple[float, float]:
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.monotonic()
        r = subprocess.run(harmony_cmd("datagen", "coco", "--images", str(images), "--annotations", str(ann),
                                       "--out", str(out), "--quiet", *extra), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stdout + r.stderr)
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("made ")][0]
        rate = float(line.rsplit("(", 1)[1].split()[0])
        return rate, time.monotonic() - t0

    def tree(root: Path) -> dict:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and ".harmony" not in p.parts}

    res = {}
    res["local_1"] = run(workdir / "t_local1", "--workers", "1")
    res["local_2"] = run(workdir / "t_local2", "--workers", "2")
    dask_bin = str(Path(sys.executable).with_name("dask"))
    for n in (1, 2):
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        procs = [subprocess.Popen([dask_bin, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)]
        try:
            for _ in range(n):
                procs.append(subprocess.Popen([dask_bin, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                               "--no-dashboard", "--host", "127.0.0.1"],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                              start_new_session=True))
            from dask.distributed import Client

            with Client(address, timeout=60) as c:
                c.wait_for_workers(n, timeout=120)
                # Warm the workers (imports), as a standing cluster is.
                c.run(lambda: __import__("harmony.datagen.coco"))
            res[f"dask_{n}"] = run(workdir / f"t_dask{n}", "--scheduler", address)
        finally:
            for p in reversed(procs):
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
    res["dask_identical_to_local"] = tree(workdir / "t_dask2") == tree(workdir / "t_local2")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/harmony_scale", help="where the data and outputs go (not the repo)")
    ap.add_argument("--images", type=int, default=118_287, help="images in the big COCO file")
    ap.add_argument("--throughput-images", type=int, default=400)
    ap.add_argument("--sample-s", type=float, default=20.0, help="seconds of PSS sampling during the run")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: plan,memory,resume,throughput")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    sd = _scale_data()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    t = time.monotonic()
    images, ann = sd.build_coco(work / f"coco{args.images}", args.images)
    print(f"data: {ann} ({ann.stat().st_size / 1e6:.0f} MB), built/reused in {time.monotonic() - t:.0f} s", flush=True)
    out = work / "out_big"
    plan = None
    if "plan" not in skip:
        plan = measure_planning(images, ann)
        print(f"planning: load+validate+sha256 {plan['load_s']:.1f} s, select+references {plan['plan_s']:.1f} s, "
              f"total {plan['total_s']:.1f} s wall, {plan['cpu_s']:.1f} s CPU (target <= 60 s); "
              f"{plan['annotations']:,} annotations, "
              f"{plan['units']:,} units, {plan['objects']:,} objects; peak RSS {plan['peak_rss_mb']:.0f} MB",
              flush=True)
    if "memory" not in skip:
        m = run_and_sigterm(images, ann, out, args.sample_s)
        print(f"run --workers 2: first unit after {m['first_unit_s']:.1f} s; parent peak RSS "
              f"{m['parent_peak_rss_mb']:.0f} MB (target <= 3,584), parent PSS {m['parent_pss_mb']:.0f} MB, "
              f"largest worker PSS {m['worker_pss_mb']:.0f} MB of {m['workers_seen']} workers (target <= 300), "
              f"forkserver PSS {m['forkserver_pss_mb']:.0f} MB", flush=True)
        print(f"projected 16 workers: {m['parent_pss_mb'] + 16 * m['worker_pss_mb']:,.0f} MB "
              "(parent PSS + 16 x largest worker PSS)", flush=True)
        print(f"SIGTERM: exit {m['exit_code']}, {m['processes']} processes gone after {m['sigterm_to_gone_s']:.2f} s "
              f"(target <= 5 s); {m['message']}", flush=True)
    if "resume" not in skip:
        if not (out / "HCOCO" / "run.json").is_file():
            raise SystemExit("resume needs the memory part's output folder (do not skip memory)")
        # Unit keys as the generator names them: c<image id>, for the annotated images in id order.
        import re

        data_ids = sorted({int(m) for m in re.findall(rb'"image_id": (\d+)', ann.read_bytes())})
        keys = [f"c{i}" for i in data_ids]
        ref = plan["total_s"] if plan else float("nan")
        for frac in (0.1, 0.9):
            lat = resume_latency(images, ann, out, frac, keys)
            print(f"resume with {frac:.0%} of {len(keys):,} units done: first new unit after {lat:.1f} s "
                  f"(planning {ref:.1f} s; target <= planning + 10 s; excess {lat - ref:+.1f} s)", flush=True)
    if "throughput" not in skip:
        timages, tann = sd.build_coco(work / f"coco{args.throughput_images}", args.throughput_images, seed=1)
        r = throughput(timages, tann, work)
        for k in ("local_1", "local_2", "dask_1", "dask_2"):
            print(f"throughput {k}: {r[k][0]:.1f} composites/s (run wall {r[k][1]:.1f} s)", flush=True)
        print(f"ratios: dask 2/1 workers {r['dask_2'][0] / r['dask_1'][0]:.2f}x (target >= 1.6); "
              f"dask 2 / local 2 {r['dask_2'][0] / r['local_2'][0]:.2f}x (target >= 0.8); "
              f"local 2/1 {r['local_2'][0] / r['local_1'][0]:.2f}x; "
              f"dask output byte-identical to local: {r['dask_identical_to_local']}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}; this process's peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
