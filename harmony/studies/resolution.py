"""``resolution``: Table IV of Liang et al. [1]_: PSNR of every method at 256x256, 512x512 and 1024x1024 on
HAdobe5k-style data.

Data: the fivek generator (HAdobe5k layout; the embedded FiveK-like sample, or real FiveK with
``--data``). Scoring: :func:`harmony.benchmark.runner.run_bench` with the ``iharm`` protocol at each
square size (SamsungLabs iSSAM ``scripts/evaluate_model.py``, ``Fixed256``-style OpenCV resize). Methods
that only run at low resolution (``card.low_res_only``: the learned networks) are run at their native size
and upsampled bilinearly by the harness before scoring, as SPRIH [2]_ Table 1 does; classical methods run
at every size.

References
----------
.. [1] Liang, Pun et al., "Image Harmonization with Region-wise Contrastive Learning", ICCV 2021.
.. [2] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization", CVPR 2023.
"""

from __future__ import annotations

import math

import numpy as np

from . import Claim, Evidence, Finding, PaperTable, Report, Scale, Study, StudyContext, register
from ._common import bench, fivek_recipe, train_methods
from .plotting import Figure, Mark, Panel

# Liang et al. (ICCV 2021) Table IV: PSNR on HAdobe5k at three resolutions.
PAPER_TABLE4 = [
    ("256x256", 35.34, 34.34, 35.34, 35.77, 35.26, 36.42, 37.50),
    ("512x512", 32.55, 34.72, 35.78, 36.56, 36.62, 36.89, 37.50),
    ("1024x1024", 30.02, 34.43, 34.64, 36.81, 36.45, 36.52, 37.55),
]
PAPER_COLUMNS = ["resolution", "S2AM", "DoveNet", "BargainNet", "RainNet", "IIH", "S2CRNet-VGG", "Ours (RCL)"]


PAPER_TABLE = PaperTable(PAPER_COLUMNS, PAPER_TABLE4,
                         "Liang et al. (ICCV 2021) Table IV: PSNR at various resolutions on HAdobe5k.")



def methods(ctx: StudyContext, data: dict) -> dict:
    """Methods step: train the learned methods, then benchmark every method at every size.

    Parameters
    ----------
    ctx : StudyContext
        The run (``methods``, ``learned``, ``steps``, ``sizes``, ``protocol``, ``limit``).
    data : dict
        What :func:`recipe` returned.

    Returns
    -------
    dict
        ``"methods"``, ``"sizes"``, ``"train_info"`` and ``"bench"`` (the run_bench result).
    """
    settings = ctx.settings
    learned = {m: settings["steps"] for m in settings["learned"]}
    weights, train_info = train_methods(ctx, data["root"], learned)
    names = list(settings["methods"]) + list(learned)
    sizes = [int(s) for s in settings["sizes"]]
    result = bench(ctx, data["root"], "res", methods=names, sizes=sizes, protocol=settings["protocol"],
                   weights=weights, limit=settings["limit"])
    return {"methods": names, "sizes": sizes, "train_info": train_info, "bench": result}


def build_table(ctx: StudyContext, measured: dict):
    """One row per method: where it runs, PSNR and MSE at each size, test images.

    Parameters
    ----------
    ctx : StudyContext
        The run.
    measured : dict
        What :func:`methods` returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``runs at``, ``PSNR <size>`` and ``MSE <size>`` per size, ``N``; rounded to 2
        decimals.
    """
    import pandas as pd

    from ..benchmark import rows as report_rows
    from ..registry import METHODS

    result, sizes = measured["bench"], measured["sizes"]
    subsets = sorted({r["subset"] for r in result.rows})
    overall = report_rows.aggregate(result.rows, subsets)
    rows = []
    for method in measured["methods"]:
        card = METHODS.card(method)
        # the side the runner really used (a learned model's comes from its checkpoint)
        native = next((p.options.get("native_size") for p in result.methods
                       if p.name == method and p.options.get("native_size")), None) or card.native_size or 256
        row = {"method": method, "runs at": f"{native} then upsampled" if card.low_res_only else "full size"}
        for size in sizes:
            row[f"PSNR {size}"] = overall.get(size, {}).get(method, {}).get("All", {}).get("psnr", math.nan)
        for size in sizes:
            row[f"MSE {size}"] = overall.get(size, {}).get(method, {}).get("All", {}).get("mse", math.nan)
        row["N"] = overall.get(sizes[0], {}).get(method, {}).get("All", {}).get("N", 0)
        rows.append(row)
    return pd.DataFrame(rows).round(2)


def _psnr(evidence: Evidence, method: str, size: int) -> float:
    return evidence.cell("method", method, f"PSNR {size}")


def _groups(evidence: Evidence):
    """(smallest size, largest size, low-resolution methods, full-resolution methods other than the composite)."""
    from ..registry import METHODS

    sizes = evidence.measured["sizes"]
    low_size, high_size = sizes[0], sizes[-1]
    scored = [m for m in evidence.measured["methods"] if np.isfinite(_psnr(evidence, m, low_size))]
    low = [m for m in scored if METHODS.card(m).low_res_only]
    full = [m for m in scored if not METHODS.card(m).low_res_only and m != "cut-and-paste"]
    return low_size, high_size, low, full


def _sweep(evidence: Evidence, names, low_size: int, high_size: int) -> str:
    return "; ".join(f"{m}: {_psnr(evidence, m, low_size):.2f} -> {_psnr(evidence, m, high_size):.2f}" for m in names)


def _low_res_loses(evidence: Evidence, _item=None) -> Finding | None:
    """Do the upsampled low-resolution methods all lose PSNR from the smallest to the largest size?"""
    low_size, high_size, low, _ = _groups(evidence)
    if not low:
        return None
    return Finding(_sweep(evidence, low, low_size, high_size),
                   all(_psnr(evidence, m, low_size) - _psnr(evidence, m, high_size) > 0 for m in low),
                   {"low": low_size, "high": high_size})


def _full_res_keeps(evidence: Evidence, _item=None) -> Finding | None:
    """Do the full-resolution methods stay within 0.5 dB across the sweep?"""
    low_size, high_size, _, full = _groups(evidence)
    if not full:
        return None
    return Finding(_sweep(evidence, full, low_size, high_size),
                   all(abs(_psnr(evidence, m, high_size) - _psnr(evidence, m, low_size)) <= 0.5 for m in full),
                   {"low": low_size, "high": high_size})


def _low_res_fares_worse(evidence: Evidence, _item=None) -> Finding | None:
    """Mean PSNR change of the low-resolution methods against the full-resolution ones."""
    low_size, high_size, low, full = _groups(evidence)
    if not (low and full):
        return None
    gain_low = np.mean([_psnr(evidence, m, high_size) - _psnr(evidence, m, low_size) for m in low])
    gain_full = np.mean([_psnr(evidence, m, high_size) - _psnr(evidence, m, low_size) for m in full])
    return Finding(f"mean change {gain_low:+.2f} dB (low-res) vs {gain_full:+.2f} dB (full)", bool(gain_low < gain_full),
                   {"low": low_size, "high": high_size})


CLAIMS = (
    Claim("a low-resolution method upsampled loses PSNR from {low} to {high}",
          "S2AM 35.34 -> 32.55 -> 30.02 (256 -> 1024)", _low_res_loses),
    Claim("a method that works at full resolution keeps its PSNR (within 0.5 dB) from {low} to {high}",
          "Ours (RCL) 37.50 / 37.50 / 37.55", _full_res_keeps),
    Claim("upsampled low-resolution methods fare worse at {high} than full-resolution ones, relative to {low}",
          "S2AM -5.32 dB vs Ours +0.05 dB", _low_res_fares_worse),
)


def plot(evidence: Evidence) -> Figure:
    """Plot spec: PSNR against evaluation size (log 2), dashed for upsampled low-resolution methods.

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Figure
        One panel.
    """
    from ..registry import METHODS

    sizes = evidence.measured["sizes"]
    marks = [Mark("plot", (sizes, [_psnr(evidence, m, s) for s in sizes]),
                  {"marker": "o", "ls": "--" if METHODS.card(m).low_res_only else "-", "label": m})
             for m in evidence.measured["methods"]]
    return Figure((6, 3.8), [Panel(marks, xscale={"value": "log", "base": 2}, xticks=sizes,
                                   xticklabels=[str(s) for s in sizes], xlabel="evaluation size (square)",
                                   ylabel="PSNR (dB)", legend={"fontsize": 6},
                                   title="resolution: Liang et al. Table IV (ours; dashed = low-res, upsampled)")])


def report(evidence: Evidence) -> Report:
    """Data used, the resize protocol, and what the sample's size means for the sweep.

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Report
        What the README and study.json say besides the tables.
    """
    table, result = evidence.table, evidence.measured["bench"]
    notes = [f"protocol {evidence.settings['protocol']}: images and masks resized to each square size first "
             "(OpenCV INTER_LINEAR, as iSSAM); low-resolution methods upsampled bilinearly by the harness"]
    if evidence.ctx.data is None:
        notes.append("the embedded FiveK-like sample is 320x320, so 512 and 1024 are enlargements of it: the sweep "
                     "tests the upsampling path, not real high-resolution detail. Pass real FiveK-derived data "
                     "with --data for a meaningful sweep")
    missing = [f"{p.name}: {p.status} ({p.message})" for p in result.methods if not p.runnable]
    return Report(
        data_used={"dataset": evidence.data["description"], "root": str(evidence.data["root"]),
                   "test images": int(table["N"].max()) if len(table) else 0,
                   "learned": evidence.measured["train_info"]},
        missing=missing + ["the paper's deep baselines (S2AM, DoveNet, RainNet, IIH, S2CRNet) are not in the registry"],
        notes=notes)


_BASE = {"methods": ["cut-and-paste", "reinhard", "xiao", "xue2012", "mkl"], "learned": ["bargainnet"],
         "steps": 300, "sizes": [256, 512, 1024], "protocol": "iharm", "per_mask": 0, "test_fraction": 0.25,
         "limit": 30, "preset_bargainnet": ""}
register(Study(
    name="resolution", paper="Liang et al., Image Harmonization with Region-wise Contrastive Learning", table="Table IV",
    measures="PSNR of every method at 256, 512 and 1024 on HAdobe5k-style data, low-resolution methods upsampled",
    scales={
        "test": Scale("test", "2 classical methods, 4 test images, sizes 64/128.",
                      {**_BASE, "methods": ["cut-and-paste", "reinhard"], "learned": [], "sizes": [64, 128],
                       "per_mask": 2, "limit": 4}, est_time="10 s"),
        "tiny": Scale("tiny", "5 classical methods + bargainnet_tiny (300 steps), 30 test images, 256/512/1024.",
                      _BASE, est_time="3 min (measured 182 s)"),
        "small": Scale("small", "as tiny, every test image (60), 3000 training steps.",
                       {**_BASE, "steps": 3000, "limit": 0}, est_time="5 min (measured 292 s)"),
        "paper": Scale("paper", "HAdobe5k test set (2160 images) from real FiveK, paper-size models.",
                       {**_BASE, "steps": 100_000, "limit": 0, "preset_bargainnet": "bargainnet_paper"},
                       needs_data="HAdobe5k / FiveK-derived data (--data ROOT with HAdobe5k)", needs_gpu=True,
                       est_time="days"),
    },
    recipe=fivek_recipe, methods=methods, build_table=build_table, claims=CLAIMS, paper_table=PAPER_TABLE, plot=plot,
    report=report))
