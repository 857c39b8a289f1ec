"""Shared test fixtures. ../shared (real public data) is read in place and tests skip where absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARMONY_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (real public test data lives there)")
    return SHARED


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Sample datasets are built into a per-session cache, never the user's home."""
    cache = tmp_path_factory.mktemp("harmony_cache")
    old = os.environ.get("HARMONY_CACHE")
    os.environ["HARMONY_CACHE"] = str(cache)
    os.environ.setdefault("MPLBACKEND", "Agg")
    yield cache
    if old is None:
        os.environ.pop("HARMONY_CACHE", None)
    else:
        os.environ["HARMONY_CACHE"] = old


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def run_cli(args: list[str]):
    """Run the `harmony` CLI in-process; returns (exit_code, stdout+stderr text)."""
    import contextlib
    import io

    from harmony.cli import main

    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            main(list(args))
        except SystemExit as exc:  # main() exits with the command's code
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, buf.getvalue()


@pytest.fixture
def cli():
    """``code, output = cli([...])``: the harmony CLI run in-process."""
    return run_cli


@pytest.fixture(scope="session")
def dask_cluster():
    """A real dask.distributed LocalCluster on loopback (2 worker processes), shared by the session.

    Yields the scheduler address (``tcp://127.0.0.1:PORT``), as a user passes it to ``--scheduler``.
    """
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
