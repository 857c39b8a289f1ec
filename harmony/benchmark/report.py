"""Reports of a bench run: per-image CSV, summary JSON, tables (Markdown, CSV, LaTeX, JSON), plots, gallery.

Files written into the output folder (the first two are the contract scripts read):

- ``per_image.csv``: one row per (method, image, size): ``method, subset, composite, size, protocol,
  fg_ratio, mse, psnr, fmse, fpsnr, ssim, fssim, lpips, bg_drift, se, mask_area, height, width, time_ms,
  error``; NaN where undefined (``nan``), ``error`` non-empty for a failed image.
- ``summary.json``: protocol, size (the first), sizes, per method per subset and ``All``: N and the
  mean of each metric (plus NaN counts), method status, failures, skipped inputs, notes.
- ``table.{md,csv,tex,json}``: iSSAM-style table per method, one row per subset then ``All``:
  ``N | MSE | fMSE | PSNR | fPSNR | SSIM | fSSIM | [LPIPS] | AvgTime, ms`` (.2f; SSIM-like values .4f).
- ``compare.{md,csv,tex}``: methods x subsets (RCL Tables II-III style).
- ``fg_ratio.{md,csv,tex,json}``: foreground-ratio buckets 0-5 / 5-15 / 15-100 % (inclusive both ends),
  rows ``HCOCO (0%-5%)`` ... ``All (15%-100%)`` (BargainNet supplement Table 1).
- ``sweep.{md,csv,tex,json}``: with several sizes, the resolution sweep (RCL Table IV, SPRIH Table 1).
- ``significance.{md,tex,csv}``, ``means_ci.csv``: means with 95 % bootstrap intervals over images, paired
  tests between methods (paired bootstrap, Wilcoxon; Holm), best per column bold and the methods not
  significantly worse marked (:mod:`harmony.benchmark.significance`).
- ``plots/<metric>.{pdf,png}``: column-width bars with intervals and the composite as a reference line;
  ``plots/{fmse,psnr}_by_subset.*``; ``plots/fmse_vs_fg_ratio.*`` (binned medians, inter-quartile bands)
  (:mod:`harmony.benchmark.plots`).
- ``gallery.html`` + ``gallery/``: composite with the mask outline | ground truth | each method, sortable,
  paged, offline (:mod:`harmony.benchmark.gallery`); every image of small runs, else the best and worst.
- ``pairs.csv`` (datasets without ground truth): 2AFC pair list ``rater_id,image_id,method_a,method_b,
  choice`` as ``harmony bt-score`` reads it; ``outputs/<method>/<subset>/<name>.png``.

This module only writes files. It imports nothing from the runner (:mod:`harmony.benchmark.runner`)
and never runs a method: data flows runner -> rows -> report.

Interface (for new writers: galleries, plots, significance tables)
------------------------------------------------------------------
``write_report(result, *, plots=True, seed=0) -> list[str]`` takes a
:class:`harmony.benchmark.rows.BenchResult` and returns the files it wrote (relative to ``result.out``).
A writer needs only:

- ``result.rows``: the per-image rows (``rows.ROW_COLUMNS``; ``pandas.DataFrame(result.rows)`` gives
  the per-image table), ``result.aggregates`` / ``result.buckets`` (:mod:`harmony.benchmark.rows`);
- ``result.methods`` (:class:`~harmony.benchmark.rows.MethodPlan`: name, card, status),
  ``result.subsets``, ``result.paired_subsets``, ``result.protocol``, ``result.sizes``;
- ``result.gallery``: :class:`~harmony.benchmark.rows.GalleryEntry` items whose ``files`` map
  ``"composite"``, ``"ground truth"`` and each method name to an image file at the evaluation size,
  written by the runner when it computed the prediction (the report copies them; nothing is re-run).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import io as hio
from .. import serialize
from .rows import ALL, ROW_COLUMNS, BenchResult, bucket_rows, table_columns


def _format(value: Any, spec: str) -> str:
    """A number as the tables print it (``nan`` for NaN; :func:`harmony.serialize.format_number`)."""
    return serialize.format_number(value, spec)


# --------------------------------------------------------------------------------------------------
# tables


def _stats_row(label: str, stats: dict, columns, with_time: bool = True) -> list[str]:
    """One table row: label, N, each column's mean formatted, and the mean time per image."""
    row = [label, str(stats["N"])] + [_format(stats.get(key, math.nan), spec) for key, _, spec in columns]
    if with_time:
        row.append(_format(stats.get("time_ms", math.nan), ".2f"))
    return row


def _write_files(out: Path, files: dict[str, str]) -> list[str]:
    """Write ``{name: text}`` into ``out`` (atomically, each); the names written."""
    for name, text in files.items():
        hio.atomic_write_text(out / name, text)
    return list(files)


def write_tables(out: Path, agg_size: dict, plans, subsets, cols, protocol: str, size: Any) -> list[str]:
    """Write ``table.{md,csv,tex,json}``: one table per method, one row per subset then ``All``.

    Parameters
    ----------
    out : Path
        Output folder.
    agg_size : dict
        ``{method: {subset | "All": stats}}`` at ``size`` (:func:`harmony.benchmark.rows.aggregate`).
    plans : sequence of MethodPlan
        Every method of the folder; one that could not run gets its status line instead of a table.
    subsets : sequence of str
        Subsets in table order.
    cols : sequence of tuple
        ``(key, header, format)`` of the metric columns (:func:`harmony.benchmark.rows.table_columns`).
    protocol : str
        Protocol name, in the titles.
    size : int or str
        Evaluation size, in the titles.

    Returns
    -------
    list of str
        The file names written.

    References
    ----------
    .. [1] Cong et al., DoveNet, CVPR 2020, and iSSAM (Sofiiuk et al., WACV 2021) ``evaluate_model.py``: the
           ``Dataset | N | MSE | fMSE | PSNR | fPSNR | AvgTime, ms`` layout (.2f).
    """
    header = ["Dataset", "N"] + [title for _, title, _ in cols] + ["AvgTime, ms"]
    markdown = [f"# Benchmark: protocol `{protocol}`, size {size}\n"]
    latex = [f"% harmony bench, protocol {protocol}, size {size}\n"]
    csv_rows: list[list[str]] = []
    as_json: dict = {"protocol": protocol, "size": size, "columns": header, "methods": {}}
    for plan in plans:
        if not plan.runnable:
            markdown.append(f"## {plan.name}\n\n{plan.status}: {plan.message}\n")
            csv_rows.append([plan.name, plan.status] + [""] * (len(header) - 1))
            as_json["methods"][plan.name] = {"status": plan.status, "message": plan.message}
            continue
        per_subset = agg_size.get(plan.name, {})
        body = [_stats_row(subset, per_subset[subset], cols) for subset in [*subsets, ALL] if subset in per_subset]
        markdown.append(f"## {plan.name}\n\n" + serialize.markdown_table(header, body))
        latex.append(serialize.latex_table(header, body, caption=f"{plan.name} ({protocol}, {size})"))
        csv_rows += [[plan.name, "ok"] + row for row in body]
        as_json["methods"][plan.name] = {"status": "ok", "rows": body}
    return _write_files(out, {"table.md": "\n".join(markdown), "table.tex": "\n".join(latex),
                              "table.csv": serialize.csv_table(["method", "status"] + header, csv_rows),
                              "table.json": serialize.dumps(as_json)})


def write_compare(out: Path, agg_size: dict, plans, subsets, cols) -> list[str]:
    """Write ``compare.{md,csv,tex}``: methods as rows, (subset, metric) as columns.

    Parameters
    ----------
    out : Path
        Output folder.
    agg_size : dict
        ``{method: {subset | "All": stats}}`` at the first size.
    plans : sequence of MethodPlan
        Every method of the folder (one that could not run shows its status).
    subsets : sequence of str
        Subsets in table order (those no method has are left out).
    cols : sequence of tuple
        ``(key, header, format)`` of the metric columns.

    Returns
    -------
    list of str
        The file names written.

    References
    ----------
    .. [1] Liang et al., region-wise contrastive learning for image harmonization: Tables II-III (methods
           by subsets).
    """
    groups = [subset for subset in subsets if any(subset in agg_size.get(plan.name, {}) for plan in plans)] + [ALL]
    header = ["Method"] + [f"{group} {title}" for group in groups for _, title, _ in cols]
    body = []
    for plan in plans:
        if not plan.runnable:
            body.append([plan.name] + [plan.status] + [""] * (len(header) - 2))
            continue
        per_subset = agg_size.get(plan.name, {})
        body.append([plan.name] + [_format(per_subset.get(group, {}).get(key, math.nan), spec)
                                   for group in groups for key, _, spec in cols])
    return _write_files(out, {"compare.md": serialize.markdown_table(header, body),
                              "compare.csv": serialize.csv_table(header, body),
                              "compare.tex": serialize.latex_table(header, body, caption="Methods compared")})


def write_buckets(out: Path, buckets: dict, plans, cols) -> list[str]:
    """Write ``fg_ratio.{md,csv,tex,json}``: the means per foreground-ratio bucket.

    Parameters
    ----------
    out : Path
        Output folder.
    buckets : dict
        ``{method: {"HCOCO (0%-5%)": stats, ...}}`` (:func:`harmony.benchmark.rows.bucket_rows`).
    plans : sequence of MethodPlan
        The methods, in table order (those without buckets are left out).
    cols : sequence of tuple
        ``(key, header, format)`` of the metric columns.

    Returns
    -------
    list of str
        The file names written.

    References
    ----------
    .. [1] Cong et al., "BargainNet", ICME 2021, supplementary Table 1 (buckets 0-5 / 5-15 / 15-100 %).
    """
    header = ["Dataset", "N"] + [title for _, title, _ in cols]
    markdown, latex, csv_rows = ["# Foreground-ratio buckets (inclusive at both ends)\n"], [], []
    for plan in plans:
        if not plan.runnable or plan.name not in buckets:
            continue
        body = [_stats_row(label, stats, cols, with_time=False) for label, stats in buckets[plan.name].items()]
        markdown.append(f"## {plan.name}\n\n" + serialize.markdown_table(header, body))
        latex.append(serialize.latex_table(header, body, caption=f"{plan.name}: foreground-ratio buckets"))
        csv_rows += [[plan.name] + row for row in body]
    return _write_files(out, {"fg_ratio.md": "\n".join(markdown), "fg_ratio.tex": "\n".join(latex),
                              "fg_ratio.csv": serialize.csv_table(["method"] + header, csv_rows),
                              "fg_ratio.json": serialize.dumps(buckets)})


def write_sweep(out: Path, agg: dict, plans, sizes, cols) -> list[str]:
    """Write ``sweep.{md,csv,tex,json}``: the resolution sweep, one row per method and size.

    Parameters
    ----------
    out : Path
        Output folder.
    agg : dict
        ``{size: {method: {subset | "All": stats}}}`` (every size).
    plans : sequence of MethodPlan
        The methods; a low-resolution-only one is labelled with the side it ran at.
    sizes : sequence
        The evaluation sizes, in the order given.
    cols : sequence of tuple
        ``(key, header, format)`` of the metric columns.

    Returns
    -------
    list of str
        The file names written (the Markdown and LaTeX tables show ``All``; CSV and JSON every subset).

    References
    ----------
    .. [1] Liang et al., region-wise contrastive learning, Table IV; Wang et al., SPRIH, CVPR 2023, Table 1
           (methods at several resolutions, low-resolution ones upsampled).
    """
    header = ["Method", "Size", "N"] + [title for _, title, _ in cols] + ["AvgTime, ms"]
    body, per_subset_rows = [], []
    for plan in plans:
        if not plan.runnable:
            continue
        for size in sizes:
            per_subset = agg.get(size, {}).get(plan.name)
            if not per_subset:
                continue
            native = (plan.options or {}).get("native_size") or plan.card.native_size or 256
            label = f" (run at {native}, upsampled)" if plan.card.low_res_only else ""
            body.append([plan.name + label] + _stats_row(str(size), per_subset[ALL], cols))
            for subset, stats in per_subset.items():
                per_subset_rows.append([plan.name, subset] + _stats_row(str(size), stats, cols))
    csv_header = ["Method", "Dataset", "Size", "N"] + [title for _, title, _ in cols] + ["AvgTime, ms"]
    return _write_files(out, {
        "sweep.md": "# Resolution sweep (All)\n\n" + serialize.markdown_table(header, body),
        "sweep.tex": serialize.latex_table(header, body, caption="Resolution sweep"),
        "sweep.csv": serialize.csv_table(csv_header, per_subset_rows),
        "sweep.json": serialize.dumps({str(size): agg.get(size, {}) for size in sizes})})


# --------------------------------------------------------------------------------------------------
# 2AFC pairs (datasets without ground truth)


def write_pairs(out: Path, methods: Sequence[str], images: Sequence[str], seed: int) -> str:
    """Write ``pairs.csv``: the 2AFC task list of a user study on a set without ground truth.

    Parameters
    ----------
    out : Path
        Output folder.
    methods : sequence of str
        At least two methods.
    images : sequence of str
        ``subset/composite`` ids.
    seed : int
        Seed of the side randomisation.

    Returns
    -------
    str
        ``"pairs.csv"``: every unordered method pair for every image, sides randomised, columns
        ``rater_id,image_id,method_a,method_b,choice`` as ``harmony bt-score`` reads them
        (:func:`harmony.benchmark.userstudy.make_pairs`).
    """
    from .userstudy import make_pairs

    pairs = make_pairs(list(methods), list(images), sentinels=0, rng=seed)
    hio.atomic_write_text(out / "pairs.csv", pairs.to_csv(index=False, lineterminator="\n"))
    return "pairs.csv"


# --------------------------------------------------------------------------------------------------
# per-image rows, paper outputs, the whole report


def write_per_image(out: Path, rows: Sequence[dict]) -> str:
    """Write ``per_image.csv``: one line per (method, image, size), the columns of ``ROW_COLUMNS``.

    Parameters
    ----------
    out : Path
        Output folder.
    rows : sequence of dict
        Per-image rows.

    Returns
    -------
    str
        ``"per_image.csv"``; rows sorted by size, method, subset and composite, NaN written ``nan``, floats
        with 10 significant digits, ``error`` empty for a scored row.
    """
    import pandas as pd

    frame = (pd.DataFrame(list(rows), columns=list(ROW_COLUMNS)) if rows
             else pd.DataFrame(columns=list(ROW_COLUMNS)))
    if len(frame):
        frame["size_order"] = frame["size"].astype(str)
        frame = frame.sort_values(["size_order", "method", "subset", "composite"],
                                  kind="stable").drop(columns="size_order")
    frame["error"] = frame["error"].fillna("")
    text = frame.to_csv(index=False, na_rep="nan", float_format="%.10g", lineterminator="\n")
    hio.atomic_write_text(out / "per_image.csv", text)
    return "per_image.csv"


def write_paper(out: Path, result: BenchResult, *, plots: bool = True, seed: int = 0) -> list[str]:
    """Write the significance tables, the paper figures and ``gallery.html``.

    Parameters
    ----------
    out : Path
        Output folder.
    result : BenchResult
        The run (rows, methods, gallery entries with the runner's saved predictions).
    plots : bool
        Draw the figures.
    seed : int
        Seed of the bootstrap intervals.

    Returns
    -------
    list of str
        The files written (:func:`harmony.benchmark.paper.write_paper_outputs`); its notes are added to
        ``result.notes``.
    """
    from .gallery import RowImages
    from .paper import write_paper_outputs

    size = result.sizes[0]
    methods = [plan.name for plan in result.methods if plan.runnable]
    images = {}
    for entry in result.gallery:
        sources = entry.sources
        if "composite" not in sources or "mask" not in sources:
            continue
        images[(entry.subset, entry.composite)] = RowImages(
            sources["composite"], sources["mask"], sources.get("real"),
            {method: Path(path) for method, path in entry.files.items() if method in methods})
    notes = []
    missing = [plan.name for plan in result.methods if plan.status == "no checkpoint"]
    if missing:
        notes.append(f"no checkpoint: {', '.join(missing)} (give --weights DIR)")
    notes += [f"{plan.name}: {plan.status}" for plan in result.methods
              if not plan.runnable and plan.status != "no checkpoint"]
    labels = {entry.label for entry in result.gallery}
    if labels & {"best", "worst"}:
        count = sum(entry.label == "best" for entry in result.gallery)
        notes.append(f"rows: the {count} best and {count} worst images by mean fMSE over methods (--gallery all "
                     f"shows every image)")
    links = [("table", "table.md"), ("methods compared", "compare.md"), ("significance", "significance.md"),
             ("per image", "per_image.csv"), ("fMSE plot", "plots/fmse.pdf")]
    files, notes_out = write_paper_outputs(
        out, result.rows, methods=methods, size=size, paired=result.paired, images=images or None,
        plots=plots, notes=notes, title=f"harmony bench: protocol {result.protocol}, size {size}",
        links=[(label, href) for label, href in links if href != "plots/fmse.pdf" or plots], seed=seed)
    result.notes += notes_out
    return files


def write_report(result: BenchResult, *, plots: bool = True, seed: int = 0) -> list[str]:
    """Write every report file of a bench run into ``result.out``.

    Tables are rebuilt from ``result.rows`` (the union of every method benched into the folder); the
    summary is ``result.summary`` (:func:`harmony.benchmark.rows.summarize`) with the notes and files added.

    Parameters
    ----------
    result : BenchResult
        A finished run (:func:`harmony.benchmark.runner.run_bench` makes it).
    plots : bool
        Draw the matplotlib figures.
    seed : int
        Seed of the bootstrap intervals and of the 2AFC pair sides.

    Returns
    -------
    list of str
        The files written, relative to ``result.out`` (module docstring lists them), ``summary.json`` last.

    Examples
    --------
    >>> from harmony.benchmark.report import write_report
    >>> files = write_report(result, plots=False)     # doctest: +SKIP
    >>> files[0]                                        # doctest: +SKIP
    'per_image.csv'
    """
    out = Path(result.out)
    subsets = list(result.subsets)
    files = [write_per_image(out, result.rows)]
    size = result.sizes[0]
    aggregates = result.aggregates
    at_size = aggregates.get(size, {})
    columns = table_columns(result.rows)
    paired = set(result.paired_subsets)
    if result.paired and columns:
        files += write_tables(out, at_size, result.methods, subsets, columns, result.protocol, size)
        files += write_compare(out, at_size, result.methods, subsets, columns)
        buckets = result.buckets or bucket_rows(result.rows, subsets, size)
        files += write_buckets(out, buckets, result.methods, columns)
        if len(result.sizes) > 1:
            files += write_sweep(out, aggregates, result.methods, result.sizes, columns)
    if not result.paired or any(subset not in paired for subset in subsets):
        images = sorted({f"{row['subset']}/{row['composite']}" for row in result.rows
                         if row["subset"] not in paired and not row.get("error")})
        methods = [plan.name for plan in result.methods if plan.runnable]
        if images and len(methods) >= 2:
            files.append(write_pairs(out, methods, images, seed))
        elif images:
            result.notes.append("pairs.csv not written: a 2AFC study needs at least two methods")
    files += write_paper(out, result, plots=plots, seed=seed)
    summary = dict(result.summary)
    summary["notes"] = list(result.notes)
    summary["files"] = files + ["summary.json"]
    hio.atomic_write_text(out / "summary.json", serialize.dumps(summary))
    files.append("summary.json")
    return files
