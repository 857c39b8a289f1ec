"""The bench harness and `harmony bench` / `harmony list` on tiny datasets written here.

Expected numbers are recomputed in the test from the files with OpenCV and the published formulas of
the iharm evaluation (Sofiiuk et al., WACV 2021: MSE, fMSE and PSNR on the 0-255 scale), not with
harmony's metric code.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from harmony import io as hio
from harmony.errors import MissingWeightsError
from harmony.registry import Card

H, W = 24, 32


# --- plugin methods used by the tests (loaded through `module:attr` specs) -------------------------

def shift_method(composite, mask, **extra):
    """Brightens the foreground by 0.1 (a real, if crude, harmonizer)."""
    out = composite + 0.1 * mask[..., None]
    return np.clip(out, 0, 1).astype(np.float32)


def flaky_method(composite, mask, **extra):
    """Fails on the image whose top-left pixel is pure red-ish (marked in the dataset), else identity."""
    if composite[0, 0, 0] > 0.9 and composite[0, 0, 1] < 0.1:
        raise RuntimeError("flaky failure on the marked image")
    return composite.copy()


def bad_shape_method(composite, mask, **extra):
    if composite[0, 0, 0] > 0.9 and composite[0, 0, 1] < 0.1:
        return composite[:-1]          # wrong shape on the marked image
    if mask.sum() < 1:
        return composite.astype(np.float64)   # wrong dtype on the empty-mask image
    return composite.copy()


def _lowres(composite, mask, **extra):
    assert composite.shape == (16, 16, 3), composite.shape
    return composite.copy()


_lowres.card = Card(name="lowres", kind="method", low_res_only=True, native_size=16, keeps_background=True)


def _no_checkpoint(weights=None, **options):
    raise MissingWeightsError("testnet: no checkpoint in checkpoints/testnet")


_no_checkpoint.is_factory = True
_no_checkpoint.card = Card(name="testnet", kind="method", learned=True)


# --- datasets -------------------------------------------------------------------------------------

def _write_subset(root: Path, subset: str, prefix: str, n: int, rng, *, paired=True, mark_first=False,
                  empty_mask_at=None, missing_mask_at=None, missing_real_at=None) -> list[str]:
    names = []
    d = root / subset
    for i in range(n):
        real = rng.uniform(0.2, 0.8, (H, W, 3)).astype(np.float32)
        mask = np.zeros((H, W), np.float32)
        if i != empty_mask_at:
            mask[4 + i:14 + i, 6:6 + 4 * (i + 1)] = 1.0
        comp = real.copy()
        comp[mask > 0] = np.clip(comp[mask > 0] * 0.7 + 0.2, 0, 1)
        if mark_first and i == 0:
            comp[:4, :4] = (1.0, 0.0, 0.0)   # a block: JPEG chroma subsampling would blur one pixel
            real[:4, :4] = (1.0, 0.0, 0.0)
        name = f"{prefix}{i}_{i}_1.jpg"
        hio.write_image(d / "composite_images" / name, comp, quality=100)
        if i != missing_mask_at:
            hio.write_mask(d / "masks" / f"{prefix}{i}_{i}.png", mask)
        if paired and i != missing_real_at:
            hio.write_image(d / "real_images" / f"{prefix}{i}.jpg", real, quality=100)
        names.append(name)
    if paired:
        (d / "real_images").mkdir(parents=True, exist_ok=True)
    (root / subset / f"{subset}_test.txt").write_text("".join(f"{n}\n" for n in names))
    return names


@pytest.fixture
def dataset(tmp_path, rng):
    root = tmp_path / "data"
    _write_subset(root, "HCOCO", "c", 4, rng, mark_first=True, empty_mask_at=3)
    _write_subset(root, "HFlickr", "f", 2, rng)
    return root


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _expected_iharm(root: Path, subset: str, name: str, method=None):
    """Independent iharm scoring: cv2 INTER_LINEAR to 256, soft mask, gt.max() peak, eps 1e-6."""
    stem = name.rsplit("_", 1)[0]
    comp = cv2.imread(str(root / subset / "composite_images" / name))[..., ::-1]
    real = cv2.imread(str(root / subset / "real_images" / (stem.rsplit("_", 1)[0] + ".jpg")))[..., ::-1]
    mask = cv2.imread(str(root / subset / "masks" / (stem + ".png")), cv2.IMREAD_GRAYSCALE) / 255.0
    comp = cv2.resize(comp, (256, 256), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    real = cv2.resize(real, (256, 256), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    mask = cv2.resize(mask.astype(np.float32), (256, 256), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    pred = comp if method is None else method(comp)
    d2 = ((pred - real) ** 2)
    mse = d2.mean()
    fmse = (d2 * mask[..., None]).sum() / (3 * mask.sum() + 1e-6) if mask.sum() > 0 else math.nan
    psnr = 10 * math.log10(real.max() ** 2 / (mse + 1e-6))
    return mse, fmse, psnr, (mask > 0.5).mean()


# --- tests ----------------------------------------------------------------------------------------

def test_bench_cut_and_paste_matches_independent_iharm(cli, dataset, tmp_path):
    out = tmp_path / "bench"
    code, text = cli(["bench", "--data", str(dataset), "--models", "cut-and-paste", "--out", str(out),
                      "--workers", "0", "--quiet"])
    assert code == 0, text
    rows = _read_csv(out / "per_image.csv")
    assert {"method", "subset", "composite", "fg_ratio", "mse", "psnr", "fmse", "fpsnr", "ssim", "fssim"} <= set(rows[0])
    assert len(rows) == 6
    for r in rows:
        mse, fmse, psnr, ratio = _expected_iharm(dataset, r["subset"], r["composite"])
        assert float(r["mse"]) == pytest.approx(mse, rel=1e-5)
        assert float(r["psnr"]) == pytest.approx(psnr, abs=1e-4)
        assert float(r["fg_ratio"]) == pytest.approx(ratio, abs=1e-6)
        if math.isnan(fmse):
            assert r["fmse"] == "nan"       # empty mask: NaN, counted
        else:
            assert float(r["fmse"]) == pytest.approx(fmse, rel=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"] == "iharm" and summary["size"] == 256
    cp = summary["methods"]["cut-and-paste"]
    assert cp["HCOCO"]["N"] == 4 and cp["HFlickr"]["N"] == 2 and cp["All"]["N"] == 6
    mses = [float(r["mse"]) for r in rows]
    assert cp["All"]["mse"] == pytest.approx(np.mean(mses), rel=1e-5)   # sample-weighted
    assert cp["All"]["nan_fmse"] == 1
    assert summary["fmse_undefined"]["count_by_method"] == {"cut-and-paste": 1}
    # the iSSAM-style table in four formats, .2f
    md = (out / "table.md").read_text()
    assert "| Dataset | N | MSE | fMSE | PSNR |" in md and "AvgTime, ms" in md
    assert f"| All | 6 | {cp['All']['mse']:.2f} |" in md
    assert (out / "table.tex").read_text().count(r"\begin{tabular}") == 1
    assert _read_csv(out / "table.csv")[-1]["Dataset"] == "All"
    assert json.loads((out / "table.json").read_text())["methods"]["cut-and-paste"]["status"] == "ok"
    fg = (out / "fg_ratio.md").read_text()
    assert "| HCOCO (0%-5%) |" in fg and "| All (15%-100%) |" in fg
    for png in ("mse.png", "fmse.png", "psnr.png", "fmse_vs_fg_ratio.png"):
        assert (out / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    gal = _gallery_data(out)       # every image of a small run, with relative files (no server needed)
    assert gal["paired"] and len(gal["rows"]) == 6
    for row in gal["rows"]:
        for f in ("composite.jpg", "real.jpg", "cut-and-paste.jpg"):
            assert (out / "gallery" / row["id"] / f).is_file()
    assert "fMSE undefined (empty mask): cut-and-paste 1" in text


def test_failures_bad_outputs_and_missing_inputs(cli, tmp_path, rng):
    root = tmp_path / "data"
    _write_subset(root, "HCOCO", "c", 5, rng, mark_first=True, empty_mask_at=4, missing_mask_at=2,
                  missing_real_at=3)
    out = tmp_path / "bench"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, text = cli(["bench", "--data", str(root), "--models",
                          f"cut-and-paste,{__name__}:flaky_method,{__name__}:bad_shape_method,"
                          f"{__name__}:shift_method", "--out", str(out), "--workers", "0", "--quiet",
                          "--no-plots"])
    assert code == 0, text
    summary = json.loads((out / "summary.json").read_text())
    skipped = {s["image"]: s["reason"] for s in summary["skipped"]}
    assert "mask c2_2.png missing" in skipped["HCOCO/c2_2_1.jpg"]
    assert "real image c3.jpg missing" in skipped["HCOCO/c3_3_1.jpg"]
    fails = {(f["method"], f["image"].split("@")[0]): f["error"] for f in summary["failures"]}
    assert "flaky failure" in fails[(f"{__name__}:flaky_method", "HCOCO/c0_0_1.jpg")]
    assert "expected shape" in fails[(f"{__name__}:bad_shape_method", "HCOCO/c0_0_1.jpg")]
    assert "expected float32" in fails[(f"{__name__}:bad_shape_method", "HCOCO/c4_4_1.jpg")]
    assert len(fails) == 3
    # the rest of the run went on: each method scored the images it did not fail on
    assert summary["methods"]["cut-and-paste"]["All"]["N"] == 3
    assert summary["methods"][f"{__name__}:flaky_method"]["All"]["N"] == 2
    assert summary["methods"][f"{__name__}:shift_method"]["All"]["mse"] > 0
    rows = _read_csv(out / "per_image.csv")
    failed = [r for r in rows if r["error"]]
    assert len(failed) == 3 and all(r["mse"] == "nan" for r in failed)
    assert "failures: 3" in text and "skipped inputs: 2" in text


def test_resume_and_extend_recompute_nothing(cli, dataset, tmp_path):
    out = tmp_path / "bench"
    args = ["bench", "--data", str(dataset), "--out", str(out), "--workers", "0", "--quiet", "--no-plots",
            "--gallery", "0"]
    code, _ = cli(args + ["--models", "cut-and-paste"])
    assert code == 0
    first = (out / "per_image.csv").read_text()
    code, _ = cli(args + ["--models", "cut-and-paste"])
    s = json.loads((out / "summary.json").read_text())
    assert code == 0 and s["computed"] == 0 and s["cached"] == 6
    assert (out / "per_image.csv").read_text() == first
    code, _ = cli(args + ["--models", f"cut-and-paste,{__name__}:shift_method"])
    s = json.loads((out / "summary.json").read_text())
    assert code == 0 and s["computed"] == 6 and s["cached"] == 6
    # an interrupted cache line (cut mid-write) is ignored and recomputed
    cache = out / "cache" / "results.jsonl"
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    code, _ = cli(args + ["--models", f"cut-and-paste,{__name__}:shift_method"])
    s = json.loads((out / "summary.json").read_text())
    assert code == 0 and s["computed"] == 1 and s["cached"] == 11
    # another protocol into the same folder is refused without --overwrite
    code, text = cli(args + ["--models", "cut-and-paste", "--protocol", "iharmony4"])
    assert code == 2 and "--overwrite" in text


def test_workers_and_dask_give_identical_results(cli, dataset, tmp_path, dask_cluster):
    base = ["bench", "--data", str(dataset), "--models", "cut-and-paste", "--quiet", "--no-plots",
            "--gallery", "0"]
    code, _ = cli(base + ["--out", str(tmp_path / "a"), "--workers", "0"])
    assert code == 0
    code, _ = cli(base + ["--out", str(tmp_path / "b"), "--workers", "2"])
    assert code == 0
    strip = lambda p: [{k: v for k, v in r.items() if k != "time_ms"} for r in _read_csv(p)]  # noqa: E731
    assert strip(tmp_path / "a" / "per_image.csv") == strip(tmp_path / "b" / "per_image.csv")
    code, text = cli(base + ["--out", str(tmp_path / "c"), "--scheduler", dask_cluster])
    assert code == 0, text
    assert strip(tmp_path / "a" / "per_image.csv") == strip(tmp_path / "c" / "per_image.csv")


def test_sweep_low_res_method_and_missing_checkpoint(cli, dataset, tmp_path):
    out = tmp_path / "bench"
    code, text = cli(["bench", "--data", str(dataset), "--models",
                      f"cut-and-paste,{__name__}:_lowres,{__name__}:_no_checkpoint", "--size", "16,32",
                      "--out", str(out), "--workers", "0", "--quiet", "--no-plots", "--gallery", "1"])
    assert code == 0, text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sizes"] == [16, 32]
    nock = summary["methods"][f"{__name__}:_no_checkpoint"]
    assert nock["status"] == "no checkpoint" and "testnet" in nock["message"]
    assert "no checkpoint" in (out / "table.md").read_text() and "no checkpoint" in (out / "compare.md").read_text()
    assert "no checkpoint" in text
    low = summary["by_size"]["32"][f"{__name__}:_lowres"]["All"]
    assert low["N"] == 6   # ran at 16 (asserted inside), upsampled to 32, scored
    # at 16 the low-res method equals cut-and-paste; at 32 it is cut-and-paste blurred by the 16->32 trip
    cp16 = summary["by_size"]["16"]["cut-and-paste"]["All"]["mse"]
    assert summary["by_size"]["16"][f"{__name__}:_lowres"]["All"]["mse"] == pytest.approx(cp16)
    assert low["mse"] != pytest.approx(summary["by_size"]["32"]["cut-and-paste"]["All"]["mse"])
    sweep = (out / "sweep.md").read_text()
    assert "(run at 16, upsampled)" in sweep and "| 32 |" in sweep


def test_unpaired_dataset_outputs_gallery_and_pairs(cli, tmp_path, rng):
    root = tmp_path / "data"
    _write_subset(root, "HRealComposite", "r", 3, rng, paired=False)
    out = tmp_path / "bench"
    code, text = cli(["bench", "--data", str(root), "--models", f"cut-and-paste,{__name__}:shift_method",
                      "--out", str(out), "--workers", "0", "--quiet"])
    assert code == 0, text
    assert len(list((out / "outputs" / "cut-and-paste" / "HRealComposite").glob("*.png"))) == 3
    pairs = _read_csv(out / "pairs.csv")
    assert set(pairs[0]) >= {"rater_id", "image_id", "method_a", "method_b", "choice"}
    assert {p["image_id"] for p in pairs} == {f"HRealComposite/r{i}_{i}_1.jpg" for i in range(3)}
    gal = _gallery_data(out)
    assert not gal["paired"] and len(gal["rows"]) == 3
    assert not any((out / "gallery" / r["id"] / "real.jpg").exists() for r in gal["rows"])
    rows = _read_csv(out / "per_image.csv")
    assert all(r["mse"] == "nan" for r in rows) and all(r["bg_drift"] != "nan" for r in rows)


def test_unknown_names_list_the_valid_ones(cli, dataset, tmp_path):
    code, text = cli(["bench", "--data", str(dataset), "--models", "nosuchmethod", "--out", str(tmp_path / "o")])
    assert code == 2 and "unknown method 'nosuchmethod'" in text and "cut-and-paste" in text
    assert "Traceback" not in text
    code, text = cli(["bench", "--data", str(dataset), "--protocol", "nosuch", "--out", str(tmp_path / "o")])
    assert code == 2 and "iharmony4" in text and "pctnet" in text
    code, text = cli(["bench", "--data", str(tmp_path / "absent"), "--models", "cut-and-paste",
                      "--out", str(tmp_path / "o")])
    assert code == 2 and "not found" in text


def test_iharmony4_protocol_end_to_end(cli, dataset, tmp_path):
    from PIL import Image

    out = tmp_path / "bench"
    code, text = cli(["bench", "--data", str(dataset), "--models", "cut-and-paste", "--protocol", "iharmony4",
                      "--out", str(out), "--workers", "0", "--quiet", "--no-plots", "--gallery", "0",
                      "--subsets", "HFlickr"])
    assert code == 0, text
    rows = _read_csv(out / "per_image.csv")
    assert {r["subset"] for r in rows} == {"HFlickr"}
    r = rows[0]
    # evaluation.py: Pillow bicubic 256 on uint8, 1-bit mask, peak = pred range, fMSE without eps
    comp = np.asarray(Image.open(dataset / "HFlickr/composite_images/f0_0_1.jpg").convert("RGB")
                      .resize((256, 256), Image.BICUBIC), np.float64)
    real = np.asarray(Image.open(dataset / "HFlickr/real_images/f0.jpg").convert("RGB")
                      .resize((256, 256), Image.BICUBIC), np.float64)
    mask = np.asarray(Image.open(dataset / "HFlickr/masks/f0_0.png").convert("1").resize((256, 256)), np.float64)
    d2 = (comp - real) ** 2
    mse = d2.mean()
    assert float(r["mse"]) == pytest.approx(mse, rel=1e-5)
    assert float(r["psnr"]) == pytest.approx(10 * math.log10((comp.max() - comp.min()) ** 2 / mse), abs=1e-4)
    assert float(r["fmse"]) == pytest.approx((d2 * mask[..., None]).sum() / (3 * mask.sum()), rel=1e-5)


def test_models_all_includes_every_registered_method(cli, tmp_path, rng):
    from harmony.registry import METHODS

    root = tmp_path / "data"
    _write_subset(root, "HCOCO", "c", 1, rng)
    out = tmp_path / "bench"
    code, text = cli(["bench", "--data", str(root), "--models", "all", "--size", "32", "--out", str(out),
                      "--workers", "0", "--quiet", "--no-plots", "--gallery", "0"])
    assert code == 0, text
    summary = json.loads((out / "summary.json").read_text())
    assert set(METHODS.names()) <= set(summary["methods"])
    for name in METHODS.names():
        entry = summary["methods"][name]
        if METHODS.card(name).learned and entry["status"] != "ok":
            assert entry["status"] in ("no checkpoint", "unavailable") and entry["message"]
    assert summary["methods"]["cut-and-paste"]["All"]["N"] == 1


def test_list_command(cli):
    code, text = cli(["list", "protocols"])
    assert code == 0
    for name in ("iharmony4", "iharm", "cdtnet", "pctnet"):
        assert f"  {name} " in text
    assert "pred.max() - pred.min()" in text and "INTER_LINEAR" in text
    code, text = cli(["list", "methods"])
    assert code == 0 and "cut-and-paste" in text
    code, text = cli(["list", "metrics"])
    assert code == 0 and "fmse" in text and "lower is better" in text
    code, text = cli(["list", "generators"])
    assert code == 0 and "== generators" in text
    code, text = cli(["list", "--json"])
    assert code == 0 and json.loads(text)["protocols"]


def inplace_method(composite, mask, **extra):
    """Modifies its input in place (bad manners): the harness must give it copies, not shared arrays."""
    composite *= 0.5
    return composite


def test_method_modifying_its_input_does_not_spoil_scores(cli, dataset, tmp_path):
    out = tmp_path / "bench"
    code, text = cli(["bench", "--data", str(dataset), "--models", f"cut-and-paste,{__name__}:inplace_method",
                      "--out", str(out), "--workers", "0", "--quiet", "--no-plots", "--gallery", "0",
                      "--protocol", "cdtnet"])
    assert code == 0, text
    s = json.loads((out / "summary.json").read_text())["methods"]
    assert s[f"{__name__}:inplace_method"]["All"]["N"] == 6
    assert s[f"{__name__}:inplace_method"]["All"]["mse"] > s["cut-and-paste"]["All"]["mse"]
    # cdtnet defines SSIM: computed by default; the background drift of the halving method is large
    assert 0 < s["cut-and-paste"]["All"]["ssim"] <= 1 and s[f"{__name__}:inplace_method"]["All"]["bg_drift"] > 100


def test_ssim_only_where_defined_unless_asked(cli, dataset, tmp_path):
    base = ["bench", "--data", str(dataset), "--models", "cut-and-paste", "--workers", "0", "--quiet",
            "--no-plots", "--gallery", "0"]
    code, _ = cli(base + ["--out", str(tmp_path / "a")])
    assert code == 0
    assert all(r["ssim"] == "nan" for r in _read_csv(tmp_path / "a" / "per_image.csv"))
    code, _ = cli(base + ["--out", str(tmp_path / "b"), "--ssim"])
    assert code == 0
    assert all(0 < float(r["ssim"]) <= 1 for r in _read_csv(tmp_path / "b" / "per_image.csv"))


def _gallery_data(out):
    """The data block of gallery.html (rows, methods, paired)."""
    import re

    text = (out / "gallery.html").read_text()
    return json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))

