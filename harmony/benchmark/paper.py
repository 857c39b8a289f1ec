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
from . import gallery as G
from . import plots as P
from . import significance as S

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
                        size=None, paired: bool = True, images: Mapping[tuple[str, str], G.RowImages] | None = None,
                        plots: bool = True, notes: Sequence[str] = (), title: str = "harmony bench",
                        links: Sequence[tuple[str, str]] = (), seed: int = 0, n_boot: int = 2000
                        ) -> tuple[list[str], list[str]]:
    """Write the significance tables, figures and gallery of a bench run into ``out``.

    Parameters
    ----------
    out : the bench output folder
    rows : per-image rows (``method``, ``subset``, ``composite``, ``size``, ``fg_ratio``, metrics, ``error``)
    methods : the methods that ran, in table order
    size : the evaluation size analysed (default: every row)
    paired : the set has ground truth (no tables or figures without it: every metric is undefined)
    images : {(subset, composite): RowImages} for the gallery (None: no gallery)
    plots : write the figures
    notes : lines shown at the top of the gallery (e.g. methods without a checkpoint)

    Returns
    -------
    (files written, relative to ``out``; notes for the run summary)
    """
    out = Path(out)
    df = records_frame(rows, size)
    files: list[str] = []
    run_notes: list[str] = []
    metrics = [m for m in PAPER_METRICS if m in df and np.isfinite(df[m].to_numpy(float)).any()] if len(df) else []
    present = [m for m in methods if len(df) and (df["method"] == m).any()]
    if paired and metrics and present:
        sig = S.analyse(df, metrics, methods=present, n_boot=n_boot, rng=seed)
        hio.atomic_write_text(out / "significance.md", S.to_markdown(sig))
        hio.atomic_write_text(out / "significance.tex", S.to_latex(sig))
        hio.atomic_write_text(out / "significance.csv", S.pairs_csv(sig))
        hio.atomic_write_text(out / "means_ci.csv", S.summary_csv(sig))
        files += ["significance.md", "significance.tex", "significance.csv", "means_ci.csv"]
        if plots:
            try:
                files += _write_plots(out, sig, df, present)
            except Exception as exc:  # noqa: BLE001 - figures are a convenience; the tables stand
                run_notes.append(f"plots skipped: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    if images:
        gal = df.rename(columns={"composite": "name"}) if "composite" in df and "name" not in df else df
        files += G.write_gallery(out, gal if len(gal) else pd.DataFrame(columns=["subset", "name", "method"]),
                                 images, methods=list(methods), title=title, notes=notes, links=links)
    return files, run_notes


def _write_plots(out: Path, sig: S.Significance, df: pd.DataFrame, methods: Sequence[str]) -> list[str]:
    files = []
    folder = out / "plots"
    for metric in [m for m in PLOT_METRICS if m in sig.metrics]:
        fig = P.bar_chart(sig.summary, metric)
        files += [str(p.relative_to(out)) for p in P.save_figure(fig, folder / metric)]
        if len(sig.groups) > 1 and metric in ("fmse", "psnr"):
            fig = P.grouped_bar_chart(sig.summary, metric, groups=sig.groups, methods=methods)
            files += [str(p.relative_to(out)) for p in P.save_figure(fig, folder / f"{metric}_by_subset")]
    if "fmse" in sig.metrics and "fg_ratio" in df and len(P.fg_ratio_bins(df, "fmse", min_count=1)):
        fig = P.fg_ratio_chart(df, methods=methods)
        files += [str(p.relative_to(out)) for p in P.save_figure(fig, folder / "fmse_vs_fg_ratio")]
    return files

