"""The paper outputs of a bench run: significance tables, column-width figures and the gallery.

Written beside the bench tables (``harmony bench`` and ``make demo`` call :func:`write_paper_outputs`
through :mod:`harmony.benchmark.report`):

- ``significance.md`` / ``significance.tex``: per subset and ``All``, each method's mean with its 95 %
  bootstrap interval over images; the best value per column bold, the methods not significantly worse
  than it marked with a dagger (paired bootstrap, Holm-corrected over all pairs of the column);
  LaTeX in booktabs style (:mod:`harmony.benchmark.significance`).
- ``significance.csv``: every pair of methods per subset and metric: mean difference, its 95 %
  interval, the paired-bootstrap and Wilcoxon p-values, raw and Holm-corrected.
- ``means_ci.csv``: per subset, metric and method: N, mean, interval, best, not significantly worse.
- ``plots/<metric>.pdf|png``: column-width bars (All) with intervals, the composite as a reference line;
  ``plots/{fmse,psnr}_by_subset.pdf|png``: two-column grouped bars per subset; ``plots/fmse_vs_fg_ratio.pdf|png``:
  binned medians with inter-quartile bands (:mod:`harmony.benchmark.plots`).
- ``gallery.html`` + ``gallery/`` (:mod:`harmony.benchmark.gallery`).

Only writes files; takes rows (the bench's per-image dicts or a DataFrame) and image paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io as hio
from . import gallery, plots, significance

PAPER_METRICS = ("mse", "fmse", "psnr", "fpsnr", "ssim", "fssim", "lpips")
PLOT_METRICS = ("mse", "fmse", "psnr", "fpsnr", "ssim", "fssim", "lpips")


def records_frame(rows: Sequence[dict] | pd.DataFrame, size=None) -> pd.DataFrame:
    """The scored per-image rows at one size, as a DataFrame with numeric metric columns.

    Parameters
    ----------
    rows : sequence of dict or pandas.DataFrame
        Per-image rows as the bench writes them (``per_image.csv`` columns).
    size : int, str or None
        Keep the rows of this evaluation size (compared as text: ``256`` and ``"256"`` match); ``None``:
        every size.

    Returns
    -------
    pandas.DataFrame
        Without failed rows (non-empty ``error``); the metric columns and ``fg_ratio`` converted to
        float (unparseable values become NaN); index reset.
    """
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if frame.empty:
        return frame
    if size is not None and "size" in frame:
        frame = frame[frame["size"].astype(str) == str(size)]
    if "error" in frame:
        frame = frame[frame["error"].fillna("").astype(str) == ""]
    for column in (*PAPER_METRICS, "fg_ratio"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.reset_index(drop=True)


def write_paper_outputs(out: str | Path, rows: Sequence[dict] | pd.DataFrame, *, methods: Sequence[str],
                        size=None, paired: bool = True,
                        images: Mapping[tuple[str, str], gallery.RowImages] | None = None,
                        plots: bool = True, notes: Sequence[str] = (), title: str = "harmony bench",
                        links: Sequence[tuple[str, str]] = (), seed: int = 0, n_boot: int = 2000
                        ) -> tuple[list[str], list[str]]:
    """Write the significance tables, figures and gallery of a bench run into ``out``.

    Parameters
    ----------
    out : str or Path
        The bench output folder.
    rows : sequence of dict or pandas.DataFrame
        Per-image rows (``method``, ``subset``, ``composite``, ``size``, ``fg_ratio``, metrics on the 0-255
        scale, ``error``).
    methods : sequence of str
        The methods that ran, in table order.
    size : int, str or None
        The evaluation size analysed (default: every row).
    paired : bool
        Whether the set has ground truth (no tables or figures without it: every metric is undefined).
    images : mapping or None
        ``{(subset, composite): RowImages}`` for the gallery (``None``: no gallery).
    plots : bool
        Write the figures.
    notes : sequence of str
        Lines shown at the top of the gallery (e.g. methods without a checkpoint).
    title : str
        The gallery page's title.
    links : sequence of (str, str)
        ``(label, relative href)`` links shown in the gallery's header.
    seed : int
        Seed of the bootstrap.
    n_boot : int
        Bootstrap resamples for the 95 % intervals and the paired tests.

    Returns
    -------
    files : list of str
        The files written, relative to ``out``.
    notes : list of str
        Lines for the run summary (e.g. why the figures were skipped).

    References
    ----------
    .. [1] B. Efron and R. Tibshirani, "An Introduction to the Bootstrap" (1993): percentile intervals
           and the paired bootstrap test; S. Holm, "A Simple Sequentially Rejective Multiple Test
           Procedure", Scand. J. Statist. 1979 (:mod:`harmony.benchmark.significance`).
    """
    out = Path(out)
    frame = records_frame(rows, size)
    files: list[str] = []
    run_notes: list[str] = []
    metrics = ([metric for metric in PAPER_METRICS
                if metric in frame and np.isfinite(frame[metric].to_numpy(float)).any()] if len(frame) else [])
    present = [method for method in methods if len(frame) and (frame["method"] == method).any()]
    if paired and metrics and present:
        analysis = significance.analyse(frame, metrics, methods=present, n_boot=n_boot, rng=seed)
        hio.atomic_write_text(out / "significance.md", significance.to_markdown(analysis))
        hio.atomic_write_text(out / "significance.tex", significance.to_latex(analysis))
        hio.atomic_write_text(out / "significance.csv", significance.pairs_csv(analysis))
        hio.atomic_write_text(out / "means_ci.csv", significance.summary_csv(analysis))
        files += ["significance.md", "significance.tex", "significance.csv", "means_ci.csv"]
        if plots:
            try:
                files += _write_plots(out, analysis, frame, present)
            except Exception as exc:  # noqa: BLE001 - figures are a convenience; the tables stand
                reason = str(exc).splitlines()[0] if str(exc) else ""
                run_notes.append(f"plots skipped: {exc.__class__.__name__}: {reason}")
    if images:
        renamed = "composite" in frame and "name" not in frame
        gallery_rows = frame.rename(columns={"composite": "name"}) if renamed else frame
        files += gallery.write_gallery(
            out, gallery_rows if len(gallery_rows) else pd.DataFrame(columns=["subset", "name", "method"]),
            images, methods=list(methods), title=title, notes=notes, links=links)
    return files, run_notes


def _write_plots(out: Path, analysis: significance.Significance, frame: pd.DataFrame,
                 methods: Sequence[str]) -> list[str]:
    """The figures of a run (bars per metric, grouped bars per subset, fMSE against foreground ratio)."""
    files = []
    folder = out / "plots"
    for metric in [name for name in PLOT_METRICS if name in analysis.metrics]:
        figure = plots.bar_chart(analysis.summary, metric)
        files += [str(path.relative_to(out)) for path in plots.save_figure(figure, folder / metric)]
        if len(analysis.groups) > 1 and metric in ("fmse", "psnr"):
            figure = plots.grouped_bar_chart(analysis.summary, metric, groups=analysis.groups, methods=methods)
            saved = plots.save_figure(figure, folder / f"{metric}_by_subset")
            files += [str(path.relative_to(out)) for path in saved]
    binned = "fmse" in analysis.metrics and "fg_ratio" in frame and len(plots.fg_ratio_bins(frame, "fmse", min_count=1))
    if binned:
        figure = plots.fg_ratio_chart(frame, methods=methods)
        files += [str(path.relative_to(out)) for path in plots.save_figure(figure, folder / "fmse_vs_fg_ratio")]
    return files
