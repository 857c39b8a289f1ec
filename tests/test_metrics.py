"""Metric functions and protocols on tiny hand-computed cases.

The protocols are those of the public evaluation scripts: iHarmony4's ``evaluation.py`` (DoveNet, Cong et
al. CVPR 2020: Pillow bicubic resize, 1-bit mask), iSSAM's ``evaluate_model.py`` (Sofiiuk et al. WACV 2021:
OpenCV linear resize, soft mask, ``+1e-6`` in fMSE/PSNR), CDTNet's SSIM/fSSIM (Cong et al. CVPR 2022) and
PCT-Net's full-resolution metrics (Guerreiro et al. CVPR 2023).

Golden values are written out by hand below (arithmetic in the comments) or come from independent
implementations in this file (scipy convolution, scikit-image's SSIM), never from the code under test.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from harmony.benchmark import metrics as M

from .conftest import ssim_map_reference as _ssim_reference
from .conftest import write_random_lpips_weights as _random_lpips_weights

# A 2x2 case. gt is 100 everywhere. pred differs at (0,0) (foreground) by (+10, -10, 0) and at (1,1)
# (background) by (+3, 0, 0). The mask selects (0,0).
#   sum d^2 = 100 + 100 + 9 = 209 over 12 values -> MSE = 17.41666...
#   foreground sum = 200, A = 1 -> fMSE = 200/3 (no eps) or 200/(3+1e-6)
GT = np.full((2, 2, 3), 100.0, np.float32)
PRED = GT.copy()
PRED[0, 0] = (110, 90, 100)
PRED[1, 1] = (103, 100, 100)
MASK = np.array([[1, 0], [0, 0]], np.float32)
MSE = 209 / 12


def test_mse_and_masked_mse_hand_values():
    assert M.mean_squared_error(PRED, GT) == pytest.approx(MSE, abs=1e-9)
    # PCT-Net's MSE: mean(m d^2) over all 12 values = 200 / 12
    assert M.masked_mean_squared_error(PRED, GT, MASK) == pytest.approx(200 / 12, abs=1e-9)


def test_protocols_disagree_on_psnr_peak_and_eps():
    ih4 = M.get_protocol("iharmony4").score_basic(PRED, GT, MASK)
    iharm = M.get_protocol("iharm").score_basic(PRED, GT, MASK)
    pct = M.get_protocol("pctnet").score_basic(PRED, GT, MASK)
    # iharmony4: peak = pred.max() - pred.min() = 110 - 90 = 20, no epsilon
    assert ih4["psnr"] == pytest.approx(10 * math.log10(20 ** 2 / MSE), abs=1e-6)
    assert ih4["fmse"] == pytest.approx(200 / 3, abs=1e-6)
    # iharm: peak = gt.max() = 100, epsilon 1e-6 on both MSE and fMSE denominators
    assert iharm["psnr"] == pytest.approx(10 * math.log10(100 ** 2 / (MSE + 1e-6)), abs=1e-6)
    assert iharm["fmse"] == pytest.approx(200 / (3 + 1e-6), abs=1e-6)
    assert iharm["fpsnr"] == pytest.approx(10 * math.log10(100 ** 2 / (200 / (3 + 1e-6) + 1e-6)), abs=1e-6)
    # pctnet: MSE = 200/12 (foreground only), peak 255
    assert pct["mse"] == pytest.approx(200 / 12, abs=1e-9)
    assert pct["psnr"] == pytest.approx(10 * math.log10(255 ** 2 / (200 / 12 + 1e-6)), abs=1e-6)
    assert pct["se"] == pytest.approx(200, abs=1e-9) and pct["mask_area"] == 1
    # the three PSNRs really differ (13.61, 27.59, 35.93 dB)
    assert len({round(ih4["psnr"], 3), round(iharm["psnr"], 3), round(pct["psnr"], 3)}) == 3


def test_hdnet_and_diffharmony_variants():
    # HDNet: fMSE = MSE * H*W / A = 17.41666 * 4 / 1 (the background error leaks in)
    hd = M.get_protocol("hdnet").score_basic(PRED, GT, MASK)
    assert hd["fmse"] == pytest.approx(MSE * 4, abs=1e-6)
    # DiffHarmony pastes the gt background first: the (1,1) error vanishes -> MSE = 200/12
    dh = M.get_protocol("diffharmony").score_basic(PRED, GT, MASK)
    assert dh["mse"] == pytest.approx(200 / 12, abs=1e-6)
    assert dh["fmse"] == pytest.approx(200 / (3 + 1e-6), abs=1e-6)


def test_soft_mask_fmse():
    soft = np.array([[0.5, 0], [0, 0.25]], np.float32)
    # numerator 0.5*200 + 0.25*9 = 102.25; A = 0.75
    assert M.foreground_mse(PRED, GT, soft, eps=1e-6) == pytest.approx(102.25 / (2.25 + 1e-6), abs=1e-9)
    assert M.foreground_mse(PRED, GT, soft) == pytest.approx(102.25 / 2.25, abs=1e-9)


def test_background_drift():
    # background pixels (0,1), (1,0), (1,1): squared error 9 in one value over 3*3 values
    assert M.background_drift(PRED, GT, MASK) == pytest.approx(1.0, abs=1e-12)
    assert math.isnan(M.background_drift(PRED, GT, np.ones((2, 2), np.float32)))


def test_empty_mask_is_nan_without_warnings():
    empty = np.zeros((2, 2), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in M.protocol_names():
            out = M.get_protocol(name).score(PRED, GT, empty)
            assert math.isnan(out["fmse"]) and math.isnan(out["fpsnr"]) and math.isnan(out["fssim"]), name
            assert math.isfinite(out["mse"]), name
        assert math.isnan(M.foreground_mse(PRED, GT, empty, eps=1e-6))
        assert M.nan_mean([math.nan, math.nan]) == (pytest.approx(math.nan, nan_ok=True), 0, 2)


def test_zero_error_psnr_cases_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ih4 = M.get_protocol("iharmony4").score_basic(GT + 0, GT, MASK)
        iharm = M.get_protocol("iharm").score_basic(GT + 0, GT, MASK)
    assert ih4["psnr"] == -math.inf or math.isnan(ih4["psnr"])  # peak 0 (constant prediction)
    assert iharm["psnr"] == pytest.approx(10 * math.log10(100 ** 2 / 1e-6), abs=1e-6)
    assert M.peak_signal_noise_ratio(0.0, 255.0) == math.inf
    assert M.peak_signal_noise_ratio(math.nan, 255.0) != M.peak_signal_noise_ratio(math.nan, 255.0)


def test_prediction_rounding_differs_between_protocols():
    p = np.full((1, 1, 3), 0.301, np.float32)  # 76.755 on the 0-255 scale
    assert M.get_protocol("iharmony4").prediction(p)[0, 0, 0] == 77.0           # read back as a uint8 file
    assert M.get_protocol("iharm").prediction(p)[0, 0, 0] == pytest.approx(76.755, abs=1e-4)  # not rounded
    assert M.get_protocol("iharm").prediction(np.full((1, 1, 3), 1.0, np.float32)).max() == 255.0


def test_resize_rules_disagree_on_masks():
    # a 4x4 mask whose foreground is column 1 of the top two rows
    mask = np.zeros((4, 4), np.float32)
    mask[0:2, 1] = 1.0
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2, :2] = 200  # top-left 2x2 block
    ih4 = M.get_protocol("iharmony4").prepare(img, mask, img, 2)
    iharm = M.get_protocol("iharm").prepare(img, mask, img, 2)
    # Pillow NEAREST on the 1-bit mask samples source pixel floor((x + 0.5) * 2) = 1, 3: mask[1,1] = 1
    assert ih4.mask.tolist() == [[1.0, 0.0], [0.0, 0.0]]
    # OpenCV INTER_LINEAR at an exact factor 2 averages 2x2 blocks: the soft mask keeps 0.5
    assert iharm.mask.tolist() == [[0.5, 0.0], [0.0, 0.0]]
    # and the image block mean (200) is exact; composite for the method is uint8/255
    assert iharm.real[0, 0].tolist() == [200.0, 200.0, 200.0] and iharm.real[1, 1].tolist() == [0.0] * 3
    assert iharm.composite.dtype == np.float32 and iharm.composite[0, 0, 0] == pytest.approx(200 / 255)
    # fg ratio is taken after the resize: (mask > 0.5) -> 0.25 for iharmony4, 0 for iharm (0.5 is not > 0.5)
    assert M.fg_ratio(ih4.mask) == 0.25 and M.fg_ratio(iharm.mask) == 0.0


def test_iharm_linear_resize_rounds_uint8():
    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 0] = 1
    img[0, 1] = 2  # 2x2 -> 1x1 averages (1 + 2 + 0 + 0) / 4 = 0.75 -> uint8 1
    out = M.get_protocol("iharm").prepare(img, np.ones((2, 2), np.float32), img, 1)
    assert out.real[0, 0, 0] == 1.0


def test_cdtnet_ssim_and_fssim_match_independent_implementation(rng):
    x = rng.uniform(0, 255, (12, 10, 3))
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255)
    mask = np.zeros((12, 10), np.float32)
    mask[3:8, 2:7] = 1.0
    mask[8, 2:7] = 0.5
    ssim, fssim = M.structural_similarity_cdtnet(x, y, mask)
    r = x.max() - x.min()
    ref = _ssim_reference(x, y, 7, 1.5, "same", r)
    assert ssim == pytest.approx(ref.mean(), abs=1e-6)
    per_channel = [(ref[..., c] * mask).sum() / mask.sum() for c in range(3)]
    assert fssim == pytest.approx(np.mean(per_channel), abs=1e-6)
    s_same, f_same = M.structural_similarity_cdtnet(x, x, mask)
    assert s_same == pytest.approx(1.0, abs=1e-9) and f_same == pytest.approx(1.0, abs=1e-9)


def test_pctnet_ssim_equals_skimage_gaussian_ssim(rng):
    from skimage.metrics import structural_similarity

    gt = rng.uniform(0, 255, (24, 20, 3))
    pred = np.clip(gt + rng.normal(0, 15, gt.shape), 0, 255)
    mask = np.zeros((24, 20), np.float32)
    mask[5:15, 4:12] = 1
    out = M.get_protocol("pctnet").score(pred, gt, mask)
    pasted = pred * mask[..., None] + gt * (1 - mask[..., None])  # prediction pasted on the gt background
    ref = structural_similarity(pasted, gt, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                data_range=255, channel_axis=2)
    assert out["ssim"] == pytest.approx(ref, abs=1e-6)
    ref_map = _ssim_reference(pasted, gt, 11, 1.5, "valid", 255)
    assert out["ssim"] == pytest.approx(ref_map.reshape(-1, 3).mean(0).mean(), abs=1e-6)


def test_fg_buckets_inclusive_both_ends():
    assert M.fg_bucket(0.0) == ["0%-5%"]
    assert M.fg_bucket(0.05) == ["0%-5%", "5%-15%"]
    assert M.fg_bucket(0.15) == ["5%-15%", "15%-100%"]
    assert M.fg_bucket(1.0) == ["15%-100%"]


def test_sample_weighted_all():
    from harmony.benchmark.rows import aggregate

    rows = [{"method": "m", "subset": "A", "composite": "a", "size": 256, "mse": 10.0, "error": ""},
            {"method": "m", "subset": "B", "composite": "b1", "size": 256, "mse": 20.0, "error": ""},
            {"method": "m", "subset": "B", "composite": "b2", "size": 256, "mse": 30.0, "error": ""},
            {"method": "m", "subset": "B", "composite": "b3", "size": 256, "mse": 40.0, "error": ""},
            {"method": "m", "subset": "B", "composite": "bad", "size": 256, "mse": math.nan, "error": "boom"}]
    agg = aggregate(rows, ["A", "B"])[256]["m"]
    assert agg["A"]["mse"] == 10 and agg["B"]["mse"] == 30 and agg["B"]["N"] == 3
    assert agg["All"]["mse"] == pytest.approx(25.0)   # (10+20+30+40)/4, not (10+30)/2
    assert agg["All"]["N"] == 4


def test_input_checks():
    with pytest.raises(ValueError, match="same shape"):
        M.mean_squared_error(PRED, GT[:1])
    with pytest.raises(ValueError, match="mask of shape"):
        M.foreground_mse(PRED, GT, np.ones((3, 3), np.float32))


# --- LPIPS -------------------------------------------------------------------------------------------

def _lpips_reference(backbone, lins, x, y):
    """Independent LPIPS forward written with torch.nn.functional."""
    import torch
    import torch.nn.functional as F

    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(t):
        t = (t * 2 - 1 - shift) / scale
        out = []
        t = F.relu(F.conv2d(t, backbone["features.0.weight"], backbone["features.0.bias"], stride=4, padding=2))
        out.append(t)
        t = F.max_pool2d(t, 3, 2)
        t = F.relu(F.conv2d(t, backbone["features.3.weight"], backbone["features.3.bias"], padding=2))
        out.append(t)
        t = F.max_pool2d(t, 3, 2)
        for i in (6, 8, 10):
            t = F.relu(F.conv2d(t, backbone[f"features.{i}.weight"], backbone[f"features.{i}.bias"], padding=1))
            out.append(t)
        return out

    tx = torch.from_numpy(x).permute(2, 0, 1)[None]
    ty = torch.from_numpy(y).permute(2, 0, 1)[None]
    total = 0.0
    for i, (a, b) in enumerate(zip(feats(tx), feats(ty))):
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total += float(((a - b) ** 2 * lins[f"lin{i}.model.1.weight"]).sum(1).mean())
    return total


def test_lpips_loads_local_weights_and_matches_reference(tmp_path, rng):
    from harmony.benchmark.lpips import LPIPS

    backbone, lins = _random_lpips_weights(tmp_path)
    net = LPIPS.from_env(tmp_path)
    x = rng.random((48, 48, 3)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    assert net(x, x) == pytest.approx(0.0, abs=1e-7)
    d = net(x, y)
    assert d > 0
    assert d == pytest.approx(_lpips_reference(backbone, lins, x, y), rel=1e-4)


def test_lpips_without_weights_is_skipped_not_faked(tmp_path, monkeypatch):
    from harmony.benchmark.lpips import LPIPS, LPIPSUnavailable

    monkeypatch.delenv("HARMONY_LPIPS_WEIGHTS", raising=False)
    with pytest.raises(LPIPSUnavailable, match="HARMONY_LPIPS_WEIGHTS"):
        LPIPS.from_env()
    with pytest.raises(LPIPSUnavailable, match="not found"):
        LPIPS.from_env(tmp_path)  # empty folder
