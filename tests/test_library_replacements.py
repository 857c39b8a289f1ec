"""Hand-written code replaced by well-kept libraries gives the same values.

- ``harmony.color.rgb_to_ycbcr`` / ``ycbcr_to_rgb`` now call ``skimage.color.rgb2ycbcr`` /
  ``ycbcr2rgb``. Reference: the ITU-R BT.601 studio-range matrix written out here (Y 16-235, Cb/Cr 16-240
  on the 0-255 scale; the formula the module used before), to 1e-10.
- The SSIM window of ``harmony.benchmark.metrics`` is ``cv2.getGaussianKernel``. Reference: the normalised
  Gaussian ``exp(-(i - r)^2 / (2 sigma^2))`` written out here (pytorch-ssim / pytorch_msssim), to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest

from harmony import color
from harmony.benchmark import metrics

# ITU-R BT.601 (studio range) on the 0-255 scale: [Y, Cb, Cr] = M @ rgb / 255 + offset.
BT601 = np.array([[65.481, 128.553, 24.966],
                  [-37.797, -74.203, 112.0],
                  [112.0, -93.786, -18.214]])
OFFSET = np.array([16.0, 128.0, 128.0])


def _reference_ycbcr(rgb255):
    return np.asarray(rgb255, np.float64) @ (BT601 / 255.0).T + OFFSET


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_rgb_to_ycbcr_matches_bt601(dtype):
    rng = np.random.default_rng(3)
    rgb = rng.uniform(0, 255, (17, 23, 3))
    if dtype == np.uint8:
        rgb = np.rint(rgb)
    rgb = rgb.astype(dtype)
    out = color.rgb_to_ycbcr(rgb)
    assert out.dtype == np.float64 and out.shape == rgb.shape
    np.testing.assert_allclose(out, _reference_ycbcr(rgb), rtol=0, atol=1e-10)


def test_rgb_to_ycbcr_range_and_shapes():
    # black, white and the primaries: the studio range's corners (Y 16..235, Cb/Cr 16..240)
    assert np.allclose(color.rgb_to_ycbcr(np.zeros(3)), [16, 128, 128], atol=1e-10)
    assert np.allclose(color.rgb_to_ycbcr(np.full(3, 255.0)), [235, 128, 128], atol=1e-10)
    assert color.rgb_to_ycbcr(np.eye(3) * 255.0)[2, 1] == pytest.approx(240.0, abs=1e-10)  # blue -> Cb max
    assert color.rgb_to_ycbcr(np.eye(3) * 255.0)[0, 2] == pytest.approx(240.0, abs=1e-10)  # red -> Cr max
    # out-of-range values are converted, not clipped
    np.testing.assert_allclose(color.rgb_to_ycbcr(np.array([[-10.0, 300.0, 5.0]])),
                               _reference_ycbcr([[-10.0, 300.0, 5.0]]), atol=1e-10)


def test_ycbcr_affine_form_is_the_same_map():
    # the kernels apply BT.601 as ``YCBCR_MATRIX @ rgb01 + YCBCR_OFFSET`` (cv2.transform)
    np.testing.assert_allclose(color.YCBCR_MATRIX, BT601, rtol=0, atol=1e-10)
    np.testing.assert_allclose(color.YCBCR_OFFSET, OFFSET, rtol=0, atol=1e-10)


def test_ycbcr_to_rgb_inverts():
    rng = np.random.default_rng(4)
    rgb = rng.uniform(-5, 260, (9, 11, 3))
    ycc = _reference_ycbcr(rgb)
    np.testing.assert_allclose(color.ycbcr_to_rgb(ycc), rgb, rtol=0, atol=1e-10)


@pytest.mark.parametrize("size,sigma", [(7, 1.5), (11, 1.5), (3, 0.8), (9, 2.0)])
def test_ssim_window_is_the_normalised_gaussian(size, sigma):
    r = (size - 1) / 2
    g = np.exp(-((np.arange(size) - r) ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    got = metrics._gauss_1d(size, sigma)
    assert got.shape == (size,) and got.dtype == np.float64
    np.testing.assert_allclose(got, g, rtol=0, atol=1e-12)
