"""Shared plumbing of the baselines: input checks, the foreground/background split, option checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..imageops import check_pair


def split(composite: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, bool]:
    """Check the Harmonizer inputs; return ``(background_mask, ok)``.

    ``background_mask`` is ``1 - binarize(mask)`` (the reference region every statistics baseline
    matches to). ``ok`` is False when there is nothing to do: no foreground pixel (``mask > 0.5``) or no
    background pixel. Baselines then return an unchanged copy of the composite (documented on the cards
    and tested by the conformance tests).
    """
    check_pair(composite, mask)
    fg = mask > 0.5
    background = (~fg).astype(np.float32)
    ok = bool(fg.any()) and bool((~fg).any())
    return background, ok


def no_options(name: str, options: dict) -> None:
    """Reject options for a method that takes none (ValueError naming the method and the options)."""
    if options:
        raise ValueError(f"{name}: takes no options, got {sorted(options)}")


def background_matcher(recolour: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]):
    """The Harmonizer ``harmonize(composite, mask, **extra)`` of a statistics baseline.

    It checks the inputs (:func:`split`), returns an unchanged copy of the composite when there is no
    foreground or no background pixel, and otherwise ``recolour(composite, mask, background_mask)``.
    """

    def harmonize(composite: np.ndarray, mask: np.ndarray, **extra) -> np.ndarray:
        background, ok = split(composite, mask)
        if not ok:
            return composite.copy()
        return recolour(composite, mask, background)

    return harmonize
