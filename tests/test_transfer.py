"""Tests of the colour-transfer kernels (harmony.color) and the generators' use of them (harmony.datagen.transfer).

Golden values come from independent sources: the papers' formulas (Reinhard et al. 2001, Xiao & Ma
2006, Fecker et al. 2008, Pitie et al. 2007) re-implemented here in a few lines, hand-derived
histogram mappings, and colour conversions from scikit-image (not OpenCV).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.color import rgb2lab

from harmony import color
from harmony.color.distribution import FIRST_ROTATION
from harmony.color.statistics import eigen_frame
from harmony.datagen import transfer as datagen_transfer

KERNELS = list(color.KERNELS)


def _pair(rng, h=24, w=32, lo=0.25, hi=0.65, ref_shift=(0.1, -0.05, 0.02), ref_size=(20, 28)):
    """A target with a centred rectangle foreground and a reference with its own region and colours."""
    target = rng.uniform(lo, hi, (h, w, 3)).astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    mask[5:h - 5, 6:w - 6] = 1.0
    rh, rw = ref_size
    reference = np.clip(rng.uniform(lo, hi, (rh, rw, 3)) * 0.8 + np.array(ref_shift), 0, 1).astype(np.float32)
    ref_mask = np.zeros((rh, rw), np.float32)
    ref_mask[2:rh - 3, 3:rw - 2] = 1.0
    return target, mask, reference, ref_mask


def _run(method, *args, **kw):
    if method == "idt":
        kw.setdefault("rng", 7)
    return color.KERNELS[method](*args, **kw)


# --- contract: background bit-exact, shape, dtype, range ------------------------------------------

@pytest.mark.parametrize("method", KERNELS)
def test_background_bit_exact_and_contract(method, rng):
    target, mask, reference, ref_mask = _pair(rng)
    soft = mask.copy()
    soft[4, 6:-6] = 0.3     # soft edge (outside the statistics)
    soft[5, 6:-6] = 0.7     # soft edge (inside the statistics)
    for m in (mask, soft):
        before = target.copy()
        out = _run(method, target, m, reference, ref_mask)
        assert out.shape == target.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert np.array_equal(out[m == 0], target[m == 0])          # bit-exact background
        assert np.array_equal(target, before)                        # input untouched
        assert np.abs(out[m == 1] - target[m == 1]).mean() > 1e-3    # the foreground did change


@pytest.mark.parametrize("method", KERNELS)
def test_statistics_ignore_pixels_outside_the_masks(method, rng):
    """The old iHarmony4 bug let black background pixels into the statistics: changing anything outside
    the two masks must not change the recoloured foreground."""
    target, mask, reference, ref_mask = _pair(rng)
    out = _run(method, target, mask, reference, ref_mask)
    t2, r2 = target.copy(), reference.copy()
    t2[mask == 0] = 0.0
    r2[ref_mask == 0] = 0.0
    out2 = _run(method, t2, mask, r2, ref_mask)
    assert np.array_equal(out[mask == 1], out2[mask == 1])


@pytest.mark.parametrize("method", KERNELS)
def test_soft_mask_blends_new_with_target(method, rng):
    """Pixels with 0 < m <= 0.5 are recoloured but left out of the statistics; output = new*m + t*(1-m)."""
    target, mask, reference, ref_mask = _pair(rng)
    a, b = mask.copy(), mask.copy()
    a[4, 6:-6] = 0.3
    b[4, 6:-6] = 0.5   # 0.5 is not > 0.5: still outside the statistics
    out_a = _run(method, target, a, reference, ref_mask)
    out_b = _run(method, target, b, reference, ref_mask)
    # same statistics -> identical core
    assert np.array_equal(out_a[mask == 1], out_b[mask == 1])
    t = target[4, 6:-6].astype(np.float64)
    new_from_a = (out_a[4, 6:-6] - 0.7 * t) / 0.3
    np.testing.assert_allclose(out_b[4, 6:-6], 0.5 * new_from_a + 0.5 * t, atol=2e-6)


@pytest.mark.parametrize("method", KERNELS)
def test_reference_may_have_another_size(method, rng):
    target, mask, reference, ref_mask = _pair(rng, ref_size=(13, 41))
    out = _run(method, target, mask, reference, ref_mask)
    assert out.shape == target.shape


# --- Reinhard (gct) --------------------------------------------------------------------------------

_LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
_RGB = np.array([[4.4687, -3.5887, 0.1196], [-1.2197, 2.3831, -0.1626], [0.0585, -0.2611, 1.2057]])
_B = np.array([[1 / np.sqrt(3), 0, 0], [0, 1 / np.sqrt(6), 0], [0, 0, 1 / np.sqrt(2)]])
_A = np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]], dtype=float)


def _lab_reinhard(px):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(px.astype(np.float64) @ _LMS.T) @ (_B @ _A).T


def _reinhard_reference_impl(t_px, r_px):
    """Reinhard et al. 2001 (Eqs. 4-9, sample std) written out independently, per pixel list."""
    lt, lr = _lab_reinhard(t_px), _lab_reinhard(r_px)
    ft = lt[np.isfinite(lt).all(1)]
    fr = lr[np.isfinite(lr).all(1)]
    new = (lt - ft.mean(0)) * (fr.std(0, ddof=1) / ft.std(0, ddof=1)) + fr.mean(0)
    with np.errstate(invalid="ignore"):
        lms = 10.0 ** (new @ np.linalg.inv(_B @ _A).T)
    lms[~np.isfinite(lms)] = 0.0
    return np.clip(lms @ _RGB.T, 0, 1)


def test_reinhard_output_has_reference_lab_statistics(rng):
    target, mask, reference, ref_mask = _pair(rng)
    out = color.reinhard(target, mask, reference, ref_mask)
    fg = out[mask == 1]
    assert fg.min() > 0.0 and fg.max() < 1.0  # nothing clipped, so the statistics must match
    lab_out, lab_ref = _lab_reinhard(fg), _lab_reinhard(reference[ref_mask == 1])
    # tolerance: the published LMS->RGB matrix is the 4-decimal inverse of RGB->LMS
    np.testing.assert_allclose(lab_out.mean(0), lab_ref.mean(0), atol=2e-3)
    np.testing.assert_allclose(lab_out.std(0, ddof=1), lab_ref.std(0, ddof=1), rtol=5e-3)


def test_reinhard_matches_independent_formula_with_black_pixels(rng):
    target, mask, reference, ref_mask = _pair(rng)
    target[8, 10] = 0.0          # log10(0) = -inf: left out of the statistics, stays black
    reference[5, 5] = 0.0
    out = color.reinhard(target, mask, reference, ref_mask)
    expected = _reinhard_reference_impl(target[mask == 1], reference[ref_mask == 1])
    np.testing.assert_allclose(out[mask == 1], expected, atol=1e-6)
    assert np.array_equal(out[8, 10], np.zeros(3, np.float32))


def test_reinhard_pure_black_regions(rng):
    target, mask, reference, ref_mask = _pair(rng)
    black_t = target.copy()
    black_t[mask == 1] = 0.0
    out = color.reinhard(black_t, mask, reference, ref_mask)        # black stays black (-inf -> 0)
    assert np.array_equal(out, black_t)
    black_r = reference.copy()
    black_r[ref_mask == 1] = 0.0
    out = color.reinhard(target, mask, black_r, ref_mask)           # a black reference -> black foreground
    assert np.all(out[mask == 1] == 0.0) and np.array_equal(out[mask == 0], target[mask == 0])


# --- Xiao (gctrgb) ---------------------------------------------------------------------------------

def test_xiao_output_has_reference_mean_and_covariance(rng):
    target, mask, reference, ref_mask = _pair(rng, lo=0.35, hi=0.6)
    # a correlated target so the rotation matters
    target[..., 1] = 0.5 * target[..., 0] + 0.5 * target[..., 1]
    out = color.xiao(target, mask, reference, ref_mask)
    fg, ref = out[mask == 1].astype(np.float64), reference[ref_mask == 1].astype(np.float64)
    assert fg.min() > 0.0 and fg.max() < 1.0
    np.testing.assert_allclose(fg.mean(0), ref.mean(0), atol=1e-6)
    np.testing.assert_allclose(np.cov(fg, rowvar=False), np.cov(ref, rowvar=False), atol=1e-6)


def test_xiao_eigen_convention_is_documented_one():
    cov = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 3.0]])
    values, vectors = eigen_frame(cov)
    assert np.all(np.diff(values) <= 0)                                    # descending
    pivots = vectors[np.abs(vectors).argmax(axis=0), np.arange(3)]
    assert np.all(pivots > 0)                                              # largest component positive
    np.testing.assert_allclose(vectors @ np.diag(values) @ vectors.T, cov, atol=1e-12)


# --- Fecker (hgm) ----------------------------------------------------------------------------------

def _grey(y_values):
    """Grey RGB pixels with the given studio-range luma (Cb = Cr = 128 exactly for grey)."""
    g = (np.asarray(y_values, dtype=np.float64) - 16.0) / 219.0
    return np.repeat(g[:, None], 3, axis=1).astype(np.float32)


def test_fecker_hand_derived_mapping():
    # reference Y: bins 50 (x2, values 49.7 and 50.1), 60, 70 (x3), 90 (x2, values 90.3, 90.4)
    #   cdf_r: 50 -> 2/8, 60 -> 3/8, 70 -> 6/8, 90 -> 8/8
    # target Y: 100, 105 x2, 110 x4, 120  ->  cdf_t: 1/8, 3/8, 7/8, 8/8
    #   100: no occupied reference bin has cdf <= 1/8 -> first bin -> mean(49.7, 50.1) = 49.9
    #   105: last occupied bin with cdf <= 3/8 is 60
    #   110: last with cdf <= 7/8 is 70
    #   120: last bin 90 -> mean(90.3, 90.4) = 90.35
    ref_y = [49.7, 50.1, 60, 70, 70, 70, 90.3, 90.4]
    tgt_y = [100, 105, 105, 110, 110, 110, 110, 120]
    expected_y = [49.9, 60, 60, 70, 70, 70, 70, 90.35]
    reference = _grey(ref_y).reshape(2, 4, 3)
    target = _grey(tgt_y).reshape(2, 4, 3)
    ones = np.ones((2, 4), np.float32)
    out = color.fecker(target, ones, reference, ones)
    np.testing.assert_allclose(out.reshape(-1, 3), _grey(expected_y), atol=2e-6)


def test_fecker_identity_on_equal_histograms(rng):
    img = (rng.integers(30, 220, (16, 16, 3)) / 255.0).astype(np.float32)
    ones = np.ones((16, 16), np.float32)
    out = color.fecker(img, ones, img.copy(), ones)
    # same histograms: every target bin maps to itself (up to YCbCr 8-bit rounding, < 1.5/255)
    assert np.abs(out - img).max() < 1.5 / 255


# --- IDT -------------------------------------------------------------------------------------------

def _sliced_w1(a, b, n_dirs=64, seed=0):
    """Sliced 1-Wasserstein distance between two point sets (equal-quantile comparison)."""
    dirs = np.random.default_rng(seed).standard_normal((n_dirs, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    q = np.linspace(0.01, 0.99, 99)
    return float(np.mean([np.abs(np.quantile(a @ d, q) - np.quantile(b @ d, q)).mean() for d in dirs]))


def test_idt_reduces_distribution_distance_and_matches_marginals(rng):
    target, mask, reference, ref_mask = _pair(rng, h=40, w=48, ref_size=(40, 48))
    reference = np.clip(reference ** 2 + np.array([0.2, 0.0, 0.1]), 0, 1).astype(np.float32)
    before = _sliced_w1(target[mask == 1], reference[ref_mask == 1])
    out = color.idt(target, mask, reference, ref_mask, iterations=10, regrain=False, rng=3)
    fg, ref = out[mask == 1], reference[ref_mask == 1]
    after = _sliced_w1(fg, ref)
    assert after < 0.15 * before
    # 1-D marginals along the fixed first-rotation axes (RGB and the three mixed axes) agree
    q = np.linspace(0.05, 0.95, 19)
    for axis in FIRST_ROTATION:
        assert np.abs(np.quantile(fg @ axis, q) - np.quantile(ref @ axis, q)).max() < 0.03


def test_idt_seeded_and_rotations():
    rots_a, rots_b = color.idt_rotations(4, 11), color.idt_rotations(4, 11)
    assert all(np.array_equal(x, y) for x, y in zip(rots_a, rots_b))
    assert np.array_equal(rots_a[0], np.vstack([np.eye(3), [[2 / 3, 2 / 3, -1 / 3], [2 / 3, -1 / 3, 2 / 3],
                                                              [-1 / 3, 2 / 3, 2 / 3]]]))
    for r in rots_a[1:]:
        assert r.shape == (6, 3)
        q = np.linalg.lstsq(FIRST_ROTATION, r, rcond=None)[0]   # r = R1 @ Q with Q orthogonal
        np.testing.assert_allclose(FIRST_ROTATION @ q, r, atol=1e-12)
        np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-10)


def test_idt_deterministic_given_seed(rng):
    target, mask, reference, ref_mask = _pair(rng)
    a = color.idt(target, mask, reference, ref_mask, rng=5, smoothness=10.0)
    b = color.idt(target, mask, reference, ref_mask, rng=np.random.default_rng(5), smoothness=10.0)
    c = color.idt(target, mask, reference, ref_mask, rng=6, smoothness=10.0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_regrain_keeps_original_gradients(rng):
    target, mask, reference, ref_mask = _pair(rng, h=48, w=56, ref_size=(48, 56))
    plain = color.idt(target, mask, reference, ref_mask, rng=1, regrain=False)
    grained = color.idt(target, mask, reference, ref_mask, rng=1, regrain=True, smoothness=1.0)
    inner = np.zeros_like(mask, bool)
    inner[7:-7, 8:-8] = True

    def grad_err(img):
        gx = np.diff(img, axis=1)[inner[:, 1:]] - np.diff(target, axis=1)[inner[:, 1:]]
        return float(np.abs(gx).mean())

    assert not np.array_equal(plain, grained)
    assert grad_err(grained) < grad_err(plain)
    # colours stay near the transferred ones
    assert np.abs(grained[mask == 1].mean(0) - plain[mask == 1].mean(0)).max() < 0.05


# --- DIH -------------------------------------------------------------------------------------------

def test_dih_matches_luminance_histogram_and_keeps_tint(rng):
    target, mask, reference, ref_mask = _pair(rng, lo=0.3, hi=0.6, ref_size=(24, 32))
    ref_mask = mask.copy()      # same pixel count, so quantile matching reproduces the sorted values
    out = color.dih(target, mask, reference, ref_mask, luminance_strength=1.0, temperature_strength=0.0)
    lab_out = rgb2lab(out[mask == 1][None].astype(np.float64))[0]
    lab_tgt = rgb2lab(target[mask == 1][None].astype(np.float64))[0]
    lab_ref = rgb2lab(reference[ref_mask == 1][None].astype(np.float64))[0]
    np.testing.assert_allclose(np.sort(lab_out[:, 0]), np.sort(lab_ref[:, 0]), atol=0.3)
    np.testing.assert_allclose(lab_out[:, 1], lab_tgt[:, 1], atol=0.6)   # a* (tint) unchanged
    out_t = color.dih(target, mask, reference, ref_mask, luminance_strength=0.0, temperature_strength=1.0)
    lab_t = rgb2lab(out_t[mask == 1][None].astype(np.float64))[0]
    np.testing.assert_allclose(np.sort(lab_t[:, 2]), np.sort(lab_ref[:, 2]), atol=0.6)
    np.testing.assert_allclose(lab_t[:, 0], lab_tgt[:, 0], atol=0.3)


def test_dih_strengths_interpolate(rng):
    target, mask, reference, ref_mask = _pair(rng)
    none = color.dih(target, mask, reference, ref_mask, luminance_strength=0.0, temperature_strength=0.0)
    np.testing.assert_allclose(none, target, atol=2e-3)   # Lab round trip only
    half = color.dih(target, mask, reference, ref_mask, luminance_strength=0.5, temperature_strength=0.5)
    full = color.dih(target, mask, reference, ref_mask)
    d_half = np.abs(half - target)[mask == 1].mean()
    d_full = np.abs(full - target)[mask == 1].mean()
    assert 0.3 * d_full < d_half < 0.7 * d_full


# --- dispatch, parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", datagen_transfer.METHOD_NAMES)
def test_sample_params_roundtrip(method, rng):
    target, mask, reference, ref_mask = _pair(rng)
    params = datagen_transfer.sample_params(method, 42)
    assert params == datagen_transfer.sample_params(method, np.random.default_rng(42))
    assert json.loads(json.dumps(params)) == params
    a = datagen_transfer.transfer(method, target, mask, reference, ref_mask, **params)
    b = datagen_transfer.transfer(method, target, mask, reference, ref_mask, **json.loads(json.dumps(params)))
    assert np.array_equal(a, b)
    if method == "idt":
        assert params["smoothness"] in (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
        assert isinstance(params["seed"], int)
    if method == "dih":
        assert 0.3 <= params["luminance_strength"] <= 1.0 and 0.3 <= params["temperature_strength"] <= 1.0


def test_sample_params_vary():
    seen = {datagen_transfer.sample_params("idt", s)["smoothness"] for s in range(60)}
    assert len(seen) == 6


# --- bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", KERNELS)
def test_empty_regions_raise(method, rng):
    target, mask, reference, ref_mask = _pair(rng)
    with pytest.raises(ValueError, match="target_mask.*empty"):
        _run(method, target, np.full_like(mask, 0.5), reference, ref_mask)
    with pytest.raises(ValueError, match="reference_mask.*empty"):
        _run(method, target, mask, reference, np.zeros_like(ref_mask))


def test_bad_inputs_raise(rng):
    target, mask, reference, ref_mask = _pair(rng)
    with pytest.raises(ValueError, match="target.*float32"):
        color.reinhard((target * 255).astype(np.uint8), mask, reference, ref_mask)
    with pytest.raises(ValueError, match=r"reference.*\[0, 1\]"):
        color.xiao(target, mask, reference * 2, ref_mask)
    with pytest.raises(ValueError, match=r"target.*\(H, W, 3\)"):
        color.fecker(target[..., :2].copy(), mask, reference, ref_mask)
    with pytest.raises(ValueError, match="target_mask.*shape"):
        color.fecker(target, mask[:-1], reference, ref_mask)
    with pytest.raises(ValueError, match="reference_mask"):
        color.dih(target, mask, reference, ref_mask.astype(np.float64))
    with pytest.raises(ValueError, match="unknown colour-transfer method"):
        datagen_transfer.transfer("nope", target, mask, reference, ref_mask)
    with pytest.raises(ValueError, match="params"):
        datagen_transfer.transfer("gct", target, mask, reference, ref_mask, strength=2)
    with pytest.raises(ValueError, match="smoothness"):
        color.idt(target, mask, reference, ref_mask, smoothness=0.0, rng=0)
    with pytest.raises(ValueError, match="luminance_strength"):
        color.dih(target, mask, reference, ref_mask, luminance_strength=-1)
