"""Equivalence tests of the speed paths of the harmony.color kernels against straightforward versions.

Each fast path (two-pass input check, boolean-mask gather/scatter, uint8 bins + calcHist + LUT for
Fecker, uint16 + calcHist counts for IDT, one-row CIELAB conversions for DIH) is compared with a plain
numpy re-implementation written here (the way the kernels did it before they were sped up).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from harmony import color
from harmony.color import _pixels, distribution, histogram
from harmony.color.conversions import YCBCR_MATRIX, YCBCR_OFFSET
from harmony.color.histogram import YCBCR_INVERSE
from harmony.imageops import check_image, check_mask


def _images(rng, h=20, w=24):
    target = rng.uniform(0.0, 1.0, (h, w, 3)).astype(np.float32)
    target[0, :4] = [0.0, 0.0, 0.0]          # extremes: bins clipped at both ends
    target[1, :4] = [1.0, 1.0, 1.0]
    mask = np.zeros((h, w), np.float32)
    mask[3:h - 3, 4:w - 4] = 1.0
    mask[3, 4:w - 4] = 0.4                   # soft edge: outside the statistics, still blended
    mask[4, 4:w - 4] = 0.8                   # soft edge: inside the statistics
    mask[0, :4] = mask[1, :4] = 1.0
    reference = np.clip(rng.uniform(0.1, 0.9, (h + 4, w - 2, 3)) ** 1.5, 0, 1).astype(np.float32)
    ref_mask = np.zeros(reference.shape[:2], np.float32)
    ref_mask[2:-2, 3:-3] = 1.0
    return target, mask, reference, ref_mask


# --- input check ------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1.0001, -1e-7])
def test_fast_image_check_rejects_what_check_image_rejects(bad, rng):
    target, mask, reference, ref_mask = _images(rng)
    for name in ("target", "reference"):
        img = (target if name == "target" else reference).copy()
        img[2, 3, 1] = bad
        with pytest.raises(ValueError) as plain:
            check_image(img, name)
        args = (img, mask, reference, ref_mask) if name == "target" else (target, mask, img, ref_mask)
        with pytest.raises(ValueError) as fast:
            color.reinhard(*args)
        assert str(fast.value) == str(plain.value)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, 1.0001, -1e-7])
def test_fast_mask_check_rejects_what_check_mask_rejects(bad, rng):
    target, mask, reference, ref_mask = _images(rng)
    bad_mask = mask.copy()
    bad_mask[0, 0] = bad
    with pytest.raises(ValueError) as plain:
        check_mask(bad_mask, mask.shape, "target_mask")
    with pytest.raises(ValueError) as fast:
        color.fecker(target, bad_mask, reference, ref_mask)
    assert str(fast.value) == str(plain.value)
    with pytest.raises(ValueError, match="reference_mask"):
        color.fecker(target, mask, reference, np.full_like(ref_mask, bad))


def test_fast_image_check_accepts_the_range_ends(rng):
    target, mask, reference, ref_mask = _images(rng)
    target[5, 5] = [-0.0, 0.0, 1.0]
    ref_mask[0, 0] = -0.0
    out = color.xiao(target, mask, reference, ref_mask)
    assert out.shape == target.shape and np.array_equal(out[mask == 0], target[mask == 0])


# --- gather / scatter --------------------------------------------------------------------------------

def test_scatter_equals_the_blend_formula(rng):
    target, mask, reference, ref_mask = _images(rng)
    region = _pixels.Region(target, mask, reference, ref_mask)
    sel = mask > 0
    assert np.array_equal(region.target_px, target[sel])
    assert np.array_equal(region.reference_px, reference[ref_mask > 0.5])
    new = rng.uniform(-0.2, 1.2, region.target_px.shape).astype(np.float32)
    out = region.scatter(target, new.copy())
    m = mask[sel][:, None]
    clipped = np.clip(new, 0, 1)
    expected = target.copy()
    expected[sel] = np.where(m == 1.0, clipped, np.clip(clipped * m + target[sel] * (1 - m), 0, 1))
    assert np.array_equal(out, expected)


# --- Fecker: uint8 bins, calcHist, LUT ------------------------------------------------------------

def _fecker_plain(target, mask, reference, ref_mask):
    """Fecker with per-pixel rint/clip, np.bincount and a per-bin loop (no OpenCV bins/hist/LUT)."""
    span = np.array([219, 224, 224])
    low = np.array([16.0, 16.0, 16.0])
    shift = YCBCR_OFFSET - low
    sel = mask > 0
    t_ycc = _pixels.affine(target[sel], YCBCR_MATRIX, shift)
    r_ycc = np.clip(_pixels.affine(reference[ref_mask > 0.5], YCBCR_MATRIX, shift), 0, span.astype(np.float32))
    t_bins = np.clip(np.rint(t_ycc), 0, span).astype(int)
    r_bins = np.clip(np.rint(r_ycc), 0, span).astype(int)
    stat = mask[sel] > 0.5
    new = np.empty_like(t_ycc)
    for c in range(3):
        h_t = np.bincount(t_bins[stat, c], minlength=span[c] + 1)
        h_r = np.bincount(r_bins[:, c], minlength=span[c] + 1)
        cdf_t, cdf_r = np.cumsum(h_t) / h_t.sum(), np.cumsum(h_r) / h_r.sum()
        occ = np.flatnonzero(h_r)
        lut = np.empty(span[c] + 1)
        for v in range(span[c] + 1):
            ok = [u for u in occ if cdf_r[u] <= cdf_t[v] + 1e-12]
            u = ok[-1] if ok else occ[0]
            if u in (occ[0], occ[-1]):
                lut[v] = r_ycc[r_bins[:, c] == u, c].astype(np.float64).mean()
            else:
                lut[v] = u
        new[:, c] = lut[t_bins[:, c]] + low[c]
    rgb = np.clip(_pixels.affine(new, YCBCR_INVERSE, -(YCBCR_INVERSE @ YCBCR_OFFSET)), 0, 1)
    m = mask[sel][:, None]
    out = target.copy()
    out[sel] = np.where(m == 1.0, rgb, np.clip(rgb * m + target[sel] * (1 - m), 0, 1))
    return out


def test_fecker_fast_path_matches_plain_implementation(rng):
    for _ in range(3):
        target, mask, reference, ref_mask = _images(rng)
        np.testing.assert_allclose(color.fecker(target, mask, reference, ref_mask),
                                   _fecker_plain(target, mask, reference, ref_mask), atol=1e-6, rtol=0)


# --- IDT: uint16 bins counted by calcHist -----------------------------------------------------------

@pytest.mark.parametrize("bins", [2, 300, 1000])
def test_idt_bin_counts_match_bincount(bins, rng):
    x = rng.uniform(-0.1, 1.1, 5000).astype(np.float32)       # a few ids fall outside [0, bins - 1]
    step = 1.0 / (bins - 1)
    ids32 = cv2.addWeighted(x, 1.0 / step, x, 0.0, 0.0, dtype=cv2.CV_32S).reshape(-1)
    ids16 = cv2.addWeighted(x, 1.0 / step, x, 0.0, 0.0, dtype=cv2.CV_16U).reshape(-1)
    plain = np.bincount(np.clip(ids32, 0, bins - 1), minlength=bins)
    np.testing.assert_array_equal(distribution._bin_counts(ids16, bins), plain)
    np.testing.assert_array_equal(distribution._bin_counts(ids32, bins), plain)


# --- DIH: CIELAB conversions on one row ----------------------------------------------------------------

def test_lab_conversions_on_one_row_match_per_pixel_rows(rng):
    px = rng.uniform(0, 1, (3000, 3)).astype(np.float32)
    lab = color.rgb_to_lab(px)
    np.testing.assert_array_equal(lab, cv2.cvtColor(px.reshape(-1, 1, 3), cv2.COLOR_RGB2Lab).reshape(-1, 3))
    # Lab -> RGB: OpenCV's vectorised loop (one row) and its scalar loop (one pixel per row) differ by
    # up to ~1e-5 in dark colours (both are ~4e-4 from the exact conversion; 1/255 = 3.9e-3)
    back = cv2.cvtColor(lab.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(-1, 3)
    np.testing.assert_allclose(color.lab_to_rgb(lab), back, atol=2e-5, rtol=0)


def test_non_contiguous_inputs_give_the_same_result(rng):
    target, mask, reference, ref_mask = _images(rng, h=40, w=48)
    view = target[::2, ::2]
    assert not view.flags.c_contiguous
    m = np.ascontiguousarray(mask[::2, ::2])
    np.testing.assert_array_equal(color.reinhard(view, m, reference, ref_mask),
                                  color.reinhard(view.copy(), m, reference, ref_mask))


def test_bincount_fallbacks_for_huge_regions_give_the_same_results(rng, monkeypatch):
    """Regions of >= 2**24 pixels count with np.bincount instead of float32 cv2.calcHist: force that
    path on a small region and compare."""
    target, mask, reference, ref_mask = _images(rng)
    fecker_fast = color.fecker(target, mask, reference, ref_mask)
    idt_fast = color.idt(target, mask, reference, ref_mask, regrain=False, rng=3)
    dih_fast = color.dih(target, mask, reference, ref_mask)
    for module in (_pixels, distribution, histogram):   # each module reads the threshold it imported
        monkeypatch.setattr(module, "CALCHIST_MAX", 0)
    np.testing.assert_array_equal(color.dih(target, mask, reference, ref_mask), dih_fast)
    np.testing.assert_array_equal(color.fecker(target, mask, reference, ref_mask), fecker_fast)
    np.testing.assert_array_equal(color.idt(target, mask, reference, ref_mask, regrain=False, rng=3), idt_fast)
