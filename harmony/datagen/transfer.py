"""Colour-transfer kernels: recolour a target's foreground to match a reference region.

The four iHarmony4 recipes (Cong et al., *DoveNet*, CVPR 2020, section 3) and DIH's (Tsai et al., CVPR 2017).

Every kernel has the signature ``kernel(target, target_mask, reference, reference_mask, **options)`` and
follows the same rules:

- Inputs follow the design's contract (float32 RGB ``(H, W, 3)`` in [0, 1], float32 masks ``(H, W)`` in
  [0, 1]); the two images may have different sizes. Bad input raises ``ValueError`` naming the argument
  and the expected shape/range; an empty target or reference region raises ``ValueError`` too.
- Statistics come from the pixels with ``mask > 0.5`` only (never the black background: the old
  iHarmony4 code let it into the Xiao and IDT statistics, a bug not reproduced here).
- Only the pixels with ``target_mask > 0`` are gathered, transformed and scattered back, so the cost
  scales with the foreground. The output is ``new * m + target * (1 - m)``: where ``m == 0`` it equals
  the target bit for bit, where ``m == 1`` it is the transferred value.

Kernels (iHarmony4 method names in brackets):

- :func:`reinhard` (``gct``): Reinhard et al. 2001, mean/std in decorrelated l-alpha-beta space.
- :func:`xiao` (``gctrgb``): Xiao & Ma 2006, mean and covariance in correlated RGB.
- :func:`fecker` (``hgm``): Fecker et al. 2008, cumulative-histogram mapping in studio-range YCbCr.
- :func:`idt` (``idt``): Pitie et al. 2005/2007, iterative distribution transfer plus regrain.
- :func:`dih` (``dih``): DIH-style (Tsai et al. 2017, section 3.1) histogram matching of luminance and
  colour temperature with separate strengths.

:func:`transfer` dispatches by method name; :func:`sample_params` draws the per-composite parameters a
generator varies (JSON-serialisable, recorded in manifests, passed back as ``transfer(**params)``).

These kernels are kept instead of the libraries that do the same because they are measured faster on
the same masked task (``benchmarks/bench_transfer.py``, figures in BENCHMARKS.md; one 2-core machine):
Reinhard 2.13x color-matcher ``reinhard``, Xiao 3.49x color-matcher ``mvgd``, Fecker 2.90x
scikit-image ``match_histograms``, IDT with regrain 9.56x python-color-transfer ``pdf_transfer``, MKL
3.63x color-matcher ``mkl``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import cv2
import numpy as np

from ..imageops import check_image, check_mask, rgb_to_ycbcr
from ..parallel import as_rng

__all__ = ["reinhard", "xiao", "fecker", "idt", "dih", "mkl", "mkl_matrix", "KERNELS", "METHOD_NAMES", "transfer",
           "sample_params", "IDT_SMOOTHNESS_CHOICES", "regrain_image", "idt_rotations"]


# --- shared plumbing ------------------------------------------------------------------------------

_ROW = np.dtype((np.void, 12))  # one float32 RGB pixel as a single item: 1-D gathers/scatters are fast


class _Region:
    """The gathered pixels of one transfer: what to transform, what to measure, and where to put it."""

    __slots__ = ("work", "target_px", "target_stat", "stat_index", "reference_px", "weights", "hard", "binary")

    def __init__(self, target, target_mask, reference, reference_mask):
        _check_image(target, "target")
        _check_mask(target_mask, target.shape[:2], "target_mask")
        if reference is not target:   # the baselines pass the composite twice: check it once
            _check_image(reference, "reference")
        _check_mask(reference_mask, reference.shape[:2], "reference_mask")
        # gathers and the scatter use flat boolean masks (no index lists: numpy's 1-D boolean indexing
        # of 12-byte pixel items is about twice as fast as np.take/np.put, and needs no flatnonzero)
        self.reference_px = _gather(reference, (reference_mask > 0.5).reshape(-1))  # (M, 3) statistics
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
        self.target_px = _gather(target, self.work.reshape(-1))   # (N, 3) float32, every pixel with m > 0

    def stat_px(self, values: np.ndarray) -> np.ndarray:
        """The rows of ``values`` (aligned with ``target_px``) that enter the statistics (m > 0.5)."""
        return values if self.hard else np.take(values, self.stat_index, axis=0)

    def scatter(self, target: np.ndarray, new: np.ndarray) -> np.ndarray:
        """``new * m + target * (1 - m)`` on the gathered pixels; the rest is the target, bit for bit."""
        out = target.copy()
        new = np.asarray(new, dtype=np.float32)
        np.clip(new, 0.0, 1.0, out=new)   # kernels hand over a fresh array: clip in place
        if not self.binary:
            m = self.weights[:, None]
            mixed = np.clip(new * m + self.target_px * (np.float32(1.0) - m), 0.0, 1.0)
            new = np.where(m == 1.0, new, mixed)
        rows = np.ascontiguousarray(new, dtype=np.float32).view(_ROW).reshape(-1)
        out.reshape(-1).view(_ROW)[self.work.reshape(-1)] = rows
        return out


_ONE_BITS = np.float32(1.0).view(np.uint32)   # 0x3F800000


def _in_unit_range(a: np.ndarray) -> bool:
    """True when every float32 of ``a`` is in [+0.0, 1.0], in ONE integer pass: the bit patterns of
    +0.0 ... 1.0 are the integers 0 ... 0x3F800000 in the same order, and every negative number
    (sign bit set, -0.0 included), +-inf and NaN has a larger pattern."""
    return bool(np.ascontiguousarray(a).reshape(-1).view(np.uint32).max() <= _ONE_BITS)


def _check_image(image, name: str) -> None:
    """:func:`check_image` in one pass instead of four (see :func:`_in_unit_range`); anything the fast
    test does not pass (-0.0, an empty image, bad input) goes to ``check_image``, which accepts it or
    raises its usual ValueError."""
    if (isinstance(image, np.ndarray) and image.dtype == np.float32 and image.ndim == 3
            and image.shape[2] == 3 and image.size and _in_unit_range(image)):
        return
    check_image(image, name)


def _check_mask(mask, shape, name: str) -> None:
    """:func:`check_mask` with the same one-pass range test as :func:`_check_image`."""
    if (isinstance(mask, np.ndarray) and mask.dtype == np.float32 and mask.ndim == 2
            and mask.shape == tuple(shape) and mask.size and _in_unit_range(mask)):
        return
    check_mask(mask, shape, name)


def _gather(image: np.ndarray, select: np.ndarray) -> np.ndarray:
    """Rows ``select`` (flat (H*W,) bool) of the (H*W, 3) float32 view of ``image``, as (N, 3)."""
    flat = np.ascontiguousarray(image).reshape(-1).view(_ROW)
    return flat[select].view(np.float32).reshape(-1, 3)


def _affine(px: np.ndarray, matrix: np.ndarray, offset=None, dst: np.ndarray | None = None) -> np.ndarray:
    """``px @ matrix.T + offset`` for (N, 3) float32 rows, through ``cv2.transform`` (fast, float32).

    ``dst``: an (N, k) float32 buffer to write into (must not be ``px``), saving an allocation.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if offset is not None:
        m = np.hstack([m, np.asarray(offset, dtype=np.float64).reshape(-1, 1)])
    src = np.ascontiguousarray(px, dtype=np.float32).reshape(-1, 1, 3)
    if dst is not None:
        cv2.transform(src, m, dst=dst.reshape(-1, 1, m.shape[0]))
        return dst
    return cv2.transform(src, m).reshape(-1, m.shape[0])


def _mean_cov(px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (N-1) of (N, 3) rows, accumulated in float64 (OpenCV)."""
    n = len(px)
    cov, mean = cv2.calcCovarMatrix(np.ascontiguousarray(px, dtype=np.float32), None,
                                    cv2.COVAR_ROWS | cv2.COVAR_NORMAL | cv2.COVAR_SCALE, cv2.CV_64F)
    if n < 2:
        return mean.reshape(3), np.zeros((3, 3))
    return mean.reshape(3), cov * (n / (n - 1.0))


# --- Reinhard 2001 (gct) --------------------------------------------------------------------------

_RGB2LMS = np.array([[0.3811, 0.5783, 0.0402],
                     [0.1967, 0.7244, 0.0782],
                     [0.0241, 0.1288, 0.8444]])
_LMS2RGB = np.array([[4.4687, -3.5887, 0.1196],
                     [-1.2197, 2.3831, -0.1626],
                     [0.0585, -0.2611, 1.2057]])
_LMS2LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array(
    [[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]])
_LN10 = np.log(10.0)
_TO_LAB = _LMS2LAB / _LN10                 # lab = _TO_LAB @ ln(LMS)
_FROM_LAB = np.linalg.inv(_TO_LAB)


_NO_BLACK = np.zeros(0, dtype=bool)   # sentinel: the region has no pure-black pixel


def reinhard(target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray,
             reference_mask: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001 colour transfer (iHarmony4 ``gct``).

    RGB -> LMS -> ``lab = D @ A @ log10(LMS)``; per channel ``(x - mu_t) * sigma_r / sigma_t + mu_r``
    with the sample standard deviation (N-1) of the region pixels whose lab value is finite (pure-black
    pixels, the only ones with an LMS component of 0 since every matrix entry is positive, give
    ``log10(0) = -inf``: they are left out of the statistics and map to ``10**-inf = 0``, i.e. stay
    black). Back through ``10 ** (inverse)`` and the LMS -> RGB matrix, clipped to [0, 1]. A channel with
    zero spread in the target (or a single statistics pixel) is shifted, not scaled. Pure-black regions
    (no finite statistics) follow the formula's limit: a black target stays black, a black reference
    turns the foreground black.

    Speed: ``log10(x) = ln(x) / ln(10)`` is folded into the lab matrix, and the per-channel affine map
    plus the inverse lab matrix are one 3x3 transform, so the pixels go through six OpenCV passes
    (transform, log, transform, transform, exp, transform) in float32 with float64 statistics; the
    result matches an independent float64 implementation of the formula to 1e-6.

    Parameters
    ----------
    target : ndarray, shape (H, W, 3), float32
        The image whose foreground is recoloured, RGB in [0, 1].
    target_mask : ndarray, shape (H, W), float32
        Its foreground in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    reference : ndarray, shape (H', W', 3), float32
        The image whose region gives the statistics (may be ``target`` itself), RGB in [0, 1].
    reference_mask : ndarray, shape (H', W'), float32
        The reference region in [0, 1] (``> 0.5`` counts).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        ``new * m + target * (1 - m)`` in [0, 1]: bit-exact ``target`` where ``target_mask == 0``.

    Raises
    ------
    ValueError
        For inputs that break the contract (shape, dtype, range) or an empty target or reference region.

    References
    ----------
    .. [1] E. Reinhard, M. Ashikhmin, B. Gooch, P. Shirley, *Color transfer between images*, IEEE CG&A 2001.
    .. [2] W. Cong et al., *DoveNet: Deep Image Harmonization via Domain Verification*, CVPR 2020 (``gct``).
    """
    region = _Region(target, target_mask, reference, reference_mask)
    to_lab, from_lab = _TO_LAB, _FROM_LAB           # lab = to_lab @ ln(LMS)

    def log_lms(px):
        ln = _affine(px, _RGB2LMS)
        cv2.log(ln.reshape(-1, 1, 3), dst=ln.reshape(-1, 1, 3))
        # every LMS row is positive, so black gives -inf in all three; one min finds whether any is
        if ln.min() > -np.inf:
            return ln, _NO_BLACK
        return ln, np.isneginf(ln[:, 0])

    def lab_stats(lab, use):
        """Mean and sample std of the rows selected by ``use`` (uint8 mask, or None for all)."""
        n = len(lab) if use is None else int(np.count_nonzero(use))
        if n == 0:
            return None, None
        mean, std = cv2.meanStdDev(lab.reshape(-1, 1, 3), mask=None if use is None else use.reshape(-1, 1))
        sample_std = std.reshape(3) * np.sqrt(n / (n - 1.0)) if n > 1 else np.zeros(3)
        return mean.reshape(3), sample_std

    def usable(black, stat=None):
        if black is _NO_BLACK:
            return None if stat is None else stat.view(np.uint8)
        if stat is None and not black.any():
            return None
        keep = ~black if stat is None else (stat & ~black)
        return keep.view(np.uint8)

    ln_t, black_t = log_lms(region.target_px)
    ln_r, black_r = log_lms(region.reference_px)
    lab_t = _affine(ln_t, to_lab)
    mu_t, sd_t = lab_stats(lab_t, usable(black_t, None if region.hard else region.target_stat))
    mu_r, sd_r = lab_stats(_affine(ln_r, to_lab), usable(black_r))
    if mu_t is None or mu_r is None:
        # A pure-black region has no finite lab value. The formula's limit: a black target stays black
        # (-inf maps to 0 whatever the statistics); a black reference turns the foreground black.
        return region.scatter(target, np.zeros_like(region.target_px) if mu_r is None
                              else region.target_px.copy())
    scale = np.where(sd_t > 0, sd_r / np.where(sd_t > 0, sd_t, 1.0), 1.0)
    # new_lab = diag(scale) (lab - mu_t) + mu_r, back to ln(LMS), exp, LMS -> RGB (buffers reused)
    lms = _affine(lab_t, from_lab @ np.diag(scale), from_lab @ (mu_r - scale * mu_t), dst=ln_t)
    cv2.exp(lms.reshape(-1, 1, 3), dst=lms.reshape(-1, 1, 3))
    rgb = _affine(lms, _LMS2RGB, dst=lab_t)
    if black_t is not _NO_BLACK and black_t.any():
        rgb[black_t] = 0.0
    return region.scatter(target, rgb)


# --- Xiao 2006 (gctrgb) ---------------------------------------------------------------------------

def _eigen_frame(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen decomposition with a fixed convention (Xiao & Ma 2006 leave it open).

    Order: eigenvalues descending (ties keep ``numpy.linalg.eigh``'s order). Sign: each eigenvector is
    flipped so that its largest-magnitude component is positive (the first such component on a tie).
    Returns ``(values >= 0, vectors as columns)``.
    """
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(-values, kind="stable")
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    pivot = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[pivot, np.arange(3)])
    signs[signs == 0] = 1.0
    return values, vectors * signs


def xiao(target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray,
         reference_mask: np.ndarray) -> np.ndarray:
    """Xiao & Ma 2006 correlated colour transfer in RGB (iHarmony4 ``gctrgb``).

    In RGB on the 0-255 scale: ``x' = T_r R_r S_r S_t^-1 R_t^-1 T_t^-1 x`` with ``T`` the translation by
    the region mean, ``R`` the eigenvectors and ``S = sqrt(eigenvalues)`` of the sample covariance
    (N-1). Eigen convention: descending eigenvalues, each eigenvector's largest-magnitude component
    positive (see :func:`_eigen_frame`). Target eigenvalues are floored at ``1e-12 * max(1, lambda_max)``
    so a flat target axis does not divide by zero. Before clipping, the output has exactly the
    reference's mean and covariance (whatever the convention); the result is clipped to [0, 255].

    Parameters
    ----------
    target : ndarray, shape (H, W, 3), float32
        The image whose foreground is recoloured, RGB in [0, 1].
    target_mask : ndarray, shape (H, W), float32
        Its foreground in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    reference : ndarray, shape (H', W', 3), float32
        The image whose region gives the statistics (may be ``target`` itself), RGB in [0, 1].
    reference_mask : ndarray, shape (H', W'), float32
        The reference region in [0, 1] (``> 0.5`` counts).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        ``new * m + target * (1 - m)`` in [0, 1]: bit-exact ``target`` where ``target_mask == 0``.

    Raises
    ------
    ValueError
        For inputs that break the contract (shape, dtype, range) or an empty target or reference region.

    References
    ----------
    .. [1] X. Xiao, L. Ma, *Color transfer in correlated color space*, VRCIA 2006.
    """
    region = _Region(target, target_mask, reference, reference_mask)
    # statistics on the 0-255 scale (as iHarmony4); the map is affine, so it is applied in [0, 1]
    mu_t, cov_t = _mean_cov(region.stat_px(region.target_px))
    mu_r, cov_r = _mean_cov(region.reference_px)
    mu_t, cov_t, mu_r, cov_r = mu_t * 255, cov_t * 255 ** 2, mu_r * 255, cov_r * 255 ** 2
    val_t, vec_t = _eigen_frame(cov_t)
    val_r, vec_r = _eigen_frame(cov_r)
    floor = 1e-12 * max(1.0, float(val_t[0]))
    a = vec_r @ np.diag(np.sqrt(val_r) / np.sqrt(np.maximum(val_t, floor))) @ vec_t.T
    new = _affine(region.target_px, a, (mu_r - a @ mu_t) / 255.0)
    return region.scatter(target, new)


# --- Pitie & Kokaram 2007 MKL (not an iHarmony4 method; used by the ``mkl`` baseline) -------------

def _sqrtm_psd(a: np.ndarray, *, inverse: bool = False, floor: float = 0.0) -> np.ndarray:
    values, vectors = np.linalg.eigh((a + a.T) / 2)
    roots = np.sqrt(np.maximum(values, floor))
    if inverse:
        roots = 1.0 / roots
    return (vectors * roots) @ vectors.T


def mkl_matrix(cov_source: np.ndarray, cov_reference: np.ndarray) -> np.ndarray:
    """The Monge-Kantorovich linear map ``T = S^-1/2 (S^1/2 R S^1/2)^1/2 S^-1/2`` (``T S T = R``).

    Source eigenvalues are floored at ``1e-10 * max(1, trace)`` so a flat source does not divide by 0.

    Parameters
    ----------
    cov_source, cov_reference : ndarray, shape (3, 3), float
        Symmetric positive semi-definite covariances ``S`` and ``R``.

    Returns
    -------
    ndarray, shape (3, 3), float64
        ``T``, symmetric.
    """
    floor = 1e-10 * max(1.0, float(np.trace(cov_source)))
    root = _sqrtm_psd(cov_source, floor=floor)
    inv_root = _sqrtm_psd(cov_source, inverse=True, floor=floor)
    return inv_root @ _sqrtm_psd(root @ cov_reference @ root) @ inv_root


def mkl(target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray,
        reference_mask: np.ndarray) -> np.ndarray:
    """Pitie & Kokaram 2007 linear Monge-Kantorovich colour transfer, masked like the other kernels.

    ``x -> T (x - mu_t) + mu_r`` in RGB with :func:`mkl_matrix` of the sample covariances (N-1): the
    affine map that moves the target's Gaussian onto the reference's with the least mean squared
    displacement. Unlike Xiao's eigen-frame map it has no axis order/sign ambiguity. Clipped to [0, 1].

    Parameters
    ----------
    target : ndarray, shape (H, W, 3), float32
        The image whose foreground is recoloured, RGB in [0, 1].
    target_mask : ndarray, shape (H, W), float32
        Its foreground in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    reference : ndarray, shape (H', W', 3), float32
        The image whose region gives the statistics (may be ``target`` itself), RGB in [0, 1].
    reference_mask : ndarray, shape (H', W'), float32
        The reference region in [0, 1] (``> 0.5`` counts).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        ``new * m + target * (1 - m)`` in [0, 1]: bit-exact ``target`` where ``target_mask == 0``.

    Raises
    ------
    ValueError
        For inputs that break the contract (shape, dtype, range) or an empty target or reference region.

    References
    ----------
    .. [1] F. Pitie, A. Kokaram, *The linear Monge-Kantorovitch linear colour mapping for example-based
       colour transfer*, IET CVMP 2007.
    """
    region = _Region(target, target_mask, reference, reference_mask)
    mu_t, cov_t = _mean_cov(region.stat_px(region.target_px))
    mu_r, cov_r = _mean_cov(region.reference_px)
    t = mkl_matrix(cov_t, cov_r)
    return region.scatter(target, _affine(region.target_px, t, mu_r - t @ mu_t))


# --- Fecker 2008 (hgm) ----------------------------------------------------------------------------

_YCC_RANGES = ((16, 235), (16, 240), (16, 240))  # studio range, unit bins (Fecker et al. 2008)
# imageops' BT.601 conversion as an affine map on RGB in [0, 1] (so cv2.transform can apply it)
_YCC_OFF = rgb_to_ycbcr(np.zeros(3))
_YCC_M = (rgb_to_ycbcr(np.eye(3) * 255.0) - _YCC_OFF).T
_YCC_MINV = np.linalg.inv(_YCC_M)


def _fecker_lut(h_t: np.ndarray, h_r: np.ndarray, sums_r: np.ndarray) -> np.ndarray:
    """Map every unit bin of one channel to a value (in bin units), by cumulative-histogram matching.

    ``h_t``/``h_r``: integer histograms of the target's statistics pixels and of the reference over the
    same unit bins; ``sums_r``: the sum of the reference's continuous values in each bin. Bin ``v`` maps
    to the last *occupied* reference bin ``u`` with ``cdf_r(u) <= cdf_t(v)`` (the first occupied bin if
    none); bins mapped to the first (last) occupied reference bin take the mean of the reference values
    in that bin (Fecker's end-bin rule: the extremes collect clipped values, the mean avoids a hard
    step). Comparisons are exact (integer cross-multiplication of the counts), so equal histograms give
    the identity on their bins.
    """
    cum_t, cum_r = np.cumsum(h_t), np.cumsum(h_r)
    n_t, n_r = int(cum_t[-1]), int(cum_r[-1])
    occupied = np.flatnonzero(h_r)
    # cdf_r(u) <= cdf_t(v)  <=>  cum_r[u] * n_t <= cum_t[v] * n_r  (exact in int64)
    k = np.searchsorted(cum_r[occupied] * n_t, cum_t * n_r, side="right") - 1
    k = np.clip(k, 0, len(occupied) - 1)
    lut = occupied[k].astype(np.float64)
    lut[k == 0] = sums_r[occupied[0]] / h_r[occupied[0]]
    lut[k == len(occupied) - 1] = sums_r[occupied[-1]] / h_r[occupied[-1]]
    return lut


_YCC_LOW = np.array([lo for lo, _ in _YCC_RANGES], dtype=np.float64)
_YCC_SPAN = np.array([hi - lo for lo, hi in _YCC_RANGES], dtype=np.int32)


def fecker(target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray,
           reference_mask: np.ndarray) -> np.ndarray:
    """Fecker et al. 2008 cumulative-histogram mapping (iHarmony4 ``hgm``).

    Per channel of BT.601 studio-range YCbCr (Y 16-235, Cb/Cr 16-240, unit bins: values are rounded to
    the nearest integer and clipped to the range), each target bin maps through :func:`_fecker_lut`;
    the mapped YCbCr is converted back to RGB and clipped to [0, 1]. Speed: every bin index fits in a
    byte, so bins are uint8 (one rounding conversion), counted with ``cv2.calcHist`` and mapped with one
    3-channel ``cv2.LUT``; only the two end bins' reference means are summed separately.

    Parameters
    ----------
    target : ndarray, shape (H, W, 3), float32
        The image whose foreground is recoloured, RGB in [0, 1].
    target_mask : ndarray, shape (H, W), float32
        Its foreground in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    reference : ndarray, shape (H', W', 3), float32
        The image whose region gives the statistics (may be ``target`` itself), RGB in [0, 1].
    reference_mask : ndarray, shape (H', W'), float32
        The reference region in [0, 1] (``> 0.5`` counts).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        ``new * m + target * (1 - m)`` in [0, 1]: bit-exact ``target`` where ``target_mask == 0``.

    Raises
    ------
    ValueError
        For inputs that break the contract (shape, dtype, range) or an empty target or reference region.

    References
    ----------
    .. [1] U. Fecker, M. Barkowsky, A. Kaup, *Histogram-based prefiltering for luminance and chrominance
       compensation of multiview video*, IEEE TCSVT 2008.
    """
    region = _Region(target, target_mask, reference, reference_mask)
    # Every bin index fits in a byte (Y 0-219, Cb/Cr 0-224 above the range's low end), so the bins are
    # uint8: converting with saturation rounds to nearest (like cvRound) and clips below at 0 in one
    # pass, cv2.min clips above; histograms are cv2.calcHist, the mapping is one cv2.LUT (3 channels).
    shift = _YCC_OFF - _YCC_LOW    # RGB in [0, 1] -> studio YCbCr minus the range's low end (bin units)
    top = tuple(float(v) for v in _YCC_SPAN) + (0.0,)

    def unit_bins(values):   # (N, 3) float32 in bin units -> (1, N, 3) uint8 bins
        row = values.reshape(1, -1, 3)
        return cv2.min(cv2.addWeighted(row, 1.0, row, 0.0, 0.0, dtype=cv2.CV_8U), top)

    bins_t = unit_bins(_affine(region.target_px, _YCC_M, shift))
    ref = _affine(region.reference_px, _YCC_M, shift)
    np.clip(ref, 0.0, _YCC_SPAN.astype(np.float32), out=ref)
    bins_r = unit_bins(ref)
    stat = None if region.hard else region.target_stat.view(np.uint8).reshape(1, -1)
    lut = np.zeros((1, 256, 3), dtype=np.float32)
    for c in range(3):
        span = int(_YCC_SPAN[c]) + 1
        h_t = _histogram(bins_t, c, stat, span)
        h_r = _histogram(bins_r, c, None, span)
        # the reference's mean value in its first and last occupied bins (Fecker's end-bin rule)
        occupied = np.flatnonzero(h_r)
        channel_bins, channel_ref = bins_r[0, :, c], ref[:, c]
        sums_r = np.zeros(span)
        for b in (occupied[0], occupied[-1]):
            sums_r[b] = channel_ref[channel_bins == b].sum(dtype=np.float64)
        lut[0, :span, c] = _fecker_lut(h_t, h_r, sums_r) + _YCC_LOW[c]
    new = cv2.LUT(bins_t, lut).reshape(-1, 3)
    return region.scatter(target, _affine(new, _YCC_MINV, -(_YCC_MINV @ _YCC_OFF)))


_CALCHIST_MAX = 2 ** 24   # cv2.calcHist counts in float32: exact for fewer items than this


def _histogram(bins: np.ndarray, channel: int, mask: np.ndarray | None, size: int) -> np.ndarray:
    """Exact int64 counts of the values ``0..size-1`` of one channel of (1, N, 3) uint8 ``bins``.

    ``cv2.calcHist`` counts in float32, exact below 2**24 pixels; larger sets use ``np.bincount``.
    """
    if bins.shape[1] < _CALCHIST_MAX:
        hist = cv2.calcHist([bins], [channel], mask, [256], [0, 256])
        return hist.reshape(-1)[:size].astype(np.int64)
    values = bins[0, :, channel] if mask is None else bins[0, :, channel][mask.reshape(-1).view(bool)]
    return np.bincount(values, minlength=256)[:size].astype(np.int64)


# --- Pitie IDT + regrain (idt) --------------------------------------------------------------------

_IDT_R1 = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                    [2 / 3, 2 / 3, -1 / 3], [2 / 3, -1 / 3, 2 / 3], [-1 / 3, 2 / 3, 2 / 3]])
IDT_SMOOTHNESS_CHOICES = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
_REGRAIN_NBITS = (4, 16, 32, 64, 64, 64)


def _orth(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the range of ``a`` (MATLAB ``orth``: left singular vectors)."""
    u, _, _ = np.linalg.svd(a)
    return u


def idt_rotations(iterations: int, rng: np.random.Generator | int | None) -> list[np.ndarray]:
    """The 6x3 projection matrices of IDT: ``R1`` then ``R1 @ orth(randn(3, 3))`` (Pitie et al. 2007).

    Parameters
    ----------
    iterations : int
        Number of matrices.
    rng : numpy.random.Generator, int or None
        Source of the random orthogonal matrices.

    Returns
    -------
    list of ndarray, each shape (6, 3), float64
    """
    gen = as_rng(rng)
    rots = [_IDT_R1]
    for _ in range(1, iterations):
        rots.append(_IDT_R1 @ _orth(gen.standard_normal((3, 3))))
    return rots


_IDT_SUB = 16  # the 1-D maps are tabulated 16x finer than the histogram bins


def _split_projections(points: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """``rot @ x`` for every (N, 1, 3) point, as a (k, N) array (cv2.transform, 3 rows at a time)."""
    rows = np.empty((rot.shape[0], len(points)), dtype=np.float32)
    for start in range(0, rot.shape[0], 3):
        part = cv2.transform(points, np.ascontiguousarray(rot[start:start + 3], dtype=np.float64))
        rows[start:start + 3] = part.reshape(len(points), -1).T   # one transposing copy (faster than split)
    return rows


def _bin_counts(ids: np.ndarray, bins: int) -> np.ndarray:
    """Counts of ``clip(ids, 0, bins - 1)`` (int32 or uint16 ids), as float64.

    uint16 ids (saturated at 0 by the conversion) go through ``cv2.calcHist`` (exact: float32 counts of
    fewer than 2**24 items); int32 ids through ``np.bincount``.
    """
    if ids.dtype == np.uint16:
        ids = cv2.min(ids.reshape(1, -1), bins - 1)
        return cv2.calcHist([ids], [0], None, [bins], [0, bins]).reshape(-1).astype(np.float64)
    return np.bincount(np.clip(ids, 0, bins - 1), minlength=bins).astype(np.float64)


def _idt_points(source: np.ndarray, source_stat: np.ndarray | None, reference: np.ndarray, iterations: int,
                bins: int, rng) -> np.ndarray:
    """Iterative distribution transfer of point sets (Pitie et al. 2005); (N, 3) -> (N, 3) float32.

    ``source_stat``: indices of the rows of ``source`` that make its histograms (None = all). Per
    projection: ``bins`` bins centred on ``linspace(lo, hi, bins)`` over both sets (nearest centre),
    cdfs of ``hist + 1e-6``, the cdf match ``f`` (source bin -> fractional reference bin, Pitie's
    ``pdf_transfer1D`` with its end rules), and the move ``(f(pos) - pos) * step``. The move is piecewise
    linear on the bin grid; it is tabulated ``_IDT_SUB`` = 16 times finer and read at the nearest
    sub-bin (error <= 1/32 bin times the local slope, far below an 8-bit level), so evaluating it costs
    one gather. The 3-D update is the least-squares solution ``pinv(R) @ moves``.
    """
    d0 = np.array(source, dtype=np.float32, order="C").reshape(-1, 1, 3)   # a copy: updated in place
    d1 = np.ascontiguousarray(reference, dtype=np.float32).reshape(-1, 1, 3)
    grid = np.arange(bins, dtype=np.float64)
    fine = np.arange((bins - 1) * _IDT_SUB + 1, dtype=np.float64) / _IDT_SUB
    # bin ids as uint16 (counted by cv2.calcHist, 2-3x faster than bincount) when they fit
    depth = cv2.CV_16U if bins <= 65536 and max(len(d0), len(d1)) < _CALCHIST_MAX else cv2.CV_32S
    for rot in idt_rotations(iterations, rng):
        k = rot.shape[0]
        p0 = _split_projections(d0, rot)
        p1 = _split_projections(d1, rot)
        moves = np.empty((k, len(d0)), dtype=np.float32)   # one row per projection
        lows = np.minimum(p0.min(axis=1), p1.min(axis=1))   # each projection's range over both sets
        highs = np.maximum(p0.max(axis=1), p1.max(axis=1))
        for j in range(k):
            x0, x1 = p0[j], p1[j]
            lo, hi = float(lows[j]), float(highs[j])
            if not hi > lo:
                moves[j] = 0.0
                continue
            step = (hi - lo) / (bins - 1)
            # nearest bin centre, rounded to uint16/int32 in one pass (saturate_cast rounds to nearest;
            # uint16 saturates below at 0, _bin_counts clips above)
            b0 = cv2.addWeighted(x0, 1.0 / step, x0, 0.0, -lo / step, dtype=depth).reshape(-1)
            b1 = cv2.addWeighted(x1, 1.0 / step, x1, 0.0, -lo / step, dtype=depth).reshape(-1)
            h0 = _bin_counts(b0 if source_stat is None else np.take(b0, source_stat), bins) + 1e-6
            h1 = _bin_counts(b1, bins) + 1e-6
            c0 = np.cumsum(h0.astype(np.float64))
            c0 /= c0[-1]
            c1 = np.cumsum(h1.astype(np.float64))
            c1 /= c1[-1]
            f = np.interp(c0, c1, grid)   # source bin -> (fractional) reference bin with the same cdf
            f[c0 <= c1[0]] = 0.0
            f[c0 >= c1[-1]] = bins - 1
            table = (np.interp(fine, grid, f - grid) * step).astype(np.float32)
            # nearest sub-bin, rounded to int32 in one pass (saturate_cast rounds to nearest)
            scale = _IDT_SUB / step
            sub = cv2.addWeighted(x0, scale, x0, 0.0, -lo * scale, dtype=cv2.CV_32S)
            np.take(table, sub.reshape(-1), mode="clip", out=moves[j])
        # least-squares update: the 3-D move whose k projections best match the 1-D moves
        pinv = np.linalg.pinv(rot)
        for start in range(0, k, 3):
            block = cv2.merge([row.reshape(1, -1) for row in moves[start:start + 3]])   # (1, N, c) pixels
            d0 += cv2.transform(block.reshape(len(d0), 1, -1), np.ascontiguousarray(pinv[:, start:start + 3]))
    return d0.reshape(-1, 3)


def _regrain_solve(res: np.ndarray, i0: np.ndarray, i1: np.ndarray, inside: np.ndarray | None, nbits: int,
                   smoothness: float, level: int) -> np.ndarray:
    """Jacobi sweeps of the regrain energy (Pitie et al. 2007, s5).

    Minimises ``sum phi * |grad J - grad I0|^2 + psi * |J - I1|^2`` with
    ``phi = 30 / (1 + 10 * |grad I0| / smoothness) * 2**-level`` (edges of the original keep their
    contrast, flat areas follow the original's fine grain) and ``psi = min(1, 256 * |grad I0| / 5)``
    (fidelity to the transferred colours where the original has structure). With ``inside`` (H, W, 1)
    given, edges with an end outside it have no weight: pixels outside the region never influence it.
    """
    gx = np.diff(i0, axis=1, append=i0[:, -1:])
    gy = np.diff(i0, axis=0, append=i0[-1:])
    if inside is not None:  # no differences across the region's edge
        gx[:, :-1] *= inside[:, :-1] * inside[:, 1:]
        gy[:-1] *= inside[:-1] * inside[1:]
    grad = np.sqrt((gx ** 2 + gy ** 2).sum(axis=2, keepdims=True))
    psi = np.minimum(1.0, 256.0 * grad / 5.0)
    phi = 30.0 / (1.0 + 10.0 * grad / smoothness) * (2.0 ** -level)
    if inside is not None:
        phi = phi * inside
    # neighbour weights (average of phi on the two ends of each edge); 0 across the image border
    w_e = np.zeros_like(phi)
    w_e[:, :-1] = (phi[:, :-1] + phi[:, 1:]) / 2
    w_s = np.zeros_like(phi)
    w_s[:-1] = (phi[:-1] + phi[1:]) / 2
    w_w = np.zeros_like(phi)
    w_w[:, 1:] = w_e[:, :-1]
    w_n = np.zeros_like(phi)
    w_n[1:] = w_s[:-1]
    denom = psi + w_e + w_w + w_s + w_n
    denom[denom == 0] = 1.0
    # the I0 part of the right-hand side is fixed: psi*I1 + sum_k w_k * (I0 - I0_k)
    d_e = np.zeros_like(i0)
    d_e[:, :-1] = i0[:, :-1] - i0[:, 1:]
    d_s = np.zeros_like(i0)
    d_s[:-1] = i0[:-1] - i0[1:]
    fixed = psi * i1 + w_e * d_e + w_s * d_s
    fixed[:, 1:] -= w_w[:, 1:] * d_e[:, :-1]
    fixed[1:] -= w_n[1:] * d_s[:-1]
    # normalise once, broadcast the weights to the 3 channels, and reuse buffers (no per-sweep allocation)
    shape = i0.shape
    inv = 1.0 / denom
    base = np.ascontiguousarray(fixed * inv, dtype=np.float32)
    a_e = np.broadcast_to(w_e * inv, shape)[:, :-1].astype(np.float32)
    a_w = np.broadcast_to(w_w * inv, shape)[:, 1:].astype(np.float32)
    a_s = np.broadcast_to(w_s * inv, shape)[:-1].astype(np.float32)
    a_n = np.broadcast_to(w_n * inv, shape)[1:].astype(np.float32)
    res = np.array(res, dtype=np.float32)
    nxt = np.empty_like(res)
    tmp_x = np.empty_like(a_e)
    tmp_y = np.empty_like(a_s)
    for _ in range(nbits):
        np.copyto(nxt, base)
        nxt[:, :-1] += np.multiply(a_e, res[:, 1:], out=tmp_x)
        nxt[:, 1:] += np.multiply(a_w, res[:, :-1], out=tmp_x)
        nxt[:-1] += np.multiply(a_s, res[1:], out=tmp_y)
        nxt[1:] += np.multiply(a_n, res[:-1], out=tmp_y)
        res, nxt = nxt, res
    return res


def _regrain_rec(i0, i1, res, inside, nbits, smoothness, level):
    h, w = i0.shape[:2]
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    if len(nbits) > 1 and h2 > 20 and w2 > 20:
        def down(a):
            return cv2.resize(a, (w2, h2), interpolation=cv2.INTER_LINEAR)
        coarse_inside = None
        if inside is not None:  # a coarse pixel is inside when all the pixels it covers are
            coarse_inside = (cv2.resize(inside, (w2, h2), interpolation=cv2.INTER_AREA) > 0.999)[..., None]
            coarse_inside = coarse_inside.astype(np.float32)
        coarse = _regrain_rec(down(i0), down(i1), down(res), coarse_inside, nbits[1:], smoothness, level + 1)
        res = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    return _regrain_solve(res, i0, i1, inside, nbits[0], smoothness, level)


def regrain_image(original: np.ndarray, transferred: np.ndarray, *, smoothness: float = 1.0,
                  nbits: tuple[int, ...] = _REGRAIN_NBITS, region: np.ndarray | None = None) -> np.ndarray:
    """Pitie's regrain: keep the transferred colours but the original's gradients (grain), multiscale.

    ``original``/``transferred``: float (H, W, 3). Coarse-to-fine over a pyramid that halves the size
    while both halves stay above 20 px; level ``k`` runs ``nbits[k]`` Jacobi sweeps (finest first in
    ``nbits``: ``[4, 16, 32, 64, 64, 64]``). ``region`` (H, W) bool restricts the gradient coupling
    to pixels inside it (used for masked transfer: the background never leaks in). Returns float32, not
    clipped.

    Parameters
    ----------
    original, transferred : ndarray, shape (H, W, 3), float
        The image before and after colour transfer.
    smoothness : float, optional
        Weight of the colour term against the gradient term (default 1).
    nbits : tuple of int, optional
        Jacobi sweeps per pyramid level, finest first.
    region : ndarray, shape (H, W), bool, optional
        Pixels whose gradients are coupled.

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        Not clipped.

    References
    ----------
    .. [1] F. Pitie, A. Kokaram, R. Dahyot, *Automated colour grading using colour distribution transfer*,
       CVIU 2007, section 5.
    """
    if smoothness <= 0:
        raise ValueError(f"smoothness: expected a positive number, got {smoothness}")
    i0 = original.astype(np.float32)
    i1 = transferred.astype(np.float32)
    inside = None
    if region is not None:
        # pixels outside the region are replaced by the region's mean so that nothing outside it (the
        # background) reaches the result through the pyramid's averaging either
        inside = region.astype(np.float32)[..., None]
        outside = ~region.astype(bool)
        i0, i1 = i0.copy(), i1.copy()
        i0[outside] = i0[~outside].mean(axis=0)
        i1[outside] = i1[~outside].mean(axis=0)
    # start from the transferred image: the sweeps only have to restore the grain
    return _regrain_rec(i0, i1, i1.copy(), inside, tuple(nbits), float(smoothness), 0)


def idt(target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray, reference_mask: np.ndarray,
        *, iterations: int = 10, bins: int = 300, regrain: bool = True, smoothness: float = 1.0,
        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Pitie et al. iterative distribution transfer with regrain (iHarmony4 ``idt``).

    ``iterations`` rotations of 6 projections each (first ``R1`` = I3 stacked on the three
    ``[2/3, 2/3, -1/3]`` permutations, later ``R1 @ orth(randn(3, 3))`` drawn from ``rng``); per
    projection a 1-D transfer through the cdfs of ``hist + 1e-6`` over ``bins`` bins spanning both sets;
    the 3-D update is the least-squares solution. With ``regrain`` the result is regrained against the
    original on the foreground's bounding box (see :func:`regrain_image`), with the given ``smoothness``.
    Deterministic for a given seed.

    Parameters
    ----------
    target : ndarray, shape (H, W, 3), float32
        The image whose foreground is recoloured, RGB in [0, 1].
    target_mask : ndarray, shape (H, W), float32
        Its foreground in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    reference : ndarray, shape (H', W', 3), float32
        The image whose region gives the statistics (may be ``target`` itself), RGB in [0, 1].
    reference_mask : ndarray, shape (H', W'), float32
        The reference region in [0, 1] (``> 0.5`` counts).
    iterations : int, optional
        Rotations (default 10).
    bins : int, optional
        Histogram bins per projection (default 300).
    regrain : bool, optional
        Regrain against the original (default True).
    smoothness : float, optional
        Regrain smoothness (default 1).
    rng : numpy.random.Generator, int or None, optional
        Source of the random rotations.

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        ``new * m + target * (1 - m)`` in [0, 1]: bit-exact ``target`` where ``target_mask == 0``.

    Raises
    ------
    ValueError
        For inputs that break the contract (shape, dtype, range) or an empty target or reference region.

    References
    ----------
    .. [1] F. Pitie, A. Kokaram, R. Dahyot, *Automated colour grading using colour distribution transfer*,
       CVIU 2007.
    """
    if iterations < 1:
        raise ValueError(f"iterations: expected >= 1, got {iterations}")
    if bins < 2:
        raise ValueError(f"bins: expected >= 2, got {bins}")
    region = _Region(target, target_mask, reference, reference_mask)
    new = _idt_points(region.target_px, None if region.hard else region.stat_index, region.reference_px,
                      iterations, bins, rng)
    if regrain:
        ys, xs = np.nonzero(region.work)
        y0, y1 = max(ys.min() - 1, 0), min(ys.max() + 2, target.shape[0])
        x0, x1 = max(xs.min() - 1, 0), min(xs.max() + 2, target.shape[1])
        crop = target[y0:y1, x0:x1]
        moved = crop.copy()
        moved[region.work[y0:y1, x0:x1]] = np.clip(new, 0.0, 1.0)
        inside = region.work[y0:y1, x0:x1]
        new = regrain_image(crop, moved, smoothness=smoothness, region=inside)[inside]
    return region.scatter(target, new)


# --- DIH-style luminance + colour temperature (dih) -----------------------------------------------

_DIH_BIN = 0.01  # L* / b* units per histogram bin (far below a visible step)


def _match_values(values: np.ndarray, stat: np.ndarray | None, reference: np.ndarray) -> np.ndarray:
    """Histogram matching: each value goes to the reference value of the same (mid-rank) quantile.

    Both sides are binned at ``_DIH_BIN`` (so ties and near-ties share a bin). A target bin's quantile is
    ``(count below + count in bin / 2) / n`` over the statistics values; it maps by linear interpolation
    on the reference's occupied bins and their own mid-rank quantiles. The matched statistics pixels
    take the reference distribution to within the bin width.
    """
    lo = float(min(values.min(), reference.min()))
    scale = np.float32(1.0 / _DIH_BIN)
    n_bins = int((float(max(values.max(), reference.max())) - lo) / _DIH_BIN) + 2

    # Fast path (always taken for CIELAB: L* spans 10^4 bins, b* < 2.6 * 10^4): uint16 bin ids,
    # counted by cv2.calcHist (exact below 2**24 values); otherwise intp ids and np.bincount.
    small = n_bins <= 65536 and max(len(values), len(reference)) < _CALCHIST_MAX

    def bin_of(x):   # rint((x - lo) * scale) computed in float32 in one buffer
        buf = np.subtract(x, np.float32(lo))
        np.multiply(buf, scale, out=buf)
        if small:   # buf * 1 + buf * 0 + 0 is exact; the conversion rounds half to even like np.rint
            return cv2.addWeighted(buf, 1.0, buf, 0.0, 0.0, dtype=cv2.CV_16U).reshape(-1)
        return np.rint(buf, out=buf).astype(np.intp)

    def count(ids):
        if small:
            return cv2.calcHist([ids.reshape(1, -1)], [0], None, [n_bins], [0, n_bins]).reshape(-1)
        return np.bincount(ids, minlength=n_bins)

    idx = bin_of(values)
    stat_idx = idx if stat is None else np.take(idx, stat)
    counts = count(stat_idx).astype(np.float64)
    quantile = (np.cumsum(counts) - counts / 2) / len(stat_idx)
    ref_counts = count(bin_of(reference)).astype(np.float64)
    occupied = np.flatnonzero(ref_counts)
    ref_quantile = ((np.cumsum(ref_counts) - ref_counts / 2) / len(reference))[occupied]
    lut = np.interp(quantile, ref_quantile, lo + occupied * _DIH_BIN).astype(np.float32)
    return np.take(lut, idx, mode="clip")   # ids are in range: "clip" is just the faster gather


# The pixel lists go to cvtColor as ONE row (1, N, 3): it converts row by row, and N rows of one pixel
# each miss its vectorised loop (3-4x slower). RGB -> Lab gives identical values either way; Lab -> RGB
# differs between its vectorised and scalar code by up to ~1e-5 in dark colours (both are ~4e-4 from
# the exact conversion; an 8-bit level is 3.9e-3), typically by a few float32 ulps.
def _rgb_to_lab(px: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(px, dtype=np.float32).reshape(1, -1, 3),
                        cv2.COLOR_RGB2Lab).reshape(-1, 3)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32).reshape(1, -1, 3),
                        cv2.COLOR_Lab2RGB).reshape(-1, 3)


def dih(target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray, reference_mask: np.ndarray,
        *, luminance_strength: float = 1.0, temperature_strength: float = 1.0) -> np.ndarray:
    """DIH-style transfer (Tsai et al. 2017, section 3.1): luminance and colour
    temperature only, by histogram matching, with separate strengths.

    The paper gives no parameters; the choices made here:

    - space: CIE L*a*b* (D65, OpenCV's float conversion). Luminance = L*; colour temperature = b*, the
      blue-yellow opponent axis along which the Planckian locus (warm/cool illuminants) mostly moves.
      a* (green-magenta tint) is left unchanged: the paper transfers luminance and temperature only.
    - each of L* and b* is histogram-matched (continuous quantile mapping) to the reference region, then
      mixed: ``x + strength * (matched - x)``; strength 1 = full match, 0 = unchanged, > 1 exaggerates.
    - :func:`sample_params` draws the two strengths independently from U(0.3, 1.0) per composite
      ("different transfer parameters for both the luminance and colour temperature").

    Parameters
    ----------
    target : ndarray, shape (H, W, 3), float32
        The image whose foreground is recoloured, RGB in [0, 1].
    target_mask : ndarray, shape (H, W), float32
        Its foreground in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    reference : ndarray, shape (H', W', 3), float32
        The image whose region gives the statistics (may be ``target`` itself), RGB in [0, 1].
    reference_mask : ndarray, shape (H', W'), float32
        The reference region in [0, 1] (``> 0.5`` counts).
    luminance_strength, temperature_strength : float, optional
        Mix of the matched L* and b* (1 = full match, 0 = unchanged; default 1).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        ``new * m + target * (1 - m)`` in [0, 1]: bit-exact ``target`` where ``target_mask == 0``.

    Raises
    ------
    ValueError
        For inputs that break the contract (shape, dtype, range) or an empty target or reference region.

    References
    ----------
    .. [1] Y.-H. Tsai, X. Shen, Z. Lin, K. Sunkavalli, X. Lu, M.-H. Yang, *Deep Image Harmonization*,
       CVPR 2017, section 3.1.
    """
    for name, value in (("luminance_strength", luminance_strength),
                        ("temperature_strength", temperature_strength)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    region = _Region(target, target_mask, reference, reference_mask)
    lab_t = _rgb_to_lab(region.target_px)       # (N, 3); L* and b* are updated in place
    lab_r = _rgb_to_lab(region.reference_px)
    stat = None if region.hard else region.stat_index
    for channel, strength in ((0, luminance_strength), (2, temperature_strength)):
        if strength == 0:
            continue
        values = np.ascontiguousarray(lab_t[:, channel])
        matched = _match_values(values, stat, np.ascontiguousarray(lab_r[:, channel]))
        np.subtract(matched, values, out=matched)
        np.multiply(matched, np.float32(strength), out=matched)
        np.add(values, matched, out=lab_t[:, channel])    # values + strength * (matched - values)
    np.clip(lab_t[:, 0], 0.0, 100.0, out=lab_t[:, 0])
    return region.scatter(target, _lab_to_rgb(lab_t))


# --- dispatch -------------------------------------------------------------------------------------

KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "gct": reinhard,
    "gctrgb": xiao,
    "hgm": fecker,
    "idt": idt,
    "dih": dih,
}
METHOD_NAMES = tuple(KERNELS)


def _check_method(method: str) -> Callable[..., np.ndarray]:
    try:
        return KERNELS[method]
    except KeyError:
        raise ValueError(f"method: unknown colour-transfer method {method!r}; "
                         f"expected one of {', '.join(KERNELS)}") from None


def transfer(method: str, target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray,
             reference_mask: np.ndarray, *, rng: np.random.Generator | int | None = None,
             **params) -> np.ndarray:
    """Run kernel ``method`` (``gct``, ``gctrgb``, ``hgm``, ``idt``, ``dih``) with ``params``.

    ``params`` is what :func:`sample_params` returned (or hand-written options). For ``idt`` a ``seed``
    entry seeds the rotations (it wins over ``rng``); the deterministic kernels ignore ``rng`` and accept
    no ``seed``.

    Parameters
    ----------
    method : {"gct", "gctrgb", "hgm", "idt", "dih"}
        The iHarmony4 / DIH method name.
    target, target_mask, reference, reference_mask : ndarray
        As :func:`reinhard`.
    rng : numpy.random.Generator, int or None, optional
        For ``idt`` when ``params`` has no ``seed``.
    **params
        The method's options (:func:`sample_params`).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        As the kernel returns.

    Raises
    ------
    ValueError
        For an unknown method or option, or inputs that break the contract.
    """
    kernel = _check_method(method)
    params = dict(params)
    if kernel is idt:
        seed = params.pop("seed", None)
        params["rng"] = seed if seed is not None else rng
    allowed = set(inspect.signature(kernel).parameters) - {"target", "target_mask", "reference",
                                                           "reference_mask"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"params: unknown options {unknown} for {method!r}; expected "
                         f"{sorted(allowed | ({'seed'} if kernel is idt else set()))}")
    return kernel(target, target_mask, reference, reference_mask, **params)


def sample_params(method: str, rng: np.random.Generator | int | None) -> dict:
    """Draw the per-composite parameters of ``method`` (JSON-serialisable; pass back to :func:`transfer`).

    - ``gct``, ``gctrgb``, ``hgm``: ``{}`` (no free parameters; iHarmony4 varies the reference instead).
    - ``idt``: ``{"smoothness": s, "seed": k}`` with ``s`` drawn from {0.01, 0.1, 1, 10, 100, 1000}
      (Pitie et al. 2007) and ``k`` a 31-bit seed for the random rotations.
    - ``dih``: ``{"luminance_strength": a, "temperature_strength": b}``, each U(0.3, 1.0) rounded to
      3 decimals.

    Parameters
    ----------
    method : {"gct", "gctrgb", "hgm", "idt", "dih"}
    rng : numpy.random.Generator, int or None
        Source of randomness (an int seeds a new generator).

    Returns
    -------
    dict
        JSON-serialisable options for :func:`transfer`.

    Raises
    ------
    ValueError
        For an unknown method.
    """
    _check_method(method)
    gen = as_rng(rng)
    if method == "idt":
        return {"smoothness": float(IDT_SMOOTHNESS_CHOICES[int(gen.integers(len(IDT_SMOOTHNESS_CHOICES)))]),
                "seed": int(gen.integers(0, 2 ** 31 - 1))}
    if method == "dih":
        return {"luminance_strength": round(float(gen.uniform(0.3, 1.0)), 3),
                "temperature_strength": round(float(gen.uniform(0.3, 1.0)), 3)}
    return {}
