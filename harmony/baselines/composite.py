"""``cut-and-paste``: the composite itself, the "composite" (lower-bound) row of every benchmark table.

Every paper in the field reports the unharmonized input as a row (DIH, Tsai et al. 2017, Table 2;
BargainNet, Cong et al. 2021, Table 1 ...); registering it as a method lets the harness score it like any other.
"""

from __future__ import annotations

import numpy as np

from ..imageops import check_pair
from ..registry import METHODS, Card
from ._common import no_options

CARD = Card(
    name="cut-and-paste", kind="method",
    summary="The composite unchanged (the 'composite' row of every benchmark table)",
    paper="iHarmony4 / DoveNet tables ('composite' row); DIH (Tsai et al. 2017) Table 2",
    keeps_background=True, deterministic=True,
    notes="Returns a copy of the composite. Empty masks are fine (nothing to change).",
)


@METHODS.register("cut-and-paste", card=CARD)
def cut_and_paste(**options):
    """Factory of the ``cut-and-paste`` method: the composite returned unchanged (a copy).

    Parameters
    ----------
    **options
        None are accepted.

    Returns
    -------
    callable
        A Harmonizer ``harmonize(composite, mask, **extra) -> image``: composite float32 (H, W, 3) in
        [0, 1], mask float32 (H, W) in [0, 1]; returns a new float32 (H, W, 3) image in [0, 1].

    Raises
    ------
    ValueError
        When options are given (here) or the inputs break the contract (when called).
    """
    no_options("cut-and-paste", options)

    def harmonize(composite: np.ndarray, mask: np.ndarray, **extra) -> np.ndarray:
        check_pair(composite, mask)
        return composite.copy()

    return harmonize
