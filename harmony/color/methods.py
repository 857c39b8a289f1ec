"""The colour-transfer kernels by name: one name per kernel, the iHarmony4 codes as aliases.

Every kernel is named after its paper (``KERNELS``). The iHarmony4 dataset (Cong et al., DoveNet,
CVPR 2020) names its colour-transfer recipes by short codes; ``ALIASES`` is the one table that maps
them to the kernels, and every place a user names a method (:func:`transfer`, ``harmony datagen
--methods``, the generators' options) accepts either. The generators *record* the iHarmony4 code in
their metadata, file names and manifests (the dataset's convention; see
:func:`harmony.datagen.transfer.dataset_code`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from .distribution import idt
from .histogram import dih, fecker
from .statistics import mkl, reinhard, xiao

__all__ = ["KERNELS", "ALIASES", "METHOD_NAMES", "kernel_name", "iharmony4_code", "transfer"]

#: Kernel name (the paper's) -> kernel ``kernel(target, target_mask, reference, reference_mask, **options)``.
KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "reinhard": reinhard,   # Reinhard et al. 2001
    "xiao": xiao,           # Xiao & Ma 2006
    "fecker": fecker,       # Fecker et al. 2008
    "idt": idt,             # Pitie et al. 2005/2007
    "dih": dih,             # Tsai et al. 2017 (DIH), section 3.1
    "mkl": mkl,             # Pitie & Kokaram 2007
}
#: iHarmony4 method code -> kernel name (Cong et al. 2020, section 3: ``gct`` global colour transfer in
#: l-alpha-beta, ``gctrgb`` in RGB, ``hgm`` histogram matching, ``idt`` iterative distribution transfer).
ALIASES: dict[str, str] = {
    "gct": "reinhard",
    "gctrgb": "xiao",
    "hgm": "fecker",
    "idt": "idt",
}
#: The kernel names, in the order of ``KERNELS``.
METHOD_NAMES = tuple(KERNELS)
_CODES = {name: code for code, name in ALIASES.items()}


def kernel_name(method: str) -> str:
    """The kernel name of a method given by kernel name or iHarmony4 code.

    Parameters
    ----------
    method : str
        A name of ``KERNELS`` or a code of ``ALIASES``.

    Returns
    -------
    str
        The key of ``KERNELS``.

    Raises
    ------
    ValueError
        For a name that is neither.

    Examples
    --------
    >>> kernel_name("gct"), kernel_name("reinhard"), kernel_name("hgm")
    ('reinhard', 'reinhard', 'fecker')
    """
    if method in KERNELS:
        return method
    if method in ALIASES:
        return ALIASES[method]
    raise ValueError(f"method: unknown colour-transfer method {method!r}; expected one of "
                     f"{', '.join(KERNELS)} (or an iHarmony4 code: {', '.join(ALIASES)})")


def iharmony4_code(method: str) -> str:
    """The iHarmony4 code of a method given by kernel name or code (kernels without a code keep their name).

    Parameters
    ----------
    method : str
        A name of ``KERNELS`` or a code of ``ALIASES``.

    Returns
    -------
    str
        ``gct``, ``gctrgb``, ``hgm`` or ``idt``; ``dih`` and ``mkl`` (no iHarmony4 code) as given.

    Raises
    ------
    ValueError
        For a name that is neither.

    Examples
    --------
    >>> iharmony4_code("reinhard"), iharmony4_code("gct"), iharmony4_code("dih")
    ('gct', 'gct', 'dih')
    """
    name = kernel_name(method)
    return _CODES.get(name, name)


def transfer(method: str, target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray,
             reference_mask: np.ndarray, **options) -> np.ndarray:
    """Run the kernel named ``method`` (a kernel name or an iHarmony4 code) with ``options``.

    Parameters
    ----------
    method : str
        ``reinhard`` (``gct``), ``xiao`` (``gctrgb``), ``fecker`` (``hgm``), ``idt``, ``dih`` or ``mkl``.
    target : ndarray, shape (H, W, 3), float32
        The image whose foreground is recoloured, RGB in [0, 1].
    target_mask : ndarray, shape (H, W), float32
        Its foreground in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    reference : ndarray, shape (H', W', 3), float32
        The image whose region gives the statistics, RGB in [0, 1].
    reference_mask : ndarray, shape (H', W'), float32
        The reference region in [0, 1] (``> 0.5`` counts).
    **options
        The kernel's keyword options (``idt``: ``iterations``, ``bins``, ``regrain``, ``smoothness``,
        ``rng``; ``dih``: ``luminance_strength``, ``temperature_strength``; the others take none).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        ``new * m + target * (1 - m)`` in [0, 1], as the kernel returns it.

    Raises
    ------
    ValueError
        For an unknown method or option, or inputs that break the kernel's contract.

    Examples
    --------
    >>> target = np.full((4, 4, 3), 0.2, np.float32); reference = np.full((4, 4, 3), 0.6, np.float32)
    >>> mask = np.ones((4, 4), np.float32)
    >>> a = transfer("gct", target, mask, reference, mask)
    >>> b = transfer("reinhard", target, mask, reference, mask)
    >>> bool((a == b).all())
    True
    """
    kernel = KERNELS[kernel_name(method)]
    allowed = set(inspect.signature(kernel).parameters) - {"target", "target_mask", "reference",
                                                           "reference_mask"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"params: unknown options {unknown} for {method!r}; expected {sorted(allowed)}")
    return kernel(target, target_mask, reference, reference_mask, **options)
