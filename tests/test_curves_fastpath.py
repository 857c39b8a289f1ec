"""The fast paths of harmony.models.curves.apply_params (Wang et al., CVPR 2023, section 3.1, Eq. 1): the
8-bit segment index + cv2.LUT evaluation of uniform-knot curves, the per-block shading upsampling (integer and
non-integer ratios, full-resolution maps), the per-block mask bounds and the fused input checks.
Golden values: Eq. 1 written here with np.interp (float64) and cv2.resize of the whole shading map."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from harmony.models import curves as cv


def _reference(img, mask, x, y, shading=None):
    """Eq. 1 directly: np.interp per channel, whole-image bilinear shading (cv2.resize), blend in the mask."""
    h, w = mask.shape
    new = np.clip(np.stack([np.interp(img[..., c].astype(np.float64), x[c], y[c]) for c in range(3)], -1), 0, 1)
    if shading is not None:
        s = shading if shading.shape == (h, w) else cv2.resize(shading, (w, h), interpolation=cv2.INTER_LINEAR)
        new = np.clip(new * s[..., None].astype(np.float64), 0, 1)
    m = mask[..., None].astype(np.float64)
    return np.clip(m * new + (1 - m) * img, 0, 1)


def _image(rng, h, w):
    img = rng.random((h, w, 3), dtype=np.float32)
    knots = (np.arange(32) / np.float32(31)).astype(np.float32)
    flat = img.reshape(-1)
    flat[:32] = knots                                          # values exactly on the knots
    flat[32:64] = np.nextafter(knots, np.float32(-1))          # just below them
    flat[64:96] = np.nextafter(knots, np.float32(2))           # just above them
    np.clip(img, 0, 1, out=img)
    img[0, 0] = [0.0, 1.0, 0.5]
    return img


@pytest.mark.parametrize("h, w, shading_shape", [
    (67, 96, (16, 16)),      # integer column ratio (6), non-integer row ratio; rows not a block multiple
    (40, 100, (8, 16)),      # non-integer column ratio
    (37, 45, None),          # curves only
    (33, 50, (33, 50)),      # shading already at full resolution
])
@pytest.mark.parametrize("soft", [False, True])
def test_uniform_fast_path_matches_direct_evaluation(h, w, shading_shape, soft):
    rng = np.random.default_rng(h * w + soft)
    img = _image(rng, h, w)
    x = cv.uniform_knots()
    y = x + rng.normal(0, 0.15, x.shape)                       # leaves [0, 1]: both clips matter
    y[:, -1] = 1.3
    assert cv.uniform_segments(x) == 31
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((yy - h / 2) ** 2 + (xx - 0.3 * w) ** 2 < (0.3 * h) ** 2).astype(np.float32)
    mask[-1, -3:] = 1                                          # last (partial) row block, right edge
    mask[0, 0] = 1                                             # top-left corner
    if soft:
        mask = np.clip(cv2.GaussianBlur(mask, (0, 0), 2) * 1.5, 0, 1).astype(np.float32)
    shading = None if shading_shape is None else (0.4 + 1.2 * rng.random(shading_shape)).astype(np.float32)
    out = cv.apply_params(img, mask, cv.ParametricParams(x, y, shading))
    ref = _reference(img, mask, x, y, shading)
    assert out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_allclose(out, ref, atol=2e-6)
    assert np.array_equal(out[mask == 0], img[mask == 0])


def test_json_rounded_knots_take_the_fast_path_and_stay_exact():
    rng = np.random.default_rng(7)
    x = np.round(cv.uniform_knots(), 6)                        # what curves.json stores
    y = cv.make_monotone(x + rng.normal(0, 0.05, x.shape))
    assert cv.uniform_segments(x) == 31
    img = _image(rng, 24, 31)
    mask = np.ones((24, 31), np.float32)
    out = cv.apply_params(img, mask, cv.ParametricParams(x, y))
    np.testing.assert_allclose(out, _reference(img, mask, x, y), atol=2e-6)


def test_moved_knots_and_long_curves_use_the_segment_table():
    rng = np.random.default_rng(8)
    x = np.tile(np.linspace(0.0, 1.0, cv.LUT_STRIDE + 5), (3, 1))   # uniform but too many points for 8 bits
    y = x ** 1.5
    assert cv.uniform_segments(x) is None
    x2 = cv.uniform_knots().copy()
    x2[:, 5] += 0.01                                             # one moved knot
    assert cv.uniform_segments(x2) is None
    img = _image(rng, 20, 20)
    mask = np.ones((20, 20), np.float32)
    for xs, ys in ((x, y), (x2, x2 ** 0.7)):
        out = cv.apply_params(img, mask, cv.ParametricParams(xs, ys))
        slopes = np.diff(ys, axis=1) / np.diff(xs, axis=1)
        bound = np.abs(np.diff(slopes, axis=1)).max() / cv.LUT_BINS + 2e-6
        assert np.abs(out - _reference(img, mask, xs, ys)).max() <= bound


def test_lut_tables_hold_each_channels_segments():
    rng = np.random.default_rng(9)
    x = cv.uniform_knots()
    y = rng.random((3, 32))
    a, b = cv.lut_tables(x, y)
    assert a.shape == b.shape == (1, 256) and a.dtype == np.float32
    for c in range(3):
        for j in (0, 7, 30, 31, 40):                               # entries past the last segment repeat it
            seg = min(j, 30)
            slope = (y[c, seg + 1] - y[c, seg]) * 31
            assert abs(b[0, cv.LUT_STRIDE * c + j] - slope) < 1e-4
            assert abs(a[0, cv.LUT_STRIDE * c + j] - (y[c, seg] - slope * seg / 31)) < 1e-5


def test_input_checks_still_reject_bad_values():
    x, y = cv.identity_curves()
    params = cv.ParametricParams(x, y)
    img = np.full((40, 8, 3), 0.5, np.float32)
    mask = np.zeros((40, 8), np.float32)
    mask[30:, :] = 1
    for bad in (np.nan, 1.0001, -1e-6, np.inf):
        broken = img.copy()
        broken[35, 3, 1] = bad                                   # inside the mask, in a later row block
        with pytest.raises(ValueError, match="composite"):
            cv.apply_params(broken, mask, params)
        broken = img.copy()
        broken[2, 3, 1] = bad                                    # outside the mask's rows
        with pytest.raises(ValueError, match="composite"):
            cv.apply_params(broken, mask, params)
    bad_mask = mask.copy()
    bad_mask[5, 5] = 1.5
    with pytest.raises(ValueError, match="mask"):
        cv.apply_params(img, bad_mask, params)
    bad_mask[5, 5] = -0.5
    with pytest.raises(ValueError, match="mask"):
        cv.apply_params(img, bad_mask, params)
    with pytest.raises(ValueError, match="float32"):
        cv.apply_params(img.astype(np.float64), mask, params)
    # -0.0 is inside [0, 1]: accepted in the image and the mask
    ok, okm = img.copy(), mask.copy()
    ok[1, 1, 0] = -0.0
    okm[1, 1] = -0.0
    assert np.array_equal(cv.apply_params(ok, okm, params), ok)
    # an empty mask returns a copy
    out = cv.apply_params(img, np.zeros_like(mask), params)
    assert np.array_equal(out, img) and out is not img


@pytest.mark.parametrize("with_shading", [True, False])
def test_uint8_path_whole_frame_mask_writes_every_pixel(with_shading):
    from harmony import io as hio

    rng = np.random.default_rng(10)
    img8 = rng.integers(0, 256, (300, 40, 3), dtype=np.uint8)   # more rows than one 256-row block
    mask8 = np.full((300, 40), 255, np.uint8)
    x = cv.uniform_knots()
    y = cv.make_monotone(x ** 0.6 + rng.normal(0, 0.03, x.shape))
    shading = (0.8 + 0.4 * rng.random((10, 10))).astype(np.float32) if with_shading else None
    params = cv.ParametricParams(x, y, shading)
    out8 = cv.apply_params_uint8(img8, mask8, params)
    # blocks with one pixel outside the mask take the copyTo path: every other pixel is the same
    holes = mask8.copy()
    holes[5, 7] = holes[290, 3] = 0
    out_holes = cv.apply_params_uint8(img8, holes, params)
    assert np.array_equal(out_holes[holes == 255], out8[holes == 255])
    assert np.array_equal(out_holes[holes == 0], img8[holes == 0])
    ref = cv.apply_params(img8.astype(np.float32) / 255, mask8.astype(np.float32) / 255, params)
    assert np.abs(out8.astype(int) - hio.to_uint8(ref).astype(int)).max() <= 3     # three 8-bit roundings
    assert (out8 != img8).mean() > 0.5                          # the curves really changed the pixels


def test_strided_views_give_the_same_result_as_contiguous_copies():
    rng = np.random.default_rng(11)
    big = _image(rng, 80, 90)
    big_mask = (rng.random((80, 90)) > 0.3).astype(np.float32)
    x = cv.uniform_knots()
    params = cv.ParametricParams(x, cv.make_monotone(x ** 0.7), (0.5 + rng.random((8, 9))).astype(np.float32))
    for img, mask in ((big[::2, ::3], big_mask[::2, ::3]), (big.transpose(1, 0, 2), big_mask.T)):
        out = cv.apply_params(img, mask, params)
        assert np.array_equal(out, cv.apply_params(np.ascontiguousarray(img), np.ascontiguousarray(mask), params))
        np.testing.assert_allclose(out, _reference(img, mask, params.curves_x, params.curves_y, params.shading), atol=2e-6)


def test_check_pair_fast_agrees_with_imageops():
    from harmony import imageops

    img = np.full((6, 5, 3), 0.25, np.float32)
    mask = np.zeros((6, 5), np.float32)
    cv.check_pair_fast(img, mask)
    ok = img.copy()
    ok[0, 0, 0] = -0.0                                          # allowed by the contract
    cv.check_pair_fast(ok, mask)
    cases = []
    for bad in (np.nan, np.inf, -np.inf, 1.5, -0.25):
        broken = img.copy()
        broken[3, 2, 2] = bad
        cases.append((broken, mask))
        broken_mask = mask.copy()
        broken_mask[1, 1] = bad
        if not np.isnan(bad):                                   # imageops lets a NaN mask through
            cases.append((img, broken_mask))
    cases += [(img.astype(np.float64), mask), (img, mask[:5]), (img[..., :2], mask)]
    for c, m in cases:
        with pytest.raises(ValueError) as fast:
            cv.check_pair_fast(c, m)
        with pytest.raises(ValueError) as ref:
            imageops.check_pair(c, m)
        assert str(fast.value) == str(ref.value)
