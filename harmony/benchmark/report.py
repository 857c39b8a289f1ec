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

import numpy as np

from .. import io as hio
from .. import serialize
from .rows import ALL, ROW_COLUMNS, BenchResult, bucket_rows, table_columns


def _fmt(v: Any, spec: str) -> str:
    return serialize.format_number(v, spec)


# --------------------------------------------------------------------------------------------------
# tables


def _md_table(header: list[str], body: list[list[str]]) -> str:
    return serialize.markdown_table(header, body)


def _tex_table(header: list[str], body: list[list[str]], caption: str) -> str:
    return serialize.latex_table(header, body, caption=caption)


def _csv(header: list[str], body: list[list[str]]) -> str:
    return serialize.csv_table(header, body)


def _stats_row(label: str, st: dict, cols, with_time: bool = True) -> list[str]:
    r = [label, str(st["N"])] + [_fmt(st.get(k, math.nan), f) for k, _, f in cols]
    if with_time:
        r.append(_fmt(st.get("time_ms", math.nan), ".2f"))
    return r


def write_tables(out: Path, agg_size: dict, plans, subsets, cols, protocol: str, size: Any) -> list[str]:
    """table.{md,csv,tex,json}: one iSSAM-style table per method (rows: subsets, then All)."""
    header = ["Dataset", "N"] + [h for _, h, _ in cols] + ["AvgTime, ms"]
    md = [f"# Benchmark: protocol `{protocol}`, size {size}\n"]
    tex = [f"% harmony bench, protocol {protocol}, size {size}\n"]
    csv_rows: list[list[str]] = []
    js: dict = {"protocol": protocol, "size": size, "columns": header, "methods": {}}
    for p in plans:
        if not p.runnable:
            md.append(f"## {p.name}\n\n{p.status}: {p.message}\n")
            csv_rows.append([p.name, p.status] + [""] * (len(header) - 1))
            js["methods"][p.name] = {"status": p.status, "message": p.message}
            continue
        per = agg_size.get(p.name, {})
        body = [_stats_row(sub, per[sub], cols) for sub in [*subsets, ALL] if sub in per]
        md.append(f"## {p.name}\n\n" + _md_table(header, body))
        tex.append(_tex_table(header, body, f"{p.name} ({protocol}, {size})"))
        csv_rows += [[p.name, "ok"] + r for r in body]
        js["methods"][p.name] = {"status": "ok", "rows": body}
    files = {"table.md": "\n".join(md), "table.tex": "\n".join(tex),
             "table.csv": _csv(["method", "status"] + header, csv_rows),
             "table.json": serialize.dumps(js)}
    for name, text in files.items():
        hio.atomic_write_text(out / name, text)
    return list(files)


def write_compare(out: Path, agg_size: dict, plans, subsets, cols) -> list[str]:
    """compare.{md,csv,tex}: methods as rows, (subset, metric) as columns (RCL Table II style)."""
    groups = [s for s in subsets if any(s in agg_size.get(p.name, {}) for p in plans)] + [ALL]
    header = ["Method"] + [f"{g} {h}" for g in groups for _, h, _ in cols]
    body = []
    for p in plans:
        if not p.runnable:
            body.append([p.name] + [p.status] + [""] * (len(header) - 2))
            continue
        per = agg_size.get(p.name, {})
        body.append([p.name] + [_fmt(per.get(g, {}).get(k, math.nan), f) for g in groups for k, _, f in cols])
    files = {"compare.md": _md_table(header, body), "compare.csv": _csv(header, body),
             "compare.tex": _tex_table(header, body, "Methods compared")}
    for name, text in files.items():
        hio.atomic_write_text(out / name, text)
    return list(files)


def write_buckets(out: Path, buckets: dict, plans, cols) -> list[str]:
    header = ["Dataset", "N"] + [h for _, h, _ in cols]
    md, tex, csv_rows = ["# Foreground-ratio buckets (inclusive at both ends)\n"], [], []
    for p in plans:
        if not p.runnable or p.name not in buckets:
            continue
        body = [_stats_row(label, st, cols, with_time=False) for label, st in buckets[p.name].items()]
        md.append(f"## {p.name}\n\n" + _md_table(header, body))
        tex.append(_tex_table(header, body, f"{p.name}: foreground-ratio buckets"))
        csv_rows += [[p.name] + r for r in body]
    files = {"fg_ratio.md": "\n".join(md), "fg_ratio.tex": "\n".join(tex),
             "fg_ratio.csv": _csv(["method"] + header, csv_rows),
             "fg_ratio.json": serialize.dumps(buckets)}
    for name, text in files.items():
        hio.atomic_write_text(out / name, text)
    return list(files)


def write_sweep(out: Path, agg: dict, plans, sizes, cols) -> list[str]:
    """sweep.*: per method and size, the All row (and per subset in CSV/JSON)."""
    header = ["Method", "Size", "N"] + [h for _, h, _ in cols] + ["AvgTime, ms"]
    body, full = [], []
    for p in plans:
        if not p.runnable:
            continue
        for size in sizes:
            per = agg.get(size, {}).get(p.name)
            if not per:
                continue
            native = (p.options or {}).get("native_size") or p.card.native_size or 256
            low = f" (run at {native}, upsampled)" if p.card.low_res_only else ""
            body.append([p.name + low] + _stats_row(str(size), per[ALL], cols))
            for sub, st in per.items():
                full.append([p.name, sub] + _stats_row(str(size), st, cols))
    files = {"sweep.md": "# Resolution sweep (All)\n\n" + _md_table(header, body),
             "sweep.tex": _tex_table(header, body, "Resolution sweep"),
             "sweep.csv": _csv(["Method", "Dataset", "Size", "N"] + [h for _, h, _ in cols] + ["AvgTime, ms"], full),
             "sweep.json": serialize.dumps({str(s): agg.get(s, {}) for s in sizes})}
    for name, text in files.items():
        hio.atomic_write_text(out / name, text)
    return list(files)


# --------------------------------------------------------------------------------------------------
# 2AFC pairs (datasets without ground truth)


def write_pairs(out: Path, methods: Sequence[str], images: Sequence[str], seed: int) -> str:
    """pairs.csv for a user study (``harmony.benchmark.userstudy.make_pairs`` when present)."""
    import pandas as pd

    try:
        from .userstudy import make_pairs  # type: ignore[attr-defined]
    except ImportError:
        make_pairs = None
    if make_pairs is not None:
        df = make_pairs(list(methods), list(images), sentinels=0, rng=seed)
    else:  # every method pair per image, sides shuffled (the columns userstudy documents)
        rng = np.random.default_rng(seed)
        rows = []
        for img in images:
            for i, first in enumerate(methods):
                for second in methods[i + 1:]:
                    a, b = (second, first) if rng.random() < 0.5 else (first, second)
                    rows.append({"rater_id": "", "image_id": img, "method_a": a, "method_b": b, "choice": ""})
        df = pd.DataFrame(rows, columns=["rater_id", "image_id", "method_a", "method_b", "choice"])
    hio.atomic_write_text(out / "pairs.csv", df.to_csv(index=False, lineterminator="\n"))
    return "pairs.csv"


# --------------------------------------------------------------------------------------------------


def write_per_image(out: Path, rows: Sequence[dict]) -> str:
    import pandas as pd

    df = pd.DataFrame(list(rows), columns=list(ROW_COLUMNS)) if rows else pd.DataFrame(columns=list(ROW_COLUMNS))
    if len(df):
        df["size_order"] = df["size"].astype(str)
        df = df.sort_values(["size_order", "method", "subset", "composite"], kind="stable").drop(columns="size_order")
    df["error"] = df["error"].fillna("")
    text = df.to_csv(index=False, na_rep="nan", float_format="%.10g", lineterminator="\n")
    hio.atomic_write_text(out / "per_image.csv", text)
    return "per_image.csv"


def write_paper(out: Path, result: BenchResult, *, plots: bool = True, seed: int = 0) -> list[str]:
    """Significance tables, paper figures and gallery.html (:mod:`harmony.benchmark.paper`)."""
    from .gallery import RowImages
    from .paper import write_paper_outputs

    size = result.sizes[0]
    methods = [p.name for p in result.methods if p.runnable]
    images = {}
    for e in result.gallery:
        src = e.sources
        if "composite" not in src or "mask" not in src:
            continue
        images[(e.subset, e.composite)] = RowImages(src["composite"], src["mask"], src.get("real"),
                                                    {m: Path(f) for m, f in e.files.items() if m in methods})
    notes = []
    missing = [p.name for p in result.methods if p.status == "no checkpoint"]
    if missing:
        notes.append(f"no checkpoint: {', '.join(missing)} (give --weights DIR)")
    notes += [f"{p.name}: {p.status}" for p in result.methods if not p.runnable and p.status != "no checkpoint"]
    labels = {e.label for e in result.gallery}
    if labels & {"best", "worst"}:
        k = sum(e.label == "best" for e in result.gallery)
        notes.append(f"rows: the {k} best and {k} worst images by mean fMSE over methods (--gallery all shows "
                     f"every image)")
    links = [("table", "table.md"), ("methods compared", "compare.md"), ("significance", "significance.md"),
             ("per image", "per_image.csv"), ("fMSE plot", "plots/fmse.pdf")]
    files, notes_out = write_paper_outputs(
        out, result.rows, methods=methods, size=size, paired=result.paired, images=images or None,
        plots=plots, notes=notes, title=f"harmony bench: protocol {result.protocol}, size {size}",
        links=[(label, href) for label, href in links if href != "plots/fmse.pdf" or plots], seed=seed)
    result.notes += notes_out
    return files


def write_report(result: BenchResult, *, plots: bool = True, seed: int = 0) -> list[str]:
    """Write every report file of ``result`` into ``result.out``; returns the files written.

    Tables are rebuilt from ``result.rows`` (the union of every method benched into the folder). The
    summary is ``result.summary`` (:func:`harmony.benchmark.rows.summarize`).
    """
    out = Path(result.out)
    subsets = list(result.subsets)
    files = [write_per_image(out, result.rows)]
    size = result.sizes[0]
    agg = result.aggregates
    agg_size = agg.get(size, {})
    cols = table_columns(result.rows)
    paired = set(result.paired_subsets)
    if result.paired and cols:
        files += write_tables(out, agg_size, result.methods, subsets, cols, result.protocol, size)
        files += write_compare(out, agg_size, result.methods, subsets, cols)
        buckets = result.buckets or bucket_rows(result.rows, subsets, size)
        files += write_buckets(out, buckets, result.methods, cols)
        if len(result.sizes) > 1:
            files += write_sweep(out, agg, result.methods, result.sizes, cols)
    if not result.paired or any(s not in paired for s in subsets):
        images = sorted({f"{r['subset']}/{r['composite']}" for r in result.rows
                         if r["subset"] not in paired and not r.get("error")})
        methods = [p.name for p in result.methods if p.runnable]
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
