"""SPRIH's parametric transformation (harmony.models.curves; Wang et al., CVPR 2023, section 3.1, Eq. 1)
and the `harmony apply-params` command. Golden values: a piecewise-linear evaluation written here with
np.interp, hand-made curves, and bilinear upsampling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harmony import io as hio
from harmony.models import curves as cv


def _interp_reference(img, mask, x, y, shading_full=None):
    """Eq. 1 written directly: np.interp per channel, times the full-resolution shading, in the mask."""
    new = np.clip(np.stack([np.interp(img[..., c].astype(np.float64), x[c], y[c]) for c in range(3)], -1), 0, 1)
    if shading_full is not None:
        new = np.clip(new * shading_full[..., None], 0, 1)
    m = mask[..., None].astype(np.float64)
    return np.clip(m * new + (1 - m) * img, 0, 1)


def _random_curves(rng, monotone=True):
    x = cv.uniform_knots()
    y = x + rng.normal(0, 0.08, x.shape)
    return x, (cv.make_monotone(y) if monotone else y)


@pytest.mark.parametrize("monotone", [True, False])
def test_curve_application_matches_piecewise_linear_reference(monotone):
    rng = np.random.default_rng(1)
    img = rng.random((37, 41, 3), dtype=np.float32)
    img[0, :3] = [0.0, 1.0, 0.5]                       # end points and a knot-free value
    mask = (rng.random((37, 41)) > 0.4).astype(np.float32)
    x, y = _random_curves(rng, monotone)
    out = cv.apply_params(img, mask, cv.ParametricParams(x, y))
    ref = _interp_reference(img, mask, x, y)
    assert out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_allclose(out, ref, atol=2e-6)
    assert np.array_equal(out[mask == 0], img[mask == 0])      # background untouched
    if monotone:
        assert (np.diff(y, axis=1) >= 0).all()
        ramp = np.tile(np.linspace(0, 1, 200, dtype=np.float32)[None, :, None], (1, 1, 3))
        r = cv.apply_params(ramp, np.ones((1, 200), np.float32), cv.ParametricParams(x, y))
        assert (np.diff(r[0], axis=0) >= -1e-7).all()


def test_end_points_and_values_outside_the_knots():
    x = np.tile(np.linspace(0.1, 0.9, 32), (3, 1))
    y = np.tile(np.linspace(0.3, 0.7, 32), (3, 1))
    y[:, 0], y[:, -1] = 0.25, 0.8
    img = np.array([[[0.0, 0.05, 0.1], [0.9, 0.95, 1.0]]], np.float32)
    out = cv.apply_params(img, np.ones((1, 2), np.float32), cv.ParametricParams(x, y))
    np.testing.assert_allclose(out[0, 0], [0.25, 0.25, 0.25], atol=1e-6)   # below x_0: y_0
    np.testing.assert_allclose(out[0, 1], [0.8, 0.8, 0.8], atol=1e-6)      # above x_31: y_31
    # moved (non-uniform) knots: error bounded by |slope change| / LUT_BINS
    rng = np.random.default_rng(2)
    xs = np.sort(rng.random((3, 32)), axis=1)
    xs[:, 0], xs[:, -1] = 0.0, 1.0
    ys = rng.random((3, 32))
    img = rng.random((20, 20, 3), dtype=np.float32)
    out = cv.apply_params(img, np.ones((20, 20), np.float32), cv.ParametricParams(xs, ys))
    slopes = np.diff(ys, axis=1) / np.diff(xs, axis=1)
    bound = np.abs(np.diff(slopes, axis=1)).max() / cv.LUT_BINS + 1e-6
    assert np.abs(out - _interp_reference(img, np.ones((20, 20)), xs, ys)).max() <= bound


def test_identity_curves_and_unit_shading_give_back_the_input_exactly():
    rng = np.random.default_rng(3)
    img = rng.random((33, 29, 3), dtype=np.float32)
    img[0, 0] = [0.0, 1.0, 1e-9]
    mask = rng.random((33, 29)).astype(np.float32)          # soft mask
    x, y = cv.identity_curves()
    for shading in (None, np.ones((8, 8), np.float32)):
        out = cv.apply_params(img, mask, cv.ParametricParams(x, y, shading))
        assert np.array_equal(out, img)


def test_shading_multiplies_the_foreground_only():
    img = np.full((16, 16, 3), 0.6, np.float32)
    mask = np.zeros((16, 16), np.float32)
    mask[4:12, 4:12] = 1
    x, y = cv.identity_curves()
    out = cv.apply_params(img, mask, cv.ParametricParams(x, y, np.full((4, 4), 0.5, np.float32)))
    np.testing.assert_allclose(out[mask == 1], 0.3, atol=1e-6)
    np.testing.assert_allclose(out[mask == 0], 0.6, atol=0)


def test_params_applied_at_4x_equal_upsampled_application():
    import cv2

    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32) / 64
    low = np.clip(np.stack([0.3 + 0.4 * xx, 0.5 + 0.2 * np.sin(3 * yy), 0.2 + 0.5 * xx * yy], -1), 0, 1).astype(np.float32)
    mask = np.clip(1.5 - 8 * np.hypot(xx - 0.5, yy - 0.5), 0, 1).astype(np.float32)   # soft disc
    x, y = _random_curves(rng)
    shading = (1 + 0.3 * np.sin(np.linspace(0, 3, 16))[None, :] * np.ones((16, 1))).astype(np.float32)
    params = cv.ParametricParams(x, y, shading)
    up = lambda a: cv2.resize(a, (256, 256), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    at_high = cv.apply_params(np.clip(up(low), 0, 1), np.clip(up(mask), 0, 1), params)
    upsampled = up(cv.apply_params(low, mask, params))
    diff = np.abs(at_high - upsampled)
    assert diff.mean() < 2e-3 and diff.max() < 0.03
    # and the high-resolution application matches the direct formula there
    ref = _interp_reference(np.clip(up(low), 0, 1), np.clip(up(mask), 0, 1), x, y, cv.upsample_shading(shading, (256, 256)))
    np.testing.assert_allclose(at_high, ref, atol=1e-5)


def test_uint8_path_matches_float_path_and_interp_peer():
    rng = np.random.default_rng(5)
    img8 = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask8 = np.where(rng.random((40, 50)) > 0.5, 255, 0).astype(np.uint8)
    x, y = _random_curves(rng)
    params = cv.ParametricParams(x, y, (0.8 + 0.4 * rng.random((5, 5))).astype(np.float32))
    out8 = cv.apply_params_uint8(img8, mask8, params)
    ref = cv.apply_params(img8.astype(np.float32) / 255, mask8.astype(np.float32) / 255, params)
    assert np.abs(out8.astype(int) - hio.to_uint8(ref).astype(int)).max() <= 2
    assert np.array_equal(out8[mask8 == 0], img8[mask8 == 0])
    soft = (mask8 // 2).astype(np.uint8)                       # soft mask: blended path
    ref_soft = cv.apply_params(img8.astype(np.float32) / 255, soft.astype(np.float32) / 255, params)
    assert np.abs(cv.apply_params_uint8(img8, soft, params).astype(int) - hio.to_uint8(ref_soft).astype(int)).max() <= 2
    peer = cv.apply_params_interp(img8.astype(np.float32) / 255, mask8.astype(np.float32) / 255, params)
    np.testing.assert_allclose(ref, peer, atol=1e-5)


def test_bad_parameters_raise_value_error():
    x, y = cv.identity_curves()
    with pytest.raises(ValueError, match="increasing"):
        cv.ParametricParams(x[:, ::-1], y)
    with pytest.raises(ValueError, match="shape"):
        cv.ParametricParams(x[:2], y[:2])
    with pytest.raises(ValueError, match="shading"):
        cv.ParametricParams(x, y, -np.ones((4, 4)))
    with pytest.raises(ValueError):
        cv.apply_params(np.zeros((4, 4, 3), np.float32), np.zeros((5, 5), np.float32), cv.ParametricParams(x, y))


def test_parameter_folder_round_trip_and_apply_params_command(tmp_path, cli):
    from harmony.models.params_folder import read_params, write_params

    rng = np.random.default_rng(6)
    x, y = _random_curves(rng)
    shading = (0.6 + 0.8 * rng.random((16, 16))).astype(np.float32)
    params = cv.ParametricParams(x, y, shading)
    folder = tmp_path / "params"
    write_params(folder, params)
    assert {p.name for p in folder.iterdir()} == {"curves.json", "curves.png", "shading.png"}
    back = read_params(folder)
    np.testing.assert_allclose(back.curves_y, y, atol=1e-6)
    np.testing.assert_allclose(back.shading, shading, atol=cv.SHADING_PNG_SCALE / 255 / 2 + 1e-6)  # 8-bit PNG
    # an artist edit: flatten the red curve to 0.5, then re-apply at another resolution
    obj = json.loads((folder / "curves.json").read_text())
    obj["curves"]["R"]["y"] = [0.5] * 32
    (folder / "curves.json").write_text(json.dumps(obj))
    img = rng.random((30, 45, 3)).astype(np.float32)
    mask = np.zeros((30, 45), np.float32)
    mask[5:25, 10:40] = 1
    hio.write_image(tmp_path / "comp.png", img)
    hio.write_mask(tmp_path / "mask.png", mask)
    code, out = cli(["apply-params", str(folder), "--composite", str(tmp_path / "comp.png"), "--mask",
                     str(tmp_path / "mask.png"), "--out", str(tmp_path / "out.png")])
    assert code == 0, out
    res = hio.read_image(tmp_path / "out.png")
    expected = cv.apply_params_uint8(hio.read_image_uint8(tmp_path / "comp.png"), hio.to_uint8(mask), read_params(folder))
    assert np.array_equal(hio.to_uint8(res), expected)
    # the edited red channel is 0.5 * S inside the mask (within the 8-bit rounding of the file)
    s_up = cv.upsample_shading(back.shading, (30, 45))
    assert np.abs(res[mask == 1][:, 0] - np.clip(0.5 * s_up[mask == 1], 0, 1)).max() <= 1.5 / 255
    # refusals: existing output, missing folder content
    code, out = cli(["apply-params", str(folder), "--composite", str(tmp_path / "comp.png"), "--mask",
                     str(tmp_path / "mask.png"), "--out", str(tmp_path / "out.png")])
    assert code == 2 and "exists" in out
    (tmp_path / "empty").mkdir()
    code, out = cli(["apply-params", str(tmp_path / "empty"), "--composite", str(tmp_path / "comp.png"), "--mask",
                     str(tmp_path / "mask.png"), "--out", str(tmp_path / "o2.png")])
    assert code == 2 and "curves.json" in out


def test_hand_computed_curves_and_shading_on_a_one_row_image():
    # R: the line y = 0.5 x + 0.25; G: identity; B: y = x^2 sampled at the knots k/31 (piecewise linear)
    x = cv.uniform_knots()
    y = np.stack([0.5 * x[0] + 0.25, x[1], x[2] ** 2])
    # shading 1x2 [0.5, 1.5] upsampled to 1x4 with half-pixel centres: source x = -0.25, 0.25, 0.75, 1.25
    # -> 0.5 (clamped), 0.5 + 0.25 * 1, 0.5 + 0.75 * 1, 1.5 (clamped)
    shading = np.array([[0.5, 1.5]], np.float32)
    img = np.full((1, 4, 3), 0.4, np.float32)
    mask = np.array([[1, 1, 1, 0]], np.float32)
    out = cv.apply_params(img, mask, cv.ParametricParams(x, y, shading))
    gain = np.array([0.5, 0.75, 1.25])
    blue = (144 + 0.4 * 25) / 961                  # 0.4 * 31 = 12.4: between (12/31)^2 and (13/31)^2
    expected_fg = np.stack([0.45 * gain, 0.4 * gain, blue * gain], -1)
    np.testing.assert_allclose(out[0, :3], expected_fg, atol=1e-6)
    np.testing.assert_array_equal(out[0, 3], img[0, 3])    # outside the mask: the composite, bit for bit
