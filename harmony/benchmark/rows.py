"""Pure aggregation of bench rows: means per subset, foreground-ratio buckets, the resolution sweep.

A *row* is one (method, image, size) result as the runner (:mod:`harmony.benchmark.runner`) produces
it, with the columns :data:`ROW_COLUMNS` (metrics on the 0-255 scale, NaN where undefined, ``error``
non-empty for a failed image). Everything here is a pure function of rows: no file access, no method
runs, no printing. Data flows one way: runner -> rows -> report.

- :func:`aggregate`: ``{size: {method: {subset | "All": stats}}}``; per-image means, ``All`` sample-weighted
  (every image counts once, not the mean of subset means; iSSAM ``evaluate_model.py``), NaN values left
  out of a mean and counted (``nan_<metric>``), failed rows not counted.
- :func:`bucket_rows`: foreground-ratio buckets 0-5 / 5-15 / 15-100 %, inclusive at both ends, ratio
  after the protocol's resize (BargainNet supplement Table 1; iSSAM ``evaluate_model_fg_ratios.py``).
- :func:`select_gallery`: the best and worst images by mean fMSE over methods.
- :func:`summarize`: the content of ``summary.json``.

:class:`MethodPlan` and :class:`BenchResult` live here (not in the runner) so that the report can read
them without importing the runner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import FG_BUCKETS, nan_mean

METRIC_COLUMNS = ("mse", "psnr", "fmse", "fpsnr", "ssim", "fssim", "lpips", "bg_drift")
ROW_COLUMNS = ("method", "subset", "composite", "size", "protocol", "fg_ratio", *METRIC_COLUMNS,
               "se", "mask_area", "height", "width", "time_ms", "error")
TABLE_METRICS = (("mse", "MSE", ".2f"), ("fmse", "fMSE", ".2f"), ("psnr", "PSNR", ".2f"),
                 ("fpsnr", "fPSNR", ".2f"), ("ssim", "SSIM", ".4f"), ("fssim", "fSSIM", ".4f"),
                 ("lpips", "LPIPS", ".4f"))
ALL = "All"

__all__ = ["METRIC_COLUMNS", "ROW_COLUMNS", "TABLE_METRICS", "ALL", "MethodPlan", "GalleryEntry", "BenchResult",
           "aggregate", "bucket_rows", "table_columns", "select_gallery", "summarize", "nan_mean"]


@dataclass
class MethodPlan:
    """One method of a bench run: its card, whether it can run, and the fingerprint its cached rows
    are keyed by (card, options, weights sha256, tool version)."""

    name: str
    card: Any
    status: str = "ok"        # "ok" | "no checkpoint" | "unavailable"
    message: str = ""
    fingerprint: str = ""
    weights_sha256: str | None = None
    options: dict = field(default_factory=dict)
    earlier: bool = False     # not asked for in this run: kept from an earlier run into the same folder

    @property
    def runnable(self) -> bool:
        return self.status == "ok"


@dataclass
class GalleryEntry:
    """One gallery row: an image and the files (already written by the runner) to show for it.

    ``files`` maps ``"composite"``, ``"ground truth"`` and each method name to an image file at the
    evaluation size (the method's own prediction, saved when it was computed).
    """

    label: str               # "best" | "worst" | "image"
    subset: str
    composite: str
    fg_ratio: float
    files: dict[str, Path] = field(default_factory=dict)
    #: the dataset's own files: "composite", "mask" and (paired sets) "real" -- the gallery shows them at
    #: their aspect ratio and resolution with the mask outline
    sources: dict[str, Path] = field(default_factory=dict)


@dataclass
class BenchResult:
    """Everything a bench run produced, aggregates included (commands do not re-read summary.json)."""

    out: Path
    protocol: str
    sizes: list
    methods: list[MethodPlan]
    rows: list[dict]
    subsets: list[str] = field(default_factory=list)
    paired_subsets: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)   # (method, image, error)
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0
    paired: bool = True
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    protocol_details: str = ""
    aggregates: dict = field(default_factory=dict)     # aggregate(rows, subsets)
    buckets: dict = field(default_factory=dict)        # bucket_rows(rows, subsets, sizes[0])
    gallery: list[GalleryEntry] = field(default_factory=list)
    summary: dict = field(default_factory=dict)        # summarize(self): the content of summary.json

    def all_row(self, method: str, size: Any = None) -> dict | None:
        """The ``All`` statistics of a method at a size (default: the first)."""
        size = self.sizes[0] if size is None else size
        return self.aggregates.get(size, {}).get(method, {}).get(ALL)


def _frame(rows: Sequence[dict], columns: Sequence[str]):
    import pandas as pd

    df = pd.DataFrame(list(rows))
    for c in columns:
        if c not in df:
            df[c] = np.nan
    if "error" not in df:
        df["error"] = ""
    return df


def aggregate(rows: Sequence[dict], subsets: Sequence[str]) -> dict:
    """{size: {method: {subset | All: {"N", <metric>, "nan_<metric>", "time_ms"}}}}.

    Means are per-image means; ``All`` is sample-weighted (every image counts once). Failed rows
    (``error``) are not counted; NaN values are left out and counted.
    """
    if not rows:
        return {}
    cols = (*[m for m, _, _ in TABLE_METRICS], "bg_drift", "time_ms")
    df = _frame(rows, cols)
    df = df[df["error"].fillna("") == ""]
    out: dict = {}
    for size, dsz in df.groupby("size", sort=False):
        out[size] = {}
        for method, dm in dsz.groupby("method", sort=False):
            per: dict = {}
            groups = [(s, dm[dm["subset"] == s]) for s in subsets if (dm["subset"] == s).any()]
            groups.append((ALL, dm))
            for name, g in groups:
                stats: dict[str, Any] = {"N": int(len(g))}
                for c in cols:
                    mean, _n, nans = nan_mean(g[c].to_numpy(dtype=np.float64))
                    stats[c] = mean
                    if c != "time_ms":
                        stats[f"nan_{c}"] = nans
                per[name] = stats
            out[size][method] = per
    return out


def bucket_rows(rows: Sequence[dict], subsets: Sequence[str], size: Any) -> dict:
    """{method: {"HCOCO (0%-5%)": stats, ..., "All (0%-5%)": stats}} (buckets inclusive at both ends)."""
    if not rows:
        return {}
    cols = (*[m for m, _, _ in TABLE_METRICS], "time_ms")
    df = _frame(rows, cols)
    df = df[(df["error"].fillna("") == "") & (df["size"] == size)]
    out: dict = {}
    for method, dm in df.groupby("method", sort=False):
        per: dict = {}
        for sub in [*[s for s in subsets if (dm["subset"] == s).any()], ALL]:
            g = dm if sub == ALL else dm[dm["subset"] == sub]
            ratios = g["fg_ratio"].to_numpy(dtype=np.float64)
            for label, lo, hi in FG_BUCKETS:
                sel = g[(ratios >= lo) & (ratios <= hi)]
                stats: dict[str, Any] = {"N": int(len(sel))}
                for c in cols:
                    stats[c] = nan_mean(sel[c].to_numpy(dtype=np.float64))[0]
                per[f"{sub} ({label})"] = stats
        out[method] = per
    return out


def table_columns(rows: Sequence[dict]) -> list[tuple[str, str, str]]:
    """The (key, header, format) of every table metric that has at least one defined value."""
    ok = [r for r in rows if not r.get("error")]
    has = {k: any(not math.isnan(float(_num(r.get(k)))) for r in ok) for k, _, _ in TABLE_METRICS}
    return [(k, h, f) for k, h, f in TABLE_METRICS if has[k]]


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def select_gallery(rows: Sequence[dict], size: Any, k: int, paired: bool) -> list[tuple[str, str, str]]:
    """[(label, subset, composite)]: best and worst ``k`` images by the mean fMSE over methods (MSE where
    fMSE is undefined); without ground truth, the first ``2k`` images by name."""
    by_image: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r.get("size") != size or r.get("error"):
            continue
        key = (r["subset"], r["composite"])
        v = _num(r.get("fmse")) if paired else math.nan
        if math.isnan(v) and paired:
            v = _num(r.get("mse"))
        by_image.setdefault(key, []).append(v)
    images = sorted(by_image)
    if not paired:
        return [("image", s, c) for s, c in images[:2 * k]]
    scored = [(nan_mean(v)[0], key) for key, v in by_image.items()]
    scored = sorted(t for t in scored if not math.isnan(t[0]))
    best = scored[:k]
    worst = [t for t in scored[::-1][:k] if t not in best]
    return [("best", *key) for _, key in best] + [("worst", *key) for _, key in worst]


def summarize(result: BenchResult) -> dict:
    """The content of ``summary.json`` (pure; NaN stays NaN here, the JSON writer makes it null)."""
    size = result.sizes[0]
    agg_size = result.aggregates.get(size, {})
    nan_counts = {}
    for m, per in agg_size.items():
        # Without ground truth every metric is NaN by construction: that is not an empty mask.
        if result.paired and ALL in per and per[ALL].get("nan_fmse"):
            nan_counts[m] = per[ALL]["nan_fmse"]
    summary: dict[str, Any] = {
        "protocol": result.protocol, "size": size, "sizes": list(result.sizes),
        "protocol_details": result.protocol_details,
        "methods": {}, "by_size": {str(s): result.aggregates.get(s, {}) for s in result.sizes},
        "failures": [{"method": m, "image": i, "error": e} for m, i, e in result.failures],
        "skipped": [{"image": i, "reason": r} for i, r in result.skipped],
        "fmse_undefined": {"count_by_method": nan_counts,
                           "reason": "empty mask after the resize (fMSE, fPSNR, fSSIM are NaN)"},
        "computed": result.computed, "cached": result.cached, "notes": list(result.notes),
        "paired": result.paired,
    }
    for p in result.methods:
        entry: dict[str, Any] = {"status": p.status, "fingerprint": p.fingerprint}
        if p.weights_sha256:
            entry["weights_sha256"] = p.weights_sha256
        if p.earlier:
            entry["from_earlier_run"] = True
        if p.message:
            entry["message"] = p.message
        if p.runnable:
            entry.update(agg_size.get(p.name, {}))
        summary["methods"][p.name] = entry
    return summary
