"""``gallery.html``: browse every image of a bench run by eye, sorted by any metric, offline.

What it is
----------
One HTML file (page, style and script inline; no network, no server: it opens from disk with
``file://``) plus the folder ``gallery/`` beside it holding the images as JPEG files. Embedding
thousands of images as base64 would make one file of hundreds of MB that a browser parses before
showing anything; files next to the page load lazily, only for the rows on screen. Copy or zip the
HTML file *and* its ``gallery/`` folder together.

Each row is one test image: the composite with the mask outline drawn on it (magenta), the ground
truth right beside it, then one column per method. Every image of a row is shown at the composite's
own aspect ratio (the protocol's square evaluation outputs are brought back to it), so nothing looks
squashed. Under each result: the row's sort value and the metrics of that method on that image.

In the page:

* methods can be shown or hidden (checkboxes); the ground truth stays beside the composite;
* rows sort by any metric of any method, or by the difference between two methods on that metric
  (``fMSE: dih - rcl``), either way; the row header says what the rows are sorted by and the value;
  the default order, *varied*, takes one composite per source photo and subset in turn, so the first
  screen shows different photos rather than several crops of one;
* a row's *diff* button (or the global switch) replaces its images by heat-maps of
  ``|image - ground truth|`` (mean over RGB, 0-255 scale, clipped at ``DIFF_CLIP``; inferno colour map);
* clicking an image opens it at full resolution (Esc or a click closes it);
* rows are paged (50 per page) and images lazy-loaded, so a full 7,404-image iHarmony4 run stays
  responsive: the page holds the numbers of every row (a few MB of JSON) and builds only the rows of
  the current page.

Input is data only: a per-image records frame (``subset``, ``name`` or ``composite``, ``method``,
metric columns, ``fg_ratio``) and, per image, the paths of its composite, mask, ground truth and each
method's output (:class:`RowImages`). Images are read and written through :mod:`harmony.io`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

THUMB = 256            # longest side of a thumbnail, px
FULL_MAX = 2048        # longest side of the full-resolution copies of composite / ground truth, px
DIFF_CLIP = 64.0       # |difference| (0-255 scale) shown at the top of the colour map
PAGE_SIZE = 50
OUTLINE_RGB = (255, 0, 255)
METRIC_LABELS = {"mse": "MSE", "fmse": "fMSE", "psnr": "PSNR", "fpsnr": "fPSNR", "ssim": "SSIM", "fssim": "fSSIM",
                 "lpips": "LPIPS", "bg_drift": "bg drift"}
HIGHER_IS_BETTER = {"psnr", "fpsnr", "ssim", "fssim"}


@dataclass
class RowImages:
    """The files of one gallery row: composite, mask, ground truth (None for unpaired sets) and outputs.

    ``outputs`` maps a method name to its result image (any size: it is shown at the composite's
    aspect ratio).
    """

    composite: Path
    mask: Path
    real: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)


def _key_column(records: pd.DataFrame) -> str:
    for c in ("name", "composite"):
        if c in records:
            return c
    raise ValueError("records: expected a name (or composite) column")


def varied_order(keys: Sequence[tuple[str, str]], photos: Sequence[object] | None = None) -> list[int]:
    """The order of gallery rows in which the first rows show as many different photos as exist.

    First one composite of every photo, then the second composite of every photo, and so on; within each
    such round the subsets take turns.

    Parameters
    ----------
    keys : sequence of (str, str)
        ``(subset, composite name)`` of each row.
    photos : sequence or None
        Each row's source-photo key (any hashable). Default: the iHarmony4 name before the first ``_``
        (``c1234_5_1.jpg`` is a crop of ``c1234.jpg``, as in the iHarmony4 naming of DoveNet, Cong et
        al. CVPR 2020).

    Returns
    -------
    list of int
        A permutation of ``range(len(keys))``.

    Examples
    --------
    >>> varied_order([("HCOCO", "a_1_1.jpg"), ("HCOCO", "a_2_1.jpg"), ("HFlickr", "b_1_1.jpg")])
    [0, 2, 1]
    """
    if photos is None:
        photos = [Path(str(name)).stem.split("_")[0] for _, name in keys]
    seen: dict[object, int] = {}
    rounds: dict[int, dict[str, list[int]]] = {}
    for index, ((subset, _name), photo) in enumerate(zip(keys, photos)):
        round_index = seen.get(photo, 0)
        seen[photo] = round_index + 1
        rounds.setdefault(round_index, {}).setdefault(str(subset), []).append(index)
    out: list[int] = []
    for round_index in sorted(rounds):
        queues = list(rounds[round_index].values())
        for position in range(max(len(queue) for queue in queues)):
            out += [queue[position] for queue in queues if position < len(queue)]
    return out


def cluster_hashes(hashes: Sequence[int], max_bits: int = 12) -> list[int]:
    """Group photos by their average hashes (greedy, in order).

    Parameters
    ----------
    hashes : sequence of int
        64-bit average hashes (:func:`photo_hash`).
    max_bits : int
        A hash within this many differing bits (Hamming distance) of a cluster's first hash joins it.

    Returns
    -------
    list of int
        The cluster index of each hash (0, 1, ... in order of first appearance): photo keys for
        :func:`varied_order`.
    """
    popcount = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    representatives = np.zeros((0, 8), dtype=np.uint8)
    out = []
    for value in hashes:
        hash_bytes = np.frombuffer(int(value).to_bytes(8, "big"), dtype=np.uint8)
        if len(representatives):
            distance = popcount[np.bitwise_xor(representatives, hash_bytes)].sum(1)
            nearest = int(np.argmin(distance))
            if distance[nearest] <= max_bits:
                out.append(nearest)
                continue
        representatives = np.vstack([representatives, hash_bytes])
        out.append(len(representatives) - 1)
    return out


def photo_hash(image_u8: np.ndarray) -> int:
    """A 64-bit average hash of an image (8 x 8 grey pixels above their mean).

    The same photo in two subsets (recoloured, retouched or cropped slightly) gets the same or a near
    hash, so the varied order does not show it twice in a row.

    Parameters
    ----------
    image_u8 : ndarray, shape (H, W, 3), uint8 RGB
        The image.

    Returns
    -------
    int
        In [0, 2**64), the bits in row-major order of the 8 x 8 thumbnail (INTER_AREA), most significant first.

    References
    ----------
    .. [1] N. Krawetz, "Looks Like It" (2011), the average hash (aHash).
    """
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image_u8), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32)
    bits = (small > small.mean()).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def _fit(h: int, w: int, longest: int) -> tuple[int, int]:
    scale = min(1.0, longest / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if img.shape[:2] == hw:
        return img
    interp = cv2.INTER_AREA if img.shape[0] >= hw[0] else cv2.INTER_LINEAR
    return cv2.resize(img, (hw[1], hw[0]), interpolation=interp)


def outline(image_u8: np.ndarray, mask: np.ndarray, *, thickness: int = 2) -> np.ndarray:
    """The image with the boundary of its mask drawn in magenta (the gallery's composite cell).

    Parameters
    ----------
    image_u8 : ndarray, shape (H, W, 3), uint8 RGB
        The composite.
    mask : ndarray, shape (H, W), float in [0, 1]
        Foreground where > 0.5.
    thickness : int
        Line width in pixels.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8 RGB
        A copy; the outer contours (``cv2.findContours``, ``RETR_EXTERNAL``) drawn in ``OUTLINE_RGB``.
    """
    import cv2

    out = np.ascontiguousarray(image_u8.copy())
    binary = (mask > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, OUTLINE_RGB, thickness, lineType=cv2.LINE_8)
    return out


def heatmap(image_u8: np.ndarray, real_u8: np.ndarray, *, clip: float = DIFF_CLIP) -> np.ndarray:
    """The error of an output against the ground truth as an inferno heat-map.

    Parameters
    ----------
    image_u8 : ndarray, shape (H, W, 3), uint8
        A method's output.
    real_u8 : ndarray, shape (H, W, 3), uint8
        The ground truth.
    clip : float
        The absolute difference (0-255 scale) shown at the top of the colour map; larger ones saturate.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8 RGB
        ``|image - real|`` averaged over RGB, scaled so ``clip`` maps to 255, coloured with OpenCV's
        ``COLORMAP_INFERNO``.
    """
    import cv2

    difference = np.abs(image_u8.astype(np.float32) - real_u8.astype(np.float32)).mean(axis=2)
    level = np.clip(difference * (255.0 / clip), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _safe(name: str) -> str:
    """A method name usable as a file stem (letters, digits, ``-`` and ``.``; anything else ``_``)."""
    return "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in str(name))


def _num(value) -> float | None:
    """A metric value for the page's JSON: rounded to 6 decimals, ``None`` when missing or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, 6) if math.isfinite(number) else None


@dataclass
class _RowUnit:
    key: str                 # the row id (folder name under gallery/)
    subset: str
    name: str
    images: RowImages
    methods: list[str]
    gdir: str
    thumb: int
    full_max: int


def _make_row(unit: _RowUnit) -> dict:
    """Write one row's images (thumbnails, heat-maps, full-resolution copies); its geometry back.

    Raises when the composite or the mask cannot be read (the row is then listed as unreadable); an
    unreadable ground truth or output only empties its cell.
    """
    from .. import io as hio

    row_images, gallery_dir, row_id, thumb = unit.images, Path(unit.gdir), unit.key, unit.thumb
    composite_u8 = hio.read_image_uint8(row_images.composite)
    mask = hio.read_mask(row_images.mask)
    height, width = composite_u8.shape[:2]
    thumb_size = _fit(height, width, thumb)
    full_size = _fit(height, width, unit.full_max)
    mask_full = _resize(mask.astype(np.float32), (height, width)) if mask.shape != (height, width) else mask
    composite_thumb = outline(_resize(composite_u8, thumb_size), _resize(mask_full, thumb_size))
    hio.write_image(gallery_dir / row_id / "composite.jpg", composite_thumb, quality=88)
    composite_full = outline(_resize(composite_u8, full_size), _resize(mask_full, full_size),
                             thickness=max(2, full_size[0] // 300))
    hio.write_image(gallery_dir / row_id / "composite_full.jpg", composite_full, quality=92)
    real_thumb = None
    photo = None
    if row_images.real is not None:
        try:
            real_u8 = hio.read_image_uint8(row_images.real)
            real_thumb = _resize(real_u8, thumb_size)
            hio.write_image(gallery_dir / row_id / "real.jpg", real_thumb, quality=88)
            hio.write_image(gallery_dir / row_id / "real_full.jpg", _resize(real_u8, full_size), quality=92)
            hio.write_image(gallery_dir / row_id / "composite_diff.jpg",
                            heatmap(_resize(composite_u8, thumb_size), real_thumb), quality=85)
            photo = photo_hash(real_thumb)
        except Exception:  # noqa: BLE001 - the row is shown without its ground truth
            real_thumb = None
    if photo is None:
        photo = photo_hash(composite_thumb)
    cells = []
    for method in unit.methods:
        path = row_images.outputs.get(method)
        cell = 0
        if path is not None:
            try:
                output = hio.read_image_uint8(path)
                stem = _safe(method)
                output_thumb = _resize(output, thumb_size)
                hio.write_image(gallery_dir / row_id / f"{stem}.jpg", output_thumb, quality=88)
                if real_thumb is not None:
                    hio.write_image(gallery_dir / row_id / f"{stem}_diff.jpg", heatmap(output_thumb, real_thumb),
                                    quality=85)
                cell = 1
                # full resolution = the method's own output (shown at the composite's aspect ratio);
                # an output no larger than the thumbnail needs no second file
                if max(output.shape[:2]) > thumb:
                    hio.write_image(gallery_dir / row_id / f"{stem}_full.jpg", output, quality=92)
                    cell = 2
            except Exception:  # noqa: BLE001 - "no output" in the cell
                cell = 0
        cells.append(cell)
    return {"w": thumb_size[1], "h": thumb_size[0], "W": width, "H": height, "gt": int(real_thumb is not None),
            "o": cells, "photo": photo}


def write_gallery(out_dir: str | Path, records: pd.DataFrame, images: Mapping[tuple[str, str], RowImages], *,
                  methods: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                  title: str = "harmony bench gallery", notes: Sequence[str] = (),
                  links: Sequence[tuple[str, str]] = (), thumb: int = THUMB, full_max: int = FULL_MAX,
                  workers: int | None = None, progress: bool = False) -> list[str]:
    """Write ``out_dir/gallery.html`` and its images under ``out_dir/gallery/``.

    Parameters
    ----------
    out_dir : str or Path
        Folder of the page (a bench output folder).
    records : pandas.DataFrame
        Per-image rows: ``subset``, ``name`` (or ``composite``), ``method``, metric columns, ``fg_ratio``;
        they give the numbers shown and sorted by.
    images : mapping
        ``{(subset, name): RowImages}``; rows are the keys present here (in ``records``' order).
    methods, metrics : sequence of str or None
        Column order (default: order of appearance; metrics found among the known ones).
    title : str
        The page's title.
    notes : sequence of str
        Lines shown above the rows (e.g. methods without a checkpoint).
    links : sequence of (str, str)
        ``(label, relative href)`` shown at the top (tables, plots).
    thumb, full_max : int
        Longest side of the thumbnails / of the full-resolution copies, in pixels.
    workers : int or None
        Processes for the images (:func:`harmony.parallel.map_units`; default: inline below 64 rows, else
        one per core).
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of str
        The files written, relative to ``out_dir``: ``gallery.html`` and ``gallery/``.

    Rows whose composite or mask cannot be read are left out and listed in the page; an output that
    cannot be read shows "no output" in its cell.
    """
    import shutil

    from ..parallel import map_units

    out_dir = Path(out_dir)
    gallery_dir = out_dir / "gallery"
    if gallery_dir.is_dir():
        shutil.rmtree(gallery_dir)     # rebuilt from this run's rows: no stale images of an earlier one
    key_col = _key_column(records)
    scored = records
    if "error" in scored:
        scored = scored.assign(error=scored["error"].fillna("").astype(str))
    if methods is None:
        methods = list(dict.fromkeys(scored["method"].astype(str)))
    methods = list(methods)
    if metrics is None:
        metrics = [metric for metric in METRIC_LABELS
                   if metric in scored and pd.to_numeric(scored[metric], errors="coerce").notna().any()]
    metrics = list(metrics)
    by_row: dict[tuple[str, str], dict[str, dict]] = {}
    fg_ratios: dict[tuple[str, str], float | None] = {}
    for record in scored.to_dict("records"):
        key = (str(record.get("subset", "")), str(record[key_col]))
        by_row.setdefault(key, {})[str(record["method"])] = record
        if record.get("fg_ratio") is not None:
            fg_ratios[key] = _num(record.get("fg_ratio"))
    keys = [key for key in dict.fromkeys([*by_row, *images]) if key in images]
    units = [_RowUnit(f"{index:05d}", key[0], key[1], images[key], methods, str(gallery_dir), thumb, full_max)
             for index, key in enumerate(keys)]
    if workers is None and len(units) < 64:
        workers = 0
    made: dict[str, dict] = {}
    errors: dict[str, str] = {}
    for res in map_units(_make_row, units, workers=workers, progress=progress, desc="gallery"):
        if res.ok:
            made[res.key] = res.value
        else:
            errors[res.key] = (str(res.error or "unreadable").splitlines() or ["unreadable"])[0]
    bad_rows = []
    rows_json, photos = [], []
    for unit in units:
        geometry = made.get(unit.key)
        if geometry is None:
            bad_rows.append(f"{unit.subset}/{unit.name}: {errors.get(unit.key, 'unreadable')}")
            continue
        key = (unit.subset, unit.name)
        values = []
        for method in methods:
            record = by_row.get(key, {}).get(method)
            if record is None or (record.get("error") or ""):
                values.append(None)
            else:
                values.append([_num(record.get(metric)) for metric in metrics])
        photos.append(geometry.pop("photo"))
        rows_json.append({"id": unit.key, "s": unit.subset, "n": unit.name, "fg": fg_ratios.get(key), **geometry,
                          "v": values})
    paired = any(record["gt"] for record in rows_json)
    varied = varied_order([(record["s"], record["n"]) for record in rows_json], cluster_hashes(photos))
    data = {"title": title, "varied": varied, "methods": methods, "safe": [_safe(method) for method in methods],
            "metrics": metrics, "labels": [METRIC_LABELS.get(metric, metric) for metric in metrics],
            "higher": [metric in HIGHER_IS_BETTER for metric in metrics], "paired": paired, "rows": rows_json,
            "page": PAGE_SIZE, "clip": DIFF_CLIP, "bad": bad_rows}
    _write_page(out_dir, data, title, notes, links, bad_rows)
    return ["gallery.html", "gallery/"]


def _write_page(out_dir: Path, data: dict, title: str, notes: Sequence[str], links: Sequence[tuple[str, str]],
                bad_rows: Sequence[str]) -> None:
    """Fill the page template (title, notes, links, the rows' JSON) and write ``gallery.html``."""
    from .. import io as hio

    page = _PAGE.replace("__TITLE__", html.escape(title))
    head = "".join(f"<p class='note'>{html.escape(note)}</p>" for note in notes)
    if bad_rows:
        head += (f"<p class='note'>{len(bad_rows)} image(s) left out, composite or mask unreadable: "
                 + html.escape(", ".join(line.split(":")[0] for line in bad_rows[:10]))
                 + (" ..." if len(bad_rows) > 10 else "") + "</p>")
    if links:
        head += "<p class='links'>" + " &middot; ".join(
            f"<a href='{html.escape(href, quote=True)}'>{html.escape(label)}</a>" for label, href in links) + "</p>"
    page = page.replace("__HEAD__", head)
    # "</" inside a JSON string would end the script element
    page = page.replace("__DATA__", json.dumps(data, separators=(",", ":")).replace("</", "<\\/"))
    hio.atomic_write_text(out_dir / "gallery.html", page)


_PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;font-size:13px;color:#222}
header{position:sticky;top:0;z-index:5;background:#f7f7f7;border-bottom:1px solid #ccc;padding:6px 10px}
header h1{font-size:15px;margin:0 0 4px 0;display:inline-block;margin-right:12px}
.bar{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center}
.bar label{white-space:nowrap}
.note,.links{margin:2px 0;color:#555}
#methods label{margin-right:6px}
table{border-collapse:collapse;margin:6px 10px}
th,td{padding:3px;vertical-align:top;text-align:center}
thead th{position:sticky;top:var(--hh,70px);background:#fff;z-index:3;font-size:12px;border-bottom:1px solid #ccc}
td.rh{text-align:left;width:118px;min-width:118px;max-width:118px;font-size:11px;word-break:break-all}
td.rh b{display:block;font-size:12px}
td.rh .sv{color:#b00;font-weight:bold;word-break:normal}
td.c{width:176px;min-width:176px}
td.c img{display:block;margin:auto;cursor:zoom-in;background:#eee}
td.c .m{font-size:11px;color:#333;line-height:1.25}
td.c .m .k{color:#b00;font-weight:bold}
td.c .none{color:#999;padding:40px 0}
tr.row{border-bottom:1px solid #e4e4e4}
.hidden{display:none}
button{font-size:12px}
#pager{margin:6px 10px}
#lb{position:fixed;inset:0;background:rgba(0,0,0,.88);display:none;z-index:10;align-items:center;justify-content:center;flex-direction:column}
#lb img{object-fit:fill;background:#333}
#lb div{color:#eee;margin-top:6px}
</style></head><body>
<header>
<h1>__TITLE__</h1><span id="count"></span>
__HEAD__
<div class="bar">
<label>sort by <select id="metric"></select></label>
<label>of <select id="ma"></select></label>
<label>minus <select id="mb"><option value="">(nothing)</option></select></label>
<label><select id="dir"><option value="worst">worst first</option><option value="best">best first</option></select></label>
<button id="varied" title="one composite per photo and subset in turn">varied order</button>
<label><input type="checkbox" id="diffall"> heat-maps |image - ground truth|</label>
<span id="pageinfo"></span>
<button id="prev">&larr; prev</button><button id="next">next &rarr;</button>
</div>
<div class="bar" id="methods">methods: </div>
</header>
<table id="t"><thead><tr id="hrow"></tr></thead><tbody id="tb"></tbody></table>
<div id="pager"></div>
<div id="lb"><img alt="full resolution"><div></div></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const M = D.methods, K = D.metrics, CELL = 172;
const shown = M.map(() => true);
let order = D.varied.slice(), page = 0, sortDesc = null, diffAll = false;
const $ = (id) => document.getElementById(id);
function fmt(v, k) { if (v === null || v === undefined) return "–"; const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(4); }
function value(r, mi, ki) { const v = r.v[mi]; return v ? v[ki] : null; }
function sortKey(r) {
  const ki = +$("metric").value, a = +$("ma").value, b = $("mb").value;
  const va = value(r, a, ki); if (b === "") return va;
  const vb = value(r, +b, ki); return (va === null || vb === null) ? null : va - vb; }
function describe() {
  const ki = +$("metric").value, a = +$("ma").value, b = $("mb").value;
  return D.labels[ki] + " of " + M[a] + (b === "" ? "" : " − " + M[+b]); }
function applySort() {
  const ki = +$("metric").value, b = $("mb").value;
  // "worst first": high values first for lower-is-better metrics (and for a difference, the first
  // method losing most), low first for higher-is-better ones
  const higher = D.higher[ki];
  const worstFirst = $("dir").value === "worst";
  const desc = worstFirst !== higher;
  const keyed = D.rows.map((r, i) => [sortKey(r), i]);
  keyed.sort((x, y) => { if (x[0] === null) return y[0] === null ? x[1] - y[1] : 1; if (y[0] === null) return -1;
    return desc ? y[0] - x[0] : x[0] - y[0]; });
  order = keyed.map((x) => x[1]); sortDesc = describe(); page = 0; render(); }
function src(r, what) { return "gallery/" + r.id + "/" + what + ".jpg"; }
function cell(r, what, label, title, full) {
  const td = document.createElement("td"); td.className = "c"; td.dataset.col = label;
  const img = document.createElement("img"); img.loading = "lazy"; img.decoding = "async";
  // explicit size at the composite's aspect ratio: rows keep their height before lazy images load
  const sc = Math.min(CELL / r.w, CELL / r.h);
  img.style.width = Math.round(r.w * sc) + "px"; img.style.height = Math.round(r.h * sc) + "px"; img.alt = title; img.dataset.what = what; img.dataset.full = full;
  img.src = src(r, (r.diff && what !== "real") ? what + "_diff" : what);
  td.appendChild(img); return td; }
function header() {
  const tr = $("hrow"); tr.innerHTML = "";
  const cols = ["", "composite + mask", D.paired ? "ground truth" : null].concat(M);
  cols.forEach((c, i) => { if (c === null) return; const th = document.createElement("th"); th.textContent = c;
    if (i >= 3) { th.dataset.col = "m" + (i - 3); if (!shown[i - 3]) th.classList.add("hidden"); }
    tr.appendChild(th); }); }
function render() {
  const tb = $("tb"); tb.innerHTML = "";
  const n = D.rows.length, pages = Math.max(1, Math.ceil(n / D.page));
  page = Math.min(Math.max(page, 0), pages - 1);
  const ki = +$("metric").value;
  const frag = document.createDocumentFragment();
  for (const idx of order.slice(page * D.page, (page + 1) * D.page)) {
    const r = D.rows[idx]; r.diff = r.diff === undefined ? diffAll : r.diff;
    const tr = document.createElement("tr"); tr.className = "row"; tr.dataset.row = r.id;
    const rh = document.createElement("td"); rh.className = "rh";
    const sv = sortKey(r);
    rh.innerHTML = "<b></b><span class='nm'></span><br>fg " + (r.fg === null ? "?" : (100 * r.fg).toFixed(1) + "%") +
      "<br>" + r.W + "×" + r.H + "<br><span class='sv'></span><br>";
    rh.querySelector("b").textContent = r.s; rh.querySelector(".nm").textContent = r.n;
    rh.querySelector(".sv").textContent = sortDesc ? sortDesc + ": " + fmt(sv) : "varied order";
    if (D.paired && r.gt) { const bt = document.createElement("button"); bt.textContent = r.diff ? "images" : "diff";
      bt.className = "rowdiff"; bt.title = "heat-map of |image − ground truth| (0 to " + D.clip + " of 255)";
      bt.onclick = () => { r.diff = !r.diff; render(); }; rh.appendChild(bt); }
    tr.appendChild(rh);
    tr.appendChild(cell(r, "composite", "composite", "composite with the mask outline", "composite_full"));
    if (D.paired) { if (r.gt) tr.appendChild(cell(r, "real", "gt", "ground truth", "real_full"));
      else { const td = document.createElement("td"); td.className = "c"; td.innerHTML = "<div class='none'>no ground truth</div>"; tr.appendChild(td); } }
    M.forEach((m, mi) => {
      let td;
      if (r.o[mi]) { td = cell(r, D.safe[mi], "m" + mi, m, D.safe[mi] + (r.o[mi] === 2 ? "_full" : "")); }
      else { td = document.createElement("td"); td.className = "c"; td.innerHTML = "<div class='none'>no output</div>"; }
      td.dataset.col = "m" + mi; if (!shown[mi]) td.classList.add("hidden");
      const v = r.v[mi]; const div = document.createElement("div"); div.className = "m";
      if (v) div.innerHTML = K.map((k, j) => (j === ki ? "<span class='k'>" : "<span>") + D.labels[j] + " " + fmt(v[j]) + "</span>").join(" · ");
      td.appendChild(div); tr.appendChild(td); });
    frag.appendChild(tr); }
  tb.appendChild(frag);
  $("pageinfo").textContent = "page " + (page + 1) + " / " + pages;
  $("count").textContent = n + " images, " + M.length + " methods" + (D.bad.length ? "; " + D.bad.length + " unreadable (see console)" : "");
  document.documentElement.style.setProperty("--hh", document.querySelector("header").offsetHeight + "px");
  $("pager").textContent = ""; }
function init() {
  K.forEach((k, i) => $("metric").add(new Option(D.labels[i], i)));
  M.forEach((m, i) => { $("ma").add(new Option(m, i)); $("mb").add(new Option(m, i)); });
  const fm = K.indexOf("fmse"); if (fm >= 0) $("metric").value = fm;
  M.forEach((m, i) => { const l = document.createElement("label"); const c = document.createElement("input");
    c.type = "checkbox"; c.checked = true; c.dataset.method = m;
    c.onchange = () => { shown[i] = c.checked; document.querySelectorAll("[data-col='m" + i + "']").forEach(
      (e) => e.classList.toggle("hidden", !c.checked)); };
    l.appendChild(c); l.appendChild(document.createTextNode(" " + m)); $("methods").appendChild(l); });
  ["metric", "ma", "mb", "dir"].forEach((id) => $(id).onchange = applySort);
  $("varied").onclick = () => { order = D.varied.slice(); sortDesc = null; page = 0; render(); };
  $("diffall").onchange = () => { diffAll = $("diffall").checked; D.rows.forEach((r) => r.diff = diffAll); render(); };
  $("prev").onclick = () => { page--; render(); window.scrollTo(0, 0); };
  $("next").onclick = () => { page++; render(); window.scrollTo(0, 0); };
  $("tb").onclick = (e) => { const t = e.target; if (t.tagName !== "IMG") return;
    const r = D.rows.find((x) => x.id === t.closest("tr").dataset.row);
    const lb = $("lb"); const im = lb.querySelector("img");
    // at the image's own resolution, never larger than the window, always at the composite's aspect
    const sc = Math.min(1, 0.96 * innerWidth / r.W, 0.88 * innerHeight / r.H);
    im.style.width = Math.round(r.W * sc) + "px"; im.style.height = Math.round(r.H * sc) + "px";
    im.src = src(r, t.dataset.full);
    lb.querySelector("div").textContent = r.s + "/" + r.n + " — " + t.alt + " (click or Esc to close)";
    lb.style.display = "flex"; };
  $("lb").onclick = () => { $("lb").style.display = "none"; };
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("lb").style.display = "none"; });
  if (D.bad.length) console.warn("unreadable rows:", D.bad);
  header(); render(); }
init();
</script></body></html>
"""
