"""Colour-space conversions used by the colour-transfer kernels and the generators.

Three families, each on its own scale:

- ITU-R BT.601 studio-range YCbCr on the 0-255 scale (:func:`rgb_to_ycbcr`, :func:`ycbcr_to_rgb`),
  through scikit-image; the same map as an affine matrix on RGB in [0, 1] (``YCBCR_MATRIX``,
  ``YCBCR_OFFSET``) for the kernels, which apply it with ``cv2.transform``.
- CIE L*a*b* (D65) through OpenCV's float conversion (:func:`rgb_to_lab`, :func:`lab_to_rgb`).
- Reinhard et al.'s decorrelated l-alpha-beta space (:func:`rgb_to_lalphabeta`,
  :func:`lalphabeta_to_rgb`; the matrices ``RGB_TO_LMS``, ``LMS_TO_RGB``,
  ``LMS_TO_LALPHABETA``).

And the Rec. 601 luma (:func:`luminance`). All functions are pure.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import rgb2ycbcr, ycbcr2rgb

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "luminance", "rgb_to_lab", "lab_to_rgb", "rgb_to_lalphabeta",
           "lalphabeta_to_rgb", "RGB_TO_LMS", "LMS_TO_RGB", "LMS_TO_LALPHABETA", "YCBCR_MATRIX",
           "YCBCR_OFFSET"]


# --- BT.601 studio-range YCbCr ---------------------------------------------------------------------

def rgb_to_ycbcr(rgb255: np.ndarray) -> np.ndarray:
    """Convert RGB on the 0-255 scale to ITU-R BT.601 studio-range YCbCr.

    ``skimage.color.rgb2ycbcr`` applied to ``rgb255 / 255`` (in float64).

    Parameters
    ----------
    rgb255 : ndarray, shape (..., 3)
        RGB on the 0-255 scale, any real dtype. Values are not clipped.

    Returns
    -------
    ndarray, shape (..., 3), float64
        Y in [16, 235], Cb and Cr in [16, 240] for inputs in [0, 255].

    References
    ----------
    .. [1] ITU-R Recommendation BT.601-7, *Studio encoding parameters of digital television*, 2011.
    .. [2] scikit-image, ``skimage.color.rgb2ycbcr``.

    Examples
    --------
    >>> rgb_to_ycbcr(np.array([255.0, 255.0, 255.0])).round(6)
    array([235., 128., 128.])
    """
    return rgb2ycbcr(np.asarray(rgb255, dtype=np.float64) / 255.0)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Convert BT.601 studio-range YCbCr back to RGB on the 0-255 scale (the inverse of :func:`rgb_to_ycbcr`).

    Parameters
    ----------
    ycc : ndarray, shape (..., 3)
        Y, Cb, Cr as returned by :func:`rgb_to_ycbcr`.

    Returns
    -------
    ndarray, shape (..., 3), float64
        RGB on the 0-255 scale, not clipped.

    References
    ----------
    .. [1] scikit-image, ``skimage.color.ycbcr2rgb``.
    """
    return ycbcr2rgb(np.asarray(ycc, dtype=np.float64)) * 255.0


#: Studio-range YCbCr of RGB black (0-255 scale): the offset of the affine map, ``[16, 128, 128]``.
YCBCR_OFFSET = rgb_to_ycbcr(np.zeros(3))
#: (3, 3) float64: ``ycbcr = YCBCR_MATRIX @ rgb + YCBCR_OFFSET`` for RGB in [0, 1] and YCbCr on the
#: 0-255 scale (the BT.601 matrix of :func:`rgb_to_ycbcr`, read off its values at the unit colours).
YCBCR_MATRIX = (rgb_to_ycbcr(np.eye(3) * 255.0) - YCBCR_OFFSET).T


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB array.

    Parameters
    ----------
    rgb : ndarray, shape (..., 3)
        RGB on any scale.

    Returns
    -------
    ndarray, shape (...)
        ``0.299 R + 0.587 G + 0.114 B``, on the input's scale (dtype follows numpy's promotion).

    References
    ----------
    .. [1] ITU-R Recommendation BT.601-7, 2011 (the luma weights).

    Examples
    --------
    >>> luminance(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])).round(3)
    array([1.   , 0.299])
    """
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


# --- CIE L*a*b* (OpenCV) ---------------------------------------------------------------------------
# Pixel lists go to cvtColor as ONE row (1, N, 3): it converts row by row, and N rows of one pixel each
# miss its vectorised loop (3-4x slower). RGB -> Lab gives identical values either way; Lab -> RGB
# differs between its vectorised and scalar code by up to ~1e-5 in dark colours (both are ~4e-4 from
# the exact conversion; an 8-bit level is 3.9e-3), typically by a few float32 ulps. A 3-D input is
# converted with its own layout, so callers that pass (N, 1, 3) keep the scalar code's values.

def _cvt(values: np.ndarray, code: int) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=np.float32)
    if array.ndim == 3:
        return cv2.cvtColor(array, code)
    return cv2.cvtColor(array.reshape(1, -1, 3), code).reshape(array.shape)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert RGB in [0, 1] to CIE L*a*b* (D65), with OpenCV's float conversion.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3) or (..., 3), float
        RGB in [0, 1] (sRGB primaries, linearised by OpenCV's sRGB curve). A pixel list (N, 3) is
        converted as one row (the fast layout).

    Returns
    -------
    ndarray, same shape, float32
        L* in [0, 100], a* and b* roughly in [-127, 127]. OpenCV interpolates the conversion in tables:
        values are within about 0.3 of the exact CIE formulas (``skimage.color.rgb2lab``).

    References
    ----------
    .. [1] CIE 15:2004, *Colorimetry* (the L*a*b* formulas); OpenCV ``cv2.cvtColor(..., COLOR_RGB2Lab)``.

    Examples
    --------
    >>> rgb_to_lab(np.array([[1.0, 1.0, 1.0]])).round(2)
    array([[100.,   0.,   0.]], dtype=float32)
    """
    return _cvt(rgb, cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Convert CIE L*a*b* (D65) back to RGB, with OpenCV's float conversion (inverse of :func:`rgb_to_lab`).

    Parameters
    ----------
    lab : ndarray, shape (H, W, 3) or (..., 3), float
        L* in [0, 100], a*, b* as :func:`rgb_to_lab` returns them. A pixel list (N, 3) is converted as
        one row; an (N, 1, 3) array keeps its layout (OpenCV's scalar code, a few float32 ulps apart).

    Returns
    -------
    ndarray, same shape, float32
        RGB, not clipped (out-of-gamut colours leave [0, 1]).

    References
    ----------
    .. [1] CIE 15:2004, *Colorimetry*; OpenCV ``cv2.cvtColor(..., COLOR_Lab2RGB)``.
    """
    return _cvt(lab, cv2.COLOR_Lab2RGB)


# --- Reinhard's l-alpha-beta -----------------------------------------------------------------------

#: (3, 3) float64: RGB -> LMS cone space (Reinhard et al. 2001, Eq. 4 combined with the XYZ matrix).
RGB_TO_LMS = np.array([[0.3811, 0.5783, 0.0402],
                       [0.1967, 0.7244, 0.0782],
                       [0.0241, 0.1288, 0.8444]])
#: (3, 3) float64: LMS -> RGB (Reinhard et al. 2001, Eq. 9).
LMS_TO_RGB = np.array([[4.4687, -3.5887, 0.1196],
                       [-1.2197, 2.3831, -0.1626],
                       [0.0585, -0.2611, 1.2057]])
#: (3, 3) float64: ``lalphabeta = LMS_TO_LALPHABETA @ log10(LMS)`` (Reinhard et al. 2001, Eq. 6).
LMS_TO_LALPHABETA = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array(
    [[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]])


def rgb_to_lalphabeta(rgb: np.ndarray) -> np.ndarray:
    """Convert RGB to Reinhard et al.'s decorrelated l-alpha-beta space (float64 reference formula).

    ``lalphabeta = LMS_TO_LALPHABETA @ log10(RGB_TO_LMS @ rgb)``. Black has ``log10(0) = -inf``
    components. The :func:`harmony.color.reinhard` kernel applies the same matrices in fused float32
    OpenCV passes; this function is the readable definition.

    Parameters
    ----------
    rgb : ndarray, shape (..., 3)
        RGB in [0, 1].

    Returns
    -------
    ndarray, shape (..., 3), float64
        l (achromatic), alpha (yellow-blue), beta (red-green); not finite for black (an LMS
        component of 0).

    References
    ----------
    .. [1] E. Reinhard, M. Ashikhmin, B. Gooch, P. Shirley, *Color transfer between images*, IEEE CG&A
       21(5), 2001, Eqs. 4-6.

    Examples
    --------
    White is (nearly) achromatic: alpha and beta close to 0.

    >>> rgb_to_lalphabeta(np.array([1.0, 1.0, 1.0])).round(3)
    array([-0.001,  0.001,  0.   ])
    """
    with np.errstate(divide="ignore"):
        log_lms = np.log10(np.asarray(rgb, dtype=np.float64) @ RGB_TO_LMS.T)
    return log_lms @ LMS_TO_LALPHABETA.T


def lalphabeta_to_rgb(lalphabeta: np.ndarray) -> np.ndarray:
    """Convert l-alpha-beta back to RGB (the inverse of :func:`rgb_to_lalphabeta`).

    Parameters
    ----------
    lalphabeta : ndarray, shape (..., 3)
        As :func:`rgb_to_lalphabeta` returns it (finite values).

    Returns
    -------
    ndarray, shape (..., 3), float64
        RGB, not clipped.

    References
    ----------
    .. [1] E. Reinhard et al., *Color transfer between images*, IEEE CG&A 2001, Eqs. 8-9.
    """
    log_lms = np.asarray(lalphabeta, dtype=np.float64) @ np.linalg.inv(LMS_TO_LALPHABETA).T
    return (10.0 ** log_lms) @ LMS_TO_RGB.T
