"""Iterative distribution transfer (IDT) and regrain of Pitie et al. (iHarmony4 ``idt``).

- :func:`idt`: the masked kernel (iterative 1-D distribution transfer of random projections, then
  regrain against the original).
- :func:`idt_rotations`: the projection matrices it uses; :func:`regrain_image`: the regrain step.

:func:`idt` is kept instead of python-color-transfer's ``pdf_transfer`` (with regrain) because it is
measured at least 9.56x faster (``benchmarks/bench_transfer.py``, one 2-core machine; the lowest ratio
of the runs recorded in BENCHMARKS.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..parallel import as_rng
from ._pixels import CALCHIST_MAX, Region

__all__ = ["idt", "idt_rotations", "regrain_image"]

# I3 stacked on the three [2/3, 2/3, -1/3] permutations (Pitie's first rotation)
FIRST_ROTATION = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                           [2 / 3, 2 / 3, -1 / 3], [2 / 3, -1 / 3, 2 / 3], [-1 / 3, 2 / 3, 2 / 3]])
REGRAIN_SWEEPS = (4, 16, 32, 64, 64, 64)   # Jacobi sweeps per pyramid level, finest first


def _orth(matrix: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the range of ``matrix`` (MATLAB ``orth``: left singular vectors)."""
    left, _, _ = np.linalg.svd(matrix)
    return left


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
        ``iterations`` matrices; the first is ``FIRST_ROTATION`` whatever ``rng``.

    References
    ----------
    .. [1] F. Pitie, A. Kokaram, R. Dahyot, *N-dimensional probability density function transfer and its
       application to colour transfer*, ICCV 2005 (the rotations of the 1-D transfers).

    Examples
    --------
    >>> [r.shape for r in idt_rotations(2, 0)]
    [(6, 3), (6, 3)]
    """
    generator = as_rng(rng)
    rotations = [FIRST_ROTATION]
    for _ in range(1, iterations):
        rotations.append(FIRST_ROTATION @ _orth(generator.standard_normal((3, 3))))
    return rotations


SUBDIVISION = 16  # the 1-D maps are tabulated 16x finer than the histogram bins


def _split_projections(points: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``rotation @ x`` for every (N, 1, 3) point, as a (k, N) array (cv2.transform, 3 rows at a time)."""
    rows = np.empty((rotation.shape[0], len(points)), dtype=np.float32)
    for start in range(0, rotation.shape[0], 3):
        part = cv2.transform(points, np.ascontiguousarray(rotation[start:start + 3], dtype=np.float64))
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


def _projection_move(source: np.ndarray, reference: np.ndarray, low: float, high: float,
                     source_stat: np.ndarray | None, bins: int, depth: int, out: np.ndarray) -> None:
    """The 1-D transfer of one projection: write each source value's move into ``out`` (N,) float32.

    ``bins`` bins centred on ``linspace(low, high, bins)`` over both sets (nearest centre), cdfs of
    ``hist + 1e-6``, the cdf match ``f`` (source bin -> fractional reference bin, Pitie's
    ``pdf_transfer1D`` with its end rules), and the move ``(f(pos) - pos) * step``. The move is piecewise
    linear on the bin grid; it is tabulated ``SUBDIVISION`` = 16 times finer and read at the nearest
    sub-bin (error <= 1/32 bin times the local slope, far below an 8-bit level), so evaluating it costs
    one gather.
    """
    grid = np.arange(bins, dtype=np.float64)
    fine = np.arange((bins - 1) * SUBDIVISION + 1, dtype=np.float64) / SUBDIVISION
    step = (high - low) / (bins - 1)
    # nearest bin centre, rounded to uint16/int32 in one pass (saturate_cast rounds to nearest;
    # uint16 saturates below at 0, _bin_counts clips above)
    source_bins = cv2.addWeighted(source, 1.0 / step, source, 0.0, -low / step, dtype=depth).reshape(-1)
    reference_bins = cv2.addWeighted(reference, 1.0 / step, reference, 0.0, -low / step, dtype=depth).reshape(-1)
    source_hist = _bin_counts(source_bins if source_stat is None else np.take(source_bins, source_stat),
                              bins) + 1e-6
    reference_hist = _bin_counts(reference_bins, bins) + 1e-6
    source_cdf = np.cumsum(source_hist.astype(np.float64))
    source_cdf /= source_cdf[-1]
    reference_cdf = np.cumsum(reference_hist.astype(np.float64))
    reference_cdf /= reference_cdf[-1]
    match = np.interp(source_cdf, reference_cdf, grid)   # source bin -> (fractional) reference bin, same cdf
    match[source_cdf <= reference_cdf[0]] = 0.0
    match[source_cdf >= reference_cdf[-1]] = bins - 1
    table = (np.interp(fine, grid, match - grid) * step).astype(np.float32)
    # nearest sub-bin, rounded to int32 in one pass (saturate_cast rounds to nearest)
    scale = SUBDIVISION / step
    sub_bins = cv2.addWeighted(source, scale, source, 0.0, -low * scale, dtype=cv2.CV_32S)
    np.take(table, sub_bins.reshape(-1), mode="clip", out=out)


def _idt_points(source: np.ndarray, source_stat: np.ndarray | None, reference: np.ndarray, iterations: int,
                bins: int, rng) -> np.ndarray:
    """Iterative distribution transfer of point sets (Pitie et al. 2005); (N, 3) -> (N, 3) float32.

    ``source_stat``: indices of the rows of ``source`` that make its histograms (None = all). Per
    rotation, every projection gets its 1-D move (:func:`_projection_move`); the 3-D update is the
    least-squares solution ``pinv(R) @ moves``.
    """
    points = np.array(source, dtype=np.float32, order="C").reshape(-1, 1, 3)   # a copy: updated in place
    targets = np.ascontiguousarray(reference, dtype=np.float32).reshape(-1, 1, 3)
    # bin ids as uint16 (counted by cv2.calcHist, 2-3x faster than bincount) when they fit
    depth = cv2.CV_16U if bins <= 65536 and max(len(points), len(targets)) < CALCHIST_MAX else cv2.CV_32S
    for rotation in idt_rotations(iterations, rng):
        count = rotation.shape[0]
        source_proj = _split_projections(points, rotation)
        reference_proj = _split_projections(targets, rotation)
        moves = np.empty((count, len(points)), dtype=np.float32)   # one row per projection
        lows = np.minimum(source_proj.min(axis=1), reference_proj.min(axis=1))   # range over both sets
        highs = np.maximum(source_proj.max(axis=1), reference_proj.max(axis=1))
        for j in range(count):
            low, high = float(lows[j]), float(highs[j])
            if not high > low:
                moves[j] = 0.0
                continue
            _projection_move(source_proj[j], reference_proj[j], low, high, source_stat, bins, depth, moves[j])
        # least-squares update: the 3-D move whose projections best match the 1-D moves
        pinv = np.linalg.pinv(rotation)
        for start in range(0, count, 3):
            block = cv2.merge([row.reshape(1, -1) for row in moves[start:start + 3]])   # (1, N, c) pixels
            points += cv2.transform(block.reshape(len(points), 1, -1),
                                    np.ascontiguousarray(pinv[:, start:start + 3]))
    return points.reshape(-1, 3)


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
    """Coarse to fine: solve the half-size problem first (while both halves stay above 20 px), upsample
    it as the start of this level's Jacobi sweeps."""
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
                  nbits: tuple[int, ...] = REGRAIN_SWEEPS, region: np.ndarray | None = None) -> np.ndarray:
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

    Raises
    ------
    ValueError
        For a smoothness that is not positive.

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
    Deterministic for a given seed. Kept instead of python-color-transfer's ``pdf_transfer`` (with its
    regrain) because it is at least 9.56x faster on the same images (``benchmarks/bench_transfer.py``,
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
        For inputs that break the contract (shape, dtype, range), an empty target or reference region,
        ``iterations < 1`` or ``bins < 2``.

    References
    ----------
    .. [1] F. Pitie, A. Kokaram, R. Dahyot, *N-dimensional probability density function transfer and its
       application to colour transfer*, ICCV 2005.
    .. [2] F. Pitie, A. Kokaram, R. Dahyot, *Automated colour grading using colour distribution transfer*,
       CVIU 2007 (the regrain, section 5).
    .. [3] W. Cong et al., *DoveNet*, CVPR 2020 (the iHarmony4 recipe ``idt``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> target = rng.random((32, 32, 3), dtype=np.float32)
    >>> reference = np.clip(target * 0.5 + 0.4, 0, 1).astype(np.float32)
    >>> mask = np.zeros((32, 32), np.float32); mask[8:24, 8:24] = 1
    >>> out = idt(target, mask, reference, np.ones((32, 32), np.float32), rng=0)
    >>> bool(out[mask == 1].mean() > target[mask == 1].mean()), bool((out[mask == 0] == target[mask == 0]).all())
    (True, True)
    """
    if iterations < 1:
        raise ValueError(f"iterations: expected >= 1, got {iterations}")
    if bins < 2:
        raise ValueError(f"bins: expected >= 2, got {bins}")
    region = Region(target, target_mask, reference, reference_mask)
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


