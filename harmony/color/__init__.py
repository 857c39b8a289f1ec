"""Colour science of the toolkit: colour-space conversions and the masked colour-transfer kernels.

A pure package (arrays in, arrays out; no files, no printing) that the dataset generators
(:mod:`harmony.datagen`) and the classical baselines (:mod:`harmony.baselines`) both import.

Modules
-------
- :mod:`harmony.color.conversions`: BT.601 YCbCr, CIE L*a*b*, Reinhard's l-alpha-beta, Rec. 601 luma.
- :mod:`harmony.color.statistics`: :func:`reinhard`, :func:`xiao`, :func:`mkl` (mean / covariance).
- :mod:`harmony.color.histogram`: :func:`fecker`, :func:`dih` (histogram matching).
- :mod:`harmony.color.distribution`: :func:`idt` and :func:`regrain_image` (Pitie et al.).
- :mod:`harmony.color.methods`: the kernels by name (``KERNELS``), the iHarmony4 codes as
  aliases (``ALIASES``: ``gct`` = ``reinhard``, ``gctrgb`` = ``xiao``, ``hgm`` = ``fecker``,
  ``idt`` = ``idt``), and :func:`transfer`, which runs a kernel by either name.

The kernel contract
-------------------
``kernel(target, target_mask, reference, reference_mask, **options) -> image``:

- float32 RGB ``(H, W, 3)`` images in [0, 1] and float32 ``(H, W)`` masks in [0, 1]; target and
  reference may differ in size. Bad input raises ``ValueError`` naming the argument and what was
  expected; an empty target or reference region raises ``ValueError`` too.
- Statistics come from the pixels with ``mask > 0.5`` only (never the black background: the original
  iHarmony4 code let it into the Xiao and IDT statistics, a bug not reproduced here).
- Only the pixels with ``target_mask > 0`` are gathered, transformed and scattered back, so the cost
  scales with the foreground. The output is ``new * m + target * (1 - m)``: where ``m == 0`` it equals
  the target bit for bit.

The kernels are hand-written rather than taken from colour-transfer libraries because they are
measured faster on the same masked task (``benchmarks/bench_transfer.py``; figures and the command in
BENCHMARKS.md, "colour-transfer kernels").

References
----------
.. [1] W. Cong, J. Zhang, L. Niu, L. Liu, Z. Ling, W. Li, L. Zhang, *DoveNet: Deep Image Harmonization
   via Domain Verification*, CVPR 2020, section 3 (the iHarmony4 recipes and their codes).

Examples
--------
>>> import numpy as np
>>> from harmony import color
>>> target = np.full((8, 8, 3), 0.2, np.float32); reference = np.full((8, 8, 3), 0.6, np.float32)
>>> mask = np.zeros((8, 8), np.float32); mask[2:6, 2:6] = 1
>>> out = color.transfer("gct", target, mask, reference, np.ones((8, 8), np.float32))
>>> bool((out == color.reinhard(target, mask, reference, np.ones((8, 8), np.float32))).all())
True
"""

from .conversions import (
    LMS_TO_LALPHABETA,
    LMS_TO_RGB,
    RGB_TO_LMS,
    YCBCR_MATRIX,
    YCBCR_OFFSET,
    lab_to_rgb,
    lalphabeta_to_rgb,
    luminance,
    rgb_to_lab,
    rgb_to_lalphabeta,
    rgb_to_ycbcr,
    ycbcr_to_rgb,
)
from .distribution import idt, idt_rotations, regrain_image
from .histogram import dih, fecker
from .methods import ALIASES, KERNELS, METHOD_NAMES, iharmony4_code, kernel_name, transfer
from .statistics import mkl, mkl_matrix, reinhard, xiao

__all__ = [
    "reinhard", "xiao", "fecker", "idt", "dih", "mkl", "mkl_matrix", "idt_rotations", "regrain_image",
    "KERNELS", "ALIASES", "METHOD_NAMES", "kernel_name", "iharmony4_code", "transfer",
    "rgb_to_ycbcr", "ycbcr_to_rgb", "luminance", "rgb_to_lab", "lab_to_rgb", "rgb_to_lalphabeta",
    "lalphabeta_to_rgb", "RGB_TO_LMS", "LMS_TO_RGB", "LMS_TO_LALPHABETA", "YCBCR_MATRIX", "YCBCR_OFFSET",
]
