"""Method-specific checks of the classical baselines (their registry contract: tests/test_conformance.py).

Golden values are independent (covariances by numpy, Lab by scikit-image, Poisson behaviour on
constructed cases).
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from harmony import color
from harmony.imageops import dilate
from harmony.registry import METHODS

CLASSICAL = [name for name in METHODS.names() if not METHODS.card(name).learned]
EXPECTED = {"cut-and-paste", "reinhard", "xiao", "fecker", "idt", "mkl", "poisson", "xue2012"}


def _scene(rng, h=36, w=44, soft=False, touch_border=False):
    """A composite: smooth background, a textured, differently coloured foreground rectangle."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    bg = np.stack([0.35 + 0.2 * yy, 0.45 + 0.1 * xx, 0.55 - 0.15 * yy], axis=-1)
    bg = bg + rng.normal(0, 0.02, bg.shape)
    fg = np.array([0.75, 0.4, 0.25]) + rng.normal(0, 0.06, (h, w, 3))
    mask = np.zeros((h, w), np.float32)
    if touch_border:
        mask[0:h // 2, 0:w // 2] = 1.0
    else:
        mask[9:h - 9, 11:w - 11] = 1.0
    if soft:
        edge = (dilate(mask, 1) > 0) & (mask == 0)
        mask[edge] = 0.4
    m = mask[..., None]
    comp = np.clip(fg * m + bg * (1 - m), 0, 1).astype(np.float32)
    return comp, mask


def test_registry_has_the_classical_baselines():
    assert EXPECTED <= set(CLASSICAL)
    for name in ("lalonde2007", "zhu2015"):
        assert name not in METHODS.names()   # need a learned realism model: documented as missing


# The Harmonizer contract of every registered method (shape, dtype, range, background, determinism, bad
# input) is checked in tests/test_conformance.py; here: what the classical baselines promise beyond it.

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_empty_and_full_masks_return_the_composite(name, rng):
    """Nothing to harmonize (empty mask) or no background to match (full mask): the composite unchanged."""
    comp, mask = _scene(rng)
    for m in (np.zeros_like(mask), np.ones_like(mask)):
        assert np.array_equal(METHODS.create(name)(comp, m), comp)


@pytest.mark.parametrize("name", sorted(EXPECTED - {"cut-and-paste"}))
def test_methods_change_the_foreground(name, rng):
    comp, mask = _scene(rng)
    out = METHODS.create(name)(comp, mask)
    assert np.abs(out - comp)[mask == 1].mean() > 0.02
    # and move it towards the background's colour
    bg_mean = comp[mask == 0].mean(0)
    assert np.abs(out[mask == 1].mean(0) - bg_mean).sum() < np.abs(comp[mask == 1].mean(0) - bg_mean).sum()


# --- method-specific ---------------------------------------------------------------------------------

def test_cut_and_paste_is_the_composite(rng):
    comp, mask = _scene(rng, soft=True)
    out = METHODS.create("cut-and-paste")(comp, mask)
    assert np.array_equal(out, comp) and out is not comp


@pytest.mark.parametrize("name,kernel", [("reinhard", "gct"), ("xiao", "gctrgb"), ("fecker", "hgm"),
                                         ("idt", "idt")])
def test_transfer_baselines_use_the_background_as_reference(name, kernel, rng):
    comp, mask = _scene(rng, soft=True)
    out = METHODS.create(name)(comp, mask)
    bg = (mask <= 0.5).astype(np.float32)
    extra = {"rng": 0} if kernel == "idt" else {}
    # the iHarmony4 code names the same kernel as the baseline's name (harmony.color.ALIASES)
    assert np.array_equal(out, color.transfer(kernel, comp, mask, comp, bg, **extra))
    assert np.array_equal(out, color.KERNELS[name](comp, mask, comp, bg, **extra))


def test_mkl_matches_background_covariance_with_a_symmetric_map(rng):
    comp, mask = _scene(rng, h=40, w=48)
    # keep the output in gamut: a gentle foreground so nothing is clipped
    comp[mask == 1] = np.clip(0.5 + (comp[mask == 1] - 0.5) * 0.3, 0, 1)
    out = METHODS.create("mkl")(comp, mask)
    fg, bg = out[mask == 1].astype(np.float64), comp[mask == 0].astype(np.float64)
    src = comp[mask == 1].astype(np.float64)
    assert fg.min() > 0 and fg.max() < 1
    np.testing.assert_allclose(fg.mean(0), bg.mean(0), atol=1e-6)
    np.testing.assert_allclose(np.cov(fg, rowvar=False), np.cov(bg, rowvar=False), atol=1e-7)
    # the Monge-Kantorovich map is the gradient of a convex function: T is symmetric positive definite
    t = np.linalg.lstsq(src - src.mean(0), fg - fg.mean(0), rcond=None)[0].T
    np.testing.assert_allclose(t, t.T, atol=1e-4)
    assert np.all(np.linalg.eigvalsh((t + t.T) / 2) > 0)


def test_poisson_keeps_outside_of_dilated_mask_and_blends(rng):
    h, w = 40, 48
    comp = np.full((h, w, 3), 0.5, np.float32)
    mask = np.zeros((h, w), np.float32)
    mask[12:28, 14:34] = 1.0
    texture = rng.normal(0, 0.03, (16, 20, 3))
    comp[12:28, 14:34] = np.clip(np.array([0.8, 0.3, 0.2]) + texture, 0, 1)
    out = METHODS.create("poisson")(comp, mask)
    outside = dilate(mask, 2) == 0
    assert np.array_equal(out[outside], comp[outside])
    # a constant background is the Dirichlet boundary: the foreground moves to its level ...
    np.testing.assert_allclose(out[mask == 1].mean(0), [0.5, 0.5, 0.5], atol=0.02)
    # ... and keeps its texture: away from the edge (where the seam gradient was dropped) the Laplacian
    # is the composite's, up to 8-bit quantisation
    lap = lambda a: 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]  # noqa: E731
    inner = (slice(14, 26), slice(16, 32))
    err = np.abs(lap(out[inner]) - lap(comp[inner])).mean()
    assert err < 0.15 * np.abs(lap(comp[inner])).mean()
    # a plain shift would also pass the mean test: check the texture is really there
    for c in range(3):
        assert np.corrcoef(out[inner][..., c].ravel(), comp[inner][..., c].ravel())[0, 1] > 0.9


def test_poisson_handles_border_and_soft_masks(rng):
    comp, mask = _scene(rng, touch_border=True)
    out = METHODS.create("poisson")(comp, mask)
    outside = dilate(mask, 2) == 0
    assert np.array_equal(out[outside], comp[outside])
    assert np.abs(out - comp)[mask == 1].mean() > 0.02   # the corner object was blended too
    comp_s, mask_s = _scene(rng, soft=True)
    out_s = METHODS.create("poisson")(comp_s, mask_s)
    assert np.array_equal(out_s[dilate((mask_s > 0).astype(np.float32), 2) == 0],
                          comp_s[dilate((mask_s > 0).astype(np.float32), 2) == 0])


def _zone_means(lab):
    order = np.argsort(lab[:, 0])
    k = int(round(0.2 * len(order)))
    return lab[order[:k], 0].mean(), lab[order[-k:], 0].mean(), lab[order[-k:], 1:].mean(0)


def test_xue2012_matches_luminance_zones_and_highlight_chroma(rng):
    h, w = 48, 48
    yy = np.mgrid[0:h, 0:w][0] / h
    bg = np.stack([0.3 + 0.5 * yy, 0.3 + 0.45 * yy, 0.25 + 0.3 * yy], -1)      # warm, wide range
    fg = 0.4 + 0.25 * rng.random((h, w, 1)) * np.array([0.9, 1.0, 1.2])       # cool, narrower
    mask = np.zeros((h, w), np.float32)
    mask[14:34, 14:34] = 1
    comp = np.clip(fg * mask[..., None] + bg * (1 - mask[..., None]), 0, 1).astype(np.float32)
    out = METHODS.create("xue2012")(comp, mask)
    lab_out = rgb2lab(out[mask == 1][None].astype(np.float64))[0]
    lab_bg = rgb2lab(comp[mask == 0][None].astype(np.float64))[0]
    lab_in = rgb2lab(comp[mask == 1][None].astype(np.float64))[0]
    lo_o, hi_o, ch_o = _zone_means(lab_out)
    lo_b, hi_b, ch_b = _zone_means(lab_bg)
    lo_i, hi_i, ch_i = _zone_means(lab_in)
    # zone means of the luminance move to the background's (multi-scale averaging -> small tolerance)
    assert abs(lo_o - lo_b) < 0.15 * abs(lo_i - lo_b) + 1.0
    assert abs(hi_o - hi_b) < 0.15 * abs(hi_i - hi_b) + 1.0
    # highlight chroma (colour temperature b*, tint a*) moves to the background's
    assert np.abs(ch_o - ch_b).max() < 0.25 * np.abs(ch_i - ch_b).max() + 1.0
