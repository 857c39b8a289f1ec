"""Colour-transfer baselines: the :mod:`harmony.color` kernels with the composite's background as reference.

The foreground (the mask, soft values allowed) is recoloured so that its colour statistics match the
composite's own background (``reference_mask = 1 - binarize(mask)``; the iHarmony4 recipes, Cong et al.
2020). The background is kept bit for bit. With no foreground or no background pixel the composite is
returned unchanged. The methods are registered under the kernels' names (``reinhard``, ``xiao``,
``fecker``, ``idt``); the iHarmony4 codes (``gct``, ``gctrgb``, ``hgm``) name the same kernels in
``harmony.color.ALIASES``.
"""

from __future__ import annotations

from .. import color
from ..registry import METHODS, Card
from ._common import background_matcher, no_options

# kernel name -> (summary, paper); the kernel is color.KERNELS[name], its iHarmony4 code in the summary
_SPECS = {
    "reinhard": ("Reinhard et al. 2001: mean/std matching in l-alpha-beta (iHarmony4 gct)",
                 "Reinhard, Ashikhmin, Gooch, Shirley. Color Transfer between Images. IEEE CG&A 2001"),
    "xiao": ("Xiao & Ma 2006: mean/covariance matching in correlated RGB (iHarmony4 gctrgb)",
             "Xiao, Ma. Color transfer in correlated color space. VRCIA 2006"),
    "fecker": ("Fecker et al. 2008: cumulative-histogram mapping in YCbCr (iHarmony4 hgm)",
               "Fecker, Barkowsky, Kaup. Histogram-based prefiltering for luminance and chrominance "
               "compensation of multiview video. IEEE TCSVT 2008"),
    "idt": ("Pitie et al.: iterative distribution transfer + regrain (iHarmony4 idt)",
            "Pitie, Kokaram, Dahyot. Automated colour grading using colour distribution transfer. CVIU 2007"),
}
# the idt baseline's options and their defaults (deterministic: seed 0)
IDT_DEFAULTS = {"seed": 0, "smoothness": 1.0, "iterations": 10, "bins": 300, "regrain": True}


def _idt_recolour(name: str, options: dict):
    """The recolouring function of the ``idt`` baseline with ``options`` over ``IDT_DEFAULTS``."""
    unknown = set(options) - set(IDT_DEFAULTS)
    if unknown:
        raise ValueError(f"{name}: unknown options {sorted(unknown)}; expected {sorted(IDT_DEFAULTS)}")
    settings = {**IDT_DEFAULTS, **options}
    seed = settings.pop("seed")

    def recolour(composite, mask, background):
        return color.idt(composite, mask, composite, background, rng=seed, **settings)

    return recolour


def _make(name: str):
    """The factory registered for the baseline of kernel ``name``."""
    kernel = color.KERNELS[name]

    def factory(**options):
        if name == "idt":
            return background_matcher(_idt_recolour(name, options))
        no_options(name, options)
        return background_matcher(lambda composite, mask, background: kernel(composite, mask, composite,
                                                                             background))

    factory.__name__ = f"{name}_factory"
    factory.__doc__ = f"""Factory of the ``{name}`` baseline (:func:`harmony.color.{name}`), registered in ``METHODS``.

    Parameters
    ----------
    **options
        {'seed, smoothness, iterations, bins, regrain (see IDT_DEFAULTS)' if name == 'idt' else 'None.'}

    Returns
    -------
    callable
        A Harmonizer ``harmonize(composite, mask, **extra) -> image``.
    """
    return factory


for _name, (_summary, _paper) in _SPECS.items():
    METHODS.register(_name, card=Card(
        name=_name, kind="method", summary=_summary, paper=_paper,
        keeps_background=True, deterministic=True,
        notes=("Foreground recoloured to the statistics of the composite's own background "
               "(reference mask = 1 - binarize(mask)); statistics from mask > 0.5 pixels; soft masks blend "
               "new*m + composite*(1-m). Empty foreground or background: composite returned unchanged."
               + (" IDT: seed 0, smoothness 1, 10 iterations, 300 bins, regrain on (options: seed, "
                  "smoothness, iterations, bins, regrain)." if _name == "idt" else "")),
    ))(_make(_name))
