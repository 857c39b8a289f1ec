"""Classical harmonization baselines, each a Harmonizer registered in :data:`harmony.registry.METHODS`.

``harmonize(composite, mask, **extra) -> image`` on the design's contract (float32 RGB (H, W, 3) in
[0, 1], float32 mask (H, W) in [0, 1]). One module per family; importing this package registers them:

- ``cut-and-paste`` (:mod:`.composite`): the composite as is: the "composite" row of every table.
- ``reinhard``, ``xiao``, ``fecker``, ``idt`` (:mod:`.transfer`): the colour-transfer kernels of
  :mod:`harmony.color` (iHarmony4 ``gct``, ``gctrgb``, ``hgm``, ``idt``) with the composite's own
  background as the reference.
- ``mkl`` (:mod:`.mkl`): Pitie & Kokaram 2007, Monge-Kantorovich linear colour mapping.
- ``poisson`` (:mod:`.poisson`): Perez et al. 2003 gradient-domain blending via ``cv2.seamlessClone``.
- ``xue2012`` (:mod:`.xue2012`): Xue et al. 2012 zone statistics matching (luminance, colour temperature).

Not implemented (they need a learned realism model; no public weights): Lalonde & Efros 2007 and Zhu et
al. 2015. See docs/transfer_and_baselines.md.
"""

from . import composite, mkl, poisson, transfer, xue2012  # noqa: F401  (imports register the methods)
