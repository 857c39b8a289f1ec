"""The bench runner, rows and report: cache keys, union of runs, background, module structure.

- Stale results: two different ``dih`` checkpoints benched into one folder; the second run must be
  recomputed (the old cache key omitted the weights and served the first checkpoint's MSE).
- Union: running again into a folder with other ``--models`` adds them; no row is dropped.
- DIH keeps the background bit-exact at 256 (its native side comes from the checkpoint).
- Package structure: every module of ``harmony.benchmark`` imports on its own, ``report`` imports
  nothing from the runner and never runs a method.

- Learned methods in batches (``--device``, ``--batch-size``): the rows equal the image-by-image rows on
  the CPU, the batch size is not part of the cache key, ``--device cuda`` without a GPU is a one-line error.

Expected metric values are recomputed here from the files with OpenCV and the iharm formulas (MSE on
256 x 256 images, as in the iHarmony4 ``evaluation.py`` of DoveNet, Cong et al. CVPR 2020), never with
harmony's metric code.
"""

from __future__ import annotations

import ast
import csv
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from harmony import io as hio

H, W = 40, 48
REPO = Path(__file__).resolve().parents[1]


def _dataset(root: Path, n: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    d = root / "HCOCO"
    names = []
    for i in range(n):
        real = rng.uniform(0.2, 0.8, (H, W, 3)).astype(np.float32)
        mask = np.zeros((H, W), np.float32)
        mask[8 + i:30 + i, 10:34] = 1.0
        comp = real.copy()
        comp[mask > 0] = np.clip(comp[mask > 0] * 0.6 + 0.3, 0, 1)
        name = f"c{i}_{i}_1.jpg"
        hio.write_image(d / "composite_images" / name, comp, quality=100)
        hio.write_mask(d / "masks" / f"c{i}_{i}.png", mask)
        hio.write_image(d / "real_images" / f"c{i}.jpg", real, quality=100)
        names.append(name)
    text = "".join(f"{n}\n" for n in names)
    (root / "HCOCO_test.txt").write_text(text)          # the layout of today's generators
    (d / "HCOCO_test.txt").write_text(text)             # and the official one (inside the subset)
    return root


def _rows(out: Path) -> list[dict]:
    with open(out / "per_image.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _iharm_mse(pred: np.ndarray, real_path: Path) -> float:
    real = cv2.imread(str(real_path))[..., ::-1]
    real = cv2.resize(real, (256, 256), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    return float(((pred.astype(np.float64) - real) ** 2).mean())


@pytest.fixture(scope="module")
def two_dih_checkpoints(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from harmony.models import checkpoint as ckpt
    from harmony.models.presets import create_model

    root = tmp_path_factory.mktemp("dih_ckpts")
    folders = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        net = create_model("dih_tiny")
        with torch.no_grad():   # a visible, different correction per checkpoint
            for p in net.parameters():
                p.add_(torch.randn_like(p) * 0.2)
        folders.append(ckpt.save_checkpoint(root / f"run{seed}" / "dih", net, preset="dih_tiny", step=0))
    return folders


# --- stale scores: the cache key holds the weights-------------------------------------------------------------------

def test_second_checkpoint_into_same_folder_is_recomputed(cli, tmp_path, two_dih_checkpoints):
    data = _dataset(tmp_path / "data")
    out = tmp_path / "bench"
    ck1, ck2 = two_dih_checkpoints
    base = ["bench", "--data", str(data), "--models", "dih", "--out", str(out), "--workers", "0", "--quiet",
            "--no-plots"]
    code, text1 = cli(base + ["--weights", str(ck1)])
    assert code == 0, text1
    first = {r["composite"]: float(r["mse"]) for r in _rows(out)}
    code, text2 = cli(base + ["--weights", str(ck2)])
    assert code == 0, text2
    assert "3 results computed, 0 from the cache" in text2, text2
    second = {r["composite"]: float(r["mse"]) for r in _rows(out)}
    assert len(second) == 3 and all(second[k] != first[k] for k in first)
    # and the second checkpoint's numbers are what a fresh folder gives for it
    fresh = tmp_path / "fresh"
    code, text = cli(["bench", "--data", str(data), "--models", "dih", "--out", str(fresh), "--workers", "0",
                      "--quiet", "--no-plots", "--weights", str(ck2)])
    assert code == 0, text
    assert {r["composite"]: float(r["mse"]) for r in _rows(fresh)} == pytest.approx(second, rel=1e-12)
    # the same weights again: everything from the cache
    code, text3 = cli(base + ["--weights", str(ck2)])
    assert code == 0 and "0 results computed, 3 from the cache" in text3, text3


def test_other_models_into_same_folder_add_rows(cli, tmp_path):
    data = _dataset(tmp_path / "data")
    out = tmp_path / "bench"
    base = ["bench", "--data", str(data), "--out", str(out), "--workers", "0", "--quiet", "--no-plots"]
    code, text = cli(base + ["--models", "cut-and-paste,reinhard"])
    assert code == 0, text
    code, text = cli(base + ["--models", "poisson"])
    assert code == 0, text
    rows = _rows(out)
    assert sorted({r["method"] for r in rows}) == ["cut-and-paste", "poisson", "reinhard"]
    assert len(rows) == 9
    table = (out / "table.md").read_text()
    for m in ("cut-and-paste", "poisson", "reinhard"):
        assert f"## {m}" in table
        assert m in (out / "compare.md").read_text()
    gallery = (out / "gallery.html").read_text()
    assert "reinhard" in gallery and "poisson" in gallery
    # the cut-and-paste rows are still the composite's own numbers (independent iharm MSE)
    for r in rows:
        if r["method"] == "cut-and-paste":
            comp = cv2.imread(str(data / "HCOCO" / "composite_images" / r["composite"]))[..., ::-1]
            comp = cv2.resize(comp, (256, 256), interpolation=cv2.INTER_LINEAR)
            real = data / "HCOCO" / "real_images" / (r["composite"].split("_")[0] + ".jpg")
            assert float(r["mse"]) == pytest.approx(_iharm_mse(comp, real), rel=1e-9)


def test_bench_result_carries_aggregates(tmp_path):
    from harmony.benchmark.runner import BenchConfig, run_bench

    data = _dataset(tmp_path / "data")
    res = run_bench(BenchConfig(out=tmp_path / "b", data=data, models=["cut-and-paste"], workers=0,
                                progress=False, plots=False, gallery=0))
    st = res.all_row("cut-and-paste")
    assert st["N"] == 3
    assert st["mse"] == pytest.approx(np.mean([float(r["mse"]) for r in res.rows]), rel=1e-12)
    assert res.summary["methods"]["cut-and-paste"]["All"]["N"] == 3


# --- DIH keeps the background bit-exact ----------------------------------------------------------

def test_dih_background_is_bit_exact_at_256(tmp_path, two_dih_checkpoints):
    from harmony.benchmark import metrics as M
    from harmony.benchmark import runner
    from harmony.registry import METHODS

    data = _dataset(tmp_path / "data", n=1)
    sub = data / "HCOCO"
    comp_u8 = hio.read_image_uint8(sub / "composite_images" / "c0_0_1.jpg")
    mask = hio.read_mask(sub / "masks" / "c0_0.png")
    protocol = M.get_protocol("iharm")
    prepared = protocol.prepare(comp_u8, mask, None, 256)
    card = METHODS.card("dih")
    assert card.keeps_background
    out, _ms = runner.run_method(protocol, "dih", card, str(two_dih_checkpoints[0]), comp_u8, mask, 256, prepared)
    background = prepared.mask == 0.0
    assert background.any() and (~background).any()
    np.testing.assert_array_equal(out[background], prepared.composite[background])
    assert np.abs(out[~background] - prepared.composite[~background]).max() > 0   # it did change the fg
    # and as scored (0-255): the background pixels equal the composite's exactly
    np.testing.assert_array_equal(protocol.prediction(out)[background], prepared.composite255[background])


def test_native_size_comes_from_the_checkpoint(two_dih_checkpoints):
    from harmony.benchmark import runner
    from harmony.registry import METHODS

    inst = runner._method_instance("dih", str(two_dih_checkpoints[0]))
    assert runner._native_size(inst, METHODS.card("dih")) == 64    # dih_tiny's side, not the card's 512


# --- learned methods in batches (bench --device, --batch-size) ----------------------------------------

NUMERIC = ("fg_ratio", "mse", "psnr", "fmse", "fpsnr", "ssim", "fssim", "lpips", "bg_drift", "se", "mask_area")


def _assert_same_rows(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b) and a
    for row_a, row_b in zip(a, b):
        for key in row_a:
            if key == "time_ms":
                continue
            if key in NUMERIC and row_a[key] not in ("", "nan"):
                assert float(row_b[key]) == pytest.approx(float(row_a[key]), rel=1e-6, abs=1e-9), (key, row_a)
            else:
                assert row_b[key] == row_a[key], (key, row_a, row_b)


def test_batched_learned_rows_equal_the_per_image_rows(cli, tmp_path, two_dih_checkpoints, monkeypatch):
    from harmony.models.adapter import TorchHarmonizer

    data = _dataset(tmp_path / "data", n=5)
    weights = str(two_dih_checkpoints[0])
    base = ["bench", "--data", str(data), "--models", "dih,cut-and-paste", "--weights", weights, "--workers", "0",
            "--quiet", "--no-plots", "--ssim"]
    code, text = cli(base + ["--out", str(tmp_path / "single")])
    assert code == 0, text
    passes = []
    forward = TorchHarmonizer.forward_arrays

    def counting(self, composites, masks):
        passes.append(len(composites))
        return forward(self, composites, masks)

    monkeypatch.setattr(TorchHarmonizer, "forward_arrays", counting)
    code, text = cli(base + ["--out", str(tmp_path / "batched"), "--device", "cpu", "--batch-size", "4"])
    assert code == 0, text
    assert passes == [4, 1]          # 5 images of dih, in batches of 4 (cut-and-paste is not learned)
    single, batched = _rows(tmp_path / "single"), _rows(tmp_path / "batched")
    _assert_same_rows(single, batched)
    # the cache key does not depend on the batch size: another batch size, then image by image, all cached
    code, text = cli(base + ["--out", str(tmp_path / "batched"), "--batch-size", "2"])
    assert code == 0 and "0 results computed, 10 from the cache" in text, text
    code, text = cli(base + ["--out", str(tmp_path / "batched")])
    assert code == 0 and "0 results computed, 10 from the cache" in text, text


def test_batches_group_images_by_network_input_size(tmp_path):
    from harmony.benchmark import runner

    data = _dataset(tmp_path / "data", n=3)
    sub = data / "HCOCO"
    small = np.full((32, 40, 3), 0.5, np.float32)
    for name in ("d3_3_1.jpg", "d4_4_1.jpg"):
        hio.write_image(sub / "composite_images" / name, small, quality=100)
    units = [runner._Unit(f"HCOCO/{path.name}", "HCOCO", path.name, str(path), "", None, {}, [])
             for path in sorted((sub / "composite_images").iterdir())]
    at_full = runner._plan_batches({("dih", "full"): units}, batch_size=2)
    assert [[u.name for u in b.units] for b in at_full] == [["c0_0_1.jpg", "c1_1_1.jpg"], ["c2_2_1.jpg"],
                                                            ["d3_3_1.jpg", "d4_4_1.jpg"]]
    at_256 = runner._plan_batches({("dih", 256): units}, batch_size=4)     # one network input size
    assert [len(b.units) for b in at_256] == [4, 1]
    assert len({b.key for b in at_full + at_256}) == 5


def test_batched_failures_stay_on_their_own_image(tmp_path, two_dih_checkpoints):
    from harmony.benchmark.runner import BenchConfig, run_bench

    data = _dataset(tmp_path / "data", n=3)
    hio.write_mask(data / "HCOCO" / "masks" / "c1_1.png", np.zeros((H, W), np.float32))   # nothing to harmonize
    res = run_bench(BenchConfig(out=tmp_path / "b", data=data, models=["dih"], weights=two_dih_checkpoints[0],
                                workers=0, progress=False, plots=False, gallery=0, batch_size=3))
    errors = {row["composite"]: row["error"] for row in res.rows}
    assert errors["c0_0_1.jpg"] == "" and errors["c2_2_1.jpg"] == ""
    assert "no foreground" in errors["c1_1_1.jpg"]


@pytest.mark.skipif(pytest.importorskip("torch").cuda.is_available(), reason="a CUDA GPU is present")
def test_device_cuda_without_gpu_is_one_line_error(cli, tmp_path):
    data = _dataset(tmp_path / "data", n=1)
    code, text = cli(["bench", "--data", str(data), "--models", "cut-and-paste", "--device", "cuda",
                      "--out", str(tmp_path / "b"), "--quiet"])
    assert code == 2 and "CUDA is not available" in text and len(text.strip().splitlines()) == 1, text
    assert not (tmp_path / "b").exists()
    code, text = cli(["bench", "--data", str(data), "--device", "tpu", "--out", str(tmp_path / "b"), "--quiet"])
    assert code == 2 and "expected cpu, cuda or cuda:N" in text and len(text.strip().splitlines()) == 1, text


@pytest.mark.skipif(not pytest.importorskip("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batches_agree_with_cpu(cli, tmp_path, two_dih_checkpoints):
    data = _dataset(tmp_path / "data", n=5)
    base = ["bench", "--data", str(data), "--models", "dih", "--weights", str(two_dih_checkpoints[0]),
            "--workers", "0", "--quiet", "--no-plots"]
    code, text = cli(base + ["--out", str(tmp_path / "cpu")])
    assert code == 0, text
    code, text = cli(base + ["--out", str(tmp_path / "cuda"), "--device", "cuda", "--batch-size", "4"])
    assert code == 0, text
    for row_cpu, row_gpu in zip(_rows(tmp_path / "cpu"), _rows(tmp_path / "cuda")):
        assert row_gpu["composite"] == row_cpu["composite"] and row_gpu["error"] == ""
        # GPU convolutions differ from the CPU's in the last float32 bits; rounding to 8 bits may flip a few
        assert float(row_gpu["mse"]) == pytest.approx(float(row_cpu["mse"]), rel=1e-2, abs=0.05)


# --- structure: one direction, no cycle ---------------------------------------------------------------

BENCH_MODULES = sorted(p.stem for p in (REPO / "harmony" / "benchmark").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", BENCH_MODULES)
def test_each_benchmark_module_imports_alone(module):
    code = (f"import importlib, sys; importlib.import_module('harmony.benchmark.{module}'); "
            "print('runner' if 'harmony.benchmark.runner' in sys.modules else '-')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    if module in ("report", "rows", "metrics"):
        assert proc.stdout.strip() == "-", f"{module} pulled in the runner"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            names.add(base)
            names.update(f"{base}.{a.name}" if base.endswith(".") is False else f"{base}{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_report_imports_nothing_from_the_runner():
    bench = REPO / "harmony" / "benchmark"
    for module in ("report.py", "rows.py"):
        names = _imported_modules(bench / module)
        bad = [n for n in names if "runner" in n or "harness" in n]
        assert not bad, (module, bad)
    assert "run_method" not in (bench / "report.py").read_text()


def test_report_writes_gallery_without_running_methods(tmp_path, monkeypatch):
    """The report copies the runner's saved predictions; a method that cannot run is never called."""
    from harmony.benchmark import report
    from harmony.benchmark.runner import BenchConfig, run_bench
    from harmony.registry import METHODS

    data = _dataset(tmp_path / "data")
    res = run_bench(BenchConfig(out=tmp_path / "b", data=data, models=["cut-and-paste", "reinhard"], workers=0,
                                progress=False, plots=False, gallery=2))
    assert res.gallery and all("reinhard" in e.files for e in res.gallery)

    def refuse(*args, **kwargs):
        raise AssertionError("the report ran a method")

    monkeypatch.setattr(METHODS, "create", refuse)
    (tmp_path / "b" / "gallery.html").unlink()
    files = report.write_report(res, plots=False)
    assert "gallery.html" in files
    import json
    import re

    text = (tmp_path / "b" / "gallery.html").read_text()
    gal = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))
    assert len(gal["rows"]) == len(res.gallery) and {e.label for e in res.gallery} == {"best", "worst"}
    k = gal["methods"].index("reinhard")
    assert all(r["o"][k] and (tmp_path / "b" / "gallery" / r["id"] / "reinhard.jpg").is_file() for r in gal["rows"])
    for e in res.gallery:
        assert math.isfinite(e.fg_ratio)
