"""Pure image conversions on the design's contract (float32 RGB (H, W, 3) in [0, 1]; masks (H, W)).

Dtype conversions (``to_uint8``, ``to_float32``, ``uint16_to_uint8``) live here, so that a colour
kernel or a baseline never imports the I/O module. No file access, no printing. Public functions check
their inputs and raise ``ValueError`` naming the
expected shape or range; nothing is rescaled silently.
"""

from __future__ import annotations

import cv2
import numpy as np

# --------------------------------------------------------------------------------------------------
# dtype conversions (pure; io.py decodes and encodes files with these)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 with rounding to nearest (the inverse of reading a uint8 file)."""
    return np.clip(np.rint(np.asarray(img, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def uint16_to_uint8(arr: np.ndarray) -> np.ndarray:
    """16-bit samples reduced to 8 bits with rounding to nearest (``round(v * 255 / 65535)``); other
    dtypes are returned unchanged."""
    if arr.dtype == np.uint16:
        arr = ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return arr


def to_float32(arr: np.ndarray) -> np.ndarray:
    """Decoded samples -> float32 in [0, 1]: uint8 / 255, uint16 / 65535, bool as 0/1, floats clipped,
    32-bit integers (Pillow mode ``I``) by 65535 (or their dtype's maximum when larger values occur).

    Raises ``ValueError`` for any other dtype.
    """
    if arr.dtype in (np.uint8, np.uint16):  # in place after the cast: one allocation, same values
        out = arr.astype(np.float32)
        out *= np.float32(1.0 / 255.0) if arr.dtype == np.uint8 else np.float32(1.0 / 65535.0)
        return out
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(arr.astype(np.float32), 0.0, 1.0)
    if np.issubdtype(arr.dtype, np.integer):
        info_max = 65535.0 if arr.max(initial=0) <= 65535 else float(np.iinfo(arr.dtype).max)
        return np.clip(arr.astype(np.float32) / np.float32(info_max), 0.0, 1.0)
    raise ValueError(f"unsupported pixel type {arr.dtype}")


_INTERP = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "linear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def check_image(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate the image contract; return the array unchanged."""
    if not isinstance(img, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(img).__name__}")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name}: expected shape (H, W, 3), got {img.shape}")
    if img.dtype != np.float32:
        raise ValueError(f"{name}: expected float32 in [0, 1], got {img.dtype}")
    if img.size:
        lo, hi = img.min(), img.max()
        # Written so NaN fails too (every comparison with NaN is False) and +-inf falls outside [0, 1]:
        # one pass each for min and max, no separate isfinite pass over the image.
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(f"{name}: expected values in [0, 1], got [{np.nanmin(img):.4g}, {np.nanmax(img):.4g}]"
                             " (or non-finite values)")
    return img


def check_mask(mask: np.ndarray, shape: tuple[int, int] | None = None, name: str = "mask") -> np.ndarray:
    """Validate the mask contract (float32 (H, W) in [0, 1]); optionally its (H, W)."""
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(mask).__name__}")
    if mask.ndim != 2:
        raise ValueError(f"{name}: expected shape (H, W), got {mask.shape}")
    if mask.dtype != np.float32:
        raise ValueError(f"{name}: expected float32 in [0, 1], got {mask.dtype}")
    if shape is not None and mask.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)} to match the image, got {mask.shape}")
    if mask.size and not (mask.min() >= 0.0 and mask.max() <= 1.0):  # NaN fails too
        raise ValueError(f"{name}: expected values in [0, 1], got [{mask.min():.4g}, {mask.max():.4g}]")
    return mask


def check_pair(composite: np.ndarray, mask: np.ndarray) -> None:
    check_image(composite, "composite")
    check_mask(mask, composite.shape[:2])


def resize(arr: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """Resize an image or mask to ``size = (height, width)`` with OpenCV (``cv2.resize`` semantics).

    ``method``: nearest | bilinear | bicubic | area | lanczos. Float input stays float (values may
    overshoot [0, 1] for bicubic/lanczos: callers clip when the protocol does).
    """
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"resize: expected a positive size, got {size}")
    if method not in _INTERP:
        raise ValueError(f"resize: unknown method {method!r}; expected one of {sorted(_INTERP)}")
    if arr.shape[:2] == (h, w):
        return arr
    out = cv2.resize(arr, (w, h), interpolation=_INTERP[method])
    if arr.ndim == 3 and out.ndim == 2:  # cv2 drops a trailing channel axis of size 1
        out = out[..., None]
    return out


def binarize(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Soft mask -> {0, 1} float32 (``mask > threshold``)."""
    return (np.asarray(mask) > threshold).astype(np.float32)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by ``radius`` pixels with a disc (Euclidean) structuring element."""
    if radius <= 0:
        return binarize(mask)
    k = 2 * int(radius) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.dilate((mask > 0.5).astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT,
                      borderValue=0).astype(np.float32)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return binarize(mask)
    k = 2 * int(radius) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.erode((mask > 0.5).astype(np.uint8), disc).astype(np.float32)


def fg_ratio(mask: np.ndarray) -> float:
    """Foreground ratio as the community computes it: ``(mask > 0.5).sum() / (H * W)``."""
    return float((mask > 0.5).sum()) / float(mask.shape[0] * mask.shape[1])


def blend(foreground: np.ndarray, background: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``foreground * m + background * (1 - m)``; exact where m is 0 or 1."""
    m = mask[..., None] if mask.ndim == 2 else mask
    out = foreground * m + background * (1.0 - m)
    # Exactness where the mask is hard: no rounding drift in the background or foreground.
    hard_bg = (mask == 0.0)
    hard_fg = (mask == 1.0)
    out[hard_bg] = background[hard_bg]
    out[hard_fg] = foreground[hard_fg]
    return out.astype(np.float32, copy=False)


def bbox(mask: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) half-open bounding box of ``mask > threshold``; None when empty."""
    ys, xs = np.nonzero(mask > threshold)
    if ys.size == 0:
        return None
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


# --- colour spaces -------------------------------------------------------------------------------

# ITU-R BT.601 studio range ("video range") YCbCr on the 0-255 scale: Y in [16, 235], Cb/Cr in [16, 240].
_YCC_M = np.array([[65.481, 128.553, 24.966],
                   [-37.797, -74.203, 112.0],
                   [112.0, -93.786, -18.214]], dtype=np.float64) / 255.0
_YCC_OFF = np.array([16.0, 128.0, 128.0])
_YCC_MINV = np.linalg.inv(_YCC_M)


def rgb_to_ycbcr(rgb255: np.ndarray) -> np.ndarray:
    """RGB on the 0-255 scale -> BT.601 studio-range YCbCr (Y 16-235, Cb/Cr 16-240), float64."""
    return rgb255.astype(np.float64) @ _YCC_M.T + _YCC_OFF


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (0-255 scale, not clipped)."""
    return (ycc.astype(np.float64) - _YCC_OFF) @ _YCC_MINV.T


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB array (same scale as the input)."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
