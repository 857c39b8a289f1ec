"""Shared plumbing of the baselines: input checks and the foreground/background split."""

from __future__ import annotations

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
