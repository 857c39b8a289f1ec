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
- ``plots/<metric>.png`` bar charts, ``plots/fmse_vs_fg_ratio.png``.
- ``gallery.html`` + ``gallery/``: composite | each method | ground truth for the best and worst images
  with per-image numbers; relative image files, opens with no server.
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

import html
import math
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import io as hio
from .. import serialize
from .metrics import FG_BUCKETS
from .rows import ALL, TABLE_METRICS, ROW_COLUMNS, BenchResult, bucket_rows, table_columns


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
            low = " (run at %d, upsampled)" % native if p.card.low_res_only else ""
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
# plots


def write_plots(out: Path, agg_size: dict, rows: Sequence[dict], plans, subsets, cols, size) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    folder = out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    methods = [p.name for p in plans if p.runnable and p.name in agg_size]
    if not methods:
        return files
    groups = [s for s in subsets if any(s in agg_size[m] for m in methods)] + [ALL]
    width = 0.8 / max(1, len(methods))
    # One distinct colour per method (tab10 repeats after 10 methods; --models all has more).
    palette = plt.get_cmap("tab20" if len(methods) > 10 else "tab10")
    colour = {m: palette(i % palette.N) for i, m in enumerate(methods)}
    for key, label, _ in cols:
        fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(groups) + 0.3 * len(methods)) + 1.8, 3.6))
        for i, m in enumerate(methods):
            vals = [agg_size[m].get(g, {}).get(key, math.nan) for g in groups]
            vals = [v if v is not None and math.isfinite(v) else 0.0 for v in vals]
            ax.bar(np.arange(len(groups)) + (i - (len(methods) - 1) / 2) * width, vals, width, label=m,
                   color=colour[m])
        ax.set_xticks(np.arange(len(groups)))
        ax.set_xticklabels(groups)
        ax.set_ylabel(label)
        ax.set_title(f"{label} per subset ({size})")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.tight_layout()
        hio.atomic_write_bytes(folder / f"{key}.png", hio.figure_png(fig, dpi=90))
        files.append(f"plots/{key}.png")
    # fMSE against the foreground ratio, per method, with the bucket means
    ok = [r for r in rows if not r.get("error") and r.get("size") == size
          and r.get("fmse") is not None and not math.isnan(float(r.get("fmse", math.nan)))]
    if ok:
        fig, ax = plt.subplots(figsize=(7.5, 4))
        for m in methods:
            mr = [r for r in ok if r["method"] == m]
            if not mr:
                continue
            x = np.array([r["fg_ratio"] for r in mr]) * 100
            y = np.array([max(float(r["fmse"]), 1e-3) for r in mr])
            pts = ax.scatter(x, y, s=8, alpha=0.4, color=colour[m])
            centres, means = [], []
            for _label, lo, hi in FG_BUCKETS:
                sel = y[(x >= lo * 100) & (x <= hi * 100)]
                if sel.size:
                    centres.append((lo + hi) * 50)
                    means.append(sel.mean())
            ax.plot(centres, means, "-o", color=pts.get_facecolor()[0][:3], label=m)
        ax.set_yscale("log")
        ax.set_xlabel("foreground ratio, %")
        ax.set_ylabel("fMSE")
        ax.set_title("fMSE vs foreground ratio (lines: bucket means)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.tight_layout()
        hio.atomic_write_bytes(folder / "fmse_vs_fg_ratio.png", hio.figure_png(fig, dpi=90))
        files.append("plots/fmse_vs_fg_ratio.png")
    return files


# --------------------------------------------------------------------------------------------------
# gallery


def write_gallery(out: Path, result: BenchResult) -> list[str]:
    """gallery.html + gallery/: composite | each method | ground truth for ``result.gallery``.

    Every image shown is a file the runner already wrote (``GalleryEntry.files``); it is copied here.
    """
    size = result.sizes[0]
    plans = [p for p in result.methods if p.runnable]
    row_of = {(r["method"], r["subset"], r["composite"]): r for r in result.rows if r.get("size") == size}
    gdir = out / "gallery"
    if gdir.is_dir():
        shutil.rmtree(gdir)     # the gallery is rebuilt from the union of results: no stale images
    gdir.mkdir(parents=True, exist_ok=True)
    head = ["composite"] + [p.name for p in plans] + (["ground truth"] if result.paired else [])
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>harmony bench gallery</title><style>"
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px;vertical-align:top;font-size:12px;text-align:center}img{width:192px;height:auto;"
        "display:block}.lab{font-weight:bold}</style></head><body>",
        f"<h1>harmony bench: protocol <code>{html.escape(result.protocol)}</code>, size {html.escape(str(size))}</h1>",
        "<p>Reports: <a href='table.md'>table.md</a>, <a href='compare.md'>compare.md</a>, "
        "<a href='per_image.csv'>per_image.csv</a>, <a href='summary.json'>summary.json</a>. "
        "Numbers under each result: MSE / fMSE / PSNR (this protocol).</p>",
    ]
    for p in result.methods:
        if not p.runnable:
            parts.append(f"<p><b>{html.escape(p.name)}</b>: {html.escape(p.status)} "
                         f"({html.escape(p.message)})</p>")
    parts.append("<table><tr><th></th>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
    for idx, entry in enumerate(result.gallery):
        src = entry.files.get("composite")
        if src is None or not Path(src).is_file():
            continue
        stem = f"{idx:03d}_{Path(entry.composite).stem}"
        shutil.copyfile(src, gdir / f"{stem}_composite.jpg")
        cells = [f"<img src='gallery/{stem}_composite.jpg' alt='composite'>{html.escape(entry.composite)}"]
        for p in plans:
            r = row_of.get((p.name, entry.subset, entry.composite), {})
            path = entry.files.get(p.name)
            if r.get("error"):
                cells.append(f"failed: {html.escape(str(r['error']))}")
                continue
            if path is None or not Path(path).is_file():
                cells.append("no output")
                continue
            fn = f"{stem}_{_safe(p.name)}.jpg"
            shutil.copyfile(path, gdir / fn)
            nums = (f"{_fmt(r.get('mse'), '.2f')} / {_fmt(r.get('fmse'), '.2f')} / "
                    f"{_fmt(r.get('psnr'), '.2f')}" if result.paired else "")
            cells.append(f"<img src='gallery/{fn}' alt='{html.escape(p.name)}'>{nums}")
        real = entry.files.get("ground truth")
        if result.paired and real is not None and Path(real).is_file():
            shutil.copyfile(real, gdir / f"{stem}_real.jpg")
            cells.append(f"<img src='gallery/{stem}_real.jpg' alt='ground truth'>")
        parts.append(f"<tr><td class='lab'>{html.escape(entry.label)}<br>{html.escape(entry.subset)}<br>"
                     f"fg {entry.fg_ratio * 100:.1f}%</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    if (out / "plots").is_dir():
        for png in sorted((out / "plots").glob("*.png")):
            parts.append(f"<h3>{html.escape(png.stem)}</h3><img style='width:480px' src='plots/{png.name}'>")
    parts.append("</body></html>\n")
    hio.atomic_write_text(out / "gallery.html", "\n".join(parts))
    return ["gallery.html"]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in name)


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
        if plots:
            try:
                files += write_plots(out, agg_size, result.rows, result.methods, subsets, cols, size)
            except Exception as exc:  # noqa: BLE001 - plots are a convenience; the tables stand
                result.notes.append(f"plots skipped: {exc}")
    if not result.paired or any(s not in paired for s in subsets):
        images = sorted({f"{r['subset']}/{r['composite']}" for r in result.rows
                         if r["subset"] not in paired and not r.get("error")})
        methods = [p.name for p in result.methods if p.runnable]
        if images and len(methods) >= 2:
            files.append(write_pairs(out, methods, images, seed))
        elif images:
            result.notes.append("pairs.csv not written: a 2AFC study needs at least two methods")
    if result.gallery:
        files += write_gallery(out, result)
    summary = dict(result.summary)
    summary["notes"] = list(result.notes)
    summary["files"] = files + ["summary.json"]
    hio.atomic_write_text(out / "summary.json", serialize.dumps(summary))
    files.append("summary.json")
    return files
