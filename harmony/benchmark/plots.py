"""Paper-ready figures of a bench run: bars with bootstrap intervals, fMSE against the foreground ratio.

Every figure is sized for a paper column (3.3 in wide, 7-8 pt type: readable when printed at that
width) or, where it needs the room, for a two-column ``figure*`` (7 in), and is written as PDF (vector,
for the paper) and PNG (300 dpi, for the web). Methods are told apart by colour *and* hatching/marker:
the colours are Okabe & Ito's colour-blind-safe set ("Color Universal Design", 2008) and every method
gets its own (colour, hatch, marker) triple, so 13+ methods stay distinct in print and in grey. The
cut-and-paste composite -- the baseline every harmonization paper compares to -- is drawn as a dashed
reference line rather than as one more bar. Legends sit outside the axes.

Inputs are data only: the per-(group, metric, method) summary of
:func:`harmony.benchmark.significance.analyse` (mean, ci_low, ci_high) and the per-image records
(``method``, ``fg_ratio``, ``fmse``). Functions return matplotlib figures; :func:`save_figure` writes a
figure as ``STEM.pdf`` + ``STEM.png`` through :mod:`harmony.io`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

#: Okabe-Ito colour-blind-safe palette (black last; the composite baseline uses grey)
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "++", "ooo", "---")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d")
BASELINE = "cut-and-paste"
BASELINE_COLOUR = "#666666"
COLUMN_WIDTH = 3.3     # in: one column of a two-column paper (CVPR/ICCV/TIP: 3.25-3.5 in)
PAGE_WIDTH = 7.0       # in: a figure* across both columns
FG_BINS = (0.0, 0.02, 0.05, 0.10, 0.15, 0.25, 0.40, 1.0)

LABELS = {"mse": "MSE", "fmse": "fMSE", "psnr": "PSNR (dB)", "fpsnr": "fPSNR (dB)", "ssim": "SSIM",
          "fssim": "fSSIM", "lpips": "LPIPS", "bg_drift": "background drift"}
HIGHER_IS_BETTER = {"mse": False, "fmse": False, "psnr": True, "fpsnr": True, "ssim": True, "fssim": True,
                    "lpips": False, "bg_drift": False}


def paper_style() -> dict:
    """Matplotlib rcParams for column-width figures: 7 pt text, thin lines, Type-42 fonts embedded in the PDF.

    Returns
    -------
    dict
        rcParams for ``matplotlib.pyplot.rc_context``: text 6.5-7 pt (the size of a two-column paper's
        captions), 0.6 pt axes, no top/right spines, TrueType (Type 42) fonts so the PDF passes the
        conferences' font checks, tight bounding boxes.
    """
    return {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6.5,
            "ytick.labelsize": 6.5, "legend.fontsize": 6.5, "axes.linewidth": 0.6, "lines.linewidth": 1.0,
            "xtick.major.width": 0.6, "ytick.major.width": 0.6, "hatch.linewidth": 0.5,
            "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
            "axes.spines.top": False, "axes.spines.right": False}


def method_styles(methods: Sequence[str]) -> dict[str, dict]:
    """{method: {"color", "hatch", "marker"}}: a distinct (colour, hatch, marker) triple per method.

    Colours cycle through the 8 Okabe-Ito colours; hatching alternates between neighbours (solid, ///)
    and moves on to two other hatches on each further cycle of 8, so (colour, hatch) is unique for up to
    32 methods and neighbours differ in grey print too; markers (13) go to line plots. The baseline
    (cut-and-paste) is grey with no hatch.

    Parameters
    ----------
    methods : sequence of str
        Method names, in plotting order (the order decides the colours).

    Returns
    -------
    dict
        ``{method: {"color": hex str, "hatch": str, "marker": str}}``.

    References
    ----------
    .. [1] M. Okabe and K. Ito, "Color Universal Design" (2002): the colour-blind-safe palette.
    """
    out: dict[str, dict] = {}
    index = 0
    for method in methods:
        if method == BASELINE:
            out[method] = {"color": BASELINE_COLOUR, "hatch": "", "marker": "x"}
            continue
        cycle, colour = divmod(index, len(OKABE_ITO))
        out[method] = {"color": OKABE_ITO[colour], "hatch": HATCHES[(2 * cycle + index % 2) % len(HATCHES)],
                  "marker": MARKERS[index % len(MARKERS)]}
        index += 1
    return out


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _label(metric: str) -> str:
    arrow = " (higher is better)" if HIGHER_IS_BETTER.get(metric, False) else " (lower is better)"
    return LABELS.get(metric, metric) + arrow


def bar_chart(summary: pd.DataFrame, metric: str, *, group: str = "All", methods: Sequence[str] | None = None,
              title: str | None = None):
    """Column-width horizontal bars of one metric for one group: mean and 95 % interval per method.

    Methods are labelled on the axis (no legend needed) in the given order, best first when ``methods``
    is None; the cut-and-paste composite is a dashed vertical reference line (with its interval as a
    grey band) instead of a bar.

    Parameters
    ----------
    summary : pandas.DataFrame
        Means with intervals, columns ``group, method, metric, mean, ci_low, ci_high``
        (``Significance.summary`` of :func:`harmony.benchmark.significance.analyse`).
    metric : str
        The metric to draw (``"fmse"``, ``"psnr"``, ...).
    group : str
        The subset, or ``"All"``.
    methods : sequence of str or None
        Methods in axis order; ``None``: best first.
    title : str or None
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        Column width (3.5 in), height growing with the number of methods.

    Raises
    ------
    ValueError
        When ``summary`` has no row for the metric and group.
    """
    plt = _plt()
    rows = summary[(summary["group"] == group) & (summary["metric"] == metric)]
    if rows.empty:
        raise ValueError(f"summary: no rows for metric {metric!r} in group {group!r}")
    if methods is None:
        rows = rows.sort_values("mean", ascending=not HIGHER_IS_BETTER.get(metric, False), kind="stable")
        methods = list(rows["method"])
    rows = rows.set_index("method")
    styles = method_styles(methods)
    bars = [method for method in methods if method in rows.index and method != BASELINE]
    with plt.rc_context(paper_style()):
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.6 + 0.17 * max(len(bars), 2)))
        positions = np.arange(len(bars))[::-1]
        means = rows.loc[bars, "mean"].to_numpy(float)
        errors = np.abs(np.vstack([means - rows.loc[bars, "ci_low"].to_numpy(float),
                                rows.loc[bars, "ci_high"].to_numpy(float) - means]))
        for position, method, mean, below, above in zip(positions, bars, means, errors[0], errors[1]):
            style = styles[method]
            ax.barh(position, mean, height=0.72, color=style["color"], hatch=style["hatch"],
                    edgecolor="white" if not style["hatch"] else "#333333", linewidth=0.4, alpha=0.9)
            ax.errorbar(mean, position, xerr=[[below], [above]], fmt="none", ecolor="black", elinewidth=0.7,
                        capsize=1.5)
        if BASELINE in rows.index:
            baseline = rows.loc[BASELINE]
            ax.axvspan(baseline["ci_low"], baseline["ci_high"], color=BASELINE_COLOUR, alpha=0.15, lw=0)
            ax.axvline(baseline["mean"], color=BASELINE_COLOUR, ls="--", lw=0.9)
            ax.annotate("cut-and-paste", xy=(baseline["mean"], 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, 1), textcoords="offset points", fontsize=6, color=BASELINE_COLOUR,
                        va="bottom", ha="left", annotation_clip=False)
        ax.set_yticks(positions, bars)
        ax.set_ylim(-0.6, len(bars) - 0.4)
        ax.set_xlabel(_label(metric) + ", mean and 95 % CI")
        if title:
            ax.set_title(title, loc="left", pad=9)
        ax.grid(axis="x", lw=0.3, alpha=0.5)
        ax.set_axisbelow(True)
        fig.tight_layout()
    return fig


def grouped_bar_chart(summary: pd.DataFrame, metric: str, *, groups: Sequence[str] | None = None,
                      methods: Sequence[str] | None = None, title: str | None = None):
    """Two-column (``figure*``) grouped bars: one group of bars per subset, 95 % intervals on every bar.

    The cut-and-paste composite is a dashed horizontal line across its subset's group; the legend sits
    below the axes, in as many columns as fit.

    Parameters
    ----------
    summary : pandas.DataFrame
        Means with intervals, columns ``group, method, metric, mean, ci_low, ci_high``.
    metric : str
        The metric to draw.
    groups : sequence of str or None
        Subsets in axis order (default: as they appear in ``summary``).
    methods : sequence of str or None
        Methods in bar order (default: as they appear).
    title : str or None
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        Page width (7 in), for a ``figure*``.

    Raises
    ------
    ValueError
        When ``summary`` has no row for the metric.
    """
    plt = _plt()
    rows = summary[summary["metric"] == metric]
    if rows.empty:
        raise ValueError(f"summary: no rows for metric {metric!r}")
    groups = list(groups or dict.fromkeys(rows["group"]))
    methods = list(methods or dict.fromkeys(rows["method"]))
    styles = method_styles(methods)
    bars = [method for method in methods if method != BASELINE]
    lookup = {(record.group, record.method): record for record in rows.itertuples(index=False)}
    width = 0.84 / max(1, len(bars))
    with plt.rc_context(paper_style()):
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 2.4))
        for index, method in enumerate(bars):
            style = styles[method]
            centres, means, below, above = [], [], [], []
            for group_index, group in enumerate(groups):
                record = lookup.get((group, method))
                if record is None or not math.isfinite(record.mean):
                    continue
                centres.append(group_index + (index - (len(bars) - 1) / 2) * width)
                means.append(record.mean)
                below.append(max(record.mean - record.ci_low, 0) if math.isfinite(record.ci_low) else 0)
                above.append(max(record.ci_high - record.mean, 0) if math.isfinite(record.ci_high) else 0)
            ax.bar(centres, means, width * 0.95, color=style["color"], hatch=style["hatch"], label=method,
                   edgecolor="#333333" if style["hatch"] else "white", linewidth=0.3)
            ax.errorbar(centres, means, yerr=[below, above], fmt="none", ecolor="black", elinewidth=0.5, capsize=0.8)
        for group_index, group in enumerate(groups):
            record = lookup.get((group, BASELINE))
            if record is not None and math.isfinite(record.mean):
                ax.hlines(record.mean, group_index - 0.46, group_index + 0.46, colors=BASELINE_COLOUR,
                          linestyles="--", lw=0.9, label="cut-and-paste" if group_index == 0 else None)
        ax.set_xticks(np.arange(len(groups)), groups)
        ax.set_ylabel(_label(metric))
        ax.grid(axis="y", lw=0.3, alpha=0.5)
        ax.set_axisbelow(True)
        if title:
            ax.set_title(title, loc="left")
        ncol = min(len(bars) + 1, 7)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=ncol, frameon=False,
                  handlelength=1.6, columnspacing=1.0)
        fig.tight_layout()
    return fig


def fg_ratio_bins(records: pd.DataFrame, metric: str = "fmse", bins: Sequence[float] = FG_BINS,
                  min_count: int = 3) -> pd.DataFrame:
    """Per method and foreground-ratio bin: median and quartiles of ``metric`` (pure).

    Bins are ``[lo, hi)`` (the last one closed); bins with fewer than ``min_count`` images are left out.

    Parameters
    ----------
    records : pandas.DataFrame
        Per-image rows with ``method``, ``fg_ratio`` (in [0, 1]) and ``metric``; non-finite values are left
        out.
    metric : str
        The column to summarise.
    bins : sequence of float
        Bin edges in [0, 1], increasing.
    min_count : int
        The fewest images a bin needs to be kept.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, lo, hi, centre`` (the bin's midpoint), ``n, median, q25, q75``, sorted by method
        and ``lo``.

    References
    ----------
    .. [1] Cong et al., DoveNet, CVPR 2020, and BargainNet, ICME 2021: errors reported by foreground ratio.
    """
    df = records[["method", "fg_ratio", metric]].copy()
    df = df[np.isfinite(df["fg_ratio"].astype(float)) & np.isfinite(df[metric].astype(float))]
    edges = np.asarray(bins, float)
    idx = np.clip(np.searchsorted(edges, df["fg_ratio"].to_numpy(float), side="right") - 1, 0, len(edges) - 2)
    df["bin"] = idx
    rows = []
    for (m, b), g in df.groupby(["method", "bin"], sort=False):
        if len(g) < min_count:
            continue
        v = g[metric].to_numpy(float)
        q25, med, q75 = np.percentile(v, [25, 50, 75])
        rows.append({"method": m, "lo": edges[b], "hi": edges[b + 1], "centre": (edges[b] + edges[b + 1]) / 2,
                     "n": len(v), "median": med, "q25": q25, "q75": q75})
    out = pd.DataFrame(rows, columns=["method", "lo", "hi", "centre", "n", "median", "q25", "q75"])
    return out.sort_values(["method", "lo"], kind="stable").reset_index(drop=True)


def fg_ratio_chart(records: pd.DataFrame, *, metric: str = "fmse", methods: Sequence[str] | None = None,
                   bins: Sequence[float] = FG_BINS, title: str | None = None, min_count: int | None = None):
    """fMSE against the foreground ratio: binned medians with inter-quartile bands, one panel per method.

    Small multiples instead of one crowded panel: each panel shows one method's median line and IQR band
    over the same bins, with the cut-and-paste median as a dashed grey reference; axes are shared and
    the y axis is logarithmic (fMSE spans orders of magnitude). Bins hold at least ``min_count``
    images (default 3, or 1 where no bin reaches 3).

    Parameters
    ----------
    records : pandas.DataFrame
        Per-image rows with ``method``, ``fg_ratio`` and ``metric``.
    metric : str
        The column on the y axis.
    methods : sequence of str or None
        Panels in order (default: as they appear); the cut-and-paste composite is the reference line.
    bins : sequence of float
        Bin edges in [0, 1].
    title : str or None
        Figure title.
    min_count : int or None
        The fewest images per bin (default 3, falling back to 1).

    Returns
    -------
    matplotlib.figure.Figure
        Two or four panels per row, shared axes.

    Raises
    ------
    ValueError
        When no row has a finite metric and a foreground ratio.
    """
    plt = _plt()
    from matplotlib.ticker import FixedLocator, LogLocator, NullFormatter, StrMethodFormatter

    # bins of at least 3 images; a tiny run (every bin smaller) shows what it has
    binned = fg_ratio_bins(records, metric, bins, min_count or 3)
    if binned.empty and min_count is None:
        binned = fg_ratio_bins(records, metric, bins, 1)
    if binned.empty:
        raise ValueError(f"records: no finite {metric} with a foreground ratio")
    methods = [m for m in (methods or dict.fromkeys(records["method"])) if (binned["method"] == m).any()]
    panels = [m for m in methods if m != BASELINE] or methods
    styles = method_styles(methods)
    ncols = 2 if len(panels) <= 4 else 4
    nrows = math.ceil(len(panels) / ncols)
    width = COLUMN_WIDTH if ncols == 2 else PAGE_WIDTH
    base = binned[binned["method"] == BASELINE]
    with plt.rc_context(paper_style()):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, 0.3 + 1.25 * nrows), sharex=True, sharey=True,
                                 squeeze=False)
        for ax in axes.flat[len(panels):]:
            ax.set_visible(False)
        for ax, m in zip(axes.flat, panels):
            b = binned[binned["method"] == m]
            st = styles[m]
            x = b["centre"].to_numpy() * 100
            ax.fill_between(x, b["q25"], b["q75"], color=st["color"], alpha=0.25, lw=0)
            ax.plot(x, b["median"], marker=st["marker"], ms=2.5, color=st["color"], lw=1.0)
            if len(base) and m != BASELINE:
                ax.plot(base["centre"].to_numpy() * 100, base["median"], ls="--", color=BASELINE_COLOUR, lw=0.8)
            ax.set_title(m, pad=2)
            ax.set_yscale("log")
            ax.set_xscale("log")
            ax.grid(lw=0.3, alpha=0.5, which="major")
            ax.xaxis.set_major_locator(FixedLocator([1, 2, 5, 10, 20, 50, 100]))
            ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        for ax in axes[-1]:
            ax.set_xlabel("foreground ratio, %")
        for ax in axes[:, 0]:
            ax.set_ylabel(LABELS.get(metric, metric))
        handles = [plt.Line2D([], [], color="#333333", lw=1.0, label="median"),
                   plt.Rectangle((0, 0), 1, 1, color="#333333", alpha=0.25, lw=0, label="inter-quartile range")]
        if len(base):
            handles.append(plt.Line2D([], [], color=BASELINE_COLOUR, ls="--", lw=0.8, label="cut-and-paste median"))
        fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
        if title:
            fig.suptitle(title, y=1.08)
        fig.tight_layout(h_pad=0.6, w_pad=0.4)
    return fig


def save_figure(fig, stem: str | Path, *, dpi: int = 300) -> list[Path]:
    """Write a figure as ``STEM.pdf`` and ``STEM.png``, atomically, and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (closed afterwards, also on error).
    stem : str or Path
        The path without extension.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    list of Path
        The PDF and the PNG written.
    """
    import io as _io

    from .. import io as hio

    plt = _plt()
    stem = Path(stem)
    out = []
    try:
        for ext in ("pdf", "png"):
            buf = _io.BytesIO()
            with plt.rc_context(paper_style()):
                fig.savefig(buf, format=ext, dpi=dpi)
            path = stem.with_suffix("." + ext)
            hio.atomic_write_bytes(path, buf.getvalue())
            out.append(path)
    finally:
        plt.close(fig)
    return out
