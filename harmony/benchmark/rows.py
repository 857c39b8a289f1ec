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
        """The ``All`` statistics of a method at a size.

        Parameters
        ----------
        method : str
            Method name.
        size : int, str or None
            Evaluation size; ``None``: the run's first size.

        Returns
        -------
        dict or None
            ``{"N", <metric>, "nan_<metric>", "time_ms"}`` as :func:`aggregate` computes it, or ``None``
            when the method has no scored row at that size.
        """
        size = self.sizes[0] if size is None else size
        return self.aggregates.get(size, {}).get(method, {}).get(ALL)


def _frame(rows: Sequence[dict], columns: Sequence[str]):
    """The rows as a pandas DataFrame with every column of ``columns`` (NaN where absent) and ``error``."""
    import pandas as pd

    frame = pd.DataFrame(list(rows))
    for column in columns:
        if column not in frame:
            frame[column] = np.nan
    if "error" not in frame:
        frame["error"] = ""
    return frame


def aggregate(rows: Sequence[dict], subsets: Sequence[str]) -> dict:
    """Mean of every metric per size, method and subset, plus ``All``.

    Parameters
    ----------
    rows : sequence of dict
        Per-image rows (:data:`ROW_COLUMNS`; metrics on the 0-255 scale, NaN where undefined).
    subsets : sequence of str
        The subsets, in the order the tables show them.

    Returns
    -------
    dict
        ``{size: {method: {subset | "All": {"N": int, <metric>: float, "nan_<metric>": int,
        "time_ms": float}}}}``. Means are over images; ``All`` is sample-weighted (every image counts
        once, not the mean of the subset means), as iSSAM's ``evaluate_model.py`` computes it and the
        iHarmony4 tables report. Failed rows (non-empty ``error``) are not counted; NaN values are left
        out of a mean and counted in ``nan_<metric>``.

    References
    ----------
    .. [1] Cong et al., DoveNet, CVPR 2020: the iHarmony4 tables (per-subset and overall means).
    """
    if not rows:
        return {}
    columns = (*[metric for metric, _, _ in TABLE_METRICS], "bg_drift", "time_ms")
    frame = _frame(rows, columns)
    frame = frame[frame["error"].fillna("") == ""]
    out: dict = {}
    for size, at_size in frame.groupby("size", sort=False):
        out[size] = {}
        for method, of_method in at_size.groupby("method", sort=False):
            per_subset: dict = {}
            groups = [(subset, of_method[of_method["subset"] == subset]) for subset in subsets
                      if (of_method["subset"] == subset).any()]
            groups.append((ALL, of_method))
            for name, group in groups:
                stats: dict[str, Any] = {"N": int(len(group))}
                for column in columns:
                    mean, _count, nans = nan_mean(group[column].to_numpy(dtype=np.float64))
                    stats[column] = mean
                    if column != "time_ms":
                        stats[f"nan_{column}"] = nans
                per_subset[name] = stats
            out[size][method] = per_subset
    return out


def bucket_rows(rows: Sequence[dict], subsets: Sequence[str], size: Any) -> dict:
    """Means per foreground-ratio bucket (0-5 %, 5-15 %, 15-100 %) of each subset and of ``All``.

    Parameters
    ----------
    rows : sequence of dict
        Per-image rows; ``fg_ratio`` is the foreground fraction after the protocol's resize, in [0, 1].
    subsets : sequence of str
        The subsets, in table order.
    size : int or str
        The evaluation size whose rows are bucketed.

    Returns
    -------
    dict
        ``{method: {"HCOCO (0%-5%)": stats, ..., "All (15%-100%)": stats}}``, stats as in
        :func:`aggregate` (``N`` and the means). Buckets are inclusive at both ends.

    References
    ----------
    .. [1] Cong et al., "BargainNet", ICME 2021, supplementary Table 1; iSSAM
           ``evaluate_model_fg_ratios.py``.
    """
    if not rows:
        return {}
    columns = (*[metric for metric, _, _ in TABLE_METRICS], "time_ms")
    frame = _frame(rows, columns)
    frame = frame[(frame["error"].fillna("") == "") & (frame["size"] == size)]
    out: dict = {}
    for method, of_method in frame.groupby("method", sort=False):
        per_bucket: dict = {}
        for subset in [*[name for name in subsets if (of_method["subset"] == name).any()], ALL]:
            group = of_method if subset == ALL else of_method[of_method["subset"] == subset]
            ratios = group["fg_ratio"].to_numpy(dtype=np.float64)
            for label, low, high in FG_BUCKETS:
                selected = group[(ratios >= low) & (ratios <= high)]
                stats: dict[str, Any] = {"N": int(len(selected))}
                for column in columns:
                    stats[column] = nan_mean(selected[column].to_numpy(dtype=np.float64))[0]
                per_bucket[f"{subset} ({label})"] = stats
        out[method] = per_bucket
    return out


def table_columns(rows: Sequence[dict]) -> list[tuple[str, str, str]]:
    """The table metrics that have at least one defined value.

    Parameters
    ----------
    rows : sequence of dict
        Per-image rows.

    Returns
    -------
    list of tuple of str
        ``(key, header, format)`` from :data:`TABLE_METRICS`, in table order (``("fmse", "fMSE",
        ".2f")``, ...); SSIM and LPIPS appear only when computed.
    """
    scored = [row for row in rows if not row.get("error")]
    defined = {key: any(not math.isnan(float(_number(row.get(key)))) for row in scored) for key, _, _ in TABLE_METRICS}
    return [(key, header, spec) for key, header, spec in TABLE_METRICS if defined[key]]


def _number(value: Any) -> float:
    """``None`` -> NaN, anything else -> float."""
    return math.nan if value is None else float(value)


def select_gallery(rows: Sequence[dict], size: Any, k: int, paired: bool) -> list[tuple[str, str, str]]:
    """The gallery's images: the best and the worst by mean fMSE over methods.

    Parameters
    ----------
    rows : sequence of dict
        Per-image rows (failed rows are ignored).
    size : int or str
        The evaluation size the gallery shows.
    k : int
        How many best and how many worst images.
    paired : bool
        Whether the set has ground truth; without it there is no score to rank by.

    Returns
    -------
    list of tuple of str
        ``(label, subset, composite)`` with label ``"best"`` (lowest mean fMSE first; MSE where fMSE is
        undefined) then ``"worst"`` (highest first, none repeated); without ground truth the first
        ``2k`` images by name, labelled ``"image"``.
    """
    by_image: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row.get("size") != size or row.get("error"):
            continue
        key = (row["subset"], row["composite"])
        value = _number(row.get("fmse")) if paired else math.nan
        if math.isnan(value) and paired:
            value = _number(row.get("mse"))
        by_image.setdefault(key, []).append(value)
    images = sorted(by_image)
    if not paired:
        return [("image", subset, composite) for subset, composite in images[:2 * k]]
    scored = [(nan_mean(values)[0], key) for key, values in by_image.items()]
    scored = sorted(item for item in scored if not math.isnan(item[0]))
    best = scored[:k]
    worst = [item for item in scored[::-1][:k] if item not in best]
    return [("best", *key) for _, key in best] + [("worst", *key) for _, key in worst]


def summarize(result: BenchResult) -> dict:
    """The content of ``summary.json``.

    Parameters
    ----------
    result : BenchResult
        A finished run with its aggregates.

    Returns
    -------
    dict
        ``protocol``, ``size`` (the first), ``sizes``, ``protocol_details``, ``methods`` (per method: status,
        fingerprint, weights sha256, and the ``All`` statistics at the first size merged in), ``by_size``
        (every aggregate), ``failures``, ``skipped``, ``fmse_undefined`` (images with an empty mask after
        the resize, per method), ``computed``, ``cached``, ``notes``, ``paired``. Pure: NaN stays NaN
        here; the JSON writer makes it ``null``.
    """
    size = result.sizes[0]
    at_size = result.aggregates.get(size, {})
    nan_counts = {}
    for method, per_subset in at_size.items():
        # Without ground truth every metric is NaN by construction: that is not an empty mask.
        if result.paired and ALL in per_subset and per_subset[ALL].get("nan_fmse"):
            nan_counts[method] = per_subset[ALL]["nan_fmse"]
    summary: dict[str, Any] = {
        "protocol": result.protocol, "size": size, "sizes": list(result.sizes),
        "protocol_details": result.protocol_details,
        "methods": {}, "by_size": {str(each): result.aggregates.get(each, {}) for each in result.sizes},
        "failures": [{"method": method, "image": image, "error": error} for method, image, error in result.failures],
        "skipped": [{"image": image, "reason": reason} for image, reason in result.skipped],
        "fmse_undefined": {"count_by_method": nan_counts,
                           "reason": "empty mask after the resize (fMSE, fPSNR, fSSIM are NaN)"},
        "computed": result.computed, "cached": result.cached, "notes": list(result.notes),
        "paired": result.paired,
    }
    for plan in result.methods:
        entry: dict[str, Any] = {"status": plan.status, "fingerprint": plan.fingerprint}
        if plan.weights_sha256:
            entry["weights_sha256"] = plan.weights_sha256
        if plan.earlier:
            entry["from_earlier_run"] = True
        if plan.message:
            entry["message"] = plan.message
        if plan.runnable:
            entry.update(at_size.get(plan.name, {}))
        summary["methods"][plan.name] = entry
    return summary
