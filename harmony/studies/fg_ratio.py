"""``fg-ratio``: BargainNet [1]_ supplement Table 1: MSE and fMSE of every method in each foreground-ratio
bucket (0-5 %, 5-15 %, 15-100 %, and 0-100 %).

Data: the coco generator (every instance down to a 0.5 % foreground, so the small bucket is populated)
and the fivek generator on the embedded sample, in one iHarmony4 root; or ``--data``. Methods: the
classical methods in the registry plus learned methods trained here with their tiny preset
(:func:`harmony.models.train.train`). Scoring: :func:`harmony.benchmark.runner.run_bench` (protocol
``iharm`` at 256, SamsungLabs ``scripts/evaluate_model_fg_ratios.py``) and the harness's own bucketing
(:func:`harmony.benchmark.rows.bucket_rows`: ratio after the resize, both ends inclusive).

References
----------
.. [1] Cong, Niu, Zhang et al., "BargainNet: Background-Guided Domain Translation for Image
   Harmonization", ICME 2021.
.. [2] SamsungLabs, image_harmonization (iSSAM), ``scripts/evaluate_model_fg_ratios.py``,
   https://github.com/SamsungLabs/image_harmonization
"""

from __future__ import annotations

import math

import numpy as np

from .. import serialize
from . import Claim, Evidence, Finding, PaperTable, Report, Scale, Study, StudyContext, register
from ._common import bench, combined_dataset, train_methods
from .plotting import Figure, Mark, Panel

BUCKETS = ("0%-5%", "5%-15%", "15%-100%")

# BargainNet (Cong et al., ICME 2021) supplement Table 1: (MSE, fMSE) per bucket, then 0-100 %.
PAPER_SUPP_TABLE1 = [
    ("Input composite", 28.51, 1208.86, 119.19, 1323.23, 577.58, 1887.05, 172.47, 1387.30),
    ("Lalonde and Efros", 41.52, 1481.59, 120.62, 1309.79, 444.65, 1467.98, 150.53, 1433.21),
    ("Xue et al.", 31.24, 1325.96, 132.12, 1459.28, 479.53, 1555.69, 155.87, 1411.40),
    ("Zhu et al.", 33.30, 1297.65, 145.14, 1577.70, 682.69, 2251.76, 204.77, 1580.17),
    ("DIH", 18.92, 799.17, 64.23, 725.86, 228.86, 768.89, 76.77, 773.18),
    ("DoveNet", 14.03, 591.88, 44.90, 504.42, 152.07, 505.82, 52.36, 549.96),
    ("S2AM", 13.51, 509.41, 41.79, 454.21, 137.12, 449.81, 48.00, 481.79),
    ("BargainNet (Ours)", 10.55, 450.33, 32.13, 359.49, 109.23, 353.84, 37.82, 405.23),
]
PAPER_COLUMNS = ["method", "MSE 0%-5%", "fMSE 0%-5%", "MSE 5%-15%", "fMSE 5%-15%", "MSE 15%-100%",
                 "fMSE 15%-100%", "MSE 0%-100%", "fMSE 0%-100%"]


COMPOSITE = "cut-and-paste"
PAPER_TABLE = PaperTable(
    PAPER_COLUMNS, PAPER_SUPP_TABLE1,
    "BargainNet (Cong et al., ICME 2021) supplement Table 1: MSE and fMSE in each foreground-ratio range, "
    "iHarmony4 test set (7404 images).")


def _format(value: float) -> str:
    return serialize.format_number(value, ".2f", nan="n/a")


def recipe(ctx: StudyContext) -> dict:
    """Data recipe: HCOCO with every instance down to a 0.5 % foreground, plus HAdobe5k; or ``--data``.

    Parameters
    ----------
    ctx : StudyContext
        The run (``coco_per_object``, ``fivek``, ``fivek_per_mask``, ``fivek_test_fraction``).

    Returns
    -------
    dict
        ``"root"`` (the iHarmony4 root) and ``"descriptions"`` (one line per subset).
    """
    settings = ctx.settings
    coco = {"min_fg_ratio": 0.005, "objects": "all", "per_object": settings["coco_per_object"], "test_fraction": 1.0}
    fivek = {"per_mask": settings["fivek_per_mask"] or None, "test_fraction": settings["fivek_test_fraction"]}
    root, descriptions = combined_dataset(ctx, coco=coco, fivek=fivek if settings["fivek"] else None)
    return {"root": root, "descriptions": descriptions}


def methods(ctx: StudyContext, data: dict) -> dict:
    """Methods step: train the learned methods, then benchmark every method at one size.

    Parameters
    ----------
    ctx : StudyContext
        The run (``methods``, ``learned``, ``steps``, ``size``, ``protocol``, ``limit``).
    data : dict
        What :func:`recipe` returned.

    Returns
    -------
    dict
        ``"methods"`` (names, classical then learned), ``"learned"``, ``"train_info"`` and ``"bench"``
        (the :func:`harmony.benchmark.runner.run_bench` result).
    """
    settings = ctx.settings
    learned = {m: settings["steps"] for m in settings["learned"]}
    weights, train_info = train_methods(ctx, data["root"], learned)
    names = list(settings["methods"]) + list(learned)
    result = bench(ctx, data["root"], "fg", methods=names, sizes=[settings["size"]], protocol=settings["protocol"],
                   weights=weights, limit=settings["limit"])
    return {"methods": names, "learned": list(learned), "train_info": train_info, "bench": result}


def build_table(ctx: StudyContext, measured: dict):
    """One row per method: test-image count, MSE and fMSE per bucket, then over all images.

    Parameters
    ----------
    ctx : StudyContext
        The run (``size``).
    measured : dict
        What :func:`methods` returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``N/MSE/fMSE <bucket>`` for each of :data:`BUCKETS`, ``MSE 0%-100%``,
        ``fMSE 0%-100%``; values rounded to 2 decimals, NaN where a bucket is empty.
    """
    import pandas as pd

    from ..benchmark import rows as report_rows

    size, result = ctx.settings["size"], measured["bench"]
    subsets = sorted({r["subset"] for r in result.rows})
    buckets = report_rows.bucket_rows(result.rows, subsets, size)
    overall = report_rows.aggregate(result.rows, subsets).get(size, {})
    rows = []
    for method in measured["methods"]:
        if method not in buckets:
            continue
        row = {"method": method}
        for bucket in BUCKETS:
            stats = buckets[method].get(f"All ({bucket})", {})
            row[f"N {bucket}"] = stats.get("N", 0)
            row[f"MSE {bucket}"] = stats.get("mse", math.nan)
            row[f"fMSE {bucket}"] = stats.get("fmse", math.nan)
        row["MSE 0%-100%"] = overall.get(method, {}).get("All", {}).get("mse", math.nan)
        row["fMSE 0%-100%"] = overall.get(method, {}).get("All", {}).get("fmse", math.nan)
        rows.append(row)
    return pd.DataFrame(rows).round(2)


def _value(evidence: Evidence, method: str, column: str) -> float:
    return evidence.cell("method", method, column)


def _mse_grows(evidence: Evidence, _item=None) -> Finding:
    """Does MSE increase from the small to the large bucket for every method with all three buckets?"""
    complete = [m for m in evidence.table["method"]
                if all(np.isfinite([_value(evidence, m, f"MSE {b}") for b in BUCKETS]))]
    increasing = [m for m in complete if _value(evidence, m, "MSE 0%-5%") < _value(evidence, m, "MSE 5%-15%")
                  < _value(evidence, m, "MSE 15%-100%")]
    return Finding(f"{len(increasing)} of {len(complete)} methods increase ({', '.join(increasing) or 'none'})",
                   bool(complete) and len(increasing) == len(complete))


def _xue_small_and_large(evidence: Evidence, _item=None) -> Finding | None:
    """Xue et al. against the composite in the smallest and largest buckets."""
    if not {"xue2012", COMPOSITE} <= set(evidence.table["method"]):
        return None
    xue_small, comp_small = _value(evidence, "xue2012", "fMSE 0%-5%"), _value(evidence, COMPOSITE, "fMSE 0%-5%")
    xue_large, comp_large = (_value(evidence, "xue2012", "fMSE 15%-100%"),
                             _value(evidence, COMPOSITE, "fMSE 15%-100%"))
    testable = all(np.isfinite([xue_small, comp_small, xue_large, comp_large]))
    return Finding(f"0-5 %: {_format(xue_small)} vs {_format(comp_small)}; 15-100 %: {_format(xue_large)} vs "
                   f"{_format(comp_large)}", (xue_small > comp_small and xue_large < comp_large) if testable else None)


def _learned_in_table(evidence: Evidence):
    return [m for m in evidence.measured["learned"] if m in set(evidence.table["method"])]


def _learned_beats_composite(evidence: Evidence, method: str) -> Finding:
    """The learned method's fMSE against the composite's, bucket by bucket."""
    learned = [_value(evidence, method, f"fMSE {b}") for b in BUCKETS]
    composite = [_value(evidence, COMPOSITE, f"fMSE {b}") for b in BUCKETS]
    lower = [a < c for a, c in zip(learned, composite) if np.isfinite(a) and np.isfinite(c)]
    return Finding(f"{method} {' / '.join(_format(v) for v in learned)} vs "
                   f"{' / '.join(_format(v) for v in composite)}", all(lower) if lower else None)


def _learned_is_best(evidence: Evidence, method: str) -> Finding:
    """Is the learned method's fMSE the lowest of all methods in every populated bucket?"""
    others = [o for o in evidence.table["method"] if o != method]
    best = all(_value(evidence, method, f"fMSE {b}") <= min(_value(evidence, o, f"fMSE {b}") for o in others)
               for b in BUCKETS if np.isfinite(_value(evidence, method, f"fMSE {b}")))
    return Finding("yes" if best else "no", bool(best))


CLAIMS = (
    Claim("MSE grows with the foreground ratio (for every method)", "composite 28.51 < 119.19 < 577.58; all rows increase",
          _mse_grows),
    Claim("Xue et al. worsens small foregrounds' fMSE but improves large ones",
          "0-5 %: 1325.96 vs composite 1208.86; 15-100 %: 1555.69 vs 1887.05", _xue_small_and_large),
    Claim("the learned method ({item}) lowers fMSE below the composite in every bucket",
          "BargainNet 450.33 / 359.49 / 353.84 vs 1208.86 / 1323.23 / 1887.05", _learned_beats_composite,
          each=_learned_in_table),
    Claim("{item} has the lowest fMSE of all methods in every bucket", "BargainNet best in every range",
          _learned_is_best, each=_learned_in_table),
)


def plot(evidence: Evidence) -> Figure:
    """Plot spec: MSE and fMSE (log scale) of each method across the three buckets.

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Figure
        Two panels (MSE, fMSE); the legend on the second.
    """
    x = np.arange(len(BUCKETS))
    panels = []
    for metric in ("MSE", "fMSE"):
        marks = [Mark("plot", (x, [_value(evidence, m, f"{metric} {b}") for b in BUCKETS]), {"marker": "o", "label": m})
                 for m in evidence.table["method"]]
        panels.append(Panel(marks, yscale={"value": "log"}, xticks=x, xticklabels=BUCKETS, xlabel="foreground ratio",
                            ylabel=metric, legend={"fontsize": 6} if metric == "fMSE" else None))
    return Figure((9, 3.6), panels, suptitle="fg-ratio: BargainNet supplement Table 1 (ours)")


def report(evidence: Evidence) -> Report:
    """Data used (datasets, images per bucket, protocol, training), rows not run, notes.

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Report
        What the README and study.json say besides the tables.
    """
    settings, table, result = evidence.settings, evidence.table, evidence.measured["bench"]
    per_bucket = {b: int(table[f"N {b}"].max()) if len(table) else 0 for b in BUCKETS}
    missing = [f"{p.name}: {p.status} ({p.message})" for p in result.methods if not p.runnable]
    return Report(
        data_used={"datasets": evidence.data["descriptions"], "root": str(evidence.data["root"]),
                   "test images per bucket": per_bucket, "protocol": f"{settings['protocol']} at {settings['size']}",
                   "learned": evidence.measured["train_info"]},
        missing=missing + ["Lalonde and Efros, Zhu et al., DoveNet and S2AM (paper rows) are not in the registry"],
        notes=["learned methods are trained here on the same root's train split with their tiny preset; "
               "their numbers say the pipeline works, not how the paper's models perform",
               f"bench files (per-image CSV, tables): {result.out}"])


_BASE = {"methods": ["cut-and-paste", "xue2012", "reinhard", "xiao", "fecker", "mkl"], "learned": ["bargainnet"],
         "steps": 300, "size": 256, "protocol": "iharm", "coco_per_object": 3, "fivek": True, "fivek_per_mask": 0,
         "fivek_test_fraction": 0.25, "limit": 0, "preset_bargainnet": ""}
register(Study(
    name="fg-ratio", paper="BargainNet (Cong et al., ICME 2021), supplement section 3", table="Supplement Table 1",
    measures="MSE and fMSE of every method in the 0-5 %, 5-15 % and 15-100 % foreground-ratio buckets",
    scales={
        "test": Scale("test", "3 classical methods on the coco sample only (one composite per object).",
                      {**_BASE, "methods": ["cut-and-paste", "xue2012", "reinhard"], "learned": [], "coco_per_object": 1,
                       "fivek": False}, est_time="15 s"),
        "tiny": Scale("tiny", "6 classical methods + bargainnet_tiny (300 steps) on the coco + FiveK-like samples.",
                      _BASE, est_time="4 min (measured 237 s on the shared 2-core machine)"),
        "small": Scale("small", "as tiny, 3000 training steps, 6 composites per coco object.",
                       {**_BASE, "steps": 3000, "coco_per_object": 6}, est_time="4 min (measured 224 s)"),
        "paper": Scale("paper", "iHarmony4 test set (7404 images), bargainnet_paper trained 100k steps.",
                       {**_BASE, "steps": 100_000, "preset_bargainnet": "bargainnet_paper"},
                       needs_data="the iHarmony4 dataset (--data IHARMONY4_ROOT)", needs_gpu=True, est_time="days"),
    },
    recipe=recipe, methods=methods, build_table=build_table, claims=CLAIMS, paper_table=PAPER_TABLE, plot=plot,
    report=report))
