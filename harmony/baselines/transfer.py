"""Colour-transfer baselines: the :mod:`harmony.datagen.transfer` kernels with the background as reference.

The foreground (the mask, soft values allowed) is recoloured so that its colour statistics match the
composite's own background (``reference_mask = 1 - binarize(mask)``; the iHarmony4 recipes, Cong et al. 2020). The
background is kept bit for bit. With no foreground or no background pixel the composite is returned
unchanged.
"""

from __future__ import annotations

from ..datagen import transfer as kernels
from ..registry import METHODS, Card
from ._common import background_matcher, no_options

_SPECS = {
    "reinhard": (kernels.reinhard, "Reinhard et al. 2001: mean/std matching in l-alpha-beta (iHarmony4 gct)",
                 "Reinhard, Ashikhmin, Gooch, Shirley. Color Transfer between Images. IEEE CG&A 2001"),
    "xiao": (kernels.xiao, "Xiao & Ma 2006: mean/covariance matching in correlated RGB (iHarmony4 gctrgb)",
             "Xiao, Ma. Color transfer in correlated color space. VRCIA 2006"),
    "fecker": (kernels.fecker, "Fecker et al. 2008: cumulative-histogram mapping in YCbCr (iHarmony4 hgm)",
               "Fecker, Barkowsky, Kaup. Histogram-based prefiltering for luminance and chrominance "
               "compensation of multiview video. IEEE TCSVT 2008"),
    "idt": (kernels.idt, "Pitie et al.: iterative distribution transfer + regrain (iHarmony4 idt)",
            "Pitie, Kokaram, Dahyot. Automated colour grading using colour distribution transfer. CVIU 2007"),
}


def _make(name: str, kernel):
    def factory(**options):
        if kernel is kernels.idt:
            opts = {"seed": 0, "smoothness": 1.0, "iterations": 10, "bins": 300, "regrain": True}
            unknown = set(options) - set(opts)
            if unknown:
                raise ValueError(f"{name}: unknown options {sorted(unknown)}; expected {sorted(opts)}")
            opts.update(options)
            seed = opts.pop("seed")
            call = lambda c, m, bg: kernels.idt(c, m, c, bg, rng=seed, **opts)  # noqa: E731
        else:
            no_options(name, options)
            call = lambda c, m, bg: kernel(c, m, c, bg)  # noqa: E731
        return background_matcher(call)

    factory.__name__ = f"{name}_factory"
    return factory


for _name, (_kernel, _summary, _paper) in _SPECS.items():
    METHODS.register(_name, card=Card(
        name=_name, kind="method", summary=_summary, paper=_paper,
        keeps_background=True, deterministic=True,
        notes=("Foreground recoloured to the statistics of the composite's own background "
               "(reference mask = 1 - binarize(mask)); statistics from mask > 0.5 pixels; soft masks blend "
               "new*m + composite*(1-m). Empty foreground or background: composite returned unchanged."
               + (" IDT: seed 0, smoothness 1, 10 iterations, 300 bins, regrain on (options: seed, "
                  "smoothness, iterations, bins, regrain)." if _kernel is kernels.idt else "")),
    ))(_make(_name, _kernel))
