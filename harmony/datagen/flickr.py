"""HFlickr-style composites by semantic retrieval and colour transfer (DIH: Tsai et al.,
CVPR 2017, section 3.1), written in the iHarmony4 layout (Cong et al., CVPR 2020).

Targets are photos without category annotations. Each target and each image of a reference pool has a
*label map* (a PNG of class indices from any scene-parsing model, e.g. ADE20K's 150 classes: 0 = other /
unlabelled, ``1..num_classes`` = classes). As in DIH:

1. **Retrieval.** Every label map becomes a spatial-pyramid label histogram (Lazebnik et al. 2006,
   levels 0-2 = 1x1, 2x2 and 4x4 cells; :func:`label_histogram`). Cell counts are divided by the map's
   pixel count, so each level sums to the labelled fraction (<= 1), and levels are weighted 1/4, 1/4,
   1/2 (the pyramid-match weights ``1/2^L`` and ``1/2^(L-l+1)``). Similarity is histogram intersection
   of the weighted vectors (1 for identical fully labelled maps). :class:`HistogramIndex` holds the
   pool as one sparse matrix (CSC) and scores a query against all of it in one vectorised pass that
   touches only the query's non-zero bins (``sum(min(q, r)) = sum over nz(q)``).
2. **Foreground.** A given mask (``MASKS/<stem>_<fg>.png``) or, without masks, segments chosen by a label
   rule (:func:`label_segments`): for each class, its largest 4-connected component; keep those covering
   ``[min_fg, max_fg]`` of the image (default 5-50 %) whose bounding box does not span the full image
   width (sky, floor, road and other "stuff" usually do); largest first, at most ``per_image``.
3. **Reference region.** The foreground's labels are the classes covering >= 20 % of it (always its
   dominant class). Candidates are the pool images containing the dominant class (>= 0.2 % of their
   pixels), most similar first; the reference region is the candidate's pixels of the foreground's
   labels. Variant ``k`` uses the k-th candidate. A reference with the target's file stem is excluded.
4. **Transfer** with a kernel of :mod:`harmony.datagen.transfer` drawn per composite from ``methods``
   (parameters from ``sample_params``), statistics from the reference region only; the background stays
   bit-exact. Composites whose foreground barely changed (mean |change| < ``min_change``) are rejected
   and the next candidate is tried (up to 3 attempts per variant).

**Fallbacks** (each counted in the summary): when no pool image shares the dominant class, the most
similar reference overall is used with its whole image as the region (``retrieval = labels-fallback``).
Without label maps at all (no ``labels`` or ``reference_labels``), retrieval uses a colour/texture
descriptor (:func:`colour_texture_descriptor`: a 4x4x4 RGB joint histogram plus magnitude-weighted
8-bin gradient-orientation histograms over 1x1 and 2x2 cells, compared by intersection), the region is
the whole reference image, and foreground masks must be given.

Output under ``<out>/HFlickr`` (prefix ``f``): ``f<stem>_<fg>_<k>.jpg``, ``f<stem>_<fg>.png``,
``f<stem>.jpg`` (stems sanitised: ``_`` -> ``-``). One work unit = one target image; every random draw
comes from ``(seed, target, fg, k)``.

**Label maps in the output.** In label mode (target and reference label maps given, or the sample data)
each target that produced a composite also gets its label map, losslessly, as
``HFlickr/labels/f<stem>.png`` (the real image's stem: where DIH's trainer,
:func:`harmony.models.train.load_split`, looks for ``<Sub>/labels/<real stem>.png``): class ids exactly as
read, same size as the real image, 8-bit grey PNG when every id is <= 255, else 16-bit. The manifest's
``labels`` column holds the relative path (empty in the fallback-descriptor mode, where nothing is
written).
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import io as hio
from ..color import luminance
from ..dataset import (
    SUBSETS,
    DatasetWriter,
    SubsetLayout,
    composite_name,
    mask_name,
    params_json,
    real_name,
    safe_id,
    split_for,
)
from ..errors import InputError
from ..imageops import resize
from ..parallel import map_units, unit_rng, unit_seed
from ..registry import GENERATORS, Card
from ._common import binary_mask_or_skip, read_mask_or_skip, sample_test_ids, tool_version
from .runner import RunSummary, run_units

SUBSET = "HFlickr"
PREFIX = SUBSETS[SUBSET]
LEVELS = 2
LEVEL_WEIGHTS = (0.25, 0.25, 0.5)
DEFAULT_METHODS = ("gct", "gctrgb", "hgm", "idt")
ADE20K_CLASSES = 150
HIST_MAX_SIDE = 128          # label maps are subsampled (nearest, by striding) to at most this side
PRESENT_FRACTION = 0.002     # a reference "contains" a class when it covers >= 0.2 % of it
FG_LABEL_SHARE = 0.2         # classes covering >= 20 % of the foreground are "its labels"
MIN_REGION_PX = 64
ATTEMPTS = 3
LABEL_DIR = "labels"         # <out>/HFlickr/labels/<real stem>.png (read by harmony.models.train)

# --- descriptors -----------------------------------------------------------------------------------


def histogram_dim(num_classes: int, levels: int = LEVELS) -> int:
    return num_classes * sum(4 ** level for level in range(levels + 1))


def label_histogram(labels: np.ndarray, num_classes: int, *, levels: int = LEVELS,
                    max_side: int | None = HIST_MAX_SIDE) -> np.ndarray:
    """Weighted spatial-pyramid label histogram of an int (H, W) label map -> float32 (D,).

    ``D = num_classes * (1 + 4 + 16)`` for ``levels=2``. Class ``c`` in ``1..num_classes`` goes to bin
    ``c - 1``; class 0 (unlabelled) is not counted. Level ``l`` splits the map into ``2^l x 2^l`` cells
    (cell of row ``i`` = ``floor(i * 2^l / H)``); each cell's class counts are divided by the map's
    pixel count and multiplied by the level weight (levels 0..2: 1/4, 1/4, 1/2). Layout: level 0, then
    level 1 cells in row-major order, then level 2; within a cell, classes in order.
    With ``max_side``, the map is first subsampled by an integer stride so its longer side is at most
    ``max_side`` (``None``: full resolution).
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or lab.size == 0 or lab.dtype.kind not in "iu":
        raise ValueError(f"labels: expected a non-empty integer (H, W) label map, got {lab.dtype} {lab.shape}")
    if max_side:
        step = max(1, math.ceil(max(lab.shape) / max_side))
        if step > 1:
            lab = lab[::step, ::step]
    lo, hi = int(lab.min()), int(lab.max())
    if lo < 0 or hi > num_classes:
        raise ValueError(f"labels: expected class ids in 0..{num_classes}, got {lo}..{hi}")
    g = 2 ** levels
    h, w = lab.shape
    cell = _cell_grid(h, w, g)
    valid = lab > 0
    idx = cell[valid] * num_classes + lab[valid].astype(np.int64)
    counts = np.bincount(idx, minlength=g * g * num_classes + 1)[1:].reshape(g, g, num_classes)
    counts = counts.astype(np.float64) / float(h * w)
    weights = LEVEL_WEIGHTS if levels == LEVELS else (
        tuple([1 / 2 ** levels] + [1 / 2 ** (levels - lv + 1) for lv in range(1, levels + 1)]))
    parts = []
    for level in range(levels + 1):
        gl, f = 2 ** level, 2 ** (levels - level)
        c = counts.reshape(gl, f, gl, f, num_classes).sum(axis=(1, 3))
        parts.append(weights[level] * c.reshape(-1))
    return np.concatenate(parts).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _cell_grid(h: int, w: int, g: int) -> np.ndarray:
    """Finest-level cell index of every pixel: ``floor(i*g/h) * g + floor(j*g/w)`` (int64 (h, w))."""
    return ((np.arange(h) * g) // h)[:, None] * g + ((np.arange(w) * g) // w)[None, :]


def colour_texture_descriptor(image: np.ndarray) -> np.ndarray:
    """Fallback descriptor of an RGB float image -> float32 (104,), each half summing to ~0.5.

    Colour: 4x4x4 joint RGB histogram (64 bins) of the image resized (area) to fit 64x64.
    Texture: gradient orientation (unsigned, 8 bins over [0, pi)) histograms weighted by gradient
    magnitude (Sobel on Rec.601 luma), over the whole image and its 2x2 cells (40 bins), normalised by
    the total magnitude.
    """
    h, w = image.shape[:2]
    s = 64.0 / max(h, w)
    small = image if s >= 1 else resize(image, (max(1, round(h * s)), max(1, round(w * s))), "area")
    small = np.clip(small, 0, 1)
    q = np.minimum((small * 4).astype(np.int64), 3)
    colour = np.bincount((q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel(), minlength=64).astype(np.float64)
    colour /= colour.sum()
    grey = luminance(small).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy).astype(np.float64)
    ang = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * 8).astype(np.int64), 7)
    hh, ww = grey.shape
    cell = ((np.arange(hh) * 2) // hh)[:, None] * 2 + ((np.arange(ww) * 2) // ww)[None, :]
    per_cell = np.bincount((cell * 8 + ang).ravel(), weights=mag.ravel(), minlength=32)
    texture = np.concatenate([per_cell.reshape(4, 8).sum(axis=0), per_cell])
    total = texture.sum()
    texture = texture / total if total > 0 else texture
    return np.concatenate([0.5 * colour, 0.25 * texture[:8], 0.25 * texture[8:]]).astype(np.float32)


class HistogramIndex:
    """A pool of non-negative descriptors (sparse rows) searched by histogram intersection.

    ``scores(q)[i] = sum_j min(q_j, R_ij)``, computed from the columns where ``q`` is non-zero only
    (where ``q_j = 0`` the minimum is 0), in one vectorised gather over a CSC matrix.
    """

    def __init__(self, rows, names: Sequence[str]):
        from scipy import sparse

        mat = sparse.csr_matrix(rows, dtype=np.float32) if not sparse.issparse(rows) else rows.astype(np.float32)
        if mat.shape[0] != len(names):
            raise ValueError(f"rows: expected {len(names)} rows (one per name), got {mat.shape[0]}")
        if mat.nnz and mat.data.min() < 0:
            raise ValueError("rows: expected non-negative histograms")
        self.names = list(names)
        self.csc = mat.tocsc()
        self.csc.sort_indices()

    def __len__(self) -> int:
        return len(self.names)

    def scores(self, query: np.ndarray) -> np.ndarray:
        q = np.asarray(query, dtype=np.float32).ravel()
        if q.shape[0] != self.csc.shape[1]:
            raise ValueError(f"query: expected {self.csc.shape[1]} bins, got {q.shape[0]}")
        cols = np.flatnonzero(q > 0)
        if cols.size == 0 or self.csc.nnz == 0:
            return np.zeros(len(self.names), np.float64)
        indptr = self.csc.indptr
        starts, ends = indptr[cols], indptr[cols + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(len(self.names), np.float64)
        # Gather the stored entries of the query's columns without building a sliced matrix.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        vals = np.minimum(self.csc.data[offsets], np.repeat(q[cols], lengths))
        return np.bincount(self.csc.indices[offsets], weights=vals, minlength=len(self.names))

    def rank(self, query: np.ndarray, k: int | None = None, allowed: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores) of the ``k`` most similar rows (ties by index), optionally among ``allowed``."""
        s = self.scores(query)
        return top_k(s, k, allowed)


def top_k(scores: np.ndarray, k: int | None, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(len(scores)) if allowed is None else np.flatnonzero(allowed)
    if idx.size == 0:
        return idx, scores[idx]
    s = scores[idx]
    if k is not None and k < idx.size:
        part = np.argpartition(-s, k - 1)[:k]
        idx, s = idx[part], s[part]
    order = np.lexsort((idx, -s))
    return idx[order], s[order]


# --- reading and indexing a pool -------------------------------------------------------------------

@dataclass(frozen=True)
class _Chunk:
    key: str
    items: tuple[tuple[str, str | None], ...]   # (image path, label path or None)
    num_classes: int
    mode: str                                    # "labels" | "descriptor"


def _describe_chunk(chunk: _Chunk) -> dict:
    """Descriptors of a chunk of (image, label map) pairs; bad items come back as (index, reason)."""
    from scipy import sparse

    rows, presence, ok, bad = [], [], [], []
    for i, (image_path, label_path) in enumerate(chunk.items):
        try:
            if chunk.mode == "labels":
                labels = read_labels(label_path, chunk.num_classes, image_path)
                hist = label_histogram(labels, chunk.num_classes)
                level0 = hist[:chunk.num_classes] / LEVEL_WEIGHTS[0]
                presence.append(np.flatnonzero(level0 >= PRESENT_FRACTION).astype(np.int32))
            else:
                hist = colour_texture_descriptor(hio.read_image(image_path))
                presence.append(np.zeros(0, np.int32))
            rows.append(hist)
            ok.append(i)
        except InputError as exc:
            msg = str(exc)
            reason = msg.split(": ", 1)[-1] if ": " in msg else msg
            bad.append((i, reason))
    mat = sparse.csr_matrix(np.stack(rows)) if rows else None
    return {"ok": ok, "bad": bad, "rows": mat, "presence": presence}


def read_labels(label_path: str | None, num_classes: int, image_path: str | None = None) -> np.ndarray:
    """Read a label map and check it: ids within ``0..num_classes``, same size as the image."""
    if label_path is None or not Path(label_path).is_file():
        raise InputError(f"{label_path}: no label map")
    labels = hio.read_label_map(label_path)
    if labels.size and (int(labels.max()) > num_classes or int(labels.min()) < 0):
        unknown = np.unique(labels[(labels > num_classes) | (labels < 0)])[:5]
        raise InputError(f"{label_path}: unknown class ids {', '.join(map(str, unknown))} (expected 0..{num_classes})")
    if image_path is not None:
        size = hio.image_size(image_path)
        if size != labels.shape:
            raise InputError(f"{label_path}: label map {labels.shape[1]}x{labels.shape[0]} differs from image "
                             f"{Path(image_path).name} {size[1]}x{size[0]}")
    return labels


def encode_label_map(labels: np.ndarray) -> bytes:
    """Lossless PNG bytes of an integer (H, W) label map: 8-bit grey when ids fit 0..255, else 16-bit.

    :func:`harmony.io.read_label_map` reads the result back to exactly the same ids.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or lab.size == 0 or lab.dtype.kind not in "iu":
        raise ValueError(f"labels: expected a non-empty integer (H, W) label map, got {lab.dtype} {lab.shape}")
    lo, hi = int(lab.min()), int(lab.max())
    if lo < 0 or hi > 65535:
        raise ValueError(f"labels: expected class ids in 0..65535 for a PNG label map, got {lo}..{hi}")
    arr = np.ascontiguousarray(lab.astype(np.uint8 if hi <= 255 else np.uint16))
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover
        raise ValueError("labels: PNG encoding failed")
    return buf.tobytes()


def label_map_name(image_id: str) -> str:
    """``f<id>.png``: the real image's stem, as DIH's trainer expects (``<Sub>/labels/<real stem>.png``)."""
    return Path(real_name(PREFIX, image_id, ".png")).name


@dataclass
class Pool:
    """Described images: index, names, paths, class presence, and what was left out."""

    index: HistogramIndex
    images: list[str]
    labels: list[str | None]
    presence: np.ndarray            # (N, num_classes) bool; all False in descriptor mode
    bad: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def stems(self) -> list[str]:
        return [Path(p).stem for p in self.images]


def describe_pool(items: Sequence[tuple[str, str | None]], num_classes: int, mode: str, *,
                  workers: int | None = None, scheduler: Any = None, progress: bool = False, desc: str = "",
                  chunk_size: int = 200) -> Pool:
    """Describe (image, label map) pairs in parallel chunks and build the search index."""
    from scipy import sparse

    t0 = time.perf_counter()
    chunks = [_Chunk(f"{desc}:{i}", tuple(items[i:i + chunk_size]), num_classes, mode)
              for i in range(0, len(items), chunk_size)]
    results: dict[int, dict] = {}
    for res in map_units(_describe_chunk, chunks, workers=workers if len(chunks) > 1 else 0, scheduler=scheduler,
                         progress=progress, desc=desc):
        if not res.ok:
            raise RuntimeError(f"describing {res.key} failed: {res.error}")
        results[int(res.key.rsplit(":", 1)[1])] = res.value
    mats, images, labels, presence_rows, bad = [], [], [], [], []
    for start in sorted(results):
        r = results[start]
        chunk_items = items[start:start + chunk_size]
        for i, reason in r["bad"]:
            bad.append((chunk_items[i][1] if mode == "labels" else chunk_items[i][0], reason))
        if r["rows"] is not None:
            mats.append(r["rows"])
        for i, pres in zip(r["ok"], r["presence"]):
            images.append(chunk_items[i][0])
            labels.append(chunk_items[i][1])
            presence_rows.append(pres)
    dim = histogram_dim(num_classes) if mode == "labels" else 104
    rows = sparse.vstack(mats).tocsr() if mats else sparse.csr_matrix((0, dim), dtype=np.float32)
    presence = np.zeros((len(images), num_classes + 1), bool)
    for i, pres in enumerate(presence_rows):
        presence[i, pres + 1] = True
    return Pool(HistogramIndex(rows, images), images, labels, presence, bad, time.perf_counter() - t0)


# --- foreground rules ------------------------------------------------------------------------------

def label_segments(labels: np.ndarray, *, min_fg: float = 0.05, max_fg: float = 0.5, limit: int = 2
                   ) -> list[tuple[int, np.ndarray]]:
    """Foreground candidates by rule: per class (id > 0), its largest 4-connected component, kept when
    it covers ``[min_fg, max_fg]`` of the image and its bounding box is narrower than the image;
    largest first (ties: smaller class id), at most ``limit``. Returns [(class id, bool mask)]."""
    h, w = labels.shape
    out = []
    for c in np.unique(labels):
        if c <= 0:
            continue
        n, comp, stats, _ = cv2.connectedComponentsWithStats((labels == c).astype(np.uint8), connectivity=4)
        if n <= 1:
            continue
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[best, cv2.CC_STAT_AREA])
        ratio = area / float(h * w)
        if not (min_fg <= ratio <= max_fg) or stats[best, cv2.CC_STAT_WIDTH] >= w:
            continue
        out.append((int(c), area, comp == best))
    out.sort(key=lambda t: (-t[1], t[0]))
    return [(c, m) for c, _a, m in out[:limit]]


def foreground_labels(labels: np.ndarray, mask: np.ndarray) -> list[int]:
    """Classes covering >= 20 % of the foreground, dominant first (class 0 never counts)."""
    fg = labels[mask]
    fg = fg[fg > 0]
    if fg.size == 0:
        return []
    ids, counts = np.unique(fg, return_counts=True)
    order = np.lexsort((ids, -counts))
    ids, counts = ids[order], counts[order]
    keep = counts >= FG_LABEL_SHARE * fg.size
    keep[0] = True
    return [int(i) for i in ids[keep]]


# --- units -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlickrOptions:
    methods: tuple[str, ...] = DEFAULT_METHODS
    per_mask: int = 1
    per_image: int = 2
    top_k: int = 10
    min_fg: float = 0.05
    max_fg: float = 0.5
    min_change: float = 0.01
    num_classes: int = ADE20K_CLASSES
    quality: int = 95
    fmt: str = "jpg"
    test_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        from .transfer import dataset_codes  # kernel names or iHarmony4 codes in, the codes recorded

        object.__setattr__(self, "methods", dataset_codes(self.methods))

    def check(self) -> None:
        from .transfer import METHOD_NAMES

        if not self.methods:
            raise InputError("--methods: expected at least one colour-transfer method")
        for m in self.methods:
            if m not in METHOD_NAMES:
                raise InputError(f"--methods: unknown method {m!r}; expected some of {', '.join(METHOD_NAMES)}")
        for name in ("per_mask", "per_image", "top_k", "num_classes"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')}: expected a positive number")
        if not 0 < self.min_fg <= self.max_fg <= 1:
            raise InputError(f"--min-fg-ratio/--max-fg-ratio: expected 0 < min <= max <= 1, got {self.min_fg}, {self.max_fg}")
        if self.fmt not in ("jpg", "png"):
            raise InputError(f"--format: expected jpg or png, got {self.fmt!r}")

    def config(self) -> dict:
        return {"methods": list(self.methods), "per_mask": self.per_mask, "per_image": self.per_image,
                "top_k": self.top_k, "min_fg": self.min_fg, "max_fg": self.max_fg, "min_change": self.min_change,
                "num_classes": self.num_classes, "quality": self.quality, "format": self.fmt,
                "test_fraction": self.test_fraction, "seed": self.seed}


@dataclass(frozen=True)
class Candidate:
    image: str
    labels: str | None
    name: str
    score: float
    rank: int


@dataclass(frozen=True)
class FlickrUnit:
    key: str
    stem: str
    image: str
    labels: str | None
    masks: tuple[tuple[str, str], ...]                     # (fg id, path); empty -> label rule
    by_label: tuple[tuple[int, tuple[Candidate, ...]], ...]  # class -> candidates containing it
    overall: tuple[Candidate, ...]                         # most similar overall
    mode: str                                              # labels | descriptor
    split: str
    options: FlickrOptions
    synthetic: bool


def work(unit: FlickrUnit, layout: SubsetLayout) -> dict:
    from . import transfer

    record: dict[str, Any] = {"rows": [], "rejected": [], "skipped": [], "fallback": 0}
    opt = unit.options
    try:
        image = hio.read_image(unit.image)
    except InputError as exc:
        record["skipped"].append({"item": unit.image, "reason": "corrupt or unreadable image", "detail": str(exc)})
        return record
    h, w = image.shape[:2]
    labels = hio.read_label_map(unit.labels) if unit.mode == "labels" else None
    # Foregrounds: given masks, or the label rule.
    fgs: list[tuple[str, np.ndarray]] = []
    if unit.masks:
        for fg, mpath in unit.masks:
            soft = read_mask_or_skip(mpath, record)
            m = None if soft is None else binary_mask_or_skip(mpath, soft, (h, w), record)
            if m is not None:
                fgs.append((fg, m))
    else:
        segs = label_segments(labels, min_fg=opt.min_fg, max_fg=opt.max_fg, limit=opt.per_image)
        if not segs:
            record["skipped"].append({"item": unit.image, "reason": "no segment passes the label rule"})
        fgs = [(str(c), m) for c, m in segs]
    by_label = dict(unit.by_label)
    image_id = safe_id(unit.stem)
    ext = "." + opt.fmt
    label_rel = f"{LABEL_DIR}/{label_map_name(image_id)}" if labels is not None else ""
    ref_cache: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    made_any = False
    for fg, m in fgs:
        mask = m.astype(np.float32)
        if unit.mode == "labels":
            fg_labels = foreground_labels(labels, m)
            cands = by_label.get(fg_labels[0], ()) if fg_labels else ()
            retrieval = "labels"
            if not cands:
                cands, retrieval = unit.overall, "labels-fallback"
                record["fallback"] += 1
        else:
            fg_labels, cands, retrieval = [], unit.overall, "descriptor"
        accepted = 0
        tried = 0
        ci = 0
        while accepted < opt.per_mask and tried < opt.per_mask * ATTEMPTS and ci < len(cands):
            cand = cands[ci]
            ci += 1
            tried += 1
            if cand.image not in ref_cache:
                try:
                    ref_img = hio.read_image(cand.image)
                    ref_lab = hio.read_label_map(cand.labels) if (retrieval == "labels" and cand.labels) else None
                except InputError as exc:
                    record["skipped"].append({"item": cand.image, "reason": "corrupt or unreadable reference",
                                              "detail": str(exc)})
                    continue
                ref_cache[cand.image] = (ref_img, ref_lab)
            ref_img, ref_lab = ref_cache[cand.image]
            if retrieval == "labels":
                ref_mask = np.isin(ref_lab, fg_labels)
                if int(ref_mask.sum()) < MIN_REGION_PX:
                    record["rejected"].append({"reason": "reference region too small", "item": cand.name})
                    continue
            else:
                ref_mask = np.ones(ref_img.shape[:2], bool)
            k = accepted + 1
            rng = unit_rng(opt.seed, f"{unit.key}/{fg}/{k}/{tried}")
            method = opt.methods[int(rng.integers(len(opt.methods)))]
            params = transfer.sample_params(method, rng)
            try:
                out = transfer.transfer(method, image, mask, ref_img, ref_mask.astype(np.float32), rng=rng,
                                        **params)
            except ValueError as exc:
                record["rejected"].append({"reason": "transfer failed", "item": f"{unit.stem}/{fg} <- {cand.name}",
                                           "detail": str(exc)})
                continue
            change = float(np.abs(out[m] - image[m]).mean())
            if change < opt.min_change:
                record["rejected"].append({"reason": "foreground barely changed",
                                           "item": f"{unit.stem}/{fg} <- {cand.name}"})
                continue
            accepted = k
            comp = composite_name(PREFIX, image_id, safe_id(fg), k, ext)
            mname = mask_name(PREFIX, image_id, safe_id(fg))
            rname = real_name(PREFIX, image_id, ext)
            layout.write_composite(comp, out, quality=opt.quality)
            record["rows"].append({
                "composite": comp, "mask": f"masks/{mname}", "real": f"real_images/{rname}", "subset": SUBSET,
                "split": unit.split, "source_image_id": unit.stem, "source_annotation_id": fg,
                "reference_image_id": cand.name,
                "reference_annotation_id": "+".join(map(str, fg_labels)) if retrieval == "labels" else "all",
                "method": method, "params": params_json(params), "fg_ratio": round(float(m.mean()), 6),
                "seed": unit_seed(opt.seed, f"{unit.key}/{fg}/{k}/{tried}"), "tool_version": tool_version(),
                "unit": unit.key, "synthetic": int(unit.synthetic), "retrieval": retrieval,
                "similarity": round(cand.score, 6), "reference_rank": cand.rank,
                "fg_labels": " ".join(map(str, fg_labels)), "foreground_source": "mask" if unit.masks else "label-rule",
                "change": round(change, 6), "labels": label_rel,
            })
        if accepted:
            layout.write_mask(mask_name(PREFIX, image_id, safe_id(fg)), m)
            made_any = True
    if made_any:
        if labels is not None:
            hio.atomic_write_bytes(layout.extra_path(LABEL_DIR, label_map_name(image_id)), encode_label_map(labels))
        layout.write_real(real_name(PREFIX, image_id, ext), image, quality=opt.quality)
    return record


# --- planning ----------------------------------------------------------------------------------------

def _pairs_in(images: Path, labels: Path | None) -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
    items, skipped = [], []
    for p in hio.list_images(images):
        if labels is None:
            items.append((str(p), None))
            continue
        lp = labels / f"{p.stem}.png"
        if not lp.is_file():
            skipped.append((str(p), "no label map"))
            continue
        items.append((str(p), str(lp)))
    return items, skipped


def _candidates(pool: Pool, idx: np.ndarray, scores: np.ndarray) -> tuple[Candidate, ...]:
    return tuple(Candidate(pool.images[i], pool.labels[i], pool.stems[i], float(s), r + 1)
                 for r, (i, s) in enumerate(zip(idx, scores)))


def plan_flickr(images: str | os.PathLike, labels: str | os.PathLike | None, reference_images: str | os.PathLike,
                reference_labels: str | os.PathLike | None, masks: str | os.PathLike | None, options: FlickrOptions,
                *, synthetic: bool = False, workers: int | None = None, scheduler: Any = None,
                progress: bool = False) -> tuple[list[FlickrUnit], list[tuple[str, str]], list[str], dict]:
    images, reference_images = Path(images), Path(reference_images)
    for folder, what in ((images, "--images"), (reference_images, "--reference-images")):
        if not folder.is_dir():
            raise InputError(f"{folder}: {what} folder not found")
    for folder, what in ((labels, "--labels"), (reference_labels, "--reference-labels"), (masks, "--masks")):
        if folder is not None and not Path(folder).is_dir():
            raise InputError(f"{folder}: {what} folder not found")
    mode = "labels" if (labels is not None and reference_labels is not None) else "descriptor"
    if mode == "descriptor" and masks is None:
        raise InputError("without label maps (--labels and --reference-labels) give --masks: the label rule "
                         "that picks foregrounds needs label maps")
    t_items, skipped = _pairs_in(images, Path(labels) if mode == "labels" else None)
    r_items, r_skipped = _pairs_in(reference_images, Path(reference_labels) if mode == "labels" else None)
    skipped += [(p, f"reference {why}") for p, why in r_skipped]
    if not t_items:
        raise InputError(f"{images}: no target image with a label map" if mode == "labels" else
                         f"{images}: no target images")
    if not r_items:
        raise InputError(f"{reference_images}: no reference image" + (" with a label map" if mode == "labels" else ""))
    # Masks by stem.
    masks_by_stem: dict[str, list[tuple[str, str]]] = {}
    if masks is not None:
        t_stems = {Path(p).stem for p, _ in t_items}
        for p in hio.list_images(masks):
            stem, sep, fg = p.stem.rpartition("_")
            if not sep or stem not in t_stems:
                skipped.append((str(p), "mask matches no image" if sep else "mask name is not <stem>_<fg>.png"))
                continue
            masks_by_stem.setdefault(stem, []).append((fg, str(p)))
    nc = options.num_classes
    refs = describe_pool(r_items, nc, mode, workers=workers, scheduler=scheduler, progress=progress,
                         desc="index references")
    skipped += [(p, f"reference excluded: {why}") for p, why in refs.bad]
    if len(refs.images) == 0:
        raise InputError(f"{reference_images}: no usable reference (all {len(r_items)} were bad; see above)")
    targets = describe_pool(t_items, nc, mode, workers=workers, scheduler=scheduler, progress=progress,
                            desc="describe targets")
    skipped += list(targets.bad)
    ref_stems = np.array(refs.stems)
    t0 = time.perf_counter()
    units = []
    ids: dict[str, str] = {}
    qrows = targets.index.csc.tocsr()
    for ti, (img, lab) in enumerate(zip(targets.images, targets.labels)):
        stem = Path(img).stem
        sid = safe_id(stem)
        if sid in ids:
            raise InputError(f"target stems {stem!r} and {ids[sid]!r} both become {sid!r} once '_' is replaced; "
                             "rename one")
        ids[sid] = stem
        if masks is not None and stem not in masks_by_stem:
            skipped.append((img, "no mask for this image"))
            continue
        q = qrows[ti].toarray().ravel()
        scores = refs.index.scores(q)
        allowed = ref_stems != stem
        overall = _candidates(refs, *top_k(scores, options.top_k, allowed))
        by_label = []
        if mode == "labels":
            for c in np.flatnonzero(targets.presence[ti]):
                idx, s = top_k(scores, options.top_k, allowed & refs.presence[:, c])
                by_label.append((int(c), _candidates(refs, idx, s)))
        units.append(FlickrUnit(key=f"flickr/{stem}", stem=stem, image=img, labels=lab,
                                masks=tuple(sorted(masks_by_stem.get(stem, []))), by_label=tuple(by_label),
                                overall=overall, mode=mode, split=split_for(stem, options.test_fraction, sample_test_ids(synthetic)),
                                options=options, synthetic=synthetic))
    t_query = time.perf_counter() - t0
    if not units:
        example = f"; e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise InputError(f"{images}: no usable target image ({len(skipped)} inputs skipped{example})")
    stats = {"mode": mode, "references": len(refs.images), "targets": len(targets.images),
             "index_seconds": refs.seconds, "query_ms": 1000 * t_query / max(1, len(units))}
    notes = []
    if mode == "descriptor":
        notes.append("retrieval: FALLBACK colour/texture descriptor (no label maps given); reference region = "
                     "whole reference image")
    else:
        notes.append(f"retrieval: spatial-pyramid label histograms (levels 0-2, {nc} classes)")
    notes.append(f"reference pool: {len(refs.images)} images indexed in {refs.seconds:.2f} s; "
                 f"{len(refs.bad)} excluded; retrieval {stats['query_ms']:.2f} ms per target")
    return units, skipped, notes, stats


def generate_flickr(out: str | os.PathLike, images: str | os.PathLike | None = None,
                    labels: str | os.PathLike | None = None, reference_images: str | os.PathLike | None = None,
                    reference_labels: str | os.PathLike | None = None, masks: str | os.PathLike | None = None, *,
                    options: FlickrOptions | None = None, workers: int | None = None, scheduler: Any = None,
                    overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Build ``<out>/HFlickr``. With no data argument: the embedded Flickr-like sample (synthetic)."""
    synthetic = all(x is None for x in (images, labels, reference_images, reference_labels, masks))
    if synthetic:
        from .samples_extra import SAMPLE_VERSION, flickr_sample

        sample = flickr_sample()
        images, labels = sample["images"], sample["labels"]
        reference_images, reference_labels = sample["reference_images"], sample["reference_labels"]
        options = options or FlickrOptions(num_classes=15, test_fraction=0.25)
        data: dict[str, Any] = {"data": f"embedded flickr sample {SAMPLE_VERSION}"}
    else:
        if images is None or reference_images is None:
            raise InputError("--images and --reference-images are required (or give no data argument for the "
                             "sample data)")
        data = {k: (str(Path(v).resolve()) if v is not None else None) for k, v in
                (("images", images), ("labels", labels), ("reference_images", reference_images),
                 ("reference_labels", reference_labels), ("masks", masks))}
    options = options or FlickrOptions()
    options.check()
    units, skipped, notes, stats = plan_flickr(images, labels, reference_images, reference_labels, masks, options,
                                               synthetic=synthetic, workers=workers, scheduler=scheduler,
                                               progress=progress)
    config = {**data, **options.config()}
    # labels/ is an extra folder so that --overwrite clears it and a resumed run cleans its temporaries.
    writer = DatasetWriter(out, SUBSET, config=config, overwrite=overwrite, command="datagen flickr",
                           extra_dirs=(LABEL_DIR,))
    summary = run_units(writer, units, work, workers=workers, scheduler=scheduler, desc="datagen flickr",
                        progress=progress)
    label_dir = writer.dir / LABEL_DIR
    if stats["mode"] != "labels" and label_dir.is_dir() and not any(label_dir.iterdir()):
        label_dir.rmdir()   # descriptor mode writes no label maps: leave no empty folder behind
    if summary.final is not None:
        summary.final.skipped[:0] = skipped
    fallbacks = sum(int(r.get("fallback", 0)) for r in writer.layout.unit_records())
    retrievals: dict[str, int] = {}
    for r in writer.layout.unit_records():
        for row in r.get("rows", []):
            retrievals[row.get("retrieval", "?")] = retrievals.get(row.get("retrieval", "?"), 0) + 1
    if synthetic:
        notes.insert(0, "data: embedded Flickr-like sample (pseudo label maps from SLIC + colour rule; synthetic)")
    notes.append(f"foregrounds with no reference sharing their labels (fallback to the most similar image): "
                 f"{fallbacks}")
    notes.append("composites by retrieval: " + (", ".join(f"{k} {v}" for k, v in sorted(retrievals.items()))
                                                 or "none"))
    if stats["mode"] == "labels":
        n_maps = sum(1 for r in writer.layout.unit_records() if any(row.get("labels") for row in r.get("rows", [])))
        notes.append(f"label maps: {n_maps} written to {SUBSET}/{LABEL_DIR}/<real stem>.png (DIH's scene-parsing "
                     "decoder trains on them)")
    else:
        notes.append("label maps: none written (no label maps given)")
    summary.notes = notes + summary.notes
    summary.stats = stats  # type: ignore[attr-defined]
    return summary


GENERATORS.register("flickr", generate_flickr, card=Card(
    name="flickr", kind="generator",
    summary="Label-histogram retrieval + colour transfer between same-label regions (HFlickr layout).",
    paper="Tsai et al., Deep Image Harmonization, CVPR 2017, section 3.1; iHarmony4 layout (Cong et al. 2020)",
    inputs=("images", "labels", "reference_images", "reference_labels", "masks"),
    notes="Spatial-pyramid label histograms (levels 0-2, weights 1/4,1/4,1/2, intersection); foreground = "
          "mask or label rule; reference region = pixels of the foreground's classes; kernels from "
          "harmony.datagen.transfer. Fallbacks: most similar image when no label is shared (counted); "
          "colour/texture descriptor without label maps (summary says so).",
    extra={"subset": SUBSET, "prefix": PREFIX, "command": "harmony datagen flickr"},
))
