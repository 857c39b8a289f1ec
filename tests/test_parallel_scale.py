"""Scale behaviour of harmony.parallel / datagen.runner: progress lines in logs, workers that
die, signals, parent death, the unit journal, `check` on an interrupted run, a Dask worker killed mid-run.

The CLI runs use a 5,000-image COCO-format file built by benchmarks/scale_data.py (the same builder the
train2017-size benchmark uses), with file names symlinked to a few real photos.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harmony import dataset as ds
from harmony.parallel import Interrupted, map_units, process_alive
from harmony.progress import Progress, progress_line

from .conftest import free_port
from .conftest import output_files as _files

REPO = Path(__file__).resolve().parents[1]
psutil = pytest.importorskip("psutil")

LINE_RE = re.compile(r"^datagen coco [\d,]+/5,000 \(\d+\.\d %\), \d+\.\d/s, ETA (\d+:\d\d:\d\d|\?)$", re.M)


def _scale_data():
    spec = importlib.util.spec_from_file_location("harmony_bench_scale_data", REPO / "benchmarks" / "scale_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def coco5k(tmp_path_factory):
    """(images, annotations) of a 5,000-image COCO file (about 37,500 polygon annotations)."""
    return _scale_data().build_coco(tmp_path_factory.mktemp("coco5k"), 5000)


@pytest.fixture(scope="module")
def coco_small(tmp_path_factory):
    return _scale_data().build_coco(tmp_path_factory.mktemp("coco40"), 40, seed=3)


def _journal_lines(subset_dir: Path) -> int:
    try:
        return (subset_dir / ds.JOURNAL).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _alive(procs) -> list:
    """The processes (``psutil.Process``) still running: neither gone nor zombies."""
    return [p for p in procs if process_alive(p.pid)]


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONUNBUFFERED="1", **extra)


def _harmony(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harmony", *args], **kw)


# --- progress -------------------------------------------------------------------------------------

def test_progress_line_format_hand_computed():
    # 12,345 done in 12,345/17.2 s: 17.2/s; (118,287 - 12,345) / 17.2 = 6,159.4 s = 1 h 42 min 39 s.
    line = progress_line("units", 12345, 118287, 12345 / 17.2)
    assert line == "units 12,345/118,287 (10.4 %), 17.2/s, ETA 1:42:39"
    assert progress_line("units", 0, 10, 0.0) == "units 0/10 (0.0 %), 0.0/s, ETA ?"


def test_plain_progress_lines_are_rate_limited():
    buf = io.StringIO()
    bar = Progress(total=100, desc="units", file=buf, interval=0.3, tty=False)
    for _ in range(5):
        bar.update(1)
    assert buf.getvalue() == ""          # nothing before the interval has passed
    time.sleep(0.35)
    bar.update(1)
    bar.update(1)                        # right after a line: no second line
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("units 6/100 (6.0 %), ")
    quiet = io.StringIO()
    with Progress(total=3, file=quiet, interval=0.0, tty=False, enabled=False) as q:
        q.update(3)
    assert quiet.getvalue() == ""


def _sleepy(x: int) -> int:
    time.sleep(0.05)
    return x


def test_map_units_prints_plain_lines_when_stderr_is_not_a_tty(capfd, monkeypatch):
    monkeypatch.setenv("HARMONY_PROGRESS_INTERVAL", "0.1")
    results = list(map_units(_sleepy, list(range(12)), workers=0, desc="units", key=str))
    assert len(results) == 12
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines, "no progress line in a non-TTY stderr"
    assert all(re.fullmatch(r"units [\d,]+/12 \(\d+\.\d %\), \d+\.\d/s, ETA (\d+:\d\d:\d\d|\?)", ln) for ln in lines)
    assert "\r" not in err   # no bar redraws in a log file


# --- workers that die -----------------------------------------------------------------------------

def _die_on(unit: tuple[str, str]) -> str:
    name, marker = unit
    if name == "poison":
        os.kill(os.getpid(), signal.SIGKILL)
    if name == "flaky" and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.02)
    return f"{name} ok"


def _first(unit: tuple) -> str:
    return unit[0]


def test_killed_worker_unit_retried_once_then_reported_and_run_continues(tmp_path):
    marker = str(tmp_path / "flaky-died-once")
    names = ["a", "b", "poison", "c", "d", "flaky", "e", "f", "g", "h"]
    results = {r.key: r for r in map_units(_die_on, [(n, marker) for n in names], workers=2, progress=False,
                                           key=_first, batch_size=2)}
    assert sorted(results) == sorted(names)
    assert not results["poison"].ok
    assert "SIGKILL" in results["poison"].error and "retried once" in results["poison"].error
    assert results["flaky"].ok and results["flaky"].value == "flaky ok"   # died once, fine on the retry
    assert os.path.exists(marker)
    assert all(results[n].ok for n in names if n != "poison")              # units queued behind are not blamed


def _rss_mb(_unit) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_do_not_hold_the_parents_memory():
    ballast = bytearray(os.urandom(1 << 20)) * 400   # 400 MB of planning state, every page touched
    sizes = [r.value for r in map_units(_rss_mb, list(range(4)), workers=2, progress=False, key=str)]
    assert len(ballast) == 400 << 20
    assert max(sizes) < 250, f"worker RSS {max(sizes):.0f} MB: the parent's memory was copied into workers"


# --- signals and parent death -------------------------------------------------------------------------

def _start_coco(images, ann, out, workers, stderr, *extra) -> subprocess.Popen:
    return _harmony("datagen", "coco", "--images", str(images), "--annotations", str(ann), "--out", str(out),
                    "--workers", str(workers), *extra, stdout=subprocess.DEVNULL, stderr=stderr, cwd=REPO,
                    env=_env(HARMONY_PROGRESS_INTERVAL="0.5"))


def _descendants_when_running(proc: subprocess.Popen, n_workers: int, subset_dir: Path, min_done: int) -> list:
    parent = psutil.Process(proc.pid)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early (exit {proc.returncode})")
        return _journal_lines(subset_dir) >= min_done
    _wait_for(ready, 240, f"{min_done} finished units")
    kids = parent.children(recursive=True)
    assert len(kids) >= n_workers, f"expected {n_workers} worker processes, found {len(kids)}"
    return kids


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_run_no_worker_left_message_and_check(tmp_path, coco5k, cli, signum):
    images, ann = coco5k
    out = tmp_path / "out"
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        proc = _start_coco(images, ann, out, 2, err)
        try:
            kids = _descendants_when_running(proc, 2, out / "HCOCO", 3)
            # The progress interval (0.5 s) has passed at least once while units ran.
            _wait_for(lambda: LINE_RE.search(err_path.read_text()) is not None, 60, "a progress line")
            t0 = time.monotonic()
            os.kill(proc.pid, signum)
            code = proc.wait(timeout=15)
            _wait_for(lambda: not _alive(kids), max(0.1, 5.0 - (time.monotonic() - t0)), "workers to end")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = err_path.read_text()
    assert code == 128 + signum, text
    done = _journal_lines(out / "HCOCO")
    assert f"interrupted: {done} of 5000 units done; re-run the same command to resume" in text, text
    assert "Traceback" not in text and "Aborted" not in text
    if signum != signal.SIGTERM:
        return
    # `check` on the interrupted folder: names the state, checks only the finished units.
    code, text = cli(["check", str(out), "--fast"])
    assert f"HCOCO: incomplete run ({done} of 5000 units done): re-run the same command to finish" in text
    assert code == 1 and "0 errors" in text and "INCOMPLETE" in text and "missing" not in text
    reader = ds.PartialRunReader(out, ["HCOCO"])
    finished = reader.samples()
    assert finished and all(s.composite.is_file() for s in finished)
    finished[0].composite.write_bytes(b"not a jpeg")   # a damaged finished unit is found
    code, text = cli(["check", str(out)])
    assert code == 1 and "1 errors" in text and finished[0].name in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_workers_exit_when_the_parent_is_sigkilled(tmp_path):
    script = ("from harmony.parallel import map_units\n"
              "from tests.test_parallel_scale import _sleepy\n"
              "for r in map_units(_sleepy, list(range(100000)), workers=2, progress=False, key=str):\n"
              "    print(r.key, flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(5):
            assert proc.stdout.readline(), "no unit finished"
        kids = psutil.Process(proc.pid).children(recursive=True)
        assert len(kids) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        t0 = time.monotonic()
        _wait_for(lambda: not _alive(kids), 10, "workers to notice their parent's death")
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


# --- the journal and resume ----------------------------------------------------------------------------

def test_journal_is_crash_safe_and_resume_reads_no_unit_record(tmp_path):
    layout = ds.SubsetLayout(tmp_path, "HCOCO", "c")
    j = ds.UnitJournal(layout)
    j.append(["c1", "c2"])
    j.close()
    with open(layout.dir / ds.JOURNAL, "ab") as fh:
        fh.write(b'"c3')                       # a line cut by a crash
    assert ds.UnitJournal(layout).keys() == {"c1", "c2"}
    j = ds.UnitJournal(layout)
    j.append(["c4"])                           # continues on a fresh line after the cut one
    j.close()
    assert ds.UnitJournal(layout).keys() == {"c1", "c2", "c4"}
    # Finished units come from the journal alone: no record file exists for them here.
    assert not (layout.dir / ds.UNITS_DIR).exists()
    assert ds.finished_keys(layout, ["c1", "c2", "c3", "c4", "c5"]) == {"c1", "c2", "c4"}
    # A record whose journal line was lost (killed between the two writes) is found and journalled.
    layout.write_unit("c5", {"rows": []})
    assert ds.finished_keys(layout, ["c1", "c5"]) == {"c1", "c2", "c4", "c5"}
    assert "c5" in ds.UnitJournal(layout).keys()


def test_interrupted_run_resumes_from_journal_byte_identical(tmp_path, coco_small, cli):
    images, ann = coco_small
    common = ["--images", str(images), "--annotations", str(ann), "--methods", "gct,hgm", "--quiet"]
    full = tmp_path / "full"
    code, text = cli(["datagen", "coco", "--out", str(full), "--workers", "0", *common])
    assert code == 0, text
    part = tmp_path / "part"
    proc = _harmony("datagen", "coco", "--out", str(part), "--workers", "2", *common, cwd=REPO, env=_env(),
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _journal_lines(part / "HCOCO") >= 3 or proc.poll() is not None, 120, "3 units")
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=15)
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert code == 143, err
    done = _journal_lines(part / "HCOCO")
    assert 3 <= done < 40
    assert not (part / "HCOCO" / "manifest.csv").exists()
    code, text = cli(["datagen", "coco", "--out", str(part), "--workers", "2", *common])
    assert code == 0, text
    assert f"{done} already done" in text
    assert _files(part) == _files(full)
    state = ds.run_state(part / "HCOCO")
    assert state == (40, 40, True)


# --- Dask: real `dask scheduler` / `dask worker` processes -------------------------------------------

@pytest.fixture
def dask_cli_cluster(tmp_path):
    """A `dask scheduler` and 2 `dask worker` CLI processes on loopback (each in its own session)."""
    pytest.importorskip("distributed")
    dask_bin = Path(sys.executable).with_name("dask")
    if not dask_bin.exists():
        pytest.skip("the dask command line is not installed")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask_logs"
    logs.mkdir()
    procs = []

    def start(name, *args):
        fh = open(logs / f"{name}.log", "w")
        p = subprocess.Popen([str(dask_bin), *args], stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                             env=_env(), start_new_session=True)
        procs.append((p, fh))
        return p

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        workers = [start(f"worker{i}", "worker", address, "--nthreads", "1", "--nworkers", "1",
                         "--no-dashboard", "--host", "127.0.0.1") for i in range(2)]
        from dask.distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for p, _fh in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p, fh in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            fh.close()


def test_dask_worker_killed_mid_run_output_byte_identical(tmp_path, coco_small, cli, dask_cli_cluster):
    address, workers = dask_cli_cluster
    images, ann = coco_small
    common = ["--images", str(images), "--annotations", str(ann), "--methods", "gct,hgm", "--quiet"]
    local = tmp_path / "local"
    code, text = cli(["datagen", "coco", "--out", str(local), "--workers", "0", *common])
    assert code == 0, text
    out = tmp_path / "dask"
    proc = _harmony("datagen", "coco", "--out", str(out), "--scheduler", address, *common, cwd=REPO, env=_env(),
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: _journal_lines(out / "HCOCO") >= 4 or proc.poll() is not None, 180, "4 units on Dask")
        assert proc.poll() is None, "the run ended before a worker could be killed"
        os.killpg(workers[0].pid, signal.SIGKILL)    # the worker and its nanny, as a node failure would
        workers[0].wait(timeout=10)
        stdout, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = stdout.decode()
    assert proc.returncode == 0, text
    assert "0 failed" in text
    assert _journal_lines(out / "HCOCO") >= 40
    assert _files(out) == _files(local)


def test_interrupted_reports_counts():
    exc = Interrupted(signal.SIGTERM, 12, 40)
    assert exc.exit_code == 143 and Interrupted(signal.SIGINT).exit_code == 130
    assert exc.message() == "interrupted: 12 of 40 units done; re-run the same command to resume"


# --- planning at scale: the area-bound shortcut selects exactly what exact areas select ------------------

@pytest.mark.parametrize("objects,lo,hi", [("largest", 0.05, 0.8), ("all", 0.01, 0.3)])
def test_planner_selection_equals_exact_pycocotools_areas(coco5k, objects, lo, hi):
    """Independent reference: every annotation rasterised with pycocotools (as COCO.annToRLE + area)."""
    import json

    from pycocotools import mask as mask_utils

    from harmony.datagen.coco import CocoOptions, plan_units

    images, ann = coco5k
    data = json.loads(Path(ann).read_text())
    n = 1500   # the first 1,500 annotated images (about 11,000 annotations) keep the test fast
    units, stats = plan_units(data, images, CocoOptions(objects=objects, min_fg_ratio=lo, max_fg_ratio=hi,
                                                        max_images=n))
    size = {im["id"]: (im["height"], im["width"]) for im in data["images"]}
    kept = set(sorted({a["image_id"] for a in data["annotations"]})[:n])
    groups: dict = {}
    empty = 0
    for a in sorted(data["annotations"], key=lambda a: a["id"]):
        if a["image_id"] not in kept:
            continue
        h, w = size[a["image_id"]]
        polys = [p for p in a["segmentation"] if len(p) >= 6]
        area = int(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))) if polys else 0
        if area == 0:
            empty += 1
            continue
        groups.setdefault((a["image_id"], a["category_id"]), []).append((area / (h * w), a["id"]))
    expected = set()
    for (img, _cat), items in groups.items():
        if objects == "largest":
            items = [max(items, key=lambda t: t[0])]
        expected |= {(img, aid) for r, aid in items if lo <= r <= hi}
    got = {(u.image_id, t.annotation_id) for u in units for t in u.targets}
    no_ref = stats.no_reference
    assert stats.empty == empty
    assert got <= expected and len(expected) - len(got) == no_ref
    assert len(got) > 300
