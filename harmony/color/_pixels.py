"""Shared plumbing of the masked colour-transfer kernels: input checks, gathers, scatter, affine maps.

Every kernel gathers the pixels it recolours (``target_mask > 0``) and the pixels its statistics come
from (``mask > 0.5``) as (N, 3) float32 rows, transforms the rows, and scatters them back with
:meth:`Region.scatter`, so its cost scales with the foreground, not the image.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..imageops import check_image, check_mask

PIXEL = np.dtype((np.void, 12))   # one float32 RGB pixel as a single item: 1-D gathers/scatters are fast
ONE_BITS = np.float32(1.0).view(np.uint32)   # 0x3F800000
CALCHIST_MAX = 2 ** 24   # cv2.calcHist counts in float32: exact for fewer items than this


class Region:
    """The gathered pixels of one transfer: what to transform, what to measure, and where to put it.

    Parameters
    ----------
    target, target_mask, reference, reference_mask : ndarray
        The kernel's inputs (float32 (H, W, 3) images and (H, W) masks in [0, 1]).

    Attributes
    ----------
    work : ndarray, shape (H, W), bool
        The target pixels that are recoloured (``target_mask > 0``).
    target_px : ndarray, shape (N, 3), float32
        The target's pixels under ``work``.
    weights : ndarray, shape (N,), float32
        Their mask values.
    target_stat : ndarray, shape (N,), bool
        Which of them enter the statistics (``weight > 0.5``).
    stat_index : ndarray or None
        ``flatnonzero(target_stat)``, None when every gathered pixel counts (``hard``).
    reference_px : ndarray, shape (M, 3), float32
        The reference's pixels with ``reference_mask > 0.5``.
    hard, binary : bool
        Every gathered weight is > 0.5 (``hard``) / exactly 1 (``binary``: the scatter needs no blend).

    Raises
    ------
    ValueError
        For inputs that break the contract, or an empty target or reference region.
    """

    __slots__ = ("work", "target_px", "target_stat", "stat_index", "reference_px", "weights", "hard", "binary")

    def __init__(self, target, target_mask, reference, reference_mask):
        check_image_fast(target, "target")
        check_mask_fast(target_mask, target.shape[:2], "target_mask")
        if reference is not target:   # the baselines pass the composite twice: check it once
            check_image_fast(reference, "reference")
        check_mask_fast(reference_mask, reference.shape[:2], "reference_mask")
        # gathers and the scatter use flat boolean masks (no index lists: numpy's 1-D boolean indexing
        # of 12-byte pixel items is about twice as fast as np.take/np.put, and needs no flatnonzero)
        self.reference_px = gather(reference, (reference_mask > 0.5).reshape(-1))  # (M, 3) statistics
        if len(self.reference_px) == 0:
            raise ValueError("reference_mask: the reference region is empty (no pixel > 0.5); "
                             "expected a non-empty region to take colour statistics from")
        self.work = target_mask > 0.0
        self.weights = target_mask.reshape(-1)[self.work.reshape(-1)]
        self.target_stat = self.weights > 0.5
        self.hard = bool(self.target_stat.all())
        self.binary = self.hard and bool(self.weights.min() == 1.0)   # every gathered weight is exactly 1
        self.stat_index = None if self.hard else np.flatnonzero(self.target_stat)
        if self.weights.size == 0 or (not self.hard and self.stat_index.size == 0):
            raise ValueError("target_mask: the target region is empty (no pixel > 0.5); "
                             "expected a non-empty foreground to recolour")
        self.target_px = gather(target, self.work.reshape(-1))   # (N, 3) float32, every pixel with m > 0

    def stat_px(self, values: np.ndarray) -> np.ndarray:
        """The rows of ``values`` that enter the statistics (``mask > 0.5``).

        Parameters
        ----------
        values : ndarray, shape (N, k)
            Rows aligned with ``target_px``.

        Returns
        -------
        ndarray, shape (N', k)
            ``values`` itself when every row counts.
        """
        return values if self.hard else np.take(values, self.stat_index, axis=0)

    def scatter(self, target: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Blend the transformed rows into a copy of the target.

        Parameters
        ----------
        target : ndarray, shape (H, W, 3), float32
            The kernel's target image.
        new : ndarray, shape (N, 3)
            The transformed ``target_px`` (a fresh array: it is clipped in place).

        Returns
        -------
        ndarray, shape (H, W, 3), float32
            ``new * m + target * (1 - m)`` on the gathered pixels, clipped to [0, 1]; the rest is the
            target, bit for bit.
        """
        out = target.copy()
        new = np.asarray(new, dtype=np.float32)
        np.clip(new, 0.0, 1.0, out=new)   # kernels hand over a fresh array: clip in place
        if not self.binary:
            weight = self.weights[:, None]
            mixed = np.clip(new * weight + self.target_px * (np.float32(1.0) - weight), 0.0, 1.0)
            new = np.where(weight == 1.0, new, mixed)
        rows = np.ascontiguousarray(new, dtype=np.float32).view(PIXEL).reshape(-1)
        out.reshape(-1).view(PIXEL)[self.work.reshape(-1)] = rows
        return out


def in_unit_range(values: np.ndarray) -> bool:
    """Whether every float32 of ``values`` is in [+0.0, 1.0], in ONE integer pass.

    The bit patterns of +0.0 ... 1.0 are the integers 0 ... 0x3F800000 in the same order, and every
    negative number (sign bit set, -0.0 included), +-inf and NaN has a larger pattern.

    Parameters
    ----------
    values : ndarray, float32
        Any shape.

    Returns
    -------
    bool
    """
    return bool(np.ascontiguousarray(values).reshape(-1).view(np.uint32).max() <= ONE_BITS)


def check_image_fast(image, name: str) -> None:
    """:func:`harmony.imageops.check_image` in one pass instead of four (see :func:`in_unit_range`).

    Anything the fast test does not pass (-0.0, an empty image, bad input) goes to ``check_image``,
    which accepts it or raises its usual ValueError.

    Parameters
    ----------
    image : ndarray
        Expected float32 (H, W, 3) in [0, 1].
    name : str
        Argument name for the error message.
    """
    if (isinstance(image, np.ndarray) and image.dtype == np.float32 and image.ndim == 3
            and image.shape[2] == 3 and image.size and in_unit_range(image)):
        return
    check_image(image, name)


def check_mask_fast(mask, shape, name: str) -> None:
    """:func:`harmony.imageops.check_mask` with the same one-pass range test as :func:`check_image_fast`.

    Parameters
    ----------
    mask : ndarray
        Expected float32 (H, W) in [0, 1].
    shape : tuple of int
        The image's (H, W).
    name : str
        Argument name for the error message.
    """
    if (isinstance(mask, np.ndarray) and mask.dtype == np.float32 and mask.ndim == 2
            and mask.shape == tuple(shape) and mask.size and in_unit_range(mask)):
        return
    check_mask(mask, shape, name)


def gather(image: np.ndarray, select: np.ndarray) -> np.ndarray:
    """The selected pixels of an image as rows.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
    select : ndarray, shape (H * W,), bool

    Returns
    -------
    ndarray, shape (N, 3), float32
    """
    flat = np.ascontiguousarray(image).reshape(-1).view(PIXEL)
    return flat[select].view(np.float32).reshape(-1, 3)


def affine(px: np.ndarray, matrix: np.ndarray, offset=None, dst: np.ndarray | None = None) -> np.ndarray:
    """``px @ matrix.T + offset`` for float32 rows, through ``cv2.transform`` (fast, float32).

    Parameters
    ----------
    px : ndarray, shape (N, 3)
        Rows to map.
    matrix : ndarray, shape (k, 3)
        The linear part.
    offset : ndarray, shape (k,), optional
        The translation.
    dst : ndarray, shape (N, k), float32, optional
        A buffer to write into (must not be ``px``), saving an allocation.

    Returns
    -------
    ndarray, shape (N, k), float32
    """
    full = np.asarray(matrix, dtype=np.float64)
    if offset is not None:
        full = np.hstack([full, np.asarray(offset, dtype=np.float64).reshape(-1, 1)])
    src = np.ascontiguousarray(px, dtype=np.float32).reshape(-1, 1, 3)
    if dst is not None:
        cv2.transform(src, full, dst=dst.reshape(-1, 1, full.shape[0]))
        return dst
    return cv2.transform(src, full).reshape(-1, full.shape[0])


def mean_cov(px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (N-1) of pixel rows, accumulated in float64 (OpenCV).

    Parameters
    ----------
    px : ndarray, shape (N, 3)

    Returns
    -------
    mean : ndarray, shape (3,), float64
    cov : ndarray, shape (3, 3), float64
        Zero for a single row.
    """
    count = len(px)
    cov, mean = cv2.calcCovarMatrix(np.ascontiguousarray(px, dtype=np.float32), None,
                                    cv2.COVAR_ROWS | cv2.COVAR_NORMAL | cv2.COVAR_SCALE, cv2.CV_64F)
    if count < 2:
        return mean.reshape(3), np.zeros((3, 3))
    return mean.reshape(3), cov * (count / (count - 1.0))


def channel_histogram(bins: np.ndarray, channel: int, mask: np.ndarray | None, size: int) -> np.ndarray:
    """Exact int64 counts of the values ``0 .. size-1`` of one channel of uint8 bin ids.

    ``cv2.calcHist`` counts in float32, exact below 2**24 pixels; larger sets use ``np.bincount``.

    Parameters
    ----------
    bins : ndarray, shape (1, N, 3), uint8
        Bin ids.
    channel : int
        Which channel to count.
    mask : ndarray, shape (1, N), uint8, optional
        Non-zero where a pixel counts.
    size : int
        Number of bins returned (<= 256).

    Returns
    -------
    ndarray, shape (size,), int64
    """
    if bins.shape[1] < CALCHIST_MAX:
        hist = cv2.calcHist([bins], [channel], mask, [256], [0, 256])
        return hist.reshape(-1)[:size].astype(np.int64)
    values = bins[0, :, channel] if mask is None else bins[0, :, channel][mask.reshape(-1).view(bool)]
    return np.bincount(values, minlength=256)[:size].astype(np.int64)
