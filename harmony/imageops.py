"""Pure image conversions on the toolkit's array contract.

Images are float32 RGB arrays of shape (H, W, 3) with values in [0, 1]; masks are float32 arrays of
shape (H, W) in [0, 1] (1 = foreground). Dtype conversions (:func:`to_uint8`, :func:`to_float32`,
:func:`uint16_to_uint8`) live here, so that a colour kernel or a baseline never imports the I/O
module. No file access, no printing. Public functions check their inputs and raise ``ValueError``
naming the expected shape or range; nothing is rescaled silently.

Colour conversions are in :mod:`harmony.color` (:func:`harmony.color.rgb_to_ycbcr` for ITU-R BT.601
studio-range YCbCr, :func:`harmony.color.rgb_to_lab`, :func:`harmony.color.luminance`, ...), next to the
colour-transfer kernels that use them.
"""

from __future__ import annotations

import cv2
import numpy as np

# --------------------------------------------------------------------------------------------------
# dtype conversions (pure; io.py decodes and encodes files with these)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Convert samples in [0, 1] to uint8 with rounding to nearest.

    The inverse of reading a uint8 file with :func:`to_float32`.

    Parameters
    ----------
    img : ndarray, any shape, float (or anything numpy casts to float32)
        Values on the [0, 1] scale; values outside are clipped.

    Returns
    -------
    ndarray, same shape, uint8
        ``clip(rint(img * 255), 0, 255)``.
    """
    return np.clip(np.rint(np.asarray(img, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def uint16_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Reduce 16-bit samples to 8 bits with rounding to nearest.

    Parameters
    ----------
    arr : ndarray, any shape
        Decoded samples. Only uint16 arrays are converted.

    Returns
    -------
    ndarray, same shape
        ``round(v * 255 / 65535)`` as uint8 for uint16 input; any other dtype is returned unchanged.
    """
    if arr.dtype == np.uint16:
        arr = ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return arr


def to_float32(arr: np.ndarray) -> np.ndarray:
    """Convert decoded samples to float32 in [0, 1].

    Parameters
    ----------
    arr : ndarray, any shape
        uint8 (divided by 255), uint16 (divided by 65535), bool (0/1), float (clipped to [0, 1]) or
        another integer type such as Pillow mode ``I``'s int32 (divided by 65535, or by the dtype's
        maximum when larger values occur).

    Returns
    -------
    ndarray, same shape, float32
        Values in [0, 1].

    Raises
    ------
    ValueError
        For any other dtype (complex, object, ...).
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
    """Validate the image contract and return the array unchanged.

    Parameters
    ----------
    img : ndarray, shape (H, W, 3), float32
        RGB values in [0, 1].
    name : str, optional
        Name used in the error message (default ``"image"``).

    Returns
    -------
    ndarray
        ``img`` itself (no copy).

    Raises
    ------
    ValueError
        When ``img`` is not a numpy array, not (H, W, 3), not float32, or holds values outside [0, 1]
        (NaN and infinities included). The message names ``name`` and what was expected.
    """
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
    """Validate the mask contract and return the array unchanged.

    Parameters
    ----------
    mask : ndarray, shape (H, W), float32
        Foreground weights in [0, 1] (1 = foreground); soft values are allowed.
    shape : tuple of int (H, W), optional
        When given, the mask must have exactly this shape (the image's height and width).
    name : str, optional
        Name used in the error message (default ``"mask"``).

    Returns
    -------
    ndarray
        ``mask`` itself (no copy).

    Raises
    ------
    ValueError
        When ``mask`` is not a 2-D float32 numpy array in [0, 1] (NaN fails), or its shape differs from
        ``shape``.
    """
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
    """Validate a (composite, mask) pair: the image contract, the mask contract, and equal (H, W).

    Parameters
    ----------
    composite : ndarray, shape (H, W, 3), float32 in [0, 1]
    mask : ndarray, shape (H, W), float32 in [0, 1]

    Raises
    ------
    ValueError
        From :func:`check_image` or :func:`check_mask`, naming ``composite`` or ``mask``.
    """
    check_image(composite, "composite")
    check_mask(mask, composite.shape[:2])


def resize(arr: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """Resize an image or a mask with OpenCV (``cv2.resize`` semantics).

    Parameters
    ----------
    arr : ndarray, shape (H, W) or (H, W, C)
        Image or mask, any dtype ``cv2.resize`` accepts. Float input stays float.
    size : tuple of int
        Target ``(height, width)``, both positive.
    method : {"bilinear", "linear", "nearest", "bicubic", "area", "lanczos"}, optional
        Interpolation (``cv2.INTER_*``); default ``"bilinear"``.

    Returns
    -------
    ndarray, shape (height, width) or (height, width, C), same dtype
        ``arr`` itself when it already has that size. Bicubic and Lanczos may overshoot [0, 1]:
        callers clip when their protocol does. A trailing channel axis of size 1 is kept.

    Raises
    ------
    ValueError
        For a non-positive size or an unknown method.
    """
    height, width = int(size[0]), int(size[1])
    if height <= 0 or width <= 0:
        raise ValueError(f"resize: expected a positive size, got {size}")
    if method not in _INTERP:
        raise ValueError(f"resize: unknown method {method!r}; expected one of {sorted(_INTERP)}")
    if arr.shape[:2] == (height, width):
        return arr
    out = cv2.resize(arr, (width, height), interpolation=_INTERP[method])
    if arr.ndim == 3 and out.ndim == 2:  # cv2 drops a trailing channel axis of size 1
        out = out[..., None]
    return out


def binarize(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Threshold a soft mask.

    Parameters
    ----------
    mask : array_like, shape (H, W)
        Soft mask, usually float32 in [0, 1].
    threshold : float, optional
        Pixels strictly above it become 1 (default 0.5).

    Returns
    -------
    ndarray, shape (H, W), float32
        Values in {0, 1}.
    """
    return (np.asarray(mask) > threshold).astype(np.float32)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation with a disc (Euclidean) structuring element.

    Parameters
    ----------
    mask : ndarray, shape (H, W)
        Mask; foreground is ``mask > 0.5``.
    radius : int
        Disc radius in pixels (the element is ``2 * radius + 1`` wide). ``radius <= 0`` only binarizes.

    Returns
    -------
    ndarray, shape (H, W), float32
        Values in {0, 1}; outside the image counts as background.
    """
    if radius <= 0:
        return binarize(mask)
    width = 2 * int(radius) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    return cv2.dilate((mask > 0.5).astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT,
                      borderValue=0).astype(np.float32)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion with a disc (Euclidean) structuring element.

    Parameters
    ----------
    mask : ndarray, shape (H, W)
        Mask; foreground is ``mask > 0.5``.
    radius : int
        Disc radius in pixels. ``radius <= 0`` only binarizes.

    Returns
    -------
    ndarray, shape (H, W), float32
        Values in {0, 1} (OpenCV's default border: the image edge does not erode).
    """
    if radius <= 0:
        return binarize(mask)
    width = 2 * int(radius) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    return cv2.erode((mask > 0.5).astype(np.uint8), disc).astype(np.float32)


def fg_ratio(mask: np.ndarray) -> float:
    """Foreground ratio as the field's evaluation scripts compute it.

    Parameters
    ----------
    mask : ndarray, shape (H, W)
        Mask in [0, 1].

    Returns
    -------
    float
        ``(mask > 0.5).sum() / (H * W)``, in [0, 1].

    References
    ----------
    .. [1] SamsungLabs image_harmonization, ``scripts/evaluate_model_fg_ratios.py``
       (https://github.com/SamsungLabs/image_harmonization).
    """
    return float((mask > 0.5).sum()) / float(mask.shape[0] * mask.shape[1])


def blend(foreground: np.ndarray, background: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Alpha-composite ``foreground * m + background * (1 - m)``.

    Parameters
    ----------
    foreground, background : ndarray, shape (H, W, 3), float
        Images on the same scale.
    mask : ndarray, shape (H, W) or (H, W, 1), float in [0, 1]
        Foreground weight ``m``.

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        The blend; exactly ``background`` where ``m == 0`` and exactly ``foreground`` where ``m == 1``.
    """
    weight = mask[..., None] if mask.ndim == 2 else mask
    out = foreground * weight + background * (1.0 - weight)
    # Exactness where the mask is hard: no rounding drift in the background or foreground.
    hard_bg = (mask == 0.0)
    hard_fg = (mask == 1.0)
    out[hard_bg] = background[hard_bg]
    out[hard_fg] = foreground[hard_fg]
    return out.astype(np.float32, copy=False)


def bbox(mask: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """Bounding box of a mask's foreground.

    Parameters
    ----------
    mask : ndarray, shape (H, W)
        Mask.
    threshold : float, optional
        Foreground is ``mask > threshold`` (default 0.5).

    Returns
    -------
    tuple of int (y0, x0, y1, x1) or None
        Half-open box (``mask[y0:y1, x0:x1]`` holds every foreground pixel); None when the mask is
        empty.
    """
    ys, xs = np.nonzero(mask > threshold)
    if ys.size == 0:
        return None
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1
