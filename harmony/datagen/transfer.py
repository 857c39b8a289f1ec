"""How the dataset generators use the colour-transfer kernels: method codes and per-composite parameters.

The kernels themselves live in :mod:`harmony.color` (one name per kernel: the paper's). This module
holds what is specific to making datasets:

- ``METHOD_NAMES``: the methods a generator draws from (``gct``, ``gctrgb``, ``hgm``, ``idt``,
  ``dih``). A user may name them by kernel name or iHarmony4 code (``--methods reinhard,xiao`` is
  ``--methods gct,gctrgb``); :func:`dataset_codes` turns either into the iHarmony4 code, which is what
  the generators record in their manifests, metadata and file names (the iHarmony4 dataset's
  convention, Cong et al. 2020), so both spellings give byte-identical datasets.
- :func:`sample_params`: the parameters a generator varies per composite (JSON-serialisable, recorded
  in the manifest, passed back as ``transfer(method, ..., **params)``).
- :func:`transfer`: runs a method with such recorded parameters (an ``idt`` ``seed`` entry seeds its
  rotations).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .. import color
from ..parallel import as_rng

__all__ = ["METHOD_NAMES", "IDT_SMOOTHNESS_CHOICES", "dataset_code", "dataset_codes", "sample_params",
           "transfer"]

#: The methods the generators draw from, by the code they record (iHarmony4's, and ``dih`` for the
#: DIH-style transfer of Tsai et al. 2017, which has no iHarmony4 code).
METHOD_NAMES = ("gct", "gctrgb", "hgm", "idt", "dih")
#: The regrain smoothness values an ``idt`` composite draws from (Pitie et al., CVIU 2007).
IDT_SMOOTHNESS_CHOICES = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def dataset_code(method: str) -> str:
    """The code a generator records for a method given by kernel name or iHarmony4 code.

    Parameters
    ----------
    method : str
        ``reinhard``/``gct``, ``xiao``/``gctrgb``, ``fecker``/``hgm``, ``idt`` or ``dih``.

    Returns
    -------
    str
        The iHarmony4 code (``gct``, ``gctrgb``, ``hgm``, ``idt``; ``dih``). A name that is not a
        generator method is returned unchanged, for the caller's own check to report.

    References
    ----------
    .. [1] W. Cong et al., *DoveNet: Deep Image Harmonization via Domain Verification*, CVPR 2020,
       section 3 (the iHarmony4 method codes).

    Examples
    --------
    >>> dataset_code("reinhard"), dataset_code("gct"), dataset_code("sepia")
    ('gct', 'gct', 'sepia')
    """
    if method in color.KERNELS or method in color.ALIASES:
        code = color.iharmony4_code(method)
        if code in METHOD_NAMES:
            return code
    return method


def dataset_codes(methods: Iterable[str]) -> tuple[str, ...]:
    """:func:`dataset_code` of each method, in order (what the generators' options hold).

    Parameters
    ----------
    methods : iterable of str
        Kernel names or iHarmony4 codes.

    Returns
    -------
    tuple of str
        The codes, same order and length (the generators draw ``methods[k]``, so the order matters).
    """
    return tuple(dataset_code(method) for method in methods)


def _check_method(method: str) -> str:
    code = dataset_code(method)
    if code not in METHOD_NAMES:
        raise ValueError(f"method: unknown colour-transfer method {method!r}; "
                         f"expected one of {', '.join(METHOD_NAMES)}")
    return code


def transfer(method: str, target: np.ndarray, target_mask: np.ndarray, reference: np.ndarray,
             reference_mask: np.ndarray, *, rng: np.random.Generator | int | None = None,
             **params) -> np.ndarray:
    """Run generator method ``method`` with the parameters :func:`sample_params` drew.

    For ``idt`` a ``seed`` entry seeds the rotations (it wins over ``rng``); the deterministic kernels
    ignore ``rng`` and accept no ``seed``.

    Parameters
    ----------
    method : str
        A code of ``METHOD_NAMES`` or the kernel name (``reinhard``, ``xiao``, ``fecker``).
    target : ndarray, shape (H, W, 3), float32
        The image whose foreground is recoloured, RGB in [0, 1].
    target_mask : ndarray, shape (H, W), float32
        Its foreground in [0, 1].
    reference : ndarray, shape (H', W', 3), float32
        The image whose region gives the statistics, RGB in [0, 1].
    reference_mask : ndarray, shape (H', W'), float32
        The reference region in [0, 1].
    rng : numpy.random.Generator, int or None, optional
        For ``idt`` when ``params`` has no ``seed``.
    **params
        The method's options (:func:`sample_params`).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        As the kernel of :mod:`harmony.color` returns it.

    Raises
    ------
    ValueError
        For an unknown method or option, or inputs that break the contract.
    """
    code = _check_method(method)
    params = dict(params)
    if code == "idt":
        seed = params.pop("seed", None)
        params["rng"] = seed if seed is not None else rng
    return color.transfer(code, target, target_mask, reference, reference_mask, **params)


def sample_params(method: str, rng: np.random.Generator | int | None) -> dict:
    """Draw the per-composite parameters of ``method`` (JSON-serialisable; pass back to :func:`transfer`).

    - ``gct``, ``gctrgb``, ``hgm``: ``{}`` (no free parameters; iHarmony4 varies the reference instead).
    - ``idt``: ``{"smoothness": s, "seed": k}`` with ``s`` drawn from ``IDT_SMOOTHNESS_CHOICES``
      (Pitie et al. 2007) and ``k`` a 31-bit seed for the random rotations.
    - ``dih``: ``{"luminance_strength": a, "temperature_strength": b}``, each U(0.3, 1.0) rounded to
      3 decimals ("different transfer parameters for both the luminance and colour temperature",
      Tsai et al. 2017, section 3.1).

    Parameters
    ----------
    method : str
        A code of ``METHOD_NAMES`` or its kernel name.
    rng : numpy.random.Generator, int or None
        Source of randomness (an int seeds a new generator).

    Returns
    -------
    dict
        JSON-serialisable options for :func:`transfer`.

    Raises
    ------
    ValueError
        For an unknown method.

    Examples
    --------
    >>> sample_params("gct", 0)
    {}
    >>> sorted(sample_params("idt", 0))
    ['seed', 'smoothness']
    """
    code = _check_method(method)
    generator = as_rng(rng)
    if code == "idt":
        return {"smoothness": float(IDT_SMOOTHNESS_CHOICES[int(generator.integers(len(IDT_SMOOTHNESS_CHOICES)))]),
                "seed": int(generator.integers(0, 2 ** 31 - 1))}
    if code == "dih":
        return {"luminance_strength": round(float(generator.uniform(0.3, 1.0)), 3),
                "temperature_strength": round(float(generator.uniform(0.3, 1.0)), 3)}
    return {}
