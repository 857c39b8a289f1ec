"""``mkl``: the linear Monge-Kantorovich colour mapping of Pitie & Kokaram 2007.

The affine map ``x -> T (x - mu_f) + mu_b`` with ``T = S_f^-1/2 (S_f^1/2 S_b S_f^1/2)^1/2 S_f^-1/2`` is
the one that moves the foreground's Gaussian (mean ``mu_f``, covariance ``S_f``) onto the background's
with the least total displacement (the closed-form optimal transport between Gaussians). Unlike Xiao's
eigen-frame matching it has no axis order/sign ambiguity. Statistics are sample means and covariances
(N-1) in RGB over ``mask > 0.5`` (foreground) and ``mask <= 0.5`` (background); the output is clipped to
[0, 1] and blended with the mask, so the background is kept exactly. The kernel is
:func:`harmony.color.mkl` (the matrix: :func:`harmony.color.mkl_matrix`).
"""

from __future__ import annotations

import numpy as np

from .. import color
from ..registry import METHODS, Card
from ._common import background_matcher, no_options


def mkl_transfer(composite: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Monge-Kantorovich linear map of the foreground's RGB Gaussian onto the background's.

    Parameters
    ----------
    composite : ndarray, shape (H, W, 3), float32
        The composite, RGB in [0, 1].
    mask : ndarray, shape (H, W), float32
        Foreground weights in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    background : ndarray, shape (H, W), float32
        The reference region, ``1 - binarize(mask)`` (:func:`harmony.baselines._common.split`).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        The harmonized image in [0, 1]; equal to ``composite`` where ``mask == 0``.

    References
    ----------
    .. [1] F. Pitie, A. Kokaram, *The linear Monge-Kantorovitch linear colour mapping for example-based
       colour transfer*, IET CVMP 2007.
    """
    return color.mkl(composite, mask, composite, background)


CARD = Card(
    name="mkl", kind="method",
    summary="Pitie & Kokaram 2007: Monge-Kantorovich linear colour map of the foreground to the background",
    paper="Pitie, Kokaram. The linear Monge-Kantorovitch linear colour mapping for example-based colour "
          "transfer. IET CVMP 2007",
    keeps_background=True, deterministic=True,
    notes="RGB, sample covariance (N-1) of mask>0.5 (fg) vs mask<=0.5 (bg); output clipped to [0,1]; soft "
          "masks blend new*m + composite*(1-m). Empty foreground or background: composite unchanged.",
)


@METHODS.register("mkl", card=CARD)
def mkl(**options):
    """Factory of the ``mkl`` method (Pitie & Kokaram 2007), registered in ``METHODS``.

    Parameters
    ----------
    **options
        None are accepted.

    Returns
    -------
    callable
        A Harmonizer ``harmonize(composite, mask, **extra) -> image``: composite float32 (H, W, 3) in
        [0, 1], mask float32 (H, W) in [0, 1]; returns a new float32 (H, W, 3) image in [0, 1].
        Empty foreground or background: an unchanged copy.

    Raises
    ------
    ValueError
        When options are given.
    """
    no_options("mkl", options)
    return background_matcher(mkl_transfer)
