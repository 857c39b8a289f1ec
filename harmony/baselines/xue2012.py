"""``xue2012``: zone statistics matching after Xue, Agarwala, Dorsey, Rushmeier (SIGGRAPH 2012).

Xue et al. found that the realism of a composite depends mostly on matching a few statistics of the
foreground to the background, in particular luminance and colour temperature, and that the statistic
to match is a *zone* (e.g. the highlights) rather than the whole histogram; they select the zone with a
classifier trained on their user study. What is implemented here (no learned selector, no weights):

- Space: CIE L*a*b* (:func:`harmony.color.rgb_to_lab`: OpenCV's float conversion, D65).
- Zones: for each region, equal-mass luminance zones (quintiles of L*). ``shadows`` = the darkest 20 %
  of pixels, ``highlights`` = the brightest 20 %.
- Luminance: the affine map of L* that sends the foreground's shadow-zone mean to the background's and
  its highlight-zone mean to the background's (brightness and contrast in one step). The slope is
  clamped to [1/3, 3] so a flat zone cannot blow up.
- Colour temperature: the mean (a*, b*) chroma of the highlight zone estimates the illuminant colour
  (bright pixels reflect it best: the white-patch idea). The foreground's chroma is shifted by the
  background-minus-foreground difference: b* (blue-yellow) carries the temperature, a* the tint.
Not implemented: the multi-scale local-contrast statistic, saturation, and the learned zone selection
of the paper (averaging zone means over a pyramid was tried and dropped: downsampling shrinks a
textured foreground's zone spread and biases the contrast slope). The result is clipped to [0, 1] and
blended with the mask, so the background is kept exactly.
"""

from __future__ import annotations

import numpy as np

from ..color import lab_to_rgb, rgb_to_lab
from ..registry import METHODS, Card
from ._common import background_matcher, no_options

ZONE = 0.2
SLOPE_RANGE = (1.0 / 3.0, 3.0)


def _lab(px: np.ndarray) -> np.ndarray:
    """(N, 3) RGB rows -> float64 CIE L*a*b* rows (converted as an (N, 1, 3) image)."""
    return rgb_to_lab(px.reshape(-1, 1, 3)).reshape(-1, 3).astype(np.float64)


def _zone_stats(lab: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(shadow-zone mean L*, highlight-zone mean L*, highlight-zone mean (a*, b*))."""
    order = np.argsort(lab[:, 0], kind="stable")
    size = max(1, int(round(ZONE * len(order))))
    low, high = lab[order[:size]], lab[order[-size:]]
    return float(low[:, 0].mean()), float(high[:, 0].mean()), high[:, 1:].mean(axis=0)


def xue_transfer(composite: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Zone statistics matching in CIE L*a*b*: luminance by shadow/highlight zones, chroma by the highlight zone.

    Parameters
    ----------
    composite : ndarray, shape (H, W, 3), float32
        The composite, RGB in [0, 1].
    mask : ndarray, shape (H, W), float32
        Foreground weights in [0, 1]; statistics use ``mask > 0.5``, soft values blend.
    background : ndarray, shape (H, W), float32
        The reference region, ``1 - binarize(mask)`` (:func:`harmony.baselines._common.split`).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        The harmonized image in [0, 1]; equal to ``composite`` where ``mask == 0``.

    References
    ----------
    .. [1] S. Xue, A. Agarwala, J. Dorsey, H. Rushmeier, *Understanding and improving the realism of image
       composites*, ACM TOG (SIGGRAPH) 2012.
    """
    foreground = mask > 0.5
    f_low, f_high, f_chroma = _zone_stats(_lab(composite[foreground]))
    b_low, b_high, b_chroma = _zone_stats(_lab(composite[background > 0.5]))
    spread = f_high - f_low
    slope = (b_high - b_low) / spread if spread > 1e-6 else 1.0
    slope = float(np.clip(slope, *SLOPE_RANGE))
    f_mid, b_mid = (f_low + f_high) / 2, (b_low + b_high) / 2
    work = mask > 0
    lab = _lab(composite[work])
    lab[:, 0] = np.clip((lab[:, 0] - f_mid) * slope + b_mid, 0.0, 100.0)
    lab[:, 1:] += b_chroma - f_chroma
    new = np.clip(lab_to_rgb(lab.astype(np.float32).reshape(-1, 1, 3)).reshape(-1, 3), 0.0, 1.0)
    weight = mask[work][:, None]
    old = composite[work]
    out = composite.copy()
    out[work] = np.where(weight == 1.0, new, np.clip(new * weight + old * (np.float32(1.0) - weight), 0.0, 1.0))
    return out


CARD = Card(
    name="xue2012", kind="method",
    summary="Xue et al. 2012: zone statistics matching of luminance and colour temperature",
    paper="Xue, Agarwala, Dorsey, Rushmeier. Understanding and improving the realism of image composites. "
          "SIGGRAPH 2012",
    keeps_background=True, deterministic=True,
    notes="L*a*b*; L* affine map matching shadow (darkest 20%) and highlight (brightest 20%) zone means, "
          "slope clamped to [1/3, 3]; a*/b* shifted by the highlight-zone chroma difference (illuminant "
          "colour: temperature b*, tint a*); full-resolution zone statistics. Not "
          "implemented: saturation, local contrast, the learned zone selector. Empty foreground or "
          "background: composite unchanged.",
)


@METHODS.register("xue2012", card=CARD)
def xue2012(**options):
    """Factory of the ``xue2012`` method, registered in ``METHODS``.

    Parameters
    ----------
    **options
        None are accepted.

    Returns
    -------
    callable
        A Harmonizer ``harmonize(composite, mask, **extra) -> image``: composite float32 (H, W, 3) in
        [0, 1], mask float32 (H, W) in [0, 1]; returns a new float32 (H, W, 3) image in [0, 1].
        Empty foreground or background: an unchanged copy.

    Raises
    ------
    ValueError
        When options are given.
    """
    no_options("xue2012", options)
    return background_matcher(xue_transfer)
