"""Helpers for the study-server tests: a study folder, a real `harmony study serve` subprocess, HTTP calls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np

from .conftest import free_port

EVIL = "<script>alert(1)</script>.jpg"
METHODS = ["composite", "dih", "ours"]


def _photo(k: int) -> np.ndarray:
    from PIL import Image

    from harmony.datagen.samples import photo_path

    names = ["chelsea", "coffee", "rocket", "astronaut"]
    im = Image.open(photo_path(names[k % len(names)])).convert("RGB")
    im.thumbnail((480, 360))
    return np.asarray(im)


def make_study_dir(root: Path, *, images=("img1", "img2", "img3", EVIL), methods=METHODS, sentinels=4, seed=0,
                   photos=False):
    """Images under root/imgs/<method>/<image_id>(.png) and a task list root/tasks.csv (study pairs)."""
    from PIL import Image

    from harmony.benchmark.userstudy import make_pairs

    rng = np.random.default_rng(seed)
    names = list(methods) + (["real", "sentinel_retouch"] if sentinels else [])
    for k, i in enumerate(images):
        base = _photo(k) if photos else None
        for mi, m in enumerate(names):
            p = root / "imgs" / m / (i if i.endswith(".jpg") else i + ".png")
            p.parent.mkdir(parents=True, exist_ok=True)
            if base is None:
                arr = (rng.random((24, 32, 3)) * 255).astype("uint8")
            else:   # a fake composite: a box in the middle with a colour cast that shrinks with the method
                arr = base.astype(np.float32)
                h, w = arr.shape[:2]
                box = (slice(h // 4, 3 * h // 4), slice(w // 3, 2 * w // 3))
                cast = {"real": 0.0, "sentinel_retouch": 1.0}.get(m, 0.45 - 0.15 * mi)
                arr[box] = arr[box] * (1 - cast) + np.array([255, 140, 40]) * cast
                arr = np.clip(arr, 0, 255).astype("uint8")
            Image.fromarray(arr).save(p)
    df = make_pairs(list(methods), list(images), sentinels=sentinels, rng=seed)
    df.to_csv(root / "tasks.csv", index=False)
    return root / "tasks.csv", root / "imgs"


class Server:
    """`python -m harmony study serve ...` in a subprocess on loopback; stop() or kill() it."""

    def __init__(self, tasks, images, db, *extra, token="T0KEN", port=None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = token
        cmd = [sys.executable, "-m", "harmony", "study", "serve", str(tasks), "--images", str(images), "--db", str(db),
               "--port", str(self.port), "--admin-token", token, *map(str, extra)]
        self.log = open(Path(str(db)) .with_suffix(".log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{Path(str(db)).with_suffix('.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                self.kill()
                raise RuntimeError("server did not start in 60 s")
            time.sleep(0.1)

    def request(self, method, path, body=None, session="", headers=None, raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        h = {"Content-Type": "application/json", "X-Session": session, **(headers or {})}
        req = urllib.request.Request(self.base + path, method=method, data=data, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def json(self, method, path, body=None, session=""):
        status, data, _ = self.request(method, path, body, session)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"_raw": data.decode(errors="replace")}

    def session(self, **params):
        status, j = self.json("POST", "/api/session", {"consent": True, "params": params})
        assert status == 200, j
        return j["session"]

    def vote(self, session, token, choice="left", vote_id=None):
        v = {"vote_id": vote_id or uuid.uuid4().hex, "token": token, "choice": choice, "response_ms": 321}
        return self.json("POST", "/api/vote", v, session)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def db_votes(db) -> list[tuple]:
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT vote_id, token, rater_id, task_id, choice FROM votes").fetchall()
    finally:
        con.close()
