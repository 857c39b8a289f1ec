"""Where foreground j goes on background i (SPRIH: Wang et al., CVPR 2023, section 3.2, Eq. 5).

SPRIH translates and rotates F_j "so that it's maximally contained within F_i's bounding box";
Scaling is added here (to fit a large F_j). This module does a bounded grid search over scale, rotation and translation
and never lets any foreground pixel leave the image.

Objective (lexicographic, all exact integer pixel counts):

1. maximise **containment** ``c = |M_j' inside box_i| / |M_j'|`` (``M_j'`` = the placed binary mask);
2. then prefer the **larger scale** (so a foreground that fits keeps its size, and one that does not is
   scaled down only as far as needed);
3. then the **smaller |angle|** (then the negative angle first);
4. then the translation whose mask-bbox centre is **closest to the box centre**.

The grid (:class:`PlacementGrid`, defaults):

- scales ``max_scale * 2**(-k/4)`` for k = 0, 1, ... while >= ``min_scale`` (default 1.0 down to 0.25:
  1, 0.841, 0.707, 0.595, 0.5, 0.420, 0.354, 0.297, 0.25); no enlargement unless ``max_scale > 1``;
- angles -15 ... +15 degrees in steps of 5 (7 angles), rotation about the centre of F_j's bounding box;
- translations: integer offsets of the placed mask's bounding box. Per axis, when the mask's extent is
  smaller than the box's, every offset that keeps it inside the box is equivalent (containment does not
  depend on it) and the centred one is used; otherwise only offsets in
  ``[max(0, box_end - extent), min(image - extent, box_start)]`` can be optimal (moving towards that
  interval never loses a contained pixel), and up to ``max_offsets`` (17) evenly spaced integer offsets
  of it, both ends included, are tried (all of them when the interval is that short).
  Offsets also keep the whole mask inside the image; a (scale, angle) whose mask is larger than the image
  is infeasible.

Containment is 1 exactly when the placed mask's tight bounding box fits in the target box, so a first
pass walks the grid in preference order computing only each warp's bounding box and stops at the first
fit; only when nothing fits does a second pass score all offsets of every grid point at once from an
integral image. Each (scale, angle) warps only the cropped mask (``cv2.warpAffine``, bilinear, then
``> 0.5``). A mask whose bounding box is longer than ``search_side`` (128 px) is searched on a copy
reduced to that size; the chosen scale and angle are then applied at full resolution and the offset
refined there within ``+-(ceil(1/f) + 1)`` px, so the containment reported is that of the written mask.
A pair costs a few milliseconds at 640x480 (benchmarks/bench_real.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..imageops import check_image, check_mask


@dataclass(frozen=True)
class PlacementGrid:
    """The grid searched by :func:`place`: scales, rotations and translations (see the module docstring).
    """
    min_scale: float = 0.25
    max_scale: float = 1.0
    scale_step: float = 2.0 ** 0.25        # ratio between consecutive scales
    max_angle: float = 15.0                # degrees
    angle_step: float = 5.0
    max_offsets: int = 17                  # per axis, see the module docstring
    search_side: int = 128                 # search on a copy reduced to this longest side (0: never)

    def scales(self) -> list[float]:
        """The scales tried, largest first: ``max_scale * scale_step**(-k)`` down to ``min_scale``.

        Returns
        -------
        list of float
            For the defaults: 1, 0.841, 0.707, 0.595, 0.5, 0.420, 0.354, 0.297, 0.25.

        Raises
        ------
        ValueError
            Not ``0 < min_scale <= max_scale``.
        """
        if not (0 < self.min_scale <= self.max_scale):
            raise ValueError(f"placement grid: need 0 < min_scale <= max_scale, got {self.min_scale}, {self.max_scale}")
        out, k = [], 0
        while True:
            s = self.max_scale * self.scale_step ** (-k)
            if s < self.min_scale - 1e-9:
                break
            out.append(float(s))
            k += 1
        return out

    def angles(self) -> list[float]:
        """Ordered by preference: 0, -5, +5, -10, +10, ...

        Returns
        -------
        list of float
            Degrees; for the defaults 0, -5, 5, -10, 10, -15, 15.
        """
        n = int(math.floor(self.max_angle / self.angle_step + 1e-9)) if self.angle_step > 0 else 0
        out = [0.0]
        for k in range(1, n + 1):
            out += [-k * self.angle_step, k * self.angle_step]
        return out


@dataclass
class Placement:
    """Result of :func:`place`; all coordinates in background pixels."""

    scale: float
    angle: float                 # degrees, counter-clockwise as in cv2.getRotationMatrix2D
    offset: tuple[int, int]      # (y, x) of the placed mask's bounding box
    containment: float
    matrix: np.ndarray           # 2x3 affine map from foreground-source pixels to background pixels
    mask_crop: np.ndarray        # bool (h, w): the placed mask inside its bounding box
    size: tuple[int, int]        # (h, w) of mask_crop
    candidates: int = 0          # grid points scored

    def transform(self) -> dict:
        """JSON-friendly description for the manifest.

        Returns
        -------
        dict
            ``scale``, ``angle``, ``offset_yx``, ``containment`` and the 2x3 ``matrix`` (rounded to 6 decimals).
        """
        return {"scale": round(self.scale, 6), "angle": round(self.angle, 6),
                "offset_yx": [int(self.offset[0]), int(self.offset[1])],
                "containment": round(self.containment, 6),
                "matrix": [[round(float(v), 6) for v in row] for row in self.matrix]}


def _warp_crop(mask_crop: np.ndarray, scale: float, angle: float, interp: int = cv2.INTER_LINEAR
               ) -> tuple[np.ndarray, np.ndarray]:
    """Warp a cropped array about its centre; return (warped canvas, 2x3 matrix crop -> canvas)."""
    h, w = mask_crop.shape[:2]
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    rad = math.radians(angle)
    cw = scale * (w * abs(math.cos(rad)) + h * abs(math.sin(rad)))
    ch = scale * (w * abs(math.sin(rad)) + h * abs(math.cos(rad)))
    out_w, out_h = max(1, int(math.ceil(cw)) + 2), max(1, int(math.ceil(ch)) + 2)
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[0, 2] += (out_w - 1) / 2.0 - cx
    m[1, 2] += (out_h - 1) / 2.0 - cy
    warped = cv2.warpAffine(mask_crop, m, (out_w, out_h), flags=interp, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0)
    return warped, m


def _axis_offsets(extent: int, lo: int, hi: int, size: int, max_offsets: int) -> np.ndarray:
    """Candidate offsets along one axis for a mask extent, box [lo, hi) and image size (docstring)."""
    if extent > size:
        return np.empty(0, np.int64)
    if extent <= hi - lo:
        return np.array([lo + (hi - lo - extent) // 2], np.int64)
    a, b = max(0, hi - extent), min(size - extent, lo)
    span = b - a
    if span + 1 <= max_offsets:
        return np.arange(a, b + 1, dtype=np.int64)
    n = max_offsets - 1  # evenly spaced integers, both ends included, distinct because span >= n
    return a + (np.arange(n + 1, dtype=np.int64) * span + n // 2) // n


def _warp_binary(crop: np.ndarray, scale: float, angle: float):
    """(binary 0/1 warp of ``crop`` (uint8 0/255), 2x3 matrix, bounding rect (c0, r0, ew, eh))."""
    warped, m = _warp_crop(crop, scale, angle)
    # Bilinear weight of the foreground > 0.5 -> 1.
    _, binm = cv2.threshold(warped, 127, 1, cv2.THRESH_BINARY)
    return binm, m, cv2.boundingRect(binm)


def _score(crop: np.ndarray, scale: float, angle: float, box: tuple[int, int, int, int], height: int, width: int,
           max_offsets: int, prefer: tuple[float, float] | None = None, offsets=None, warp=None):
    """Warp ``crop`` (uint8 0/255) at (scale, angle) and score candidate offsets.

    Returns None when infeasible, else (inside, total, dist, (oy, ox), tight, m, (r0, c0), n_scored), where
    ``dist`` is the squared distance of the chosen offset's bbox centre to ``prefer`` (default: the box
    centre) and ``offsets`` optionally replaces the per-axis candidates ``(dys, dxs)``. ``warp`` is
    :func:`_warp_binary`'s result when the caller already has it (it is not recomputed).
    """
    y0, x0, y1, x1 = box
    binm, m, (c0, r0, ew, eh) = warp if warp is not None else _warp_binary(crop, scale, angle)
    if ew == 0 or eh == 0 or eh > height or ew > width:
        return None
    tight = binm[r0:r0 + eh, c0:c0 + ew]
    if offsets is None:
        dys = _axis_offsets(eh, y0, y1, height, max_offsets)
        dxs = _axis_offsets(ew, x0, x1, width, max_offsets)
    else:
        dys = offsets[0][(offsets[0] >= 0) & (offsets[0] <= height - eh)]
        dxs = offsets[1][(offsets[1] >= 0) & (offsets[1] <= width - ew)]
    if dys.size == 0 or dxs.size == 0:
        return None
    # Integral image: pixels of `tight` whose shifted position lies in the box, for all offsets at once.
    ii = cv2.integral(tight)
    total = int(ii[-1, -1])
    ra = np.minimum(np.maximum(y0 - dys, 0), eh)
    rb = np.minimum(np.maximum(y1 - dys, 0), eh)
    ca = np.minimum(np.maximum(x0 - dxs, 0), ew)
    cb = np.minimum(np.maximum(x1 - dxs, 0), ew)
    inside = ii[rb][:, cb] - ii[ra][:, cb] - ii[rb][:, ca] + ii[ra][:, ca]
    k = int(inside.max())
    cand = np.argwhere(inside == k)
    py, px = prefer if prefer is not None else ((y0 + y1) / 2.0, (x0 + x1) / 2.0)
    dist = (dys[cand[:, 0]] + eh / 2.0 - py) ** 2 + (dxs[cand[:, 1]] + ew / 2.0 - px) ** 2
    pick = cand[int(np.argmin(dist))]
    return k, total, float(dist.min()), (int(dys[pick[0]]), int(dxs[pick[1]])), tight, m, (r0, c0), inside.size


def _search(crop: np.ndarray, box: tuple[int, int, int, int], height: int, width: int, grid: PlacementGrid):
    """The lexicographic grid search of the module docstring on one resolution.

    Containment is 1 exactly when the placed mask's tight bounding box fits inside the target box (the
    box is inside the image, and a tight box has a mask pixel on each of its sides). So a first pass
    walks the grid in preference order doing only the warp and its bounding box; the first grid point
    that fits is the optimum (with the centred offset, which is what the tie-break picks). Only when no
    grid point fits does the second pass score every point's offsets.
    """
    y0, x0, y1, x1 = box
    bh, bw = y1 - y0, x1 - x0
    scales, angles = grid.scales(), grid.angles()
    warps = []
    for si, scale in enumerate(scales):
        for ai, angle in enumerate(angles):
            warp = _warp_binary(crop, scale, angle)  # bilinear weight > 0.5
            binm, m, (c0, r0, ew, eh) = warp
            if ew == 0 or eh == 0:
                continue
            if eh <= bh and ew <= bw:
                tight = binm[r0:r0 + eh, c0:c0 + ew]
                total = int(cv2.countNonZero(tight))
                off = (y0 + (bh - eh) // 2, x0 + (bw - ew) // 2)
                return (scale, angle, off, tight, m, (r0, c0), total, total), 1
            warps.append((si, ai, scale, angle, warp))  # kept: the second pass scores it without re-warping
    best_key = best = None
    scored = 0
    for si, ai, scale, angle, warp in warps:
        res = _score(crop, scale, angle, box, height, width, grid.max_offsets, warp=warp)
        if res is None:
            continue
        k, total, dist, off, tight, m, rc, n = res
        scored += n
        key = (k, total, -si, -ai, -dist)
        if best_key is None or _better(key, best_key):
            best_key, best = key, (scale, angle, off, tight, m, rc, k, total)
    return best, scored


def _placement(found, sx: int, sy: int, scored: int) -> Placement:
    scale, angle, (oy, ox), tight, m, (r0, c0), k, total = found
    full = np.vstack([m, [0, 0, 1]]) @ np.array([[1, 0, -sx], [0, 1, -sy], [0, 0, 1]], float)
    full[0, 2] += ox - c0
    full[1, 2] += oy - r0
    return Placement(float(scale), float(angle), (oy, ox), k / total, full[:2].copy(), tight.astype(bool),
                     tight.shape, scored)


def place(mask_j: np.ndarray, box_i: tuple[int, int, int, int], image_shape: tuple[int, int], *,
          grid: PlacementGrid | None = None) -> Placement | None:
    """Search the grid for the placement of ``mask_j`` best contained in ``box_i``.

    Parameters
    ----------
    mask_j : numpy.ndarray
        float32 (Hj, Wj) mask of the foreground to move, in [0, 1] (> 0.5 is foreground).
    box_i : tuple of int
        ``(y0, x0, y1, x1)`` half-open target box (``imageops.bbox`` of foreground i).
    image_shape : tuple of int
        ``(height, width)`` of the background.
    grid : PlacementGrid or None
        The search grid (default :class:`PlacementGrid`).

    Returns
    -------
    Placement or None
        The best placement, or None when the foreground is empty or fits the image at no scale of the
        grid. The containment reported is that of the returned ``mask_crop`` at its offset.

    Raises
    ------
    ValueError
        The box does not lie inside the image.

    References
    ----------
    .. [1] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization", CVPR 2023,
       section 3.2 (foreground j "maximally contained within F_i's bounding box").

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((40, 40), np.float32); mask[5:15, 5:15] = 1
    >>> found = place(mask, (20, 20, 40, 40), (40, 40))
    >>> found.containment, found.scale, found.offset
    (1.0, 1.0, (25, 25))
    """
    check_mask(mask_j, name="mask_j")
    _, binary = cv2.threshold(mask_j, 0.5, 255, cv2.THRESH_BINARY)  # > 0.5 -> 255
    return place_binary(binary.astype(np.uint8), box_i, image_shape, grid=grid)


def place_binary(binary: np.ndarray, box_i: tuple[int, int, int, int], image_shape: tuple[int, int], *,
                 grid: PlacementGrid | None = None, origin: tuple[int, int] = (0, 0)) -> Placement | None:
    """:func:`place` for a uint8 0/255 mask that may be a window of the foreground's source: ``origin``
    (y, x) is the window's top-left corner in the source, so the returned matrix still maps source
    pixels. Any window containing every foreground pixel gives exactly :func:`place`'s result (the
    generator passes the cached window around the foreground's bounding box).

    Parameters
    ----------
    binary : numpy.ndarray
        uint8 (h, w) of 0 and 255.
    box_i : tuple of int
        ``(y0, x0, y1, x1)`` half-open target box.
    image_shape : tuple of int
        ``(height, width)`` of the background.
    grid : PlacementGrid or None
        The search grid.
    origin : tuple of int
        ``(y, x)`` of the window in the foreground's source.

    Returns
    -------
    Placement or None
        As :func:`place`.

    Raises
    ------
    ValueError
        The box does not lie inside the image.
    """
    grid = grid or PlacementGrid()
    height, width = int(image_shape[0]), int(image_shape[1])
    y0, x0, y1, x1 = (int(v) for v in box_i)
    if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
        raise ValueError(f"place: box {box_i} must lie inside the {height}x{width} image")
    sx, sy, bw, bh = cv2.boundingRect(binary)
    if bw == 0 or bh == 0:
        return None
    crop = binary[sy:sy + bh, sx:sx + bw]
    sx, sy = sx + int(origin[1]), sy + int(origin[0])
    box = (y0, x0, y1, x1)
    side = max(crop.shape)
    if not grid.search_side or side <= grid.search_side:
        found, scored = _search(crop, box, height, width, grid)
        return None if found is None else _placement(found, sx, sy, scored)

    # Large foreground: search on a reduced copy, then apply the chosen (scale, angle) at full
    # resolution and refine the offset there, within +-ceil(1/f) px of the scaled-up position.
    f = grid.search_side / side
    small = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                       interpolation=cv2.INTER_AREA)
    _, small = cv2.threshold(small, 127, 255, cv2.THRESH_BINARY)  # > 127 -> 255
    height_small, width_small = max(1, int(height * f)), max(1, int(width * f))
    box_s = (min(height_small - 1, int(y0 * f)), min(width_small - 1, int(x0 * f)), 0, 0)
    box_s = (box_s[0], box_s[1], max(box_s[0] + 1, min(height_small, int(math.ceil(y1 * f)))),
             max(box_s[1] + 1, min(width_small, int(math.ceil(x1 * f)))))
    found, scored = _search(small, box_s, height_small, width_small, grid)
    if found is None:
        # Nothing fits the reduced image; the full-resolution search decides (rounding can matter).
        found, n = _search(crop, box, height, width, grid)
        return None if found is None else _placement(found, sx, sy, scored + n)
    scale, angle, (oys, oxs), tight_s = found[0], found[1], found[2], found[3]
    cy = (oys + tight_s.shape[0] / 2.0) / f
    cx = (oxs + tight_s.shape[1] / 2.0) / f
    r = int(math.ceil(1.0 / f)) + 1
    warp = _warp_binary(crop, scale, angle)
    _c0, _r0, ew, eh = warp[2]
    by, bx = int(round(cy - eh / 2.0)), int(round(cx - ew / 2.0))
    dys = np.arange(by - r, by + r + 1, dtype=np.int64)
    dxs = np.arange(bx - r, bx + r + 1, dtype=np.int64)
    # Keep the neighbourhood inside the image (shift it rather than lose it at the borders).
    dys = np.unique(np.clip(dys, 0, max(0, height - eh)))
    dxs = np.unique(np.clip(dxs, 0, max(0, width - ew)))
    res = _score(crop, scale, angle, box, height, width, grid.max_offsets, prefer=(cy, cx), offsets=(dys, dxs), warp=warp)
    if res is None:  # the full-resolution mask is larger than the image after all: exact search instead
        found, n = _search(crop, box, height, width, grid)
        return None if found is None else _placement(found, sx, sy, scored + n)
    k, total, _dist, off, tight, m, rc, n = res
    return _placement((scale, angle, off, tight, m, rc, k, total), sx, sy, scored + n)


def _better(a: tuple, b: tuple) -> bool:
    """Lexicographic objective of the module docstring on keys (inside, total, -scale_i, -angle_i, -dist)."""
    ka, ta = a[0], a[1]
    kb, tb = b[0], b[1]
    lhs, rhs = ka * tb, kb * ta
    if lhs != rhs:
        return lhs > rhs
    return a[2:] > b[2:]


def warp_patch(image_j: np.ndarray, placement: Placement) -> np.ndarray:
    """The source image warped into the placed mask's bounding box ((h, w, 3), same dtype as the input).

    Parameters
    ----------
    image_j : numpy.ndarray
        The foreground's source, (H, W, 3) float32 in [0, 1] or uint8.
    placement : Placement
        Where it goes.

    Returns
    -------
    numpy.ndarray
        (h, w, 3) with ``(h, w) = placement.size`` (float results clipped to [0, 1]).
    """
    eh, ew = placement.size
    oy, ox = placement.offset
    m = placement.matrix.copy()
    m[0, 2] -= ox
    m[1, 2] -= oy
    patch = cv2.warpAffine(image_j, m, (ew, eh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(patch, 0.0, 1.0) if patch.dtype != np.uint8 else patch


def paste(background: np.ndarray, image_j: np.ndarray, placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (5) on arrays of one dtype: float32 in [0, 1] (see :func:`composite`) or uint8 (the generator's
    fast path, which skips two float conversions per pair). Returns (C_ij, M_j' as bool).

    Parameters
    ----------
    background : numpy.ndarray
        ``inpaint(B_i)``, (H, W, 3).
    image_j : numpy.ndarray
        The foreground's source, (Hj, Wj, 3), same dtype.
    placement : Placement
        Where the foreground goes.

    Returns
    -------
    composite : numpy.ndarray
        ``C_ij``, (H, W, 3), the background's dtype.
    mask : numpy.ndarray
        ``M_j'``, bool (H, W).

    Raises
    ------
    ValueError
        The dtypes or ranks differ.
    """
    if background.dtype != image_j.dtype or background.ndim != 3 or image_j.ndim != 3:
        raise ValueError(f"paste: expected two (H, W, 3) arrays of one dtype, got {background.dtype} "
                         f"{background.shape} and {image_j.dtype} {image_j.shape}")
    out = background.copy()
    return out, paste_into(out, image_j, placement)


def paste_into(out: np.ndarray, image_j: np.ndarray, placement: Placement) -> np.ndarray:
    """:func:`paste` writing into ``out`` (the background, modified in place); returns M_j' as bool.

    Only the placed mask's bounding box is warped and written. ``image_j`` may be zero (or anything)
    away from the foreground: only source pixels within 2 px of a foreground pixel are ever sampled for
    M_j' pixels (bilinear), and only M_j' pixels are written.

    Parameters
    ----------
    out : numpy.ndarray
        The background, (H, W, 3), written in place.
    image_j : numpy.ndarray
        The foreground's source, same dtype.
    placement : Placement
        Where the foreground goes.

    Returns
    -------
    numpy.ndarray
        ``M_j'``, bool (H, W).
    """
    paste_foreground(out, image_j, placement)
    oy, ox = placement.offset
    eh, ew = placement.size
    mask = np.zeros(out.shape[:2], bool)
    mask[oy:oy + eh, ox:ox + ew] = placement.mask_crop
    return mask


def paste_foreground(out: np.ndarray, image_j: np.ndarray, placement: Placement) -> None:
    """The pixel part of :func:`paste_into` (no mask array is built).

    Parameters
    ----------
    out : numpy.ndarray
        The background, (H, W, 3), written in place.
    image_j : numpy.ndarray
        The foreground's source, same dtype.
    placement : Placement
        Where the foreground goes.

    Raises
    ------
    ValueError
        The placement leaves the image.
    """
    height, width = out.shape[:2]
    oy, ox = placement.offset
    eh, ew = placement.size
    if oy < 0 or ox < 0 or oy + eh > height or ox + ew > width:
        raise ValueError(f"placement offset {placement.offset} size {placement.size} leaves the {height}x{width} image")
    patch = warp_patch(image_j, placement)
    roi = out[oy:oy + eh, ox:ox + ew]
    sel = placement.mask_crop
    if sel.dtype == bool and patch.dtype == roi.dtype and roi.flags.writeable:
        # cv2.copyTo writes into the view (about 40x faster than np.copyto(where=...)); it would only
        # allocate a new array if the view did not fit, and then we fall back.
        done = cv2.copyTo(patch, np.ascontiguousarray(sel).view(np.uint8), roi)
        if done is not None and np.shares_memory(done, roi):
            return
    np.copyto(roi, patch, where=sel[..., None])


def composite(background: np.ndarray, image_j: np.ndarray, placement: Placement
              ) -> tuple[np.ndarray, np.ndarray]:
    """SPRIH Eq. (5): ``C_ij = F_j' * M_j' + inpaint(B_i) * (1 - M_j')``; returns (C_ij, M_j' float32).

    The mask is binary, so the background is bit-exact outside ``M_j'`` and the warped foreground is
    exact inside it.

    Parameters
    ----------
    background : numpy.ndarray
        ``inpaint(B_i)``, float32 (H, W, 3) in [0, 1].
    image_j : numpy.ndarray
        The foreground's source, float32 (Hj, Wj, 3) in [0, 1].
    placement : Placement
        From :func:`place`.

    Returns
    -------
    composite : numpy.ndarray
        ``C_ij``, float32 (H, W, 3).
    mask : numpy.ndarray
        ``M_j'``, float32 (H, W) of 0 and 1.
    """
    check_image(background, "background")
    check_image(image_j, "image_j")
    out, mask = paste(background, image_j, placement)
    return out, mask.astype(np.float32)
