"""Shared test fixtures and helpers: only what two or more test files use.

../shared (real public data) is read in place and tests skip where absent. Helpers are plain functions
(import them with ``from .conftest import NAME``); fixtures are found by pytest.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# The real public test data, read in place. This is the one place that locates it (tests/test_docstrings.py
# checks that no other test, doc or README line cites ../shared); HARMONY_SHARED points elsewhere.
SHARED = Path(os.environ.get("HARMONY_SHARED", REPO.parent / "shared"))

# Citations users cannot follow: the maintainers' internal notes, the papers' local copies (by seed number,
# seeds/ path or file id) and the maintainers' data folder. Examples: tests/test_docstrings.py.
UNAVAILABLE_CITATION = re.compile(r"REFERENCE(\.md)?\b|\bseeds?[ /]0\d\d\b|\b\d{3}_[0-9a-f]{16}\b|\.\./shared")


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


# --- generators: one sample run per generator, shared by the session -------------------------------------

# Arguments that keep each generator's sample-data run small (the ones scripts/demo.sh uses).
SAMPLE_ARGS = {
    "coco": [], "fivek": ["--per-mask", "3"], "day2night": [], "retouched": [], "flickr": [],
    "real": ["--pairs", "8"], "rendered": [],
}


def generate_sample(root: Path, name: str) -> None:
    """``harmony datagen NAME --out ROOT`` on the generator's embedded sample data, in-process."""
    code, text = run_cli(["datagen", name, "--out", str(root), "--workers", "0", *SAMPLE_ARGS.get(name, [])])
    assert code == 0, text


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """``generated(name)``: the root of one generator's sample output, built once per session.

    Read-only for the tests that share it: copy what you change.
    """
    roots: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in roots:
            root = tmp_path_factory.mktemp(f"gen-{name}")
            generate_sample(root, name)
            roots[name] = root
        return roots[name]

    return get


def output_files(root: Path) -> dict[str, bytes]:
    """Every output file under ``root`` except the resumable-run bookkeeping (``.harmony/``), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".harmony" not in p.parts}


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- torch ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: on 2 shared cores, 2 threads per process oversubscribe and run 10x slower."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def torch_batch(size: int = 32, n: int = 2, seed: int = 0) -> dict:
    """A training batch of ``n`` random ``size``-square images: composite, a rectangle mask, real."""
    import torch

    g = torch.Generator().manual_seed(seed)
    comp = torch.rand(n, 3, size, size, generator=g)
    mask = torch.zeros(n, 1, size, size)
    mask[:, :, size // 4: 3 * size // 4, size // 4: size // 2] = 1.0
    real = torch.rand(n, 3, size, size, generator=g)
    return {"composite": comp, "mask": mask, "real": real}


# --- metrics: independent references ---------------------------------------------------------------------

def ssim_map_reference(x, y, window, sigma, mode, data_range):
    """Independent SSIM map: scipy 2-D convolution with an explicit Gaussian kernel (Wang et al. 2004, Eq. 13)."""
    from scipy.signal import convolve2d

    ax = np.arange(window) - window // 2
    g = np.exp(-(ax ** 2) / (2 * sigma ** 2))
    k = np.outer(g, g)
    k /= k.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    maps = []
    for c in range(3):
        a, b = x[..., c].astype(np.float64), y[..., c].astype(np.float64)
        f = lambda z: convolve2d(z, k, mode=mode)  # noqa: E731 (symmetric kernel: conv == correlation)
        mu1, mu2 = f(a), f(b)
        s1, s2, s12 = f(a * a) - mu1 ** 2, f(b * b) - mu2 ** 2, f(a * b) - mu1 * mu2
        maps.append(((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2)))
    return np.stack(maps, axis=2)


def write_random_lpips_weights(folder: Path, seed: int = 0):
    """Random AlexNet-LPIPS weights in the two files LPIPS.from_env reads (no download): (backbone, lins)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    shapes = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3),
              10: (256, 256, 3, 3)}
    backbone = {}
    for i, shp in shapes.items():
        backbone[f"features.{i}.weight"] = torch.randn(shp, generator=g) * 0.05
        backbone[f"features.{i}.bias"] = torch.randn(shp[0], generator=g) * 0.01
    backbone["classifier.1.weight"] = torch.zeros(2, 2)  # ignored keys are fine
    lins = {f"lin{i}.model.1.weight": torch.rand((1, c, 1, 1), generator=g) for i, c in
            enumerate((64, 192, 384, 256, 256))}
    torch.save(backbone, folder / "alexnet.pth")
    torch.save(lins, folder / "alex.pth")
    return backbone, lins
