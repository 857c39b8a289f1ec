"""``poisson``: gradient-domain blending (Perez, Gangnet, Blake 2003) with ``cv2.seamlessClone``.

A composite alone is its own Poisson solution (its seam is part of its gradient field), so cloning it
onto itself changes nothing. What the baseline does instead:

1. *Region*: ``D = dilate(mask > 0, 2 px)`` (soft-mask edges included). OpenCV keeps the outermost
   pixel ring of the clone mask as the Dirichlet boundary, so the dilation puts the whole foreground,
   soft edge included, inside the solved region; everything outside ``D`` is returned bit for bit.
2. *Guidance field*: the foreground (``mask > 0.5``) extended outwards by nearest-neighbour copying
   (Euclidean distance transform). The guidance therefore has the object's own gradients inside and no
   seam gradient: the solved foreground keeps its texture but meets the background's colours at the
   boundary (the classic "seamless" shift of colour and brightness).
   The destination inside ``D`` is filled with the nearest background pixel: OpenCV's NORMAL_CLONE
   reads the destination's forward differences at the pixels just outside its mask, which would
   otherwise re-import the composite's seam.
3. *Borders*: ``cv2.seamlessClone`` misbehaves when the mask touches the image border, so the images are
   padded by 3 px (reflect-101) and the mask is replicated into the padding with its outermost ring
   cleared; the boundary condition at the image border then comes from the reflected background.
4. ``NORMAL_CLONE``, 8-bit (the only depth OpenCV accepts): values inside ``D`` are quantised to 1/255.

``keeps_background`` is False: the 2-px ring of ``D`` outside the mask is re-solved too.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from ..imageops import dilate, to_uint8
from ..registry import METHODS, Card
from ._common import background_matcher

DILATION = 2
_PAD = 3


def poisson_blend(composite: np.ndarray, mask: np.ndarray, *, dilation: int = DILATION) -> np.ndarray:
    """Poisson-blend the foreground into its own background with ``cv2.seamlessClone`` (NORMAL_CLONE).

    Parameters
    ----------
    composite : ndarray, shape (H, W, 3), float32
        RGB in [0, 1].
    mask : ndarray, shape (H, W), float32
        Foreground in [0, 1]; must hold at least one pixel ``> 0`` (the caller checks).
    dilation : int, optional
        The clone region is the mask dilated by this many pixels (default 2).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        In [0, 1]; an exact copy of ``composite`` outside the dilated mask, 8-bit precision inside it.

    References
    ----------
    .. [1] P. Perez, M. Gangnet, A. Blake, *Poisson image editing*, SIGGRAPH 2003.
    """
    region = dilate((mask > 0).astype(np.float32), dilation) > 0.5
    ys, xs = np.nonzero(region)
    h, w = mask.shape
    # work on the bounding box of the region plus the padding (cost scales with the foreground)
    y0, y1 = max(ys.min() - 1, 0), min(ys.max() + 2, h)
    x0, x1 = max(xs.min() - 1, 0), min(xs.max() + 2, w)
    crop = composite[y0:y1, x0:x1]
    inside_object = mask[y0:y1, x0:x1] > 0.5
    clone_region = region[y0:y1, x0:x1]
    # guidance: the object extended by its nearest pixel (no seam gradient)
    _, (near_y, near_x) = ndimage.distance_transform_edt(~inside_object, return_indices=True)
    guide = crop[near_y, near_x]
    # OpenCV's NORMAL_CLONE uses the destination's forward differences just outside the clone mask, so
    # destination pixels inside the region must not carry the composite's seam: fill the region with
    # the nearest background pixel (only the boundary values of the destination then matter).
    _, (outside_y, outside_x) = ndimage.distance_transform_edt(clone_region, return_indices=True)
    base = crop[outside_y, outside_x]
    src = cv2.copyMakeBorder(to_uint8(guide), _PAD, _PAD, _PAD, _PAD, cv2.BORDER_REFLECT_101)
    dst = cv2.copyMakeBorder(to_uint8(base), _PAD, _PAD, _PAD, _PAD, cv2.BORDER_REFLECT_101)
    clone_mask = cv2.copyMakeBorder(clone_region.astype(np.uint8) * 255, _PAD, _PAD, _PAD, _PAD,
                                    cv2.BORDER_REPLICATE)
    clone_mask[0, :] = clone_mask[-1, :] = 0
    clone_mask[:, 0] = clone_mask[:, -1] = 0
    box_x, box_y, box_w, box_h = cv2.boundingRect(clone_mask)
    # centre that maps the clone onto itself (checked: OpenCV places tl = centre - (w//2, h//2))
    blended = cv2.seamlessClone(src, dst, clone_mask, (box_x + box_w // 2, box_y + box_h // 2),
                               cv2.NORMAL_CLONE)
    blended = blended[_PAD:-_PAD, _PAD:-_PAD].astype(np.float32) / np.float32(255.0)
    out = composite.copy()
    window = out[y0:y1, x0:x1]
    window[clone_region] = blended[clone_region]
    return out


CARD = Card(
    name="poisson", kind="method",
    summary="Perez et al. 2003 Poisson blending of the foreground into the background (cv2.seamlessClone)",
    paper="Perez, Gangnet, Blake. Poisson image editing. SIGGRAPH 2003",
    keeps_background=False, deterministic=True,
    notes="NORMAL_CLONE over the mask dilated by 2 px; guidance = the foreground extended by nearest "
          "neighbour (no seam gradient); 3-px reflect padding so masks may touch the border; 8-bit inside "
          "the region; exact copy of the composite outside the dilated mask. Empty foreground or "
          "background: composite unchanged.",
)


@METHODS.register("poisson", card=CARD)
def poisson(dilation: int = DILATION, **options):
    """Factory of the ``poisson`` method, registered in ``METHODS``.

    Parameters
    ----------
    dilation : int, optional
        Pixels by which the clone region extends past the mask (>= 1; default 2).
    **options
        No other option is accepted.

    Returns
    -------
    callable
        A Harmonizer ``harmonize(composite, mask, **extra) -> image``: composite float32 (H, W, 3) in
        [0, 1], mask float32 (H, W) in [0, 1]; returns a new float32 (H, W, 3) image in [0, 1].
        Empty foreground or background: an unchanged copy.

    Raises
    ------
    ValueError
        For an unknown option or ``dilation < 1``.
    """
    if options:
        raise ValueError(f"poisson: unknown options {sorted(options)}; expected ['dilation']")
    if int(dilation) < 1:
        raise ValueError(f"poisson: dilation must be >= 1 pixel, got {dilation}")

    return background_matcher(lambda composite, mask, _background: poisson_blend(composite, mask,
                                                                                dilation=int(dilation)))
