"""Small helpers shared by several generators: the sample data's split, the tool version, mask reading."""

from __future__ import annotations

import os

import numpy as np

from .. import io as hio
from ..errors import InputError


def sample_test_ids(synthetic: bool):
    """The sample data's fixed test ids (one source in test), so small demos always have a test set.

    Parameters
    ----------
    synthetic : bool
        Whether the generator runs on the embedded sample data.

    Returns
    -------
    tuple of str or None
        The sample's test ids for :func:`harmony.dataset.split_for`; None (hash split) for user data.
    """
    if not synthetic:
        return None
    from .samples_extra import SAMPLE_TEST_IDS

    return SAMPLE_TEST_IDS


def tool_version() -> str:
    """The package version written to every manifest row as ``tool_version``.

    Returns
    -------
    str
        ``harmony.__version__`` (for example ``"0.2.0.dev0"``).
    """
    from .. import __version__

    return __version__


def read_mask_or_skip(path: str | os.PathLike, record: dict) -> np.ndarray | None:
    """Read a soft mask, or record why it could not be read.

    Parameters
    ----------
    path : str or os.PathLike
        Mask file (PNG, 0-255 grey levels).
    record : dict
        The unit record; a ``"corrupt or unreadable mask"`` entry is appended to ``record["skipped"]`` on failure.

    Returns
    -------
    numpy.ndarray or None
        float32 (H, W) in [0, 1], or None when the file cannot be decoded.
    """
    try:
        return hio.read_mask(path)
    except InputError as exc:
        record["skipped"].append({"item": path, "reason": "corrupt or unreadable mask", "detail": str(exc)})
        return None


def binary_mask_or_skip(path: str | os.PathLike, soft: np.ndarray, size: tuple[int, int],
                        record: dict) -> np.ndarray | None:
    """Binarise a soft mask (``> 0.5``, as iHarmony4's 0/255 masks), checking its size and that it is not empty.

    Parameters
    ----------
    path : str or os.PathLike
        The mask's file, named in the skipped entry.
    soft : numpy.ndarray
        float32 (H, W) in [0, 1], from :func:`read_mask_or_skip`.
    size : tuple of int
        The image's ``(height, width)``.
    record : dict
        The unit record; the reason (size differs, empty mask) is appended to ``record["skipped"]``.

    Returns
    -------
    numpy.ndarray or None
        bool (H, W), or None when the size differs or no pixel is above 0.5.
    """
    height, width = size
    if soft.shape != (height, width):
        record["skipped"].append({"item": path, "reason": "mask size differs from the image",
                                  "detail": f"{soft.shape[1]}x{soft.shape[0]} vs {width}x{height}"})
        return None
    binary = soft > 0.5
    if not binary.any():
        record["skipped"].append({"item": path, "reason": "empty mask (no pixel > 0.5)"})
        return None
    return binary


def split_list(text: str | None) -> list[str] | None:
    """Split a comma-separated command-line list, dropping blanks.

    Parameters
    ----------
    text : str or None
        For example ``"gct, hgm,,idt"``.

    Returns
    -------
    list of str or None
        The stripped items (``["gct", "hgm", "idt"]``); None when ``text`` is None or empty.

    Examples
    --------
    >>> split_list("gct, hgm,,idt"), split_list(None)
    (['gct', 'hgm', 'idt'], None)
    """
    if not text:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]
