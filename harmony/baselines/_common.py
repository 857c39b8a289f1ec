"""Shared plumbing of the baselines: input checks, the foreground/background split, option checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..imageops import check_pair


def split(composite: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, bool]:
    """Check the Harmonizer inputs and split foreground from background.

    Parameters
    ----------
    composite : ndarray, shape (H, W, 3), float32 in [0, 1]
    mask : ndarray, shape (H, W), float32 in [0, 1]

    Returns
    -------
    background_mask : ndarray, shape (H, W), float32
        ``1 - binarize(mask)``, the reference region every statistics baseline matches to.
    ok : bool
        False when there is nothing to do: no foreground pixel (``mask > 0.5``) or no background pixel.
        Baselines then return an unchanged copy of the composite (documented on the cards and tested by
        the conformance tests).

    Raises
    ------
    ValueError
        When the inputs break the contract (:func:`harmony.imageops.check_pair`).
    """
    check_pair(composite, mask)
    foreground = mask > 0.5
    background = (~foreground).astype(np.float32)
    ok = bool(foreground.any()) and bool((~foreground).any())
    return background, ok


def no_options(name: str, options: dict) -> None:
    """Reject options for a method that takes none.

    Parameters
    ----------
    name : str
        The method, named in the message.
    options : dict
        Options received.

    Raises
    ------
    ValueError
        When ``options`` is not empty.
    """
    if options:
        raise ValueError(f"{name}: takes no options, got {sorted(options)}")


def background_matcher(recolour: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]):
    """Wrap a recolouring function as the Harmonizer of a statistics baseline.

    Parameters
    ----------
    recolour : callable
        ``recolour(composite, mask, background_mask) -> image``, called only when the foreground and the
        background are both non-empty.

    Returns
    -------
    callable
        A Harmonizer ``harmonize(composite, mask, **extra) -> image``: composite float32 (H, W, 3) in
        [0, 1], mask float32 (H, W) in [0, 1]; returns a new float32 (H, W, 3) image in [0, 1].
        Inputs are checked with :func:`split`; with no foreground or no background pixel it returns an
        unchanged copy of the composite.
    """

    def harmonize(composite: np.ndarray, mask: np.ndarray, **extra) -> np.ndarray:
        background, ok = split(composite, mask)
        if not ok:
            return composite.copy()
        return recolour(composite, mask, background)

    return harmonize
