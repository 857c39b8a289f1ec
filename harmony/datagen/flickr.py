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

import dataclasses
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
from .runner import Generator, Inputs, Plan, RunSummary, generate, no_units_error

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
    """Length of a spatial-pyramid label histogram.

    Parameters
    ----------
    num_classes : int
        Classes counted (ids ``1..num_classes``).
    levels : int
        Pyramid levels above the whole image (2: 1x1, 2x2 and 4x4 cells).

    Returns
    -------
    int
        ``num_classes * sum(4**l for l in 0..levels)`` (21 cells per class for ``levels=2``).

    Examples
    --------
    >>> histogram_dim(150)
    3150
    """
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

    Parameters
    ----------
    labels : numpy.ndarray
        Integer (H, W) label map, ids in ``0..num_classes``.
    num_classes : int
        Number of classes (ADE20K: 150).
    levels : int
        Pyramid levels above the whole image.
    max_side : int or None
        Longest side after striding (None: full resolution).

    Returns
    -------
    numpy.ndarray
        float32 (D,), ``D = histogram_dim(num_classes, levels)``; each level sums to the labelled
        fraction times its weight.

    Raises
    ------
    ValueError
        Not an integer 2-D map, or ids outside ``0..num_classes``.

    References
    ----------
    .. [1] Lazebnik, Schmid and Ponce, "Beyond Bags of Features: Spatial Pyramid Matching", CVPR 2006.
    .. [2] Tsai et al., "Deep Image Harmonization", CVPR 2017, section 3.1 (retrieval of references by
       semantic label histograms).
    """
    label_map = np.asarray(labels)
    if label_map.ndim != 2 or label_map.size == 0 or label_map.dtype.kind not in "iu":
        raise ValueError(f"labels: expected a non-empty integer (H, W) label map, got {label_map.dtype} {label_map.shape}")
    if max_side:
        step = max(1, math.ceil(max(label_map.shape) / max_side))
        if step > 1:
            label_map = label_map[::step, ::step]
    lo, hi = int(label_map.min()), int(label_map.max())
    if lo < 0 or hi > num_classes:
        raise ValueError(f"labels: expected class ids in 0..{num_classes}, got {lo}..{hi}")
    cells = 2 ** levels
    h, w = label_map.shape
    cell = _cell_grid(h, w, cells)
    valid = label_map > 0
    idx = cell[valid] * num_classes + label_map[valid].astype(np.int64)
    counts = np.bincount(idx, minlength=cells * cells * num_classes + 1)[1:].reshape(cells, cells, num_classes)
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

    Parameters
    ----------
    image : numpy.ndarray
        float32 (H, W, 3) RGB in [0, 1].

    Returns
    -------
    numpy.ndarray
        float32 (104,): 64 colour bins (weight 1/2), 8 whole-image and 32 per-cell orientation bins
        (weight 1/4 each).
    """
    h, w = image.shape[:2]
    scale = 64.0 / max(h, w)
    small = image if scale >= 1 else resize(image, (max(1, round(h * scale)), max(1, round(w * scale))), "area")
    small = np.clip(small, 0, 1)
    quantised = np.minimum((small * 4).astype(np.int64), 3)
    colour = np.bincount((quantised[..., 0] * 16 + quantised[..., 1] * 4 + quantised[..., 2]).ravel(), minlength=64).astype(np.float64)
    colour /= colour.sum()
    grey = luminance(small).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy).astype(np.float64)
    orientation_bin = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * 8).astype(np.int64), 7)
    hh, ww = grey.shape
    cell = ((np.arange(hh) * 2) // hh)[:, None] * 2 + ((np.arange(ww) * 2) // ww)[None, :]
    per_cell = np.bincount((cell * 8 + orientation_bin).ravel(), weights=magnitude.ravel(), minlength=32)
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

        matrix = sparse.csr_matrix(rows, dtype=np.float32) if not sparse.issparse(rows) else rows.astype(np.float32)
        if matrix.shape[0] != len(names):
            raise ValueError(f"rows: expected {len(names)} rows (one per name), got {matrix.shape[0]}")
        if matrix.nnz and matrix.data.min() < 0:
            raise ValueError("rows: expected non-negative histograms")
        self.names = list(names)
        self.csc = matrix.tocsc()
        self.csc.sort_indices()

    def __len__(self) -> int:
        return len(self.names)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Histogram intersection of a query with every row of the pool.

        Parameters
        ----------
        query : numpy.ndarray
            float (D,), non-negative.

        Returns
        -------
        numpy.ndarray
            float64 (N,), ``sum_j min(query_j, row_ij)``.

        Raises
        ------
        ValueError
            The query's length is not the pool's.
        """
        values = np.asarray(query, dtype=np.float32).ravel()
        if values.shape[0] != self.csc.shape[1]:
            raise ValueError(f"query: expected {self.csc.shape[1]} bins, got {values.shape[0]}")
        cols = np.flatnonzero(values > 0)
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
        vals = np.minimum(self.csc.data[offsets], np.repeat(values[cols], lengths))
        return np.bincount(self.csc.indices[offsets], weights=vals, minlength=len(self.names))

    def rank(self, query: np.ndarray, k: int | None = None, allowed: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores) of the ``k`` most similar rows (ties by index), optionally among ``allowed``.

        Parameters
        ----------
        query : numpy.ndarray
            float (D,), non-negative.
        k : int or None
            Rows to return (None: all).
        allowed : numpy.ndarray or None
            bool (N,) of the rows that may be returned.

        Returns
        -------
        indices : numpy.ndarray
            int (k,), most similar first.
        scores : numpy.ndarray
            float64 (k,), their intersections.
        """
        s = self.scores(query)
        return top_k(s, k, allowed)


def top_k(scores: np.ndarray, k: int | None, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest scores, most similar first (ties: lower index first).

    Parameters
    ----------
    scores : numpy.ndarray
        float (N,).
    k : int or None
        How many to keep (None: all).
    allowed : numpy.ndarray or None
        bool (N,) of the entries that may be returned.

    Returns
    -------
    indices : numpy.ndarray
        int (k,).
    scores : numpy.ndarray
        The scores at those indices.

    Examples
    --------
    >>> import numpy as np
    >>> idx, s = top_k(np.array([0.2, 0.9, 0.9, 0.1]), 2)
    >>> idx.tolist(), s.tolist()
    ([1, 2], [0.9, 0.9])
    """
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
    """Read a label map and check it: ids within ``0..num_classes``, same size as the image.

    Parameters
    ----------
    label_path : str or None
        PNG label map (8- or 16-bit grey of class ids).
    num_classes : int
        Largest allowed id.
    image_path : str or None
        The image it belongs to (its size is checked; None: not checked).

    Returns
    -------
    numpy.ndarray
        Integer (H, W) class ids.

    Raises
    ------
    InputError
        No file, unknown ids, or a size other than the image's.
    """
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

    Parameters
    ----------
    labels : numpy.ndarray
        Integer (H, W), ids in 0..65535.

    Returns
    -------
    bytes
        PNG file contents.

    Raises
    ------
    ValueError
        Not an integer 2-D map, or ids outside 0..65535.
    """
    label_map = np.asarray(labels)
    if label_map.ndim != 2 or label_map.size == 0 or label_map.dtype.kind not in "iu":
        raise ValueError(f"labels: expected a non-empty integer (H, W) label map, got {label_map.dtype} {label_map.shape}")
    lo, hi = int(label_map.min()), int(label_map.max())
    if lo < 0 or hi > 65535:
        raise ValueError(f"labels: expected class ids in 0..65535 for a PNG label map, got {lo}..{hi}")
    arr = np.ascontiguousarray(label_map.astype(np.uint8 if hi <= 255 else np.uint16))
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover
        raise ValueError("labels: PNG encoding failed")
    return buf.tobytes()


def label_map_name(image_id: str) -> str:
    """``f<id>.png``: the real image's stem, as DIH's trainer expects (``<Sub>/labels/<real stem>.png``).

    Parameters
    ----------
    image_id : str
        The target's sanitised image id.

    Returns
    -------
    str
        ``f<image_id>.png``.
    """
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
        """File stems of the described images (a reference with the target's stem is excluded).
        """
        return [Path(p).stem for p in self.images]


def describe_pool(items: Sequence[tuple[str, str | None]], num_classes: int, mode: str, *,
                  workers: int | None = None, scheduler: Any = None, progress: bool = False, desc: str = "",
                  chunk_size: int = 200) -> Pool:
    """Describe (image, label map) pairs in parallel chunks and build the search index.

    Parameters
    ----------
    items : sequence of (str, str or None)
        (image path, label map path or None).
    num_classes : int
        Classes of the label maps.
    mode : {"labels", "descriptor"}
        Spatial-pyramid label histograms, or the colour/texture descriptor.
    workers, scheduler, progress, desc
        As in :func:`harmony.parallel.map_units`.
    chunk_size : int
        Items per parallel task.

    Returns
    -------
    Pool
        The index, the described images, their class presence (>= 0.2 % of the pixels) and the items
        left out with the reason.
    """
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
    largest first (ties: smaller class id), at most ``limit``. Returns [(class id, bool mask)].

    Parameters
    ----------
    labels : numpy.ndarray
        Integer (H, W) label map.
    min_fg, max_fg : float
        Bounds on the component's share of the image.
    limit : int
        Segments kept.

    Returns
    -------
    list of (int, numpy.ndarray)
        (class id, bool (H, W) mask), largest first.
    """
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
    """Classes covering >= 20 % of the foreground, dominant first (class 0 never counts).

    Parameters
    ----------
    labels : numpy.ndarray
        Integer (H, W) label map.
    mask : numpy.ndarray
        bool (H, W) foreground.

    Returns
    -------
    list of int
        Class ids, dominant first (empty when the foreground is all unlabelled).
    """
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
    """Options of the HFlickr generator (the flags of ``harmony datagen flickr``).
    """
    methods: tuple[str, ...] = DEFAULT_METHODS
    per_mask: int = 1
    per_image: int = 2
    top_k: int = 10
    min_fg: float = 0.05
    max_fg: float = 0.5
    min_change: float = 0.01
    num_classes: int | None = ADE20K_CLASSES   # None: the data's default (150; sample data: 15)
    quality: int = 95
    fmt: str = "jpg"
    test_fraction: float | None = 0.1   # None: the data's default (0.1; sample data: 0.25)
    seed: int = 0

    def __post_init__(self) -> None:
        from .transfer import dataset_codes  # kernel names or iHarmony4 codes in, the codes recorded

        object.__setattr__(self, "methods", dataset_codes(self.methods))

    def check(self) -> None:
        """Refuse out-of-range options with one line naming the flag.

        Raises
        ------
        InputError
            No or an unknown method, a non-positive count, bad fg-ratio bounds or an unknown format.
        """
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
        """The options as recorded in ``run.json``.

        Returns
        -------
        dict
            Every option (``fmt`` as ``format``).
        """
        return {"methods": list(self.methods), "per_mask": self.per_mask, "per_image": self.per_image,
                "top_k": self.top_k, "min_fg": self.min_fg, "max_fg": self.max_fg, "min_change": self.min_change,
                "num_classes": self.num_classes, "quality": self.quality, "format": self.fmt,
                "test_fraction": self.test_fraction, "seed": self.seed}


@dataclass(frozen=True)
class Candidate:
    """A retrieved reference: its image, label map, name, similarity and 1-based rank.
    """
    image: str
    labels: str | None
    name: str
    score: float
    rank: int


@dataclass(frozen=True)
class FlickrUnit:
    """One target image with its foregrounds' source and ranked references (picklable work unit).
    """
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
    """Make every composite of one target image: foregrounds, retrieved references, colour transfer.

    Parameters
    ----------
    unit : FlickrUnit
        One target image with its masks (or label map) and ranked reference candidates.
    layout : SubsetLayout
        Where the composites, masks, real image and label map are written.

    Returns
    -------
    dict
        The unit record: ``rows`` (manifest rows), ``rejected``, ``skipped`` and ``fallback`` (foregrounds
        whose labels no reference shares).
    """
    record: dict[str, Any] = {"rows": [], "rejected": [], "skipped": [], "fallback": 0}
    try:
        image = hio.read_image(unit.image)
    except InputError as exc:
        record["skipped"].append({"item": unit.image, "reason": "corrupt or unreadable image", "detail": str(exc)})
        return record
    labels = hio.read_label_map(unit.labels) if unit.mode == "labels" else None
    image_id = safe_id(unit.stem)
    label_file = f"{LABEL_DIR}/{label_map_name(image_id)}" if labels is not None else ""
    reference_cache: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    made_any = False
    for fg, fg_mask in _foregrounds(unit, image, labels, record):
        fg_labels, candidates, retrieval = _retrieved_candidates(unit, labels, fg_mask, record)
        accepted = _composites_of_foreground(unit, layout, image, fg, fg_mask, fg_labels, candidates, retrieval,
                                             reference_cache, label_file, record)
        if accepted:
            layout.write_mask(mask_name(PREFIX, image_id, safe_id(fg)), fg_mask)
            made_any = True
    if made_any:
        if labels is not None:
            hio.atomic_write_bytes(layout.extra_path(LABEL_DIR, label_map_name(image_id)), encode_label_map(labels))
        layout.write_real(real_name(PREFIX, image_id, "." + unit.options.fmt), image, quality=unit.options.quality)
    return record


def _foregrounds(unit: FlickrUnit, image: np.ndarray, labels: np.ndarray | None, record: dict
                 ) -> list[tuple[str, np.ndarray]]:
    """(fg id, binary mask) of the unit's foregrounds: its given masks, or the label rule's segments."""
    height, width = image.shape[:2]
    foregrounds: list[tuple[str, np.ndarray]] = []
    if unit.masks:
        for fg, mask_path in unit.masks:
            soft = read_mask_or_skip(mask_path, record)
            binary = None if soft is None else binary_mask_or_skip(mask_path, soft, (height, width), record)
            if binary is not None:
                foregrounds.append((fg, binary))
        return foregrounds
    options = unit.options
    segments = label_segments(labels, min_fg=options.min_fg, max_fg=options.max_fg, limit=options.per_image)
    if not segments:
        record["skipped"].append({"item": unit.image, "reason": "no segment passes the label rule"})
    return [(str(label), binary) for label, binary in segments]


def _retrieved_candidates(unit: FlickrUnit, labels: np.ndarray | None, fg_mask: np.ndarray, record: dict
                          ) -> tuple[list[int], tuple[Candidate, ...], str]:
    """The foreground's labels, its reference candidates and the retrieval mode used to find them."""
    if unit.mode != "labels":
        return [], unit.overall, "descriptor"
    fg_labels = foreground_labels(labels, fg_mask)
    candidates = dict(unit.by_label).get(fg_labels[0], ()) if fg_labels else ()
    if candidates:
        return fg_labels, candidates, "labels"
    record["fallback"] += 1
    return fg_labels, unit.overall, "labels-fallback"


def _reference(candidate: Candidate, retrieval: str, cache: dict, record: dict
               ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The candidate's image and (label retrieval) label map, read once per unit; None if unreadable."""
    if candidate.image not in cache:
        try:
            reference_image = hio.read_image(candidate.image)
            reference_labels = (hio.read_label_map(candidate.labels)
                                if (retrieval == "labels" and candidate.labels) else None)
        except InputError as exc:
            record["skipped"].append({"item": candidate.image, "reason": "corrupt or unreadable reference",
                                      "detail": str(exc)})
            return None
        cache[candidate.image] = (reference_image, reference_labels)
    return cache[candidate.image]


def _composites_of_foreground(unit: FlickrUnit, layout: SubsetLayout, image: np.ndarray, fg: str,
                              fg_mask: np.ndarray, fg_labels: list[int], candidates: tuple[Candidate, ...],
                              retrieval: str, reference_cache: dict, label_file: str, record: dict) -> int:
    """Transfer colours from the candidates in rank order until ``per_mask`` composites are kept.

    Returns the number of composites kept (each written, with its manifest row in ``record``).
    """
    from . import transfer

    options = unit.options
    mask = fg_mask.astype(np.float32)
    accepted = tried = next_candidate = 0
    while accepted < options.per_mask and tried < options.per_mask * ATTEMPTS and next_candidate < len(candidates):
        candidate = candidates[next_candidate]
        next_candidate += 1
        tried += 1
        reference = _reference(candidate, retrieval, reference_cache, record)
        if reference is None:
            continue
        reference_image, reference_labels = reference
        if retrieval == "labels":
            reference_mask = np.isin(reference_labels, fg_labels)
            if int(reference_mask.sum()) < MIN_REGION_PX:
                record["rejected"].append({"reason": "reference region too small", "item": candidate.name})
                continue
        else:
            reference_mask = np.ones(reference_image.shape[:2], bool)
        k = accepted + 1
        draw_key = f"{unit.key}/{fg}/{k}/{tried}"
        rng = unit_rng(options.seed, draw_key)
        method = options.methods[int(rng.integers(len(options.methods)))]
        params = transfer.sample_params(method, rng)
        try:
            out = transfer.transfer(method, image, mask, reference_image, reference_mask.astype(np.float32), rng=rng,
                                    **params)
        except ValueError as exc:
            record["rejected"].append({"reason": "transfer failed", "item": f"{unit.stem}/{fg} <- {candidate.name}",
                                       "detail": str(exc)})
            continue
        change = float(np.abs(out[fg_mask] - image[fg_mask]).mean())
        if change < options.min_change:
            record["rejected"].append({"reason": "foreground barely changed",
                                       "item": f"{unit.stem}/{fg} <- {candidate.name}"})
            continue
        accepted = k
        image_id = safe_id(unit.stem)
        comp = composite_name(PREFIX, image_id, safe_id(fg), k, "." + options.fmt)
        layout.write_composite(comp, out, quality=options.quality)
        record["rows"].append({
            "composite": comp, "mask": f"masks/{mask_name(PREFIX, image_id, safe_id(fg))}",
            "real": f"real_images/{real_name(PREFIX, image_id, '.' + options.fmt)}", "subset": SUBSET,
            "split": unit.split, "source_image_id": unit.stem, "source_annotation_id": fg,
            "reference_image_id": candidate.name,
            "reference_annotation_id": "+".join(map(str, fg_labels)) if retrieval == "labels" else "all",
            "method": method, "params": params_json(params), "fg_ratio": round(float(fg_mask.mean()), 6),
            "seed": unit_seed(options.seed, draw_key), "tool_version": tool_version(),
            "unit": unit.key, "synthetic": int(unit.synthetic), "retrieval": retrieval,
            "similarity": round(candidate.score, 6), "reference_rank": candidate.rank,
            "fg_labels": " ".join(map(str, fg_labels)), "foreground_source": "mask" if unit.masks else "label-rule",
            "change": round(change, 6), "labels": label_file,
        })
    return accepted


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


def _check_folders(images: Path, labels, reference_images: Path, reference_labels, masks) -> str:
    """Refuse missing folders; return the retrieval mode (``labels`` with both label folders, else ``descriptor``)."""
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
    return mode


def _masks_by_stem(masks, target_items: list, skipped: list) -> dict[str, list[tuple[str, str]]]:
    """Mask files ``<stem>_<fg>.png`` grouped by target stem; others go to ``skipped``."""
    by_stem: dict[str, list[tuple[str, str]]] = {}
    if masks is None:
        return by_stem
    target_stems = {Path(path).stem for path, _ in target_items}
    for path in hio.list_images(masks):
        stem, sep, fg = path.stem.rpartition("_")
        if not sep or stem not in target_stems:
            skipped.append((str(path), "mask matches no image" if sep else "mask name is not <stem>_<fg>.png"))
            continue
        by_stem.setdefault(stem, []).append((fg, str(path)))
    return by_stem


def _retrieve(references: Pool, targets: Pool, masks_by_stem: dict, has_masks: bool, mode: str,
              options: FlickrOptions, synthetic: bool, skipped: list) -> list[FlickrUnit]:
    """One unit per target: its ranked references overall and, with label maps, per label it holds."""
    reference_stems = np.array(references.stems)
    units = []
    ids: dict[str, str] = {}
    query_rows = targets.index.csc.tocsr()
    for target_index, (image, labels) in enumerate(zip(targets.images, targets.labels)):
        stem = Path(image).stem
        sid = safe_id(stem)
        if sid in ids:
            raise InputError(f"target stems {stem!r} and {ids[sid]!r} both become {sid!r} once '_' is replaced; "
                             "rename one")
        ids[sid] = stem
        if has_masks and stem not in masks_by_stem:
            skipped.append((image, "no mask for this image"))
            continue
        scores = references.index.scores(query_rows[target_index].toarray().ravel())
        allowed = reference_stems != stem
        overall = _candidates(references, *top_k(scores, options.top_k, allowed))
        by_label = []
        if mode == "labels":
            for label in np.flatnonzero(targets.presence[target_index]):
                idx, label_scores = top_k(scores, options.top_k, allowed & references.presence[:, label])
                by_label.append((int(label), _candidates(references, idx, label_scores)))
        units.append(FlickrUnit(key=f"flickr/{stem}", stem=stem, image=image, labels=labels,
                                masks=tuple(sorted(masks_by_stem.get(stem, []))), by_label=tuple(by_label),
                                overall=overall, mode=mode,
                                split=split_for(stem, options.test_fraction, sample_test_ids(synthetic)),
                                options=options, synthetic=synthetic))
    return units


def _retrieval_notes(mode: str, num_classes: int, references: Pool, query_ms: float) -> list[str]:
    """The summary's lines on the retrieval used and the reference pool."""
    if mode == "descriptor":
        first = ("retrieval: FALLBACK colour/texture descriptor (no label maps given); reference region = "
                 "whole reference image")
    else:
        first = f"retrieval: spatial-pyramid label histograms (levels 0-2, {num_classes} classes)"
    return [first, f"reference pool: {len(references.images)} images indexed in {references.seconds:.2f} s; "
                   f"{len(references.bad)} excluded; retrieval {query_ms:.2f} ms per target"]


def plan_flickr(images: str | os.PathLike, labels: str | os.PathLike | None, reference_images: str | os.PathLike,
                reference_labels: str | os.PathLike | None, masks: str | os.PathLike | None, options: FlickrOptions,
                *, synthetic: bool = False, workers: int | None = None, scheduler: Any = None,
                progress: bool = False) -> tuple[list[FlickrUnit], list[tuple[str, str]], list[str], dict]:
    """Index the reference pool, describe the targets and rank each target's references.

    Parameters
    ----------
    images, labels : str or os.PathLike
        Target photos and their label maps ``<stem>.png`` (``labels`` may be None).
    reference_images, reference_labels : str or os.PathLike
        The reference pool and its label maps (``reference_labels`` may be None).
    masks : str or os.PathLike or None
        Foreground masks ``<stem>_<fg>.png``; None: the label rule picks segments (needs label maps).
    options : FlickrOptions
        Retrieval depth, split, seed and the rest.
    synthetic : bool
        The inputs are the embedded sample (fixed test split).
    workers, scheduler, progress
        How the pool is described (as in :func:`harmony.parallel.map_units`).

    Returns
    -------
    units : list of FlickrUnit
        One per usable target.
    skipped : list of (str, str)
        Inputs left out, with the reason.
    notes : list of str
        Summary lines on the retrieval.
    stats : dict
        ``mode`` (``labels`` or ``descriptor``), pool sizes, indexing and query times.

    Raises
    ------
    InputError
        Missing folders, no target or reference image, or target stems that collide once sanitised.
    """
    images, reference_images = Path(images), Path(reference_images)
    mode = _check_folders(images, labels, reference_images, reference_labels, masks)
    target_items, skipped = _pairs_in(images, Path(labels) if mode == "labels" else None)
    reference_items, reference_skipped = _pairs_in(reference_images,
                                                   Path(reference_labels) if mode == "labels" else None)
    skipped += [(path, f"reference {why}") for path, why in reference_skipped]
    if not target_items:
        raise InputError(f"{images}: no target image with a label map" if mode == "labels" else
                         f"{images}: no target images")
    if not reference_items:
        raise InputError(f"{reference_images}: no reference image" + (" with a label map" if mode == "labels" else ""))
    masks_by_stem = _masks_by_stem(masks, target_items, skipped)
    references = describe_pool(reference_items, options.num_classes, mode, workers=workers, scheduler=scheduler,
                               progress=progress, desc="index references")
    skipped += [(path, f"reference excluded: {why}") for path, why in references.bad]
    if len(references.images) == 0:
        raise InputError(f"{reference_images}: no usable reference (all {len(reference_items)} were bad; see above)")
    targets = describe_pool(target_items, options.num_classes, mode, workers=workers, scheduler=scheduler,
                            progress=progress, desc="describe targets")
    skipped += list(targets.bad)
    started = time.perf_counter()
    units = _retrieve(references, targets, masks_by_stem, masks is not None, mode, options, synthetic, skipped)
    query_seconds = time.perf_counter() - started
    stats = {"mode": mode, "references": len(references.images), "targets": len(targets.images),
             "index_seconds": references.seconds, "query_ms": 1000 * query_seconds / max(1, len(units))}
    return units, skipped, _retrieval_notes(mode, options.num_classes, references, stats["query_ms"]), stats


class FlickrGenerator(Generator):
    """``HFlickr`` by semantic retrieval and colour transfer (the steps of :func:`generate_flickr`).

    Parameters
    ----------
    images, labels, reference_images, reference_labels, masks : str or os.PathLike or None
        The user's folders; all None: the embedded Flickr-like sample.
    options : FlickrOptions or None
        Methods, retrieval depth, label rule, thresholds, format, split and seed.
    workers, scheduler, progress
        Also used to describe the reference pool while planning.
    """

    subset = SUBSET
    command = "datagen flickr"
    extra_dirs = (LABEL_DIR,)   # so that --overwrite clears it and a resumed run cleans its temporaries
    work = staticmethod(work)

    def __init__(self, folders: dict[str, Any], options: FlickrOptions | None, *, workers: int | None,
                 scheduler: Any, progress: bool):
        self.folders, self.options = folders, options
        self.workers, self.scheduler, self.progress = workers, scheduler, progress

    def resolve(self) -> Inputs:
        """The five folders: the user's (images and reference images required) or the embedded sample.

        Returns
        -------
        Inputs
            ``data`` holds the five folders (None where not given) and ``synthetic``.

        Raises
        ------
        InputError
            User data without ``--images`` or ``--reference-images``.
        """
        folders = self.folders
        if all(value is None for value in folders.values()):
            from .samples_extra import SAMPLE_VERSION, flickr_sample

            sample = flickr_sample()
            data = {"images": sample["images"], "labels": sample["labels"], "masks": None,
                    "reference_images": sample["reference_images"], "reference_labels": sample["reference_labels"]}
            self.options = _with_defaults(self.options or FlickrOptions(num_classes=15, test_fraction=0.25),
                                          num_classes=15, test_fraction=0.25)
            inputs = Inputs({**data, "synthetic": True}, {"data": f"embedded flickr sample {SAMPLE_VERSION}"},
                            "data: embedded Flickr-like sample (pseudo label maps from SLIC + colour rule; synthetic)")
        else:
            if folders["images"] is None or folders["reference_images"] is None:
                raise InputError("--images and --reference-images are required (or give no data argument for "
                                 "the sample data)")
            config = {key: (str(Path(folders[key]).resolve()) if folders[key] is not None else None) for key in
                      ("images", "labels", "reference_images", "reference_labels", "masks")}
            inputs = Inputs({**folders, "synthetic": False}, config)
        self.options = _with_defaults(self.options or FlickrOptions(), num_classes=ADE20K_CLASSES, test_fraction=0.1)
        self.options.check()
        return inputs

    def plan(self, inputs: Inputs) -> Plan:
        """Rank references for every target (:func:`plan_flickr`).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.

        Returns
        -------
        Plan
            Units, skipped inputs, retrieval notes; ``extra["stats"]`` holds the retrieval mode and timings.
        """
        data = inputs.data
        units, skipped, notes, stats = plan_flickr(
            data["images"], data["labels"], data["reference_images"], data["reference_labels"], data["masks"],
            self.options, synthetic=data["synthetic"], workers=self.workers, scheduler=self.scheduler,
            progress=self.progress)
        return Plan(units, skipped, notes, {"stats": stats})

    def refusal(self, inputs: Inputs, plan: Plan) -> InputError:
        """No usable target image: one line naming the images folder and the first skipped input.

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            The empty plan.

        Returns
        -------
        InputError
            The error :func:`~harmony.datagen.runner.generate` raises.
        """
        return no_units_error(Path(inputs.data["images"]), "target image", plan.skipped)

    def config(self, inputs: Inputs, plan: Plan) -> dict[str, Any]:
        """The folders' provenance and the options (recorded in ``run.json``).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        dict
            JSON-serialisable configuration.
        """
        return {**inputs.config, **self.options.config()}

    def summarise(self, summary: RunSummary, writer: DatasetWriter, inputs: Inputs, plan: Plan) -> RunSummary:
        """The run's summary with the retrieval counts (fallbacks, composites per mode, label maps written).

        Parameters
        ----------
        summary : RunSummary
            What the run returned.
        writer : DatasetWriter
            The finished subset (its unit records are read).
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        RunSummary
            With ``stats`` (the planner's) attached.
        """
        mode = plan.extra["stats"]["mode"]
        label_dir = writer.dir / LABEL_DIR
        if mode != "labels" and label_dir.is_dir() and not any(label_dir.iterdir()):
            label_dir.rmdir()   # descriptor mode writes no label maps: leave no empty folder behind
        records = writer.layout.unit_records()
        plan.notes.extend(_retrieval_counts(records, mode))
        summary = super().summarise(summary, writer, inputs, plan)
        summary.stats = plan.extra["stats"]  # type: ignore[attr-defined]
        return summary


def _with_defaults(options: FlickrOptions, **defaults: Any) -> FlickrOptions:
    """``options`` with its None fields (not given on the command line) set to the data's defaults."""
    return dataclasses.replace(options, **{name: value for name, value in defaults.items()
                                           if getattr(options, name) is None})


def _retrieval_counts(records: list[dict], mode: str) -> list[str]:
    """Summary lines: fallbacks, composites per retrieval mode, label maps written."""
    fallbacks = sum(int(record.get("fallback", 0)) for record in records)
    retrievals: dict[str, int] = {}
    for record in records:
        for row in record.get("rows", []):
            retrievals[row.get("retrieval", "?")] = retrievals.get(row.get("retrieval", "?"), 0) + 1
    lines = [f"foregrounds with no reference sharing their labels (fallback to the most similar image): {fallbacks}",
             "composites by retrieval: " + (", ".join(f"{k} {v}" for k, v in sorted(retrievals.items())) or "none")]
    if mode == "labels":
        maps = sum(1 for record in records if any(row.get("labels") for row in record.get("rows", [])))
        lines.append(f"label maps: {maps} written to {SUBSET}/{LABEL_DIR}/<real stem>.png (DIH's scene-parsing "
                     "decoder trains on them)")
    else:
        lines.append("label maps: none written (no label maps given)")
    return lines


def generate_flickr(out: str | os.PathLike, images: str | os.PathLike | None = None,
                    labels: str | os.PathLike | None = None, reference_images: str | os.PathLike | None = None,
                    reference_labels: str | os.PathLike | None = None, masks: str | os.PathLike | None = None, *,
                    options: FlickrOptions | None = None, workers: int | None = None, scheduler: Any = None,
                    overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Build ``<out>/HFlickr``: composites by label-histogram retrieval and colour transfer, as DIH built its set.

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root.
    images, labels : str or os.PathLike or None
        Target photos and their label maps ``<stem>.png`` (class indices, 0 = unlabelled).
    reference_images, reference_labels : str or os.PathLike or None
        The reference pool and its label maps.
    masks : str or os.PathLike or None
        Foreground masks ``<stem>_<fg>.png`` (default: segments chosen by the label rule). With no data
        argument at all, the embedded Flickr-like sample (pseudo label maps; synthetic) is used.
    options : FlickrOptions or None
        Methods, composites per mask, retrieval depth, label rule, thresholds, format, split, seed.
    workers, scheduler, overwrite, progress
        As in :func:`harmony.datagen.runner.generate`.

    Returns
    -------
    RunSummary
        Counts, rejections, skipped inputs and retrieval notes; ``stats`` holds the retrieval mode.

    Raises
    ------
    InputError
        Missing folders, no label maps and no masks, or no usable target.

    References
    ----------
    .. [1] Tsai et al., "Deep Image Harmonization", CVPR 2017, section 3.1 (retrieval by semantic
       label histograms, colour transfer from the matching region).
    .. [2] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020
       (iHarmony4's HFlickr subset).

    Examples
    --------
    >>> summary = generate_flickr("data/")         # doctest: +SKIP
    >>> summary.stats["mode"]                      # doctest: +SKIP
    'labels'
    """
    folders = {"images": images, "labels": labels, "reference_images": reference_images,
               "reference_labels": reference_labels, "masks": masks}
    generator = FlickrGenerator(folders, options, workers=workers, scheduler=scheduler, progress=progress)
    return generate(generator, out, workers=workers, scheduler=scheduler, overwrite=overwrite, progress=progress)


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
