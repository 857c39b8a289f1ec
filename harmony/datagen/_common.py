"""Small helpers shared by several generators (one copy instead of one per module)."""

from __future__ import annotations

import os

import numpy as np

from .. import io as hio
from ..errors import InputError


def sample_test_ids(synthetic: bool):
    """The sample data's fixed split (one source in test), so small demos always have a test set."""
    if not synthetic:
        return None
    from .samples_extra import SAMPLE_TEST_IDS

    return SAMPLE_TEST_IDS


def tool_version() -> str:
    """``harmony.__version__`` (written to every params.json as ``tool_version``)."""
    from .. import __version__

    return __version__


def read_mask_or_skip(path: str | os.PathLike, record: dict) -> np.ndarray | None:
    """The soft mask at ``path``, or None with a "corrupt or unreadable mask" entry in ``record["skipped"]``."""
    try:
        return hio.read_mask(path)
    except InputError as exc:
        record["skipped"].append({"item": path, "reason": "corrupt or unreadable mask", "detail": str(exc)})
        return None


def binary_mask_or_skip(path: str | os.PathLike, soft: np.ndarray, size: tuple[int, int],
                        record: dict) -> np.ndarray | None:
    """``soft > 0.5`` when the mask is ``size`` = (h, w) and has a foreground pixel; otherwise None, with the
    reason (size differs, empty mask) in ``record["skipped"]``."""
    h, w = size
    if soft.shape != (h, w):
        record["skipped"].append({"item": path, "reason": "mask size differs from the image",
                                  "detail": f"{soft.shape[1]}x{soft.shape[0]} vs {w}x{h}"})
        return None
    m = soft > 0.5
    if not m.any():
        record["skipped"].append({"item": path, "reason": "empty mask (no pixel > 0.5)"})
        return None
    return m
