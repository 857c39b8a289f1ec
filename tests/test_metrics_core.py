"""The one metric core against independent float64 re-implementations of each protocol.

Every expected value below is computed in this file with the published formulas of each protocol's
evaluation script (DoveNet ``evaluation.py``, iSSAM ``evaluate_model.py``, CDTNet, PCT-Net, HDNet,
DiffHarmony), written out with plain float64 numpy; never with harmony's metric code.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import cv2
import numpy as np
import pytest

from harmony.benchmark import metrics as M

PROTOCOLS = ("iharmony4", "iharm", "cdtnet", "pctnet", "hdnet", "diffharmony")


def _case(size: int, seed: int):
    """A realistic scored pair at ``size``: integer ground truth, non-integer prediction, soft mask."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (size, size, 3)).astype(np.float32)
    pred = np.clip(gt + rng.normal(0.0, 40.0, gt.shape), 0, 255).astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    q = size // 4
    mask[q:3 * q, q // 2:3 * q] = 1.0
    mask = cv2.GaussianBlur(mask, (9, 9), 2.0)   # soft edges, as after iharm's linear resize
    return pred, gt, mask


def _reference(name: str, pred, gt, mask) -> dict[str, float]:
    """Hand float64 formulas of each protocol (iHarmony4 ``evaluation.py``, iSSAM ``evaluate_model.py``, CDTNet, PCT-Net)."""
    p = pred.astype(np.float64)
    g = gt.astype(np.float64)
    m = mask.astype(np.float64)
    if name == "diffharmony":          # paste the ground-truth background first
        p = p * m[..., None] + g * (1.0 - m[..., None])
    d2 = (p - g) ** 2
    full = float(np.sum(d2))
    fg = float(np.sum(d2 * m[..., None]))
    area = float(np.sum(m))
    n = d2.size
    if name == "iharmony4":
        peak, psnr_eps, fmse_eps = float(p.max() - p.min()), 0.0, 0.0
    elif name == "pctnet":
        peak, psnr_eps, fmse_eps = 255.0, 1e-6, 1e-6
    else:
        peak, psnr_eps, fmse_eps = float(g.max()), 1e-6, 1e-6
    mse = fg / n if name == "pctnet" else full / n
    if name == "hdnet":
        fmse = (full / n) * (mask.shape[0] * mask.shape[1]) / area
    else:
        fmse = fg / (3.0 * area + fmse_eps)
    return {"mse": mse, "fmse": fmse, "psnr": 10.0 * math.log10(peak ** 2 / (mse + psnr_eps)),
            "fpsnr": 10.0 * math.log10(peak ** 2 / (fmse + psnr_eps)), "se": fg, "mask_area": area}


@pytest.mark.parametrize("size", [256, 1024, 2048])
def test_every_protocol_equals_float64_reference(size):
    pred, gt, mask = _case(size, seed=size)
    for name in PROTOCOLS:
        got = M.get_protocol(name).score_basic(pred, gt, mask)
        ref = _reference(name, pred, gt, mask)
        for key, want in ref.items():
            assert got[key] == pytest.approx(want, rel=1e-9, abs=0), (name, size, key)


@pytest.mark.parametrize("size", [256, 2048])
def test_named_functions_and_registry_equal_reference(size):
    from harmony.registry import METRICS

    pred, gt, mask = _case(size, seed=7 + size)
    p, g, m = pred.astype(np.float64), gt.astype(np.float64), mask.astype(np.float64)
    d2 = (p - g) ** 2
    fmse = float((d2 * m[..., None]).sum() / (3 * m.sum()))
    mse = float(d2.mean())
    assert M.mean_squared_error(pred, gt) == pytest.approx(mse, rel=1e-9)
    assert METRICS.create("mse")(pred, gt) == pytest.approx(mse, rel=1e-9)
    assert M.foreground_mse(pred, gt, mask) == pytest.approx(fmse, rel=1e-9)
    assert METRICS.create("fmse")(pred, gt, mask) == pytest.approx(fmse, rel=1e-9)
    assert M.masked_mean_squared_error(pred, gt, mask) == pytest.approx(float((d2 * m[..., None]).mean()), rel=1e-9)
    bg = float((d2 * (1 - m)[..., None]).sum() / (3 * (1 - m).sum()))
    assert M.background_drift(pred, gt, mask) == pytest.approx(bg, rel=1e-9)


def test_float32_accumulation_is_gone_at_2048():
    """Defect 4: the float32 foreground sum was off by about 1.0 fMSE at 2048 px."""
    pred, gt, mask = _case(2048, seed=3)
    ref = _reference("iharm", pred, gt, mask)["fmse"]
    got = M.get_protocol("iharm").score_basic(pred, gt, mask)["fmse"]
    assert abs(got - ref) < 1e-9 * ref


def test_batch_metrics_equal_per_image_reference():
    cases = [_case(64, seed=s) for s in range(3)]
    pred = np.stack([c[0] for c in cases])
    gt = np.stack([c[1] for c in cases])
    mask = np.stack([c[2] for c in cases])
    per = M.batch_metrics(pred, gt, mask, protocol="iharm")
    for i, c in enumerate(cases):
        ref = _reference("iharm", *c)
        for key in ("mse", "fmse", "psnr", "fpsnr"):
            assert per[key][i] == pytest.approx(ref[key], rel=1e-9)


# --- one definition everywhere -------------------------------------------------------------------

def test_empty_mask_is_nan_everywhere():
    from harmony.models.train import foreground_metrics

    pred, gt, _ = _case(32, seed=1)
    empty = np.zeros((32, 32), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # training validation: it gave fMSE 0.0 here (its epsilon alone), the others NaN
        assert math.isnan(foreground_metrics(pred[None] / 255.0, gt[None] / 255.0, empty[None])["fmse"])
        for name in PROTOCOLS:
            got = M.get_protocol(name).score_basic(pred, gt, empty)
            assert math.isnan(got["fmse"]) and math.isnan(got["fpsnr"]), name
        assert math.isnan(M.foreground_mse(pred, gt, empty, eps=1e-6))
        assert math.isnan(M.batch_metrics(pred[None], gt[None], empty[None])["fmse"][0])


def test_training_validation_is_iharm_with_gt_peak():
    """Defect 5: validation called itself iharm-style but used peak 255; iharm's peak is gt.max()."""
    from harmony.models.train import foreground_metrics

    rng = np.random.default_rng(5)
    real = rng.uniform(0.1, 0.6, (2, 32, 32, 3)).astype(np.float32)      # gt.max() well below 1
    pred = np.clip(real + rng.normal(0, 0.05, real.shape), 0, 1).astype(np.float32)
    mask = np.zeros((2, 32, 32), np.float32)
    mask[:, 8:20, 4:28] = 1.0
    got = foreground_metrics(pred, real, mask)
    psnrs, fmses, mses = [], [], []
    for i in range(2):
        p, g, m = pred[i].astype(np.float64) * 255, real[i].astype(np.float64) * 255, mask[i].astype(np.float64)
        d2 = (p - g) ** 2
        mse = d2.mean()
        mses.append(mse)
        fmses.append((d2 * m[..., None]).sum() / (3 * m.sum() + 1e-6))
        psnrs.append(10 * math.log10(g.max() ** 2 / (mse + 1e-6)))
    assert got["psnr"] == pytest.approx(np.mean(psnrs), rel=1e-9)
    assert got["fmse"] == pytest.approx(np.mean(fmses), rel=1e-9)
    assert got["mse"] == pytest.approx(np.mean(mses), rel=1e-9)
    # and it equals the benchmark's own iharm numbers for the same arrays
    bench = [M.get_protocol("iharm").score_basic(pred[i].astype(np.float64) * 255.0, real[i].astype(np.float64) * 255.0,
                                                  mask[i]) for i in range(2)]
    assert got["psnr"] == pytest.approx(np.mean([b["psnr"] for b in bench]), rel=1e-12)


def test_peak_choice_is_used_not_defaulted():
    """A misspelled peak used to fall through to 255 silently; every valid choice gives its own peak."""
    pred, gt, mask = _case(32, seed=2)
    gt = gt * 0.5
    peaks = {c: dataclasses.replace(M.get_protocol("iharm"), psnr_peak=c).statistics(pred, gt, mask).peak
             for c in M.PEAK_CHOICES}
    assert peaks["255"] == 255.0
    assert peaks["gt_max"] == float(gt.max())
    assert peaks["pred_range"] == float(pred.max()) - float(pred.min())


# --- a worked example: the sample HCOCO rows------------------------------------------------------------

def test_sample_hcoco_fmse_is_exact(tmp_path, cli):
    """The sample HCOCO c1_101_1 per-image fMSE is 4135.4156 (float64 iharm formula; float32 gave 4135.3185)."""
    import csv

    from harmony.registry import GENERATORS

    root = tmp_path / "data"
    GENERATORS.factory("coco")(root, workers=0, progress=False)
    out = tmp_path / "bench"
    code, text = cli(["bench", "--data", str(root), "--models", "cut-and-paste", "--split", "all", "--out",
                      str(out), "--workers", "0", "--quiet", "--gallery", "0", "--no-plots"])
    assert code == 0, text
    with open(out / "per_image.csv", newline="") as fh:
        rows = {r["composite"]: r for r in csv.DictReader(fh)}
    sub = root / "HCOCO"

    def reference(name: str) -> tuple[float, float]:
        """(MSE, fMSE) of one composite, iharm protocol, written out in float64."""
        stem = name.rsplit("_", 1)[0]
        comp = cv2.imread(str(sub / "composite_images" / name))[..., ::-1]
        real = cv2.imread(str(sub / "real_images" / (name.split("_")[0] + ".jpg")))[..., ::-1]
        mask = cv2.imread(str(sub / "masks" / (stem + ".png")), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
        comp = cv2.resize(comp, (256, 256), interpolation=cv2.INTER_LINEAR).astype(np.float64)
        real = cv2.resize(real, (256, 256), interpolation=cv2.INTER_LINEAR).astype(np.float64)
        mask = cv2.resize(mask, (256, 256), interpolation=cv2.INTER_LINEAR).astype(np.float64)
        d2 = (comp - real) ** 2
        return float(d2.mean()), float((d2 * mask[..., None]).sum() / (3 * mask.sum() + 1e-6))

    ref = reference("c1_101_1.jpg")[1]
    assert ref == pytest.approx(4135.4156, abs=5e-5)              # written out by hand in float64
    assert float(rows["c1_101_1.jpg"]["fmse"]) == pytest.approx(ref, rel=1e-9)
    # The table's HCOCO row is the mean of the per-image references over the distinct composites.
    refs = [reference(name) for name in sorted(rows)]
    mse = sum(r[0] for r in refs) / len(refs)
    fmse = sum(r[1] for r in refs) / len(refs)
    table = (out / "table.md").read_text()
    assert f"| HCOCO | {len(refs)} | {mse:.2f} | {fmse:.2f} |" in table, table


def test_no_second_copy_of_the_formulas():
    """Defect 5: training validation and Protocol.score_basic compute nothing themselves."""
    import inspect

    from harmony.models import train

    for fn in (train.foreground_metrics, M.Protocol.score_basic, M.Protocol.compute):
        src = inspect.getsource(fn)
        assert "log10" not in src and "** 2" not in src and ".sum(" not in src, fn.__qualname__
