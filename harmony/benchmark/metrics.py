"""Metric functions and the named evaluation protocols of image harmonization.

Each protocol follows one public evaluation script, named in its card's ``source``.

No two public evaluation scripts agree, so every number harmony reports is tied to a *protocol*, a
named recipe that reproduces one community script: how images and masks are resized, whether the mask
stays soft, which peak PSNR uses, which epsilon guards fMSE, what "MSE" means. Protocols:

``iharmony4``  DoveNet's official ``evaluation.py``: Pillow bicubic resize of uint8 images (rounded to
               uint8 by Pillow), mask converted to 1-bit first (so effectively nearest), MSE over all
               values, PSNR peak ``pred.max() - pred.min()`` (of the prediction), fMSE
               ``sum(m d^2) / (3 A)`` with no epsilon. The prediction is read back as an 8-bit file.
``iharm``      SamsungLabs iSSAM/iDIH (also CDTNet, DCCF, DucoNet, PCT-Net's base): OpenCV INTER_LINEAR
               resize (``Fixed256``), mask resized linearly and kept soft, prediction clamped to [0, 255]
               but not rounded, PSNR ``10 log10(gt.max()^2 / (MSE + 1e-6))``, fMSE
               ``sum(m d^2) / (3 A + 1e-6)``. The default, at 256.
``cdtnet``     as ``iharm`` (also square high resolutions); fPSNR ``10 log10(gt.max()^2/(fMSE + 1e-6))``;
               SSIM with a 7x7 Gaussian window (sigma 1.5, zero padding), ``R = pred.max() - pred.min()``;
               fSSIM per channel ``sum(ssim_map m) / sum(m)``, then the mean over channels.
``pctnet``     PCT-Net / AICT: no resize (``--size full``) or 256; "MSE" is ``mean(m d^2)`` over all
               H*W*3 values (foreground error only), PSNR peak 255 with epsilon 1e-6, SSIM from
               pytorch_msssim (11x11 Gaussian, sigma 1.5, valid convolution, data range 255) after
               pasting the prediction onto the ground-truth background.
``hdnet``      ``iharm`` except fMSE = full-image MSE * H*W / A (HDNet; differs when the background moves).
``diffharmony`` ``iharm`` after pasting the ground-truth background onto the prediction (DiffHarmony).

**One metric core** (in the style of torchmetrics' functional metrics): a pure step,
:func:`image_statistics`, computes an image's sufficient statistics in float64 (full squared-error sum,
foreground squared-error sum with the soft mask, foreground area, pixel count, the protocol's PSNR peak);
pure compute functions (:func:`mse_from_statistics`, :func:`fmse_from_statistics`,
:func:`fmse_hdnet_from_statistics`, :func:`psnr_from_mse`) turn them into MSE, fMSE, PSNR and fPSNR.
Every protocol (:meth:`Protocol.score_basic` = ``compute(statistics(...))``), the bench runner, training
validation (:func:`batch_metrics`), the studies and the ``METRICS`` registry call these functions; there
is no second copy. Sums are never accumulated in float32 (a float32 foreground sum is off by 0.1 fMSE
on a 256x256 image and by 1.0 at 2048 px). A :class:`Protocol` is built from validated choices
(``PROTOCOL_CHOICES``): an unknown value is an :class:`~harmony.errors.InputError` naming the field and
the allowed values.

Every array handled here is on the 0-255 scale, float, ``(H, W, 3)``; masks are ``(H, W)`` in [0, 1].
Let ``d = pred - gt``, ``m`` the mask and ``A = m.sum()``.

Where a script does not define a metric, harmony fills the column with a documented borrowed definition
(listed on each protocol's ``borrowed``): SSIM/fSSIM use CDTNet's definition, fPSNR uses the protocol's
own PSNR rule applied to fMSE. An empty mask makes fMSE, fPSNR and fSSIM undefined: they are NaN (never a
division warning), and the harness counts them. (iSSAM's epsilon would give 0 there, which biases the
mean; harmony reports NaN instead and says how many.)

Aggregation (as iSSAM's ``scripts/evaluate_model.py``): per-image values are averaged per subset; ``All`` is the mean over every image
(sample-weighted), not the mean of subset means. NaN values are left out of a mean and counted.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..errors import InputError
from ..registry import METRICS, PROTOCOLS, Card

__all__ = [
    "ImageStatistics", "image_statistics", "mse_from_statistics", "fmse_from_statistics",
    "fmse_hdnet_from_statistics", "background_mse_from_statistics", "psnr_from_mse", "batch_metrics",
    "mean_squared_error", "masked_mean_squared_error", "foreground_mse", "foreground_mse_hdnet",
    "peak_signal_noise_ratio", "ssim_map_gaussian", "structural_similarity_cdtnet",
    "structural_similarity_msssim", "background_drift", "fg_ratio", "Protocol", "Prepared", "PROTOCOL_CHOICES",
    "get_protocol", "protocol_names", "nan_mean", "FG_BUCKETS", "fg_bucket",
]

# --------------------------------------------------------------------------------------------------
# the metric core: one pure step (sufficient statistics, float64) + pure compute functions


PEAK_CHOICES = ("pred_range", "gt_max", "255")


def _check(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> None:
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(f"metrics: expected pred and gt of the same shape (H, W, 3), got {pred.shape} and "
                         f"{gt.shape}")
    if mask is not None and mask.shape != pred.shape[:2]:
        raise ValueError(f"metrics: expected a mask of shape {pred.shape[:2]}, got {mask.shape}")


@dataclass(frozen=True)
class ImageStatistics:
    """Per-image sufficient statistics of every squared-error metric (float64 sums, 0-255 scale).

    The ``_update`` half of a torchmetrics-style functional metric: every MSE/fMSE/PSNR variant of the
    protocols is a pure function of these five numbers.

    Parameters
    ----------
    sq_err_sum : float
        ``sum(d^2)`` over all ``H*W*3`` values, ``d = pred - gt``.
    fg_sq_err_sum : float
        ``sum(m d^2)`` with the (soft) mask broadcast over the 3 channels.
    fg_area : float
        ``A = sum(m)`` over the ``H*W`` pixels.
    pixels : int
        ``H*W``.
    peak : float
        The PSNR peak chosen by the protocol (``pred.max() - pred.min()``, ``gt.max()`` or 255).
    """

    sq_err_sum: float
    fg_sq_err_sum: float
    fg_area: float
    pixels: int
    peak: float

    @property
    def values(self) -> int:
        """Number of values ``H*W*3`` (the MSE denominator)."""
        return 3 * self.pixels


_LOCAL = threading.local()


def _buffer(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A per-thread reusable float64 buffer: a fresh 1.5 MB array per image costs page faults."""
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None:
        bufs = _LOCAL.bufs = {}
    buf = bufs.get(name)
    if buf is None or buf.shape != shape:
        buf = bufs[name] = np.empty(shape, np.float64)
    return buf


def _peak(peak: str, pred: np.ndarray, gt: np.ndarray) -> float:
    if peak == "gt_max":
        return float(np.max(gt))
    if peak == "pred_range":
        return float(np.max(pred)) - float(np.min(pred))
    if peak == "255":
        return 255.0
    raise InputError(f"psnr_peak: expected one of {', '.join(PEAK_CHOICES)}, got {peak!r}")


def image_statistics(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, *, peak: str = "gt_max"
                     ) -> ImageStatistics:
    """The pure step: sufficient statistics of one image pair, exact in float64.

    Parameters
    ----------
    pred, gt : ndarray, shape (H, W, 3)
        Prediction and ground truth on the 0-255 scale, any float or integer dtype.
        Widened to float64 before the subtraction, so no sum is accumulated in float32.
    mask : ndarray, shape (H, W)
        Foreground weights in [0, 1] (soft values allowed).
        SamsungLabs iSSAM keeps the linearly resized mask soft.
    peak : {"gt_max", "pred_range", "255"}, optional
        ``"gt_max"`` (iSSAM/CDTNet, default), ``"pred_range"`` (DoveNet's ``evaluation.py``) or ``"255"``
        (PCT-Net).

    Returns
    -------
    ImageStatistics
        The sums every metric of this module is computed from (:func:`mse_from_statistics`,
        :func:`fmse_from_statistics`, :func:`psnr_from_mse`).

    Raises
    ------
    harmony.errors.InputError
        For mismatched shapes or an unknown ``peak``.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    mask = np.asarray(mask)
    _check(pred, gt, mask)
    peak_value = _peak(peak, pred, gt)
    d = _buffer("d", pred.shape)
    np.subtract(pred, gt, out=d, dtype=np.float64)
    flat = d.reshape(-1)
    full = float(np.dot(flat, flat))
    np.multiply(d, d, out=d)
    m = _buffer("m", mask.shape)
    m[...] = mask
    fg = float((m.reshape(-1) @ d.reshape(-1, 3)).sum())
    area = float(m.sum())
    return ImageStatistics(full, fg, area, int(mask.shape[0] * mask.shape[1]), peak_value)


def mse_from_statistics(stats: ImageStatistics, *, foreground_only: bool = False) -> float:
    """MSE from the statistics.

    Parameters
    ----------
    stats : ImageStatistics
        From :func:`image_statistics`.
    foreground_only : bool, optional
        PCT-Net's "MSE", ``sum(m d^2) / (H*W*3)`` (foreground error only). Default False:
        ``sum(d^2) / (H*W*3)``.

    Returns
    -------
    float
        On the 0-255 scale (squared), >= 0.
    """
    return (stats.fg_sq_err_sum if foreground_only else stats.sq_err_sum) / stats.values


def fmse_from_statistics(stats: ImageStatistics, *, eps: float = 0.0) -> float:
    """Foreground MSE ``sum(m d^2) / (3 A + eps)``.

    iSSAM's epsilon alone would give 0 on an empty mask, which biases a mean; harmony reports NaN and
    counts it.

    Parameters
    ----------
    stats : ImageStatistics
        From :func:`image_statistics`.
    eps : float, optional
        0 for iharmony4 (default), 1e-6 for iharm / cdtnet / pctnet.

    Returns
    -------
    float
        >= 0; NaN when the mask is empty (A = 0), whatever ``eps``.
    """
    if not stats.fg_area > 0.0:
        return math.nan
    return stats.fg_sq_err_sum / (3.0 * stats.fg_area + eps)


def fmse_hdnet_from_statistics(stats: ImageStatistics) -> float:
    """HDNet's fMSE: full-image MSE * H*W / A = ``sum(d^2) / (3 A)``.

    Parameters
    ----------
    stats : ImageStatistics
        From :func:`image_statistics`.

    Returns
    -------
    float
        >= 0; NaN for an empty mask.
    """
    if not stats.fg_area > 0.0:
        return math.nan
    return (stats.sq_err_sum / stats.values) * stats.pixels / stats.fg_area


def background_mse_from_statistics(stats: ImageStatistics) -> float:
    """Background MSE ``sum((1 - m) d^2) / (3 sum(1 - m))``.

    Parameters
    ----------
    stats : ImageStatistics
        From :func:`image_statistics`.

    Returns
    -------
    float
        >= 0; NaN when the mask covers the whole image.
    """
    area = stats.pixels - stats.fg_area
    if not area > 0.0:
        return math.nan
    return max(stats.sq_err_sum - stats.fg_sq_err_sum, 0.0) / (3.0 * area)


def psnr_from_mse(mse: float, peak: float, *, eps: float = 0.0) -> float:
    """PSNR ``10 log10(peak^2 / (mse + eps))`` in dB. No warning is emitted for the degenerate cases.

    Parameters
    ----------
    mse : float
        Mean squared error on the 0-255 scale.
    peak : float
        The protocol's peak (:attr:`ImageStatistics.peak`).
    eps : float, optional
        Added to ``mse`` (1e-6 for iharm / cdtnet / pctnet; default 0).

    Returns
    -------
    float
        +inf for a zero error without eps, -inf for a zero peak, NaN for a NaN or infinite ``mse``.
    """
    if not np.isfinite(mse):
        return math.nan
    denom = mse + eps
    num = float(peak) ** 2
    if denom <= 0.0:
        return math.inf if num > 0 else math.nan
    if num <= 0.0:
        return -math.inf
    return 10.0 * math.log10(num / denom)


# --- the classic function names, each one line over the core -------------------------------------

def mean_squared_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """MSE ``mean(d^2)`` over all H*W*3 values (iharmony4, iharm, cdtnet).

    Parameters
    ----------
    pred, gt : ndarray, shape (H, W, 3)
        Prediction and ground truth on the 0-255 scale, any float or integer dtype.

    Returns
    -------
    float
    """
    _check(pred, gt)
    return mse_from_statistics(image_statistics(pred, gt, np.zeros(pred.shape[:2], np.float32)))


def masked_mean_squared_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """PCT-Net's "MSE": ``mean(m d^2)`` over all H*W*3 values (foreground error only).

    Parameters
    ----------
    pred, gt : ndarray, shape (H, W, 3)
        Prediction and ground truth on the 0-255 scale, any float or integer dtype.
    mask : ndarray, shape (H, W)
        Foreground weights in [0, 1] (soft values allowed).

    Returns
    -------
    float
    """
    return mse_from_statistics(image_statistics(pred, gt, mask), foreground_only=True)


def foreground_mse(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, *, eps: float = 0.0) -> float:
    """fMSE ``sum(m d^2) / (3 A + eps)``.

    Parameters
    ----------
    pred, gt : ndarray, shape (H, W, 3)
        Prediction and ground truth on the 0-255 scale, any float or integer dtype.
    mask : ndarray, shape (H, W)
        Foreground weights in [0, 1] (soft values allowed).
    eps : float, optional
        0 for iharmony4 (default), 1e-6 for iharm / cdtnet / pctnet.

    Returns
    -------
    float
        NaN when the mask is empty (A = 0), whatever ``eps``.
    """
    return fmse_from_statistics(image_statistics(pred, gt, mask), eps=eps)


def foreground_mse_hdnet(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """HDNet's fMSE: full-image MSE * H*W / A (equals fMSE only when the background is unchanged).

    Parameters
    ----------
    pred, gt : ndarray, shape (H, W, 3)
        Prediction and ground truth on the 0-255 scale, any float or integer dtype.
    mask : ndarray, shape (H, W)
        Foreground weights in [0, 1] (soft values allowed).

    Returns
    -------
    float
        NaN for an empty mask.
    """
    return fmse_hdnet_from_statistics(image_statistics(pred, gt, mask))


def peak_signal_noise_ratio(mse: float, peak: float, *, eps: float = 0.0) -> float:
    """PSNR ``10 log10(peak^2 / (mse + eps))`` in dB (the classic name of :func:`psnr_from_mse`).

    Parameters
    ----------
    mse : float
    peak : float
    eps : float, optional

    Returns
    -------
    float
    """
    return psnr_from_mse(mse, peak, eps=eps)


def background_drift(pred: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared change outside the mask, ``sum((1-m) d^2) / (3 sum(1-m))`` (a diagnostic).

    With the composite as reference it measures how much a method altered the background (0 for
    methods that keep it).

    Parameters
    ----------
    pred, reference : ndarray, shape (H, W, 3)
        Prediction and the reference (usually the composite), 0-255 scale.
    mask : ndarray, shape (H, W)
        Foreground weights in [0, 1] (soft values allowed).

    Returns
    -------
    float
        NaN when the mask covers the whole image.
    """
    # The complement as the mask: the background sum is then accumulated directly (exactly 0 for a method
    # that keeps the background), not as a difference of two large sums.
    mask = np.asarray(mask)
    _check(np.asarray(pred), np.asarray(reference), mask)
    return fmse_from_statistics(image_statistics(pred, reference, 1.0 - mask.astype(np.float64)))


def batch_metrics(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, *, protocol: str = "iharm"
                  ) -> dict[str, np.ndarray]:
    """Per-image MSE, PSNR, fMSE, fPSNR of a batch under a named protocol's formulas (no resize).

    Training validation uses it so that its numbers are the benchmark's.

    Parameters
    ----------
    pred, gt : ndarray, shape (N, H, W, 3)
        0-255 scale.
    mask : ndarray, shape (N, H, W)
        In [0, 1].
    protocol : str, optional
        A registered protocol name (default ``"iharm"``).

    Returns
    -------
    dict of str to ndarray, each shape (N,), float64
        Keys ``mse``, ``psnr``, ``fmse``, ``fpsnr`` (fMSE / fPSNR NaN for an empty mask).

    Raises
    ------
    harmony.errors.InputError
        For an unknown protocol.
    """
    proto = get_protocol(protocol)
    rows = [proto.compute(proto.statistics(p, g, m)) for p, g, m in zip(pred, gt, mask)]
    return {k: np.array([r[k] for r in rows], np.float64) for k in ("mse", "psnr", "fmse", "fpsnr")}


def fg_ratio(mask: np.ndarray) -> float:
    """Foreground ratio ``(mask > 0.5).sum() / (H*W)``, computed after the protocol's resize.

    Parameters
    ----------
    mask : ndarray, shape (H, W)

    Returns
    -------
    float
        In [0, 1].

    References
    ----------
    .. [1] SamsungLabs image_harmonization, ``scripts/evaluate_model_fg_ratios.py``.
    """
    return float(np.count_nonzero(mask > 0.5)) / float(mask.shape[0] * mask.shape[1])


# Foreground-ratio buckets (BargainNet supplement Table 1, iSSAM evaluate_model_fg_ratios.py): inclusive
# at both ends, so a ratio of exactly 5 % falls in both the first and the second bucket.
FG_BUCKETS: tuple[tuple[str, float, float], ...] = (("0%-5%", 0.0, 0.05), ("5%-15%", 0.05, 0.15),
                                                    ("15%-100%", 0.15, 1.0))


def fg_bucket(ratio: float) -> list[str]:
    """Names of the foreground-ratio buckets a ratio belongs to (both ends inclusive).

    Parameters
    ----------
    ratio : float
        In [0, 1].

    Returns
    -------
    list of str
        Among ``"0%-5%"``, ``"5%-15%"``, ``"15%-100%"``; a ratio of exactly 0.05 or 0.15 is in two.

    References
    ----------
    .. [1] Cong et al., *BargainNet*, ICME 2021, supplement Table 1.
    """
    return [name for name, lo, hi in FG_BUCKETS if lo <= ratio <= hi]


# --- SSIM ----------------------------------------------------------------------------------------

def _gauss_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian window, float64 (``size``,): OpenCV's ``getGaussianKernel``.

    Taps ``exp(-(i - (size - 1) / 2)^2 / (2 sigma^2))``, summing to 1 (the window of pytorch-ssim and
    pytorch_msssim, whose sizes are odd).
    """
    return cv2.getGaussianKernel(size, sigma, ktype=cv2.CV_64F).ravel()


_CENTRE = 128.0


def _planes_filter(planes: list[np.ndarray], kernel: np.ndarray) -> np.ndarray:
    """Zero-padded 'same' separable filtering of several (H, W) planes in ONE OpenCV call.

    The planes are stacked vertically with ``r = len(kernel) // 2`` zero rows between them: with zero
    padding, a plane's result then equals filtering it alone (the gaps are the padding), and every plane
    stays contiguous, which keeps the element-wise arithmetic that follows fast. Returns (P, H, W).
    """
    h, w = planes[0].shape
    r = kernel.size // 2
    n = len(planes)
    buf = np.zeros((n * (h + r) + r, w), np.float32)
    view = buf[r:].reshape(n, h + r, w)[:, :h]
    for i, plane in enumerate(planes):
        view[i] = plane
    out = cv2.sepFilter2D(buf, -1, kernel.astype(np.float32), kernel.astype(np.float32),
                          borderType=cv2.BORDER_CONSTANT)
    return out[r:].reshape(n, h + r, w)[:, :h]


def _window_mass(n: int, kernel: np.ndarray) -> np.ndarray:
    """Sum of the kernel taps that fall inside [0, n) at each position (exactly 1 in the interior)."""
    r = kernel.size // 2
    out = np.ones(n, np.float64)
    for i in list(range(min(r, n))) + list(range(max(n - r, r), n)):
        lo, hi = max(0, r - i), min(kernel.size, r + n - i)
        out[i] = kernel[lo:hi].sum()
    return out


def ssim_map_gaussian(pred: np.ndarray, gt: np.ndarray, *, data_range: float, window: int = 7,
                      sigma: float = 1.5, valid: bool = False, k1: float = 0.01, k2: float = 0.03
                      ) -> np.ndarray:
    """Per-channel SSIM map with a normalised Gaussian window.

    Biased (population) variances, ``C1 = (k1 R)^2``, ``C2 = (k2 R)^2``. Computed in float32 for speed on
    data centred at 128 (so ``E[x^2] - mu^2`` does not cancel catastrophically); the zero padding's
    effect on the centring is corrected exactly with the window mass at the borders. Agrees with a
    float64 evaluation to ~1e-7 on 0-255 images. Kept instead of ``skimage.metrics.structural_similarity``
    because it is measured faster and gives fSSIM from the same map: at 256x256, SSIM + fSSIM here take
    2.4x less CPU time than scikit-image's SSIM alone (its default 7x7 uniform window) and 3.6x less than
    scikit-image's Gaussian-window SSIM map plus fSSIM (``benchmarks/bench_ssim.py``, medians of
    interleaved rounds, one thread; figures in BENCHMARKS.md).

    Parameters
    ----------
    pred, gt : ndarray, shape (H, W, 3)
        Prediction and ground truth on the 0-255 scale, any float or integer dtype.
    data_range : float
        ``R`` in the constants.
    window : int, optional
        Odd window size (default 7); the window is ``cv2.getGaussianKernel(window, sigma)``.
    sigma : float, optional
        Gaussian sigma (default 1.5).
    valid : bool, optional
        False (default): zero-padded 'same' convolution (pytorch-ssim style, CDTNet). True: no padding,
        the map shrinks by ``window - 1`` (pytorch_msssim, PCT-Net).
    k1, k2 : float, optional
        SSIM constants (0.01, 0.03).

    Returns
    -------
    ndarray, shape (3, H, W) or (3, H - window + 1, W - window + 1), float32
        SSIM values, at most 1.

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, *Image quality assessment: from error
       visibility to structural similarity*, IEEE TIP 2004.
    """
    _check(pred, gt)
    c = np.float32(_CENTRE)
    x = np.moveaxis(np.asarray(pred, dtype=np.float32), 2, 0) - c
    y = np.moveaxis(np.asarray(gt, dtype=np.float32), 2, 0) - c
    kernel = _gauss_1d(window, sigma)
    f = _planes_filter([*x, *y, *(x * x), *(y * y), *(x * y)], kernel)
    a, b, xx, yy, xy = f[0:3], f[3:6], f[6:9], f[9:12], f[12:15]
    s1 = xx - a * a
    s2 = yy - b * b
    s12 = xy - a * b
    h, w = pred.shape[:2]
    if valid:
        r = window // 2
        crop = (slice(None), slice(r, h - r), slice(r, w - r))
        a, b, s1, s2, s12 = a[crop], b[crop], s1[crop], s2[crop], s12[crop]
        mu1, mu2 = a + c, b + c
    else:
        wmass = np.outer(_window_mass(h, kernel), _window_mass(w, kernel)).astype(np.float32)
        mu1, mu2 = a + c * wmass, b + c * wmass
        r = window // 2
        # E[x^2] = XX + 2cA + c^2 W, mu = A + cW  =>  var = XX - A^2 + (1 - W)(2cA + c^2 W): the extra
        # term vanishes where W = 1, so it is applied to the border strips only.
        strips = [(slice(0, r), slice(None)), (slice(h - r, h), slice(None)),
                  (slice(r, h - r), slice(0, r)), (slice(r, h - r), slice(w - r, w))]
        for sy, sx in strips:
            wm = wmass[sy, sx]
            om = 1.0 - wm
            aa, bb = a[:, sy, sx], b[:, sy, sx]
            s1[:, sy, sx] += om * (2 * c * aa + c * c * wm)
            s2[:, sy, sx] += om * (2 * c * bb + c * c * wm)
            s12[:, sy, sx] += om * (c * (aa + bb) + c * c * wm)
    c1 = np.float32((k1 * data_range) ** 2)
    c2 = np.float32((k2 * data_range) ** 2)
    num = mu1 * mu2
    num *= 2
    num += c1
    s12 *= 2
    s12 += c2
    num *= s12
    s1 += s2
    s1 += c2
    den = mu1 * mu1
    den += mu2 * mu2
    den += c1
    den *= s1
    with np.errstate(divide="ignore", invalid="ignore"):
        num /= den
    return num


def structural_similarity_cdtnet(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None
                                 ) -> tuple[float, float]:
    """CDTNet's (SSIM, fSSIM): 7x7 Gaussian (sigma 1.5), zero padding, ``R = pred.max() - pred.min()``.

    SSIM is the mean of the map; fSSIM is, per channel, ``sum(map m) / sum(m)``, then the mean over
    channels. Hand-written (:func:`ssim_map_gaussian`) rather than scikit-image's
    ``structural_similarity`` because it is 2.4x faster in CPU time than scikit-image's SSIM alone
    (``benchmarks/bench_ssim.py``, BENCHMARKS.md).

    Parameters
    ----------
    pred, gt : ndarray, shape (H, W, 3)
        Prediction and ground truth on the 0-255 scale, any float or integer dtype.
    mask : ndarray, shape (H, W), optional
        In [0, 1]; without it fSSIM is NaN.

    Returns
    -------
    ssim : float
    fssim : float
        NaN for an empty or absent mask.
    """
    pred = np.asarray(pred)
    r = float(pred.max()) - float(pred.min())
    smap = ssim_map_gaussian(pred, gt, data_range=r, window=7, sigma=1.5, valid=False)
    flat = smap.reshape(3, -1)
    ssim = float(flat.mean(dtype=np.float64))
    fssim = math.nan
    if mask is not None:
        area = float(mask.sum(dtype=np.float64))
        if area > 0:
            per_channel = (flat @ mask.reshape(-1).astype(np.float32)).astype(np.float64) / area
            fssim = float(per_channel.mean())
    return ssim, fssim


def structural_similarity_msssim(pred: np.ndarray, gt: np.ndarray, *, data_range: float = 255.0,
                                 window: int = 11, sigma: float = 1.5) -> float:
    """pytorch_msssim's ``ssim``: valid 11x11 Gaussian, data range 255; per-channel mean, then mean.

    Parameters
    ----------
    pred, gt : ndarray, shape (H, W, 3)
        Prediction and ground truth on the 0-255 scale, any float or integer dtype.
    data_range : float, optional
        Default 255.
    window : int, optional
        Default 11.
    sigma : float, optional
        Default 1.5.

    Returns
    -------
    float
        NaN when the image is smaller than the window (pytorch_msssim refuses such images).
    """
    if min(pred.shape[0], pred.shape[1]) < window:
        return math.nan   # the valid convolution has no output (pytorch_msssim refuses such images)
    smap = ssim_map_gaussian(pred, gt, data_range=data_range, window=window, sigma=sigma, valid=True)
    return float(smap.reshape(3, -1).mean(axis=1, dtype=np.float64).mean())


def nan_mean(values: Sequence[float] | np.ndarray) -> tuple[float, int, int]:
    """Mean that leaves NaN out and counts it, without numpy's empty-slice warnings.

    Parameters
    ----------
    values : sequence of float or ndarray

    Returns
    -------
    mean : float
        Of the non-NaN values (infinities included); NaN when there is none.
    used : int
        Count of values used.
    nan : int
        Count of NaN values.
    """
    a = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(a)
    n = int(ok.sum())
    if n == 0:
        return math.nan, 0, int(a.size)
    with np.errstate(invalid="ignore"):
        return float(a[ok].mean()), n, int(a.size - n)


# --------------------------------------------------------------------------------------------------
# protocols


@dataclass
class Prepared:
    """One image pair brought to a protocol's evaluation resolution (:meth:`Protocol.prepare`).

    Parameters
    ----------
    composite : ndarray, shape (H, W, 3), float32
        The method's input, in [0, 1].
    mask : ndarray, shape (H, W), float32
        In [0, 1], as the protocol uses it (binary for iharmony4, soft for iharm).
    real : ndarray, shape (H, W, 3), float32, or None
        Ground truth on the 0-255 scale; None for unpaired data.
    composite255 : ndarray, shape (H, W, 3), float32
        The composite on the 0-255 scale.
    """

    composite: np.ndarray
    mask: np.ndarray
    real: np.ndarray | None
    composite255: np.ndarray


def _parse_size(size: Any) -> int | None:
    if size in (None, 0, "0", "full", "none", "None"):
        return None
    try:
        s = int(size)
    except (TypeError, ValueError):
        raise ValueError(f"size: expected a positive integer or 'full', got {size!r}") from None
    if s <= 0:
        raise ValueError(f"size: expected a positive integer or 'full', got {size!r}")
    return s


def resize_pil_bicubic(img_u8: np.ndarray, size: int) -> np.ndarray:
    """Pillow ``resize((S, S), BICUBIC)`` of a uint8 RGB array, as DoveNet's ``evaluation.py``.

    Parameters
    ----------
    img_u8 : ndarray, shape (H, W, 3), uint8
    size : int
        Target side S.

    Returns
    -------
    ndarray, shape (S, S, 3), uint8
        Rounded to uint8 by Pillow; the input itself when already S x S.
    """
    from PIL import Image

    if img_u8.shape[:2] == (size, size):
        return img_u8
    return np.asarray(Image.fromarray(img_u8, "RGB").resize((size, size), Image.BICUBIC))


def mask_pil_1bit(mask: np.ndarray, size: int | None) -> np.ndarray:
    """DoveNet ``evaluation.py``'s mask: ``convert('1')`` (Pillow's default dithering), then resize.

    Pillow resizes mode ``1`` with NEAREST whatever filter is asked.

    Parameters
    ----------
    mask : ndarray, shape (H, W)
        In [0, 1].
    size : int or None
        Target side; None keeps the size.

    Returns
    -------
    ndarray, float32
        Values in {0, 1}.
    """
    from PIL import Image

    u8 = np.clip(np.rint(np.asarray(mask, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    im = Image.fromarray(u8, "L").convert("1")
    if size is not None and im.size != (size, size):
        im = im.resize((size, size), Image.BICUBIC)  # Pillow uses NEAREST for mode '1' whatever is asked
    return np.asarray(im, dtype=np.float32)


def resize_cv2_linear(img: np.ndarray, size: int) -> np.ndarray:
    """albumentations ``Resize(S, S)`` = ``cv2.resize(..., INTER_LINEAR)`` (iSSAM's ``Fixed256``).

    Parameters
    ----------
    img : ndarray, shape (H, W) or (H, W, 3)
        uint8 stays uint8 (rounded by OpenCV); float stays float.
    size : int
        Target side S.

    Returns
    -------
    ndarray, shape (S, S) or (S, S, 3)
        The input itself when already S x S.
    """
    if img.shape[:2] == (size, size):
        return img
    out = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    return out


# The validated choices of a Protocol's fields (anything else is an error naming the field).
PROTOCOL_CHOICES: dict[str, tuple[str, ...]] = {
    "resize": ("pil_bicubic_1bit", "cv2_linear_soft"),
    "mse": ("full", "masked"),
    "psnr_peak": PEAK_CHOICES,
    "fmse": ("masked", "hdnet"),
    "ssim": ("cdtnet", "msssim"),
}


@dataclass(frozen=True)
class Protocol:
    """A named evaluation recipe: ``prepare`` -> run the method -> ``prediction`` -> ``score``.

    Each protocol reproduces one public evaluation script; invalid field values raise
    :class:`harmony.errors.InputError` naming the field.

    Parameters
    ----------
    name, summary : str
        Registry name and one-line description.
    resize : {"pil_bicubic_1bit", "cv2_linear_soft"}
        DoveNet ``evaluation.py``'s Pillow rule, or iSSAM's OpenCV linear rule with a soft mask.
    default_size : int or None
        Square evaluation side; None = full resolution.
    mse : {"full", "masked"}
        ``"masked"`` is PCT-Net's foreground-only MSE.
    psnr_peak : {"gt_max", "pred_range", "255"}
    psnr_eps, fmse_eps : float
        Epsilons (>= 0) of PSNR and fMSE.
    fmse : {"masked", "hdnet"}
    ssim : {"cdtnet", "msssim"}
    defines_ssim : bool
        The script reports SSIM (else computed only when asked: costly).
    paste_background : bool
        Paste the ground-truth background onto the prediction before scoring (DiffHarmony).
    round_prediction : bool
        The prediction is read back as an 8-bit file (iharmony4).
    borrowed : tuple of str
        Metrics the script does not define, filled by harmony.
    source : str
        The script followed.
    details : tuple of str
        One line per rule, shown by ``harmony bench --explain``.
    """

    name: str
    summary: str
    resize: str                 # "pil_bicubic_1bit" | "cv2_linear_soft"
    default_size: int | None    # None = full resolution
    mse: str = "full"           # "full" | "masked" (pctnet)
    psnr_peak: str = "gt_max"   # "pred_range" | "gt_max" | "255"
    psnr_eps: float = 1e-6
    fmse: str = "masked"        # "masked" | "hdnet"
    fmse_eps: float = 1e-6
    ssim: str = "cdtnet"        # "cdtnet" | "msssim"
    defines_ssim: bool = False       # the script reports SSIM (else computed only when asked: costly)
    paste_background: bool = False   # paste gt background onto the prediction before scoring
    round_prediction: bool = False   # the prediction is read back as an 8-bit file
    borrowed: tuple[str, ...] = ()
    source: str = ""
    details: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name, allowed in PROTOCOL_CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise InputError(f"Protocol {self.name!r}: field {name}: expected one of {', '.join(allowed)}, "
                                 f"got {value!r}")
        for name in ("psnr_eps", "fmse_eps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not (value >= 0.0):
                raise InputError(f"Protocol {self.name!r}: field {name}: expected a number >= 0, got {value!r}")
        if self.default_size is not None and (not isinstance(self.default_size, int) or self.default_size <= 0):
            raise InputError(f"Protocol {self.name!r}: field default_size: expected a positive integer or None, "
                             f"got {self.default_size!r}")

    # -- preparation ---------------------------------------------------------------------------
    def prepare(self, composite_u8: np.ndarray, mask: np.ndarray, real_u8: np.ndarray | None,
                size: Any) -> Prepared:
        """Resize composite, mask and real image by this protocol's rule.

        Parameters
        ----------
        composite_u8 : ndarray, shape (H, W, 3), uint8
        mask : ndarray, shape (H, W), float in [0, 1]
        real_u8 : ndarray, shape (H, W, 3), uint8, or None
        size : int, "full" or None
            Square evaluation side; "full"/None/0 keeps the resolution.

        Returns
        -------
        Prepared

        Raises
        ------
        ValueError
            For a size that is not a positive integer or "full".
        """
        s = _parse_size(size)
        if self.resize == "pil_bicubic_1bit":
            m = mask_pil_1bit(mask, s)
            comp = resize_pil_bicubic(composite_u8, s) if s else composite_u8
            real = (resize_pil_bicubic(real_u8, s) if s else real_u8) if real_u8 is not None else None
        else:
            m = np.asarray(mask, dtype=np.float32)
            if s:
                m = resize_cv2_linear(m, s)
                comp = resize_cv2_linear(composite_u8, s)
                real = resize_cv2_linear(real_u8, s) if real_u8 is not None else None
            else:
                comp, real = composite_u8, real_u8
            # linear interpolation is a convex combination: a [0, 1] mask stays in [0, 1] (no clip needed)
            m = m.astype(np.float32, copy=False)
        # division (not a multiply by 1/255) so that x / 255 * 255 gives x back exactly in float32
        comp_f = comp.astype(np.float32) / np.float32(255.0)
        return Prepared(comp_f, m, None if real is None else real.astype(np.float32), comp.astype(np.float32))

    def upsample(self, pred01: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Bilinear upsampling of a low-resolution-only method's output to the evaluation size.

        Parameters
        ----------
        pred01 : ndarray, shape (h, w, 3), float32 in [0, 1]
        shape : tuple of int
            ``(H, W)``.

        Returns
        -------
        ndarray, shape (H, W, 3), float32
            Clipped to [0, 1].
        """
        if pred01.shape[:2] == tuple(shape):
            return pred01
        out = cv2.resize(pred01, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)

    def prediction(self, pred01: np.ndarray) -> np.ndarray:
        """Method output to the 0-255 array the script scores (rounded where the script reads 8-bit files).

        Parameters
        ----------
        pred01 : ndarray, shape (H, W, 3), float in [0, 1]

        Returns
        -------
        ndarray, shape (H, W, 3), float32
            In [0, 255].
        """
        p = np.asarray(pred01, dtype=np.float32) * np.float32(255.0)
        if self.round_prediction:
            np.rint(p, out=p)
        return np.clip(p, 0.0, 255.0, out=p)

    # -- scoring -------------------------------------------------------------------------------
    def peak(self, pred: np.ndarray, gt: np.ndarray) -> float:
        """The PSNR peak this protocol uses for one image.

        Parameters
        ----------
        pred, gt : ndarray, shape (H, W, 3)
            Prediction and ground truth on the 0-255 scale, any float or integer dtype.

        Returns
        -------
        float
        """
        return _peak(self.psnr_peak, pred, gt)

    def statistics(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> ImageStatistics:
        """The pure step under this protocol: background pasted first where it says so, its peak.

        Parameters
        ----------
        pred, gt : ndarray, shape (H, W, 3)
            Prediction and ground truth on the 0-255 scale, any float or integer dtype.
        mask : ndarray, shape (H, W)
            Foreground weights in [0, 1] (soft values allowed).

        Returns
        -------
        ImageStatistics
        """
        _check(pred, gt, mask)
        if self.paste_background:
            pred = _paste(pred, gt, mask)
        return image_statistics(pred, gt, mask, peak=self.psnr_peak)

    def compute(self, stats: ImageStatistics) -> dict[str, float]:
        """The compute step: metrics from the statistics.

        Parameters
        ----------
        stats : ImageStatistics
            From :func:`image_statistics`.

        Returns
        -------
        dict of str to float
            ``mse``, ``psnr``, ``fmse``, ``fpsnr``, ``se`` (``sum(m d^2)``) and ``mask_area`` (A).
        """
        mse = mse_from_statistics(stats, foreground_only=self.mse == "masked")
        if self.fmse == "hdnet":
            fmse = fmse_hdnet_from_statistics(stats)
        else:
            fmse = fmse_from_statistics(stats, eps=self.fmse_eps)
        return {"mse": mse, "psnr": psnr_from_mse(mse, stats.peak, eps=self.psnr_eps), "fmse": fmse,
                "fpsnr": psnr_from_mse(fmse, stats.peak, eps=self.psnr_eps), "se": stats.fg_sq_err_sum,
                "mask_area": stats.fg_area}

    def score_basic(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        """MSE, PSNR, fMSE, fPSNR of one image: ``compute(statistics(...))``.

        Parameters
        ----------
        pred, gt : ndarray, shape (H, W, 3)
            Prediction and ground truth on the 0-255 scale, any float or integer dtype.
        mask : ndarray, shape (H, W)
            Foreground weights in [0, 1] (soft values allowed).

        Returns
        -------
        dict of str to float
            As :meth:`compute`.
        """
        return self.compute(self.statistics(pred, gt, mask))

    def score_ssim(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        """SSIM and fSSIM of one image under this protocol's SSIM definition.

        ``msssim`` (PCT-Net): pytorch_msssim's SSIM after pasting the prediction onto the ground-truth
        background, fSSIM from CDTNet's map of the same pasted image. ``cdtnet``: CDTNet's SSIM and fSSIM
        (background pasted first when the protocol says so).

        Parameters
        ----------
        pred, gt : ndarray, shape (H, W, 3)
            Prediction and ground truth on the 0-255 scale, any float or integer dtype.
        mask : ndarray, shape (H, W)
            Foreground weights in [0, 1] (soft values allowed).

        Returns
        -------
        dict of str to float
            ``ssim`` and ``fssim`` (NaN for an empty mask).
        """
        if self.ssim == "msssim":
            pasted = _paste(pred, gt, mask)
            ssim = structural_similarity_msssim(pasted, gt)
            _, fssim = structural_similarity_cdtnet(pasted, gt, mask)
            return {"ssim": ssim, "fssim": fssim}
        if self.paste_background:
            pred = _paste(pred, gt, mask)
        ssim, fssim = structural_similarity_cdtnet(pred, gt, mask)
        return {"ssim": ssim, "fssim": fssim}

    def score(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, *, ssim: bool | None = True
              ) -> dict[str, float]:
        """Every metric for one image.

        Parameters
        ----------
        pred, gt : ndarray, shape (H, W, 3)
            Prediction and ground truth on the 0-255 scale, any float or integer dtype.
        mask : ndarray, shape (H, W)
            Foreground weights in [0, 1] (soft values allowed).
            As prepared by :meth:`prepare`.
        ssim : bool or None, optional
            True (default) computes SSIM / fSSIM, False leaves them NaN, None follows ``defines_ssim``.

        Returns
        -------
        dict of str to float
            :meth:`score_basic`'s keys plus ``ssim`` and ``fssim``.
        """
        out = self.score_basic(pred, gt, mask)
        if ssim is None:
            ssim = self.defines_ssim
        if ssim:
            out.update(self.score_ssim(pred, gt, mask))
        else:
            out.update({"ssim": math.nan, "fssim": math.nan})
        return out

    def explain(self) -> str:
        """A human-readable description: summary, rules, borrowed metrics and the script followed.

        Returns
        -------
        str
            Several lines (``harmony bench --explain``).
        """
        lines = [f"{self.name}: {self.summary}"]
        lines += [f"  {d}" for d in self.details]
        if self.borrowed:
            lines.append(f"  not defined by the script, filled by harmony: {', '.join(self.borrowed)} "
                         "(SSIM/fSSIM: CDTNet's definition, only with `harmony bench --ssim`; fPSNR: this "
                         "protocol's PSNR rule on fMSE)")
        if self.source:
            lines.append(f"  source: {self.source}")
        return "\n".join(lines)


def _paste(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.float32)[..., None]
    return pred * m + gt.astype(np.float32) * (1.0 - m)


_PROTOCOLS: dict[str, Protocol] = {}


def _add(p: Protocol) -> None:
    _PROTOCOLS[p.name] = p
    PROTOCOLS.register(p.name, lambda _p=p: _p, card=Card(
        name=p.name, kind="protocol", summary=p.summary, paper=p.source, notes=p.explain(),
        extra={"default_size": p.default_size, "borrowed": list(p.borrowed)}))


_add(Protocol(
    "iharmony4", "DoveNet's official evaluation.py (iHarmony4 release)", "pil_bicubic_1bit", 256,
    mse="full", psnr_peak="pred_range", psnr_eps=0.0, fmse="masked", fmse_eps=0.0, round_prediction=True,
    borrowed=("fpsnr", "ssim", "fssim"), source="DoveNet / iHarmony4 evaluation.py (bcmi/Image-Harmonization-Dataset-iHarmony4)",
    details=("resize: Pillow resize((S, S), BICUBIC) of the uint8 images (rounded to uint8 by Pillow)",
             "mask: converted to 1-bit first, then resized (Pillow uses NEAREST for 1-bit): binary",
             "prediction: rounded to uint8 (the script reads saved result files)",
             "MSE: mean(d^2) over S*S*3",
             "PSNR: data_range = pred.max() - pred.min() (of the prediction), no epsilon",
             "fMSE: sum(m d^2) / (3 A), no epsilon")))
_add(Protocol(
    "iharm", "SamsungLabs iSSAM/iDIH evaluation (default; also CDTNet, DCCF, DucoNet)", "cv2_linear_soft",
    256, mse="full", psnr_peak="gt_max", psnr_eps=1e-6, fmse="masked", fmse_eps=1e-6,
    borrowed=("fpsnr", "ssim", "fssim"), source="SamsungLabs image_harmonization scripts/evaluate_model.py (iSSAM)",
    details=("resize: Fixed256 = albumentations Resize = cv2.resize INTER_LINEAR on the uint8 images",
             "mask: resized linearly and kept soft in [0, 1] (no_nearest_for_masks)",
             "prediction: clamped to [0, 255], not rounded",
             "MSE: mean(d^2)", "PSNR: 10 log10(gt.max()^2 / (MSE + 1e-6))",
             "fMSE: sum(m d^2) / (3 A + 1e-6) with the soft mask",
             "--size full = iSSAM's `None` (no resize)")))
_add(Protocol(
    "cdtnet", "CDTNet evaluation (iharm + fPSNR, SSIM, fSSIM; square 1024/2048 for high resolution)",
    "cv2_linear_soft", 256, mse="full", psnr_peak="gt_max", psnr_eps=1e-6, fmse="masked", fmse_eps=1e-6,
    ssim="cdtnet", defines_ssim=True, source="CDTNet evaluation (bcmi/CDTNet-High-Resolution-Image-Harmonization)",
    details=("resize/mask/prediction: as iharm (use --size 1024 or 2048 for its high-resolution tables)",
             "fPSNR: 10 log10(gt.max()^2 / (fMSE + 1e-6))",
             "SSIM: Gaussian window 7, sigma 1.5, zero padding, C1 = (0.01 R)^2, C2 = (0.03 R)^2, "
             "R = pred.max() - pred.min(); SSIM = mean of the map",
             "fSSIM: per channel sum(ssim_map m) / sum(m), then mean over channels")))
_add(Protocol(
    "pctnet", "PCT-Net / AICT evaluation (full resolution by default; foreground-only MSE)",
    "cv2_linear_soft", None, mse="masked", psnr_peak="255", psnr_eps=1e-6, fmse="masked", fmse_eps=1e-6,
    ssim="msssim", defines_ssim=True, borrowed=("fssim",), source="PCT-Net evaluation (rakutentech/PCT-Net-Image-Harmonization)",
    details=("resize: none (--size full, the FR tables) or --size 256 (LR, cv2 INTER_LINEAR)",
             "MSE: mean(m d^2) over all H*W*3 values (foreground error only)",
             "PSNR: 10 log10(255^2 / (MSE + 1e-6)); fMSE as iharm",
             "SSIM: pytorch_msssim ssim (11x11 Gaussian, sigma 1.5, valid convolution, data range 255) "
             "after pasting the prediction onto the ground-truth background",
             "their per-image CSV columns Name,MSE,PSNR,fMSE,SE,SSIM,height,width,mask_area map to "
             "composite,mse,psnr,fmse,se,ssim,height,width,mask_area in per_image.csv")))
_add(Protocol(
    "hdnet", "HDNet's variant of iharm: fMSE = full-image MSE * H*W / A", "cv2_linear_soft", 256,
    mse="full", psnr_peak="gt_max", psnr_eps=1e-6, fmse="hdnet", fmse_eps=0.0,
    borrowed=("fpsnr", "ssim", "fssim"), source="HDNet evaluation",
    details=("as iharm except fMSE = MSE * H*W / A (65536 / A at 256): differs from iharm's fMSE when "
             "a method changes the background",)))
_add(Protocol(
    "diffharmony", "DiffHarmony's default: iharm after pasting the ground-truth background",
    "cv2_linear_soft", 256, mse="full", psnr_peak="gt_max", psnr_eps=1e-6, fmse="masked", fmse_eps=1e-6,
    paste_background=True, borrowed=("fpsnr", "ssim", "fssim"), source="DiffHarmony evaluation",
    details=("prediction = m * pred + (1 - m) * gt before every metric; otherwise iharm",)))


def get_protocol(name: str) -> Protocol:
    """The named protocol.

    Parameters
    ----------
    name : str
        ``iharmony4``, ``iharm``, ``cdtnet``, ``pctnet``, ``hdnet``, ``diffharmony`` or a plugin.

    Returns
    -------
    Protocol

    Raises
    ------
    harmony.errors.InputError
        For an unknown name (the message lists the valid ones).
    """
    return PROTOCOLS.create(name)


def protocol_names() -> list[str]:
    """Names of the built-in protocols, in registration order.

    Returns
    -------
    list of str
    """
    return list(_PROTOCOLS)


# --- metric cards --------------------------------------------------------------------------------

_METRIC_CARDS: dict[str, tuple[str, bool, str, Callable[..., Any]]] = {
    "mse": ("mean squared error on the 0-255 scale (pctnet: mean(m d^2))", False, "", mean_squared_error),
    "psnr": ("peak signal-to-noise ratio; the peak follows the protocol", True, "dB", peak_signal_noise_ratio),
    "fmse": ("foreground MSE: sum(m d^2) / (3 A + eps)", False, "", foreground_mse),
    "fpsnr": ("foreground PSNR: the protocol's PSNR rule applied to fMSE", True, "dB", peak_signal_noise_ratio),
    "ssim": ("structural similarity (CDTNet Gaussian-7 or pytorch_msssim Gaussian-11)", True, "",
             structural_similarity_cdtnet),
    "fssim": ("foreground SSIM: per channel sum(ssim_map m) / sum(m), mean over channels", True, "",
              structural_similarity_cdtnet),
    "bg_drift": ("background drift: MSE outside the mask against the composite (diagnostic)", False, "",
                 background_drift),
    "lpips": ("LPIPS AlexNet v0.1 (needs local weights: HARMONY_LPIPS_WEIGHTS)", False, "", None),
}

for _name, (_summary, _hib, _unit, _fn) in _METRIC_CARDS.items():
    def _factory(_fn=_fn, _name=_name):
        if _fn is None:
            from .lpips import LPIPS

            return LPIPS.from_env()
        return _fn

    METRICS.register(_name, _factory, card=Card(name=_name, kind="metric", summary=_summary,
                                                 higher_is_better=_hib, unit=_unit,
                                                 paper="the protocol's evaluation script"))
