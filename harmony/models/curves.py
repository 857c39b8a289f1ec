"""SPRIH's parametric image transformation in numpy (seed 001_e32bb37dd46263d1, section 3.1, Eq. 1).

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

Speed: the curves are evaluated through a per-channel table of segment (intercept, slope) pairs indexed
by the quantised input (``LUT_BINS`` bins, a multiple of 31 so that every uniform knot falls on a bin
edge): one gather and one multiply-add per value, computed in row blocks that stay in cache. Inside a
segment the line is exact, so the table gives the piecewise-linear curve up to float rounding for
uniform knots (identity curves return the input bit for bit); with moved knots, a bin that straddles a
knot uses one of the two adjacent lines, an error below ``|slope change| / LUT_BINS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..imageops import check_image, check_mask

N_POINTS = 32
#: bins of the segment table: 31 * 512, so the uniform knots k/31 are bin edges
LUT_BINS = 31 * 512
#: the shading PNG stores S / SHADING_PNG_SCALE (mid grey = no change)
SHADING_PNG_SCALE = 2.0
_ROWS_PER_BLOCK = 32


def uniform_knots(n: int = N_POINTS) -> np.ndarray:
    """``(3, n)`` knot positions ``k / (n - 1)``."""
    return np.tile(np.linspace(0.0, 1.0, n), (3, 1))


def identity_curves(n: int = N_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the identity curves (``y = x``)."""
    x = uniform_knots(n)
    return x, x.copy()


def make_monotone(y: np.ndarray) -> np.ndarray:
    """The smallest non-decreasing curves above ``y`` (running maximum along the control points)."""
    return np.maximum.accumulate(np.asarray(y, dtype=np.float64), axis=-1)


def check_curves(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 ``(3, n)`` curves; ``x`` strictly increasing per channel, n >= 2."""
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
    """``(3, bins + 1, 2)`` float32 table of (intercept, slope) of the line that holds on each input bin
    ``[j / bins, (j + 1) / bins)``; the extra last bin holds ``v = 1``. Outside the knots the curve is
    constant (slope 0), as ``np.interp``."""
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
    """Reference evaluation (``np.interp`` per channel) of ``(..., 3)`` values; slow but direct."""
    x, y = check_curves(x, y)
    v = np.asarray(values, dtype=np.float64)
    out = np.empty_like(v)
    for c in range(3):
        out[..., c] = np.interp(v[..., c], x[c], y[c])
    return out


def upsample_shading(shading: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling (half-pixel centres, as torch ``align_corners=False``) of an (h, w) map."""
    import cv2

    s = np.asarray(shading, dtype=np.float32)
    if s.ndim != 2:
        raise ValueError(f"shading: expected an (h, w) map, got shape {s.shape}")
    if s.shape == tuple(shape):
        return s
    return cv2.resize(s, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


@dataclass
class ParametricParams:
    """SPRIH's predicted parameters: curves ``x``/``y`` (3, 32) and a shading map (h, w), all float.

    ``shading`` may be ``None`` (curves-only model: S = 1)."""

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
        """The curves as a JSON-able dict (the shading map goes to a PNG, see the apply-params command)."""
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
    def from_json(cls, obj: Mapping[str, Any], shading: np.ndarray | None = None) -> "ParametricParams":
        """Inverse of :meth:`to_json` (``shading`` is the decoded map, or None). ValueError on bad fields."""
        try:
            curves = obj["curves"]
            x = np.array([curves[ch]["x"] for ch in "RGB"], dtype=np.float64)
            y = np.array([curves[ch]["y"] for ch in "RGB"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"curves JSON: expected curves.R/G/B.x/y lists ({exc.__class__.__name__}: {exc})") from None
        return cls(x, y, shading, dict(obj.get("meta") or {}))


def apply_params(composite: np.ndarray, mask: np.ndarray, params: ParametricParams, *,
                 table: np.ndarray | None = None) -> np.ndarray:
    """Eq. 1 at the composite's resolution: ``M * curves(C) * upsample(S) + (1 - M) * C``, clipped.

    Parameters
    ----------
    composite: float32 (H, W, 3) in [0, 1].
    mask: float32 (H, W) in [0, 1] (soft values blend).
    params: the curves and the shading map (any resolution; upsampled bilinearly).
    table: a precomputed :func:`segment_table` of ``params`` (speeds up repeated calls).
    """
    check_image(composite, "composite")
    check_mask(mask, composite.shape[:2], "mask")
    h, w = mask.shape
    if table is None:
        table = segment_table(params.curves_x, params.curves_y)
    bins = table.shape[1] - 1
    out = composite.copy()
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    shading = None if params.shading is None else upsample_shading(params.shading, (h, w))
    # one gather per value: (intercept, slope) packed as a complex64 table
    packed = (table[..., 0] + 1j * table[..., 1]).astype(np.complex64).reshape(-1)
    offsets = (np.arange(3, dtype=np.int32) * (bins + 1))
    for r0 in range(y0, y1, _ROWS_PER_BLOCK):
        r1 = min(y1, r0 + _ROWS_PER_BLOCK)
        c = composite[r0:r1, x0:x1]
        idx = np.multiply(c, np.float32(bins), dtype=np.float32).astype(np.int32)   # c in [0, 1] (checked)
        idx += offsets
        seg = np.take(packed, idx)
        val = seg.imag * c
        val += seg.real                       # curves(C)
        np.clip(val, 0.0, 1.0, out=val)       # curves map into the displayable range
        m = mask[r0:r1, x0:x1, None]
        if shading is not None:
            val *= shading[r0:r1, x0:x1, None]
            np.clip(val, 0.0, 1.0, out=val)
        val -= c
        val *= m
        val += c                              # M * new + (1 - M) * C
        np.clip(val, 0.0, 1.0, out=out[r0:r1, x0:x1])
    return out


def apply_params_uint8(composite: np.ndarray, mask: np.ndarray, params: ParametricParams) -> np.ndarray:
    """Eq. 1 on 8-bit data (the full-resolution path of ``harmony apply-params``): uint8 (H, W, 3) RGB
    and uint8 (H, W) mask (255 = foreground, soft values blend) in, uint8 (H, W, 3) out.

    Pixels outside the mask's bounding box are copied; inside it, per row block: a 256-entry table per
    channel gives the curves at every level ``v / 255`` (``cv2.LUT``, rounded to 8 bits), the shading map
    (upsampled bilinearly as 8-bit ``round(128 * S)``) multiplies it with saturation, and the result is
    copied where the mask is non-zero (``cv2.copyTo``; ``cv2.blendLinear`` for blocks holding soft mask
    values). Equals
    ``to_uint8(apply_params(C / 255, M / 255))`` within 2 levels (three 8-bit roundings).
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
    block = 8 * _ROWS_PER_BLOCK
    for r0 in range(y0, y1, block):
        r1 = min(y1, r0 + block)
        c8 = comp[r0:r1, x0:x1]
        new = cv2.LUT(c8, lut)
        if shading8 is not None:
            s = shading8[r0 - y0:r1 - y0]
            new = cv2.multiply(new, cv2.merge((s, s, s)), scale=1.0 / 128.0)
        m = msk[r0:r1, x0:x1]
        dst = out[r0:r1, x0:x1]
        if cv2.countNonZero(cv2.inRange(m, 1, 254)):
            mf = m.astype(np.float32) * np.float32(1.0 / 255.0)
            dst[...] = cv2.blendLinear(new, c8, mf, 1.0 - mf)
        else:
            cv2.copyTo(new, m, dst)                                  # in place into the output view
    return out


def apply_params_interp(composite: np.ndarray, mask: np.ndarray, params: ParametricParams) -> np.ndarray:
    """The same transformation with plain ``np.interp`` on whole channels (the speed peer of
    ``benchmarks/bench_sprih.py``, and an independent check of :func:`apply_params`)."""
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
    """Shading map -> the [0, 1] grey image stored in ``shading.png`` (S / SHADING_PNG_SCALE)."""
    return np.clip(np.asarray(shading, dtype=np.float32) / SHADING_PNG_SCALE, 0.0, 1.0)


def decode_shading(grey: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_shading` for a grey (h, w) image read in [0, 1]."""
    return (np.asarray(grey, dtype=np.float32) * SHADING_PNG_SCALE).astype(np.float32)


__all__ = ["N_POINTS", "LUT_BINS", "SHADING_PNG_SCALE", "ParametricParams", "apply_params", "apply_params_interp", "apply_params_uint8",
           "decode_shading", "encode_shading", "eval_curves", "identity_curves", "make_monotone", "segment_table",
           "uniform_knots", "upsample_shading"]
