"""SPRIH's parametric image transformation in numpy (Wang et al., "Semi-supervised Parametric Real-world
Image Harmonization", CVPR 2023, section 3.1, Eq. 1).

Pure (no torch, no files, no printing). The network (:mod:`harmony.models.sprih`) predicts, from a
512x512 copy of the input, two sets of parameters; this module applies them to the image at **any**
resolution:

- ``theta1``: three piecewise-linear RGB curves with 32 control points each (``x``, ``y`` per channel:
  ``(3, 32)`` arrays; the network uses the uniform knots ``x_k = k / 31``, an edited file may move them);
  a channel value ``v`` maps to the linear interpolation between the two control points around it;
  values outside ``[x_0, x_31]`` take the end point's value (``np.interp`` semantics);
- ``theta2``: a grey multiplicative shading map (any resolution; the network's is 512x512), upsampled
  bilinearly to the image.

Output (Eq. 1 applied inside the mask only): ``O = M * curves(C) * upsample(S) + (1 - M) * C``, clipped
to [0, 1]; the curves' outputs are clipped to [0, 1] before the shading (a curves tool maps into the
displayable range), and so is the shaded foreground before a soft mask blends it (the torch rendering of
:mod:`harmony.models.sprih` does the same).

Speed (:func:`apply_params`, one pass over the image in row blocks that stay in cache): curves with
uniform knots ``k / (n - 1)`` (the network's, also after the 6-decimal rounding of ``curves.json``) are
evaluated exactly: an 8-bit segment index ``round((n - 1) v - 0.5)`` (``cv2.convertScaleAbs``) plus a
per-channel offset selects, through two 256-entry ``cv2.LUT`` tables, the intercept and slope of the
segment holding ``v``, then one multiply-add (identity curves return the input bit for bit). Moved knots
use a per-channel table of segment (intercept, slope) pairs indexed by the quantised input
(``LUT_BINS`` bins, a multiple of 31): a bin that straddles a knot uses one of the two adjacent lines, an
error below ``|slope change| / LUT_BINS``. Work is limited to each row block's mask columns; the shading
map is upsampled per block only (vertical interpolation of the low-resolution rows, then ``cv2.resize``
along the rows over the needed columns), and the input checks ride on the copy of each block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..imageops import check_image, check_mask

N_POINTS = 32
#: bins of the segment table: 31 * 512, so the uniform knots k/31 are bin edges
LUT_BINS = 31 * 512
#: the shading PNG stores S / SHADING_PNG_SCALE (mid grey = no change)
SHADING_PNG_SCALE = 2.0
#: rows per block: 16 rows of a 4096-px float32 image (768 KB) stay in a 2 MB L2 cache
_ROWS_PER_BLOCK = 16
#: knots within this distance of k / (n - 1) are treated as uniform (JSON files round them to 6 decimals)
UNIFORM_TOL = 1e-6
#: per-channel stride of the 8-bit segment index (3 * 85 = 255): uniform curves of up to 85 points
LUT_STRIDE = 85
_ONE_BITS = int(np.float32(1.0).view(np.uint32))


def uniform_knots(n: int = N_POINTS) -> np.ndarray:
    """Uniform knot positions ``k / (n - 1)``, the same for the three channels.

    Parameters
    ----------
    n : int, default 32
        Control points per curve.

    Returns
    -------
    ndarray, (3, n) float64 in [0, 1]
    """
    return np.tile(np.linspace(0.0, 1.0, n), (3, 1))


def identity_curves(n: int = N_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The identity curves (``y = x``) at uniform knots.

    Parameters
    ----------
    n : int, default 32

    Returns
    -------
    x, y : ndarray, (3, n) float64
        Equal arrays (``y`` a copy).
    """
    x = uniform_knots(n)
    return x, x.copy()


def make_monotone(y: np.ndarray) -> np.ndarray:
    """The smallest non-decreasing curves above ``y`` (running maximum along the control points).

    Parameters
    ----------
    y : array_like, (..., n) float

    Returns
    -------
    ndarray, (..., n) float64
    """
    return np.maximum.accumulate(np.asarray(y, dtype=np.float64), axis=-1)


def check_curves(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a set of curves.

    Parameters
    ----------
    x : array_like, (3, n) float
        Control-point positions per RGB channel, strictly increasing, n >= 2.
    y : array_like, (3, n) float
        Curve values at those positions.

    Returns
    -------
    x, y : ndarray, (3, n) float64

    Raises
    ------
    ValueError
        Wrong shapes, non-finite values, or positions not strictly increasing.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != 3 or x.shape[1] < 2 or y.shape != x.shape:
        raise ValueError(f"curves: expected x and y of shape (3, n>=2), got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("curves: control points must be finite")
    if (np.diff(x, axis=1) <= 0).any():
        raise ValueError("curves: x positions must be strictly increasing in every channel")
    return x, y


def segment_table(x: np.ndarray, y: np.ndarray, bins: int = LUT_BINS) -> np.ndarray:
    """Per-bin (intercept, slope) of the curve segment holding each input bin, for moved knots.

    Bin ``j`` covers ``[j / bins, (j + 1) / bins)`` and uses the line through the segment holding its
    centre; the extra last bin holds ``v = 1``. Outside the knots the curve is constant (slope 0), as
    ``np.interp``.

    Parameters
    ----------
    x : array_like, (3, n) float
        Control-point positions per RGB channel, strictly increasing, n >= 2.
    y : array_like, (3, n) float
        Curve values at those positions.
    bins : int, default LUT_BINS
        Number of input bins (31 * 512, so uniform knots fall on bin edges).

    Returns
    -------
    ndarray, (3, bins + 1, 2) float32
        ``[..., 0]`` intercepts, ``[..., 1]`` slopes; exact lines stay exact (rounding residue snapped).
    """
    x, y = check_curves(x, y)
    centers = (np.arange(bins + 1, dtype=np.float64) + 0.5) / bins
    centers[-1] = 1.0
    table = np.empty((3, bins + 1, 2), dtype=np.float64)
    for c in range(3):
        xs, ys = x[c], y[c]
        slopes = np.diff(ys) / np.diff(xs)
        intercepts = ys[:-1] - slopes * xs[:-1]
        seg = np.clip(np.searchsorted(xs, centers, side="right") - 1, 0, len(xs) - 2)
        a, b = intercepts[seg], slopes[seg]
        below, above = centers < xs[0], centers > xs[-1]
        a = np.where(below, ys[0], np.where(above, ys[-1], a))
        b = np.where(below | above, 0.0, b)
        table[c, :, 0], table[c, :, 1] = a, b
    # identity-like segments: rounding leaves intercepts of ~1e-17 and slopes of 1 +- 1e-16; snap them
    # so exact lines stay exact in float32
    table[np.abs(table) < 1e-12] = 0.0
    near_one = np.abs(table[..., 1] - 1.0) < 1e-12
    table[..., 1][near_one] = 1.0
    return table.astype(np.float32)


def eval_curves(values: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reference evaluation of curves with ``np.interp`` per channel (slow but direct).

    Parameters
    ----------
    values : array_like, (..., 3) float
        RGB values.
    x : array_like, (3, n) float
        Control-point positions per RGB channel, strictly increasing, n >= 2.
    y : array_like, (3, n) float
        Curve values at those positions.

    Returns
    -------
    ndarray, (..., 3) float64
        Values outside ``[x_0, x_{n-1}]`` take the end points' values.
    """
    x, y = check_curves(x, y)
    v = np.asarray(values, dtype=np.float64)
    out = np.empty_like(v)
    for c in range(3):
        out[..., c] = np.interp(v[..., c], x[c], y[c])
    return out


def upsample_shading(shading: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a shading map (half-pixel centres, as torch ``align_corners=False``).

    Parameters
    ----------
    shading : array_like, (h, w) float
    shape : tuple of int
        Target ``(H, W)``.

    Returns
    -------
    ndarray, (H, W) float32
        ``cv2.resize`` INTER_LINEAR; the input itself when the shape already matches.

    Raises
    ------
    ValueError
        When ``shading`` is not 2-D.
    """
    import cv2

    s = np.asarray(shading, dtype=np.float32)
    if s.ndim != 2:
        raise ValueError(f"shading: expected an (h, w) map, got shape {s.shape}")
    if s.shape == tuple(shape):
        return s
    return cv2.resize(s, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


@dataclass
class ParametricParams:
    """SPRIH's predicted parameters: RGB curves and an optional grey shading map.

    Parameters
    ----------
    curves_x, curves_y : array_like, (3, n) float
        Control points per channel (the network's: n = 32 uniform knots); validated by
        :func:`check_curves`.
    shading : array_like, (h, w) float, optional
        Multiplicative shading ``S`` >= 0 at any resolution (the network's in [0, 2]); None: S = 1.
    meta : dict, optional
        Free-form provenance (model, size, checkpoint), written to ``curves.json``.

    Raises
    ------
    ValueError
        Invalid curves, or a shading map that is not a finite non-negative 2-D array.

    References
    ----------
    .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
       Image Harmonization", CVPR 2023, Section 3.1.
    """

    curves_x: np.ndarray
    curves_y: np.ndarray
    shading: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.curves_x, self.curves_y = check_curves(self.curves_x, self.curves_y)
        if self.shading is not None:
            s = np.asarray(self.shading, dtype=np.float32)
            if s.ndim != 2 or not np.isfinite(s).all() or (s < 0).any():
                raise ValueError(f"shading: expected a finite non-negative (h, w) map, got shape {s.shape}")
            self.shading = s

    def to_json(self) -> dict[str, Any]:
        """The curves as a JSON-able dict (format ``harmony-sprih-params/1``).

        Returns
        -------
        dict
            ``curves.R/G/B.x/y`` lists rounded to 6 decimals, the point count, the shading map's size and PNG
            encoding (the map itself goes to ``shading.png``, see ``harmony apply-params``), the formula and
            ``meta``.
        """
        return {
            "format": "harmony-sprih-params/1",
            "channels": ["R", "G", "B"],
            "points": int(self.curves_x.shape[1]),
            "curves": {ch: {"x": [round(float(v), 6) for v in self.curves_x[c]],
                            "y": [round(float(v), 6) for v in self.curves_y[c]]}
                       for c, ch in enumerate("RGB")},
            "shading": None if self.shading is None else {
                "file": "shading.png", "height": int(self.shading.shape[0]), "width": int(self.shading.shape[1]),
                "png_scale": SHADING_PNG_SCALE,
                "encoding": "8-bit grey PNG holding S / png_scale (mid grey 128 = 1.0, no change)"},
            "formula": "O = M * curves(C) * upsample(S) + (1 - M) * C",
            **({"meta": self.meta} if self.meta else {}),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], shading: np.ndarray | None = None) -> ParametricParams:
        """Inverse of :meth:`to_json`.

        Parameters
        ----------
        obj : mapping
            A parsed ``curves.json``.
        shading : ndarray, (h, w) float, optional
            The decoded shading map (:func:`decode_shading`), or None.

        Returns
        -------
        ParametricParams

        Raises
        ------
        ValueError
            Missing or malformed ``curves.R/G/B.x/y`` lists, or invalid curves.
        """
        try:
            curves = obj["curves"]
            x = np.array([curves[ch]["x"] for ch in "RGB"], dtype=np.float64)
            y = np.array([curves[ch]["y"] for ch in "RGB"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"curves JSON: expected curves.R/G/B.x/y lists ({exc.__class__.__name__}: {exc})") from None
        return cls(x, y, shading, dict(obj.get("meta") or {}))


def uniform_segments(x: np.ndarray) -> int | None:
    """Whether the curves can take the 8-bit LUT path: ``n - 1`` for uniform knots, else None.

    Parameters
    ----------
    x : array_like, (3, n) float
        Knot positions.

    Returns
    -------
    int or None
        ``n - 1`` when every channel's knots are ``k / (n - 1)`` within :data:`UNIFORM_TOL` (also after a
        JSON round trip) and ``2 <= n <= LUT_STRIDE``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if x.ndim != 2 or not 2 <= n <= LUT_STRIDE:
        return None
    if np.abs(x - np.linspace(0.0, 1.0, n)).max() > UNIFORM_TOL:
        return None
    return n - 1


def lut_tables(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.LUT`` tables of the intercept and slope of each segment, for curves with uniform knots.

    Entry ``LUT_STRIDE * c + j`` holds the line of channel ``c``'s segment ``min(j, n - 2)`` (through the
    actual control points), so ``round((n - 1) v - 0.5)`` plus the channel's offset picks the segment
    holding a value ``v`` in [0, 1] (either neighbour at a knot, where both lines meet).

    Parameters
    ----------
    x : array_like, (3, n) float
        Control-point positions per RGB channel, strictly increasing, n >= 2.
    y : array_like, (3, n) float
        Curve values at those positions.

    Returns
    -------
    intercepts, slopes : ndarray, (1, 256) float32
        Entries past ``3 * LUT_STRIDE`` are the identity line (0, 1).

    Raises
    ------
    ValueError
        More than ``LUT_STRIDE`` points, or invalid curves.
    """
    x, y = check_curves(x, y)
    n = x.shape[1]
    if n > LUT_STRIDE:
        raise ValueError(f"curves: the 8-bit segment index holds at most {LUT_STRIDE} points, got {n}")
    slopes = np.diff(y, axis=1) / np.diff(x, axis=1)
    intercepts = y[:, :-1] - slopes * x[:, :-1]
    seg = np.minimum(np.arange(LUT_STRIDE), n - 2)
    a = np.zeros(256)
    b = np.ones(256)
    a[:3 * LUT_STRIDE] = intercepts[:, seg].reshape(-1)
    b[:3 * LUT_STRIDE] = slopes[:, seg].reshape(-1)
    # identity-like segments: snap rounding residue so that exact lines stay exact in float32
    a[np.abs(a) < 1e-12] = 0.0
    b[np.abs(b - 1.0) < 1e-12] = 1.0
    return a.astype(np.float32).reshape(1, 256), b.astype(np.float32).reshape(1, 256)


def _linear_weights(dst: int, src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices ``(i0, i1)`` and float32 weights of ``i1`` for bilinear resizing ``src -> dst``
    samples with half-pixel centres and edge clamping (``cv2.resize`` INTER_LINEAR's formula)."""
    f = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    i0 = np.floor(f).astype(np.int64)
    frac = f - i0
    low, high = i0 < 0, i0 >= src - 1
    frac[low | high] = 0.0
    i0[low] = 0
    i0[high] = src - 1
    return i0, np.minimum(i0 + 1, src - 1), frac.astype(np.float32)


def _check_slow(composite: np.ndarray, mask: np.ndarray) -> None:
    """imageops' checks (ValueError naming the problem)."""
    check_image(composite, "composite")
    check_mask(mask, composite.shape[:2], "mask")


def _bad_input(composite: np.ndarray, mask: np.ndarray) -> None:
    """Raise the contract's ValueError (imageops' checks name the problem)."""
    _check_slow(composite, mask)
    raise ValueError("composite/mask: expected float32 (H, W, 3) and (H, W) in [0, 1]")   # not reached


def check_pair_fast(composite: np.ndarray, mask: np.ndarray) -> None:
    """The checks of :func:`harmony.imageops.check_pair` (same ValueErrors) in one integer-max pass per array.

    A float32 bit pattern above 1.0's is a value out of [0, 1], a NaN or an infinity; the rare -0.0,
    which the contract allows, is passed to imageops' checks to decide.

    Parameters
    ----------
    composite : ndarray, (H, W, 3) float32
    mask : ndarray, (H, W) float32

    Raises
    ------
    ValueError
        Wrong dtype or shape, or values outside [0, 1] (the message names ``composite`` or ``mask``).
    """
    if not _is_float_pair(composite, mask):
        _bad_input(composite, mask)
    if composite.size and (composite.view(np.uint32).max() > _ONE_BITS or mask.view(np.uint32).max() > _ONE_BITS):
        _check_slow(composite, mask)


def apply_params(composite: np.ndarray, mask: np.ndarray, params: ParametricParams, *,
                 table: np.ndarray | None = None) -> np.ndarray:
    """Apply SPRIH's Eq. 1 at the composite's resolution: ``M * curves(C) * upsample(S) + (1 - M) * C``.

    Parameters
    ----------
    composite : ndarray, (H, W, 3) float32
        RGB composite in [0, 1], any resolution (the parameters come from a 512x512 copy).
    mask : ndarray, (H, W) float32
        Foreground mask in [0, 1]; soft values blend the result with the composite.
    params : ParametricParams
        The curves and the optional shading map (any resolution; upsampled bilinearly with half-pixel
        centres, as ``cv2.resize`` INTER_LINEAR and torch ``align_corners=False``).
    table : ndarray, (3, LUT_BINS + 1, 2) float32, optional
        A precomputed :func:`segment_table` of ``params`` (speeds up repeated calls with moved knots;
        uniform knots use the 256-entry tables of :func:`lut_tables`, built per call).

    Returns
    -------
    ndarray, (H, W, 3) float32
        The harmonized image in [0, 1]; pixels where the mask is 0 are the composite's, bit for bit.
        The curves' output is clipped to [0, 1] before the shading (when a curve exceeds 1), and the
        shaded foreground is clipped before a soft mask blends it.

    Raises
    ------
    ValueError
        When the composite or mask is not float32 of matching shapes, or holds values outside [0, 1] or
        NaN (the messages of :func:`harmony.imageops.check_image` / ``check_mask``).

    Notes
    -----
    One pass in blocks of 16 rows that stay in cache. Each block of the composite is checked (one
    integer max of the float32 bit patterns) and copied to the output outside the block's mask columns;
    inside them: ``_evaluate_curves`` (uniform knots: an 8-bit segment index from
    ``cv2.convertScaleAbs`` and two ``cv2.LUT`` gathers of the segment's intercept and slope, one
    multiply-add; moved knots: a gather from :func:`segment_table`), ``_shading_block`` (the map
    upsampled for the block only: vertical interpolation of the low-resolution rows, then ``cv2.resize``
    along the rows over the needed columns, with an integer column ratio the same weights as resizing the
    whole map), and ``_write_block`` (the result written where the mask is 1, or blended where it is
    soft). Equal to :func:`apply_params_interp` within 2e-6 for uniform knots, and within
    ``|slope change| / LUT_BINS`` for moved knots.

    References
    ----------
    .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
       Image Harmonization", CVPR 2023, Section 3.1, Eq. 1.

    Examples
    --------
    >>> import numpy as np
    >>> from harmony.models.curves import ParametricParams, apply_params, identity_curves
    >>> x, y = identity_curves()
    >>> image = np.full((4, 4, 3), 0.6, np.float32)
    >>> mask = np.zeros((4, 4), np.float32); mask[1:3, 1:3] = 1
    >>> out = apply_params(image, mask, ParametricParams(x, y, np.full((2, 2), 0.5, np.float32)))
    >>> float(out[1, 1, 0]), float(out[0, 0, 0])
    (0.30000001192092896, 0.6000000238418579)
    """
    if not _is_float_pair(composite, mask):
        _bad_input(composite, mask)
    if composite.size == 0:
        return composite.copy()
    block = _ROWS_PER_BLOCK
    block_columns = _mask_columns_per_block(composite, mask, block)
    out = np.empty(composite.shape, np.float32)                     # C order (cv2 writes into views of it)
    plan = _plan(params, mask.shape, block, table) if block_columns.any() else None
    for r0 in range(0, mask.shape[0], block):
        r1 = min(mask.shape[0], r0 + block)
        src = composite[r0:r1]
        if src.view(np.uint32).max() > _ONE_BITS and not (src.min() >= 0.0 and src.max() <= 1.0):   # NaN fails
            _bad_input(composite, mask)
        cols = np.flatnonzero(block_columns[r0 // block])            # this block's columns holding the mask
        if not cols.size:
            np.copyto(out[r0:r1], src)
            continue
        x0, x1 = int(cols[0]), int(cols[-1]) + 1
        np.copyto(out[r0:r1, :x0], src[:, :x0])                      # (the columns inside are written below)
        np.copyto(out[r0:r1, x1:], src[:, x1:])
        c = composite[r0:r1, x0:x1]
        v = _evaluate_curves(plan, c)
        if plan.shading is not None:
            _apply_shading(plan, v, r0, r1, x0, x1)
        _write_block(v, c, mask[r0:r1, x0:x1], out[r0:r1, x0:x1])
    return out


def _is_float_pair(composite: np.ndarray, mask: np.ndarray) -> bool:
    """Whether ``composite`` is a float32 (H, W, 3) array and ``mask`` a float32 (H, W) one."""
    return (isinstance(composite, np.ndarray) and isinstance(mask, np.ndarray) and composite.ndim == 3
            and composite.shape[2] == 3 and composite.dtype == np.float32 and mask.dtype == np.float32
            and mask.shape == composite.shape[:2])


def _mask_columns_per_block(composite: np.ndarray, mask: np.ndarray, block: int) -> np.ndarray:
    """``(ceil(H / block), W)`` array, non-zero where a block of rows holds mask > 0 in that column.

    Computed on the bit patterns: for floats >= +0 the uint32 order is the float order, and anything
    negative, NaN or above 1 has a pattern above 1.0's, so the same pass checks the mask (ValueError
    when out of range; -0.0 and NaN, which ``check_mask`` allows, fall back to a float comparison).
    """
    h, w = mask.shape
    nfull = h // block
    bits = mask.view(np.uint32)
    block_max = np.empty((-(-h // block), w), np.uint32)
    np.max(bits[:nfull * block].reshape(nfull, block, w), axis=1, out=block_max[:nfull])
    if nfull < len(block_max):
        np.max(bits[nfull * block:], axis=0, out=block_max[-1])
    if block_max.max() > _ONE_BITS:          # out of range (raises), or -0.0 / NaN (allowed by check_mask)
        _check_slow(composite, mask)
        np.max((np.nan_to_num(mask) > 0)[:nfull * block].reshape(nfull, block, w), axis=1, out=block_max[:nfull])
        if nfull < len(block_max):
            np.max(np.nan_to_num(mask[nfull * block:]) > 0, axis=0, out=block_max[-1])
    return block_max


@dataclass
class _Plan:
    """What every row block of :func:`apply_params` shares: curve tables, shading weights, buffers."""

    segments: int | None                      # n - 1 for uniform knots (8-bit LUT path), else None
    lut_a: np.ndarray | None = None           # uniform knots: intercept / slope cv2.LUT tables
    lut_b: np.ndarray | None = None
    packed: np.ndarray | None = None          # moved knots: segment table as complex64 (one gather)
    bins: int = 0
    offsets: np.ndarray | None = None         # moved knots: per-channel offset into ``packed``
    shading: np.ndarray | None = None
    clip_before_shading: bool = False
    full_size_shading: bool = True
    row_index: np.ndarray | None = None       # low-resolution shading: source row of each output row
    row_weight: np.ndarray | None = None      # ... its weight of the next row
    row_difference: np.ndarray | None = None  # ... and the difference to the next row
    column_ratio: int = 0                     # integer W / ws, or 0
    width: int = 0
    buffer: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    buffer2: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    channel_offsets: np.ndarray | None = None


def _plan(params: ParametricParams, shape: tuple[int, int], block: int, table: np.ndarray | None) -> _Plan:
    """The curve tables (:func:`lut_tables` or :func:`segment_table`), shading weights and buffers."""
    h, w = shape
    plan = _Plan(uniform_segments(params.curves_x), width=w)
    if plan.segments is not None:
        plan.lut_a, plan.lut_b = lut_tables(params.curves_x, params.curves_y)
    else:
        if table is None:
            table = segment_table(params.curves_x, params.curves_y)
        plan.bins = table.shape[1] - 1
        plan.packed = (table[..., 0] + 1j * table[..., 1]).astype(np.complex64).reshape(-1)   # one gather
        plan.offsets = np.arange(3, dtype=np.int32) * (plan.bins + 1)
    shading = plan.shading = params.shading
    # clip(curves) * S equals clip(curves * S) after the final clip unless the curves exceed 1
    plan.clip_before_shading = shading is not None and float(params.curves_y.max()) > 1.0
    if shading is not None:
        hs, ws = shading.shape
        plan.full_size_shading = (hs, ws) == (h, w)
        if not plan.full_size_shading:
            plan.row_index, _, plan.row_weight = _linear_weights(h, hs)
            plan.row_difference = shading[np.minimum(np.arange(hs) + 1, hs - 1)] - shading
            plan.column_ratio = w // ws if w % ws == 0 else 0   # integer ratio: resize only the columns needed
    plan.buffer = np.empty(block * w * 3, np.float32)
    plan.buffer2 = np.empty(block * w * 3, np.float32)
    plan.channel_offsets = np.tile(np.array([0, LUT_STRIDE, 2 * LUT_STRIDE], np.uint8), (block, w, 1))
    return plan


def _evaluate_curves(plan: _Plan, c: np.ndarray) -> np.ndarray:
    """``curves(c)`` for a (rows, cols, 3) block of the composite, in the plan's buffer (unclipped)."""
    import cv2

    nr, bw = c.shape[:2]
    v = plan.buffer[:nr * bw * 3].reshape(nr, bw, 3)
    if plan.segments is not None:
        idx = cv2.convertScaleAbs(c, alpha=float(plan.segments), beta=-0.5)   # round(|(n-1) c - 0.5|)
        np.add(idx, plan.channel_offsets[:nr, :bw], out=idx)                  # + LUT_STRIDE * channel
        idx = idx.reshape(nr, bw * 3)
        cv2.LUT(idx, plan.lut_b, dst=v.reshape(nr, bw * 3))
        np.multiply(v, c, out=v)
        intercept = plan.buffer2[:nr * bw * 3].reshape(nr, bw, 3)
        cv2.LUT(idx, plan.lut_a, dst=intercept.reshape(nr, bw * 3))
        v += intercept
    else:
        idx = np.multiply(c, np.float32(plan.bins), dtype=np.float32).astype(np.int32)   # c in [0, 1]
        idx += plan.offsets
        seg = np.take(plan.packed, idx)
        np.multiply(seg.imag, c, out=v)
        v += seg.real
    return v


def _apply_shading(plan: _Plan, v: np.ndarray, r0: int, r1: int, x0: int, x1: int) -> None:
    """Multiply the block ``v`` (rows r0:r1, columns x0:x1) by the upsampled shading map, in place."""
    import cv2

    if plan.clip_before_shading:
        flat = v.reshape(v.shape[0], -1)                # the curves map into the displayable range
        cv2.threshold(flat, 1.0, 1.0, cv2.THRESH_TRUNC, dst=flat)
    np.multiply(v, cv2.cvtColor(_shading_block(plan, r0, r1, x0, x1), cv2.COLOR_GRAY2RGB), out=v)


def _shading_block(plan: _Plan, r0: int, r1: int, x0: int, x1: int) -> np.ndarray:
    """The shading map upsampled to the full image, over rows r0:r1 and columns x0:x1 only."""
    import cv2

    shading = plan.shading
    if plan.full_size_shading:
        return shading[r0:r1, x0:x1]
    nr = r1 - r0
    i0 = plan.row_index[r0:r1]
    rows = shading[i0] + plan.row_weight[r0:r1, None] * plan.row_difference[i0]   # vertical pass, low-res rows
    k = plan.column_ratio
    if k:   # source columns ca..cb (one spare on each side) resized alone give the same weights
        ca, cb = max(0, x0 // k - 1), min(shading.shape[1], -(-x1 // k) + 1)
        rows = rows[:, ca:cb]
        return cv2.resize(rows, ((cb - ca) * k, nr), interpolation=cv2.INTER_LINEAR)[:, x0 - ca * k:x1 - ca * k]
    return cv2.resize(rows, (plan.width, nr), interpolation=cv2.INTER_LINEAR)[:, x0:x1]


def _write_block(v: np.ndarray, c: np.ndarray, m: np.ndarray, o: np.ndarray) -> None:
    """Write ``clip(v)`` into the output block ``o`` where the mask ``m`` is 1, blend where it is soft."""
    import cv2

    nr, bw = m.shape
    total = cv2.sumElems(m)[0]
    if total == nr * bw:                         # M = 1 on the whole block: write the result
        np.clip(v, 0.0, 1.0, out=o)
    elif total == cv2.countNonZero(m):           # hard mask here: copy where M = 1
        np.clip(v, 0.0, 1.0, out=v)
        np.copyto(o, c)
        cv2.copyTo(v, cv2.cvtColor(cv2.compare(m, 0.0, cv2.CMP_GT), cv2.COLOR_GRAY2RGB), o)
    else:                                        # soft values: C + M * (new - C)
        np.clip(v, 0.0, 1.0, out=v)
        v -= c
        np.multiply(v, cv2.cvtColor(m, cv2.COLOR_GRAY2RGB), out=v)
        v += c
        np.clip(v, 0.0, 1.0, out=o)


def apply_params_uint8(composite: np.ndarray, mask: np.ndarray, params: ParametricParams) -> np.ndarray:
    """Eq. 1 on 8-bit data (the full-resolution path of ``harmony apply-params``).

    Pixels outside the mask's bounding box are copied; inside it, per block of 256 rows, a 256-entry
    table per channel gives the curves at every level ``v / 255`` (``cv2.LUT``, rounded to 8 bits), the
    shading map (upsampled bilinearly as 8-bit ``round(128 S)``) multiplies it with saturation, and the
    result is copied where the mask is non-zero (``cv2.copyTo``; ``cv2.blendLinear`` where the mask is
    soft).

    Parameters
    ----------
    composite : ndarray, (H, W, 3) uint8
        RGB.
    mask : ndarray, (H, W) uint8
        255 = foreground; values in between blend.
    params : ParametricParams

    Returns
    -------
    ndarray, (H, W, 3) uint8
        Within 2 levels of ``to_uint8(apply_params(C / 255, M / 255))`` (three 8-bit roundings), 3 at
        bright values under a shading gain.

    Raises
    ------
    ValueError
        Wrong dtypes or shapes.

    References
    ----------
    .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
       Image Harmonization", CVPR 2023, Section 3.1.
    """
    import cv2

    comp = np.asarray(composite)
    msk = np.asarray(mask)
    if comp.dtype != np.uint8 or comp.ndim != 3 or comp.shape[2] != 3:
        raise ValueError(f"composite: expected uint8 (H, W, 3), got {comp.dtype} {comp.shape}")
    if msk.dtype != np.uint8 or msk.shape != comp.shape[:2]:
        raise ValueError(f"mask: expected uint8 {comp.shape[:2]}, got {msk.dtype} {msk.shape}")
    out = comp.copy()
    rows = np.flatnonzero(cv2.reduce(msk, 1, cv2.REDUCE_MAX).ravel())     # SIMD row / column maxima
    if rows.size == 0:
        return out
    cols = np.flatnonzero(cv2.reduce(msk[rows[0]:rows[-1] + 1], 0, cv2.REDUCE_MAX).ravel())
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    h, w = msk.shape
    levels = np.arange(256, dtype=np.float64) / 255.0
    lut = np.stack([np.interp(levels, params.curves_x[c], params.curves_y[c]) for c in range(3)], axis=-1)
    lut = np.clip(np.rint(lut * 255.0), 0, 255).astype(np.uint8).reshape(1, 256, 3)
    shading8 = None
    if params.shading is not None:
        s8 = np.clip(np.rint(params.shading * 128.0), 0, 255).astype(np.uint8)
        shading8 = cv2.resize(s8, (w, h), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1] if s8.shape != (h, w) \
            else s8[y0:y1, x0:x1]
    block = 256
    for r0 in range(y0, y1, block):
        r1 = min(y1, r0 + block)
        c8 = comp[r0:r1, x0:x1]
        m = msk[r0:r1, x0:x1]
        dst = out[r0:r1, x0:x1]
        inside = cv2.minMaxLoc(m)[0] == 255                          # M = 1 on the whole block: write there
        new = cv2.LUT(c8, lut, dst=dst if inside and shading8 is None else None)
        if shading8 is not None:
            s = shading8[r0 - y0:r1 - y0]
            new = cv2.multiply(new, cv2.merge((s, s, s)), dst=dst if inside else None, scale=1.0 / 128.0)
        if inside:
            continue
        if cv2.countNonZero(cv2.inRange(m, 1, 254)):
            mf = m.astype(np.float32) * np.float32(1.0 / 255.0)
            dst[...] = cv2.blendLinear(new, c8, mf, 1.0 - mf)
        else:
            cv2.copyTo(new, m, dst)                                  # in place into the output view
    return out


def apply_params_interp(composite: np.ndarray, mask: np.ndarray, params: ParametricParams) -> np.ndarray:
    """Eq. 1 with plain ``np.interp`` on whole channels: the speed peer of ``benchmarks/bench_sprih.py``
    and an independent check of :func:`apply_params`.

    Parameters
    ----------
    composite : ndarray, (H, W, 3) float32 in [0, 1]
    mask : ndarray, (H, W) float32 in [0, 1]
        Soft values blend.
    params : ParametricParams

    Returns
    -------
    ndarray, (H, W, 3) float32 in [0, 1]

    Raises
    ------
    ValueError
        Inputs breaking the contract (imageops' messages).
    """
    check_image(composite, "composite")
    check_mask(mask, composite.shape[:2], "mask")
    curved = np.empty_like(composite)
    for c in range(3):
        curved[..., c] = np.interp(composite[..., c], params.curves_x[c], params.curves_y[c])
    np.clip(curved, 0.0, 1.0, out=curved)
    if params.shading is not None:
        curved *= upsample_shading(params.shading, mask.shape)[..., None]
        np.clip(curved, 0.0, 1.0, out=curved)
    m = mask[..., None]
    return np.clip(m * curved + (1.0 - m) * composite, 0.0, 1.0).astype(np.float32)


def encode_shading(shading: np.ndarray) -> np.ndarray:
    """Shading map to the grey image stored in ``shading.png``: ``S / SHADING_PNG_SCALE``, clipped.

    Parameters
    ----------
    shading : array_like, (h, w) float >= 0

    Returns
    -------
    ndarray, (h, w) float32 in [0, 1]
        Mid grey (0.5) is S = 1, no change.
    """
    return np.clip(np.asarray(shading, dtype=np.float32) / SHADING_PNG_SCALE, 0.0, 1.0)


def decode_shading(grey: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_shading`.

    Parameters
    ----------
    grey : array_like, (h, w) float in [0, 1]
        ``shading.png`` read as floats.

    Returns
    -------
    ndarray, (h, w) float32 in [0, SHADING_PNG_SCALE]
    """
    return (np.asarray(grey, dtype=np.float32) * SHADING_PNG_SCALE).astype(np.float32)


__all__ = ["LUT_BINS", "LUT_STRIDE", "N_POINTS", "SHADING_PNG_SCALE", "UNIFORM_TOL", "ParametricParams", "apply_params",
           "apply_params_interp", "apply_params_uint8", "check_curves", "check_pair_fast", "decode_shading", "encode_shading", "eval_curves",
           "identity_curves", "lut_tables", "make_monotone", "segment_table", "uniform_knots", "uniform_segments",
           "upsample_shading"]
