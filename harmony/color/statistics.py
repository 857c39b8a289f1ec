"""Colour transfer by matching first- and second-order statistics: Reinhard, Xiao, MKL.

- :func:`reinhard` (iHarmony4 ``gct``): per-channel mean and standard deviation in l-alpha-beta.
- :func:`xiao` (iHarmony4 ``gctrgb``): mean and covariance in correlated RGB, through eigen frames.
- :func:`mkl`: mean and covariance in RGB through the Monge-Kantorovich linear map (not an iHarmony4
  method; the ``mkl`` baseline).

All follow the masked-kernel contract of :mod:`harmony.color` (``kernel(target, target_mask,
reference, reference_mask)``, statistics from ``mask > 0.5``, output ``new * m + target * (1 - m)``).

These kernels are kept instead of library equivalents because they are measured faster on the same
masked task (``benchmarks/bench_transfer.py``, one 2-core machine; the lowest ratio of the runs
recorded in BENCHMARKS.md): :func:`reinhard` 2.13x color-matcher ``reinhard``, :func:`xiao` 2.98x
color-matcher ``mvgd``, :func:`mkl` 3.63x color-matcher ``mkl``.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._pixels import Region, affine, mean_cov
from .conversions import LMS_TO_LALPHABETA, LMS_TO_RGB, RGB_TO_LMS

__all__ = ["reinhard", "xiao", "mkl", "mkl_matrix", "eigen_frame"]


# --- Reinhard 2001 (gct) ---------------------------------------------------------------------------

# log10(x) = ln(x) / ln(10) is folded into the matrix: lalphabeta = TO_LALPHABETA @ ln(LMS)
TO_LALPHABETA = LMS_TO_LALPHABETA / np.log(10.0)
FROM_LALPHABETA = np.linalg.inv(TO_LALPHABETA)
NO_BLACK = np.zeros(0, dtype=bool)   # sentinel: the region has no pure-black pixel


def _log_lms(px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ln(RGB_TO_LMS @ px)`` as (N, 3) float32, and which rows are pure black (or ``NO_BLACK``)."""
    log_lms = affine(px, RGB_TO_LMS)
    cv2.log(log_lms.reshape(-1, 1, 3), dst=log_lms.reshape(-1, 1, 3))
    # every LMS row is positive, so black gives -inf in all three; one min finds whether any is
    if log_lms.min() > -np.inf:
        return log_lms, NO_BLACK
    return log_lms, np.isneginf(log_lms[:, 0])


def _channel_stats(lalphabeta: np.ndarray, use: np.ndarray | None):
    """Mean and sample std (N-1) of the rows selected by ``use`` (uint8 mask, or None for all).

    Returns ``(None, None)`` when no row is selected.
    """
    count = len(lalphabeta) if use is None else int(np.count_nonzero(use))
    if count == 0:
        return None, None
    mean, std = cv2.meanStdDev(lalphabeta.reshape(-1, 1, 3), mask=None if use is None else use.reshape(-1, 1))
    sample_std = std.reshape(3) * np.sqrt(count / (count - 1.0)) if count > 1 else np.zeros(3)
    return mean.reshape(3), sample_std


def _finite_rows(black: np.ndarray, stat: np.ndarray | None = None) -> np.ndarray | None:
    """uint8 selection of the statistics rows that are not black (None: every row)."""
    if black is NO_BLACK:
        return None if stat is None else stat.view(np.uint8)
    if stat is None and not black.any():
        return None
    keep = ~black if stat is None else (stat & ~black)
    return keep.view(np.uint8)


def reinhard(target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray,
             reference_mask: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001 colour transfer in l-alpha-beta (iHarmony4 ``gct``).

    RGB -> LMS -> ``lalphabeta = LMS_TO_LALPHABETA @ log10(LMS)``
    (:func:`harmony.color.rgb_to_lalphabeta`); per channel ``(x - mu_t) * sigma_r / sigma_t + mu_r``
    with the sample standard deviation (N-1) of the region pixels whose value is finite (pure-black
    pixels, the only ones with an LMS component of 0 since every matrix entry is positive, give
    ``log10(0) = -inf``: they are left out of the statistics and map to ``10**-inf = 0``, i.e. stay
    black). Back through ``10 ** (inverse)`` and the LMS -> RGB matrix, clipped to [0, 1]. A channel with
    zero spread in the target (or a single statistics pixel) is shifted, not scaled. Pure-black regions
    (no finite statistics) follow the formula's limit: a black target stays black, a black reference
    turns the foreground black.

    Speed: ``log10(x) = ln(x) / ln(10)`` is folded into the matrix, and the per-channel affine map plus
    the inverse matrix are one 3x3 transform, so the pixels go through six OpenCV passes (transform,
    log, transform, transform, exp, transform) in float32 with float64 statistics; the result matches
    an independent float64 implementation of the formula to 1e-6. Kept instead of color-matcher's
    ``reinhard`` because it is at least 2.13x faster on the same masked task (``benchmarks/bench_transfer.py``,
    BENCHMARKS.md).

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
    .. [1] E. Reinhard, M. Ashikhmin, B. Gooch, P. Shirley, *Color transfer between images*, IEEE CG&A
       21(5), 2001.
    .. [2] W. Cong et al., *DoveNet: Deep Image Harmonization via Domain Verification*, CVPR 2020
       (the iHarmony4 recipe ``gct``).

    Examples
    --------
    >>> target = np.full((4, 4, 3), 0.2, np.float32); reference = np.full((4, 4, 3), 0.6, np.float32)
    >>> mask = np.zeros((4, 4), np.float32); mask[1:3, 1:3] = 1
    >>> out = reinhard(target, mask, reference, np.ones((4, 4), np.float32))
    >>> out[1, 1].round(3), out[0, 0]
    (array([0.6, 0.6, 0.6], dtype=float32), array([0.2, 0.2, 0.2], dtype=float32))
    """
    region = Region(target, target_mask, reference, reference_mask)
    log_t, black_t = _log_lms(region.target_px)
    log_r, black_r = _log_lms(region.reference_px)
    lab_t = affine(log_t, TO_LALPHABETA)
    mu_t, sd_t = _channel_stats(lab_t, _finite_rows(black_t, None if region.hard else region.target_stat))
    mu_r, sd_r = _channel_stats(affine(log_r, TO_LALPHABETA), _finite_rows(black_r))
    if mu_t is None or mu_r is None:
        # A pure-black region has no finite value. The formula's limit: a black target stays black
        # (-inf maps to 0 whatever the statistics); a black reference turns the foreground black.
        return region.scatter(target, np.zeros_like(region.target_px) if mu_r is None
                              else region.target_px.copy())
    scale = np.where(sd_t > 0, sd_r / np.where(sd_t > 0, sd_t, 1.0), 1.0)
    # new = diag(scale) (lab - mu_t) + mu_r, back to ln(LMS), exp, LMS -> RGB (buffers reused)
    lms = affine(lab_t, FROM_LALPHABETA @ np.diag(scale), FROM_LALPHABETA @ (mu_r - scale * mu_t), dst=log_t)
    cv2.exp(lms.reshape(-1, 1, 3), dst=lms.reshape(-1, 1, 3))
    rgb = affine(lms, LMS_TO_RGB, dst=lab_t)
    if black_t is not NO_BLACK and black_t.any():
        rgb[black_t] = 0.0
    return region.scatter(target, rgb)


# --- Xiao 2006 (gctrgb) ----------------------------------------------------------------------------

def eigen_frame(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen decomposition of a covariance with a fixed convention (Xiao & Ma 2006 leave it open).

    Order: eigenvalues descending (ties keep ``numpy.linalg.eigh``'s order). Sign: each eigenvector is
    flipped so that its largest-magnitude component is positive (the first such component on a tie).

    Parameters
    ----------
    cov : ndarray, shape (3, 3), float
        Symmetric covariance.

    Returns
    -------
    values : ndarray, shape (3,), float64
        Eigenvalues, descending, clipped at 0.
    vectors : ndarray, shape (3, 3), float64
        The eigenvectors as columns.
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
    (N-1). Eigen convention: :func:`harmony.color.statistics.eigen_frame`. Target eigenvalues are floored at
    ``1e-12 * max(1, lambda_max)`` so a flat target axis does not divide by zero. Before clipping, the
    output has exactly the reference's mean and covariance (whatever the convention); the result is
    clipped. Kept instead of color-matcher's ``mvgd`` because it is at least 2.98x faster on the same
    masked task (``benchmarks/bench_transfer.py``, BENCHMARKS.md).

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
    .. [1] X. Xiao, L. Ma, *Color transfer in correlated color space*, ACM VRCIA 2006.
    .. [2] W. Cong et al., *DoveNet*, CVPR 2020 (the iHarmony4 recipe ``gctrgb``).
    """
    region = Region(target, target_mask, reference, reference_mask)
    # statistics on the 0-255 scale (as iHarmony4); the map is affine, so it is applied in [0, 1]
    mu_t, cov_t = mean_cov(region.stat_px(region.target_px))
    mu_r, cov_r = mean_cov(region.reference_px)
    mu_t, cov_t, mu_r, cov_r = mu_t * 255, cov_t * 255 ** 2, mu_r * 255, cov_r * 255 ** 2
    values_t, vectors_t = eigen_frame(cov_t)
    values_r, vectors_r = eigen_frame(cov_r)
    floor = 1e-12 * max(1.0, float(values_t[0]))
    linear = vectors_r @ np.diag(np.sqrt(values_r) / np.sqrt(np.maximum(values_t, floor))) @ vectors_t.T
    new = affine(region.target_px, linear, (mu_r - linear @ mu_t) / 255.0)
    return region.scatter(target, new)


# --- Pitie & Kokaram 2007 MKL ----------------------------------------------------------------------

def _sqrtm_psd(matrix: np.ndarray, *, inverse: bool = False, floor: float = 0.0) -> np.ndarray:
    """Square root (or inverse square root) of a symmetric PSD matrix, eigenvalues floored at ``floor``."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
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

    References
    ----------
    .. [1] F. Pitie, A. Kokaram, *The linear Monge-Kantorovitch linear colour mapping for example-based
       colour transfer*, IET CVMP 2007, Eq. 12.

    Examples
    --------
    >>> mkl_matrix(np.eye(3), 4 * np.eye(3)).round(6)
    array([[2., 0., 0.],
           [0., 2., 0.],
           [0., 0., 2.]])
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
    Kept instead of color-matcher's ``mkl`` because it is at least 3.63x faster on the same masked task
    (``benchmarks/bench_transfer.py``, BENCHMARKS.md).

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
    region = Region(target, target_mask, reference, reference_mask)
    mu_t, cov_t = mean_cov(region.stat_px(region.target_px))
    mu_r, cov_r = mean_cov(region.reference_px)
    linear = mkl_matrix(cov_t, cov_r)
    return region.scatter(target, affine(region.target_px, linear, mu_r - linear @ mu_t))
