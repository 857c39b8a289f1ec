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
"""

from __future__ import annotations

import html
import io as _io
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import io as hio
from . import metrics as M

TABLE_METRICS = (("mse", "MSE", ".2f"), ("fmse", "fMSE", ".2f"), ("psnr", "PSNR", ".2f"),
                 ("fpsnr", "fPSNR", ".2f"), ("ssim", "SSIM", ".4f"), ("fssim", "fSSIM", ".4f"),
                 ("lpips", "LPIPS", ".4f"))
ALL = "All"


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v, spec)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


# --------------------------------------------------------------------------------------------------
# aggregation


def aggregate(rows: Sequence[dict], subsets: Sequence[str]) -> dict:
    """{size: {method: {subset | All: {"N", <metric>, "n_<metric>", "nan_<metric>", "time_ms"}}}}.

    Means are per-image means; ``All`` is sample-weighted (every image counts once, REFERENCE.md
    section 2). Failed rows (``error``) are not counted; NaN values are left out and counted.
    """
    import pandas as pd

    if not rows:
        return {}
    df = pd.DataFrame(rows)
    for c in (*[m for m, _, _ in TABLE_METRICS], "bg_drift", "time_ms"):
        if c not in df:
            df[c] = np.nan
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
                for c in (*[m for m, _, _ in TABLE_METRICS], "bg_drift", "time_ms"):
                    mean, n, nans = M.nan_mean(g[c].to_numpy(dtype=np.float64))
                    stats[c] = mean
                    if c not in ("time_ms",):
                        stats[f"nan_{c}"] = nans
                per[name] = stats
            out[size][method] = per
    return out


def bucket_rows(rows: Sequence[dict], subsets: Sequence[str], size: Any) -> dict:
    """{method: {"HCOCO (0%-5%)": stats, ..., "All (0%-5%)": stats}} (buckets inclusive at both ends)."""
    import pandas as pd

    if not rows:
        return {}
    df = pd.DataFrame(rows)
    for c in (*[m for m, _, _ in TABLE_METRICS], "time_ms"):
        if c not in df:
            df[c] = np.nan
    df = df[(df["error"].fillna("") == "") & (df["size"] == size)]
    out: dict = {}
    for method, dm in df.groupby("method", sort=False):
        per: dict = {}
        for sub in [*[s for s in subsets if (dm["subset"] == s).any()], ALL]:
            g = dm if sub == ALL else dm[dm["subset"] == sub]
            ratios = g["fg_ratio"].to_numpy(dtype=np.float64)
            for label, lo, hi in M.FG_BUCKETS:
                sel = g[(ratios >= lo) & (ratios <= hi)]
                stats: dict[str, Any] = {"N": int(len(sel))}
                for c in (*[m for m, _, _ in TABLE_METRICS], "time_ms"):
                    stats[c] = M.nan_mean(sel[c].to_numpy(dtype=np.float64))[0]
                per[f"{sub} ({label})"] = stats
        out[method] = per
    return out


# --------------------------------------------------------------------------------------------------
# tables


def _columns(has: dict[str, bool]) -> list[tuple[str, str, str]]:
    return [(k, h, f) for k, h, f in TABLE_METRICS if has.get(k)]


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else ":---" for i in range(len(header)))
             + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    return (s.replace("\\", r"\textbackslash{}").replace("&", r"\&").replace("%", r"\%").replace("_", r"\_")
            .replace("#", r"\#"))


def _tex_table(header: list[str], body: list[list[str]], caption: str) -> str:
    spec = "l" + "r" * (len(header) - 1)
    lines = [r"\begin{table}[t]", r"\centering", f"\\caption{{{_tex_escape(caption)}}}",
             f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex_escape(c) for c in r) + r" \\" for r in body]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def _csv(header: list[str], body: list[list[str]]) -> str:
    import csv

    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(body)
    return buf.getvalue()


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
             "table.json": json.dumps(js, indent=2) + "\n"}
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
             "fg_ratio.json": json.dumps(_jsonable(buckets), indent=2) + "\n"}
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
            low = " (run at %d, upsampled)" % (p.card.native_size or 256) if p.card.low_res_only else ""
            body.append([p.name + low] + _stats_row(str(size), per[ALL], cols))
            for sub, st in per.items():
                full.append([p.name, sub] + _stats_row(str(size), st, cols))
    files = {"sweep.md": "# Resolution sweep (All)\n\n" + _md_table(header, body),
             "sweep.tex": _tex_table(header, body, "Resolution sweep"),
             "sweep.csv": _csv(["Method", "Dataset", "Size", "N"] + [h for _, h, _ in cols] + ["AvgTime, ms"], full),
             "sweep.json": json.dumps(_jsonable({str(s): agg.get(s, {}) for s in sizes}), indent=2) + "\n"}
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
            for _label, lo, hi in M.FG_BUCKETS:
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


def _select_gallery(rows, size, k: int, paired: bool) -> list[tuple[str, str, str]]:
    """[(label, subset, composite)]: best and worst k images by the mean fMSE over methods."""
    by_image: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r.get("size") != size or r.get("error"):
            continue
        key = (r["subset"], r["composite"])
        v = float(r.get("fmse", math.nan)) if paired else math.nan
        if math.isnan(v):
            v = float(r.get("mse", math.nan)) if paired else math.nan
        by_image.setdefault(key, []).append(v)
    images = sorted(by_image)
    if not paired:
        return [("image", s, c) for s, c in images[:2 * k]]
    scored = [(M.nan_mean(v)[0], key) for key, v in by_image.items()]
    scored = [t for t in scored if not math.isnan(t[0])]
    scored.sort()
    best = scored[:k]
    worst = [t for t in scored[::-1][:k] if t not in best]
    return [("best", *key) for _, key in best] + [("worst", *key) for _, key in worst]


def write_gallery(out: Path, result, protocol: M.Protocol, samples, ctx, k: int) -> list[str]:
    from . import harness as H

    size = result.sizes[0]
    plans = [p for p in result.methods if p.runnable]
    chosen = _select_gallery(result.rows, size, k, result.paired)
    by_key = {(s.subset, s.name): s for s in samples}
    row_of = {(r["method"], r["subset"], r["composite"]): r for r in result.rows if r.get("size") == size}
    gdir = out / "gallery"
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
    files = []
    for idx, (label, subset, name) in enumerate(chosen):
        s = by_key.get((subset, name))
        if s is None:
            continue
        unit = H._Unit(s.key, s.subset, s.name, str(s.composite), str(s.mask),
                       str(s.real) if (s.real and result.paired) else None, H._extra_paths(s), [])
        try:
            comp_u8, mask, real_u8 = H.load_inputs(unit)
        except H._InputSkip:
            continue
        prep = protocol.prepare(comp_u8, mask, real_u8, size)
        stem = f"{idx:03d}_{Path(name).stem}"
        cells = []
        hio.write_image(gdir / f"{stem}_composite.jpg", prep.composite, quality=90)
        cells.append(f"<img src='gallery/{stem}_composite.jpg' alt='composite'>{html.escape(name)}")
        for p in plans:
            r = row_of.get((p.name, subset, name), {})
            try:
                fn = f"{stem}_{_safe(p.name)}.jpg"
                thumb = H.thumb_path(ctx.thumb_dir, p.name, subset, name) if ctx.thumb_dir else None
                if thumb is not None and thumb.is_file():
                    import shutil

                    shutil.copyfile(thumb, gdir / fn)
                else:
                    img, _ms = H.run_method(protocol, p.name, p.card, ctx.weights, comp_u8, mask, size, prep,
                                            unit)
                    hio.write_image(gdir / fn, img, quality=90)
                nums = (f"{_fmt(r.get('mse'), '.2f')} / {_fmt(r.get('fmse'), '.2f')} / "
                        f"{_fmt(r.get('psnr'), '.2f')}" if result.paired else "")
                cells.append(f"<img src='gallery/{fn}' alt='{html.escape(p.name)}'>{nums}")
            except Exception as exc:  # noqa: BLE001 - shown in the gallery cell
                cells.append(f"failed: {html.escape(str(exc).splitlines()[0] if str(exc) else 'error')}")
        if result.paired and prep.real is not None:
            hio.write_image(gdir / f"{stem}_real.jpg", prep.real.astype(np.uint8), quality=90)
            cells.append(f"<img src='gallery/{stem}_real.jpg' alt='ground truth'>")
        ratio = M.fg_ratio(prep.mask) * 100
        parts.append(f"<tr><td class='lab'>{html.escape(label)}<br>{html.escape(subset)}<br>fg {ratio:.1f}%</td>"
                     + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    if (out / "plots").is_dir():
        for png in sorted((out / "plots").glob("*.png")):
            parts.append(f"<h3>{html.escape(png.stem)}</h3><img style='width:480px' src='plots/{png.name}'>")
    parts.append("</body></html>\n")
    hio.atomic_write_text(out / "gallery.html", "\n".join(parts))
    files.append("gallery.html")
    return files


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
    buf = _io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    hio.atomic_write_text(out / "pairs.csv", buf.getvalue())
    return "pairs.csv"


# --------------------------------------------------------------------------------------------------


def write_per_image(out: Path, rows: Sequence[dict]) -> str:
    import pandas as pd

    from .harness import ROW_COLUMNS

    df = pd.DataFrame(list(rows), columns=list(ROW_COLUMNS)) if rows else pd.DataFrame(columns=list(ROW_COLUMNS))
    if len(df):
        df["size_order"] = df["size"].astype(str)
        df = df.sort_values(["size_order", "method", "subset", "composite"], kind="stable").drop(columns="size_order")
    df["error"] = df["error"].fillna("")
    buf = _io.StringIO()
    df.to_csv(buf, index=False, na_rep="nan", float_format="%.10g", lineterminator="\n")
    hio.atomic_write_text(out / "per_image.csv", buf.getvalue())
    return "per_image.csv"


def write_all(result, cfg, *, reader, samples, protocol: M.Protocol, ctx) -> list[str]:
    out = Path(result.out)
    subsets = list(reader.subsets)
    files = [write_per_image(out, result.rows)]
    agg = aggregate(result.rows, subsets)
    size = result.sizes[0]
    agg_size = agg.get(size, {})
    has = {k: any(not math.isnan(float(r.get(k, math.nan))) for r in result.rows if not r.get("error"))
           for k, _, _ in TABLE_METRICS}
    cols = _columns(has)
    nan_counts = {}
    for m, per in agg_size.items():
        # Without ground truth every metric is NaN by construction: that is not an empty mask.
        if result.paired and ALL in per and per[ALL].get("nan_fmse"):
            nan_counts[m] = per[ALL]["nan_fmse"]
    summary = {
        "protocol": result.protocol, "size": size, "sizes": result.sizes,
        "protocol_details": protocol.explain(),
        "methods": {}, "by_size": {str(s): agg.get(s, {}) for s in result.sizes},
        "failures": [{"method": m, "image": i, "error": e} for m, i, e in result.failures],
        "skipped": [{"image": i, "reason": r} for i, r in result.skipped],
        "fmse_undefined": {"count_by_method": nan_counts,
                           "reason": "empty mask after the resize (fMSE, fPSNR, fSSIM are NaN)"},
        "computed": result.computed, "cached": result.cached, "notes": result.notes,
        "paired": result.paired,
    }
    for p in result.methods:
        entry: dict[str, Any] = {"status": p.status}
        if p.message:
            entry["message"] = p.message
        if p.runnable:
            entry.update(agg_size.get(p.name, {}))
        summary["methods"][p.name] = entry
    if result.paired and cols:
        files += write_tables(out, agg_size, result.methods, subsets, cols, result.protocol, size)
        files += write_compare(out, agg_size, result.methods, subsets, cols)
        files += write_buckets(out, bucket_rows(result.rows, subsets, size), result.methods, cols)
        if len(result.sizes) > 1:
            files += write_sweep(out, agg, result.methods, result.sizes, cols)
        if cfg.plots:
            try:
                files += write_plots(out, agg_size, result.rows, result.methods, subsets, cols, size)
            except Exception as exc:  # noqa: BLE001 - plots are a convenience; the tables stand
                result.notes.append(f"plots skipped: {exc}")
    if not result.paired or any(not reader.has_real(s) for s in subsets):
        images = sorted({f"{r['subset']}/{r['composite']}" for r in result.rows
                         if not reader.has_real(r["subset"]) and not r.get("error")})
        methods = [p.name for p in result.methods if p.runnable]
        if images and len(methods) >= 2:
            files.append(write_pairs(out, methods, images, cfg.seed))
        elif images:
            result.notes.append("pairs.csv not written: a 2AFC study needs at least two methods")
    if cfg.gallery > 0:
        files += write_gallery(out, result, protocol, samples, ctx, cfg.gallery)
    summary["notes"] = result.notes
    summary["files"] = files + ["summary.json"]
    hio.atomic_write_text(out / "summary.json", json.dumps(_jsonable(summary), indent=2, default=str) + "\n")
    files.append("summary.json")
    return files
